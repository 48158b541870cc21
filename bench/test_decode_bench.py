"""Decoder speed per backend, per stage and whole, on real dance frames and on
generated crowds of 1-32 people (184x656 maps, the size of a 1472x5248 input or
an x4 upsampled 46x164 map).  Every benchmark asserts its result equals the
reference's, so CI runs them as tests with timing disabled."""

from __future__ import annotations

import numpy as np
import pytest

import posefast as pf
from posefast.synthetic import make_scene

from _compare import assert_same_poses
from _maps import MapMaker, video_frames

COCO = pf.get_layout("coco18")
BACKENDS = [b for b, ok in pf.backends().items() if ok]
FAST = [b for b in BACKENDS if b != "python"]


@pytest.fixture(scope="module")
def dance(model_onnx, dance_mp4):
    maker = MapMaker(model_onnx)
    return [maker(f) for _, f in video_frames(dance_mp4, step=50)]   # 5 frames


def _cycle(items):
    state = {"i": 0}

    def nxt():
        item = items[state["i"] % len(items)]
        state["i"] += 1
        return item

    return nxt


@pytest.mark.parametrize("s", [1, 4])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dance_decode(benchmark, record_result, dance, backend, s):
    cfg = pf.DecodeConfig(upsample=s)
    frames = [(m[:18].copy(), m[19:].copy()) for m in dance]
    nxt = _cycle(frames)
    benchmark.group = f"dance decode x{s}"

    def run():
        hm, pafs = nxt()
        return pf.decode(hm, pafs, backend=backend, config=cfg)

    benchmark(run)
    record_result(benchmark, "dance (1 frame)", f"decode upsample {s}", backend)
    for hm, pafs in frames:
        assert_same_poses(pf.decode(hm, pafs, backend=backend, config=cfg),
                          pf.decode(hm, pafs, backend="python", config=cfg))


@pytest.mark.parametrize("stage", ["peaks", "limbs", "assemble"])
@pytest.mark.parametrize("s", [1, 4])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dance_stages(benchmark, record_result, dance, backend, s, stage):
    cfg = pf.DecodeConfig(upsample=s)
    hm, pafs = dance[2][:18].copy(), dance[2][19:].copy()
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    cands = pf.score_limbs(pafs, pk, backend="python", config=cfg)
    benchmark.group = f"dance {stage} x{s}"
    if stage == "peaks":
        out = benchmark(pf.find_peaks, hm, backend=backend, config=cfg)
        np.testing.assert_array_equal(out.grid, pk.grid)
    elif stage == "limbs":
        out = benchmark(pf.score_limbs, pafs, pk, backend=backend, config=cfg)
        np.testing.assert_array_equal(out.a, cands.a)
        np.testing.assert_array_equal(out.b, cands.b)
    else:
        out = benchmark(pf.assemble, pk, cands, backend=backend, config=cfg)
        assert_same_poses(out, pf.assemble(pk, cands, backend="python", config=cfg))
    record_result(benchmark, "dance (1 frame)", f"{stage} upsample {s}", backend)


@pytest.fixture(scope="module")
def crowds():
    rng = np.random.default_rng(2024)
    out = {}
    for n in (1, 2, 4, 8, 16, 32):
        # people spread over the map, each about 1/5 of its height, as in a wide crowd shot
        out[n] = make_scene(rng, n, 184, 656, size=6.0, margin=-0.05)
    return out


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
@pytest.mark.parametrize("backend", BACKENDS)
def test_crowd_upsample1(benchmark, record_result, crowds, backend, n):
    sc = crowds[n]
    cfg = pf.DecodeConfig(upsample=1)
    benchmark.group = "crowd x1"
    out = benchmark(pf.decode, sc.heatmaps, sc.pafs, backend=backend, config=cfg)
    record_result(benchmark, "crowd 184x656 x1", f"{n:>2} people", backend)
    assert_same_poses(out, pf.decode(sc.heatmaps, sc.pafs, backend="python", config=cfg))
    assert len(out) >= 0.7 * n


