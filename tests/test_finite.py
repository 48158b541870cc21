"""check_finite reads only what the decoder reads: heatmaps in the peak scan (every
value), PAFs at their sample points (the reference's finiteness rule in
posefast/_reference/limbs.py).  Every backend raises the same error, at the same
stage, for the same maps, and a NaN/Inf no sample reads changes nothing."""

import math

import numpy as np
import pytest

import posefast as pf
from posefast import _reference
from posefast._reference.limbs import allowed_failures

from _compare import assert_same_candidates, assert_same_poses
from _maps import MapMaker, video_frames

BACKENDS = [b for b, ok in pf.backends().items() if ok]
COCO = pf.get_layout("coco18")


@pytest.fixture(scope="module")
def frame(model_onnx, dance_mp4):
    maps = MapMaker(model_onnx)(next(f for _, f in video_frames(dance_mp4)))
    return maps[:18].copy(), maps[19:].copy()


def _errors(call):
    try:
        call()
    except ValueError as exc:
        return str(exc)
    return None


def _far_cell(hm, pafs, cfg):
    """A raw PAF cell no sample of any pair can read: more than 4 cells from every peak's box."""
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    xy = pk.map_xy()
    lo, hi = xy.min(axis=0) - 4, xy.max(axis=0) + 4
    h, w = pafs.shape[1:]
    for y in range(h):
        for x in range(w):
            if not (lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1]):
                return y, x
    pytest.skip("peaks cover the whole map")


@pytest.mark.parametrize("s", [1, 4])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_unread_non_finite_paf_changes_nothing(frame, s, bad):
    hm, pafs = frame
    cfg = pf.DecodeConfig(upsample=s)
    y, x = _far_cell(hm, pafs, cfg)
    dirty = pafs.copy()
    dirty[:, y, x] = bad
    clean = pf.decode(hm, pafs, backend="python", config=cfg)
    assert len(clean) >= 1
    for b in BACKENDS:
        assert_same_poses(pf.decode(hm, dirty, backend=b, config=cfg), clean, f"backend={b}")
        pk = pf.find_peaks(hm, backend=b, config=cfg)
        assert_same_candidates(pf.score_limbs(dirty, pk, backend=b, config=cfg),
                               pf.score_limbs(pafs, pk, backend="python", config=cfg), f"backend={b}")
    # the whole-map scan still sees it
    with pytest.raises(ValueError, match=f"channel 0, row {y}, column {x}"):
        _reference.check_finite(dirty, "pafs")


@pytest.mark.parametrize("s", [1, 4])
def test_read_non_finite_paf_raises_the_same_everywhere(frame, s):
    hm, pafs = frame
    cfg = pf.DecodeConfig(upsample=s)
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    people = pf.decode(hm, pafs, backend="python", config=cfg)
    neck = int(people.peak_ids[0, 1])
    assert neck >= 0, "the dancer's neck is found on frame 0"
    g = int(pk.offsets[1]) + neck
    # Sample 0 of every pair from this neck lies at round(xy + offset); its raw cell is
    # one of the 4x4 taps.  Limb 0 (neck -> right shoulder) reads channels paf[0].
    px = math.floor(pk.xy[g, 0] + cfg.paf_sample_offset + 0.5) // s
    py = math.floor(pk.xy[g, 1] + cfg.paf_sample_offset + 0.5) // s
    cx = COCO.paf_channels[0][0]
    dirty = pafs.copy()
    dirty[cx, py, px] = np.nan
    dirty[0, 0, 0] = np.inf    # the message names the first NaN/Inf of the block in C order
    want = _errors(lambda: _reference.check_finite(dirty, "pafs"))
    assert want is not None and "pafs contain NaN or Inf" in want
    for b in BACKENDS:
        assert _errors(lambda: pf.decode(hm, dirty, backend=b, config=cfg)) == want, b
        pkb = pf.find_peaks(hm, backend=b, config=cfg)
        assert _errors(lambda: pf.score_limbs(dirty, pkb, backend=b, config=cfg)) == want, b
        # unchecked: no error, and the backends still agree
        off = cfg.replace(check_finite=False)
        assert_same_poses(pf.decode(hm, dirty, backend=b, config=off),
                          pf.decode(hm, dirty, backend="python", config=off), f"backend={b}")


def test_heatmap_error_comes_first(frame):
    hm, pafs = frame
    dirty_hm, dirty_paf = hm.copy(), np.full_like(pafs, np.nan)
    dirty_hm[3, 5, 7] = np.inf
    for b in BACKENDS:
        msg = _errors(lambda: pf.decode(dirty_hm, dirty_paf, backend=b))
        assert msg is not None and msg.startswith("heatmaps contain NaN or Inf (first at channel 3, row 5, column 7)"), b


