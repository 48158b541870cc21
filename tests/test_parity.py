"""Native and Numba give the reference's people: on every frame of dance.mp4, every
shared photo (the real model's maps, upsample 1 and 4) and 1,000 generated scenes
(0-40 people, overlapping, cut by the border, empty maps, noise, peak explosions)."""

import numpy as np
import pytest

import posefast as pf
from posefast import _reference
from posefast.synthetic import make_scene

from _compare import assert_same_candidates, assert_same_peaks, assert_same_poses
from _maps import MapMaker, video_frames

COCO = pf.get_layout("coco18")
FAST = [b for b in ("native", "numba") if pf.backends()[b]]


@pytest.fixture(scope="module")
def fast_backends():
    # (in CI, _shared.every_backend_in_ci has already failed the run when one is missing)
    if not FAST:
        pytest.skip("neither the native nor the numba backend is available")
    return FAST


@pytest.fixture(scope="module")
def dance_maps(model_onnx, dance_mp4):
    maker = MapMaker(model_onnx)
    maps = [maker(frame) for _, frame in video_frames(dance_mp4)]
    assert len(maps) == 217
    return maps


@pytest.fixture(scope="module")
def photo_maps(model_onnx, media):
    import cv2

    maker = MapMaker(model_onnx)
    paths = sorted(p for p in media.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    assert len(paths) == 16
    return [(p.name, maker(cv2.imread(str(p)))) for p in paths]


def _compare_frame(maps, cfg, backends, where):
    hm, pafs = maps[:18], maps[19:]
    ref = pf.decode(hm, pafs, backend="python", config=cfg)
    for b in backends:
        assert_same_poses(pf.decode(hm, pafs, backend=b, config=cfg), ref, f"{where} backend={b}")
    return ref


@pytest.mark.parametrize("s", [1, 4])
def test_dance_every_frame(s, dance_maps, fast_backends):
    cfg = pf.DecodeConfig(upsample=s)
    found = 0
    for i, maps in enumerate(dance_maps):
        ref = _compare_frame(maps, cfg, fast_backends, f"dance frame {i} upsample {s}")
        found += len(ref) >= 1
    assert found >= 0.95 * len(dance_maps)  # the dancer is there; the decoder finds him


@pytest.mark.parametrize("s", [1, 4])
def test_photos(s, photo_maps, fast_backends):
    cfg = pf.DecodeConfig(upsample=s)
    counts = {name: len(_compare_frame(maps, cfg, fast_backends, f"{name} upsample {s}"))
              for name, maps in photo_maps}
    assert counts["cat.jpg"] == 0


@pytest.mark.parametrize("s", [1, 2, 4])
def test_stages_on_real_frames(s, dance_maps, photo_maps, fast_backends):
    cfg = pf.DecodeConfig(upsample=s)
    frames = [("dance 0", dance_maps[0]), ("dance 100", dance_maps[100])] + photo_maps[:4]
    for name, maps in frames:
        hm, pafs = maps[:18], maps[19:]
        pk = pf.find_peaks(hm, backend="python", config=cfg)
        cands = pf.score_limbs(pafs, pk, backend="python", config=cfg)
        poses = pf.assemble(pk, cands, backend="python", config=cfg)
        for b in fast_backends:
            where = f"{name} s={s} backend={b}"
            assert_same_peaks(pf.find_peaks(hm, backend=b, config=cfg), pk, where)
            assert_same_candidates(pf.score_limbs(pafs, pk, backend=b, config=cfg), cands, where)
            assert_same_poses(pf.assemble(pk, cands, backend=b, config=cfg), poses, where)


def _scene(i: int):
    """Generated scene number i: reproducible, and covering the hard cases."""
    rng = np.random.default_rng(1000 + i)
    kind = i % 20
    h, w = int(rng.integers(8, 48)), int(rng.integers(8, 64))
    s = int(rng.choice([1, 1, 2, 3, 4]))
    cfg = pf.DecodeConfig(upsample=s, max_peaks=int(rng.choice([127, 127, 16])))
    if kind == 0:                                 # empty maps
        return np.zeros((19, h, w), np.float32), np.zeros((38, h, w), np.float32), cfg
    if kind == 1:                                 # all ones: plateau everywhere
        return np.ones((19, h, w), np.float32), np.ones((38, h, w), np.float32), cfg
    if kind == 2:                                 # checkerboard: a peak explosion, capped
        hm = np.indices((19, h, w)).sum(axis=0) % 2 * 0.5 + rng.uniform(0, 0.01, (19, h, w))
        return hm.astype(np.float32), rng.uniform(-1, 1, (38, h, w)).astype(np.float32), cfg
    if kind == 3:                                 # tiny maps
        h, w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        return rng.uniform(-0.2, 1, (19, h, w)).astype(np.float32), rng.uniform(-1, 1, (38, h, w)).astype(np.float32), cfg
    n = int(rng.integers(0, 41))
    sc = make_scene(rng, n, h, w, size=float(rng.uniform(2, 6)), sigma=float(rng.uniform(0.6, 2.0)),
                    noise=float(rng.choice([0, 0, 0.02, 0.1])), drop=float(rng.choice([0, 0.2])),
                    pose="random" if kind % 3 == 0 else "human")
    return sc.heatmaps, sc.pafs, cfg


@pytest.mark.parametrize("chunk", range(10))
def test_generated_scenes(chunk, fast_backends):
    for i in range(chunk * 100, chunk * 100 + 100):
        hm, pafs, cfg = _scene(i)
        ref = _reference.decode(hm[:18], pafs, COCO, cfg)
        for b in fast_backends:
            got = pf.decode(hm, pafs, backend=b, config=cfg)
            assert_same_poses(got, ref, f"scene {i} (upsample {cfg.upsample}) backend={b}")


def test_generated_scenes_find_people():
    """The generated crowds are real work: most scenes with people yield people."""
    with_people = found = 0
    for i in range(4, 200, 20):
        hm, pafs, cfg = _scene(i)
        if hm[:18].max() > 0.5:
            with_people += 1
            found += len(_reference.decode(hm[:18], pafs, COCO, cfg)) > 0
    assert with_people >= 5 and found >= 0.6 * with_people
