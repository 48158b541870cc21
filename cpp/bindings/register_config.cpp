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
    c.peak_border = obj.attr("peak_border").cast<int>();
    c.peak_ring_ties = obj.attr("peak_ring_ties").cast<bool>();
    c.peak_raster_order = obj.attr("peak_raster_order").cast<bool>();
    c.peak_strict_nms = obj.attr("peak_strict_nms").cast<bool>();
    c.paf_sample_far_end = obj.attr("paf_sample_far_end").cast<bool>();
    c.paf_sample_offset = obj.attr("paf_sample_offset").cast<double>();
    c.paf_strict_fraction = obj.attr("paf_strict_fraction").cast<bool>();
    c.paf_close_fraction = obj.attr("paf_close_fraction").cast<double>();
    c.fill_only_shares = obj.attr("fill_only_shares").cast<bool>();
    c.merge_fragments = obj.attr("merge_fragments").cast<double>();
    for (auto k : obj.attr("uncounted_keypoints")) {
        const int v = k.cast<int>();
        if (v < 0 || v > 63) throw py::value_error("DecodeConfig.uncounted_keypoints must be in [0, 63]");
        c.uncounted_mask |= uint64_t{1} << v;
    }
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
                         double min_person_score, bool check_finite, int number_people_max, bool single_person,
                         int peak_border, bool peak_ring_ties, bool peak_raster_order, bool peak_strict_nms,
                         bool paf_sample_far_end,
                         double paf_sample_offset, bool paf_strict_fraction, double paf_close_fraction,
                         bool fill_only_shares, double merge_fragments, uint64_t uncounted_mask) {
                 DecodeConfig c{upsample,        peak_threshold,  refine_radius, max_peaks,
                                paf_threshold,   paf_min_above,   paf_min_samples, paf_max_samples,
                                min_parts,       min_person_score, check_finite,  number_people_max,
                                single_person};
                 c.peak_border = peak_border;
                 c.peak_ring_ties = peak_ring_ties;
                 c.peak_raster_order = peak_raster_order;
                 c.peak_strict_nms = peak_strict_nms;
                 c.paf_sample_far_end = paf_sample_far_end;
                 c.paf_sample_offset = paf_sample_offset;
                 c.paf_strict_fraction = paf_strict_fraction;
                 c.paf_close_fraction = paf_close_fraction;
                 c.fill_only_shares = fill_only_shares;
                 c.merge_fragments = merge_fragments;
                 c.uncounted_mask = uncounted_mask;
                 posefast::validate_config(c);
                 return c;
             }),
             py::kw_only(), py::arg("upsample") = 4, py::arg("peak_threshold") = 0.05, py::arg("refine_radius") = 2,
             py::arg("max_peaks") = 127, py::arg("paf_threshold") = 0.05, py::arg("paf_min_above") = 0.95,
             py::arg("paf_min_samples") = 5, py::arg("paf_max_samples") = 25, py::arg("min_parts") = 3,
             py::arg("min_person_score") = 0.4, py::arg("check_finite") = true,
             py::arg("number_people_max") = 0, py::arg("single_person") = false, py::arg("peak_border") = 0,
             py::arg("peak_ring_ties") = false, py::arg("peak_raster_order") = false,
             py::arg("peak_strict_nms") = false,
             py::arg("paf_sample_far_end") = false, py::arg("paf_sample_offset") = 0.5,
             py::arg("paf_strict_fraction") = true, py::arg("paf_close_fraction") = 1.0 / 150.0,
             py::arg("fill_only_shares") = true, py::arg("merge_fragments") = 0.4,
             py::arg("uncounted_mask") = 0)
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
        .def_readwrite("peak_border", &DecodeConfig::peak_border)
        .def_readwrite("peak_ring_ties", &DecodeConfig::peak_ring_ties)
        .def_readwrite("peak_raster_order", &DecodeConfig::peak_raster_order)
        .def_readwrite("peak_strict_nms", &DecodeConfig::peak_strict_nms)
        .def_readwrite("paf_sample_far_end", &DecodeConfig::paf_sample_far_end)
        .def_readwrite("paf_sample_offset", &DecodeConfig::paf_sample_offset)
        .def_readwrite("paf_strict_fraction", &DecodeConfig::paf_strict_fraction)
        .def_readwrite("paf_close_fraction", &DecodeConfig::paf_close_fraction)
        .def_readwrite("fill_only_shares", &DecodeConfig::fill_only_shares)
        .def_readwrite("merge_fragments", &DecodeConfig::merge_fragments)
        .def_readwrite("uncounted_mask", &DecodeConfig::uncounted_mask)
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
              << ", single_person=" << (c.single_person ? "True" : "False")
              << ", peak_border=" << c.peak_border
              << ", peak_ring_ties=" << (c.peak_ring_ties ? "True" : "False")
              << ", peak_raster_order=" << (c.peak_raster_order ? "True" : "False")
              << ", peak_strict_nms=" << (c.peak_strict_nms ? "True" : "False") << ", paf_sample_far_end=" << (c.paf_sample_far_end ? "True" : "False")
              << ", paf_sample_offset=" << c.paf_sample_offset
              << ", paf_strict_fraction=" << (c.paf_strict_fraction ? "True" : "False")
              << ", paf_close_fraction=" << c.paf_close_fraction
              << ", fill_only_shares=" << (c.fill_only_shares ? "True" : "False")
              << ", merge_fragments=" << c.merge_fragments << ", uncounted_mask=" << c.uncounted_mask << ")";
            return o.str();
        });
}

}  // namespace posefast_bindings
