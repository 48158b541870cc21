"""Numba-backend specifics: the adapter contract, the finite check, edge shapes,
culling at the threshold, thread safety, and stage-by-stage equality with the
reference (bit for bit; the cross-backend parity suite covers many more scenes).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (optional backend: pip install numba)")

import posefast  # noqa: E402
import posefast._numba as nb  # noqa: E402
import posefast._reference as ref  # noqa: E402
from posefast import DecodeConfig, get_layout  # noqa: E402
from posefast._reference.upsample import cull_bound, upsample  # noqa: E402
from posefast.synthetic import make_scene  # noqa: E402

COCO = get_layout("coco18")
K, L2 = COCO.num_keypoints, COCO.num_paf_channels


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _same_peaks(p, q) -> None:
    assert p.upsample == q.upsample and tuple(p.grid_shape) == tuple(q.grid_shape)
    assert p.offsets.dtype == np.int64 and p.grid.dtype == np.int32
    assert p.xy.dtype == np.float64 and p.scores.dtype == np.float64
    np.testing.assert_array_equal(p.offsets, q.offsets)
    np.testing.assert_array_equal(p.grid, q.grid)
    np.testing.assert_array_equal(p.xy, q.xy)
    np.testing.assert_array_equal(p.scores, q.scores)


def _same_cands(c, d) -> None:
    assert c.offsets.dtype == np.int64 and c.a.dtype == np.int32 and c.b.dtype == np.int32
    assert c.scores.dtype == np.float64
    np.testing.assert_array_equal(c.offsets, d.offsets)
    np.testing.assert_array_equal(c.a, d.a)
    np.testing.assert_array_equal(c.b, d.b)
    np.testing.assert_array_equal(c.scores, d.scores)


def _same_poses(p, q) -> None:
    assert p.keypoints.dtype == np.float32 and p.scores.dtype == np.float32
    assert p.peak_ids.dtype == np.int32 and p.layout == q.layout
    np.testing.assert_array_equal(p.peak_ids, q.peak_ids)
    np.testing.assert_array_equal(p.keypoints, q.keypoints)
    np.testing.assert_array_equal(p.scores, q.scores)


def _stages_equal(hm, pafs, cfg, layout=COCO) -> tuple[int, int, int]:
    """Every stage of the Numba backend equals the reference's, bit for bit."""
    hm, pafs = _f32(hm), _f32(pafs)
    pr = ref.find_peaks(hm, cfg)
    _same_peaks(nb.find_peaks(hm, cfg), pr)
    cr = ref.score_limbs(pafs, pr, layout, cfg)
    _same_cands(nb.score_limbs(pafs, pr, layout, cfg), cr)
    out = ref.assemble(pr, cr, layout, cfg)
    _same_poses(nb.assemble(pr, cr, layout, cfg), out)
    _same_poses(nb.decode(hm, pafs, layout, cfg), out)
    return len(pr), len(cr), len(out)


@pytest.fixture(scope="module")
def crowd():
    sc = make_scene(np.random.default_rng(7), 6, h=40, w=64)
    return _f32(sc.heatmaps[:K]), _f32(sc.pafs)


# --- adapter contract ---------------------------------------------------------------

def test_backend_is_listed_and_selectable(crowd):
    assert posefast.backends()["numba"] is True
    nb.ensure_available()
    hm, pafs = crowd
    bg = np.concatenate([hm, 1 - hm.max(axis=0, keepdims=True)])   # facade drops background
    got = posefast.decode(bg, pafs, "coco18", backend="numba")
    _same_poses(got, ref.decode(hm, pafs, COCO, DecodeConfig()))
    assert len(got) >= 4


def test_missing_numba_is_an_import_error_naming_the_fix(monkeypatch):
    monkeypatch.setattr(nb, "_HAVE_NUMBA", False)
    with pytest.raises(ImportError, match="pip install numba"):
        nb.ensure_available()


