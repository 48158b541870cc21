// _core stage functions: find_peaks, score_limbs, assemble, decode, decode_batch,
// plus check_finite, upsample, phase_table and cull_bound for tests and tools.
//
// Pattern of every function: take and check every array (TypeError / ValueError
// naming the fix), convert the config, validate sizes and indices -- all with the
// GIL held -- then release the GIL around the pure C++ work, then build the fresh
// output arrays with the GIL held again.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "config_cast.hpp"
#include "posefast/decode.hpp"
#include "posefast/finite.hpp"
#include "posefast/upsample.hpp"

namespace posefast_bindings {

namespace py = pybind11;
using namespace posefast;

namespace {

Maps maps_of(const Input<float>& in) { return Maps{in.data, in.dim(0), in.dim(1), in.dim(2)}; }

struct LayoutIn {
    Input<int32_t> limbs, paf;
    Input<uint8_t> fill;
    LayoutRef ref;
};

LayoutIn take_layout(py::handle limbs, py::handle paf, py::handle fill, bool need_fill) {
    LayoutIn l;
    l.limbs = take<int32_t>(limbs, "limbs", 2, "[L, 2]");
    l.paf = take<int32_t>(paf, "paf_channels", 2, "[L, 2]");
    const int64_t L = l.limbs.dim(0);
    if (l.limbs.dim(1) != 2 || l.paf.dim(1) != 2 || l.paf.dim(0) != L) {
        throw std::invalid_argument("limbs and paf_channels must both be [L, 2] (Layout.arrays()), got " +
                                    shape_str(l.limbs.shape) + " and " + shape_str(l.paf.shape));
    }
    l.ref.num_limbs = L;
    l.ref.limbs = l.limbs.data;
    l.ref.paf = l.paf.data;
    if (need_fill) {
        l.fill = take<uint8_t>(fill, "fill_only", 1, "[L]");
        if (l.fill.dim(0) != L) {
            throw std::invalid_argument("fill_only must be [L] = [" + std::to_string(L) + "] (Layout.arrays()), got " +
                                        shape_str(l.fill.shape));
        }
        l.ref.fill_only = l.fill.data;
    }
    return l;
}

void check_grid(int64_t h, int64_t w, int s) { validate_grid(h, w, s); }

struct PeaksIn {
    Input<int64_t> offsets;
    Input<double> xy, scores;
    PeaksRef ref;
};

PeaksIn take_peaks(py::handle offsets, py::handle xy, py::handle scores, bool need_scores) {
    PeaksIn p;
    p.offsets = take<int64_t>(offsets, "peak_offsets", 1, "[K+1]");
    p.xy = take<double>(xy, "peak_xy", 2, "[M, 2]");
    const int64_t M = p.xy.dim(0);
    if (p.xy.dim(1) != 2) throw std::invalid_argument("peak_xy must be [M, 2], got " + shape_str(p.xy.shape));
    if (M > 2147483647) throw std::invalid_argument("too many peaks");
    validate_offsets(p.offsets.data, p.offsets.dim(0), M, "peak");
    p.ref.num_keypoints = p.offsets.dim(0) - 1;
    p.ref.offsets = p.offsets.data;
    p.ref.xy = p.xy.data;
    if (need_scores) {
        p.scores = take<double>(scores, "peak_scores", 1, "[M]");
        if (p.scores.dim(0) != M) {
            throw std::invalid_argument("peak_scores must be [M] = [" + std::to_string(M) + "], got " +
                                        shape_str(p.scores.shape));
        }
        p.ref.scores = p.scores.data;
    }
    return p;
}

py::tuple poses_tuple(const PoseList& p) {
    return py::make_tuple(to_numpy(p.keypoints, {p.count, p.num_keypoints, 3}), to_numpy(p.scores, {p.count}),
                          to_numpy(p.peak_ids, {p.count, p.num_keypoints}));
}

py::tuple find_peaks_py(py::handle heatmaps, py::handle config) {
    const Input<float> hm = take<float>(heatmaps, "heatmaps", 3, "[K, h, w]");
    const DecodeConfig cfg = to_config(config);
    check_grid(hm.dim(1), hm.dim(2), cfg.upsample);
    const Maps maps = maps_of(hm);
    PeakList out;
    {
        // Safe without the GIL: only C++ objects and the buffer of `hm`, which this
        // frame keeps referenced (a NumPy array's buffer cannot be freed or resized
        // while referenced).
        py::gil_scoped_release nogil;
        PeakScratch scratch;  // find_peaks checks finiteness itself (cfg.check_finite)
        find_peaks(maps, cfg, scratch, out);
    }
    const int64_t M = static_cast<int64_t>(out.scores.size());
    return py::make_tuple(to_numpy(out.offsets, {static_cast<py::ssize_t>(out.offsets.size())}),
                          to_numpy(out.grid, {M, 2}), to_numpy(out.xy, {M, 2}), to_numpy(out.scores, {M}));
}

py::tuple score_limbs_py(py::handle pafs, py::handle peak_offsets, py::handle peak_xy, py::handle limbs,
                         py::handle paf_channels, py::handle config) {
    const Input<float> pf = take<float>(pafs, "pafs", 3, "[2L, h, w]");
    const PeaksIn peaks = take_peaks(peak_offsets, peak_xy, py::none(), false);
    const LayoutIn layout = take_layout(limbs, paf_channels, py::none(), false);
    const DecodeConfig cfg = to_config(config);
    check_grid(pf.dim(1), pf.dim(2), cfg.upsample);
    validate_layout(layout.ref, peaks.ref.num_keypoints, pf.dim(0));
    const Maps maps = maps_of(pf);
    CandidateList out;
    if (cfg.single_person) {
        out.offsets.assign(static_cast<size_t>(layout.ref.num_limbs + 1), 0);  // no PAF read
    } else {
        // Safe without the GIL: C++ objects and buffers of arrays held above only.
        py::gil_scoped_release nogil;
        LimbScratch scratch;
        score_limbs(maps, peaks.ref, layout.ref, cfg, scratch, out);
    }
    const int64_t C = static_cast<int64_t>(out.scores.size());
    return py::make_tuple(to_numpy(out.offsets, {static_cast<py::ssize_t>(out.offsets.size())}),
                          to_numpy(out.a, {C}), to_numpy(out.b, {C}), to_numpy(out.scores, {C}));
}

py::tuple assemble_py(py::handle peak_offsets, py::handle peak_xy, py::handle peak_scores, py::handle cand_offsets,
                      py::handle cand_a, py::handle cand_b, py::handle cand_scores, py::handle limbs,
                      py::handle fill_only, py::handle config) {
    const PeaksIn peaks = take_peaks(peak_offsets, peak_xy, peak_scores, true);
    // paf channels are not needed to assemble: validate limbs and fill_only only.
    LayoutIn layout;
    layout.limbs = take<int32_t>(limbs, "limbs", 2, "[L, 2]");
    layout.fill = take<uint8_t>(fill_only, "fill_only", 1, "[L]");
    const int64_t L = layout.limbs.dim(0);
    if (layout.limbs.dim(1) != 2 || layout.fill.dim(0) != L) {
        throw std::invalid_argument("limbs must be [L, 2] and fill_only [L] (Layout.arrays()), got " +
                                    shape_str(layout.limbs.shape) + " and " + shape_str(layout.fill.shape));
    }
    std::vector<int32_t> no_paf(static_cast<size_t>(2 * L), 0);
    layout.ref = LayoutRef{L, layout.limbs.data, no_paf.data(), layout.fill.data};
    validate_layout(layout.ref, peaks.ref.num_keypoints, 1);

    const Input<int64_t> off = take<int64_t>(cand_offsets, "cand_offsets", 1, "[L+1]");
    const Input<int32_t> a = take<int32_t>(cand_a, "cand_a", 1, "[C]");
    const Input<int32_t> b = take<int32_t>(cand_b, "cand_b", 1, "[C]");
    const Input<double> sc = take<double>(cand_scores, "cand_scores", 1, "[C]");
    const int64_t C = a.dim(0);
    if (b.dim(0) != C || sc.dim(0) != C) {
        throw std::invalid_argument("cand_a, cand_b and cand_scores must have the same length, got " +
                                    std::to_string(C) + ", " + std::to_string(b.dim(0)) + ", " +
                                    std::to_string(sc.dim(0)));
    }
    if (off.dim(0) != L + 1) {
        throw std::invalid_argument("cand_offsets must be [L+1] = [" + std::to_string(L + 1) + "], got " +
                                    shape_str(off.shape));
    }
    validate_offsets(off.data, off.dim(0), C, "candidate");
    for (int64_t l = 0; l < L; ++l) {
        const int64_t na = peaks.ref.count(layout.ref.limbs[2 * l]), nb = peaks.ref.count(layout.ref.limbs[2 * l + 1]);
        for (int64_t c = off.data[l]; c < off.data[l + 1]; ++c) {
            if (a.data[c] < 0 || a.data[c] >= na || b.data[c] < 0 || b.data[c] >= nb) {
                throw std::invalid_argument("candidate " + std::to_string(c) + " of limb " + std::to_string(l) +
                                            " names a peak that does not exist; pass the candidates that "
                                            "score_limbs returned for these peaks");
            }
        }
    }
    const CandidatesRef cands{L, off.data, a.data, b.data, sc.data};
    const DecodeConfig cfg = to_config(config);
    PoseList out;
    {
        // Safe without the GIL: C++ objects and buffers of arrays held above only.
        py::gil_scoped_release nogil;
        AssembleScratch scratch;
        assemble(peaks.ref, cands, layout.ref, cfg, scratch, out);
    }
    return poses_tuple(out);
}

py::tuple decode_py(py::handle heatmaps, py::handle pafs, py::handle limbs, py::handle paf_channels,
                    py::handle fill_only, py::handle config) {
    const Input<float> hm = take<float>(heatmaps, "heatmaps", 3, "[K, h, w]");
    const Input<float> pf = take<float>(pafs, "pafs", 3, "[2L, h, w]");
    const LayoutIn layout = take_layout(limbs, paf_channels, fill_only, true);
    const DecodeConfig cfg = to_config(config);
    const Maps hmaps = maps_of(hm), pmaps = maps_of(pf);
    validate_frame(hmaps, pmaps, layout.ref, cfg);
    PoseList out;
    {
        // Safe without the GIL: C++ objects and buffers of arrays held above only.
        py::gil_scoped_release nogil;
        Workspace ws;
        decode(hmaps, pmaps, layout.ref, cfg, ws, out);
    }
    return poses_tuple(out);
}

py::list decode_batch_py(py::handle heatmaps, py::handle pafs, py::handle limbs, py::handle paf_channels,
                         py::handle fill_only, py::handle config, int threads) {
    const Input<float> hm = take<float>(heatmaps, "heatmaps", 4, "[N, K, h, w]");
    const Input<float> pf = take<float>(pafs, "pafs", 4, "[N, 2L, h, w]");
    const LayoutIn layout = take_layout(limbs, paf_channels, fill_only, true);
    const DecodeConfig cfg = to_config(config);
    if (threads < 0) throw std::invalid_argument("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
    const int64_t n = hm.dim(0);
    if (pf.dim(0) != n) {
        throw std::invalid_argument("heatmaps hold " + std::to_string(n) + " frames but pafs hold " +
                                    std::to_string(pf.dim(0)));
    }
    const Maps frame_hm{hm.data, hm.dim(1), hm.dim(2), hm.dim(3)};
    const Maps frame_pf{pf.data, pf.dim(1), pf.dim(2), pf.dim(3)};
    validate_frame(frame_hm, frame_pf, layout.ref, cfg);
    std::vector<PoseList> out;
    {
        // Safe without the GIL: the worker threads touch only C++ objects and the
        // buffers of arrays held above; Python objects are made after they joined.
        py::gil_scoped_release nogil;
        decode_batch(hm.data, pf.data, n, frame_hm.channels, frame_pf.channels, frame_hm.h, frame_hm.w, layout.ref,
                     cfg, threads, out);
    }
    py::list result;
    for (const PoseList& p : out) result.append(poses_tuple(p));
    return result;
}

void check_finite_py(py::handle maps, const std::string& what) {
    const Input<float> m = take<float>(maps, "maps", 3, "[C, h, w]");
    const Maps mm = maps_of(m);
    py::gil_scoped_release nogil;  // safe: C++ only, `m` keeps the buffer referenced
    check_finite(mm, what.c_str());
}

py::array_t<double> upsample_py(py::handle maps, int s) {
    const Input<float> m = take<float>(maps, "maps", 3, "[C, h, w]");
    if (s < 1 || s > kMaxUpsample) throw std::invalid_argument("s must be in [1, 16], got " + std::to_string(s));
    check_grid(m.dim(1), m.dim(2), s);
    py::array_t<double> out({m.dim(0), m.dim(1) * s, m.dim(2) * s});
    double* o = out.mutable_data();
    const Maps mm = maps_of(m);
    {
        // Safe: `out` is a fresh array no other code has seen yet.
        py::gil_scoped_release nogil;
        upsample_maps(mm, s, o);
    }
    return out;
}

PhaseTable table_of(int s) {
    if (s < 1 || s > kMaxUpsample) throw std::invalid_argument("s must be in [1, 16], got " + std::to_string(s));
    return PhaseTable(s);
}

}  // namespace

void register_decode(py::module_& m) {
    m.def("find_peaks", &find_peaks_py, py::arg("heatmaps"), py::arg("config"),
          "Stage 1. heatmaps float32 [K, h, w] -> (offsets int64 [K+1], grid int32 [M, 2], "
          "xy float64 [M, 2], scores float64 [M]) on the (s*h) x (s*w) decode grid.");
    m.def("score_limbs", &score_limbs_py, py::arg("pafs"), py::arg("peak_offsets"), py::arg("peak_xy"),
          py::arg("limbs"), py::arg("paf_channels"), py::arg("config"),
          "Stage 2. pafs float32 [2L, h, w], peaks from find_peaks, layout arrays -> "
          "(offsets int64 [L+1], a int32 [C], b int32 [C], scores float64 [C]).");
    m.def("assemble", &assemble_py, py::arg("peak_offsets"), py::arg("peak_xy"), py::arg("peak_scores"),
          py::arg("cand_offsets"), py::arg("cand_a"), py::arg("cand_b"), py::arg("cand_scores"), py::arg("limbs"),
          py::arg("fill_only"), py::arg("config"),
          "Stage 3. -> (keypoints float32 [P, K, 3] in map pixels, scores float32 [P], peak_ids int32 [P, K]).");
    m.def("decode", &decode_py, py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"), py::arg("paf_channels"),
          py::arg("fill_only"), py::arg("config"),
          "Stages 1-3 on one frame (GIL released). heatmaps float32 [K, h, w], pafs float32 [2L, h, w] -> "
          "(keypoints float32 [P, K, 3], scores float32 [P], peak_ids int32 [P, K]).");
    m.def("decode_batch", &decode_batch_py, py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"),
          py::arg("paf_channels"), py::arg("fill_only"), py::arg("config"), py::arg("threads") = 0,
          "Stages 1-3 on N frames over `threads` threads (0 = all cores), GIL released. heatmaps float32 "
          "[N, K, h, w], pafs float32 [N, 2L, h, w] -> list of N (keypoints, scores, peak_ids), in frame order.");
    m.def("check_finite", &check_finite_py, py::arg("maps"), py::arg("what") = "maps",
          "Raise ValueError naming the first NaN/Inf of maps float32 [C, h, w] (channel, row, column).");
    m.def("upsample", &upsample_py, py::arg("maps"), py::arg("s"),
          "The decode grid, materialised: maps float32 [C, h, w] -> float64 [C, s*h, s*w] (tests and tools).");
    m.def(
        "phase_table",
        [](int s) {
            const PhaseTable t = table_of(s);
            py::array_t<int64_t> first(s);
            py::array_t<double> weights({s, 4});
            for (int p = 0; p < s; ++p) {
                first.mutable_at(p) = t.first[p];
                for (int i = 0; i < 4; ++i) weights.mutable_at(p, i) = t.w[p][i];
            }
            return py::make_tuple(first, weights);
        },
        py::arg("s"), "(first_tap int64 [s], weights float64 [s, 4]) of the bicubic decode grid.");
    m.def(
        "cull_bound", [](int s) { return table_of(s).cull_bound(); }, py::arg("s"),
        "B with |upsampled value| <= B * max |raw value of its 4 x 4 support|.");
}

}  // namespace posefast_bindings
