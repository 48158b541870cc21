"""The streaming pipeline: read -> preprocess -> infer (batched) -> decode -> track.

Each stage runs in its own thread and hands work to the next through a bounded
queue, so reading, ONNX Runtime inference (which releases the GIL), decoding and the
caller's own work (rendering, writing) overlap while memory stays flat however long
the video.  Frames are never reordered or dropped: every stage is a single thread
reading a FIFO queue, and a full queue blocks the stage before it.

An exception in any stage travels down the queues *behind* the frames that were
already read, so the caller first receives every frame before the failure and then
the exception (a truncated video yields all its readable frames, then raises
:class:`~posefast.video.sources.FrameReadError`).  Closing the iterator early
(``break``, an exception or Ctrl-C in the caller) stops and joins every thread; so
does dropping the last reference to an unfinished pipeline (its finalizer): the
threads never hold a reference to the :class:`Pipeline` object itself.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

import numpy as np

from ..types import Poses
from .smoothing import OneEuroConfig, PoseSmoother
from .sources import Frame, Source, open_source
from .tracking import Tracker, TrackerConfig

__all__ = ["FrameResult", "StageTimes", "Pipeline", "process", "STAGES"]

log = logging.getLogger(__name__)

STAGES = ("read", "preprocess", "inference", "decode", "track", "render", "write")
_POLL = 0.05  # seconds between checks of the stop flags while blocked on a queue


@dataclass(frozen=True, eq=False)
class FrameResult:
    """The people of one frame.

    Attributes
    ----------
    index : int
        Frame number in the source.
    time : float
        Seconds from the start of the video (NaN for still images).
    poses : posefast.Poses
        Keypoints float32 [P, K, 3] in image pixels (smoothed when smoothing is on),
        scores [P], layout name.
    ids : int64 [P]
        Track id of each person; -1 everywhere when tracking is off.
    image : uint8 [H, W, 3] or None
        The BGR frame, when the pipeline was asked to keep images.
    name : str
        Stem for per-frame output names (video stem or image file stem).
    size : (int, int)
        ``(width, height)`` of the frame.
    """

    index: int
    time: float
    poses: Poses
    ids: np.ndarray
    image: Optional[np.ndarray] = field(default=None, repr=False)
    name: str = ""
    size: tuple[int, int] = (0, 0)

    @property
    def keypoints(self) -> np.ndarray:
        """float32 [P, K, 3] (shortcut for ``poses.keypoints``)."""
        return self.poses.keypoints

    def __len__(self) -> int:
        return len(self.poses)


class StageTimes:
    """Thread-safe totals of seconds spent per pipeline stage.

    ``add(stage, seconds, frames)`` from any thread; ``seconds`` and ``frames``
    are dicts keyed by stage name (see ``STAGES``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {s: 0.0 for s in STAGES}
        self.frames: dict[str, int] = {s: 0 for s in STAGES}

    def add(self, stage: str, seconds: float, frames: int = 1) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self.frames[stage] = self.frames.get(stage, 0) + frames

    def snapshot(self) -> dict[str, tuple[float, int]]:
        with self._lock:
            return {s: (self.seconds[s], self.frames.get(s, 0)) for s in self.seconds}


class _Failure:
    """An exception travelling down the queues behind the frames before it."""

    def __init__(self, exc: BaseException, stage: str):
        self.exc = exc
        self.stage = stage


_END = object()


class _Halted(Exception):
    """Raised inside a worker when it was told to stop."""


class _Workers:
    """The pipeline's threads and the state they share.

    The threads run methods of this object, never of the :class:`Pipeline` the user
    holds: a dropped or forgotten Pipeline is then garbage, and its finalizer stops
    the threads (which releases the frames in the queues and the source).
    """

    def __init__(self, source: Source, estimator: Any, batch_size: int, tracker: Optional[Tracker],
                 smoother: Optional[PoseSmoother], keep_images: bool, timings: StageTimes, depth: int):
        self.source = source
        self.estimator = estimator
        self.batch_size = batch_size
        self.tracker = tracker
        self.smoother = smoother
        self.keep_images = keep_images
        self.timings = timings
        self.q_read: queue.Queue = queue.Queue(maxsize=depth)
        self.q_maps: queue.Queue = queue.Queue(maxsize=2)
        self.q_out: queue.Queue = queue.Queue(maxsize=depth)
        # halt[i]: stage i must stop producing (set for stages upstream of a failure, or all on close)
        self.halt = [threading.Event() for _ in range(3)]
        self.threads: list[threading.Thread] = []

    # -- plumbing ---------------------------------------------------------------------------
    def _put(self, stage: int, q: queue.Queue, item) -> None:
        while True:
            if self.halt[stage].is_set():
                raise _Halted
            try:
                q.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _get(self, stage: int, q: queue.Queue):
        while True:
            if self.halt[stage].is_set():
                raise _Halted
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue

    def _fail(self, stage: int, q: queue.Queue, exc: BaseException, name: str) -> None:
        for i in range(stage):
            self.halt[i].set()
        try:
            self._put(stage, q, _Failure(exc, name))
        except _Halted:
            pass

    # -- stages -----------------------------------------------------------------------------
    def _reader(self) -> None:
        est, times = self.estimator, self.timings
        try:
            it = iter(self.source)
            while True:
                t0 = time.perf_counter()
                try:
                    frame: Frame = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                x, metas = est.preprocess([frame.image])
                t2 = time.perf_counter()
                times.add("read", t1 - t0)
                times.add("preprocess", t2 - t1)
                self._put(0, self.q_read, (frame, x, metas[0]))
            self._put(0, self.q_read, _END)
        except _Halted:
            pass
        except BaseException as exc:  # noqa: BLE001 - forwarded to the caller
            self._fail(0, self.q_read, exc, "read")
        finally:
            if self.halt[0].is_set():  # stopped: nothing reads the source any more
                self.source.close()

    def _infer(self) -> None:
        est, times = self.estimator, self.timings
        pending: list = []

        def flush() -> None:
            if not pending:
                return
            x = pending[0][1] if len(pending) == 1 else np.concatenate([p[1] for p in pending], axis=0)
            t0 = time.perf_counter()
            heatmaps, pafs = est.forward(x)
            times.add("inference", time.perf_counter() - t0, len(pending))
            self._put(1, self.q_maps, ([p[0] for p in pending], [p[2] for p in pending], heatmaps, pafs))
            pending.clear()

        try:
            while True:
                item = self._get(1, self.q_read)
                if item is _END or isinstance(item, _Failure):
                    flush()
                    self._put(1, self.q_maps, item)
                    return
                if pending and item[1].shape[1:] != pending[0][1].shape[1:]:
                    flush()  # frames of another size (image folders): a batch of their own
                pending.append(item)
                if len(pending) >= self.batch_size:
                    flush()
        except _Halted:
            return
        except BaseException as exc:  # noqa: BLE001
            self._fail(1, self.q_maps, exc, "inference")

    def _decode(self) -> None:
        est, times = self.estimator, self.timings
        try:
            while True:
                item = self._get(2, self.q_maps)
                if item is _END or isinstance(item, _Failure):
                    self._put(2, self.q_out, item)
                    return
                frames, metas, heatmaps, pafs = item
                t0 = time.perf_counter()
                poses_list = est.postprocess(heatmaps, pafs, metas)
                times.add("decode", time.perf_counter() - t0, len(frames))
                for frame, poses in zip(frames, poses_list):
                    t1 = time.perf_counter()
                    poses, ids = self._track(frame, poses)
                    times.add("track", time.perf_counter() - t1)
                    h, w = frame.image.shape[:2]
                    res = FrameResult(frame.index, frame.time, poses, ids,
                                      frame.image if self.keep_images else None, frame.name, (w, h))
                    self._put(2, self.q_out, res)
        except _Halted:
            return
        except BaseException as exc:  # noqa: BLE001
            self._fail(2, self.q_out, exc, "decode")

    def _track(self, frame: Frame, poses: Poses) -> tuple[Poses, np.ndarray]:
        if self.tracker is None:
            return poses, np.full(len(poses), -1, dtype=np.int64)
        ids = self.tracker.update(poses.keypoints)
        if self.smoother is not None:
            t = frame.time
            if not math.isfinite(t):
                t = float(frame.index) / 25.0
            kp = self.smoother.update(poses.keypoints, ids, t)
            self.smoother.forget(self.tracker.active_ids)
            poses = Poses(kp, poses.scores, poses.peak_ids, poses.layout)
        return poses, ids

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        for fn, name in ((self._reader, "read"), (self._infer, "infer"), (self._decode, "decode")):
            th = threading.Thread(target=fn, name=f"posefast-{name}", daemon=True)
            th.start()
            self.threads.append(th)

    def stop(self) -> None:
        """Halt every stage, wait for the threads (except the calling one), close the source.

        Also the finalizer of an abandoned :class:`Pipeline`, so it may run in any thread.
        """
        for ev in self.halt:
            ev.set()
        me = threading.current_thread()
        for th in self.threads:
            if th is me:
                continue
            th.join(timeout=30)
            if th.is_alive():  # pragma: no cover - a stage stuck in native code
                log.warning("pipeline thread %s did not stop within 30 s", th.name)
        reader = self.threads[0] if self.threads else None
        if reader is None or (reader is not me and not reader.is_alive()):
            self.source.close()
        # drop the frames still queued now rather than when this object goes
        for q in (self.q_read, self.q_maps, self.q_out):
            with q.mutex:
                q.queue.clear()


class Pipeline:
    """Iterator of :class:`FrameResult` over a source; see :func:`process`.

    Use it as a context manager or call :meth:`close` when stopping early; iterating
    to the end (or to an exception) closes it too.  A pipeline left without either
    (a ``break`` out of ``for r in process(...)``, an exception, a dropped reference)
    stops its threads and frees its frames as soon as it is garbage.
    """

    def __init__(self, source: Source, estimator: Any, *, batch_size: int = 1, track: bool | None = True,
                 tracker: Tracker | TrackerConfig | None = None,
                 smooth: bool | OneEuroConfig = False, keep_images: bool = False,
                 timings: StageTimes | None = None, cancel: threading.Event | None = None,
                 queue_frames: int | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if track is None:  # videos are tracked, image inputs are independent pictures
            from .sources import ImageSource

            track = not isinstance(source, ImageSource)
        if smooth and not track:
            raise ValueError("smoothing works per track id: it needs track=True")
        self.source = source
        self.estimator = estimator
        self.batch_size = batch_size
        if isinstance(tracker, Tracker):
            self.tracker: Optional[Tracker] = tracker
        elif track:
            self.tracker = Tracker(tracker if isinstance(tracker, TrackerConfig) else None)
        else:
            self.tracker = None
        if smooth:
            self.smoother: Optional[PoseSmoother] = PoseSmoother(smooth if isinstance(smooth, OneEuroConfig) else None)
        else:
            self.smoother = None
        self.keep_images = keep_images
        self.timings = timings if timings is not None else StageTimes()
        self.cancel = cancel if cancel is not None else threading.Event()
        self.cancelled = False
        self.frames_out = 0
        depth = queue_frames or max(4, 2 * batch_size)
        self._workers = _Workers(source, estimator, batch_size, self.tracker, self.smoother, keep_images,
                                 self.timings, depth)
        self._stop = weakref.finalize(self, _Workers.stop, self._workers)
        self._started = False
        self._closed = False

    def _track(self, frame: Frame, poses: Poses) -> tuple[Poses, np.ndarray]:
        """The tracking (and smoothing) step alone, for callers that feed frames themselves."""
        return self._workers._track(frame, poses)

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> "Pipeline":
        if self._closed and not self._started:
            raise RuntimeError("pipeline is closed")
        return self

    def __next__(self) -> FrameResult:
        if self._closed:
            raise StopIteration
        if not self._started:
            self._started = True
            self._workers.start()
        q_out = self._workers.q_out
        while True:
            if self.cancel.is_set():
                self.cancelled = True
                self.close()
                raise StopIteration
            try:
                item = q_out.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _END:
                self.close()
                raise StopIteration
            if isinstance(item, _Failure):
                self.close()
                raise item.exc
            self.frames_out += 1
            return item

    def close(self) -> None:
        """Stop every stage, wait for the threads and release the source."""
        self._closed = True
        self._stop()  # runs once; later calls do nothing

    def to_dataframe(self, table_layout: str = "tidy", keypoint_scale: int = 0):
        """Consume the remaining results into a pandas DataFrame (see :func:`posefast.video.tables.to_dataframe`).

        Parameters
        ----------
        table_layout : {"tidy", "wide"}
        keypoint_scale : {0, 3, 4}

        Returns
        -------
        pandas.DataFrame
        """
        from .tables import to_dataframe

        try:
            return to_dataframe(self, self.estimator.layout if hasattr(self.estimator, "layout") else None,
                                table_layout=table_layout, keypoint_scale=keypoint_scale)
        finally:
            self.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def process(source: Union[str, os.PathLike, int, Source], estimator: Any = None, *,
            start: float | str = 0.0, duration: float | str | None = None, step: int = 1, batch_size: int = 1,
            track: bool | None = None, tracker: Tracker | TrackerConfig | None = None,
            smooth: bool | OneEuroConfig = False, keep_images: bool = False,
            timings: StageTimes | None = None, cancel: threading.Event | None = None) -> Pipeline:
    """Stream pose results over a video, camera, URL or images.

    Parameters
    ----------
    source : str, path, int or Source
        Anything :func:`~posefast.video.sources.open_source` accepts.  Opened (and
        checked) immediately, so bad input raises here, before any work.
    estimator : posefast.Estimator, optional
        The network and decoder; default ``posefast.Estimator()``.
    start, duration : float or str
        Time to skip, and to process (videos): seconds or ``"HH:MM:SS(.ms)"``.
    step : int
        Keep every ``step``-th frame.
    batch_size : int
        Frames per network call (N).
    track : bool, optional
        Give people stable ids across frames (``FrameResult.ids``).  Default: yes for
        videos, cameras and URLs; no for images (independent pictures).
    tracker : Tracker or TrackerConfig, optional
        Tracker to use, or its settings.
    smooth : bool or OneEuroConfig
        One-Euro smoothing of keypoints per track (needs ``track``).
    keep_images : bool
        Attach the BGR frame to every result (costs memory only for frames in flight).
    timings : StageTimes, optional
        Accumulates seconds per stage.
    cancel : threading.Event, optional
        When set, iteration ends after the current frame (``Pipeline.cancelled``).

    Returns
    -------
    Pipeline
        An iterator of :class:`FrameResult`, in frame order.

    Examples
    --------
    >>> import posefast as pf
    >>> from posefast.video import process
    >>> est = pf.Estimator()
    >>> for r in process("dance.mp4", est, duration=2.0):
    ...     print(r.index, r.time, r.ids, r.keypoints.shape)
    """
    src = open_source(source, start=start, duration=duration, step=step)
    try:
        if track is None:
            from .sources import ImageSource

            track = not isinstance(src, ImageSource)
        if estimator is None:
            from ..models.estimator import Estimator

            estimator = Estimator()
        return Pipeline(src, estimator, batch_size=batch_size, track=track, tracker=tracker, smooth=smooth,
                        keep_images=keep_images, timings=timings, cancel=cancel)
    except BaseException:
        src.close()
        raise
