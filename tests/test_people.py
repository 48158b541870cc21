"""People limits (issue 8, item 3): ``DecodeConfig(number_people_max=N)`` (OpenPose's
``--number_people_max``) and the single-person mode ``DecodeConfig.single_person()``,
their exact rules (``posefast._reference.assemble``) and the same answer in every
backend, on hand-made stages and on the shared model's maps of real photos and of
dance.mp4."""

import math

import numpy as np
import pytest

import posefast as pf
from posefast import _reference as R
from posefast.types import LimbCandidates

from _maps import MapMaker, video_frames

COCO = pf.get_layout("coco18")
ALL = [b for b, ok in pf.backends().items() if ok]


@pytest.fixture(scope="module")
def real_maps(model_onnx, media):
    """{name: float32 [57, h, w]}: photos with several people and dance frames."""
    import cv2

    maker = MapMaker(model_onnx)
    out = {name: maker(cv2.imread(str(media / name)))
           for name in ("p3_dance.png", "apink3.jpg", "ski.jpg", "COCO_val2014_000000000357.jpg", "cat.jpg")}
    for i, frame in video_frames(media / "dance.mp4", step=30):
        out[f"dance {i}"] = maker(frame)
    return out


def _same(got, want, where):
    assert len(got) == len(want), f"{len(got)} people vs {len(want)} {where}"
    np.testing.assert_array_equal(got.peak_ids, want.peak_ids, err_msg=where)
    np.testing.assert_array_equal(got.keypoints, want.keypoints, err_msg=where)
    np.testing.assert_array_equal(got.scores, want.scores, err_msg=where)


def _grid_peaks(points):
    """Peaks (upsample 1, no refinement) at {keypoint: [(x, y, value), ...]} on a 60 x 60 map."""
    hm = np.zeros((COCO.num_keypoints, 60, 60), np.float32)
    for k, pts in points.items():
        for x, y, v in pts:
            hm[k, y, x] = v
    return R.find_peaks(hm, pf.DecodeConfig(upsample=1, refine_radius=0))


def _candidates(per_limb):
    offsets, a, b, s = [0], [], [], []
    for l in range(COCO.num_limbs):
        for ia, ib, sc in per_limb.get(l, []):
            a.append(ia), b.append(ib), s.append(sc)
        offsets.append(len(s))
    return LimbCandidates(np.asarray(offsets, np.int64), np.asarray(a, np.int32), np.asarray(b, np.int32),
                          np.asarray(s, np.float64))


# --- number_people_max ------------------------------------------------------------

def test_config_checks_number_people_max():
    assert pf.DecodeConfig().number_people_max is None
    with pytest.raises(ValueError, match="number_people_max"):
        pf.DecodeConfig(number_people_max=0)
    with pytest.raises(TypeError, match="number_people_max"):
        pf.DecodeConfig(number_people_max=1.5)


@pytest.mark.parametrize("backend", ALL)
def test_number_people_max_ranks_whole_skeletons_above_fragments(backend):
    """A 2-keypoint fragment with the best mean score loses to a bigger person (rank =
    total score x sqrt(box area)); the people kept keep the usual order; equal ranks
    go to the person formed first."""
    neck_rsho, rsho_relb = COCO.limbs.index((1, 2)), COCO.limbs.index((2, 3))
    # Peak indices follow the peak order (value desc, raster asc).  Fragment: neck 0 and
    # rshoulder 0, a tight, strong pair (box 2 x 2), formed first.  Person A: neck 1,
    # rshoulder 1, relbow 0 over a 20 x 20 box.  Person B: the same geometry and scores
    # (neck 2, rshoulder 2, relbow 1), formed after A.
    pk = _grid_peaks({1: [(40, 40, 0.99), (10, 10, 0.5), (10, 30, 0.5)],
                      2: [(42, 42, 0.99), (30, 10, 0.5), (30, 30, 0.5)],
                      3: [(30, 30, 0.5), (30, 50, 0.5)]})
    cands = _candidates({neck_rsho: [(0, 0, 0.99), (1, 1, 0.5), (2, 2, 0.5)],
                         rsho_relb: [(1, 0, 0.5), (2, 1, 0.5)]})
    base = pf.DecodeConfig(upsample=1, refine_radius=0, min_parts=2, min_person_score=0.0)
    every = pf.assemble(pk, cands, backend=backend, config=base)
    assert every.peak_ids[:, 1].tolist() == [0, 1, 2] and every.num_parts.tolist() == [2, 3, 3]
    assert every.scores[0] > every.scores[1] == every.scores[2]   # the fragment has the best mean
    one = pf.assemble(pk, cands, backend=backend, config=base.replace(number_people_max=1))
    assert one.peak_ids[:, 1].tolist() == [1]      # rank 2.5 * 20 beats 2.97 * 2; A before its twin B
    two = pf.assemble(pk, cands, backend=backend, config=base.replace(number_people_max=2))
    assert two.peak_ids[:, 1].tolist() == [1, 2]
    three = pf.assemble(pk, cands, backend=backend, config=base.replace(number_people_max=3))
    _same(three, every, backend)
    _same(one, pf.assemble(pk, cands, backend="python", config=base.replace(number_people_max=1)), backend)


