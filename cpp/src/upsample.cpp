// Whole-map upsampling, for tests and tools (the decoder evaluates points only).
#include <cstdint>

#include "posefast/upsample.hpp"

namespace posefast {

void upsample_maps(const Maps& maps, int s, double* out) {
    const int64_t h = maps.h, w = maps.w, gh = h * s, gw = w * s;
    if (s == 1) {
        for (int64_t i = 0; i < maps.channels * h * w; ++i) out[i] = static_cast<double>(maps.data[i]);
        return;
    }
    const PhaseTable table(s);
    for (int64_t c = 0; c < maps.channels; ++c) {
        const float* ch = maps.channel(c);
        double* o = out + c * gh * gw;
        for (int64_t v = 0; v < gh; ++v) {
            for (int64_t u = 0; u < gw; ++u) o[v * gw + u] = bicubic_at(ch, h, w, table, u, v);
        }
    }
}

}  // namespace posefast
