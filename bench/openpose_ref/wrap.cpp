// A C ABI around CMU OpenPose's own CPU decoder stages, nmsCpu and connectBodyPartsCpu,
// compiled unmodified from an OpenPose checkout by build.sh (with the stand-in headers
// of shim/), for check.py.  Not part of posefast; no OpenPose code lives in this tree.
#include <openpose/net/bodyPartConnectorBase.hpp>
#include <openpose/net/nmsBase.hpp>
#include <openpose/pose/poseParameters.hpp>

#include <cstring>
#include <vector>

namespace {
struct Decoder {
    op::PoseModel model;
    int parts;
    int max_peaks;
    std::vector<float> peaks;  // OpenPose's peak blob [parts, max_peaks + 1, 3]
    std::vector<int> kernel;   // its NMS kernel blob [parts, H, W]
};
op::PoseModel model_of(int m) {
    return m == 0 ? op::PoseModel::COCO_18 : m == 1 ? op::PoseModel::BODY_25 : op::PoseModel::MPI_15;
}
}  // namespace

extern "C" {
// model: 0 COCO_18, 1 BODY_25, 2 MPI_15.  Returns the number of body parts.
void* opref_new(int model, int* parts) {
    auto* d = new Decoder;
    d->model = model_of(model);
    d->parts = static_cast<int>(op::getPoseNumberBodyParts(d->model));
    d->max_peaks = static_cast<int>(op::getPoseMaxPeaks());
    *parts = d->parts;
    return d;
}

void opref_free(void* handle) { delete static_cast<Decoder*>(handle); }

// grid: float32 [C, H, W], the network output resized to the decode grid the way
// resizeAndMergeCpu does (every channel: heatmaps, background, PAFs).  Thresholds as
// OpenPose's flags; offset and scale as its PoseExtractorCaffe passes them.  Writes at
// most max_people people to keypoints [max_people, parts, 3] and scores; returns the
// number of people OpenPose found, or -1 with a message in err.
int opref_decode(void* handle, const float* grid, int H, int W, float nms_threshold, float inter_threshold,
                 float inter_min_above, int min_subset_cnt, float min_subset_score, float offset, float scale,
                 int max_people, float* keypoints, float* scores, char* err, int err_len) {
    try {
        auto& d = *static_cast<Decoder*>(handle);
        const size_t peak_len = static_cast<size_t>(d.parts) * (d.max_peaks + 1) * 3;
        const size_t kernel_len = static_cast<size_t>(d.parts) * H * W;
        if (d.peaks.size() != peak_len) d.peaks.assign(peak_len, 0.f);
        if (d.kernel.size() != kernel_len) d.kernel.assign(kernel_len, 0);
        op::nmsCpu<float>(d.peaks.data(), d.kernel.data(), grid, nms_threshold, {1, d.parts, d.max_peaks + 1, 3},
                          {1, d.parts, H, W}, op::Point<float>{offset, offset});
        op::Array<float> kp, sc;
        op::connectBodyPartsCpu<float>(kp, sc, grid, d.peaks.data(), d.model, op::Point<int>{W, H}, d.max_peaks,
                                       inter_min_above, inter_threshold, min_subset_cnt, min_subset_score,
                                       nms_threshold, scale, false);
        const int people = kp.empty() ? 0 : kp.getSize(0);
        const int n = people < max_people ? people : max_people;
        if (n > 0) std::memcpy(keypoints, kp.getConstPtr(), sizeof(float) * static_cast<size_t>(n) * d.parts * 3);
        for (int i = 0; i < n; ++i) scores[i] = sc[i];
        return people;
    } catch (const std::exception& e) {
        std::strncpy(err, e.what(), static_cast<size_t>(err_len - 1));
        err[err_len - 1] = 0;
        return -1;
    }
}
}
