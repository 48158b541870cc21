"""The reference decoder's rules, one by one, on maps built by hand or with known truth.

The other backends are compared against the reference (test_parity.py); these tests
pin down that the reference itself does what its docstrings say."""

import cv2
import numpy as np
import pytest

import posefast as pf
from posefast import _reference as R
from posefast._reference.upsample import cull_bound, phase_table, upsample
from posefast.synthetic import make_scene
from posefast.types import LimbCandidates

COCO = pf.get_layout("coco18")


def _one_channel(grid):
    return np.asarray(grid, np.float32)[None]


def test_plateau_gives_first_raster_position():
    g = np.zeros((6, 7), np.float32)
    g[2:4, 3:5] = 0.8
    pk = R.find_peaks(_one_channel(g), pf.DecodeConfig(upsample=1, refine_radius=0))
    assert pk.grid.tolist() == [[3, 2]]


def test_threshold_is_strict():
    g = np.zeros((5, 5), np.float32)
    g[2, 2] = 0.25                          # exactly representable: equal is not above
    g[0, 0] = np.nextafter(np.float32(0.25), np.float32(1))
    pk = R.find_peaks(_one_channel(g), pf.DecodeConfig(upsample=1, peak_threshold=0.25))
    assert pk.grid.tolist() == [[0, 0]]


def test_peak_cap_keeps_highest_then_raster_order():
    g = np.zeros((20, 20), np.float32)
    g[::2, ::2] = 0.5                      # 100 isolated peaks of equal value
    g[10, 10] = 0.9
    pk = R.find_peaks(_one_channel(g), pf.DecodeConfig(upsample=1, max_peaks=7, refine_radius=0))
    assert len(pk) == 7
    assert pk.grid[0].tolist() == [10, 10]
    assert pk.grid[1:].tolist() == [[0, 0], [2, 0], [4, 0], [6, 0], [8, 0], [10, 0]]
    assert np.all(np.diff(pk.scores) <= 0)


def test_refinement_is_positive_weighted_centroid():
    g = np.zeros((5, 5), np.float32)
    g[2, 2], g[2, 3], g[1, 2] = 1.0, 0.5, -0.3   # negative neighbour ignored
    pk = R.find_peaks(_one_channel(g), pf.DecodeConfig(upsample=1, refine_radius=1))
    np.testing.assert_allclose(pk.xy[0], [2 + 0.5 / 1.5, 2.0])


@pytest.mark.parametrize("ipp", [False, True], ids=["opencv-own-code", "ipp"])
@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_upsample_matches_opencv_bicubic(s, ipp):
    """Both of OpenCV's float32 INTER_CUBIC resizes (its own code, and Intel IPP's where the build
    has it) agree with the float64 grid to float32 rounding (values up to ~3.6 here); at s = 3
    OpenCV's own code rounds the non-dyadic phases to float first, so it is looser there."""
    rng = np.random.default_rng(s)
    maps = rng.normal(size=(2, 9, 13)).astype(np.float32)
    ours = upsample(maps, s)
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(ipp)
    try:
        for c in range(2):
            cv = cv2.resize(maps[c], (13 * s, 9 * s), interpolation=cv2.INTER_CUBIC)
            np.testing.assert_allclose(ours[c], cv, rtol=0, atol=1e-6 if s != 3 else 1e-5)
    finally:
        cv2.ipp.setUseIPP(before)


@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_cull_bound_holds(s):
    rng = np.random.default_rng(10 + s)
    maps = rng.uniform(-1, 1, size=(20, 6, 6)).astype(np.float32)
    up = upsample(maps, s)
    assert np.abs(up).max() <= cull_bound(s) * np.abs(maps).max()
    first, w = phase_table(s)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert first.min() >= -2 and first.max() <= -1


def _candidates(per_limb):
    """LimbCandidates from {limb: [(a, b, score), ...]} (already in greedy order)."""
    offsets, a, b, s = [0], [], [], []
    for l in range(COCO.num_limbs):
        rows = per_limb.get(l, [])
        for ia, ib, sc in rows:
            a.append(ia), b.append(ib), s.append(sc)
        offsets.append(len(s))
    return LimbCandidates(np.asarray(offsets, np.int64), np.asarray(a, np.int32),
                          np.asarray(b, np.int32), np.asarray(s, np.float64))


