// Stage 1: heatmap peaks.  Rules: src/posefast/_reference/peaks.py.
//
// upsample == 1: NMS straight on the float32 map: a cheap scan for values above
// the threshold, then the neighbour test only there.
//
// upsample s >= 2: the decode grid is never materialised.  Every value of the s x s
// tile of raw cell (i, j) depends only on raw cells (i + lo .. i + hi, j + lo .. j + hi)
// (clamped; lo = -2, hi = 2 for every s >= 2) and is at most B * max |raw| there
// (B = PhaseTable::cull_bound).  Raw cells whose |value| could lift a tile value
// over the threshold are marked; only tiles whose support holds a marked cell can
// hold a peak.  Those are culled once more by a separable weighted bound on their
// support, and only the survivors are evaluated (four phases at a time with AVX2,
// each lane doing the scalar arithmetic).  NMS runs on each tile holding a value above
// the threshold, with a rim of its evaluated neighbours' values (a neighbour never
// evaluated holds only finite values <= threshold, so it stands in as -inf).  Values
// needed elsewhere (refinement windows) are evaluated on demand, tile by tile.  Every
// value uses the exact formula of the reference, so it equals the reference's
// full-grid value bit for bit.
#include "posefast/peaks.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "posefast/finite.hpp"
#include "posefast/upsample.hpp"
#include "scan.hpp"

namespace posefast {
namespace {

bool found_before(const PeakScratch::Found& x, const PeakScratch::Found& y) {
    // All values are > threshold >= 0, so never NaN: a strict total order.
    if (x.value != y.value) return x.value > y.value;
    return x.raster < y.raster;
}

// Largest float f with (double)f <= t: then (double)v > t  <=>  v > f for every float v.
float float_below_or_at(double t) {
    float f = static_cast<float>(t);
    if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
}

// Keep the best max_peaks of `found`, ordered (or, with raster, the first max_peaks in
// raster order).
void select(std::vector<PeakScratch::Found>& found, int max_peaks, bool raster) {
    const size_t keep = std::min(found.size(), static_cast<size_t>(max_peaks));
    if (raster) {
        std::sort(found.begin(), found.end(),
                  [](const PeakScratch::Found& x, const PeakScratch::Found& y) { return x.raster < y.raster; });
        found.resize(keep);
        return;
    }
    if (found.size() > keep) {
        std::nth_element(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(keep), found.end(), found_before);
        found.resize(keep);
    }
    std::sort(found.begin(), found.end(), found_before);
}

// ---------------------------------------------------------------- upsample == 1
// With Check, returns the flat index of the channel's first NaN or Inf (and stops
// there), else -1.
template <bool Check>
int64_t channel_peaks_raw(const float* ch, int64_t h, int64_t w, const DecodeConfig& cfg,
                          std::vector<PeakScratch::Found>& found) {
    const float thr = float_below_or_at(cfg.peak_threshold);
    for (int64_t y = 0; y < h; ++y) {
        const float* row = ch + y * w;
        const float* up = y > 0 ? row - w : nullptr;
        const float* down = y + 1 < h ? row + w : nullptr;
        const bool bad = detail::scan_row<Check>(row, w, detail::Greater{thr}, [&](int64_t x) {
            const float v = row[x];
            // Earlier neighbours (raster order) must be strictly below, later ones not above.
            const bool left = x > 0, right = x + 1 < w;
            if (up) {
                if ((left && !(v > up[x - 1])) || !(v > up[x]) || (right && !(v > up[x + 1]))) return;
            }
            if ((left && !(v > row[x - 1])) || (right && !(v >= row[x + 1]))) return;
            if (down) {
                if ((left && !(v >= down[x - 1])) || !(v >= down[x]) || (right && !(v >= down[x + 1]))) return;
            }
            found.push_back({static_cast<double>(v), y * w + x});
        });
        if (Check && bad) return y * w + first_non_finite(row, w);
    }
    return -1;
}

void refine_raw(const float* ch, int64_t h, int64_t w, int64_t x, int64_t y, int r, double& rx, double& ry) {
    double sw = 0.0, sx = 0.0, sy = 0.0;
    const int64_t y0 = std::max<int64_t>(0, y - r), y1 = std::min<int64_t>(h, y + r + 1);
    const int64_t x0 = std::max<int64_t>(0, x - r), x1 = std::min<int64_t>(w, x + r + 1);
    for (int64_t yy = y0; yy < y1; ++yy) {
        for (int64_t xx = x0; xx < x1; ++xx) {
            const double v = static_cast<double>(ch[yy * w + xx]);
            if (v > 0.0) {
                sw += v;
                sx += v * static_cast<double>(xx);
                sy += v * static_cast<double>(yy);
            }
        }
    }
    rx = sx / sw;
    ry = sy / sw;
}

// ---------------------------------------------------------------- upsample >= 2
// Phase-parallel evaluation (s = 4 or 8, AVX2): lane l of the 4-wide chunk c is phase
// p = 4c + l; for tap m it reads support offset first[p] - lo + m with weight w[p][m].
// Each lane performs the scalar path's products and left-to-right sums, so the values
// are the same bit for bit.
struct LaneTable {
    int32_t idx[kMaxUpsample / 4][4][8] = {};
    double w[kMaxUpsample / 4][4][4] = {};

