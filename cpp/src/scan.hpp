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
// AVX2 variant for GCC/Clang on x86-64, chosen at run time where the CPU has it (the
// build itself targets plain x86-64).  Comparisons are exact, so both variants report
// the same hits.  -DPOSEFAST_NO_AVX2 builds the portable paths only (to test them on
// an AVX2 machine).
#if defined(POSEFAST_SCAN_SSE2) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(POSEFAST_NO_AVX2)
#include <immintrin.h>
#define POSEFAST_SCAN_AVX2 1
#define POSEFAST_AVX2 __attribute__((target("avx2")))
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

// Index of the lowest set bit of bits != 0 (any word up to 64 bits).
inline unsigned lowest_bit(uint64_t bits) {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(bits));
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
#ifdef POSEFAST_SCAN_AVX2
    POSEFAST_AVX2 __m256 vec8(__m256 v) const { return _mm256_cmp_ps(v, _mm256_set1_ps(t), _CMP_GT_OQ); }
#endif
};

// |v| >= t, or v is NaN (not |v| < t).
struct AbsNotBelow {
    float t;
    bool operator()(float v) const { return !(std::fabs(v) < t); }
#ifdef POSEFAST_SCAN_SSE2
    __m128 vec(__m128 v) const {
        const __m128 abs = _mm_and_ps(v, _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff)));
        return _mm_cmpnlt_ps(abs, _mm_set1_ps(t));
    }
#endif
#ifdef POSEFAST_SCAN_AVX2
    POSEFAST_AVX2 __m256 vec8(__m256 v) const {
        const __m256 abs = _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
        return _mm256_cmp_ps(abs, _mm256_set1_ps(t), _CMP_NLT_UQ);
    }
#endif
};

#ifdef POSEFAST_SCAN_AVX2
// scan_row's blocks of 16 with 8-wide vectors; the caller handles the tail.  Returns
// the index after the last full block; `nf` is set when a block held a NaN or Inf.
template <bool Check, class Pred, class Hit>
POSEFAST_AVX2 inline int64_t scan_blocks_avx2(const float* x, int64_t n, Pred pred, Hit& hit, bool& nf_out) {
    const __m256i exp = _mm256_set1_epi32(static_cast<int>(kExpBits));
    __m256i nf = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + kScanBlock <= n; i += kScanBlock) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        if (Check) {
            const __m256i e0 = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v0), exp), exp);
            const __m256i e1 = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v1), exp), exp);
            nf = _mm256_or_si256(nf, _mm256_or_si256(e0, e1));
        }
        const __m256 m0 = pred.vec8(v0), m1 = pred.vec8(v1);
        if (_mm256_testz_ps(_mm256_or_ps(m0, m1), _mm256_or_ps(m0, m1))) continue;
        unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(m0)) |
                        (static_cast<unsigned>(_mm256_movemask_ps(m1)) << 8);
        while (bits) {
            const unsigned b = lowest_bit(bits);
            hit(i + static_cast<int64_t>(b));
            bits &= bits - 1;
        }
    }
    nf_out = Check && !_mm256_testz_si256(nf, nf);
    return i;
}
#endif

// Calls hit(i) for every i in [0, n) with pred(x[i]), in increasing i.  With Check,
// returns whether some x[i] is NaN or Inf (hits are still reported, so `hit` must
// be memory-safe on such values); without, returns false.
template <bool Check, class Pred, class Hit>
inline bool scan_row(const float* x, int64_t n, Pred pred, Hit hit) {
    int64_t i = 0;
    bool bad = false;
#ifdef POSEFAST_SCAN_AVX2
    if (__builtin_cpu_supports("avx2")) {
        i = scan_blocks_avx2<Check>(x, n, pred, hit, bad);
        for (; i < n; ++i) {
            if (Check && non_finite(x[i])) bad = true;
            if (pred(x[i])) hit(i);
        }
        return bad;
    }
#endif
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