def _peaks_one_each(count=2):
    """count peaks for every keypoint, at distinct positions."""
    k = COCO.num_keypoints
    hm = np.zeros((k, 40, 40), np.float32)
    for j in range(k):
        for i in range(count):
            hm[j, 2 + 2 * j, 2 + 20 * i] = 0.9 - 0.1 * i
    return R.find_peaks(hm, pf.DecodeConfig(upsample=1, refine_radius=0))


def test_fill_only_limbs_never_start_people():
    pk = _peaks_one_each()
    cfg = pf.DecodeConfig(upsample=1, min_parts=1, min_person_score=0.0)
    rsho_rear = COCO.limbs.index((2, 16))
    poses = R.assemble(pk, _candidates({rsho_rear: [(0, 0, 0.9)]}), COCO, cfg)
    assert len(poses) == 0
    neck_rsho = COCO.limbs.index((1, 2))
    poses = R.assemble(pk, _candidates({neck_rsho: [(0, 0, 0.9)], rsho_rear: [(0, 0, 0.9)]}), COCO, cfg)
    assert len(poses) == 1 and poses.peak_ids[0, 16] == 0 and poses.num_parts[0] == 3


def test_greedy_matching_and_no_shared_peaks():
    pk = _peaks_one_each()
    cfg = pf.DecodeConfig(upsample=1, min_parts=2, min_person_score=0.0)
    l = COCO.limbs.index((1, 2))
    # Both necks want shoulder 0; the better candidate takes it, neck 1 gets shoulder 1.
    cands = _candidates({l: [(0, 0, 0.9), (1, 0, 0.8), (1, 1, 0.5), (0, 1, 0.4)]})
    poses = R.assemble(pk, cands, COCO, cfg)
    pairs = sorted((int(p[1]), int(p[2])) for p in poses.peak_ids)
    assert pairs == [(0, 0), (1, 1)]
    # Person score: (peak a + peak b + limb) / parts, highest first.
    np.testing.assert_allclose(poses.scores, [(0.9 + 0.9 + 0.9) / 2, (0.8 + 0.8 + 0.5) / 2], rtol=1e-6)


def test_person_filter():
    pk = _peaks_one_each()
    l = COCO.limbs.index((1, 2))
    cands = _candidates({l: [(0, 0, 0.9)]})
    assert len(R.assemble(pk, cands, COCO, pf.DecodeConfig(min_parts=3))) == 0
    assert len(R.assemble(pk, cands, COCO, pf.DecodeConfig(min_parts=2, min_person_score=0.4))) == 1
    assert len(R.assemble(pk, cands, COCO, pf.DecodeConfig(min_parts=2, min_person_score=1.4))) == 0


@pytest.mark.parametrize("s", [1, 4])
def test_separated_people_are_recovered(s):
    rng = np.random.default_rng(7)
    centres = np.array([[x, y] for y in (6, 34) for x in (12, 40, 68)], float)
    for _ in range(3):
        sc = make_scene(rng, len(centres), 64, 84, size=3.5, centres=centres)
        poses = pf.decode(sc.heatmaps, sc.pafs, backend="python", config=pf.DecodeConfig(upsample=s))
        assert len(poses) == len(centres)
        # Match each found person to the truth by neck position.
        for p in range(len(poses)):
            neck = poses.keypoints[p, 1, :2]
            t = np.argmin(np.linalg.norm(sc.keypoints[:, 1, :2] - neck, axis=1))
            truth = sc.keypoints[t]
            found = poses.peak_ids[p] >= 0
            visible = truth[:, 2] > 0
            assert found[visible].mean() >= 0.85
            err = np.linalg.norm(poses.keypoints[p, found, :2] - truth[found, :2], axis=1)
            assert err.max() < (0.6 if s == 1 else 0.35), err


def test_scale_maps_to_image_pixels():
    rng = np.random.default_rng(3)
    sc = make_scene(rng, 2, 40, 50, size=4, margin=-0.2)
    base = pf.decode(sc.heatmaps, sc.pafs, backend="python")
    scaled = pf.decode(sc.heatmaps, sc.pafs, backend="python", scale=(8, 4))
    present = base.peak_ids >= 0
    np.testing.assert_allclose(scaled.keypoints[..., 0][present], (base.keypoints[..., 0][present] + 0.5) * 8 - 0.5, rtol=1e-6)
    np.testing.assert_allclose(scaled.keypoints[..., 1][present], (base.keypoints[..., 1][present] + 0.5) * 4 - 0.5, rtol=1e-6)
    assert np.all(scaled.keypoints[~present] == 0)
