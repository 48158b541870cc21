"""DecodeConfig.openpose() and OpenPose's connection rules (issue 8): every rule is a
field, every backend gives the reference's answer with the preset on generated maps of
all three layouts and on the shared model's maps, and each rule does what
src/posefast/_reference/limbs.py / assemble.py / peaks.py say."""

import numpy as np
import pytest

import posefast as pf
from posefast.synthetic import make_scene
from posefast.types import LimbCandidates, Peaks

from _compare import assert_same_candidates, assert_same_peaks, assert_same_poses
from _maps import MapMaker, video_frames

BACKENDS = [b for b, ok in pf.backends().items() if ok]


def test_preset_fields():
    c = pf.DecodeConfig.openpose()
    assert (c.upsample, c.effective_refine_radius, c.peak_border, c.max_peaks) == (8, 3, 1, 127)
    assert (c.paf_sample_far_end, c.paf_sample_offset, c.paf_strict_fraction) == (False, 0.5, True)
    assert c.paf_close_fraction == 1.0 / 150.0 and c.fill_only_shares and c.merge_fragments == 0.0
    assert (c.peak_threshold, c.paf_threshold, c.paf_min_above, c.min_parts, c.min_person_score) == \
        (0.05, 0.05, 0.95, 3, 0.4)
    m = pf.DecodeConfig.openpose("mpi")
    assert (m.peak_threshold, m.paf_threshold) == (0.6, 0.01)
    assert pf.DecodeConfig.openpose("body25", upsample=4).upsample == 4
    d = pf.DecodeConfig()
    # the default shares the connection rules, keeps x4 and peaks on the border
    assert (d.upsample, d.peak_border, d.paf_sample_far_end, d.paf_sample_offset, d.paf_strict_fraction,
            d.fill_only_shares) == (4, 0, False, 0.5, True, True)
    with pytest.raises(TypeError, match="paf_sample_far_end"):
        pf.DecodeConfig(paf_sample_far_end=1)
    with pytest.raises(ValueError, match="paf_close_fraction"):
        pf.DecodeConfig(paf_close_fraction=2.0)
    with pytest.raises(ValueError, match="peak_border"):
        pf.DecodeConfig(peak_border=-1)
    assert c.peak_ring_ties and not d.peak_ring_ties
    assert c.peak_raster_order and not d.peak_raster_order
    assert c.peak_strict_nms and not d.peak_strict_nms
    with pytest.raises(ValueError, match="peak_strict_nms does not go with single_person_mode"):
        pf.DecodeConfig.single_person().replace(peak_strict_nms=True)
    with pytest.raises(ValueError, match="peak_raster_order does not go with single_person_mode"):
        pf.DecodeConfig.single_person().replace(peak_raster_order=True)
    with pytest.raises(ValueError, match="peak_ring_ties needs peak_border=1"):
        pf.DecodeConfig(peak_ring_ties=True)
    with pytest.raises(TypeError, match="peak_ring_ties"):
        pf.DecodeConfig(peak_ring_ties=1, peak_border=1)


