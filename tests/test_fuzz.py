"""Defects found by fuzzing the decoder (issue 8, item 6), one regression test each,
the work bounds of DecodeConfig, and a bounded property test: random configs over
hostile maps made from real dance frames, every backend bit-identical to the
reference at every stage."""

import importlib
import math

import numpy as np
import pytest

import posefast as pf
from posefast.types import LimbCandidates, Peaks

from _maps import MapMaker, video_frames

decode_mod = importlib.import_module("posefast.decode")   # the module (pf.decode is the function)
COCO = pf.get_layout("coco18")
ALL = [b for b, ok in pf.backends().items() if ok]


@pytest.fixture(scope="module")
def dance(model_onnx, dance_mp4):
    """(heatmaps float32 [18, h, w], pafs float32 [38, h, w]) of dance frames 0 and 180."""
    maker = MapMaker(model_onnx)
    maps = {i: maker(f) for i, f in video_frames(dance_mp4) if i in (0, 180)}
    return [(m[:18].copy(), m[19:].copy()) for _, m in sorted(maps.items())]


def _exact_poses(got, want, where):
    assert len(got) == len(want), f"{len(got)} people vs {len(want)} {where}"
    np.testing.assert_array_equal(got.peak_ids, want.peak_ids, err_msg=where)
    np.testing.assert_array_equal(got.keypoints, want.keypoints, err_msg=where)
    np.testing.assert_array_equal(got.scores, want.scores, err_msg=where)


def _exact_peaks(got, want, where):
    for f in ("offsets", "grid", "xy", "scores"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f"{f} {where}")
    assert tuple(got.grid_shape) == tuple(want.grid_shape), where


def _exact_candidates(got, want, where):
    for f in ("offsets", "a", "b", "scores"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f"{f} {where}")


# --- one regression test per defect -----------------------------------------------

@pytest.mark.parametrize("backend", ALL)
def test_negative_zero_threshold_finds_the_peaks_of_zero(backend, dance):
    hm, paf = dance[0]
    cfg_neg, cfg_pos = pf.DecodeConfig(peak_threshold=-0.0, upsample=2), pf.DecodeConfig(peak_threshold=0.0, upsample=2)
    assert math.copysign(1.0, cfg_neg.peak_threshold) == 1.0 and cfg_neg == cfg_pos
    want = pf.decode(hm, paf, backend="python", config=cfg_pos)
    assert len(want) >= 1
    # -0.0 first, then 0.0: a per-config cache must not hand the second call the first's (wrong) answer.
    _exact_poses(pf.decode(hm, paf, backend=backend, config=cfg_neg), want, f"{backend} -0.0")
    _exact_poses(pf.decode(hm, paf, backend=backend, config=cfg_pos), want, f"{backend} 0.0")


def test_numba_cutoff_bits_ignore_the_sign_of_zero():
    pytest.importorskip("numba")
    from posefast._numba.upsample import cull_cutoff_bits, vertical_cutoff

    for s in (2, 4, 8):
        assert cull_cutoff_bits(-0.0, s) == cull_cutoff_bits(0.0, s) == 1
        assert math.copysign(1.0, vertical_cutoff(-0.0, s)) == 1.0


@pytest.mark.parametrize("backend", ALL)
def test_unaligned_maps_decode_like_aligned_ones(backend, dance):
    hm, paf = dance[1]

    def unaligned(a):
        u = np.frombuffer(bytearray(a.nbytes + 1), np.uint8)[1:].view(np.float32).reshape(a.shape)
        u[...] = a
        assert not u.flags.aligned
        return u

    want = pf.decode(hm, paf, backend="python")
    _exact_poses(pf.decode(unaligned(hm), unaligned(paf), backend=backend), want, backend)
    pk = pf.find_peaks(unaligned(hm), backend=backend)
    _exact_peaks(pk, pf.find_peaks(hm, backend="python"), backend)
    _exact_candidates(pf.score_limbs(unaligned(paf), pk, backend=backend),
                      pf.score_limbs(paf, pk, backend="python"), backend)
    batch = pf.decode_batch(unaligned(np.stack([hm, hm])), unaligned(np.stack([paf, paf])), backend=backend)
    _exact_poses(batch[1], want, f"{backend} batch")


