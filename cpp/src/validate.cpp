// Checks of the plain data that crosses into the core (config, layout, offsets).
// They throw std::invalid_argument (ValueError in Python) with the fix in the text.
#include <cmath>
#include <stdexcept>
#include <string>

#include "posefast/types.hpp"

namespace posefast {
namespace {

void need(bool ok, const std::string& msg) {
    if (!ok) throw std::invalid_argument(msg);
}

void int_range(const char* name, long long v, long long lo, long long hi) {
    need(v >= lo && v <= hi, std::string("DecodeConfig.") + name + " must be in [" + std::to_string(lo) + ", " +
                                 std::to_string(hi) + "], got " + std::to_string(v));
}

void finite(const char* name, double v) {
    need(std::isfinite(v), std::string("DecodeConfig.") + name + " must be a finite number, got " + std::to_string(v));
}

}  // namespace

void validate_grid(int64_t h, int64_t w, int s) {
    need(h >= 1 && w >= 1, "maps must be at least 1 x 1, got " + std::to_string(h) + " x " + std::to_string(w));
    need(s >= 1 && s <= kMaxUpsample, "upsample must be in [1, 16], got " + std::to_string(s));
    // h, w > 2^22 fail before any product can overflow.
    const bool small = h <= kMaxGridCells && w <= kMaxGridCells;
    const int64_t gh = h * s, gw = w * s;
    if (small && gh * gw <= kMaxGridCells) return;
    throw std::invalid_argument(
        "the decode grid would be " + std::to_string(gh) + " x " + std::to_string(gw) + " = " +
        (small ? std::to_string(gh * gw) : std::string("too many")) + " cells per channel (maps " + std::to_string(h) +
        " x " + std::to_string(w) + " at upsample " + std::to_string(s) + "), over posefast's limit of " +
        std::to_string(kMaxGridCells) + " (2048 x 2048); lower DecodeConfig.upsample or the network's input size");
}

void validate_config(const DecodeConfig& c) {
    int_range("upsample", c.upsample, 1, kMaxUpsample);
    int_range("refine_radius", c.refine_radius, 0, 16);
    int_range("max_peaks", c.max_peaks, 1, kMaxPeaks);
    int_range("paf_min_samples", c.paf_min_samples, 2, kMaxPafSamples);
    int_range("paf_max_samples", c.paf_max_samples, c.paf_min_samples, kMaxPafSamples);
    int_range("min_parts", c.min_parts, 1, 1000);
    int_range("number_people_max", c.number_people_max, 0, 1000000);
    finite("peak_threshold", c.peak_threshold);
    finite("paf_threshold", c.paf_threshold);
    finite("paf_min_above", c.paf_min_above);
    finite("min_person_score", c.min_person_score);
    need(c.paf_min_above >= 0.0 && c.paf_min_above <= 1.0,
         "DecodeConfig.paf_min_above must be in [0, 1], got " + std::to_string(c.paf_min_above));
    need(c.peak_threshold >= 0.0, "DecodeConfig.peak_threshold must be >= 0 (the upsampling culling relies on it)");
    int_range("peak_border", c.peak_border, 0, 1000);
    need(!c.peak_ring_ties || c.peak_border == 1,
         "DecodeConfig.peak_ring_ties needs peak_border=1 (OpenPose's NMS), got peak_border=" +
             std::to_string(c.peak_border) + "; set both or neither");
    need(!(c.peak_raster_order && c.single_person),
         "DecodeConfig.peak_raster_order does not go with single_person_mode (its one peak per keypoint is the "
         "global maximum); leave peak_raster_order False");
    need(!(c.peak_strict_nms && c.single_person),
         "DecodeConfig.peak_strict_nms does not go with single_person_mode (its one peak per keypoint is the "
         "global maximum); leave peak_strict_nms False");
    finite("paf_sample_offset", c.paf_sample_offset);
    finite("paf_close_fraction", c.paf_close_fraction);
    need(c.paf_sample_offset >= -1.0 && c.paf_sample_offset <= 1.0,
         "DecodeConfig.paf_sample_offset must be in [-1, 1], got " + std::to_string(c.paf_sample_offset));
    finite("merge_fragments", c.merge_fragments);
    need(c.merge_fragments >= 0.0 && c.merge_fragments <= 10.0,
         "DecodeConfig.merge_fragments must be in [0, 10], got " + std::to_string(c.merge_fragments));
    need(c.paf_close_fraction >= 0.0 && c.paf_close_fraction <= 1.0,
         "DecodeConfig.paf_close_fraction must be in [0, 1], got " + std::to_string(c.paf_close_fraction));
}

void validate_layout(const LayoutRef& layout, int64_t num_keypoints, int64_t paf_channels) {
    for (int64_t l = 0; l < layout.num_limbs; ++l) {
        const int32_t a = layout.limbs[2 * l], b = layout.limbs[2 * l + 1];
        need(a >= 0 && a < num_keypoints && b >= 0 && b < num_keypoints && a != b,
             "limb " + std::to_string(l) + " joins keypoints (" + std::to_string(a) + ", " + std::to_string(b) +
                 ") but there are " + std::to_string(num_keypoints) +
                 " keypoints; pass Layout.arrays() of the layout that matches the maps");
        const int32_t cx = layout.paf[2 * l], cy = layout.paf[2 * l + 1];
        need(cx >= 0 && cx < paf_channels && cy >= 0 && cy < paf_channels,
             "limb " + std::to_string(l) + " uses PAF channels (" + std::to_string(cx) + ", " + std::to_string(cy) +
                 ") but the PAFs have " + std::to_string(paf_channels) +
                 " channels; pass Layout.arrays() of the layout that matches the maps");
    }
}

void validate_offsets(const int64_t* offsets, int64_t n, int64_t num_rows, const char* what) {
    need(n >= 1 && offsets[0] == 0, std::string(what) + " offsets must start at 0");
    for (int64_t i = 1; i < n; ++i) {
        need(offsets[i] >= offsets[i - 1], std::string(what) + " offsets must never decrease");
    }
    need(offsets[n - 1] == num_rows, std::string(what) + " offsets end at " + std::to_string(offsets[n - 1]) +
                                         " but there are " + std::to_string(num_rows) + " rows");
}

}  // namespace posefast
