"""The public decode API: backend selection, and every bad input named in issue 2
giving a correct result or a clear error, on every available backend."""

import importlib
import threading

import numpy as np
import pytest

import posefast as pf
from posefast.synthetic import make_scene

ALL = [b for b, ok in pf.backends().items() if ok]


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(42)
    centres = np.array([[10, 8], [30, 8], [50, 8], [20, 30], [45, 30]], float)
    return make_scene(rng, len(centres), 46, 64, size=3.5, centres=centres)


def test_backends_report():
    b = pf.backends()
    assert set(b) == {"native", "numba", "python"} and b["python"] is True
    assert all(isinstance(v, bool) for v in b.values())


def test_unknown_and_missing_backend(monkeypatch, scene):
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        pf.decode(scene.heatmaps, scene.pafs, backend="cuda")
    dmod = importlib.import_module("posefast.decode")  # the module, not the function
    monkeypatch.setitem(dmod._cache, "numba", ImportError("No module named 'numba'"))
    with pytest.raises(ImportError, match="pip install numba"):
        pf.decode(scene.heatmaps, scene.pafs, backend="numba")
    monkeypatch.setitem(dmod._cache, "native", ImportError("no _core"))
    with pytest.raises(ImportError, match="posefast._core"):
        pf.decode(scene.heatmaps, scene.pafs, backend="native")


