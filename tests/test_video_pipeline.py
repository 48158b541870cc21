"""The threaded pipeline: order, no drops, batching, error propagation, shutdown.

A deterministic stand-in for the Estimator encodes each frame's number in its
"maps", so the tests can check that every frame comes out once, in order, paired
with its own result, whatever the batch size and thread timing.
"""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from posefast import Poses
from posefast.video.pipeline import Pipeline, StageTimes, process
from posefast.video.sources import Frame, FrameReadError, Source

K = 18


class NumberedSource(Source):
    """Frames whose pixel (0, 0) encodes the frame number; optionally fails at frame ``fail_at``."""

    def __init__(self, n: int, fail_at: int | None = None, size=(64, 48)):
        self.n, self.fail_at = n, fail_at
        self.size = size
        self.fps = 25.0
        self.name = "numbered"
        self.expected_frames = n
        self.closed = False

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise FrameReadError(f"cannot decode frame {i}", i)
            img = np.zeros((self.size[1], self.size[0], 3), np.uint8)
            img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
            yield Frame(i, i / self.fps, img, self.name)

    def close(self):
        self.closed = True


class EchoEstimator:
    """preprocess/forward/postprocess with the Estimator's signatures; keypoint x = frame number."""

    def __init__(self, jitter: float = 0.0, fail_forward_at: int | None = None):
        self.jitter = jitter
        self.fail_forward_at = fail_forward_at
        self.batches: list[int] = []
        self.rng = random.Random(0)

    def preprocess(self, images):
        x = np.array([[[[im[0, 0, 0] + 256.0 * im[0, 0, 1]]]] for im in images], np.float32)
        return x, [{"shape": im.shape} for im in images]

    def forward(self, x):
        self.batches.append(len(x))
        if self.jitter:
            time.sleep(self.rng.random() * self.jitter)
        if self.fail_forward_at is not None and (x[:, 0, 0, 0] == self.fail_forward_at).any():
            raise RuntimeError(f"network failed on frame {self.fail_forward_at}")
        return x.copy(), -x

    def postprocess(self, heatmaps, pafs, metas):
        out = []
        for v in heatmaps[:, 0, 0, 0]:
            kp = np.zeros((1, K, 3), np.float32)
            kp[0, :, 0] = 100 + np.arange(K) * 3
            kp[0, :, 1] = 100 + np.arange(K) * 5
            kp[0, :, 2] = 1.0
            kp[0, 0, 0] = v          # the frame number rides on the nose
            out.append(Poses(kp, np.ones(1, np.float32), np.zeros((1, K), np.int32), "coco18"))
        return out


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_every_frame_once_in_order(batch_size):
    est = EchoEstimator(jitter=0.002)
    src = NumberedSource(101)
    results = list(Pipeline(src, est, batch_size=batch_size, keep_images=True))
    assert [r.index for r in results] == list(range(101))
    assert [int(r.keypoints[0, 0, 0]) for r in results] == list(range(101))
    assert all(r.image[0, 0, 0] == r.index % 256 for r in results)
    assert all(r.ids.tolist() == [0] for r in results)          # one person, one track
    assert max(est.batches) == batch_size and sum(est.batches) == 101
    assert src.closed


def test_no_tracking_gives_minus_one_and_no_images_by_default():
    results = list(Pipeline(NumberedSource(5), EchoEstimator(), track=False))
    assert all(r.ids.tolist() == [-1] and r.image is None for r in results)


def test_read_error_arrives_after_the_frames_before_it():
    got = []
    pipe = Pipeline(NumberedSource(50, fail_at=23), EchoEstimator(), batch_size=4)
    with pytest.raises(FrameReadError) as info:
        for r in pipe:
            got.append(r.index)
    assert got == list(range(23))
    assert info.value.frame == 23


def test_worker_exception_propagates_and_threads_stop():
    before = threading.active_count()
    pipe = Pipeline(NumberedSource(200), EchoEstimator(fail_forward_at=40), batch_size=2)
    got = []
    with pytest.raises(RuntimeError, match="network failed on frame 40"):
        for r in pipe:
            got.append(r.index)
    assert got == list(range(40))
    time.sleep(0.2)
    assert threading.active_count() <= before
    assert pipe.source.closed


def test_early_close_joins_threads_and_bounds_memory():
    """Breaking out after a few frames must not leave threads or read the whole source."""
    before = threading.active_count()
    src = NumberedSource(100_000)
    pipe = Pipeline(src, EchoEstimator(), batch_size=2)
    for r in pipe:
        if r.index == 10:
            break
    pipe.close()
    assert threading.active_count() <= before
    assert src.closed
    # bounded queues: far fewer frames were ever read than the source holds
    assert pipe.timings.frames["read"] < 100


def test_cancel_event_ends_iteration_cleanly():
    cancel = threading.Event()
    pipe = Pipeline(NumberedSource(1000), EchoEstimator(jitter=0.001), cancel=cancel)
    n = 0
    for r in pipe:
        n += 1
        if n == 7:
            cancel.set()
    assert n == 7 and pipe.cancelled


def test_stage_times_are_recorded():
    times = StageTimes()
    list(Pipeline(NumberedSource(12), EchoEstimator(), timings=times, batch_size=4))
    snap = times.snapshot()
    assert snap["read"][1] == 12 and snap["inference"][1] == 12 and snap["decode"][1] == 12
    assert all(snap[s][0] >= 0 for s in snap)


def test_smoothing_needs_tracking():
    with pytest.raises(ValueError, match="track"):
        Pipeline(NumberedSource(1), EchoEstimator(), track=False, smooth=True)


def test_process_accepts_a_path_and_closes_on_bad_batch(dance_mp4):
    with pytest.raises(ValueError, match="batch_size"):
        process(dance_mp4, EchoEstimator(), batch_size=0)
    out = list(process(dance_mp4, EchoEstimator(), duration=0.4, step=2))
    assert [r.index for r in out] == [0, 2, 4, 6, 8]
    assert out[1].time == pytest.approx(0.08) and out[0].size == (1280, 720)
