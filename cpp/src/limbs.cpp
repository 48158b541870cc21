// Stage 2: score candidate limbs on the part affinity fields.
// Rules: src/posefast/_reference/limbs.py; every float64 operation is the
// reference's, in the reference's order.
//
// PAF values are evaluated only at the integer grid positions the samples land on
// (two channels sharing the 4 x 4 taps), never as upsampled maps; the values at the
// peaks themselves (first and, usually, last sample of a pair) once per peak.  A
// pair is given up as soon as it can no longer pass the sample test; that changes
// no result (such a pair is rejected, or given the fixed close-pair score, either
// way, and its line-integral score is unused).
#include "posefast/limbs.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "posefast/finite.hpp"
#include "posefast/upsample.hpp"
#include "scan.hpp"

namespace posefast {
namespace {

// floor(x + 0.5) clamped into [0, n - 1], as an index; NaN goes to 0.  Clamping in
// double first keeps a huge or non-finite coordinate from overflowing the cast.
inline int64_t grid_index(double x, int64_t n) {
    const double r = std::floor(x + 0.5);
    if (!(r >= 0.0)) return 0;
    const double top = static_cast<double>(n - 1);
    return r > top ? n - 1 : static_cast<int64_t>(r);
}

#ifdef POSEFAST_SCAN_AVX2
// bicubic_at2 where the four tap columns c0 .. c0 + 3 lie inside the row (rows[k]:
// the k-th tap row's offset, already clamped).  The 4 x 4 taps are transposed so
// that lane k holds row k: each lane then does row k's horizontal sum in the scalar
// order, and the vertical sum adds the four lane products wy[k] * h[k] in order, so
// the result is bicubic_at2's to the bit.
POSEFAST_AVX2 double bicubic_taps_avx2(const float* ch, const int64_t* rows, int64_t c0, const double* wx,
                                       const double* wy) {
    const __m256d r0 = _mm256_cvtps_pd(_mm_loadu_ps(ch + rows[0] + c0));
    const __m256d r1 = _mm256_cvtps_pd(_mm_loadu_ps(ch + rows[1] + c0));
    const __m256d r2 = _mm256_cvtps_pd(_mm_loadu_ps(ch + rows[2] + c0));
    const __m256d r3 = _mm256_cvtps_pd(_mm_loadu_ps(ch + rows[3] + c0));
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    const __m256d x0 = _mm256_permute2f128_pd(t0, t2, 0x20), x1 = _mm256_permute2f128_pd(t1, t3, 0x20);
    const __m256d x2 = _mm256_permute2f128_pd(t0, t2, 0x31), x3 = _mm256_permute2f128_pd(t1, t3, 0x31);
    const __m256d hsum = _mm256_add_pd(
        _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(wx[0]), x0), _mm256_mul_pd(_mm256_set1_pd(wx[1]), x1)),
                      _mm256_mul_pd(_mm256_set1_pd(wx[2]), x2)),
        _mm256_mul_pd(_mm256_set1_pd(wx[3]), x3));
    const __m256d prod = _mm256_mul_pd(_mm256_loadu_pd(wy), hsum);
    const __m128d lo = _mm256_castpd256_pd128(prod), hi = _mm256_extractf128_pd(prod, 1);
    __m128d acc = _mm_add_sd(lo, _mm_unpackhi_pd(lo, lo));
    acc = _mm_add_sd(acc, hi);
    acc = _mm_add_sd(acc, _mm_unpackhi_pd(hi, hi));
    return _mm_cvtsd_f64(acc);
}

POSEFAST_AVX2 void bicubic_at2_avx2(const float* chx, const float* chy, const int64_t* rows, int64_t c0,
                                    const double* wx, const double* wy, double& out_x, double& out_y) {
    out_x = bicubic_taps_avx2(chx, rows, c0, wx, wy);
    out_y = bicubic_taps_avx2(chy, rows, c0, wx, wy);
}
#endif

template <bool Upsampled>
struct PafField {
    const float* fx;
    const float* fy;
    int64_t h, w;
    const PhaseTable& t;
    bool avx2 = false;  // the CPU has AVX2 (used at s >= 2 where the taps lie inside the row)