def _peak_set(pk, k=0):
    return {tuple(p) for p in pk.grid[pk.offsets[k]:pk.offsets[k + 1]].tolist()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ring_next_to_the_border(backend):
    """OpenPose's NMS kernel (nmsBase.cpp): rows/columns 1 and H-2/W-2, and the edge cells
    beside the corners, take ties (>=); the rest of the border never holds a peak."""
    hm = np.zeros((18, 8, 8), np.float32)
    hm[0, 1, 3] = hm[0, 1, 4] = 0.5     # a tie on row 1: both are peaks
    hm[0, 1, 0] = 0.7                   # (x 0, y 1): an edge cell of the ring
    hm[0, 6, 7] = 0.6                   # (x 7, y 6): likewise, at the other side
    hm[0, 3, 7] = 0.8                   # outermost column, not on the ring: never a peak
    hm[0, 4, 4] = hm[0, 4, 5] = 0.55    # inside: a plateau, no peak (strict NMS; default: its first cell)
    hm[1, 0, 1] = 0.9                   # (x 1, y 0): ring; it also suppresses (x 1, y 1) ...
    hm[1, 1, 1] = 0.4                   # ... a ring cell below a higher neighbour
    cfg = pf.DecodeConfig.openpose(upsample=1, refine_radius=0)
    pk = pf.find_peaks(hm, backend=backend, config=cfg)
    assert _peak_set(pk, 0) == {(0, 1), (3, 1), (4, 1), (7, 6)}
    assert _peak_set(pk, 1) == {(1, 0)}
    strict = pf.find_peaks(hm, backend=backend, config=cfg.replace(peak_ring_ties=False))
    assert _peak_set(strict, 0) == set() and _peak_set(strict, 1) == set()
    plain = pf.find_peaks(hm, backend=backend, config=cfg.replace(peak_ring_ties=False, peak_strict_nms=False))
    assert _peak_set(plain, 0) == {(3, 1), (4, 4)} and _peak_set(plain, 1) == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_raster_order_keeps_the_first_peaks(backend):
    """OpenPose (nmsBase.cpp) lists a keypoint's peaks in raster order and stops at
    max_peaks; the default lists the highest first and keeps the highest."""
    hm = np.zeros((18, 12, 12), np.float32)
    for i, (x, y) in enumerate([(3, 2), (8, 2), (3, 6), (8, 9)]):
        hm[0, y, x] = 0.2 + 0.1 * i          # later in raster order = higher
    cfg = pf.DecodeConfig.openpose(upsample=1, refine_radius=0, max_peaks=3)
    pk = pf.find_peaks(hm, backend=backend, config=cfg)
    assert pk.grid.tolist() == [[3, 2], [8, 2], [3, 6]]
    best = pf.find_peaks(hm, backend=backend, config=cfg.replace(peak_raster_order=False))
    assert best.grid.tolist() == [[8, 9], [3, 6], [8, 2]]


@pytest.mark.parametrize("s", [1, 2, 4])
def test_strict_nms_parity_on_quantised_maps(s):
    """Quantised maps (as an int8 network gives) hold exact ties; every backend drops the
    same plateaus as the reference under OpenPose's strict test, and there are some."""
    rng = np.random.default_rng(5)
    cfg = pf.DecodeConfig.openpose(upsample=s)
    dropped = 0
    for trial in range(6):
        sc = make_scene(rng, 5, 24, 32, noise=0.02, margin=0.2)
        hm = (np.round(sc.heatmaps * 16) / 16).astype(np.float32)   # 1/16 steps: plateaus
        ref = pf.find_peaks(hm, backend="python", config=cfg)
        loose = pf.find_peaks(hm, backend="python", config=cfg.replace(peak_strict_nms=False))
        dropped += len(loose.scores) - len(ref.scores)
        for b in BACKENDS:
            assert_same_peaks(pf.find_peaks(hm, backend=b, config=cfg), ref, f"s={s} trial {trial} backend={b}")
    assert dropped > 0


@pytest.mark.parametrize("s", [4, 8])
def test_ring_parity_upsampled(s):
    """Every backend finds the reference's ring peaks on the upsampled grid (people cut by
    the border), and there are some."""
    rng = np.random.default_rng(8)
    cfg = pf.DecodeConfig.openpose(upsample=s)
    ring = 0
    for trial in range(8):
        sc = make_scene(rng, 8, 24, 32, noise=0.02 * (trial % 2), margin=0.3, sigma=1.5)
        ref = pf.find_peaks(sc.heatmaps, backend="python", config=cfg)
        gh, gw = ref.grid_shape
        x, y = ref.grid[:, 0], ref.grid[:, 1]
        ring += int(np.sum(np.isin(x, (0, 1, gw - 2, gw - 1)) | np.isin(y, (0, 1, gh - 2, gh - 1))))
        for b in BACKENDS:
            assert_same_peaks(pf.find_peaks(sc.heatmaps, backend=b, config=cfg), ref, f"trial {trial} backend={b}")
    assert ring >= 1, ring


@pytest.mark.parametrize("layout", ["coco18", "body25", "mpi15"])
def test_preset_parity_generated(layout):
    rng = np.random.default_rng({"coco18": 1, "body25": 2, "mpi15": 3}[layout])
    cfg = pf.DecodeConfig.openpose(layout, upsample=2)   # x8 on the reference takes long; rules are the same
    if layout == "mpi15":
        cfg = cfg.replace(peak_threshold=0.3)           # generated peaks are lower than a real MPI net's
    for trial in range(4):
        sc = make_scene(rng, int(rng.integers(1, 6)), 30, 40, layout=layout, noise=0.02 * trial, margin=-0.05)
        ref = pf.decode(sc.heatmaps, sc.pafs, layout=layout, backend="python", config=cfg)
        for b in BACKENDS:
            assert_same_poses(pf.decode(sc.heatmaps, sc.pafs, layout=layout, backend=b, config=cfg), ref,
                              f"{layout} trial {trial} backend={b}")


@pytest.fixture(scope="module")
def frame(model_onnx, dance_mp4):
    maps = MapMaker(model_onnx)(next(f for _, f in video_frames(dance_mp4)))
    return maps[:18].copy(), maps[19:].copy()


def test_preset_parity_real_x8(frame):
    hm, pafs = frame
    cfg = pf.DecodeConfig.openpose()
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    assert pk.grid[:, 0].min() >= 1 and pk.grid[:, 0].max() <= 8 * hm.shape[2] - 2
    cands = pf.score_limbs(pafs, pk, backend="python", config=cfg)
    ref = pf.assemble(pk, cands, backend="python", config=cfg)
    assert len(ref) >= 1
    for b in BACKENDS:
        assert_same_peaks(pf.find_peaks(hm, backend=b, config=cfg), pk, f"backend={b}")
        assert_same_candidates(pf.score_limbs(pafs, pk, backend=b, config=cfg), cands, f"backend={b}")
        assert_same_poses(pf.decode(hm, pafs, backend=b, config=cfg), ref, f"backend={b}")


def _one_limb(xa, xb, field, grid=(40, 40)):
    """Peaks A (keypoint 0) and B (keypoint 1) of a one-limb layout, on a PAF field [2, H, W]."""
    lay = pf.Layout(name="one", keypoints=("a", "b"), limbs=((0, 1),), paf_channels=((0, 1),))
    xy = np.array([xa, xb], np.float64)
    peaks = Peaks(offsets=np.array([0, 1, 2]), grid=np.floor(xy).astype(np.int32), xy=xy,
                  scores=np.array([0.9, 0.9]), upsample=1, grid_shape=grid)
    return lay, peaks, field.astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_far_end_and_offset(backend):
    # A = (5, 10), B = (25, 10): n = round(sqrt(100)) = 10 samples.  The PAF points along
    # +x only on columns 6..25: with OpenPose's rules samples sit at round(5.5 + 2i + 0.5),
    # columns 6, 8, .., 24 (all pass); with both ends from the peak itself, column 5
    # (t = 0) fails and 1 of 10 fails the 95 % test.
    pafs = np.zeros((2, 40, 40))
    pafs[0, :, 6:26] = 1.0
    lay, peaks, pafs = _one_limb((5.0, 10.0), (25.0, 10.0), pafs)
    cfg = pf.DecodeConfig(upsample=1, paf_sample_offset=0.5)
    got = pf.score_limbs(pafs, peaks, layout=lay, backend=backend, config=cfg)
    assert got.scores.tolist() == [1.0]
    old = cfg.replace(paf_sample_far_end=True, paf_sample_offset=0.0)
    assert len(pf.score_limbs(pafs, peaks, layout=lay, backend=backend, config=old).scores) == 0
    # only the far end spoilt: OpenPose never samples it
    pafs2 = np.zeros((2, 40, 40), np.float32)
    pafs2[0, :, :25] = 1.0
    assert len(pf.score_limbs(pafs2, peaks, layout=lay, backend=backend, config=cfg).scores) == 1
    assert len(pf.score_limbs(pafs2, peaks, layout=lay, backend=backend,
                              config=cfg.replace(paf_sample_far_end=True)).scores) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_close_pairs_and_strict_fraction(backend):
    zero = np.zeros((2, 40, 40))
    lay, peaks, pafs = _one_limb((10.0, 10.0), (10.0, 10.2), zero)   # 0.2 < sqrt(1600)/150 = 0.267
    cfg = pf.DecodeConfig(upsample=1)
    got = pf.score_limbs(pafs, peaks, layout=lay, backend=backend, config=cfg)
    assert got.scores.tolist() == [0.05 + 1e-6]
    assert len(pf.score_limbs(pafs, peaks, layout=lay, backend=backend,
                              config=cfg.replace(paf_close_fraction=0.0)).scores) == 0
    lay, peaks, pafs = _one_limb((10.0, 10.0), (10.0, 10.3), zero)   # 0.3: not close
    assert len(pf.score_limbs(pafs, peaks, layout=lay, backend=backend, config=cfg).scores) == 0
    # 19 of 20 samples passing: 0.95 is not > 0.95 (strict) but is >= 0.95
    f = np.zeros((2, 40, 100))
    lay, peaks, _ = _one_limb((0.0, 5.0), (80.0, 5.0), f, grid=(40, 100))
    f[0] = 1.0
    # n = round(sqrt(400)) = 20; sample i at column round(0.5 + 4i + 0.5) = 4i + 1; spoil i = 7
    f[0, :, 29] = -1.0
    cfg = cfg.replace(paf_sample_offset=0.5)
    got = pf.score_limbs(f.astype(np.float32), peaks, layout=lay, backend=backend, config=cfg)
    assert len(got.scores) == 0
    loose = cfg.replace(paf_strict_fraction=False)
    assert len(pf.score_limbs(f.astype(np.float32), peaks, layout=lay, backend=backend, config=loose).scores) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_shared_ear_fill(backend):
    """Person 0 gets ear 0 through a tree limb (neck -> ear); the fill-only
    shoulder -> ear limb then offers ear 0 to person 1's shoulder.  OpenPose's rule
    shares it (no score, no count); the old rule leaves person 1 without an ear."""
    lay = pf.Layout(name="ear", keypoints=("neck", "shoulder", "ear", "hip"),
                    limbs=((0, 1), (0, 3), (0, 2), (1, 2)), paf_channels=((0, 1), (2, 3), (4, 5), (6, 7)),
                    fill_only=frozenset({3}))
    xy = np.array([[10, 10], [30, 10], [10, 5], [30, 5], [20, 2], [10, 20], [30, 20]], np.float64)
    peaks = Peaks(offsets=np.array([0, 2, 4, 5, 7]), grid=xy.astype(np.int32), xy=xy,
                  scores=np.full(7, 0.9), upsample=1, grid_shape=(40, 40))
    cands = LimbCandidates(offsets=np.array([0, 2, 4, 5, 6]), a=np.array([0, 1, 0, 1, 0, 1], np.int32),
                           b=np.array([0, 1, 0, 1, 0, 0], np.int32),
                           scores=np.array([0.9, 0.8, 0.9, 0.8, 0.9, 0.9]))
    cfg = pf.DecodeConfig(upsample=1, merge_fragments=0.0)
    got = pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg)
    assert got.peak_ids[:, 2].tolist() == [0, 0]
    assert np.allclose(got.scores, [6.3 / 4, 4.3 / 3])   # the shared ear adds no score and no count
    old = pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg.replace(fill_only_shares=False))
    assert old.peak_ids[:, 2].tolist() == [0, -1]
    assert np.allclose(old.scores, [6.3 / 4, 4.3 / 3])
    for c in (cfg, cfg.replace(fill_only_shares=False), cfg.replace(merge_fragments=0.4)):
        assert_same_poses(pf.assemble(peaks, cands, layout=lay, backend=backend, config=c),
                          pf.assemble(peaks, cands, layout=lay, backend="python", config=c))


