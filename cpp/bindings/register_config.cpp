// _core.DecodeConfig: the C++ config struct, filled from numbers.
#include <pybind11/pybind11.h>

#include <sstream>

#include "config_cast.hpp"
#include "posefast/types.hpp"

namespace posefast_bindings {

namespace py = pybind11;
using posefast::DecodeConfig;

DecodeConfig to_config(py::handle obj) {
    if (py::isinstance<DecodeConfig>(obj)) {
        DecodeConfig c = obj.cast<DecodeConfig>();
        posefast::validate_config(c);  // fields are writable after construction
        return c;
    }
    // Anything shaped like posefast.DecodeConfig (refine_radius resolved through
    // effective_refine_radius).
    if (!py::hasattr(obj, "effective_refine_radius")) {
        throw py::type_error("config must be a posefast.DecodeConfig or posefast._core.DecodeConfig, got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    DecodeConfig c;
    c.upsample = obj.attr("upsample").cast<int>();
    c.peak_threshold = obj.attr("peak_threshold").cast<double>();
    c.refine_radius = obj.attr("effective_refine_radius").cast<int>();
    c.max_peaks = obj.attr("max_peaks").cast<int>();
    c.paf_threshold = obj.attr("paf_threshold").cast<double>();
    c.paf_min_above = obj.attr("paf_min_above").cast<double>();
    c.paf_min_samples = obj.attr("paf_min_samples").cast<int>();
    c.paf_max_samples = obj.attr("paf_max_samples").cast<int>();
    c.min_parts = obj.attr("min_parts").cast<int>();
    c.min_person_score = obj.attr("min_person_score").cast<double>();
    c.check_finite = obj.attr("check_finite").cast<bool>();
    const py::object people_max = obj.attr("number_people_max");
    c.number_people_max = people_max.is_none() ? 0 : people_max.cast<int>();
    c.single_person = obj.attr("single_person_mode").cast<bool>();
    posefast::validate_config(c);
    return c;
}

void register_config(py::module_& m) {
    py::class_<DecodeConfig>(m, "DecodeConfig",
                             "Decoder thresholds as plain numbers (posefast.DecodeConfig with refine_radius "
                             "resolved). Validated on construction and on every call.")
        .def(py::init([](int upsample, double peak_threshold, int refine_radius, int max_peaks, double paf_threshold,
                         double paf_min_above, int paf_min_samples, int paf_max_samples, int min_parts,
                         double min_person_score, bool check_finite, int number_people_max, bool single_person) {
                 DecodeConfig c{upsample,        peak_threshold,  refine_radius, max_peaks,
                                paf_threshold,   paf_min_above,   paf_min_samples, paf_max_samples,
                                min_parts,       min_person_score, check_finite,  number_people_max,
                                single_person};
                 posefast::validate_config(c);
                 return c;
             }),
             py::kw_only(), py::arg("upsample") = 4, py::arg("peak_threshold") = 0.05, py::arg("refine_radius") = 2,
             py::arg("max_peaks") = 127, py::arg("paf_threshold") = 0.05, py::arg("paf_min_above") = 0.95,
             py::arg("paf_min_samples") = 5, py::arg("paf_max_samples") = 25, py::arg("min_parts") = 3,
             py::arg("min_person_score") = 0.4, py::arg("check_finite") = true,
             py::arg("number_people_max") = 0, py::arg("single_person") = false)
        .def_static("from_config", &to_config, py::arg("config"),
                    "Convert a posefast.DecodeConfig (refine_radius resolved).")
        .def_readwrite("upsample", &DecodeConfig::upsample)
        .def_readwrite("peak_threshold", &DecodeConfig::peak_threshold)
        .def_readwrite("refine_radius", &DecodeConfig::refine_radius)
        .def_readwrite("max_peaks", &DecodeConfig::max_peaks)
        .def_readwrite("paf_threshold", &DecodeConfig::paf_threshold)
        .def_readwrite("paf_min_above", &DecodeConfig::paf_min_above)
        .def_readwrite("paf_min_samples", &DecodeConfig::paf_min_samples)
        .def_readwrite("paf_max_samples", &DecodeConfig::paf_max_samples)
        .def_readwrite("min_parts", &DecodeConfig::min_parts)
        .def_readwrite("min_person_score", &DecodeConfig::min_person_score)
        .def_readwrite("check_finite", &DecodeConfig::check_finite)
        .def_readwrite("number_people_max", &DecodeConfig::number_people_max)
        .def_readwrite("single_person", &DecodeConfig::single_person)
        .def("__repr__", [](const DecodeConfig& c) {
            std::ostringstream o;
            o.precision(17);
            o << "DecodeConfig(upsample=" << c.upsample << ", peak_threshold=" << c.peak_threshold
              << ", refine_radius=" << c.refine_radius << ", max_peaks=" << c.max_peaks
              << ", paf_threshold=" << c.paf_threshold << ", paf_min_above=" << c.paf_min_above
              << ", paf_min_samples=" << c.paf_min_samples << ", paf_max_samples=" << c.paf_max_samples
              << ", min_parts=" << c.min_parts << ", min_person_score=" << c.min_person_score
              << ", check_finite=" << (c.check_finite ? "True" : "False")
              << ", number_people_max=" << c.number_people_max
              << ", single_person=" << (c.single_person ? "True" : "False") << ")";
            return o.str();
        });
}

}  // namespace posefast_bindings