    // Hint the cache lines at(px, py) will read (Locality 3: soon, into L1; 2: later, L2).
    template <int Locality = 3>
    void prefetch(int64_t px, int64_t py) const {
#if defined(__GNUC__) || defined(__clang__)
        if (Upsampled) {
            const int64_t j = t.cell(px), i = t.cell(py);
            const int64_t c = clamp_index(j + t.first[px - j * t.s], w);
            const int64_t r0 = i + t.first[py - i * t.s];
            for (int k = 0; k < 4; ++k) {
                const int64_t row = clamp_index(r0 + k, h) * w + c;
                __builtin_prefetch(fx + row, 0, Locality);
                __builtin_prefetch(fy + row, 0, Locality);
            }
        } else {
            __builtin_prefetch(fx + py * w + px, 0, Locality);
            __builtin_prefetch(fy + py * w + px, 0, Locality);
        }
#else
        (void)px;
        (void)py;
#endif
    }

    void at(int64_t px, int64_t py, double& vx, double& vy) const {
        if (Upsampled) {
#ifdef POSEFAST_SCAN_AVX2
            const int64_t j = t.cell(px), p = px - j * t.s;
            const int64_t c0 = j + t.first[p];
            if (avx2 && c0 >= 0 && c0 + 3 < w) {
                const int64_t i = t.cell(py), q = py - i * t.s;
                const int64_t r0 = i + t.first[q];
                const int64_t rows[4] = {clamp_index(r0, h) * w, clamp_index(r0 + 1, h) * w,
                                         clamp_index(r0 + 2, h) * w, clamp_index(r0 + 3, h) * w};
                bicubic_at2_avx2(fx, fy, rows, c0, t.w[p], t.w[q], vx, vy);
                return;
            }
#endif
            bicubic_at2(fx, fy, h, w, t, px, py, vx, vy);
        } else {
            vx = static_cast<double>(fx[py * w + px]);
            vy = static_cast<double>(fy[py * w + px]);
        }
    }
};

// Hint, into L2, the cache lines paf_at_peaks will read for these peaks: issued for
// the next limb while this one is scored, so that limb's first reads (one miss per
// peak and tap row otherwise, taken one after another) are already on their way.
template <bool Upsampled>
void prefetch_peaks(const PafField<Upsampled>& f, const double* xy, int64_t n, int64_t gw, int64_t gh, double off) {
    for (int64_t i = 0; i < n; ++i) {
        f.template prefetch<2>(grid_index(xy[2 * i] + off, gw), grid_index(xy[2 * i + 1] + off, gh));
    }
}

// The PAF vector at each peak's rounded position (plus paf_sample_offset): the first
// sample of every pair starting at that peak lies there (i = 0), and with
// paf_sample_far_end the last sample usually lies at the end peak's.  Evaluated
// once per peak instead of once per pair.
template <bool Upsampled>
void paf_at_peaks(const PafField<Upsampled>& f, const double* xy, int64_t n, int64_t gw, int64_t gh, double off,
                  std::vector<LimbScratch::PeakPaf>& out) {
    out.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        auto& e = out[static_cast<size_t>(i)];
        e.px = grid_index(xy[2 * i] + off, gw);
        e.py = grid_index(xy[2 * i + 1] + off, gh);
        f.at(e.px, e.py, e.vx, e.vy);
    }
}

