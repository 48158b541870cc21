// Sparse-hit scanning of float rows: a branch-free test of a block of 16 values
// (SSE2 where the target has it, which every x86-64 does; plain code elsewhere),
// and the per-value work only for the values that hit.  Optionally the same pass
// tells whether the row holds a NaN or Inf (exponent bits all ones), so a map is
// read once for both its threshold scan and its finiteness check.
// Private to cpp/src.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define POSEFAST_SCAN_SSE2 1
#endif

namespace posefast {
namespace detail {

constexpr int64_t kScanBlock = 16;
constexpr uint32_t kExpBits = 0x7f800000u;

inline bool non_finite(float v) {
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    return (b & kExpBits) == kExpBits;
}

// Index of the lowest set bit of bits != 0.
inline unsigned lowest_bit(unsigned bits) {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctz(bits));
#else
    unsigned b = 0;
    while (!((bits >> b) & 1u)) ++b;
    return b;
#endif
}

// v > t (false for NaN).
struct Greater {
    float t;
    bool operator()(float v) const { return v > t; }
#ifdef POSEFAST_SCAN_SSE2
    __m128 vec(__m128 v) const { return _mm_cmpgt_ps(v, _mm_set1_ps(t)); }
#endif
};

// |v| >= t (false for NaN).
struct AbsAtLeast {
    float t;
    bool operator()(float v) const { return std::fabs(v) >= t; }
#ifdef POSEFAST_SCAN_SSE2
    __m128 vec(__m128 v) const {
        const __m128 abs = _mm_and_ps(v, _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)));
        return _mm_cmpge_ps(abs, _mm_set1_ps(t));
    }
#endif
};

// Calls hit(i) for every i in [0, n) with pred(x[i]), in increasing i.  With Check,
// returns whether some x[i] is NaN or Inf (hits are still reported, so `hit` must
// be memory-safe on such values); without, returns false.
template <bool Check, class Pred, class Hit>
inline bool scan_row(const float* x, int64_t n, Pred pred, Hit hit) {
    int64_t i = 0;
    bool bad = false;
#ifdef POSEFAST_SCAN_SSE2
    const __m128i exp = _mm_set1_epi32(static_cast<int>(kExpBits));
    __m128i nf = _mm_setzero_si128();
    for (; i + kScanBlock <= n; i += kScanBlock) {
        const __m128 v0 = _mm_loadu_ps(x + i), v1 = _mm_loadu_ps(x + i + 4);
        const __m128 v2 = _mm_loadu_ps(x + i + 8), v3 = _mm_loadu_ps(x + i + 12);
        if (Check) {
            const __m128i e0 = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(v0), exp), exp);
            const __m128i e1 = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(v1), exp), exp);
            const __m128i e2 = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(v2), exp), exp);
            const __m128i e3 = _mm_cmpeq_epi32(_mm_and_si128(_mm_castps_si128(v3), exp), exp);
            nf = _mm_or_si128(nf, _mm_or_si128(_mm_or_si128(e0, e1), _mm_or_si128(e2, e3)));
        }
        const __m128 m0 = pred.vec(v0), m1 = pred.vec(v1), m2 = pred.vec(v2), m3 = pred.vec(v3);
        if (!_mm_movemask_ps(_mm_or_ps(_mm_or_ps(m0, m1), _mm_or_ps(m2, m3)))) continue;
        unsigned bits = static_cast<unsigned>(_mm_movemask_ps(m0)) | (static_cast<unsigned>(_mm_movemask_ps(m1)) << 4) |
                        (static_cast<unsigned>(_mm_movemask_ps(m2)) << 8) |
                        (static_cast<unsigned>(_mm_movemask_ps(m3)) << 12);
        while (bits) {
            const unsigned b = lowest_bit(bits);
            hit(i + static_cast<int64_t>(b));
            bits &= bits - 1;
        }
    }
    if (Check) bad = _mm_movemask_epi8(nf) != 0;
#else
    for (; i + kScanBlock <= n; i += kScanBlock) {
        int any = 0;
        uint32_t nfb = 0;
        for (int64_t k = 0; k < kScanBlock; ++k) {
            any |= static_cast<int>(pred(x[i + k]));
            if (Check) {
                uint32_t b;
                std::memcpy(&b, x + i + k, sizeof b);
                nfb |= static_cast<uint32_t>((b & kExpBits) == kExpBits);
            }
        }
        if (Check && nfb) bad = true;
        if (!any) continue;
        for (int64_t k = 0; k < kScanBlock; ++k) {
            if (pred(x[i + k])) hit(i + k);
        }
    }
#endif
    for (; i < n; ++i) {
        if (Check && non_finite(x[i])) bad = true;
        if (pred(x[i])) hit(i);
    }
    return bad;
}

}  // namespace detail
}  // namespace posefast