    explicit LaneTable(const PhaseTable& t) {
        for (int p = 0; p < t.s; ++p) {
            for (int m = 0; m < 4; ++m) {
                idx[p / 4][m][p % 4] = t.first[p] - t.lo + m;
                w[p / 4][m][p % 4] = t.w[p][m];
            }
        }
    }
};

#ifdef POSEFAST_SCAN_AVX2

template <int S>
POSEFAST_AVX2 bool evaluate_tile_avx2(const float* ch, int64_t h, int64_t w, const PhaseTable& t,
                                      const LaneTable& lt, int64_t i, int64_t j, double thr, double* out) {
    static_assert(S % 4 == 0 && S <= kMaxUpsample, "phase chunks of 4");
    constexpr int C = S / 4;
    constexpr int kRows = 5;  // hi - lo + 1 for every s >= 2
    __m256d hb[kRows][C];
    // Eight floats from column j + lo are readable when they stay inside the row.
    const bool wide = j + t.lo >= 0 && j + t.lo + 8 <= w;
    for (int r = 0; r < kRows; ++r) {
        const float* row = ch + clamp_index(i + t.lo + r, h) * w;
        __m256 x;
        if (wide) {
            x = _mm256_loadu_ps(row + j + t.lo);
        } else {
            alignas(32) float buf[8] = {};
            for (int m = 0; m < kRows; ++m) buf[m] = row[clamp_index(j + t.lo + m, w)];
            x = _mm256_load_ps(buf);
        }
        for (int c = 0; c < C; ++c) {
            __m256d acc = _mm256_setzero_pd();
            for (int m = 0; m < 4; ++m) {
                const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lt.idx[c][m]));
                const __m256d xd = _mm256_cvtps_pd(_mm256_castps256_ps128(_mm256_permutevar8x32_ps(x, at)));
                const __m256d prod = _mm256_mul_pd(_mm256_loadu_pd(lt.w[c][m]), xd);
                acc = m == 0 ? prod : _mm256_add_pd(acc, prod);
            }
            hb[r][c] = acc;
        }
    }
    const __m256d vthr = _mm256_set1_pd(thr);
    __m256d above = _mm256_setzero_pd();
    for (int q = 0; q < S; ++q) {
        const int f = t.first[q] - t.lo;
        const __m256d w0 = _mm256_set1_pd(t.w[q][0]), w1 = _mm256_set1_pd(t.w[q][1]);
        const __m256d w2 = _mm256_set1_pd(t.w[q][2]), w3 = _mm256_set1_pd(t.w[q][3]);
        for (int c = 0; c < C; ++c) {
            const __m256d v = _mm256_add_pd(
                _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(w0, hb[f][c]), _mm256_mul_pd(w1, hb[f + 1][c])),
                              _mm256_mul_pd(w2, hb[f + 2][c])),
                _mm256_mul_pd(w3, hb[f + 3][c]));
            _mm256_storeu_pd(out + q * S + 4 * c, v);
            above = _mm256_or_pd(above, _mm256_cmp_pd(v, vthr, _CMP_GT_OQ));
        }
    }
    return _mm256_movemask_pd(above) != 0;
}

// 3 x 3 NMS of a tile's s values per row (s a multiple of 4) on its patch P, (s + 2)
// wide with the neighbours' rim: the scalar test of nms_active_s, four lanes at a time.
POSEFAST_AVX2 void nms_patch_avx2(const double* P, int s, double thr, int64_t raster0, int64_t gw,
                                  std::vector<PeakScratch::Found>& found) {
    const int sp = s + 2;
    const __m256d t = _mm256_set1_pd(thr);
    for (int q = 0; q < s; ++q) {
        const double* a = P + q * sp;
        const double* m = a + sp;
        const double* b = m + sp;
        for (int base = 0; base < s; base += 4) {
            const __m256d c = _mm256_loadu_pd(m + base + 1);
            __m256d k = _mm256_cmp_pd(c, t, _CMP_GT_OQ);
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(a + base), _CMP_GT_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(a + base + 1), _CMP_GT_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(a + base + 2), _CMP_GT_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(m + base), _CMP_GT_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(m + base + 2), _CMP_GE_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(b + base), _CMP_GE_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(b + base + 1), _CMP_GE_OQ));
            k = _mm256_and_pd(k, _mm256_cmp_pd(c, _mm256_loadu_pd(b + base + 2), _CMP_GE_OQ));
            unsigned bits = static_cast<unsigned>(_mm256_movemask_pd(k));
            while (bits) {
                const int p = base + static_cast<int>(detail::lowest_bit(bits));
                found.push_back({m[p + 1], raster0 + q * gw + p});
                bits &= bits - 1;
            }
        }
    }
}