// Per pair (A, B_ib): d = B - A, norm, unit direction and sample count n, with the
// reference's operations: norm = sqrt(dx*dx + dy*dy), u = d / norm,
// n = clamp(floor(sqrt(5 * max(|dx|, |dy|)) + 0.5), lo, hi).  Where norm < 1e-6 or
// NaN the other fields are unused.  floor(v) for v = sqrt(.) + 0.5 >= 0.5: v is
// first capped at hi + 1 (every v >= hi + 1 clamps to hi either way, inf included),
// then truncated, which is floor for positive values.
void geometry(double ax, double ay, const double* xb, int64_t nb, double lo_n, double hi_n, LimbScratch::Geo* geo) {
    int64_t ib = 0;
#ifdef POSEFAST_SCAN_SSE2
    const __m128d vax = _mm_set1_pd(ax), vay = _mm_set1_pd(ay);
    const __m128d five = _mm_set1_pd(5.0), half = _mm_set1_pd(0.5);
    const __m128d cap = _mm_set1_pd(hi_n + 1.0), vlo = _mm_set1_pd(lo_n), vhi = _mm_set1_pd(hi_n);
    const __m128d sign = _mm_set1_pd(-0.0);
    for (; ib + 2 <= nb; ib += 2) {
        const __m128d p0 = _mm_loadu_pd(xb + 2 * ib), p1 = _mm_loadu_pd(xb + 2 * ib + 2);
        const __m128d dx = _mm_sub_pd(_mm_unpacklo_pd(p0, p1), vax);
        const __m128d dy = _mm_sub_pd(_mm_unpackhi_pd(p0, p1), vay);
        const __m128d norm = _mm_sqrt_pd(_mm_add_pd(_mm_mul_pd(dx, dx), _mm_mul_pd(dy, dy)));
        const __m128d ux = _mm_div_pd(dx, norm), uy = _mm_div_pd(dy, norm);
        // max_pd(a, b) is a > b ? a : b, the reference's selection.
        const __m128d m = _mm_max_pd(_mm_andnot_pd(sign, dx), _mm_andnot_pd(sign, dy));
        const __m128d v = _mm_min_pd(_mm_add_pd(_mm_sqrt_pd(_mm_mul_pd(five, m)), half), cap);
        const __m128d fl = _mm_cvtepi32_pd(_mm_cvttpd_epi32(v));
        const __m128d n = _mm_max_pd(vlo, _mm_min_pd(vhi, fl));
        double t[12];
        _mm_storeu_pd(t, dx);
        _mm_storeu_pd(t + 2, dy);
        _mm_storeu_pd(t + 4, norm);
        _mm_storeu_pd(t + 6, ux);
        _mm_storeu_pd(t + 8, uy);
        _mm_storeu_pd(t + 10, n);
        for (int k = 0; k < 2; ++k) {
            LimbScratch::Geo& g = geo[ib + k];
            g.dx = t[k];
            g.dy = t[2 + k];
            g.norm = t[4 + k];
            g.ux = t[6 + k];
            g.uy = t[8 + k];
            g.n = t[10 + k];
        }
    }
#endif
    for (; ib < nb; ++ib) {
        LimbScratch::Geo& g = geo[ib];
        g.dx = xb[2 * ib] - ax;
        g.dy = xb[2 * ib + 1] - ay;
        g.norm = std::sqrt(g.dx * g.dx + g.dy * g.dy);
        g.ux = g.dx / g.norm;
        g.uy = g.dy / g.norm;
        const double adx = std::fabs(g.dx), ady = std::fabs(g.dy);
        double nf = std::floor(std::sqrt(5.0 * (adx > ady ? adx : ady)) + 0.5);
        g.n = nf < lo_n ? lo_n : (nf > hi_n ? hi_n : nf);
    }
}