def _chain(with_a: bool):
    """People on a 7-keypoint chain: A holds keypoints 0..6 (if with_a), B holds 2..6."""
    lay = pf.Layout(name="chain", keypoints=tuple("abcdefg"), limbs=tuple((k, k + 1) for k in range(6)),
                    paf_channels=tuple((2 * k, 2 * k + 1) for k in range(6)))
    counts = [1, 1, 2, 2, 2, 2, 2]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    m = int(offsets[-1])
    xy = np.stack([np.arange(m, dtype=np.float64) * 3, np.arange(m, dtype=np.float64)], axis=1)
    peaks = Peaks(offsets=offsets, grid=xy.astype(np.int32), xy=xy, scores=np.full(m, 0.9), upsample=1,
                  grid_shape=(80, 80))
    a, b, off = [], [], [0]
    for l in range(6):
        rows = ([(0, 0)] if with_a else []) + ([(1, 1)] if l >= 2 else [])
        if l == 1 and not with_a:
            rows = []
        a += [r[0] for r in rows]
        b += [r[1] for r in rows]
        off.append(len(a))
    cands = LimbCandidates(offsets=np.array(off), a=np.array(a, np.int32), b=np.array(b, np.int32),
                           scores=np.full(len(a), 0.8))
    return lay, peaks, cands


