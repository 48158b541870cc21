// Stage 2: PAF line-integral scores of candidate limbs
// (rules: src/posefast/_reference/limbs.py).
#pragma once

#include <cstdint>
#include <vector>

#include "posefast/types.hpp"

namespace posefast {

struct LimbScratch {
    struct Cand {
        double score;
        int32_t a, b;
    };
    struct PeakPaf {
        int64_t px, py;  // rounded, clamped grid position of the peak
        double vx, vy;   // PAF there
    };
    std::vector<Cand> cands;
    std::vector<PeakPaf> at_a, at_b;  // PAF at the peaks of the limb's two keypoints
    struct Pair {                     // a pair left after its end samples
        double dx, dy, ux, uy, p0, p1, norm;  // B - A, unit direction, end projections, |d|
        int64_t n, ib, failed;          // samples, end peak, failed end samples
    };
    struct Geo {                      // one pair's d = B - A, norm, unit direction, samples
        double dx, dy, norm, ux, uy, n;
        int64_t px1, py1;             // grid cell of sample n - 1 (pass 1b, when read)
    };
    std::vector<Geo> geo, geo_next;   // [nB] pairs of one start peak, and of the next one
    std::vector<double> proj;         // projections of one pair's samples
    std::vector<Pair> pairs;          // pairs of one start peak left for the inner samples
    std::vector<int64_t> max_fail;    // [paf_max_samples - paf_min_samples + 1]
};

// Score every pair of peaks of every limb on pafs float32 [2L', h, w] (the decode
// grid of upsample s is evaluated at each sample point; raw values when s == 1).
// peaks.xy are refined positions on the (s*h) x (s*w) grid.  Candidates of a limb
// are ordered by score desc, then a, then b.  With cfg.check_finite, throws
// std::invalid_argument (naming the first NaN/Inf of pafs) when a PAF value it
// reads is not finite (the reference's finiteness rule).
void score_limbs(const Maps& pafs, const PeaksRef& peaks, const LayoutRef& layout, const DecodeConfig& cfg,
                 LimbScratch& scratch, CandidateList& out);

}  // namespace posefast
