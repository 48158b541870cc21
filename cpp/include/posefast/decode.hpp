// Whole-frame decoding (stages 1-3) and the threaded batch driver.
#pragma once

#include <cstdint>
#include <vector>

#include "posefast/assemble.hpp"
#include "posefast/limbs.hpp"
#include "posefast/peaks.hpp"
#include "posefast/types.hpp"

namespace posefast {

// Everything one decoding thread needs besides its inputs; reuse it across frames.
struct Workspace {
    PeakScratch peak_scratch;
    LimbScratch limb_scratch;
    AssembleScratch assemble_scratch;
    PeakList peaks;
    CandidateList candidates;
};

// Throws std::invalid_argument unless heatmaps [K, h, w] and pafs [2L', h, w] agree
// with each other, the layout and the config (h, w >= 1; grid fits int32).
void validate_frame(const Maps& heatmaps, const Maps& pafs, const LayoutRef& layout, const DecodeConfig& cfg);

// One frame: finiteness check (cfg.check_finite), peaks, limbs, people.
void decode(const Maps& heatmaps, const Maps& pafs, const LayoutRef& layout, const DecodeConfig& cfg, Workspace& ws,
            PoseList& out);

// Frames 0..n-1 of heatmaps float32 [N, K, h, w] and pafs float32 [N, 2L', h, w],
// spread over `threads` std::threads (0 = hardware concurrency; never more than N),
// each with its own Workspace.  out[i] is frame i.  An error in any frame is
// rethrown after every thread has joined: the lowest failing frame's, its message
// prefixed with "frame i: ".
void decode_batch(const float* heatmaps, const float* pafs, int64_t n, int64_t num_keypoints, int64_t paf_channels,
                  int64_t h, int64_t w, const LayoutRef& layout, const DecodeConfig& cfg, int threads,
                  std::vector<PoseList>& out);

}  // namespace posefast
