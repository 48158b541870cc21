// Stage 3: greedy matching per limb and person assembly.
// Rules: src/posefast/_reference/assemble.py.  Flat arrays only: a peak's owner and
// its "already matched for this limb" marks are indexed by its global row; the
// marks store limb + 1 so they never need clearing.
#include "posefast/assemble.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace posefast {
namespace {

// Single-person mode: one person holding peak 0 (the highest) of every keypoint
// that has one; score summed in keypoint order.  No keypoint: no person.
void add_single_person(const PeaksRef& peaks, AssembleScratch& ws) {
    const int64_t K = peaks.num_keypoints;
    double total = 0.0;
    int32_t count = 0;
    ws.parts.assign(static_cast<size_t>(K), -1);
    for (int64_t k = 0; k < K; ++k) {
        if (peaks.count(k) == 0) continue;
        ws.parts[k] = 0;
        total += peaks.scores[peaks.offsets[k]];
        ++count;
    }
    if (count == 0) {
        ws.parts.clear();
        return;
    }
    ws.score.push_back(total);
    ws.count.push_back(count);
}

// score * sqrt(area of the keypoints' box on the decode grid); NaN ranks lowest.
double person_rank(const PeaksRef& peaks, const int32_t* parts, int64_t K, double total) {
    bool first = true;
    double lo_x = 0.0, hi_x = 0.0, lo_y = 0.0, hi_y = 0.0;
    for (int64_t k = 0; k < K; ++k) {
        if (parts[k] < 0) continue;
        const int64_t g = peaks.offsets[k] + parts[k];
        const double x = peaks.xy[2 * g], y = peaks.xy[2 * g + 1];
        if (first) {
            lo_x = hi_x = x;
            lo_y = hi_y = y;
            first = false;
            continue;
        }
        if (x < lo_x) lo_x = x;
        if (x > hi_x) hi_x = x;
        if (y < lo_y) lo_y = y;
        if (y > hi_y) hi_y = y;
    }
    const double r = total * std::sqrt((hi_x - lo_x) * (hi_y - lo_y));
    return std::isnan(r) ? -std::numeric_limits<double>::infinity() : r;
}

// Keep, of ws.order (formation order), the n people of highest rank (ties: formed
// first), in formation order.
void keep_top_people(const PeaksRef& peaks, int64_t n, AssembleScratch& ws) {
    const int64_t K = peaks.num_keypoints;
    const size_t people = ws.score.size();
    ws.rank.assign(people, 0.0);
    ws.chosen.assign(people, 0);
    for (int32_t p : ws.order) {
        ws.rank[p] = person_rank(peaks, ws.parts.data() + static_cast<int64_t>(p) * K, K, ws.score[p]);
    }
    ws.by_rank = ws.order;
    std::sort(ws.by_rank.begin(), ws.by_rank.end());  // equal ranks: the person formed first
    std::stable_sort(ws.by_rank.begin(), ws.by_rank.end(),
                     [&](int32_t x, int32_t y) { return ws.rank[x] > ws.rank[y]; });
    for (int64_t i = 0; i < n; ++i) ws.chosen[ws.by_rank[i]] = 1;
    ws.order.erase(std::remove_if(ws.order.begin(), ws.order.end(), [&](int32_t p) { return ws.chosen[p] == 0; }),
                   ws.order.end());
}

}  // namespace

