// Whole-frame decoding and the threaded batch driver.
#include "posefast/decode.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include "posefast/finite.hpp"

namespace posefast {

void validate_frame(const Maps& hm, const Maps& pafs, const LayoutRef& layout, const DecodeConfig& cfg) {
    validate_config(cfg);
    if (hm.h < 1 || hm.w < 1) {
        throw std::invalid_argument("maps must be at least 1 x 1, got " + std::to_string(hm.h) + " x " +
                                    std::to_string(hm.w));
    }
    if (pafs.h != hm.h || pafs.w != hm.w) {
        throw std::invalid_argument("heatmaps are " + std::to_string(hm.h) + " x " + std::to_string(hm.w) +
                                    " (h, w) but pafs are " + std::to_string(pafs.h) + " x " + std::to_string(pafs.w) +
                                    "; both must come from the same network output");
    }
    validate_grid(hm.h, hm.w, cfg.upsample);
    validate_layout(layout, hm.channels, pafs.channels);
}

void decode(const Maps& hm, const Maps& pafs, const LayoutRef& layout, const DecodeConfig& cfg, Workspace& ws,
            PoseList& out) {
    // find_peaks checks the heatmaps itself (cfg.check_finite) before any other
    // error can arise, so the heatmaps' error still comes first; score_limbs checks
    // the PAF values it reads.
    find_peaks(hm, cfg, ws.peak_scratch, ws.peaks);
    if (cfg.single_person) {
        // No PAF read (nor checked): assemble takes one peak per keypoint.
        ws.candidates.offsets.assign(static_cast<size_t>(layout.num_limbs + 1), 0);
        ws.candidates.a.clear();
        ws.candidates.b.clear();
        ws.candidates.scores.clear();
    } else {
        score_limbs(pafs, ref(ws.peaks), layout, cfg, ws.limb_scratch, ws.candidates);
    }
    assemble(ref(ws.peaks), ref(ws.candidates), layout, cfg, ws.assemble_scratch, out);
}

void decode_batch(const float* heatmaps, const float* pafs, int64_t n, int64_t num_keypoints, int64_t paf_channels,
                  int64_t h, int64_t w, const LayoutRef& layout, const DecodeConfig& cfg, int threads,
                  std::vector<PoseList>& out) {
    out.assign(static_cast<size_t>(n), PoseList{});
    if (n <= 0) return;
    const int64_t plane = h * w;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    std::atomic<int64_t> next{0};

    // Each worker takes the next frame until none is left; its Workspace is its own,
    // and out[i] / errors[i] are written by exactly one worker.
    auto work = [&]() {
        Workspace ws;
        for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
            try {
                const Maps hm{heatmaps + i * num_keypoints * plane, num_keypoints, h, w};
                const Maps pf{pafs + i * paf_channels * plane, paf_channels, h, w};
                decode(hm, pf, layout, cfg, ws, out[static_cast<size_t>(i)]);
            } catch (...) {
                errors[static_cast<size_t>(i)] = std::current_exception();
            }
        }
    };

    int64_t want = threads > 0 ? threads : static_cast<int64_t>(std::thread::hardware_concurrency());
    want = std::max<int64_t>(1, std::min<int64_t>(want, n));
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(want - 1));
    for (int64_t t = 1; t < want; ++t) {
        try {
            pool.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had: the ones running (and this one) finish the work
        }
    }
    work();
    for (auto& th : pool) th.join();

    for (int64_t i = 0; i < n; ++i) {
        if (!errors[static_cast<size_t>(i)]) continue;
        try {
            std::rethrow_exception(errors[static_cast<size_t>(i)]);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("frame " + std::to_string(i) + ": " + e.what());
        }
    }
}

}  // namespace posefast
