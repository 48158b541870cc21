// Stage 1: heatmap peaks (rules: src/posefast/_reference/peaks.py).
#pragma once

#include <cstdint>
#include <vector>

#include "posefast/types.hpp"

namespace posefast {

// Reusable scratch of find_peaks (one per thread; contents are meaningless
// between calls).
struct PeakScratch {
    struct Found {
        double value;
        int64_t raster;  // row * grid_w + col on the decode grid
    };
    std::vector<Found> found;
    struct Tile {
        int64_t i, j;  // raw cell
    };
    // upsample >= 2 only, all [h*w] over raw cells:
    std::vector<Tile> needed;      // tiles whose support can reach the threshold, raster order
                                   // (a prefix: the channel's count is kept by the scan)
    std::vector<uint64_t> marks;   // [h][ceil(w / 64)] bits: cells marked by the scan
    std::vector<uint32_t> stamp;   // == epoch when the cell's s x s tile is evaluated ...
    std::vector<int64_t> slot;     // ... and stored at pool[slot]
    std::vector<Tile> active;      // evaluated tiles holding a value above the threshold
    std::vector<double> pool;      // evaluated tiles of the current channel
    std::vector<double> hrows;     // horizontal pass of every raw row (dense channels only)
    uint32_t epoch = 0;
};

// Peaks of every channel of heatmaps float32 [K, h, w] on the decode grid
// (s*h) x (s*w): NMS with the reference's tie rule, at most max_peaks per
// keypoint (value desc, raster asc), weighted-centroid refinement.
// With cfg.check_finite, throws check_finite(heatmaps, "heatmaps")'s error (same
// first position) when a value is NaN or Inf: the finiteness test rides on the
// threshold scan, so the maps are read once.  Without, NaN/Inf input is memory-safe.
void find_peaks(const Maps& heatmaps, const DecodeConfig& cfg, PeakScratch& scratch, PeakList& out);

}  // namespace posefast