void assemble(const PeaksRef& peaks, const CandidatesRef& cands, const LayoutRef& layout, const DecodeConfig& cfg,
              AssembleScratch& ws, PoseList& out) {
    const int64_t K = peaks.num_keypoints;
    const int64_t M = peaks.total();
    ws.owner.assign(static_cast<size_t>(M), -1);
    ws.used_a.assign(static_cast<size_t>(M), 0);
    ws.used_b.assign(static_cast<size_t>(M), 0);
    ws.parts.clear();
    ws.score.clear();
    ws.count.clear();
    if (cfg.single_person) add_single_person(peaks, ws);
    const int64_t num_limbs = cfg.single_person ? 0 : layout.num_limbs;

    for (int64_t l = 0; l < num_limbs; ++l) {
        const int32_t ka = layout.limbs[2 * l], kb = layout.limbs[2 * l + 1];
        const int64_t base_a = peaks.offsets[ka], base_b = peaks.offsets[kb];
        const int32_t stamp = static_cast<int32_t>(l + 1);
        const bool fill_only = layout.fill_only[l] != 0;
        for (int64_t c = cands.offsets[l]; c < cands.offsets[l + 1]; ++c) {
            const int32_t ia = cands.a[c], ib = cands.b[c];
            const double s = cands.scores[c];
            const int64_t ga = base_a + ia, gb = base_b + ib;
            if (ws.used_a[ga] == stamp || ws.used_b[gb] == stamp) continue;
            ws.used_a[ga] = stamp;
            ws.used_b[gb] = stamp;
            if (fill_only && cfg.fill_only_shares) {
                // OpenPose's shoulder->ear fill: every person, no score, no count, no owner.
                const int64_t people = static_cast<int64_t>(ws.score.size());
                for (int64_t q = 0; q < people; ++q) {
                    int32_t* parts = ws.parts.data() + q * K;
                    if (parts[ka] == ia && parts[kb] == -1) {
                        parts[kb] = ib;
                    } else if (parts[kb] == ib && parts[ka] == -1) {
                        parts[ka] = ia;
                    }
                }
                continue;
            }
            if (ws.owner[gb] >= 0) continue;  // a peak is never shared
            const int32_t p = ws.owner[ga];
            if (p >= 0) {
                int32_t* parts = ws.parts.data() + static_cast<int64_t>(p) * K;
                if (parts[kb] != -1) continue;
                parts[kb] = ib;
                ws.score[p] += peaks.scores[gb] + s;
                ws.count[p] += 1;
                ws.owner[gb] = p;
            } else if (!fill_only) {
                const int32_t np = static_cast<int32_t>(ws.score.size());
                ws.parts.insert(ws.parts.end(), static_cast<size_t>(K), -1);
                int32_t* parts = ws.parts.data() + static_cast<int64_t>(np) * K;
                parts[ka] = ia;
                parts[kb] = ib;
                ws.score.push_back(peaks.scores[ga] + peaks.scores[gb] + s);
                ws.count.push_back(2);
                ws.owner[ga] = np;
                ws.owner[gb] = np;
            }
        }
    }

    // Filter, then order by mean score (desc), ties by formation order.  A NaN mean
    // fails the >= test, so the sort only ever sees comparable values.
    const int64_t people = static_cast<int64_t>(ws.score.size());
    ws.mean.resize(static_cast<size_t>(people));
    ws.order.clear();
    const int64_t mask_k = std::min<int64_t>(K, 64);
    for (int rerun = 0; rerun < 2; ++rerun) {
        const bool use_mask = rerun == 0 && cfg.uncounted_mask != 0;
        if (rerun == 1 && (!ws.order.empty() || cfg.uncounted_mask == 0)) break;
        for (int64_t p = 0; p < people; ++p) {
            int64_t c = ws.count[p];
            if (use_mask) {
                const int32_t* parts = ws.parts.data() + p * K;
                for (int64_t k = 0; k < mask_k; ++k) {
                    if (((cfg.uncounted_mask >> k) & 1u) && parts[k] >= 0) --c;
                }
                if (c != ws.count[p] && c <= 4) continue;
            }
            if (c < cfg.min_parts) continue;
            ws.mean[p] = ws.score[p] / static_cast<double>(c);
            if (ws.mean[p] >= cfg.min_person_score) ws.order.push_back(static_cast<int32_t>(p));
        }
    }
    std::stable_sort(ws.order.begin(), ws.order.end(),
                     [&](int32_t x, int32_t y) { return ws.mean[x] > ws.mean[y]; });

    // Fragments (reference rule): each kept person, in order, may be absorbed by the
    // first earlier survivor it lies on; ws.order keeps the survivors.  The tests
    // (a shared keypoint type, fewer parts than the survivor, close enough) have no
    // side effects, so the cheapest, the part counts, runs first.
    if (cfg.merge_fragments > 0.0) {
        ws.held.resize(static_cast<size_t>(people));
        for (const int32_t p : ws.order) {
            const int32_t* pp = ws.parts.data() + static_cast<int64_t>(p) * K;
            int32_t n = 0;
            for (int64_t k = 0; k < K; ++k) n += pp[k] >= 0;
            ws.held[p] = n;
        }
        size_t n_out = 0;
        for (size_t r = 0; r < ws.order.size(); ++r) {
            const int32_t q = ws.order[r];
            const int32_t* qp = ws.parts.data() + static_cast<int64_t>(q) * K;
            bool absorbed = false;
            for (size_t e = 0; e < n_out && !absorbed; ++e) {
                const int32_t p = ws.order[e];
                if (ws.held[q] >= ws.held[p]) continue;
                int32_t* pp = ws.parts.data() + static_cast<int64_t>(p) * K;
                double total = 0.0;
                int64_t shared = 0;
                double x0 = std::numeric_limits<double>::infinity(), y0 = x0;
                double x1 = -x0, y1 = -x0;
                for (int64_t k = 0; k < K; ++k) {
                    if (pp[k] < 0) continue;
                    const int64_t g = peaks.offsets[k] + pp[k];
                    const double px = peaks.xy[2 * g], py = peaks.xy[2 * g + 1];
                    x0 = px < x0 ? px : x0;
                    x1 = px > x1 ? px : x1;
                    y0 = py < y0 ? py : y0;
                    y1 = py > y1 ? py : y1;
                    if (qp[k] >= 0) {
                        const int64_t h = peaks.offsets[k] + qp[k];
                        const double dx = px - peaks.xy[2 * h], dy = py - peaks.xy[2 * h + 1];
                        total += std::sqrt(dx * dx + dy * dy);
                        ++shared;
                    }
                }
                if (shared == 0) continue;
                const double bw = x1 - x0, bh = y1 - y0;
                if (total / static_cast<double>(shared) <= cfg.merge_fragments * std::sqrt(bw * bw + bh * bh)) {
                    for (int64_t k = 0; k < K; ++k) {
                        if (qp[k] >= 0 && pp[k] < 0) {
                            pp[k] = qp[k];
                            ++ws.held[p];
                        }
                    }
                    absorbed = true;
                }
            }
            if (!absorbed) ws.order[n_out++] = q;
        }
        ws.order.resize(n_out);
    }

    // Whole people first (above), then the number_people_max best of them.
    if (cfg.number_people_max > 0 && static_cast<int64_t>(ws.order.size()) > cfg.number_people_max) {
        keep_top_people(peaks, cfg.number_people_max, ws);
    }

    const int64_t P = static_cast<int64_t>(ws.order.size());
    const double s = static_cast<double>(cfg.upsample);
    out.count = P;
    out.num_keypoints = K;
    out.keypoints.assign(static_cast<size_t>(P * K * 3), 0.0f);
    out.scores.resize(static_cast<size_t>(P));
    out.peak_ids.assign(static_cast<size_t>(P * K), -1);
    for (int64_t row = 0; row < P; ++row) {
        const int32_t p = ws.order[row];
        out.scores[row] = static_cast<float>(ws.mean[p]);
        const int32_t* parts = ws.parts.data() + static_cast<int64_t>(p) * K;
        for (int64_t k = 0; k < K; ++k) {
            const int32_t i = parts[k];
            if (i < 0) continue;
            const int64_t g = peaks.offsets[k] + i;
            float* kp = out.keypoints.data() + (row * K + k) * 3;
            kp[0] = static_cast<float>((peaks.xy[2 * g] + 0.5) / s - 0.5);
            kp[1] = static_cast<float>((peaks.xy[2 * g + 1] + 0.5) / s - 0.5);
            kp[2] = static_cast<float>(peaks.scores[g]);
            out.peak_ids[row * K + k] = i;
        }
    }
}

}  // namespace posefast