// The separable bound of tile (i, j) whose support columns j - 2 .. j + 5 lie inside
// the row: sum over the 5 x 5 support of (a_r a_c) |raw|, lanes 0-3 of `lo` for
// columns 0-3 and lane 0 of `hi` for column 4 (`hi`'s other lanes have weight 0; an
// Inf or NaN read there can only make the bound NaN, which evaluates the tile).
POSEFAST_AVX2 double bound_avx2(const float* ch, int64_t h, int64_t w, int64_t i, int64_t j,
                                const double (*lo)[4], const double (*hi)[4]) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256d a = _mm256_setzero_pd(), b = _mm256_setzero_pd();
    for (int r = 0; r < 5; ++r) {
        const float* row = ch + clamp_index(i - 2 + r, h) * w + (j - 2);
        const __m256 x = _mm256_and_ps(_mm256_loadu_ps(row), abs_mask);
        a = _mm256_add_pd(a, _mm256_mul_pd(_mm256_loadu_pd(lo[r]), _mm256_cvtps_pd(_mm256_castps256_ps128(x))));
        b = _mm256_add_pd(b, _mm256_mul_pd(_mm256_loadu_pd(hi[r]), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
    }
    const __m256d t = _mm256_add_pd(a, b);
    const __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    return _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
}
#endif

// One channel's decode grid, evaluated a tile at a time and cached in the scratch.
class LazyGrid {
public:
    // `lanes`: the AVX2 lane table when the CPU has AVX2 and s is 4 or 8, else null.
    LazyGrid(const float* ch, int64_t h, int64_t w, const PhaseTable& t, const LaneTable* lanes, PeakScratch& ws)
        : ch_(ch), h_(h), w_(w), s_(t.s), t_(t), lanes_(lanes), ws_(ws) {
        ws_.pool.clear();
        ws_.pool.reserve(static_cast<size_t>(64) * s_ * s_);
    }

    int64_t grid_h() const { return h_ * s_; }
    int64_t grid_w() const { return w_ * s_; }

    // Where the s x s values of the tile of raw cell (i, j) start in the pool
    // (row-major by phase), evaluating the tile first if needed.  An offset, not a
    // pointer: evaluating another tile may reallocate the pool.
    size_t tile(int64_t i, int64_t j) {
        const int64_t cell = i * w_ + j;
        if (ws_.stamp[cell] != ws_.epoch) {
            const size_t at = ws_.pool.size();
            ws_.pool.resize(at + static_cast<size_t>(s_) * s_);
            ws_.slot[cell] = static_cast<int64_t>(at);
            ws_.stamp[cell] = ws_.epoch;
            evaluate(i, j, ws_.pool.data() + at);
        }
        return static_cast<size_t>(ws_.slot[cell]);
    }

    // Evaluate the tile of raw cell (i, j), which must not be evaluated yet, and tell
    // whether one of its values is above thr.
    bool fresh_tile_above(int64_t i, int64_t j, double thr) {
        const int64_t cell = i * w_ + j;
        const size_t at = ws_.pool.size();
        const size_t ss = static_cast<size_t>(s_) * s_;
        ws_.pool.resize(at + ss);
        ws_.slot[cell] = static_cast<int64_t>(at);
        ws_.stamp[cell] = ws_.epoch;
        double* out = ws_.pool.data() + at;
#ifdef POSEFAST_SCAN_AVX2
        if (lanes_) {
            return s_ == 4 ? evaluate_tile_avx2<4>(ch_, h_, w_, t_, *lanes_, i, j, thr, out)
                           : evaluate_tile_avx2<8>(ch_, h_, w_, t_, *lanes_, i, j, thr, out);
        }
#endif
        evaluate(i, j, out);
        int any = 0;
        for (size_t k = 0; k < ss; ++k) any |= static_cast<int>(out[k] > thr);
        return any != 0;
    }

    // Evaluate every tile of the channel at once (when most are needed anyway): the
    // horizontal pass once per raw row instead of once per tile row, same values.
    // Must be called before any tile of this channel is evaluated.
    void evaluate_all() {
        switch (s_) {
            case 2: return evaluate_all_s<2>();
            case 4: return evaluate_all_s<4>();
            case 8: return evaluate_all_s<8>();
            default: return evaluate_all_s<0>();
        }
    }

    double value(size_t index) const { return ws_.pool[index]; }
    const double* data() const { return ws_.pool.data(); }

    double at(int64_t u, int64_t v) {
        const int64_t i = t_.cell(v), j = t_.cell(u);
        return ws_.pool[tile(i, j) + static_cast<size_t>((v - i * s_) * s_ + (u - j * s_))];
    }

private:
    // Horizontal pass over the rows i + lo .. i + hi, then the vertical pass: the same
    // products and left-to-right sums as the reference (and as bicubic_at).  S > 0 is
    // s known at compile time (common factors), so the phase loops unroll and
    // vectorise; lanes are independent, so the results are the scalar ones.
    void evaluate(int64_t i, int64_t j, double* out) {
#ifdef POSEFAST_SCAN_AVX2
        if (lanes_) {
            if (s_ == 4) {
                evaluate_tile_avx2<4>(ch_, h_, w_, t_, *lanes_, i, j, 0.0, out);
            } else {
                evaluate_tile_avx2<8>(ch_, h_, w_, t_, *lanes_, i, j, 0.0, out);
            }
            return;
        }
#endif
        switch (s_) {
            case 2: return evaluate_s<2>(i, j, out);
            case 4: return evaluate_s<4>(i, j, out);
            case 8: return evaluate_s<8>(i, j, out);
            default: return evaluate_s<0>(i, j, out);
        }
    }

    template <int S>
    void evaluate_all_s() {
        const int s = S > 0 ? S : s_;
        const int64_t sw = w_ * s;
        ws_.hrows.resize(static_cast<size_t>(h_ * sw));
        double* H = ws_.hrows.data();
        for (int64_t r = 0; r < h_; ++r) {
            const float* row = ch_ + r * w_;
            for (int64_t j = 0; j < w_; ++j) {
                const bool inside = j + t_.lo >= 0 && j + t_.hi < w_;
                double x[5];
                for (int m = 0; m < 5; ++m) {
                    x[m] = static_cast<double>(row[inside ? j + t_.lo + m : clamp_index(j + t_.lo + m, w_)]);
                }
                double* hr = H + r * sw + j * s;
                for (int p = 0; p < s; ++p) {
                    const double* wx = t_.w[p];
                    const double* xp = x + (t_.first[p] - t_.lo);
                    hr[p] = ((wx[0] * xp[0] + wx[1] * xp[1]) + wx[2] * xp[2]) + wx[3] * xp[3];
                }
            }
        }
        const size_t ss = static_cast<size_t>(s) * s;
        ws_.pool.resize(static_cast<size_t>(h_ * w_) * ss);
        for (int64_t i = 0; i < h_; ++i) {
            for (int q = 0; q < s; ++q) {
                const double wy0 = t_.w[q][0], wy1 = t_.w[q][1], wy2 = t_.w[q][2], wy3 = t_.w[q][3];
                const double* r0 = H + clamp_index(i + t_.first[q], h_) * sw;
                const double* r1 = H + clamp_index(i + t_.first[q] + 1, h_) * sw;
                const double* r2 = H + clamp_index(i + t_.first[q] + 2, h_) * sw;
                const double* r3 = H + clamp_index(i + t_.first[q] + 3, h_) * sw;
                for (int64_t j = 0; j < w_; ++j) {
                    double* out = ws_.pool.data() + static_cast<size_t>(i * w_ + j) * ss + static_cast<size_t>(q) * s;
                    const int64_t u = j * s;
                    for (int p = 0; p < s; ++p) {
                        out[p] = ((wy0 * r0[u + p] + wy1 * r1[u + p]) + wy2 * r2[u + p]) + wy3 * r3[u + p];
                    }
                }
            }
        }
        for (int64_t cell = 0; cell < h_ * w_; ++cell) {
            ws_.stamp[cell] = ws_.epoch;
            ws_.slot[cell] = cell * static_cast<int64_t>(ss);
        }
    }

    template <int S>
    void evaluate_s(int64_t i, int64_t j, double* out) {
        const int s = S > 0 ? S : s_;
        constexpr int kRows = 5;  // hi - lo + 1 for every s >= 2 (lo = -2, hi = 2)
        double hb[kRows * kMaxUpsample];
        const bool inside = j + t_.lo >= 0 && j + t_.hi < w_;
        for (int r = 0; r < kRows; ++r) {
            const float* row = ch_ + clamp_index(i + t_.lo + r, h_) * w_;
            double x[kRows];
            for (int m = 0; m < kRows; ++m) {
                x[m] = static_cast<double>(row[inside ? j + t_.lo + m : clamp_index(j + t_.lo + m, w_)]);
            }
            for (int p = 0; p < s; ++p) {
                const double* wx = t_.w[p];
                const double* xp = x + (t_.first[p] - t_.lo);
                hb[r * s + p] = ((wx[0] * xp[0] + wx[1] * xp[1]) + wx[2] * xp[2]) + wx[3] * xp[3];
            }
        }
        for (int q = 0; q < s; ++q) {
            const double wy0 = t_.w[q][0], wy1 = t_.w[q][1], wy2 = t_.w[q][2], wy3 = t_.w[q][3];
            const double* h0 = hb + (t_.first[q] - t_.lo) * s;
            for (int p = 0; p < s; ++p) {
                out[q * s + p] = ((wy0 * h0[p] + wy1 * h0[s + p]) + wy2 * h0[2 * s + p]) + wy3 * h0[3 * s + p];
            }
        }
    }

    const float* ch_;
    int64_t h_, w_;
    int s_;
    const PhaseTable& t_;
    const LaneTable* lanes_;
    PeakScratch& ws_;
};

// 3 x 3 NMS on each active tile's patch: its values with a rim of its neighbours' values,
// (s + 2) x (s + 2).  A neighbour tile that was not evaluated contributes -inf: its
// values are finite and <= thr < the tested value, so both tests pass as they would
// on its real values; outside the grid, -inf is the reference's own rule.  S > 0 is s
// known at compile time (the copies unroll).
template <int S>
void nms_active_s(const double* pool, int64_t h, int64_t w, int s_, double thr, bool avx2, PeakScratch& ws) {
    const int s = S > 0 ? S : s_;
    const int64_t gw = w * s;
    const int sp = s + 2;
    const size_t ss = static_cast<size_t>(s) * s;
    const double ninf = -std::numeric_limits<double>::infinity();
    double patch[(kMaxUpsample + 2) * (kMaxUpsample + 2)];
    auto evaluated = [&](int64_t ti, int64_t tj) -> const double* {
        if (ti < 0 || ti >= h || tj < 0 || tj >= w) return nullptr;
        const int64_t c = ti * w + tj;
        return ws.stamp[c] == ws.epoch ? pool + ws.slot[c] : nullptr;
    };
    for (const PeakScratch::Tile& tile : ws.active) {
        const int64_t i = tile.i, j = tile.j;
        const double* tv = pool + ws.slot[i * w + j];
        for (int q = 0; q < s; ++q) {
            for (int p = 0; p < s; ++p) patch[(q + 1) * sp + 1 + p] = tv[q * s + p];
        }
        const double* up = evaluated(i - 1, j);
        const double* down = evaluated(i + 1, j);
        const double* left = evaluated(i, j - 1);
        const double* right = evaluated(i, j + 1);
        for (int p = 0; p < s; ++p) {
            patch[1 + p] = up ? up[(s - 1) * s + p] : ninf;
            patch[(s + 1) * sp + 1 + p] = down ? down[p] : ninf;
        }
        for (int q = 0; q < s; ++q) {
            patch[(q + 1) * sp] = left ? left[q * s + s - 1] : ninf;
            patch[(q + 1) * sp + s + 1] = right ? right[q * s] : ninf;
        }
        const double* ul = evaluated(i - 1, j - 1);
        const double* ur = evaluated(i - 1, j + 1);
        const double* dl = evaluated(i + 1, j - 1);
        const double* dr = evaluated(i + 1, j + 1);
        patch[0] = ul ? ul[ss - 1] : ninf;
        patch[s + 1] = ur ? ur[(s - 1) * s] : ninf;
        patch[(s + 1) * sp] = dl ? dl[s - 1] : ninf;
        patch[(s + 1) * sp + s + 1] = dr ? dr[0] : ninf;

        const int64_t raster0 = i * s * gw + j * s;
#ifdef POSEFAST_SCAN_AVX2
        if (avx2 && s % 4 == 0) {
            nms_patch_avx2(patch, s, thr, raster0, gw, ws.found);
            continue;
        }
#else
        (void)avx2;
#endif
        // Earlier neighbours (raster order) strictly below, later ones not above.
        for (int q = 0; q < s; ++q) {
            const double* a = patch + q * sp;
            const double* m = a + sp;
            const double* b = m + sp;
            for (int p = 0; p < s; ++p) {
                const double c = m[p + 1];
                if (!(c > thr)) continue;
                if (c > a[p] && c > a[p + 1] && c > a[p + 2] && c > m[p] && c >= m[p + 2] && c >= b[p] &&
                    c >= b[p + 1] && c >= b[p + 2]) {
                    ws.found.push_back({c, raster0 + q * gw + p});
                }
            }
        }
    }
}

void nms_active(const double* pool, int64_t h, int64_t w, int s, double thr, bool avx2, PeakScratch& ws) {
    switch (s) {
        case 2: return nms_active_s<2>(pool, h, w, s, thr, avx2, ws);
        case 4: return nms_active_s<4>(pool, h, w, s, thr, avx2, ws);
        case 8: return nms_active_s<8>(pool, h, w, s, thr, avx2, ws);
        default: return nms_active_s<0>(pool, h, w, s, thr, avx2, ws);
    }
}

// Row bit set m (bit j: cell j; nw words; bits past the row clear) dilated in place:
// bit t ends up set when some bit j in [t + a, t + b] was (a <= b, |a|, |b| < 64),
// clipped to the row (`last_word` masks the final word's bits past it).
void dilate_row(uint64_t* m, int64_t nw, int a, int b, uint64_t last_word) {
    // out[t] = OR over k in [a, b] of in[t + k]: a right shift by k for k > 0, a
    // left shift by -k for k < 0, carrying bits between words.
    uint64_t prev = 0;  // the input word before this one
    for (int64_t q = 0; q < nw; ++q) {
        const uint64_t cur = m[q], next = q + 1 < nw ? m[q + 1] : 0;
        uint64_t out = 0;
        for (int k = a; k <= b; ++k) {
            if (k == 0) {
                out |= cur;
            } else if (k > 0) {
                out |= (cur >> k) | (next << (64 - k));
            } else {
                out |= (cur << -k) | (prev >> (64 + k));
            }
        }
        prev = cur;
        m[q] = out;
    }
    m[nw - 1] &= last_word;
}

// With Check, returns the flat index of the channel's first NaN or Inf (found by the
// marking scan, before any tile is evaluated), else -1.
template <bool Check>
int64_t channel_peaks_up(LazyGrid& g, const float* ch, int64_t h, int64_t w, const PhaseTable& t,
                         const DecodeConfig& cfg, bool avx2, PeakScratch& ws) {
    const int s = t.s;
    const double thr = cfg.peak_threshold;

    // Mark raw cells with |value| >= thr / B (B inflated by a safety margin far above
    // the rounding error of a 16-term sum), and NaN cells; a marking that is too
    // generous only costs time.  For thr == 0 the test becomes |value| > 0: an all-zero
    // support gives exactly zero, which is not above 0.  The float comparison rounds
    // the bound down, so it marks a superset of the cells the float64 test would.
    // Marking NaN puts every tile it reaches on the list, and its bound is NaN, so it
    // is evaluated: a tile left unevaluated never holds NaN (the NMS below relies on it).
    const double bound = thr / (t.cull_bound() * (1.0 + 1e-12));
    float fb = static_cast<float>(bound);
    if (static_cast<double>(fb) > bound) fb = std::nextafter(fb, 0.0f);
    fb = std::max(fb, std::numeric_limits<float>::denorm_min());

    // Tile (ti, tj) reads cells ti+lo..ti+hi (clamped), so a marked cell (i, j) puts
    // tiles i-hi..i-lo x j-hi..j-lo (clipped) on the list.  Marks are kept as one bit
    // per cell, dilated along each row into the columns of the tiles they list; the
    // list is then read off, in raster order, as the OR of rows ti-hi..ti-lo (clipped).
    const int64_t nw = (w + 63) / 64;
    ws.marks.assign(static_cast<size_t>(h * nw), 0);
    uint64_t* const marks = ws.marks.data();
    const uint64_t last_word = (w % 64) ? (~uint64_t{0} >> (64 - w % 64)) : ~uint64_t{0};
    for (int64_t i = 0; i < h; ++i) {
        const float* row = ch + i * w;
        uint64_t* m = marks + i * nw;
        const bool bad = detail::scan_row<Check>(row, w, detail::AbsNotBelow{fb},
                                                 [&](int64_t j) { m[j >> 6] |= uint64_t{1} << (j & 63); });
        if (Check && bad) return i * w + first_non_finite(row, w);
        dilate_row(m, nw, t.lo, t.hi, last_word);
    }
    // The list is written through a pointer, its fields one by one (push_back of a
    // built struct round-trips it through the stack: a stalled store forward per tile).
    size_t listed = 0;
    for (int64_t ti = 0; ti < h; ++ti) {
        const int64_t i0 = std::max<int64_t>(0, ti + t.lo), i1 = std::min<int64_t>(h - 1, ti + t.hi);
        if (ws.needed.size() < listed + static_cast<size_t>(w)) ws.needed.resize(listed + static_cast<size_t>(w));
        PeakScratch::Tile* out = ws.needed.data() + listed;
        for (int64_t k = 0; k < nw; ++k) {
            uint64_t bits = 0;
            for (int64_t i = i0; i <= i1; ++i) bits |= marks[i * nw + k];
            while (bits) {
                out->i = ti;
                out->j = k * 64 + static_cast<int64_t>(detail::lowest_bit(bits));
                ++out;
                bits &= bits - 1;
            }
        }
        listed = static_cast<size_t>(out - ws.needed.data());
    }
    // ws.needed keeps its size (no refill next channel); its first `listed` are the list.

    // Mostly needed (noisy or crowded maps): evaluate the whole channel row-shared.
    const bool dense = static_cast<int64_t>(listed) * 3 > h * w;
    if (dense) g.evaluate_all();

    // Second, tighter cull per listed tile (sparse channels only): every value of the
    // tile is a sum over its support of (phase weight product) x (raw value), so
    // |value| <= sum_r a_r sum_c a_c |raw(r, c)| with a_m = max over phases of the
    // |weight| on support offset m (separable; computed in float64 and inflated far
    // above its rounding error).  A tile whose bound is <= thr holds no value above
    // thr and is skipped unevaluated.  NaN in the support makes the bound NaN, which
    // is not <= thr: such tiles are evaluated.
    constexpr int kSpan = 5;  // t.hi - t.lo + 1 for every s >= 2 (lo = -2, hi = 2)
    double amax[kSpan] = {};
    for (int p = 0; p < s; ++p) {
        for (int m = 0; m < 4; ++m) {
            const int at = t.first[p] + m - t.lo;
            amax[at] = std::max(amax[at], std::fabs(t.w[p][m]));
        }
    }
    // The same sum as 25 products of double weights a_r a_c (AVX2, where the tile's
    // support columns fit one 8-float load): another rounding, far below the inflation.
#ifdef POSEFAST_SCAN_AVX2
    double wlo[kSpan][4] = {}, whi[kSpan][4] = {};
    for (int r = 0; r < kSpan; ++r) {
        for (int c = 0; c < 4; ++c) wlo[r][c] = amax[r] * amax[c];
        whi[r][0] = amax[r] * amax[4];
    }
#endif
    auto bound_of = [&](int64_t i, int64_t j) {
#ifdef POSEFAST_SCAN_AVX2
        if (avx2 && j + t.lo >= 0 && j + t.lo + 8 <= w) return bound_avx2(ch, h, w, i, j, wlo, whi) * (1.0 + 1e-9);
#endif
        int64_t col[kSpan];
        for (int c = 0; c < kSpan; ++c) col[c] = clamp_index(j + t.lo + c, w);
        double sum = 0.0;
        for (int r = 0; r < kSpan; ++r) {
            const float* row = ch + clamp_index(i + t.lo + r, h) * w;
            double hs = 0.0;
            for (int c = 0; c < kSpan; ++c) hs += amax[c] * std::fabs(static_cast<double>(row[col[c]]));
            sum += amax[r] * hs;
        }
        return sum * (1.0 + 1e-9);
    };

    // Evaluate every listed tile that survives its bound; keep those holding a value
    // above thr.  The tiles left unevaluated hold no value above thr and no NaN:
    // unlisted ones have only unmarked cells (finite, |value| < thr / B) in their
    // support, culled ones a finite bound <= thr.
    // The bound has the term amax[centre]^2 |raw(i, j)| (every term >= 0), so a tile
    // whose own cell exceeds thr / amax[centre]^2 passes it for sure: it is not computed
    // (`sure` a hair below that weight, so the shortcut never fires where the bound fails).
    const double sure = amax[-t.lo] * amax[-t.lo] * (1.0 - 1e-9);
    ws.active.clear();
    const size_t ss = static_cast<size_t>(s) * s;
    for (size_t k = 0; k < listed; ++k) {
        const PeakScratch::Tile& tile = ws.needed[k];
        const int64_t i = tile.i, j = tile.j;
        if (dense) {
            const double* tv = g.data() + g.tile(i, j);
            int any = 0;
            for (size_t k = 0; k < ss; ++k) any |= static_cast<int>(tv[k] > thr);
            if (any) ws.active.push_back(tile);
        } else if ((std::fabs(static_cast<double>(ch[i * w + j])) * sure > thr || !(bound_of(i, j) <= thr)) &&
                   g.fresh_tile_above(i, j, thr)) {
            ws.active.push_back(tile);
        }
    }

    nms_active(g.data(), h, w, s, thr, avx2, ws);
    return -1;
}

void refine_up(LazyGrid& g, int64_t x, int64_t y, int r, double& rx, double& ry) {
    const int64_t gh = g.grid_h(), gw = g.grid_w();
    double sw = 0.0, sx = 0.0, sy = 0.0;
    const int64_t y0 = std::max<int64_t>(0, y - r), y1 = std::min<int64_t>(gh, y + r + 1);
    const int64_t x0 = std::max<int64_t>(0, x - r), x1 = std::min<int64_t>(gw, x + r + 1);
    for (int64_t yy = y0; yy < y1; ++yy) {
        for (int64_t xx = x0; xx < x1; ++xx) {
            const double v = g.at(xx, yy);
            if (v > 0.0) {
                sw += v;
                sx += v * static_cast<double>(xx);
                sy += v * static_cast<double>(yy);
            }
        }
    }
    rx = sx / sw;
    ry = sy / sw;
}

// Drop peaks within `border` cells of the grid's edge, keeping the order of the rest.
void drop_border(std::vector<PeakScratch::Found>& found, int64_t gh, int64_t gw, int border) {
    if (border <= 0) return;
    const int64_t b = border;
    found.erase(std::remove_if(found.begin(), found.end(),
                               [&](const PeakScratch::Found& f) {
                                   const int64_t x = f.raster % gw, y = f.raster / gw;
                                   return x < b || x >= gw - b || y < b || y >= gh - b;
                               }),
                found.end());
}

// peak_strict_nms: drop peaks equal to a later neighbour (right, or any below).  They
// already beat earlier neighbours strictly and are not below later ones, so what is
// left is exactly "above all 8" (OpenPose's test).  `at(x, y)` gives exact values.
template <class At>
void strict_filter(std::vector<PeakScratch::Found>& found, int64_t gh, int64_t gw, At&& at) {
    found.erase(std::remove_if(found.begin(), found.end(),
                               [&](const PeakScratch::Found& f) {
                                   const int64_t x = f.raster % gw, y = f.raster / gw;
                                   for (int64_t dy = 0; dy <= 1; ++dy) {
                                       const int64_t yy = y + dy;
                                       if (yy >= gh) continue;
                                       for (int64_t dx = -1; dx <= 1; ++dx) {
                                           const int64_t xx = x + dx;
                                           if ((dy == 0 && dx <= 0) || xx < 0 || xx >= gw) continue;
                                           if (at(xx, yy) == f.value) return true;
                                       }
                                   }
                                   return false;
                               }),
                found.end());
}

// peak_ring_ties (rules: _reference/peaks.py): every position of rows 1 and gh-2 and
// of columns 1 and gw-2 outside rows/columns 2 .. gh-3 / 2 .. gw-3, each once, in
// raster order.  `visit(x, y)`.
template <class Visit>
void for_each_ring(int64_t gh, int64_t gw, Visit&& visit) {
    for (int64_t y = 0; y < gh; ++y) {
        if (y == 1 || y == gh - 2) {
            for (int64_t x = 0; x < gw; ++x) visit(x, y);
        } else {
            if (gw > 1) visit(int64_t{1}, y);
            if (gw - 2 > 1) visit(gw - 2, y);
        }
    }
}

// The ring's test at (x, y): above thr and >= each neighbour inside the grid.
// `at(x, y)` gives exact decode-grid values.
template <class At>
void ring_test(int64_t x, int64_t y, int64_t gh, int64_t gw, double thr, At&& at,
               std::vector<PeakScratch::Found>& found) {
    const double v = at(x, y);
    if (!(v > thr)) return;
    for (int64_t dy = -1; dy <= 1; ++dy) {
        const int64_t yy = y + dy;
        if (yy < 0 || yy >= gh) continue;
        for (int64_t dx = -1; dx <= 1; ++dx) {
            const int64_t xx = x + dx;
            if ((dy == 0 && dx == 0) || xx < 0 || xx >= gw) continue;
            if (!(v >= at(xx, yy))) return;
        }
    }
    found.push_back({v, y * gw + x});
}

// The ring on the upsampled grid (s >= 2): it lies in the tiles of raw rows 0 and h-1
// and raw columns 0 and w-1.  A tile the peak pass never evaluated was off the list or
// culled by its bound, so it holds no value above thr: only evaluated tiles' ring
// cells are tested, each tile once.
void ring_peaks_up(LazyGrid& g, int64_t h, int64_t w, int s, double thr, PeakScratch& ws) {
    const int64_t gh = h * s, gw = w * s;
    auto at = [&](int64_t x, int64_t y) { return g.at(x, y); };
    auto tile = [&](int64_t i, int64_t j) {
        if (ws.stamp[i * w + j] != ws.epoch) return;
        for (int64_t y = i * s; y < (i + 1) * s; ++y) {
            for (int64_t x = j * s; x < (j + 1) * s; ++x) {
                const bool inner = x > 1 && x < gw - 2 && y > 1 && y < gh - 2;
                if (!inner && (x == 1 || x == gw - 2 || y == 1 || y == gh - 2)) ring_test(x, y, gh, gw, thr, at, ws.found);
            }
        }
    };
    for (int64_t i = 0; i < h; ++i) {
        if (i == 0 || i == h - 1) {
            for (int64_t j = 0; j < w; ++j) tile(i, j);
        } else {
            tile(i, 0);
            if (w > 1) tile(i, w - 1);
        }
    }
}

void emit(const std::vector<PeakScratch::Found>& found, int64_t gw, PeakList& out) {
    for (const auto& f : found) {
        out.grid.push_back(static_cast<int32_t>(f.raster % gw));
        out.grid.push_back(static_cast<int32_t>(f.raster / gw));
        out.scores.push_back(f.value);
    }
}

}  // namespace

