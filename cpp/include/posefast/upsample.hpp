// Bicubic decode grid, evaluated point by point (never materialised).
//
// The definition is src/posefast/_reference/upsample.py; this header reproduces it
// bit for bit: the phase table is computed with the same float64 expressions, and
// a value is the horizontal pass over 4 rows followed by the vertical pass, each a
// left-to-right sum.  Build with -ffp-contract=off so that no multiply-add is fused.
#pragma once

#include <cmath>
#include <cstdint>

#include "posefast/types.hpp"

namespace posefast {

constexpr double kCubicA = -0.75;

// Tap offsets and weights of every output phase p = 0..s-1 along one axis.
struct PhaseTable {
    int s = 1;
    int first[kMaxUpsample] = {};      // offset of tap 0 from the cell index (floor(f_p) - 1)
    double w[kMaxUpsample][4] = {};    // Keys' cubic weights, a = -0.75, OpenCV's Horner form
    int lo = 0;                        // the support of a cell's s phases is cells
    int hi = 0;                        // j + lo .. j + hi (before clamping)
    int shift = -1;                    // log2(s) when s is a power of two, else -1

    explicit PhaseTable(int s_) : s(s_) {
        for (int k = 0; k < 31; ++k) {
            if ((1 << k) == s) shift = k;
        }
        const double a = kCubicA;
        lo = 1 << 30;
        hi = -(1 << 30);
        for (int p = 0; p < s; ++p) {
            const double f = (p + 0.5) / s - 0.5;
            const double fl = std::floor(f);
            const double t = f - fl;
            const double w0 = ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a;
            const double w1 = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
            const double w2 = ((a + 2.0) * (1.0 - t) - (a + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
            const double w3 = 1.0 - w0 - w1 - w2;
            first[p] = static_cast<int>(fl) - 1;
            w[p][0] = w0;
            w[p][1] = w1;
            w[p][2] = w2;
            w[p][3] = w3;
            lo = first[p] < lo ? first[p] : lo;
            hi = first[p] + 3 > hi ? first[p] + 3 : hi;
        }
    }

    // The raw cell of grid coordinate u >= 0: u / s, a shift where s allows.
    int64_t cell(int64_t u) const { return shift >= 0 ? (u >> shift) : u / s; }

    // B such that |upsampled value| <= B * max |raw value of its support|:
    // (max over phases of sum |w_i|)^2 (1 when s == 1).
    double cull_bound() const {
        if (s == 1) return 1.0;
        double one_d = 0.0;
        for (int p = 0; p < s; ++p) {
            const double sum = std::fabs(w[p][0]) + std::fabs(w[p][1]) + std::fabs(w[p][2]) + std::fabs(w[p][3]);
            one_d = sum > one_d ? sum : one_d;
        }
        return one_d * one_d;
    }
};

inline int64_t clamp_index(int64_t v, int64_t n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

// Value of the decode grid at column u, row v of one channel [h, w] (s >= 2).
inline double bicubic_at(const float* ch, int64_t h, int64_t w, const PhaseTable& t, int64_t u, int64_t v) {
    const int64_t j = t.cell(u), p = u - j * t.s;
    const int64_t i = t.cell(v), q = v - i * t.s;
    const double* wx = t.w[p];
    const double* wy = t.w[q];
    const int64_t c0 = clamp_index(j + t.first[p], w), c1 = clamp_index(j + t.first[p] + 1, w);
    const int64_t c2 = clamp_index(j + t.first[p] + 2, w), c3 = clamp_index(j + t.first[p] + 3, w);
    double hk[4];
    for (int k = 0; k < 4; ++k) {
        const float* r = ch + clamp_index(i + t.first[q] + k, h) * w;
        hk[k] = ((wx[0] * static_cast<double>(r[c0]) + wx[1] * static_cast<double>(r[c1])) +
                 wx[2] * static_cast<double>(r[c2])) + wx[3] * static_cast<double>(r[c3]);
    }
    return ((wy[0] * hk[0] + wy[1] * hk[1]) + wy[2] * hk[2]) + wy[3] * hk[3];
}

// The same for two channels sharing the taps (a PAF's x and y components).
inline void bicubic_at2(const float* chx, const float* chy, int64_t h, int64_t w, const PhaseTable& t,
                        int64_t u, int64_t v, double& out_x, double& out_y) {
    const int64_t j = t.cell(u), p = u - j * t.s;
    const int64_t i = t.cell(v), q = v - i * t.s;
    const double* wx = t.w[p];
    const double* wy = t.w[q];
    const int64_t c0 = clamp_index(j + t.first[p], w), c1 = clamp_index(j + t.first[p] + 1, w);
    const int64_t c2 = clamp_index(j + t.first[p] + 2, w), c3 = clamp_index(j + t.first[p] + 3, w);
    double hx[4], hy[4];
    for (int k = 0; k < 4; ++k) {
        const int64_t row = clamp_index(i + t.first[q] + k, h) * w;
        const float* rx = chx + row;
        const float* ry = chy + row;
        hx[k] = ((wx[0] * static_cast<double>(rx[c0]) + wx[1] * static_cast<double>(rx[c1])) +
                 wx[2] * static_cast<double>(rx[c2])) + wx[3] * static_cast<double>(rx[c3]);
        hy[k] = ((wx[0] * static_cast<double>(ry[c0]) + wx[1] * static_cast<double>(ry[c1])) +
                 wx[2] * static_cast<double>(ry[c2])) + wx[3] * static_cast<double>(ry[c3]);
    }
    out_x = ((wy[0] * hx[0] + wy[1] * hx[1]) + wy[2] * hx[2]) + wy[3] * hx[3];
    out_y = ((wy[0] * hy[0] + wy[1] * hy[1]) + wy[2] * hy[2]) + wy[3] * hy[3];
}

// Upsample whole channels: out float64 [C, s*h, s*w] (s == 1 copies).  For tests
// and tools only; the decoder never materialises the grid.
void upsample_maps(const Maps& maps, int s, double* out);

}  // namespace posefast
