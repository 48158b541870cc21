// Array checks and conversions at the Python boundary (pybind11 only; no algorithms).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace posefast_bindings {

namespace py = pybind11;

template <class T>
const char* dtype_name();
template <>
inline const char* dtype_name<float>() { return "float32"; }
template <>
inline const char* dtype_name<double>() { return "float64"; }
template <>
inline const char* dtype_name<int32_t>() { return "int32"; }
template <>
inline const char* dtype_name<int64_t>() { return "int64"; }
template <>
inline const char* dtype_name<uint8_t>() { return "uint8"; }

// A borrowed, validated, read-only C-contiguous array.  `arr` keeps it alive.
template <class T>
struct Input {
    py::array arr;
    const T* data = nullptr;
    std::vector<int64_t> shape;

    int64_t dim(size_t i) const { return shape[i]; }
    int64_t size() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

inline std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) {
        s += std::to_string(shape[i]);
        if (shape.size() == 1 || i + 1 < shape.size()) s += shape.size() == 1 ? "," : ", ";
    }
    return s + ")";
}

// Checks that `obj` is a NumPy array of exactly dtype T, `ndim` dimensions,
// C-contiguous and aligned; never converts or copies (a silent copy of a big map
// would hide a slow path).  Wrong kind of array: TypeError naming the fix; wrong
// number of dimensions: ValueError.
template <class T>
Input<T> take(py::handle obj, const char* name, int ndim, const char* shape_doc) {
    const std::string n(name);
    const std::string want = std::string(dtype_name<T>()) + " " + shape_doc;
    if (!py::isinstance<py::array>(obj)) {
        throw py::type_error(n + " must be a NumPy array (" + want + "), got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    Input<T> in;
    in.arr = py::reinterpret_borrow<py::array>(obj);
    if (!py::isinstance<py::array_t<T>>(obj)) {
        throw py::type_error(n + " must be " + dtype_name<T>() + ", got " + std::string(py::str(in.arr.dtype())) +
                             "; convert with " + n + ".astype(np." + dtype_name<T>() + ")");
    }
    if (in.arr.ndim() != ndim) {
        std::vector<int64_t> got(in.arr.shape(), in.arr.shape() + in.arr.ndim());
        throw py::value_error(n + " must have " + std::to_string(ndim) + " dimensions " + shape_doc +
                              ", got shape " + shape_str(got));
    }
    if (!(in.arr.flags() & py::array::c_style)) {
        throw py::type_error(n + " must be C-contiguous; pass np.ascontiguousarray(" + n + ")");
    }
    const void* ptr = in.arr.data();
    if (in.arr.size() > 0 && reinterpret_cast<uintptr_t>(ptr) % alignof(T) != 0) {
        throw py::type_error(n + " is not aligned in memory; pass an aligned copy, np.array(" + n + ")");
    }
    in.data = static_cast<const T*>(ptr);
    in.shape.assign(in.arr.shape(), in.arr.shape() + ndim);
    return in;
}

// A fresh NumPy array owning a copy of v, with the given shape.
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v, std::vector<py::ssize_t> shape) {
    py::array_t<T> a(shape);
    if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
    return a;
}

}  // namespace posefast_bindings