@pytest.mark.parametrize("n", [1, 8, 32])
@pytest.mark.parametrize("backend", FAST)
def test_crowd_upsample4(benchmark, record_result, crowds, backend, n):
    """x4 on 184x656 maps (a 736x2624 decode grid): the reference would need minutes,
    so the fast backends are compared with each other and checked for people."""
    sc = crowds[n]
    cfg = pf.DecodeConfig(upsample=4)
    benchmark.group = "crowd x4"
    out = benchmark(pf.decode, sc.heatmaps, sc.pafs, backend=backend, config=cfg)
    record_result(benchmark, "crowd 184x656 x4", f"{n:>2} people", backend)
    for other in FAST:
        assert_same_poses(out, pf.decode(sc.heatmaps, sc.pafs, backend=other, config=cfg))
    assert len(out) >= 0.7 * n


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_threads(benchmark, record_result, dance, threads):
    if "native" not in BACKENDS:
        pytest.skip("native backend not built")
    hm = np.stack([m[:18] for m in dance] * 4)
    pafs = np.stack([m[19:] for m in dance] * 4)
    cfg = pf.DecodeConfig(upsample=4)
    benchmark.group = "native decode_batch (20 frames)"
    out = benchmark(pf.decode_batch, hm, pafs, backend="native", config=cfg, threads=threads)
    record_result(benchmark, "native batch 20 frames", f"threads={threads}", "native")
    for i, p in enumerate(out):
        assert_same_poses(p, pf.decode(hm[i], pafs[i], backend="native", config=cfg))


@pytest.fixture(scope="module")
def tiled(dance):
    """32 dancers: dance frame 0's maps tiled 4 x 8 (184 x 656), issue 8's check_finite case."""
    m = np.tile(dance[0], (1, 4, 8))
    return np.ascontiguousarray(m[:18]), np.ascontiguousarray(m[19:])


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("s", [1, 4])
@pytest.mark.parametrize("backend", FAST)
def test_tiled_check_finite(benchmark, record_result, tiled, backend, s, check):
    """check_finite reads the PAFs only where sampled, so it should cost little
    (issue 8: <= 1.2x the unchecked time); compare the two rows of a backend."""
    hm, pafs = tiled
    cfg = pf.DecodeConfig(upsample=s, check_finite=check)
    benchmark.group = f"tiled 32 dancers x{s}"
    out = benchmark(pf.decode, hm, pafs, backend=backend, config=cfg)
    record_result(benchmark, f"tiled 32 dancers x{s}", f"check_finite={check}", backend)
    assert len(out) >= 30
    assert_same_poses(out, pf.decode(hm, pafs, backend=backend, config=cfg.replace(check_finite=not check)))
    for other in FAST:
        assert_same_poses(out, pf.decode(hm, pafs, backend=other, config=cfg))


@pytest.fixture(scope="module")
def one_thread_opencv():
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield cv2
    cv2.setNumThreads(before)


def _openpose_lower_bound(cv2, maps: np.ndarray, s: int, threshold: float) -> list:
    """Less work than OpenPose's CPU decoder does on the same maps: its resizeAndMergeCpu
    (every channel of the network output, heatmaps, background and PAFs, bicubically resized
    to the x8 grid, one OpenCV call per channel), then one vectorised threshold pass over the
    18 keypoint grids, where its nmsCpu reads every grid value and compares the ones above
    the threshold with 8 neighbours.  Its limb scoring comes on top; so the time of this is
    a lower bound of OpenPose's."""
    h, w = maps.shape[1:]
    grids = [cv2.resize(ch, (w * s, h * s), interpolation=cv2.INTER_CUBIC) for ch in maps]
    above = [g > threshold for g in grids[:18]]
    return grids, above


@pytest.mark.parametrize("what", ["posefast openpose() native", "OpenPose resize + threshold pass"])
def test_openpose_preset_vs_openpose_lower_bound(benchmark, record_result, dance, one_thread_opencv, what):
    """Issue 8: the OpenPose preset against what OpenPose's own CPU decoder must at least
    spend on the same dance maps (one thread each).  The ratio of the two rows is a
    lower bound of the speed-up (RESULTS.md)."""
    cfg = pf.DecodeConfig.openpose()
    frames = [np.ascontiguousarray(m) for m in dance]
    nxt = _cycle(frames)
    benchmark.group = "OpenPose preset vs OpenPose CPU decoder (lower bound)"
    if what.startswith("posefast"):
        if "native" not in BACKENDS:
            pytest.skip("native backend not built")
        out = benchmark(lambda: (lambda m: pf.decode(m[:18], m[19:], backend="native", config=cfg))(nxt()))
        assert isinstance(out, pf.Poses)
        record_result(benchmark, "OpenPose comparison x8", "openpose() decode", "native")
    else:
        grids, above = benchmark(lambda: _openpose_lower_bound(one_thread_opencv, nxt(), cfg.upsample,
                                                               cfg.peak_threshold))
        assert len(grids) == 57 and grids[0].shape == (46 * 8, 82 * 8) and len(above) == 18
        record_result(benchmark, "OpenPose comparison x8", "OpenPose lower bound", "native")