def test_env_overrides_auto(monkeypatch, scene):
    monkeypatch.setenv("POSEFAST_BACKEND", "python")
    from posefast.decode import resolve_backend

    assert resolve_backend("auto") == "python"
    monkeypatch.setenv("POSEFAST_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="unknown backend"):
        pf.decode(scene.heatmaps, scene.pafs)


@pytest.mark.parametrize("backend", ALL)
def test_finds_the_people(backend, scene):
    poses = pf.decode(scene.heatmaps, scene.pafs, backend=backend)
    assert len(poses) == 5
    assert poses.keypoints.shape == (5, 18, 3) and poses.keypoints.dtype == np.float32
    assert poses.scores.shape == (5,) and np.all(np.diff(poses.scores) <= 0)
    missing = poses.peak_ids < 0
    assert np.all(poses.keypoints[missing] == 0)


@pytest.mark.parametrize("backend", ALL)
def test_float64_and_noncontiguous_give_the_same_answer(backend, scene):
    ref = pf.decode(scene.heatmaps, scene.pafs, backend=backend)
    hm64 = scene.heatmaps.astype(np.float64)
    before = hm64.copy()
    got = pf.decode(hm64, scene.pafs, backend=backend)
    np.testing.assert_array_equal(hm64, before)  # caller's array untouched
    np.testing.assert_array_equal(got.keypoints, ref.keypoints)
    hm_t = np.ascontiguousarray(scene.heatmaps.transpose(0, 2, 1)).transpose(0, 2, 1)
    assert not hm_t.flags.c_contiguous
    got = pf.decode(hm_t, scene.pafs[:, :, :], backend=backend)
    np.testing.assert_array_equal(got.keypoints, ref.keypoints)
    # background channel optional
    got = pf.decode(scene.heatmaps[:18], scene.pafs, backend=backend)
    np.testing.assert_array_equal(got.keypoints, ref.keypoints)


@pytest.mark.parametrize("backend", ALL)
def test_bad_shapes_and_types(backend, scene):
    hm, pafs = scene.heatmaps, scene.pafs
    with pytest.raises(ValueError, match="3 dimensions"):
        pf.decode(hm[None], pafs, backend=backend)
    with pytest.raises(ValueError, match="heatmaps have 17 channels.*needs 18"):
        pf.decode(hm[:17], pafs, backend=backend)
    with pytest.raises(ValueError, match="pafs have 36 channels.*needs 38"):
        pf.decode(hm, pafs[:36], backend=backend)
    with pytest.raises(ValueError, match="same network output"):
        pf.decode(hm, pafs[:, :-1], backend=backend)
    with pytest.raises(TypeError, match="real numbers"):
        pf.decode(hm.astype(np.complex64), pafs, backend=backend)
    with pytest.raises(TypeError, match="real numbers"):
        pf.decode(hm > 0.5, pafs, backend=backend)
    with pytest.raises(TypeError, match="real numbers"):
        pf.decode(object(), pafs, backend=backend)
    with pytest.raises(TypeError, match="DecodeConfig"):
        pf.decode(hm, pafs, backend=backend, config={"upsample": 2})
    with pytest.raises(ValueError, match="layout"):
        pf.decode(hm, pafs, layout="body25", backend=backend)
    with pytest.raises(ValueError, match="scale"):
        pf.decode(hm, pafs, backend=backend, scale=-1)


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_are_refused(backend, value, scene):
    hm = scene.heatmaps.copy()
    hm[3, 7, 9] = value
    with pytest.raises(ValueError, match=r"NaN or Inf \(first at channel 3, row 7, column 9\)"):
        pf.decode(hm, scene.pafs, backend=backend)
    pafs = scene.pafs.copy()
    pafs[5].reshape(-1)[pafs.shape[2] + 2:] = value   # PAFs are checked where sampled
    with pytest.raises(ValueError, match="pafs contain NaN or Inf"):
        pf.decode(scene.heatmaps, pafs, backend=backend)


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("s", [1, 4])
def test_degenerate_maps(backend, s):
    cfg = pf.DecodeConfig(upsample=s)
    for h, w in [(0, 5), (5, 0), (0, 0)]:
        poses = pf.decode(np.zeros((19, h, w), np.float32), np.zeros((38, h, w), np.float32), backend=backend, config=cfg)
        assert len(poses) == 0 and poses.keypoints.shape == (0, 18, 3)
    for h, w in [(1, 1), (1, 7), (3, 2)]:
        poses = pf.decode(np.ones((19, h, w), np.float32), np.ones((38, h, w), np.float32), backend=backend, config=cfg)
        assert poses.keypoints.shape[1:] == (18, 3)
    # negative maps: nothing above threshold
    poses = pf.decode(-np.ones((19, 20, 20), np.float32), -np.ones((38, 20, 20), np.float32), backend=backend, config=cfg)
    assert len(poses) == 0


@pytest.mark.parametrize("backend", ALL)
def test_peak_explosion_is_capped(backend):
    """A checkerboard has a peak at every other cell: capped at max_peaks, finishes."""
    h, w = (46, 82) if backend == "python" else (92, 164)
    hm = (np.indices((19, h, w)).sum(axis=0) % 2).astype(np.float32)
    hm += np.random.default_rng(0).uniform(0, 0.01, hm.shape).astype(np.float32)
    pafs = np.ones((38, h, w), np.float32)
    cfg = pf.DecodeConfig(upsample=1)
    pk = pf.find_peaks(hm, backend=backend, config=cfg)
    assert np.all(np.diff(pk.offsets) == 127)
    poses = pf.decode(hm, pafs, backend=backend, config=cfg)
    assert poses.keypoints.shape[1:] == (18, 3) and np.all(poses.num_parts >= 3)


@pytest.mark.parametrize("backend", ALL)
def test_threads_give_the_same_results(backend):
    rng = np.random.default_rng(5)
    scenes = [make_scene(rng, n, 40, 56, size=3.5) for n in (2, 5, 9, 14)]
    cfg = pf.DecodeConfig(upsample=2)
    serial = [pf.decode(s.heatmaps, s.pafs, backend=backend, config=cfg) for s in scenes]
    results = {}

    def work(t):
        results[t] = [pf.decode(s.heatmaps, s.pafs, backend=backend, config=cfg) for s in scenes]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in range(8):
        for a, b in zip(results[t], serial):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.peak_ids, b.peak_ids)


