// posefast native core: plain data shared by every stage.
//
// Dimension letters (as in src/posefast/types.py and cpp/README.md):
//   N frames, K keypoints, L limbs (2L PAF channels), M peaks (all keypoints),
//   C candidate limbs (all limbs), P people, h x w map size, s upsampling factor.
//
// Nothing here knows about Python.  No global or static mutable state: every
// threshold travels in DecodeConfig, every scratch buffer in a Workspace that the
// caller owns (one per thread).
#pragma once

#include <cstdint>
#include <vector>

namespace posefast {

// Largest upsampling factor (DecodeConfig.upsample is validated to [1, 16]).
constexpr int kMaxUpsample = 16;
// Work bounds (posefast.config.MAX_PEAKS, MAX_PAF_SAMPLES): limb scoring costs up to
// max_peaks^2 * paf_max_samples per limb.
constexpr int kMaxPeaks = 128;
constexpr int kMaxPafSamples = 32;
// The decode grid (s*h) x (s*w) of one channel holds at most this many cells
// (2048 x 2048): peak finding on noise maps evaluates every one of them.
constexpr int64_t kMaxGridCells = int64_t(1) << 22;

// Decoder thresholds; the fields of posefast.DecodeConfig, with refine_radius
// already resolved (DecodeConfig.effective_refine_radius).
struct DecodeConfig {
    int upsample = 4;
    double peak_threshold = 0.05;
    int refine_radius = 2;
    int max_peaks = 127;
    double paf_threshold = 0.05;
    double paf_min_above = 0.95;
    int paf_min_samples = 5;
    int paf_max_samples = 25;
    int min_parts = 3;
    double min_person_score = 0.4;
    bool check_finite = true;
    int number_people_max = 0;  // keep the best N people (rules: _reference/assemble.py); 0 = no limit
    bool single_person = false;  // DecodeConfig.single_person_mode: one peak per keypoint, no PAFs, <= 1 person
    int peak_border = 0;              // no peak within this many cells of the grid edge
    bool peak_ring_ties = false;      // OpenPose's NMS on the ring next to the border (needs peak_border 1)
    bool peak_raster_order = false;   // OpenPose's peak order: raster, first max_peaks kept
    bool peak_strict_nms = false;     // OpenPose's NMS: above all 8 neighbours (a plateau: no peak)
    bool paf_sample_far_end = false;  // samples at i/(n-1) (both ends) instead of i/n
    double paf_sample_offset = 0.5;   // added to the start peak before rounding
    bool paf_strict_fraction = true;  // passed/n > min_above instead of passed >= min_above*n
    double paf_close_fraction = 1.0 / 150.0;  // close pairs: fixed score peak_threshold + 1e-6
    bool fill_only_shares = true;     // OpenPose's shoulder->ear fill
    double merge_fragments = 0.4;     // fragment absorption threshold (0 = off)
    uint64_t uncounted_mask = 0;      // bit k: keypoint k does not count (OpenPose's BODY-25 feet)
};

// Peaks kept per keypoint: 1 in single-person mode (the global maximum), else max_peaks.
inline int effective_max_peaks(const DecodeConfig& c) { return c.single_person ? 1 : c.max_peaks; }

// Throws std::invalid_argument naming the bad field.
void validate_config(const DecodeConfig& cfg);
// Throws std::invalid_argument unless maps of h x w (>= 1 x 1) at upsample s give a
// decode grid of at most kMaxGridCells cells.
void validate_grid(int64_t h, int64_t w, int s);

// A C-contiguous float32 [C, h, w] block (not owned).
struct Maps {
    const float* data = nullptr;
    int64_t channels = 0;
    int64_t h = 0;
    int64_t w = 0;

    const float* channel(int64_t c) const { return data + c * h * w; }
};

// A skeleton layout (not owned): limbs int32 [L, 2] (keypoint a, b), paf int32
// [L, 2] (PAF channel of x, y), fill_only uint8 [L] (1 = may only fill a slot).
struct LayoutRef {
    int64_t num_limbs = 0;
    const int32_t* limbs = nullptr;
    const int32_t* paf = nullptr;
    const uint8_t* fill_only = nullptr;
};

// Throws std::invalid_argument unless every limb names keypoints in [0, K) with
// a != b and PAF channels in [0, paf_channels).
void validate_layout(const LayoutRef& layout, int64_t num_keypoints, int64_t paf_channels);

// Stage 1 output: peaks of every keypoint, rows offsets[k] .. offsets[k+1].
struct PeakList {
    std::vector<int64_t> offsets;  // [K+1]
    std::vector<int32_t> grid;     // [M, 2] integer (x, y) on the decode grid
    std::vector<double> xy;        // [M, 2] refined (x, y) on the decode grid
    std::vector<double> scores;    // [M]    decode-grid value at grid
    int64_t grid_h = 0;            // s*h
    int64_t grid_w = 0;            // s*w
};

// Read-only view of peaks (from a PeakList or from caller arrays).
struct PeaksRef {
    int64_t num_keypoints = 0;
    const int64_t* offsets = nullptr;  // [K+1]
    const double* xy = nullptr;        // [M, 2]
    const double* scores = nullptr;    // [M] (assembly only)

    int64_t count(int64_t k) const { return offsets[k + 1] - offsets[k]; }
    int64_t total() const { return offsets[num_keypoints]; }
};

inline PeaksRef ref(const PeakList& p) {
    return PeaksRef{static_cast<int64_t>(p.offsets.size()) - 1, p.offsets.data(), p.xy.data(),
                    p.scores.data()};
}

// Throws std::invalid_argument unless offsets start at 0, never decrease and end
// at num_rows.
void validate_offsets(const int64_t* offsets, int64_t n, int64_t num_rows, const char* what);

// Stage 2 output: candidate limbs, rows offsets[l] .. offsets[l+1] per limb.
struct CandidateList {
    std::vector<int64_t> offsets;  // [L+1]
    std::vector<int32_t> a;        // [C] peak index within keypoint a of the limb
    std::vector<int32_t> b;        // [C] peak index within keypoint b of the limb
    std::vector<double> scores;    // [C]
};

struct CandidatesRef {
    int64_t num_limbs = 0;
    const int64_t* offsets = nullptr;  // [L+1]
    const int32_t* a = nullptr;
    const int32_t* b = nullptr;
    const double* scores = nullptr;
};

inline CandidatesRef ref(const CandidateList& c) {
    return CandidatesRef{static_cast<int64_t>(c.offsets.size()) - 1, c.offsets.data(), c.a.data(),
                         c.b.data(), c.scores.data()};
}

// Stage 3 output: people, highest score first.
struct PoseList {
    int64_t count = 0;               // P
    int64_t num_keypoints = 0;       // K
    std::vector<float> keypoints;    // [P, K, 3] x, y (map pixels), confidence
    std::vector<float> scores;       // [P]
    std::vector<int32_t> peak_ids;   // [P, K] peak index within the keypoint, -1 = missing
};

}  // namespace posefast
