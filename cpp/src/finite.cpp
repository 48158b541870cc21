// Finiteness check: a float is NaN or Inf exactly when its exponent bits are all
// ones.  The scan ORs a bit test over blocks (vectorisable, no branches) and only
// looks for the exact position once a block is known to hold one.
#include "posefast/finite.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace posefast {

int64_t first_non_finite(const float* data, int64_t n) {
    constexpr uint32_t kExp = 0x7f800000u;
    constexpr int64_t kBlock = 1024;
    for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t len = n - start < kBlock ? n - start : kBlock;
        uint32_t bits[kBlock];
        std::memcpy(bits, data + start, static_cast<size_t>(len) * sizeof(float));
        uint32_t bad = 0;
        for (int64_t i = 0; i < len; ++i) bad |= static_cast<uint32_t>((bits[i] & kExp) == kExp);
        if (bad) {
            for (int64_t i = 0; i < len; ++i) {
                if ((bits[i] & kExp) == kExp) return start + i;
            }
        }
    }
    return -1;
}

void check_finite(const Maps& maps, const char* what) {
    const int64_t at = first_non_finite(maps.data, maps.channels * maps.h * maps.w);
    if (at < 0) return;
    const int64_t plane = maps.h * maps.w;
    const int64_t c = at / plane, y = (at % plane) / maps.w, x = at % maps.w;
    throw std::invalid_argument(std::string(what) + " contain NaN or Inf (first at channel " + std::to_string(c) +
                                ", row " + std::to_string(y) + ", column " + std::to_string(x) +
                                "); clean the network output (e.g. np.nan_to_num) or pass "
                                "DecodeConfig(check_finite=False) if you accept undefined results");
}

}  // namespace posefast