@pytest.mark.parametrize("backend", ALL)
def test_decode_batch_equals_per_frame(backend):
    rng = np.random.default_rng(9)
    scenes = [make_scene(rng, n, 30, 40, size=3.5) for n in (0, 1, 3, 6, 2)]
    hm = np.stack([s.heatmaps for s in scenes])
    pafs = np.stack([s.pafs for s in scenes])
    batch = pf.decode_batch(hm, pafs, backend=backend, scale=8, threads=2)
    assert len(batch) == len(scenes)
    for s, got in zip(scenes, batch):
        one = pf.decode(s.heatmaps, s.pafs, backend=backend, scale=8)
        np.testing.assert_array_equal(got.keypoints, one.keypoints)
        np.testing.assert_array_equal(got.scores, one.scores)
    assert pf.decode_batch(hm[:0], pafs[:0], backend=backend) == []
    with pytest.raises(ValueError, match="4 dimensions"):
        pf.decode_batch(hm[0], pafs[0], backend=backend)
    with pytest.raises(ValueError, match="frames"):
        pf.decode_batch(hm, pafs[:2], backend=backend)
    with pytest.raises(ValueError, match="threads"):
        pf.decode_batch(hm, pafs, backend=backend, threads=-1)


def test_config_validation():
    with pytest.raises(ValueError, match="upsample"):
        pf.DecodeConfig(upsample=0)
    with pytest.raises(TypeError, match="upsample"):
        pf.DecodeConfig(upsample=2.0)
    with pytest.raises(ValueError, match="paf_min_above"):
        pf.DecodeConfig(paf_min_above=1.5)
    with pytest.raises(ValueError, match="finite"):
        pf.DecodeConfig(peak_threshold=float("nan"))
    with pytest.raises(ValueError, match="paf_max_samples"):
        pf.DecodeConfig(paf_min_samples=10, paf_max_samples=5)
    assert pf.DecodeConfig(upsample=4).effective_refine_radius == 2
    assert pf.DecodeConfig(upsample=1).effective_refine_radius == 1
    assert pf.DecodeConfig().replace(upsample=2).upsample == 2


def test_stage_api_checks():
    rng = np.random.default_rng(1)
    sc = make_scene(rng, 2, 30, 30, size=3.5)
    cfg1, cfg4 = pf.DecodeConfig(upsample=1), pf.DecodeConfig(upsample=4)
    pk = pf.find_peaks(sc.heatmaps, backend="python", config=cfg1)
    with pytest.raises(ValueError, match="same DecodeConfig"):
        pf.score_limbs(sc.pafs, pk, backend="python", config=cfg4)
    with pytest.raises(ValueError, match="maps but pafs"):
        pf.score_limbs(sc.pafs[:, :20], pk, backend="python", config=cfg1)
    with pytest.raises(TypeError, match="Peaks"):
        pf.score_limbs(sc.pafs, "peaks", backend="python", config=cfg1)
    cands = pf.score_limbs(sc.pafs, pk, backend="python", config=cfg1)
    with pytest.raises(TypeError, match="LimbCandidates"):
        pf.assemble(pk, None, backend="python", config=cfg1)
    poses = pf.assemble(pk, cands, backend="python", config=cfg1)
    direct = pf.decode(sc.heatmaps, sc.pafs, backend="python", config=cfg1)
    np.testing.assert_array_equal(poses.keypoints, direct.keypoints)


def test_works_without_numba():
    """Numba is optional: with it unimportable, posefast imports, reports it, and decodes."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, posefast as pf\n"
        "from posefast.synthetic import make_scene\n"
        "b = pf.backends(); assert b['numba'] is False and b['python'] is True, b\n"
        "sc = make_scene(np.random.default_rng(0), 3, 40, 60, size=3.5, centres=np.array([[10, 8], [30, 8], [50, 8]], float))\n"
        "assert len(pf.decode(sc.heatmaps, sc.pafs)) == 3\n"
        "try:\n"
        "    pf.decode(sc.heatmaps, sc.pafs, backend='numba')\n"
        "except ImportError as e:\n"
        "    assert 'pip install numba' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('numba backend should be missing')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