def test_posefast_works_without_numba():
    code = ("import sys; sys.modules['numba'] = None\n"
            "import numpy as np, posefast\n"
            "assert posefast.backends()['numba'] is False\n"
            "try:\n    posefast.decode(np.zeros((19, 4, 4), np.float32), np.zeros((38, 4, 4), np.float32),"
            " backend='numba')\n"
            "except ImportError as e:\n    assert 'pip install numba' in str(e), e\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_jit_flags_keep_reference_arithmetic():
    from posefast._numba._jit import JIT_OPTIONS

    assert JIT_OPTIONS == dict(nopython=True, cache=True, nogil=True, fastmath=False)


@pytest.mark.parametrize("s", [1, 4])
def test_stages_bit_identical_on_a_crowd(crowd, s):
    peaks, cands, people = _stages_equal(*crowd, DecodeConfig(upsample=s))
    assert peaks > 50 and cands > 50 and people >= 4


def test_facade_stages_and_scale(crowd):
    hm, pafs = crowd
    cfg = DecodeConfig(upsample=2)
    pk = posefast.find_peaks(hm, backend="numba", config=cfg)
    _same_peaks(pk, ref.find_peaks(hm, cfg))
    c = posefast.score_limbs(pafs, pk, backend="numba", config=cfg)
    got = posefast.assemble(pk, c, backend="numba", config=cfg, scale=8)
    want = ref.assemble(pk, ref.score_limbs(pafs, pk, COCO, cfg), COCO, cfg).scaled(8.0)
    _same_poses(got, want)


def test_inputs_are_not_modified(crowd):
    hm, pafs = crowd
    h0, p0 = hm.copy(), pafs.copy()
    nb.decode(hm, pafs, COCO, DecodeConfig())
    np.testing.assert_array_equal(hm, h0)
    np.testing.assert_array_equal(pafs, p0)


def test_assemble_rejects_candidates_of_other_peaks(crowd):
    hm, pafs = crowd
    cfg = DecodeConfig(upsample=1)
    pk = nb.find_peaks(hm, cfg)
    c = nb.score_limbs(pafs, pk, COCO, cfg)
    few = nb.find_peaks(hm, cfg.replace(max_peaks=1))
    with pytest.raises(ValueError, match="name peaks that these peaks do not have"):
        nb.assemble(few, c, COCO, cfg)
    broken = type(pk)(offsets=pk.offsets + 1, grid=pk.grid, xy=pk.xy, scores=pk.scores,
                      upsample=pk.upsample, grid_shape=pk.grid_shape)
    with pytest.raises(ValueError, match="peaks are malformed"):
        nb.score_limbs(pafs, broken, COCO, cfg)
    with pytest.raises(ValueError, match="peaks are malformed"):
        nb.assemble(broken, c, COCO, cfg)


# --- finite check -------------------------------------------------------------------

def _reference_message(maps, what) -> str:
    with pytest.raises(ValueError) as exc:
        ref.check_finite(maps, what)
    return str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0, 0), (5, 17, 40), (K - 1, 39, 63)])
def test_check_finite_message_matches_reference(crowd, bad, where):
    hm, pafs = (a.copy() for a in crowd)
    hm[where] = bad
    hm[K - 1, 39, 63] = np.nan   # a later one must not be reported first
    with pytest.raises(ValueError) as exc:
        posefast.decode(hm, pafs, backend="numba")
    assert str(exc.value) == _reference_message(hm, "heatmaps")
    assert f"channel {where[0]}, row {where[1]}, column {where[2]}" in str(exc.value)


def test_check_finite_pafs_and_opt_out(crowd):
    hm, pafs = (a.copy() for a in crowd)
    pafs[30].reshape(-1)[3 * pafs.shape[2] + 2:] = np.nan   # checked where sampled: spoil the channel
    with pytest.raises(ValueError) as exc:
        posefast.decode(hm, pafs, backend="numba")
    assert str(exc.value) == _reference_message(pafs, "pafs")
    peaks = nb.find_peaks(hm, DecodeConfig())
    with pytest.raises(ValueError) as exc:
        nb.score_limbs(pafs, peaks, COCO, DecodeConfig())
    assert str(exc.value) == _reference_message(pafs, "pafs")
    hm[2, 10, 10] = np.inf
    hm[3, 20, 20] = np.nan
    for s in (1, 4):   # undefined results, but no crash and well-formed output
        out = posefast.decode(hm, pafs, backend="numba", config=DecodeConfig(upsample=s, check_finite=False))
        assert out.keypoints.shape[1:] == (K, 3)


# --- edge shapes and hard maps ------------------------------------------------------

@pytest.mark.parametrize("s", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (3, 1), (1, 7)])
def test_tiny_maps(s, hw):
    rng = np.random.default_rng(hash(hw) % 1000 + s)
    hm = rng.uniform(-0.2, 1.0, (K, *hw))
    pafs = rng.uniform(-1, 1, (L2, *hw))
    _stages_equal(hm, pafs, DecodeConfig(upsample=s, min_parts=1, min_person_score=-1.0,
                                         paf_min_above=0.2))


