// Stage 3: greedy matching per limb and person assembly
// (rules: src/posefast/_reference/assemble.py).
#pragma once

#include <cstdint>
#include <vector>

#include "posefast/types.hpp"

namespace posefast {

struct AssembleScratch {
    std::vector<int32_t> owner;     // [M] person holding each peak (global row), -1 = none
    std::vector<int32_t> used_a;    // [M] limb + 1 when the peak was matched as `a` of that limb
    std::vector<int32_t> used_b;    // [M] the same for `b`
    std::vector<int32_t> parts;     // [people, K] peak index within the keypoint, -1 = missing
    std::vector<double> score;      // [people] sum of peak and limb scores
    std::vector<int32_t> count;     // [people] keypoints held
    std::vector<int32_t> order;     // people kept, best first
    std::vector<double> mean;       // [people] score / count
    std::vector<double> rank;       // [people] number_people_max rank (score * sqrt(box area))
    std::vector<int32_t> by_rank;   // people kept, highest rank first
    std::vector<uint8_t> chosen;    // [people] 1 = among the number_people_max best
    std::vector<int32_t> held;      // [people] parts present (fragment pass; count excludes fills)
};

// Group candidates (in their given order) into people; keypoints in map pixels,
// ((x + 0.5) / s - 0.5).  cfg.number_people_max keeps the best N; cfg.single_person
// ignores the candidates and makes one person of peak 0 of every keypoint.  candidates must come from peaks with the same layout
// (indices are trusted: the bindings validate them).
void assemble(const PeaksRef& peaks, const CandidatesRef& cands, const LayoutRef& layout, const DecodeConfig& cfg,
              AssembleScratch& scratch, PoseList& out);

}  // namespace posefast
