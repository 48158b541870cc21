"""Native backend (posefast._core): what only it has.

GIL release and threads, the threaded batch driver, validation at the ``_core``
boundary (callers may bypass the facade), every stage exposed and equal to the
reference, hostile inputs.  Cross-backend parity on many maps lives in
tests/test_parity.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import posefast as pf
from posefast import _reference as ref

core = pytest.importorskip("posefast._core", reason="native extension not built (pip install . or cpp/README.md)")
from posefast import _native as native  # noqa: E402

LAYOUT = pf.get_layout("coco18")
LIMBS, PAF, FILL = LAYOUT.arrays()


def _scene(seed: int = 0, people: int = 4, h: int = 46, w: int = 82, noise: float = 0.02):
    from posefast.synthetic import make_scene

    sc = make_scene(np.random.default_rng(seed), people, h=h, w=w, layout=LAYOUT, noise=noise)
    return np.ascontiguousarray(sc.heatmaps[: LAYOUT.num_keypoints]), np.ascontiguousarray(sc.pafs)


def _assert_same_poses(a: pf.Poses, b: pf.Poses) -> None:
    np.testing.assert_array_equal(a.peak_ids, b.peak_ids)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.scores, b.scores)


# ------------------------------------------------------------------ stages vs reference
@pytest.mark.parametrize("s", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_stages_equal_reference_bit_for_bit(s: int, seed: int) -> None:
    hm, pafs = _scene(seed, people=5, noise=0.05)
    hm[3] -= 0.03  # negative values
    cfg = pf.DecodeConfig(upsample=s)
    pr, pn = ref.find_peaks(hm, cfg), native.find_peaks(hm, cfg)
    for field in ("offsets", "grid", "xy", "scores"):
        np.testing.assert_array_equal(getattr(pn, field), getattr(pr, field), err_msg=field)
        assert getattr(pn, field).dtype == getattr(pr, field).dtype
    assert pn.grid_shape == pr.grid_shape and pn.upsample == pr.upsample
    cr, cn = ref.score_limbs(pafs, pr, LAYOUT, cfg), native.score_limbs(pafs, pr, LAYOUT, cfg)
    for field in ("offsets", "a", "b", "scores"):
        np.testing.assert_array_equal(getattr(cn, field), getattr(cr, field), err_msg=field)
    expected = ref.assemble(pr, cr, LAYOUT, cfg)
    _assert_same_poses(native.assemble(pr, cr, LAYOUT, cfg), expected)
    _assert_same_poses(native.decode(hm, pafs, LAYOUT, cfg), expected)


@pytest.mark.parametrize("s", [1, 2, 3, 4, 5, 8, 16])
def test_upsample_and_phase_table_match_reference(s: int) -> None:
    from posefast._reference.upsample import cull_bound, phase_table, upsample

    maps = np.random.default_rng(s).normal(size=(2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(core.upsample(maps, s), upsample(maps, s))
    first, weights = core.phase_table(s)
    rf, rw = phase_table(s)
    np.testing.assert_array_equal(first, rf)
    np.testing.assert_array_equal(weights, rw)
    assert core.cull_bound(s) == pytest.approx(cull_bound(s), rel=1e-15)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 2), (2, 3), (4, 4)])
@pytest.mark.parametrize("s", [1, 2, 4])
def test_tiny_maps_clamp_taps(shape: tuple[int, int], s: int) -> None:
    rng = np.random.default_rng(sum(shape) + s)
    hm = rng.uniform(-0.2, 1.0, (LAYOUT.num_keypoints, *shape)).astype(np.float32)
    pafs = rng.uniform(-1, 1, (LAYOUT.num_paf_channels, *shape)).astype(np.float32)
    cfg = pf.DecodeConfig(upsample=s, min_parts=1, min_person_score=-10.0, paf_min_above=0.2)
    _assert_same_poses(native.decode(hm, pafs, LAYOUT, cfg), ref.decode(hm, pafs, LAYOUT, cfg))
    pr, pn = ref.find_peaks(hm, cfg), native.find_peaks(hm, cfg)
    np.testing.assert_array_equal(pn.xy, pr.xy)


def test_zero_threshold_and_plateaus() -> None:
    hm, pafs = _scene(3)
    hm = np.ascontiguousarray(np.round(hm * 4) / 4, dtype=np.float32)  # flat tops, exact zeros
    for s in (1, 4):
        cfg = pf.DecodeConfig(upsample=s, peak_threshold=0.0, max_peaks=20)
        pr, pn = ref.find_peaks(hm, cfg), native.find_peaks(hm, cfg)
        np.testing.assert_array_equal(pn.grid, pr.grid)
        np.testing.assert_array_equal(pn.xy, pr.xy)
        _assert_same_poses(native.decode(hm, pafs, LAYOUT, cfg), ref.decode(hm, pafs, LAYOUT, cfg))


# ------------------------------------------------------------------ hostile inputs
@pytest.mark.parametrize("kind", ["ones", "checker", "zeros"])
@pytest.mark.parametrize("s", [1, 4])
def test_hostile_maps_finish_and_cap(kind: str, s: int) -> None:
    h, w = 40, 60
    k = LAYOUT.num_keypoints
    if kind == "ones":
        hm = np.ones((k, h, w), np.float32)
    elif kind == "checker":
        hm = np.broadcast_to(((np.indices((h, w)).sum(0) % 2) * 0.9).astype(np.float32), (k, h, w)).copy()
    else:
        hm = np.zeros((k, h, w), np.float32)
    pafs = np.ones((LAYOUT.num_paf_channels, h, w), np.float32)
    cfg = pf.DecodeConfig(upsample=s, max_peaks=50)
    peaks = native.find_peaks(hm, cfg)
    assert np.all(np.diff(peaks.offsets) <= 50)
    expected = ref.find_peaks(hm, cfg)
    np.testing.assert_array_equal(peaks.grid, expected.grid)
    poses = native.decode(hm, pafs, LAYOUT, cfg)  # finishes; people are whatever the rules give
    assert poses.keypoints.shape[1:] == (k, 3)


@pytest.mark.parametrize("s", [1, 4])
def test_non_finite_is_rejected_with_position(s: int) -> None:
    hm, pafs = _scene(1)
    hm[5, 7, 11] = np.nan
    with pytest.raises(ValueError, match=r"heatmaps contain NaN or Inf \(first at channel 5, row 7, column 11\)"):
        native.decode(hm, pafs, LAYOUT, pf.DecodeConfig(upsample=s))
    hm[5, 7, 11] = 0
    pafs[2].reshape(-1)[3:] = -np.inf   # PAFs are checked where sampled: spoil the whole channel
    with pytest.raises(ValueError, match=r"pafs contain NaN or Inf \(first at channel 2, row 0, column 3\)"):
        native.decode(hm, pafs, LAYOUT, pf.DecodeConfig(upsample=s))
    with pytest.raises(ValueError, match=r"frame 1: pafs contain NaN or Inf"):
        native.decode_batch(np.stack([hm, hm]), np.stack([np.nan_to_num(pafs), pafs]), LAYOUT,
                            pf.DecodeConfig(upsample=s), 2)


def _finite_error(fn) -> str:
    try:
        fn()
    except ValueError as e:
        return str(e)
    return "no error"


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("w", [5, 16, 33, 82])
def test_non_finite_first_position_matches_reference(s: int, w: int) -> None:
    # The heatmap check rides on the peak scan (blocks of 16 values, scalar tails):
    # positions at block edges, row tails, last cell; several bad values, the
    # first in raster order (channel, row, column) is named; pafs only after heatmaps.
    rng = np.random.default_rng(100 * s + w)
    h = 9
    k = LAYOUT.num_keypoints
    cfg = pf.DecodeConfig(upsample=s)
    base_hm = rng.uniform(0, 0.2, (k, h, w)).astype(np.float32)
    base_pafs = rng.uniform(-0.1, 0.1, (LAYOUT.num_paf_channels, h, w)).astype(np.float32)
    cols = sorted({0, 1, 14, 15, 16, 17, w - 2, w - 1} & set(range(w)))
    spots = [(c, y, x) for c in (0, 3, k - 1) for y in (0, 4, h - 1) for x in cols]
    for trial in range(40):
        hm, pafs = base_hm.copy(), base_pafs.copy()
        target = hm if trial % 3 else pafs
        for _ in range(int(rng.integers(1, 4))):
            c, y, x = spots[int(rng.integers(len(spots)))]
            target[min(c, target.shape[0] - 1), y, x] = [np.nan, np.inf, -np.inf][int(rng.integers(3))]
        if trial % 5 == 0:
            pafs[1, 2, 3] = np.nan  # heatmaps' error still comes first
        expected = _finite_error(lambda: ref.decode(hm, pafs, LAYOUT, cfg))
        assert _finite_error(lambda: native.decode(hm, pafs, LAYOUT, cfg)) == expected
        assert _finite_error(lambda: native.find_peaks(hm, cfg)) == _finite_error(
            lambda: ref.check_finite(hm, "heatmaps"))


@pytest.mark.parametrize("s", [1, 2, 4])
def test_non_finite_unchecked_is_memory_safe(s: int) -> None:
    rng = np.random.default_rng(s)
    hm, pafs = _scene(2)
    for arr in (hm, pafs):
        flat = arr.reshape(-1)
        idx = rng.choice(flat.size, 300, replace=False)
        flat[idx[:100]] = np.nan
        flat[idx[100:200]] = np.inf
        flat[idx[200:]] = -np.inf
    hm[0, 10:14, 10:14] = 3e38
    poses = native.decode(hm, pafs, LAYOUT, pf.DecodeConfig(upsample=s, check_finite=False))
    assert poses.keypoints.shape[1:] == (LAYOUT.num_keypoints, 3)


# ------------------------------------------------------------------ boundary validation
def _cfg():
    return core.DecodeConfig()


def test_core_rejects_wrong_dtype_with_fix() -> None:
    hm, pafs = _scene(0)
    with pytest.raises(TypeError, match=r"astype\(np\.float32\)"):
        core.decode(hm.astype(np.float64), pafs, LIMBS, PAF, FILL, _cfg())
    with pytest.raises(TypeError, match=r"astype\(np\.float32\)"):
        core.find_peaks(hm.astype(np.float16), _cfg())
    with pytest.raises(TypeError, match=r"astype\(np\.int32\)"):
        core.decode(hm, pafs, LIMBS.astype(np.int64), PAF, FILL, _cfg())
    with pytest.raises(TypeError, match="NumPy array"):
        core.decode(hm.tolist(), pafs, LIMBS, PAF, FILL, _cfg())


def test_core_rejects_non_contiguous_with_fix() -> None:
    hm, pafs = _scene(0)
    with pytest.raises((TypeError, ValueError), match=r"np\.ascontiguousarray"):
        core.decode(hm[:, :, ::2], pafs[:, :, ::2], LIMBS, PAF, FILL, _cfg())
    with pytest.raises((TypeError, ValueError), match=r"np\.ascontiguousarray"):
        core.find_peaks(np.asfortranarray(hm), _cfg())


def test_core_rejects_bad_shapes() -> None:
    hm, pafs = _scene(0)
    cfg = _cfg()
    with pytest.raises(ValueError, match="3 dimensions"):
        core.decode(hm[0], pafs, LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="same network output"):
        core.decode(hm, np.ascontiguousarray(pafs[:, :-1]), LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="PAF channels"):
        core.decode(hm, np.ascontiguousarray(pafs[:10]), LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="keypoints"):
        core.decode(np.ascontiguousarray(hm[:5]), pafs, LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="fill_only"):
        core.decode(hm, pafs, LIMBS, PAF, FILL[:3].copy(), cfg)
    with pytest.raises(ValueError, match="at least 1 x 1"):
        core.decode(hm[:, :0], pafs[:, :0], LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="frames"):
        core.decode_batch(np.stack([hm, hm]), pafs[None], LIMBS, PAF, FILL, cfg)
    with pytest.raises(ValueError, match="threads"):
        core.decode_batch(hm[None], pafs[None], LIMBS, PAF, FILL, cfg, -1)


def test_core_rejects_inconsistent_stage_inputs() -> None:
    hm, pafs = _scene(0)
    cfg = pf.DecodeConfig()
    peaks = native.find_peaks(hm, cfg)
    cands = native.score_limbs(pafs, peaks, LAYOUT, cfg)
    c = native._config(cfg)
    with pytest.raises(ValueError, match="offsets"):
        core.score_limbs(pafs, peaks.offsets[::-1].copy(), peaks.xy, LIMBS, PAF, c)
    bad_a = cands.a.copy()
    bad_a[0] = 10_000
    with pytest.raises(ValueError, match="does not exist"):
        core.assemble(peaks.offsets, peaks.xy, peaks.scores, cands.offsets, bad_a, cands.b, cands.scores,
                      LIMBS, FILL, c)
    with pytest.raises(ValueError, match="same length"):
        core.assemble(peaks.offsets, peaks.xy, peaks.scores, cands.offsets, cands.a, cands.b[:-1].copy(),
                      cands.scores, LIMBS, FILL, c)


def test_core_config_validation() -> None:
    with pytest.raises(ValueError, match="upsample"):
        core.DecodeConfig(upsample=0)
    with pytest.raises(ValueError, match="peak_threshold"):
        core.DecodeConfig(peak_threshold=-1.0)
    cfg = core.DecodeConfig()
    cfg.max_peaks = 0  # writable, but checked on use
    hm, pafs = _scene(0)
    with pytest.raises(ValueError, match="max_peaks"):
        core.find_peaks(hm, cfg)
    # a posefast.DecodeConfig is accepted directly
    peaks = core.find_peaks(hm, pf.DecodeConfig(upsample=2, refine_radius=0))
    assert np.array_equal(peaks[2], peaks[1].astype(np.float64))


def test_inputs_untouched_and_outputs_fresh() -> None:
    hm, pafs = _scene(0)
    hm.setflags(write=False)
    pafs.setflags(write=False)
    before = (hm.copy(), pafs.copy())
    out = core.decode(hm, pafs, LIMBS, PAF, FILL, _cfg())
    np.testing.assert_array_equal(hm, before[0])
    np.testing.assert_array_equal(pafs, before[1])
    for arr in out:
        assert arr.flags.owndata and arr.flags.writeable and arr.flags.c_contiguous


# ------------------------------------------------------------------ threads and batch
def test_threads_give_serial_results() -> None:
    frames = [_scene(seed, people=6) for seed in range(8)]
    cfg = pf.DecodeConfig()
    serial = [native.decode(h, p, LAYOUT, cfg) for h, p in frames]
    results: list = [None] * 8
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = [native.decode(*frames[i], LAYOUT, cfg) for _ in range(5)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        for got in results[i]:
            _assert_same_poses(got, serial[i])


@pytest.mark.parametrize("threads", [0, 1, 2, 3, 64])
def test_decode_batch_equals_per_frame(threads: int) -> None:
    frames = [_scene(seed, people=seed % 5) for seed in range(7)]
    hm = np.stack([f[0] for f in frames])
    pafs = np.stack([f[1] for f in frames])
    cfg = pf.DecodeConfig(upsample=2)
    batch = native.decode_batch(hm, pafs, LAYOUT, cfg, threads)
    assert len(batch) == 7
    for i, got in enumerate(batch):
        _assert_same_poses(got, native.decode(hm[i], pafs[i], LAYOUT, cfg))
    assert native.decode_batch(hm[:0], pafs[:0], LAYOUT, cfg, threads) == []


def test_decode_batch_runs_threads_in_parallel() -> None:
    """Prints the speed-up; asserts only that the results agree (timing is not a test)."""
    frames = [_scene(seed, people=8, h=92, w=164) for seed in range(4)]
    hm = np.stack([f[0] for f in frames] * 4)
    pafs = np.stack([f[1] for f in frames] * 4)
    cfg = pf.DecodeConfig(upsample=4)
    t0 = time.perf_counter()
    one = native.decode_batch(hm, pafs, LAYOUT, cfg, 1)
    t1 = time.perf_counter()
    many = native.decode_batch(hm, pafs, LAYOUT, cfg, 0)
    t2 = time.perf_counter()
    print(f"decode_batch of {len(hm)} frames: 1 thread {1e3 * (t1 - t0):.1f} ms, "
          f"all cores {1e3 * (t2 - t1):.1f} ms")
    for a, b in zip(one, many):
        _assert_same_poses(a, b)


def test_gil_released_during_decode() -> None:
    """A Python thread keeps running while another decodes big maps."""
    h, w = 400, 600
    rng = np.random.default_rng(0)
    hm = rng.uniform(0, 1, (LAYOUT.num_keypoints, h, w)).astype(np.float32)
    pafs = np.zeros((LAYOUT.num_paf_channels, h, w), np.float32)
    limbs, paf, fill = native._layout(LAYOUT)
    cfg = native._config(pf.DecodeConfig(upsample=4, max_peaks=5))
    ticks = 0
    done = threading.Event()

    def decode() -> None:
        core.decode(hm, pafs, limbs, paf, fill, cfg)
        done.set()

    t = threading.Thread(target=decode)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.0005)
    t.join()
    # With the GIL held for the whole decode, the loop would run at most once or twice.
    assert ticks > 3


def test_facade_uses_native() -> None:
    hm, pafs = _scene(5)
    assert pf.backends()["native"]
    got = pf.decode(hm, pafs, "coco18", backend="native")
    _assert_same_poses(got, pf.decode(hm, pafs, "coco18", backend="python"))
    batch = pf.decode_batch(hm[None], pafs[None], "coco18", backend="native", threads=2)
    _assert_same_poses(batch[0], got)
