// Finiteness check: a float is NaN or Inf exactly when its exponent bits are all
// ones.  The scan ORs a bit test over blocks (SSE2 on x86, no branches) and only
// looks for the exact position once a block is known to hold one.
#include "posefast/finite.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "scan.hpp"

namespace posefast {

namespace {

int64_t first_in(const float* data, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        if (detail::non_finite(data[i])) return i;
    }
    return -1;
}

}  // namespace

int64_t first_non_finite(const float* data, int64_t n) {
    constexpr int64_t kBlock = 64;
    int64_t start = 0;
#ifdef POSEFAST_SCAN_SSE2
    const __m128i exp = _mm_set1_epi32(static_cast<int>(detail::kExpBits));
    for (; start + kBlock <= n; start += kBlock) {
        __m128i acc = _mm_setzero_si128();
        for (int64_t k = 0; k < kBlock; k += 16) {
            const __m128i v0 = _mm_and_si128(_mm_castps_si128(_mm_loadu_ps(data + start + k)), exp);
            const __m128i v1 = _mm_and_si128(_mm_castps_si128(_mm_loadu_ps(data + start + k + 4)), exp);
            const __m128i v2 = _mm_and_si128(_mm_castps_si128(_mm_loadu_ps(data + start + k + 8)), exp);
            const __m128i v3 = _mm_and_si128(_mm_castps_si128(_mm_loadu_ps(data + start + k + 12)), exp);
            acc = _mm_or_si128(acc, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi32(v0, exp), _mm_cmpeq_epi32(v1, exp)),
                                                 _mm_or_si128(_mm_cmpeq_epi32(v2, exp), _mm_cmpeq_epi32(v3, exp))));
        }
        if (_mm_movemask_epi8(acc)) return start + first_in(data + start, kBlock);
    }
#else
    for (; start + kBlock <= n; start += kBlock) {
        uint32_t bits[kBlock];
        std::memcpy(bits, data + start, sizeof bits);
        uint32_t bad = 0;
        for (int64_t i = 0; i < kBlock; ++i) bad |= static_cast<uint32_t>((bits[i] & detail::kExpBits) == detail::kExpBits);
        if (bad) return start + first_in(data + start, kBlock);
    }
#endif
    const int64_t tail = first_in(data + start, n - start);
    return tail < 0 ? -1 : start + tail;
}

void throw_non_finite(const Maps& maps, int64_t at, const char* what) {
    const int64_t plane = maps.h * maps.w;
    const int64_t c = at / plane, y = (at % plane) / maps.w, x = at % maps.w;
    throw std::invalid_argument(std::string(what) + " contain NaN or Inf (first at channel " + std::to_string(c) +
                                ", row " + std::to_string(y) + ", column " + std::to_string(x) +
                                "); clean the network output (e.g. np.nan_to_num) or pass "
                                "DecodeConfig(check_finite=False) if you accept undefined results");
}

void check_finite(const Maps& maps, const char* what) {
    const int64_t at = first_non_finite(maps.data, maps.channels * maps.h * maps.w);
    if (at >= 0) throw_non_finite(maps, at, what);
}

}  // namespace posefast