def _rank_of(poses, peaks, row):
    """The reference's rank recomputed from a result row (total = mean * parts)."""
    xs, ys = [], []
    for k, i in enumerate(poses.peak_ids[row]):
        if i >= 0:
            x, y = peaks.xy[peaks.offsets[k] + i]
            xs.append(x), ys.append(y)
    total = float(poses.scores[row]) * int(poses.num_parts[row])
    return total * math.sqrt((max(xs) - min(xs)) * (max(ys) - min(ys)))


@pytest.mark.parametrize("s", [1, 4])
def test_number_people_max_on_real_maps(s, real_maps):
    """Every backend keeps the same N people, the N of highest rank, as a subset of
    the unlimited result, in its order."""
    multi = 0
    for name, maps in real_maps.items():
        hm, pafs = maps[:18], maps[19:]
        # The rank below is recomputed from the keypoints present (total = mean * keypoints):
        # OpenPose's shared ear fill and absorbed fragments add keypoints without score or
        # count, so both are off here.
        cfg = pf.DecodeConfig(upsample=s, min_parts=2, min_person_score=0.2, merge_fragments=0.0,
                              fill_only_shares=False)
        peaks = pf.find_peaks(hm, backend="python", config=cfg)
        cands = pf.score_limbs(pafs, peaks, backend="python", config=cfg)
        every = pf.assemble(peaks, cands, backend="python", config=cfg)
        ranks = [_rank_of(every, peaks, r) for r in range(len(every))]
        multi += len(every) > 3
        for n in (1, 2, 3):
            want = pf.assemble(peaks, cands, backend="python", config=cfg.replace(number_people_max=n))
            assert len(want) == min(n, len(every)), name
            rows = [int(np.flatnonzero((every.peak_ids == ids).all(axis=1))[0]) for ids in want.peak_ids]
            assert rows == sorted(rows), f"{name}: kept people out of the unlimited order"
            if len(every) > n:
                best = sorted(ranks, reverse=True)
                assert min(ranks[r] for r in rows) >= best[n - 1] * (1 - 1e-5), name
            for b in ALL:
                _same(pf.decode(hm, pafs, backend=b, config=cfg.replace(number_people_max=n)), want,
                      f"{name} {b} N={n} s={s}")
    assert multi >= 3   # the photos do have more people than the limits


@pytest.mark.parametrize("backend", ALL)
def test_number_people_max_one_keeps_the_dancer(backend, real_maps):
    cfg = pf.DecodeConfig(number_people_max=1, min_parts=1, min_person_score=0.0)
    for name, maps in real_maps.items():
        if not name.startswith("dance"):
            continue
        every = pf.decode(maps[:18], maps[19:], backend=backend, config=cfg.replace(number_people_max=None))
        one = pf.decode(maps[:18], maps[19:], backend=backend, config=cfg)
        assert len(one) == 1, name
        assert one.num_parts[0] == every.num_parts.max() >= 12, name


@pytest.mark.parametrize("backend", ALL)
def test_number_people_max_in_batches(backend, real_maps):
    names = ["p3_dance.png", "apink3.jpg", "dance 0"]   # all 46 x 82
    hm = np.stack([real_maps[n][:18] for n in names])
    pafs = np.stack([real_maps[n][19:] for n in names])
    for cfg in (pf.DecodeConfig(number_people_max=2), pf.DecodeConfig.single_person()):
        for frame, got in enumerate(pf.decode_batch(hm, pafs, backend=backend, config=cfg, threads=2)):
            _same(got, pf.decode(hm[frame], pafs[frame], backend="python", config=cfg), f"{backend} {cfg}")


# --- single-person mode -------------------------------------------------------------