// One limb, every pair (ia, ib), in two passes per start peak ia.  Samples may be
// *tested* in any order (a pair is rejected once too few can still pass), but the
// score adds the passing projections in sample order, as the reference does.
// Pass 1 runs over every ib with few unpredictable branches: the pair's geometry
// and its two end samples (sample 0's PAF cached per peak; sample n-1 read only
// when sample 0 leaves the pair able to pass); pairs whose ends already fail more
// often than allowed are dropped there.  Pass 2 tests the inner samples of
// the pairs left.  The reference's rule `passed >= paf_min_above * n` is turned
// into a per-n count of allowed failures with the same double comparison.
// With check_finite, every PAF vector a sample reads is tested (reference: the
// finiteness rule of limbs.py); a NaN/Inf raises naming the first one of the block.
template <bool Upsampled>
void score_limb(const PafField<Upsampled>& f, const double* xa, int64_t na, const double* xb, int64_t nb,
                const DecodeConfig& cfg, const Maps& pafs, LimbScratch& ws) {
    const int64_t gh = f.h * f.t.s, gw = f.w * f.t.s;
    const int64_t lo = cfg.paf_min_samples, hi = cfg.paf_max_samples;
    const double lo_n = static_cast<double>(lo), hi_n = static_cast<double>(hi);
    const double thr = cfg.paf_threshold;
    const double off = cfg.paf_sample_offset;
    const bool far_end = cfg.paf_sample_far_end;
    // Reference rule 5: pairs failing the sample test closer than this get a fixed score.
    const double close_dist = cfg.paf_close_fraction * std::sqrt(static_cast<double>(gh * gw));
    const double close_score = cfg.peak_threshold + 1e-6;
    const bool check = cfg.check_finite;
    auto checked = [&](double vx, double vy) {
        if (check && !(std::isfinite(vx) && std::isfinite(vy))) check_finite(pafs, "pafs");
    };
    paf_at_peaks(f, xa, na, gw, gh, off, ws.at_a);
    paf_at_peaks(f, xb, nb, gw, gh, off, ws.at_b);
    ws.proj.resize(static_cast<size_t>(hi));
    double* proj = ws.proj.data();
    const int64_t* max_fail = ws.max_fail.data();
    ws.pairs.resize(static_cast<size_t>(nb));
    LimbScratch::Pair* pairs = ws.pairs.data();
    const LimbScratch::PeakPaf* at_b = ws.at_b.data();
    ws.geo.resize(static_cast<size_t>(nb) + 1);
    ws.geo_next.resize(static_cast<size_t>(nb) + 1);
    LimbScratch::Geo* geo = ws.geo.data();
    LimbScratch::Geo* geo_next = ws.geo_next.data();
    constexpr double kMaxFinite = std::numeric_limits<double>::max();

    // Grid cell of sample i of n of the pair d = (dx, dy) from A + offset = (ox, oy),
    // in the reference's operations.
    auto cell_from = [&](double ox, double oy, int64_t i, int64_t n, double dx, double dy, int64_t& px,
                         int64_t& py) {
        double sx, sy;
        if (far_end) {
            const double ti = static_cast<double>(i) / static_cast<double>(n - 1);
            sx = ox + ti * dx;
            sy = oy + ti * dy;
        } else {
            const double nn = static_cast<double>(n);
            sx = ox + static_cast<double>(i) * (dx / nn);
            sy = oy + static_cast<double>(i) * (dy / nn);
        }
        px = grid_index(sx, gw);
        py = grid_index(sy, gh);
    };
    // Pass 1a of start peak ia, run one start peak ahead: the geometry of every pair
    // (two pairs at a time with SSE2: the same correctly rounded IEEE operations lane
    // by lane), and the cells of the samples n - 1 that pass 1b will read (those of
    // pairs that sample 0 leaves able to pass), prefetched with those of their
    // samples 1.  They lie apart (a step short of the different end peaks, a step
    // from A), so each is a cache miss of its own; issued while the previous start
    // peak is scored, their latencies overlap its work.
    auto prepare = [&](int64_t ia, LimbScratch::Geo* g_out) {
        const double ax = xa[2 * ia], ay = xa[2 * ia + 1];
        const LimbScratch::PeakPaf& pa = ws.at_a[static_cast<size_t>(ia)];
        geometry(ax, ay, xb, nb, lo_n, hi_n, g_out);
        for (int64_t ib = 0; ib < nb; ++ib) {
            LimbScratch::Geo& g = g_out[ib];
            if (!(g.norm >= 1e-6) || !(g.norm <= kMaxFinite)) continue;
            const int64_t n = static_cast<int64_t>(g.n);
            if (static_cast<int64_t>(!(pa.vx * g.ux + pa.vy * g.uy > thr)) > max_fail[n - lo]) continue;
            cell_from(ax + off, ay + off, n - 1, n, g.dx, g.dy, g.px1, g.py1);
            f.prefetch(g.px1, g.py1);
            if (Upsampled && n > 2) {  // sample 1 of pass 2 (4 x 4 taps: worth it at s >= 2)
                int64_t px, py;
                cell_from(ax + off, ay + off, 1, n, g.dx, g.dy, px, py);
                f.prefetch(px, py);
            }
        }
    };
    if (na > 0) prepare(0, geo);

    for (int64_t ia = 0; ia < na; ++ia) {
        const double ax = xa[2 * ia], ay = xa[2 * ia + 1];
        const double ox = ax + off, oy = ay + off;
        const LimbScratch::PeakPaf& pa = ws.at_a[static_cast<size_t>(ia)];
        // The PAF vector at grid (px, py): cached when it is a peak's position.
        auto value = [&](int64_t px, int64_t py, const LimbScratch::PeakPaf& pb, double& vx, double& vy) {
            if (px == pa.px && py == pa.py) {
                vx = pa.vx;
                vy = pa.vy;
            } else if (px == pb.px && py == pb.py) {
                vx = pb.vx;
                vy = pb.vy;
            } else {
                f.at(px, py, vx, vy);
            }
            checked(vx, vy);
        };
        auto cell = [&](int64_t i, int64_t n, double dx, double dy, int64_t& px, int64_t& py) {
            cell_from(ox, oy, i, n, dx, dy, px, py);
        };
        auto sample = [&](int64_t i, int64_t n, double dx, double dy, const LimbScratch::PeakPaf& pb, double& vx,
                          double& vy) {
            int64_t px, py;
            cell(i, n, dx, dy, px, py);
            value(px, py, pb, vx, vy);
        };
        auto reject = [&](double norm, int64_t ib) {
            if (norm < close_dist) {
                ws.cands.push_back({close_score, static_cast<int32_t>(ia), static_cast<int32_t>(ib)});
            }
        };

        // Pass 1a (geometry, far-end cells) of this start peak ran one iteration
        // early; run the next one's now.
        if (ia + 1 < na) prepare(ia + 1, geo_next);

        // Pass 1b: first and last samples (i = 0 and i = n - 1).
        int64_t kept = 0;
        for (int64_t ib = 0; ib < nb; ++ib) {
            const LimbScratch::Geo& g = geo[ib];
            if (!(g.norm >= 1e-6)) continue;  // also skips NaN positions
            const double dx = g.dx, dy = g.dy, ux = g.ux, uy = g.uy;
            const int64_t n = static_cast<int64_t>(g.n);
            const LimbScratch::PeakPaf& pb = at_b[ib];
            double v0x, v0y, v1x, v1y;
            if (g.norm <= kMaxFinite) {
                // d is finite, so (A + o) + 0 * d is A + o itself (-0 and +0 round to the same cell).
                v0x = pa.vx;
                v0y = pa.vy;
                checked(v0x, v0y);
            } else {
                sample(0, n, dx, dy, pb, v0x, v0y);
            }
            const double p0 = v0x * ux + v0y * uy;
            const int64_t failed0 = static_cast<int64_t>(!(p0 > thr));
            if (failed0 > max_fail[n - lo]) {  // decided by sample 0: n - 1 is not read
                reject(g.norm, ib);
                continue;
            }
            if (g.norm <= kMaxFinite) {
                value(g.px1, g.py1, pb, v1x, v1y);
            } else {
                sample(n - 1, n, dx, dy, pb, v1x, v1y);
            }
            const double p1 = v1x * ux + v1y * uy;
            const int64_t failed = failed0 + static_cast<int64_t>(!(p1 > thr));
            if (failed > max_fail[n - lo]) {
                reject(g.norm, ib);
                continue;
            }
            LimbScratch::Pair& q = pairs[kept++];
            q.dx = dx;
            q.dy = dy;
            q.ux = ux;
            q.uy = uy;
            q.p0 = p0;
            q.p1 = p1;
            q.norm = g.norm;
            q.n = n;
            q.ib = ib;
            q.failed = failed;
        }

        // Pass 2: inner samples 1 .. n-2 (sample 1 prefetched with pass 1a when s >= 2).
        for (int64_t k = 0; k < kept; ++k) {
            const LimbScratch::Pair& q = pairs[k];
            const int64_t n = q.n;
            const int64_t allowed = max_fail[n - lo];
            const LimbScratch::PeakPaf& pb = at_b[q.ib];
            int64_t failed = q.failed;
            proj[0] = q.p0;
            proj[n - 1] = q.p1;
            for (int64_t i = 1; i < n - 1; ++i) {
                double vx, vy;
                sample(i, n, q.dx, q.dy, pb, vx, vy);
                const double pr = vx * q.ux + vy * q.uy;
                proj[i] = pr;
                if (!(pr > thr) && ++failed > allowed) break;
            }
            if (failed > allowed) {
                reject(q.norm, q.ib);
                continue;
            }
            int64_t passed = 0;
            double total = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                if (proj[i] > thr) {
                    ++passed;
                    total += proj[i];
                }
            }
            if (passed > 0) {
                // proj > thr for every summed term, so the score is never NaN.
                ws.cands.push_back({total / static_cast<double>(passed), static_cast<int32_t>(ia),
                                    static_cast<int32_t>(q.ib)});
            } else {
                reject(q.norm, q.ib);
            }
        }
        std::swap(geo, geo_next);
    }
}