@pytest.mark.parametrize("backend", BACKENDS)
def test_uncounted_keypoints(backend):
    cfg = pf.DecodeConfig(upsample=1, merge_fragments=0.0, uncounted_keypoints=(5, 6))
    lay, peaks, cands = _chain(True)
    got = pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg)
    # A: 7 keypoints, 5 counted -> kept; B: 5 keypoints, 3 counted (<= 4 with feet) -> dropped
    assert len(got) == 1 and (got.peak_ids[0] >= 0).all()
    assert np.isclose(got.scores[0], (0.9 * 7 + 0.8 * 6) / 5)
    assert len(pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg.replace(uncounted_keypoints=()))) == 2
    # B alone: nobody passes with the rule, so the filter reruns without it
    lay, peaks, cands = _chain(False)
    got = pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg)
    assert len(got) == 1 and np.isclose(got.scores[0], (0.9 * 5 + 0.8 * 4) / 5)
    for with_a in (True, False):
        lay, peaks, cands = _chain(with_a)
        assert_same_poses(pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg),
                          pf.assemble(peaks, cands, layout=lay, backend="python", config=cfg))
    assert pf.DecodeConfig.openpose("body25").uncounted_keypoints == (19, 20, 21, 22, 23, 24)
    with pytest.raises(ValueError, match="uncounted_keypoints"):
        pf.DecodeConfig(uncounted_keypoints=(64,))
