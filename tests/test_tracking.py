"""Tracking and One-Euro smoothing on synthetic sequences."""

from __future__ import annotations

import numpy as np
import pytest

from posefast.video.smoothing import OneEuroConfig, OneEuroFilter, PoseSmoother
from posefast.video.tracking import Tracker, TrackerConfig, person_size, pose_distance

K = 18
# a standing figure (COCO-18 order), about 200 px tall, centred on x = 0
_FIGURE = np.array([[0, 0], [0, 25], [-20, 25], [-30, 60], [-35, 95], [20, 25], [30, 60], [35, 95],
                    [-12, 100], [-14, 150], [-15, 200], [12, 100], [14, 150], [15, 200], [-5, -5], [5, -5],
                    [-10, 0], [10, 0]], dtype=np.float32)

METHODS = ["hungarian", "greedy"]


def person(cx: float, cy: float, visible=None, scale: float = 1.0) -> np.ndarray:
    kp = np.zeros((K, 3), np.float32)
    kp[:, :2] = _FIGURE * scale + (cx, cy)
    kp[:, 2] = 0.8
    if visible is not None:
        mask = np.zeros(K, bool)
        mask[list(visible)] = True
        kp[~mask] = 0
    return kp


def frame(*people: np.ndarray) -> np.ndarray:
    return np.stack(people) if people else np.zeros((0, K, 3), np.float32)


def test_distance_and_size():
    a = frame(person(0, 0))
    b = frame(person(10, 0), person(0, 0, visible=[0]))
    d = pose_distance(a, b, min_common=2)
    assert d[0, 0] == pytest.approx(10.0)
    assert np.isinf(d[0, 1])  # one common keypoint < min_common
    assert person_size(a)[0] == pytest.approx(np.hypot(70, 205), rel=1e-6)
    assert person_size(frame(person(0, 0, visible=[3])), min_size=16)[0] == 16


@pytest.mark.parametrize("method", METHODS)
def test_crossing_people_keep_their_ids(method):
    """Two people walk through each other (same height, opposite directions)."""
    tr = Tracker(method=method)
    seen = []
    for t in range(40):
        a = person(100 + 10 * t, 300)      # left -> right
        b = person(490 - 10 * t, 304)      # right -> left; they overlap around t = 19..20
        # the detector lists them in varying order
        people = frame(a, b) if t % 3 else frame(b, a)
        ids = tr.update(people)
        ida, idb = (ids[0], ids[1]) if t % 3 else (ids[1], ids[0])
        seen.append((int(ida), int(idb)))
    assert len(set(seen)) == 1          # the same pair of ids from start to end
    assert seen[0][0] != seen[0][1]


@pytest.mark.parametrize("method", METHODS)
def test_leaving_for_longer_than_max_missing_gives_a_new_id(method):
    tr = Tracker(max_missing=3, method=method)
    assert tr.update(frame(person(200, 200))).tolist() == [0]
    for _ in range(3):  # gone for max_missing frames: the id survives
        assert tr.update(frame()).tolist() == []
    assert tr.update(frame(person(202, 200))).tolist() == [0]
    for _ in range(4):  # gone for max_missing + 1 frames: retired
        tr.update(frame())
    assert tr.active_ids == []
    assert tr.update(frame(person(202, 200))).tolist() == [1]


@pytest.mark.parametrize("method", METHODS)
def test_new_people_get_new_ids_and_ids_are_never_reused(method):
    tr = Tracker(max_missing=0, method=method)
    assert tr.update(frame(person(100, 100))).tolist() == [0]
    assert tr.update(frame(person(100, 100), person(600, 100))).tolist() == [0, 1]
    assert tr.update(frame(person(600, 100))).tolist() == [1]
    assert tr.update(frame(person(600, 100))).tolist() == [1]
    assert tr.update(frame(person(100, 100), person(600, 100))).tolist() == [2, 1]