@pytest.mark.parametrize("s", [1, 2, 3, 8])
def test_peak_explosion_is_capped_like_the_reference(s):
    yy, xx = np.mgrid[:16, :20]
    board = ((yy % 2 == 0) & (xx % 2 == 0)) * 0.9 + 0.05     # 80 isolated maxima per channel
    hm = np.broadcast_to(board, (K, 16, 20)) * np.linspace(0.5, 1.0, K)[:, None, None]
    pafs = np.random.default_rng(s).uniform(-1, 1, (L2, 16, 20))
    cfg = DecodeConfig(upsample=s, max_peaks=40)
    _stages_equal(hm, pafs, cfg)
    assert (np.diff(nb.find_peaks(_f32(hm), cfg).offsets) == 40).all()


@pytest.mark.parametrize("s", [1, 4])
def test_plateaus_all_ones_and_zero_threshold(s):
    rng = np.random.default_rng(3)
    plateaus = np.round(rng.uniform(0, 1, (K, 9, 11)) * 3) / 3
    pafs = np.round(rng.uniform(-1, 1, (L2, 9, 11)) * 2) / 2
    _stages_equal(plateaus, pafs, DecodeConfig(upsample=s))
    _stages_equal(np.ones((K, 6, 7)), np.ones((L2, 6, 7)), DecodeConfig(upsample=s))
    _stages_equal(plateaus, pafs, DecodeConfig(upsample=s, peak_threshold=0.0, paf_threshold=-0.2,
                                               refine_radius=3, paf_min_samples=2))


@pytest.mark.parametrize("s", [2, 3, 4, 8])
def test_culling_is_exact_at_the_threshold(s):
    """Raw blobs scaled so that upsampled maxima sit just around the threshold, and
    negative dips whose bicubic ringing rises above it: skipped tiles must never
    hide a peak, and on-demand refinement values must match the full grid."""
    thr = 0.05
    b = cull_bound(s)
    yy, xx = np.mgrid[:9, :10]
    blob = np.exp(-((yy - 4.3) ** 2 + (xx - 5.2) ** 2) / 1.5)
    hm = np.zeros((K, 9, 10))
    for k, f in enumerate(np.linspace(0.97, 1.03, K)):
        up_max = upsample(_f32(blob[None]), s).max()
        hm[k] = blob * (thr / up_max) * f
    hm[K - 3] = -blob * (thr / b) * 1.5       # ringing around a dip
    hm[K - 2, 4, 5] = -1.5                    # ringing peaks around a negative spike
    hm[K - 2, 2, 2] = -0.6
    hm[K - 1, 4, 5] = thr / b * 1.0000001     # a lone cell right at the cull cutoff
    pafs = np.random.default_rng(s).normal(0, 0.5, (L2, 9, 10))
    cfg = DecodeConfig(upsample=s, peak_threshold=thr, refine_radius=4)
    _stages_equal(hm, pafs, cfg)
    counts = np.diff(ref.find_peaks(_f32(hm), cfg).offsets)
    assert counts[: K // 2].sum() == 0 and counts[K // 2 + 1: K - 3].all()   # just below / above
    assert counts[K - 2] >= 8


@pytest.mark.parametrize("layout", ["body25", "mpi15"])
def test_other_layouts(layout):
    lay = get_layout(layout)
    sc = make_scene(np.random.default_rng(11), 4, h=30, w=40, layout=lay)
    for s in (1, 3):
        _stages_equal(sc.heatmaps[: lay.num_keypoints], sc.pafs, DecodeConfig(upsample=s), layout=lay)


# --- threads ------------------------------------------------------------------------

def test_decode_from_eight_threads_equals_serial():
    rng = np.random.default_rng(5)
    scenes = [make_scene(rng, int(rng.integers(1, 5)), h=32, w=48) for _ in range(8)]
    frames = [(_f32(sc.heatmaps[:K]), _f32(sc.pafs)) for sc in scenes]
    cfg = DecodeConfig(upsample=4)
    serial = [nb.decode(h, p, COCO, cfg) for h, p in frames]
    results: list = [None] * (8 * 3)
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        barrier.wait()
        for rep in range(3):
            i = (t + rep) % 8
            results[t * 3 + rep] = (i, nb.decode(*frames[i], COCO, cfg))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for i, got in results:
        _same_poses(got, serial[i])


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_decode_batch_equals_frame_by_frame(threads):
    rng = np.random.default_rng(9)
    scenes = [make_scene(rng, 3, h=24, w=32) for _ in range(5)]
    hm = np.stack([sc.heatmaps for sc in scenes])
    pafs = np.stack([sc.pafs for sc in scenes])
    got = posefast.decode_batch(hm, pafs, backend="numba", threads=threads)
    assert len(got) == 5
    for i, poses in enumerate(got):
        _same_poses(poses, ref.decode(_f32(hm[i, :K]), _f32(pafs[i]), COCO, DecodeConfig()))
