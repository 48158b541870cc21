"""Whole people instead of fragments (DecodeConfig.merge_fragments, the rule in
posefast/_reference/assemble.py): the same answer in every backend, and the figures
of issue 8 that are cheap enough for CI on the real model's maps (the dance.mp4
tracking figure is in bench/test_fragments_bench.py)."""

import numpy as np
import pytest

import posefast as pf
from posefast.types import Peaks, LimbCandidates

from _compare import assert_same_poses
from _maps import MapMaker
from _people import COCO_MINI, coco_ap, coco_maps, people
from _shared import _in_ci

BACKENDS = [b for b, ok in pf.backends().items() if ok]
OFF = pf.DecodeConfig(merge_fragments=0.0)


@pytest.fixture(scope="module")
def maker(model_onnx):
    return MapMaker(model_onnx)


@pytest.fixture(scope="module")
def photos(maker, media):
    import cv2

    paths = sorted(p for p in media.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    return {p.name: maker(cv2.imread(str(p))) for p in paths}


def test_defaults():
    assert pf.DecodeConfig().merge_fragments == 0.4
    for lay in ("coco18", "body25", "mpi15"):
        assert pf.DecodeConfig.openpose(lay).merge_fragments == 0.0
    with pytest.raises(ValueError, match="merge_fragments"):
        pf.DecodeConfig(merge_fragments=-0.1)


def test_p3_dance_three_dancers(photos):
    maps = photos["p3_dance.png"]
    assert len(people(maps, OFF, "python")) == 5          # two fragments without the rule
    ref = people(maps, pf.DecodeConfig(), "python")
    assert len(ref) == 3
    for b in BACKENDS:
        assert_same_poses(people(maps, pf.DecodeConfig(), b), ref, f"backend={b}")
    # the three dancers lose no keypoint: absorbing only adds to the people that stay
    full = np.sort((ref.keypoints[:, :, 2] > 0).sum(axis=1))[::-1]
    parts = np.sort((people(maps, OFF, "python").keypoints[:, :, 2] > 0).sum(axis=1))[::-1][:3]
    assert (full >= parts).all()


def test_photo_counts_not_worse(photos):
    for name, maps in photos.items():
        on, off = len(people(maps, pf.DecodeConfig())), len(people(maps, OFF))
        if name == "p3_dance.png":
            assert (on, off) == (3, 5)
        else:
            assert on == off, name


def test_coco_ap_not_lower(maker):
    if not (COCO_MINI / "person_keypoints.json").exists():
        if _in_ci():
            pytest.fail(f"coco_mini not found at {COCO_MINI}", pytrace=False)
        pytest.skip(f"coco_mini not found at {COCO_MINI}")
    maps = coco_maps(maker)
    on, off = coco_ap(maps, pf.DecodeConfig()), coco_ap(maps, OFF)
    assert on >= off
    assert on > 0.3


def test_two_whole_people_on_top_of_each_other_stay_two():
    from posefast.synthetic import make_scene

    rng = np.random.default_rng(2024)
    make_scene(rng, 1, 184, 656, size=6.0, margin=-0.05)
    sc = make_scene(rng, 2, 184, 656, size=6.0, margin=-0.05)   # bench's crowd of 2: heavily overlapping
    for b in BACKENDS:
        assert len(pf.decode(sc.heatmaps, sc.pafs, backend=b, config=pf.DecodeConfig(upsample=1))) == 2, b


def _two_people(dx: float):
    """Peaks of a 3-keypoint person and a 2-keypoint one (keypoints 0, 1), the second
    shifted by dx on the decode grid."""
    lay = pf.Layout(name="three", keypoints=("a", "b", "c"), limbs=((0, 1), (1, 2)),
                    paf_channels=((0, 1), (2, 3)))
    xy = np.array([[10, 10], [10 + dx, 10], [10, 20], [10 + dx, 20], [10, 30], [10 + dx, 30]], np.float64)
    peaks = Peaks(offsets=np.array([0, 2, 4, 6]), grid=xy.astype(np.int32), xy=xy,
                  scores=np.array([0.9, 0.8, 0.9, 0.8, 0.9, 0.8]), upsample=1, grid_shape=(64, 64))
    cands = LimbCandidates(offsets=np.array([0, 2, 3]), a=np.array([0, 1, 0], np.int32),
                           b=np.array([0, 1, 0], np.int32), scores=np.array([0.9, 0.8, 0.9]))
    return lay, peaks, cands


@pytest.mark.parametrize("backend", BACKENDS)
def test_rule_on_made_people(backend):
    cfg = pf.DecodeConfig(upsample=1, min_parts=2)
    # box diagonal of the first person is 20: mean distance 7.5 <= 0.4 * 20 absorbs, 8.5 does not
    for dx, want in [(7.5, 1), (8.5, 2)]:
        lay, peaks, cands = _two_people(dx)
        got = pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg)
        assert len(got) == want, (dx, backend)
        assert_same_poses(got, pf.assemble(peaks, cands, layout=lay, backend="python", config=cfg))
        assert len(pf.assemble(peaks, cands, layout=lay, backend=backend, config=cfg.replace(merge_fragments=0.0))) == 2