def test_single_person_preset():
    cfg = pf.DecodeConfig.single_person()
    assert cfg.single_person_mode and cfg.peak_threshold == 0.2 and cfg.min_parts == 1
    assert cfg.min_person_score == 0.0 and cfg.effective_max_peaks == 1 and cfg.upsample == 4
    assert pf.DecodeConfig.single_person(0.5, upsample=1).peak_threshold == 0.5
    assert pf.DecodeConfig.single_person(min_parts=5).min_parts == 5
    with pytest.raises(TypeError, match="single_person_mode"):
        pf.DecodeConfig(single_person_mode=1)


@pytest.mark.parametrize("backend", ALL)
def test_single_person_takes_the_global_maximum(backend):
    hm = np.zeros((19, 30, 40), np.float32)
    hm[0, 5, 7] = hm[0, 20, 30] = 0.9          # a tie: the lowest raster index wins
    hm[0, 25, 3] = 0.5
    hm[1, 12, 13] = 0.15                        # below 0.2: missing
    hm[2, 3, 33] = 0.3
    hm[3] = -1.0                                # nothing
    cfg = pf.DecodeConfig.single_person(upsample=1, refine_radius=0)
    poses = pf.decode(hm, np.full((38, 30, 40), np.nan, np.float32), backend=backend, config=cfg)  # PAFs unread
    assert len(poses) == 1 and poses.num_parts[0] == 2
    np.testing.assert_array_equal(poses.keypoints[0, :3], np.float32([[7, 5, 0.9], [0, 0, 0], [33, 3, 0.3]]))
    np.testing.assert_allclose(poses.scores, [(np.float32(0.9) + np.float32(0.3)) / 2], rtol=1e-6)
    assert poses.peak_ids[0, :3].tolist() == [0, -1, 0]
    assert len(pf.decode(np.zeros((18, 30, 40), np.float32), np.zeros((38, 30, 40), np.float32),
                         backend=backend, config=cfg)) == 0
    strict = pf.decode(hm, np.zeros((38, 30, 40), np.float32), backend=backend, config=cfg.replace(min_parts=3))
    assert len(strict) == 0


@pytest.mark.parametrize("backend", ALL)
def test_single_person_stages(backend, real_maps):
    hm, pafs = real_maps["p3_dance.png"][:18], real_maps["p3_dance.png"][19:]
    cfg = pf.DecodeConfig.single_person()
    pk = pf.find_peaks(hm, backend=backend, config=cfg)
    assert np.diff(pk.offsets).max() == 1
    multi = pf.find_peaks(hm, backend=backend, config=pf.DecodeConfig(peak_threshold=0.2))
    for k in range(18):  # the highest of the multi-person peaks
        if multi.count(k):
            assert pk.scores[pk.offsets[k]] == multi.scores[multi.offsets[k]]
    cands = pf.score_limbs(np.full_like(pafs, np.nan), pk, backend=backend, config=cfg)
    assert len(cands) == 0 and cands.offsets.tolist() == [0] * 20
    _same(pf.assemble(pk, cands, backend=backend, config=cfg), pf.decode(hm, pafs, backend="python", config=cfg),
          backend)


@pytest.mark.parametrize("s", [1, 2, 4])
def test_single_person_on_real_maps(s, real_maps):
    """Same answer in every backend; at s = 1 without refinement it is exactly the
    notebook convention (per keypoint np.argmax of the heatmap, kept above 0.2)."""
    cfg = pf.DecodeConfig.single_person(upsample=s)
    for name, maps in real_maps.items():
        hm, pafs = maps[:18], maps[19:]
        want = pf.decode(hm, pafs, backend="python", config=cfg)
        assert len(want) == (0 if name == "cat.jpg" else 1), name
        for b in ALL:
            _same(pf.decode(hm, pafs, backend=b, config=cfg), want, f"{name} {b} s={s}")
        if s == 1:
            raw = pf.decode(hm, pafs, backend="python", config=cfg.replace(refine_radius=0))
            for k in range(18):
                y, x = np.unravel_index(np.argmax(hm[k]), hm[k].shape)
                expect = [x, y, hm[k, y, x]] if hm[k, y, x] > 0.2 else [0, 0, 0]
                got = raw.keypoints[0, k] if len(raw) else np.zeros(3, np.float32)
                np.testing.assert_allclose(got, expect, rtol=1e-6, err_msg=f"{name} keypoint {k}")