def test_aligned_maps_are_not_copied(dance):
    hm, _ = dance[0]
    assert decode_mod._as_maps(hm, "heatmaps", 3) is hm
    u = np.frombuffer(bytearray(hm.nbytes + 1), np.uint8)[1:].view(np.float32).reshape(hm.shape)
    fixed = decode_mod._as_maps(u, "heatmaps", 3)
    assert fixed is not u and fixed.flags.aligned and fixed.flags.c_contiguous


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("h, w", [(0, 7), (7, 0), (0, 0)])
def test_zero_size_maps_give_empty_stages(backend, h, w):
    """Decided behaviour: no position, no peak, no candidate, no person (never an error)."""
    cfg = pf.DecodeConfig(upsample=2)
    pk = pf.find_peaks(np.zeros((19, h, w), np.float32), backend=backend, config=cfg)
    assert pk.offsets.tolist() == [0] * 19 and pk.xy.shape == (0, 2) and tuple(pk.grid_shape) == (2 * h, 2 * w)
    cands = pf.score_limbs(np.zeros((38, h, w), np.float32), pk, backend=backend, config=cfg)
    assert cands.offsets.tolist() == [0] * 20
    assert len(pf.assemble(pk, cands, backend=backend, config=cfg)) == 0


def _stages(dance, cfg):
    hm, paf = dance[0]
    pk = pf.find_peaks(hm, backend="python", config=cfg)
    return paf, pk, pf.score_limbs(paf, pk, backend="python", config=cfg)


def _peaks_with(pk, **changes):
    fields = dict(offsets=pk.offsets, grid=pk.grid, xy=pk.xy, scores=pk.scores, upsample=pk.upsample,
                  grid_shape=pk.grid_shape)
    fields.update(changes)
    return Peaks(**fields)


def _cands_with(c, **changes):
    fields = dict(offsets=c.offsets, a=c.a, b=c.b, scores=c.scores)
    fields.update(changes)
    return LimbCandidates(**fields)