void find_peaks(const Maps& hm, const DecodeConfig& cfg, PeakScratch& ws, PeakList& out) {
    const int s = cfg.upsample;
    const int64_t h = hm.h, w = hm.w, K = hm.channels;
    const int r = cfg.refine_radius;
    out.offsets.assign(1, 0);
    out.grid.clear();
    out.xy.clear();
    out.scores.clear();
    out.grid_h = h * s;
    out.grid_w = w * s;
    const int64_t gw = out.grid_w;

    if (s == 1) {
        for (int64_t k = 0; k < K; ++k) {
            const float* ch = hm.channel(k);
            ws.found.clear();
            if (cfg.check_finite) {
                const int64_t bad = channel_peaks_raw<true>(ch, h, w, cfg, ws.found);
                if (bad >= 0) throw_non_finite(hm, k * h * w + bad, "heatmaps");
            } else {
                channel_peaks_raw<false>(ch, h, w, cfg, ws.found);
            }
            if (cfg.peak_strict_nms) {
                strict_filter(ws.found, h, w, [&](int64_t x, int64_t y) { return static_cast<double>(ch[y * w + x]); });
            }
            drop_border(ws.found, out.grid_h, gw, cfg.peak_ring_ties ? 2 : cfg.peak_border);
            if (cfg.peak_ring_ties) {
                auto at = [&](int64_t x, int64_t y) { return static_cast<double>(ch[y * w + x]); };
                for_each_ring(h, w, [&](int64_t x, int64_t y) { ring_test(x, y, h, w, cfg.peak_threshold, at, ws.found); });
            }
            select(ws.found, effective_max_peaks(cfg), cfg.peak_raster_order);
            emit(ws.found, gw, out);
            for (const auto& f : ws.found) {
                const int64_t x = f.raster % gw, y = f.raster / gw;
                double rx = static_cast<double>(x), ry = static_cast<double>(y);
                if (r > 0) refine_raw(ch, h, w, x, y, r, rx, ry);
                out.xy.push_back(rx);
                out.xy.push_back(ry);
            }
            out.offsets.push_back(static_cast<int64_t>(out.scores.size()));
        }
        return;
    }

    const PhaseTable table(s);
#ifdef POSEFAST_SCAN_AVX2
    const bool avx2 = __builtin_cpu_supports("avx2");
#else
    const bool avx2 = false;
#endif
    const LaneTable lane_table(table);
    const LaneTable* lanes = avx2 && (s == 4 || s == 8) ? &lane_table : nullptr;
    const size_t cells = static_cast<size_t>(h * w);
    if (ws.stamp.size() < cells) {
        ws.stamp.resize(cells, 0);  // new stamps are 0 < every epoch in use
        ws.slot.resize(cells, 0);
    }
    for (int64_t k = 0; k < K; ++k) {
        const float* ch = hm.channel(k);
        if (ws.epoch == std::numeric_limits<uint32_t>::max()) {
            std::fill(ws.stamp.begin(), ws.stamp.end(), 0u);
            ws.epoch = 0;
        }
        ++ws.epoch;  // invalidates every cached tile
        LazyGrid grid(ch, h, w, table, lanes, ws);
        ws.found.clear();
        if (cfg.check_finite) {
            const int64_t bad = channel_peaks_up<true>(grid, ch, h, w, table, cfg, avx2, ws);
            if (bad >= 0) throw_non_finite(hm, k * h * w + bad, "heatmaps");
        } else {
            channel_peaks_up<false>(grid, ch, h, w, table, cfg, avx2, ws);
        }
        if (cfg.peak_strict_nms) {
            strict_filter(ws.found, out.grid_h, gw, [&](int64_t x, int64_t y) { return grid.at(x, y); });
        }
        drop_border(ws.found, out.grid_h, gw, cfg.peak_ring_ties ? 2 : cfg.peak_border);
        if (cfg.peak_ring_ties) ring_peaks_up(grid, h, w, s, cfg.peak_threshold, ws);
        select(ws.found, effective_max_peaks(cfg), cfg.peak_raster_order);
        emit(ws.found, gw, out);
        for (const auto& f : ws.found) {
            const int64_t x = f.raster % gw, y = f.raster / gw;
            double rx = static_cast<double>(x), ry = static_cast<double>(y);
            if (r > 0) refine_up(grid, x, y, r, rx, ry);
            out.xy.push_back(rx);
            out.xy.push_back(ry);
        }
        out.offsets.push_back(static_cast<int64_t>(out.scores.size()));
    }
}

}  // namespace posefast
