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
// hold a peak, and only those are scanned.  Values needed elsewhere (NMS neighbours,
// refinement windows) are evaluated on demand, tile by tile, with the exact formula
// of the reference, so every value used equals the reference's full-grid value bit
// for bit.
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

// Keep the best max_peaks of `found`, ordered; append them (unrefined) to out.
void select(std::vector<PeakScratch::Found>& found, int max_peaks) {
    const size_t keep = std::min(found.size(), static_cast<size_t>(max_peaks));
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
    if (static_cast<int64_t>(ws.needed.size()) * 3 > h * w) g.evaluate_all();

    // 3 x 3 NMS on a window of the tile and a 1-value border taken from its 8
    // neighbour tiles (evaluated only for tiles holding a value above the threshold).
    // Outside the grid the border is -inf: a value above thr (so not NaN) is strictly
    // above -inf, which passes both tests exactly as a skipped neighbour does.
    const int64_t gw = w * s;
    const int ws2 = s + 2;
    double win[(kMaxUpsample + 2) * (kMaxUpsample + 2)];
    const double ninf = -std::numeric_limits<double>::infinity();
    for (const int64_t cell : ws.needed) {
        const int64_t i = cell / w, j = cell - (cell / w) * w;
        const size_t tile = g.tile(i, j);
        {
            const double* tv = g.data() + tile;
            int any = 0;
            for (int k = 0; k < s * s; ++k) any |= static_cast<int>(tv[k] > thr);
            if (!any) continue;
        }
        // Offsets of the 3 x 3 tiles around (i, j) (evaluating may move the pool).
        size_t nt[3][3];
        bool in[3][3];
        for (int di = 0; di < 3; ++di) {
            for (int dj = 0; dj < 3; ++dj) {
                const int64_t ti = i + di - 1, tj = j + dj - 1;
                in[di][dj] = ti >= 0 && ti < h && tj >= 0 && tj < w;
                nt[di][dj] = (di == 1 && dj == 1) ? tile : (in[di][dj] ? g.tile(ti, tj) : 0);
            }
        }
        const double* pool = g.data();
        // window row r = 0..s+1 is grid row i*s - 1 + r; column c likewise.
        for (int r = 0; r < ws2; ++r) {
            const int di = r == 0 ? 0 : (r == ws2 - 1 ? 2 : 1);
            const int qq = r == 0 ? s - 1 : (r == ws2 - 1 ? 0 : r - 1);
            double* wr = win + r * ws2;
            // left border
            wr[0] = in[di][0] ? pool[nt[di][0] + static_cast<size_t>(qq * s + s - 1)] : ninf;
            if (in[di][1]) {
                const double* src = pool + nt[di][1] + static_cast<size_t>(qq * s);
                for (int p = 0; p < s; ++p) wr[1 + p] = src[p];
            } else {
                for (int p = 0; p < s; ++p) wr[1 + p] = ninf;
            }
            wr[s + 1] = in[di][2] ? pool[nt[di][2] + static_cast<size_t>(qq * s)] : ninf;
        }
        for (int q = 0; q < s; ++q) {
            const double* up = win + q * ws2;
            const double* mid = up + ws2;
            const double* dn = mid + ws2;
            for (int p = 0; p < s; ++p) {
                const double val = mid[p + 1];
                if (!(val > thr)) continue;
                // Earlier neighbours (raster order) strictly below, later ones not above.
                if (!(val > up[p]) || !(val > up[p + 1]) || !(val > up[p + 2]) || !(val > mid[p]) ||
                    !(val >= mid[p + 2]) || !(val >= dn[p]) || !(val >= dn[p + 1]) || !(val >= dn[p + 2])) {
                    continue;
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
            select(ws.found, effective_max_peaks(cfg));
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
        select(ws.found, effective_max_peaks(cfg));
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
