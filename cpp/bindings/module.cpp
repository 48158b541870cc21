// posefast._core: the native decoder.  This file only wires the registrations up;
// validation and GIL handling live in register_*.cpp, algorithms in cpp/src.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace posefast_bindings {
void register_config(py::module_& m);
void register_decode(py::module_& m);
}  // namespace posefast_bindings

#define POSEFAST_STR2(x) #x
#define POSEFAST_STR(x) POSEFAST_STR2(x)

PYBIND11_MODULE(_core, m) {
    m.doc() = "posefast native decoder (C++17). Use posefast.decode(); this module is private.";
    posefast_bindings::register_config(m);
    posefast_bindings::register_decode(m);
#ifdef VERSION_INFO
    m.attr("__version__") = POSEFAST_STR(VERSION_INFO);
#else
    m.attr("__version__") = "dev";
#endif
}