@pytest.mark.parametrize("method", METHODS)
def test_gate_is_relative_to_person_size(method):
    # small person (scale 0.2, ~40 px tall) jumping 40 px is a new person; a big one is not
    small = Tracker(method=method)
    small.update(frame(person(100, 100, scale=0.2)))
    assert small.update(frame(person(140, 100, scale=0.2))).tolist() == [1]
    big = Tracker(method=method)
    big.update(frame(person(100, 100, scale=2.0)))
    assert big.update(frame(person(140, 100, scale=2.0))).tolist() == [0]


@pytest.mark.parametrize("method", METHODS)
def test_fragment_on_a_person_does_not_steal_the_track(method):
    """A 3-keypoint fragment lying on the person must not take the person's id."""
    tr = Tracker(method=method)
    tr.update(frame(person(300, 300)))
    for t in range(5):
        body = person(300 + t, 300, visible=range(3, 18))           # 15 parts, slightly off
        fragment = person(300 + t, 300, visible=[0, 1, 2])          # exactly on the track
        fragment[:, :2] += np.where(fragment[:, 2:] > 0, 0.5, 0.0)
        ids = tr.update(frame(fragment, body))
        assert ids[1] == 0
        assert ids[0] != 0


def test_keypoint_count_change_is_an_error():
    tr = Tracker()
    tr.update(frame(person(0, 0)))
    with pytest.raises(ValueError, match="keypoint count"):
        tr.update(np.zeros((1, 25, 3), np.float32))


def test_config_validation():
    with pytest.raises(ValueError):
        TrackerConfig(max_missing=-1)
    with pytest.raises(ValueError):
        TrackerConfig(gate=0)
    with pytest.raises(TypeError):
        Tracker(TrackerConfig(), max_missing=3)


# -- One-Euro -----------------------------------------------------------------------------------

def test_one_euro_removes_jitter_on_a_still_point_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.05), (1, 2))
    t = np.arange(100) / 25.0
    noisy = 100 + rng.normal(0, 2.0, size=(100, 1, 2))
    out = np.array([f.update(noisy[i], t[i]) for i in range(100)])
    assert out[20:].std() < 0.6 * noisy[20:].std()
    # a fast ramp: the smoothed value keeps up (small lag thanks to beta)
    f2 = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.05), (1, 2))
    ramp = (t * 500.0)[:, None, None] * np.ones((1, 1, 2))
    out2 = np.array([f2.update(ramp[i], t[i]) for i in range(100)])
    lag = np.abs(out2[-1] - ramp[-1]).max()
    assert lag < 25.0  # under one frame's motion (20 px) plus a little
    # beta = 0 lags much more on the same ramp
    f3 = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0), (1, 2))
    out3 = np.array([f3.update(ramp[i], t[i]) for i in range(100)])
    assert np.abs(out3[-1] - ramp[-1]).max() > 3 * lag


def test_pose_smoother_per_id_keeps_missing_keypoints_and_confidences():
    sm = PoseSmoother(min_cutoff=0.5, beta=0.0)
    a0 = frame(person(100, 100), person(500, 100))
    out0 = sm.update(a0, np.array([0, 1]), 0.0)
    np.testing.assert_array_equal(out0, a0)  # first sample passes through
    a1 = frame(person(110, 100, visible=range(1, 18)), person(500, 100))
    out1 = sm.update(a1, np.array([0, 1]), 0.04)
    assert out1[0, 0].tolist() == [0, 0, 0]                       # missing stays missing
    assert 100 < out1[0, 1, 0] < 110                               # smoothed towards the new value
    np.testing.assert_array_equal(out1[..., 2], a1[..., 2])        # confidences untouched
    np.testing.assert_allclose(out1[1], a1[1])                     # the still person is unchanged
    # swapping the input order does not mix the filters: state follows the id
    a2 = frame(person(500, 100), person(110, 100))
    out2 = sm.update(a2, np.array([1, 0]), 0.08)
    np.testing.assert_allclose(out2[0, :, :2], a2[0, :, :2])
    assert out2[1, 1, 0] > out1[0, 1, 0]
    sm.forget([1])
    assert list(sm._filters) == [1]


def test_one_euro_config_validation():
    with pytest.raises(ValueError):
        OneEuroConfig(min_cutoff=0)
    with pytest.raises(ValueError):
        OneEuroConfig(beta=-1)