bool cand_before(const LimbScratch::Cand& x, const LimbScratch::Cand& y) {
    if (x.score != y.score) return x.score > y.score;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
}

}  // namespace

void score_limbs(const Maps& pafs, const PeaksRef& peaks, const LayoutRef& layout, const DecodeConfig& cfg,
                 LimbScratch& ws, CandidateList& out) {
    const PhaseTable table(cfg.upsample);
    out.offsets.assign(1, 0);
    out.a.clear();
    out.b.clear();
    out.scores.clear();
    // max_fail[n - paf_min_samples]: the most failed samples a pair of n samples may
    // have and still reach need = paf_min_above * n (the reference rejects when
    // n - failed < need; that is monotone in failed).
    const int64_t lo = cfg.paf_min_samples, hi = cfg.paf_max_samples;
    ws.max_fail.resize(static_cast<size_t>(hi - lo + 1));
    for (int64_t n = lo; n <= hi; ++n) {
        const double need = cfg.paf_min_above * static_cast<double>(n);
        const double nd = static_cast<double>(n);
        // Whether c passing samples of n pass the reference's test (c > 0 holds: m < n).
        auto passes = [&](int64_t c) {
            return cfg.paf_strict_fraction ? static_cast<double>(c) / nd > cfg.paf_min_above
                                           : !(static_cast<double>(c) < need);
        };
        int64_t m = 0;
        while (m < n && passes(n - (m + 1))) ++m;
        ws.max_fail[static_cast<size_t>(n - lo)] = passes(n) ? m : -1;  // -1: never passes
    }
    const int64_t gh = pafs.h * table.s, gw = pafs.w * table.s;
    const double off = cfg.paf_sample_offset;
#ifdef POSEFAST_SCAN_AVX2
    const bool avx2 = __builtin_cpu_supports("avx2");
#else
    const bool avx2 = false;
#endif
    // The PAF lines the peaks of limb l read first (see prefetch_peaks).
    auto prefetch_limb = [&](int64_t l) {
        const int32_t ka = layout.limbs[2 * l], kb = layout.limbs[2 * l + 1];
        if (peaks.count(ka) == 0 || peaks.count(kb) == 0) return;
        const float* fx = pafs.channel(layout.paf[2 * l]);
        const float* fy = pafs.channel(layout.paf[2 * l + 1]);
        for (const int32_t k : {ka, kb}) {
            const double* xy = peaks.xy + 2 * peaks.offsets[k];
            if (cfg.upsample == 1) {
                prefetch_peaks(PafField<false>{fx, fy, pafs.h, pafs.w, table}, xy, peaks.count(k), gw, gh, off);
            } else {
                prefetch_peaks(PafField<true>{fx, fy, pafs.h, pafs.w, table}, xy, peaks.count(k), gw, gh, off);
            }
        }
    };
    if (layout.num_limbs > 0) prefetch_limb(0);
    for (int64_t l = 0; l < layout.num_limbs; ++l) {
        if (l + 1 < layout.num_limbs) prefetch_limb(l + 1);
        const int32_t ka = layout.limbs[2 * l], kb = layout.limbs[2 * l + 1];
        const float* fx = pafs.channel(layout.paf[2 * l]);
        const float* fy = pafs.channel(layout.paf[2 * l + 1]);
        const int64_t na = peaks.count(ka), nb = peaks.count(kb);
        ws.cands.clear();
        if (na > 0 && nb > 0) {
            const double* xa = peaks.xy + 2 * peaks.offsets[ka];
            const double* xb = peaks.xy + 2 * peaks.offsets[kb];
            if (cfg.upsample == 1) {
                score_limb(PafField<false>{fx, fy, pafs.h, pafs.w, table}, xa, na, xb, nb, cfg, pafs, ws);
            } else {
                score_limb(PafField<true>{fx, fy, pafs.h, pafs.w, table, avx2}, xa, na, xb, nb, cfg, pafs, ws);
            }
            std::sort(ws.cands.begin(), ws.cands.end(), cand_before);
        }
        for (const auto& c : ws.cands) {
            out.a.push_back(c.a);
            out.b.push_back(c.b);
            out.scores.push_back(c.score);
        }
        out.offsets.push_back(static_cast<int64_t>(out.scores.size()));
    }
}

}  // namespace posefast
