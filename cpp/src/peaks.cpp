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
// support, and only the survivors are evaluated and scanned.  Values needed
// elsewhere (NMS neighbours outside the tile, read only for a value that passed its
// in-tile neighbours; refinement windows) are evaluated on demand, tile by tile, with
// the exact formula of the reference, so every value used equals the reference's
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
// One channel's decode grid, evaluated a tile at a time and cached in the scratch.
class LazyGrid {
public:
    LazyGrid(const float* ch, int64_t h, int64_t w, const PhaseTable& t, PeakScratch& ws)
        : ch_(ch), h_(h), w_(w), s_(t.s), t_(t), ws_(ws) {
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
        const int64_t i = v / s_, j = u / s_;
        return ws_.pool[tile(i, j) + static_cast<size_t>((v - i * s_) * s_ + (u - j * s_))];
    }

private:
    // Horizontal pass over the rows i + lo .. i + hi, then the vertical pass: the same
    // products and left-to-right sums as the reference (and as bicubic_at).  S > 0 is
    // s known at compile time (common factors), so the phase loops unroll and
    // vectorise; lanes are independent, so the results are the scalar ones.
    void evaluate(int64_t i, int64_t j, double* out) {
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
    PeakScratch& ws_;
};

// With Check, returns the flat index of the channel's first NaN or Inf (found by the
// marking scan, before any tile is evaluated), else -1.
template <bool Check>
int64_t channel_peaks_up(LazyGrid& g, const float* ch, int64_t h, int64_t w, const PhaseTable& t,
                         const DecodeConfig& cfg, PeakScratch& ws) {
    const int s = t.s;
    const double thr = cfg.peak_threshold;

    // Mark raw cells with |value| >= thr / B (B inflated by a safety margin far above
    // the rounding error of a 16-term sum); a marking that is too generous only costs
    // time.  For thr == 0 the test becomes |value| > 0: an all-zero support gives
    // exactly zero, which is not above 0.  The float comparison rounds the bound down,
    // so it marks a superset of the cells the float64 test would.  NaN is never
    // marked: the tiles it reaches hold NaN, which is never a peak, and NMS
    // neighbours are evaluated exactly wherever they lie.
    const double bound = thr / (t.cull_bound() * (1.0 + 1e-12));
    float fb = static_cast<float>(bound);
    if (static_cast<double>(fb) > bound) fb = std::nextafter(fb, 0.0f);
    fb = std::max(fb, std::numeric_limits<float>::denorm_min());

    // Tile (ti, tj) reads cells ti+lo..ti+hi (clamped), so a marked cell (i, j) puts
    // tiles i-hi..i-lo x j-hi..j-lo (clipped) on the list, each once.
    ws.needed.clear();
    const uint32_t epoch = ws.epoch;
    for (int64_t i = 0; i < h; ++i) {
        const float* row = ch + i * w;
        const bool bad = detail::scan_row<Check>(row, w, detail::AbsAtLeast{fb}, [&](int64_t j) {
            const int64_t i0 = std::max<int64_t>(0, i - t.hi), i1 = std::min<int64_t>(h - 1, i - t.lo);
            const int64_t j0 = std::max<int64_t>(0, j - t.hi), j1 = std::min<int64_t>(w - 1, j - t.lo);
            for (int64_t ti = i0; ti <= i1; ++ti) {
                for (int64_t tj = j0; tj <= j1; ++tj) {
                    const int64_t cell = ti * w + tj;
                    if (ws.listed[cell] != epoch) {
                        ws.listed[cell] = epoch;
                        ws.needed.push_back(cell);
                    }
                }
            }
        });
        if (Check && bad) return i * w + first_non_finite(row, w);
    }

    // Mostly needed (noisy or crowded maps): evaluate the whole channel row-shared.
    const bool dense = static_cast<int64_t>(ws.needed.size()) * 3 > h * w;
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
    auto bound_of = [&](int64_t i, int64_t j) {
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

    // 3 x 3 NMS.  Neighbours inside the tile are tested first; one outside it is read
    // from the neighbour tile, evaluated only then (most values above the threshold
    // fail an in-tile test, so most neighbour tiles are never evaluated).  Outside the
    // grid a neighbour is -inf: a value above thr (so not NaN) is strictly above
    // -inf, which passes both tests exactly as a skipped neighbour does.
    const int64_t gw = w * s;
    const double ninf = -std::numeric_limits<double>::infinity();
    for (const int64_t cell : ws.needed) {
        const int64_t i = cell / w, j = cell - (cell / w) * w;
        if (!dense && bound_of(i, j) <= thr) continue;
        const size_t tile = g.tile(i, j);
        {
            const double* tv = g.data() + tile;
            int any = 0;
            for (int k = 0; k < s * s; ++k) any |= static_cast<int>(tv[k] > thr);
            if (!any) continue;
        }
        // Value at tile-local row q, column p, each in -1 .. s (the pool may move when a
        // neighbour tile is evaluated, so it is re-read each time).
        auto outside = [&](int q, int p) {
            const int di = q < 0 ? -1 : (q >= s ? 1 : 0), dj = p < 0 ? -1 : (p >= s ? 1 : 0);
            const int64_t ti = i + di, tj = j + dj;
            if (ti < 0 || ti >= h || tj < 0 || tj >= w) return ninf;
            const size_t nt = g.tile(ti, tj);
            return g.value(nt + static_cast<size_t>((q - di * s) * s + (p - dj * s)));
        };
        for (int q = 0; q < s; ++q) {
            for (int p = 0; p < s; ++p) {
                const double* tv = g.data() + tile;
                const double val = tv[q * s + p];
                if (!(val > thr)) continue;
                // Earlier neighbours (raster order) strictly below, later ones not above:
                // first those inside the tile.
                const bool has_u = q > 0, has_d = q + 1 < s, has_l = p > 0, has_r = p + 1 < s;
                const double* row = tv + q * s;
                if (has_u) {
                    const double* u = row - s;
                    if ((has_l && !(val > u[p - 1])) || !(val > u[p]) || (has_r && !(val > u[p + 1]))) continue;
                }
                if ((has_l && !(val > row[p - 1])) || (has_r && !(val >= row[p + 1]))) continue;
                if (has_d) {
                    const double* d = row + s;
                    if ((has_l && !(val >= d[p - 1])) || !(val >= d[p]) || (has_r && !(val >= d[p + 1]))) continue;
                }
                if (!(has_u && has_d && has_l && has_r)) {
                    bool ok = true;
                    for (int dq = -1; dq <= 1 && ok; ++dq) {
                        for (int dp = -1; dp <= 1; ++dp) {
                            const int qq = q + dq, pp = p + dp;
                            if (qq >= 0 && qq < s && pp >= 0 && pp < s) continue;
                            const double nb = outside(qq, pp);
                            const bool earlier = dq < 0 || (dq == 0 && dp < 0);
                            if (earlier ? !(val > nb) : !(val >= nb)) {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if (!ok) continue;
                }
                ws.found.push_back({val, (i * s + q) * gw + j * s + p});
            }
        }
    }
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
    const size_t cells = static_cast<size_t>(h * w);
    if (ws.stamp.size() < cells) {
        ws.stamp.resize(cells, 0);  // new stamps are 0 < every epoch in use
        ws.listed.resize(cells, 0);
        ws.slot.resize(cells, 0);
    }
    for (int64_t k = 0; k < K; ++k) {
        const float* ch = hm.channel(k);
        if (ws.epoch == std::numeric_limits<uint32_t>::max()) {
            std::fill(ws.stamp.begin(), ws.stamp.end(), 0u);
            std::fill(ws.listed.begin(), ws.listed.end(), 0u);
            ws.epoch = 0;
        }
        ++ws.epoch;  // invalidates every cached tile
        LazyGrid grid(ch, h, w, table, ws);
        ws.found.clear();
        if (cfg.check_finite) {
            const int64_t bad = channel_peaks_up<true>(grid, ch, h, w, table, cfg, ws);
            if (bad >= 0) throw_non_finite(hm, k * h * w + bad, "heatmaps");
        } else {
            channel_peaks_up<false>(grid, ch, h, w, table, cfg, ws);
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