@pytest.mark.parametrize("backend", ALL)
def test_hand_made_peaks_are_checked_the_same_way_everywhere(backend, dance):
    cfg = pf.DecodeConfig(upsample=2)
    paf, pk, cands = _stages(dance, cfg)
    inf_xy = pk.xy.copy()
    inf_xy[3, 0] = np.inf
    outside = pk.xy.copy()
    outside[0, 1] = pk.grid_shape[0] - 0.4
    bad_off = pk.offsets.copy()
    bad_off[5] = bad_off[6] + 1
    cases = [
        (_peaks_with(pk, xy=inf_xy), "NaN or Inf"),
        (_peaks_with(pk, xy=outside), "outside"),
        (_peaks_with(pk, offsets=bad_off), "offsets must rise"),
        (_peaks_with(pk, offsets=pk.offsets.astype(np.float64)), "integer"),
        (_peaks_with(pk, scores=pk.scores[:-1]), "peaks.scores"),
        (_peaks_with(pk, xy=pk.xy[:, :1]), "peaks.xy"),
        (_peaks_with(pk, grid_shape="big"), "grid_shape"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            pf.score_limbs(paf, bad, backend=backend, config=cfg)
        with pytest.raises(ValueError, match=message):
            pf.assemble(bad, cands, backend=backend, config=cfg)
    # float32 positions (exactly representable ones) give the float64 answer in every backend
    f32 = _peaks_with(pk, xy=pk.xy.astype(np.float32))
    as64 = _peaks_with(pk, xy=pk.xy.astype(np.float32).astype(np.float64))
    want = pf.score_limbs(paf, as64, backend="python", config=cfg)
    _exact_candidates(pf.score_limbs(paf, f32, backend=backend, config=cfg), want, backend)
    _exact_poses(pf.assemble(f32, want, backend=backend, config=cfg),
                 pf.assemble(as64, want, backend="python", config=cfg), backend)


@pytest.mark.parametrize("backend", ALL)
def test_hand_made_candidates_are_checked_the_same_way_everywhere(backend, dance):
    cfg = pf.DecodeConfig(upsample=2)
    _, pk, cands = _stages(dance, cfg)
    assert len(cands) > 3
    big_a = cands.a.copy()
    big_a[2] = 1000
    nan_s = cands.scores.copy()
    nan_s[1] = np.nan
    bad_off = cands.offsets.copy()
    bad_off[-1] += 1
    cases = [
        (_cands_with(cands, a=big_a), "name peaks"),
        (_cands_with(cands, a=-np.ones_like(cands.a)), "name peaks"),
        (_cands_with(cands, scores=nan_s), "NaN or Inf"),
        (_cands_with(cands, offsets=bad_off), "offsets must rise"),
        (_cands_with(cands, offsets=cands.offsets[:-1]), "limbs"),
        (_cands_with(cands, b=cands.b[:-1]), "candidates.b"),
        (_cands_with(cands, a=cands.a.astype(np.float32)), "integer"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            pf.assemble(pk, bad, backend=backend, config=cfg)
    # int64 indices and float32 scores are accepted and widened/narrowed losslessly
    ok = _cands_with(cands, a=cands.a.astype(np.int64), scores=cands.scores.astype(np.float32))
    want = pf.assemble(pk, _cands_with(cands, scores=cands.scores.astype(np.float32).astype(np.float64)),
                       backend="python", config=cfg)
    _exact_poses(pf.assemble(pk, ok, backend=backend, config=cfg), want, backend)


# --- work bounds --------------------------------------------------------------------

def test_settings_beyond_the_work_bounds_are_refused():
    from posefast.config import MAX_PAF_SAMPLES, MAX_PEAKS

    assert (MAX_PEAKS, MAX_PAF_SAMPLES) == (128, 32)
    for kw in (dict(max_peaks=100_000), dict(max_peaks=MAX_PEAKS + 1), dict(paf_max_samples=1000),
               dict(paf_min_samples=MAX_PAF_SAMPLES + 1, paf_max_samples=MAX_PAF_SAMPLES + 1)):
        with pytest.raises(ValueError, match=r"must be in \["):
            pf.DecodeConfig(**kw)
    pf.DecodeConfig(max_peaks=MAX_PEAKS, paf_min_samples=MAX_PAF_SAMPLES, paf_max_samples=MAX_PAF_SAMPLES)
    if pf.backends()["native"]:
        from posefast import _core

        for kw in (dict(max_peaks=MAX_PEAKS + 1), dict(paf_max_samples=MAX_PAF_SAMPLES + 1)):
            with pytest.raises(ValueError, match="must be in"):
                _core.DecodeConfig(**kw)


@pytest.mark.parametrize("backend", [b for b in ALL if b != "python"])
@pytest.mark.parametrize("shape", [(1, 20000), (2, 5000)])
def test_the_extreme_inputs_of_the_issue_stay_within_the_bounds(backend, shape, dance):
    """The issue's 30-300 s cases, at the largest settings still accepted: real dance
    values tiled into a 1 x 20000 / 2 x 5000 strip, every keypoint capped at MAX_PEAKS
    peaks and every limb at MAX_PAF_SAMPLES samples (the work bound, asserted on the
    stage results rather than timed)."""
    hm, paf = dance[0]
    h, w = shape
    rows = np.arange(h * w) % (hm.shape[1] * hm.shape[2])
    strip = lambda m: np.ascontiguousarray(m.reshape(m.shape[0], -1)[:, rows].reshape(m.shape[0], h, w))  # noqa: E731
    shm, spaf = strip(hm), strip(paf)
    cfg = pf.DecodeConfig(upsample=1, max_peaks=128, peak_threshold=0.0, paf_min_samples=32, paf_max_samples=32,
                          paf_min_above=0.0, paf_threshold=-1.0, min_person_score=-10.0)
    pk = pf.find_peaks(shm, backend=backend, config=cfg)
    assert np.diff(pk.offsets).max() == 128
    cands = pf.score_limbs(spaf, pk, backend=backend, config=cfg)
    assert 0 < len(cands) <= COCO.num_limbs * 128 * 128
    poses = pf.assemble(pk, cands, backend=backend, config=cfg)
    assert len(poses) >= 1


# --- property test ------------------------------------------------------------------

def _hostile(rng, base):
    """A small float32 map stack [C, h, w] made from real values ``base`` [C, H, W]."""
    c, hh, ww = base.shape
    h = int(rng.choice([1, 1, 2, 3, 5, 8, 13, 20]))
    w = int(rng.choice([1, 2, 3, 5, 8, 13, 21, 30]))
    y0, x0 = int(rng.integers(0, max(1, hh - h))), int(rng.integers(0, max(1, ww - w)))
    m = base[:, y0:y0 + h, x0:x0 + w]
    m = np.pad(m, ((0, 0), (0, h - m.shape[1]), (0, w - m.shape[2])), mode="wrap")
    kind = rng.integers(0, 7)
    if kind == 1:
        m = np.round(m * 4) / 4              # plateaus and exact ties
    elif kind == 2:
        m = -m                               # nothing above threshold
    elif kind == 3:
        m = m * np.float32(rng.choice([1e-30, 1e-3, 30.0, 1e20]))   # tiny (denormal) to huge
    elif kind == 4:
        m = np.where(np.indices(m.shape).sum(axis=0) % 2 == 0, m, -m)   # checkerboard of peaks
    elif kind == 5:
        m = np.full_like(m, np.float32(rng.choice([0.0, 0.5, 1.0])))     # constant
    elif kind == 6:
        m = m + rng.normal(0, 0.3, m.shape)
    return np.ascontiguousarray(m, dtype=np.float32)


def _random_config(rng):
    s = int(rng.choice([1, 1, 2, 3, 4]))
    nmin = int(rng.integers(2, 8))
    kw = dict(
        upsample=s,
        peak_threshold=float(rng.choice([-0.0, 0.0, 1e-6, 0.05, 0.3])),
        refine_radius=None if rng.random() < 0.5 else int(rng.integers(0, 4)),
        max_peaks=int(rng.choice([1, 3, 16, 128])),
        paf_threshold=float(rng.choice([-0.5, 0.0, 0.05])),
        paf_min_above=float(rng.choice([0.0, 0.5, 0.95, 1.0])),
        paf_min_samples=nmin,
        paf_max_samples=int(rng.integers(nmin, 33)),
        min_parts=int(rng.choice([1, 2, 3, 5])),
        min_person_score=float(rng.choice([0.0, 0.2, 0.4])),
        number_people_max=None if rng.random() < 0.4 else int(rng.integers(1, 4)),
        check_finite=bool(rng.random() < 0.5),
    )
    if rng.random() < 0.2:
        return pf.DecodeConfig.single_person(**{k: v for k, v in kw.items() if k not in ("min_parts", "min_person_score")})
    return pf.DecodeConfig(**kw)


def test_random_configs_on_hostile_maps_match_the_reference(dance):
    """120 random (config, map) pairs; small maps keep the reference fast (a few seconds)."""
    rng = np.random.default_rng(8)
    fast = [b for b in ALL if b != "python"]
    if not fast:
        pytest.skip("only the python backend is available")
    people = 0
    for case in range(120):
        hm_base, paf_base = dance[case % 2]
        both = _hostile(rng, np.concatenate([hm_base, paf_base]))
        hm, paf = both[:18], both[18:]
        cfg = _random_config(rng)
        where = f"case {case} maps {hm.shape} {cfg}"
        pk = pf.find_peaks(hm, backend="python", config=cfg)
        cands = pf.score_limbs(paf, pk, backend="python", config=cfg)
        want = pf.assemble(pk, cands, backend="python", config=cfg)
        _exact_poses(pf.decode(hm, paf, backend="python", config=cfg), want, where)
        people += len(want)
        for b in fast:
            _exact_peaks(pf.find_peaks(hm, backend=b, config=cfg), pk, f"{b} {where}")
            _exact_candidates(pf.score_limbs(paf, pk, backend=b, config=cfg), cands, f"{b} {where}")
            _exact_poses(pf.assemble(pk, cands, backend=b, config=cfg), want, f"{b} {where}")
            _exact_poses(pf.decode(hm, paf, backend=b, config=cfg), want, f"{b} decode {where}")
            batch = pf.decode_batch(hm[None], paf[None], backend=b, config=cfg)
            _exact_poses(batch[0], want, f"{b} decode_batch {where}")
    assert people > 20   # the cases do find people, not only empty frames


def test_decode_grids_over_the_cap_are_refused_before_any_work():
    """Peak finding costs (s*h) * (s*w) per keypoint on noise, so the decode grid is capped
    at MAX_GRID_CELLS (2048 x 2048): refused by every entry point and backend, and by the
    native core itself; the cap itself is accepted."""
    from posefast.config import MAX_GRID_CELLS

    assert MAX_GRID_CELLS == 2048 * 2048
    cfg = pf.DecodeConfig(upsample=8)
    over_hm, over_paf = np.zeros((18, 257, 256), np.float32), np.zeros((38, 257, 256), np.float32)
    msg = r"decode grid would be 2056 x 2048 = 4,210,688 cells per channel .* limit of 4,194,304"
    for backend in ALL:
        with pytest.raises(ValueError, match=msg):
            pf.decode(over_hm, over_paf, backend=backend, config=cfg)
        with pytest.raises(ValueError, match=msg):
            pf.decode_batch(over_hm[None], over_paf[None], backend=backend, config=cfg)
        with pytest.raises(ValueError, match=msg):
            pf.find_peaks(over_hm, backend=backend, config=cfg)
    at_hm, at_paf = np.zeros((18, 256, 256), np.float32), np.zeros((38, 256, 256), np.float32)
    for backend in [b for b in ALL if b != "python"]:
        assert len(pf.decode(at_hm, at_paf, backend=backend, config=cfg)) == 0
    pk = pf.find_peaks(at_hm, backend="numba" if "numba" in ALL else ALL[0], config=cfg)
    with pytest.raises(ValueError, match="decode grid would be"):
        pf.score_limbs(over_paf, pk, config=cfg)
    if pf.backends()["native"]:
        from posefast import _core, _native

        lay = pf.get_layout("coco18")
        limbs, paf, fill = lay.arrays()
        with pytest.raises(ValueError, match="decode grid would be 2056 x 2048 = 4210688 cells"):
            _core.decode(over_hm, over_paf, limbs, paf, fill, _native._config(cfg))
        with pytest.raises(ValueError, match="decode grid would be"):
            _core.find_peaks(np.zeros((18, 1, 600_000), np.float32), _native._config(cfg))