@pytest.mark.parametrize("strict", [True, False])
def test_allowed_failures(strict):
    cfg = pf.DecodeConfig(paf_strict_fraction=strict)
    # 0.95: 20 samples pass only with 0 failures when strict (19/20 = 0.95 is not > 0.95)
    assert allowed_failures(20, cfg) == (0 if strict else 1)
    assert allowed_failures(25, cfg) == 1
    assert allowed_failures(10, cfg.replace(paf_min_above=1.0)) == (-1 if strict else 0)
    assert allowed_failures(10, cfg.replace(paf_min_above=0.0)) == 9


@pytest.mark.parametrize("sample0_passes", [True, False])
def test_far_sample_read_only_while_the_pair_can_pass(sample0_passes):
    """The read order's first stop: a pair whose sample 0 already fails more than
    allowed(n) never reads sample n-1, so a NaN there raises only when sample 0
    passes (the same in every backend)."""
    hm = np.zeros((18, 30, 30), np.float32)
    hm[1, 10, 5] = 1.0     # neck A at (5, 10)
    hm[2, 10, 20] = 1.0    # right shoulder B at (20, 10): limb 0 alone has a pair
    cfg = pf.DecodeConfig(upsample=1)
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    (ax, ay), (bx, by) = pk.xy[pk.offsets[1]], pk.xy[pk.offsets[2]]
    dx, dy = bx - ax, by - ay
    n = int(min(max(math.floor(math.sqrt(5.0 * max(abs(dx), abs(dy))) + 0.5), cfg.paf_min_samples),
                cfg.paf_max_samples))
    assert allowed_failures(n, cfg) == 0

    def cell(i):
        o = cfg.paf_sample_offset
        return (math.floor(ay + o + i * (dy / n) + 0.5), math.floor(ax + o + i * (dx / n) + 0.5))

    cx, cy = COCO.paf_channels[0]
    pafs = np.zeros((38, 30, 30), np.float32)
    pafs[cx] = 1.0                                    # along A -> B: every sample passes
    if not sample0_passes:
        pafs[cx][cell(0)] = -1.0
    assert cell(n - 1) not in {cell(i) for i in range(n - 1)}
    dirty = pafs.copy()
    dirty[cx][cell(n - 1)] = np.nan
    want = _errors(lambda: _reference.check_finite(dirty, "pafs")) if sample0_passes else None
    for b in BACKENDS:
        pkb = pf.find_peaks(hm, backend=b, config=cfg)
        assert _errors(lambda: pf.score_limbs(dirty, pkb, backend=b, config=cfg)) == want, b
        assert _errors(lambda: pf.decode(hm, dirty, backend=b, config=cfg)) == want, b
        if not sample0_passes:
            got = pf.score_limbs(dirty, pkb, backend=b, config=cfg)
            assert_same_candidates(got, pf.score_limbs(pafs, pk, backend="python", config=cfg), b)
            assert len(got.a) == 0, b
    if sample0_passes:
        assert len(pf.score_limbs(pafs, pk, backend="python", config=cfg).a) == 1


@pytest.mark.parametrize("s", [2, 4, 8])
def test_unchecked_nan_beside_peaks_same_peaks(frame, s):
    """Unchecked NaN two or three raw cells from each peak: its bicubic taps reach the
    grid values at or just beside some peaks (a NaN neighbour is never below, so that
    peak goes, and the NaN region's edge can leave new maxima),
    and NaN far from any peak lies where no value reaches the threshold.  Every backend
    finds the reference's peaks."""
    hm, _ = frame
    cfg = pf.DecodeConfig(upsample=s, check_finite=False)
    clean = pf.find_peaks(hm, backend="python", config=cfg)
    dirty = hm.copy()
    k_of = np.repeat(np.arange(hm.shape[0]), np.diff(clean.offsets))
    for n, (k, (x, y)) in enumerate(zip(k_of, clean.grid)):
        dx, dy = [(3, 0), (0, 2), (-2, 0), (0, -3)][n % 4]
        i = min(max(y // s + dy, 0), hm.shape[1] - 1)
        j = min(max(x // s + dx, 0), hm.shape[2] - 1)
        dirty[k, i, j] = np.nan
    dirty[:, 0, -1] = np.nan
    ref = pf.find_peaks(dirty, backend="python", config=cfg)
    assert not np.array_equal(ref.grid, clean.grid), "the NaN must change the peaks"
    assert len(ref.scores) > 0
    for b in BACKENDS:
        got = pf.find_peaks(dirty, backend=b, config=cfg)
        np.testing.assert_array_equal(got.offsets, ref.offsets, err_msg=b)
        np.testing.assert_array_equal(got.grid, ref.grid, err_msg=b)
        np.testing.assert_array_equal(got.scores, ref.scores, err_msg=b)
        np.testing.assert_array_equal(got.xy, ref.xy, err_msg=b)
