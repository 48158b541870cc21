"""Drive a :class:`~posefast.video.pipeline.Pipeline` into sinks, closing everything
whatever happens.

:func:`run_to_sinks` never raises what the pipeline or a sink raised: it returns a
:class:`RunSummary` whose ``error`` holds it, after every sink was closed, so the
outputs are valid up to the last frame written.  A sink that fails to write is
reported as :class:`~posefast.video.sinks.OutputWriteError` naming its output
(``error.output``); the other sinks are still closed normally.  While the run lasts a
timer thread asks every sink to flush what it buffered at least every
``flush_seconds``, so a run that stalls (or is killed) loses at most that much.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .pipeline import FrameResult, Pipeline
from ._durable import OutputWriteError
from .sinks import Sink

__all__ = ["RunSummary", "run_to_sinks"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did.

    Attributes
    ----------
    frames : int
        Frames read, processed and written to every sink.
    seconds : float
        Wall time from the first request to the last sink closed.
    error : BaseException or None
        The exception that ended the run early (``KeyboardInterrupt`` included).
    cancelled : bool
        The run stopped because its cancel event was set (Ctrl-C in the CLI).
    last_index : int or None
        Source index of the last frame written.
    people_frames : int
        Frames with at least one person.
    ids : set of int
        Track ids seen.
    failed_output : str or None
        The output whose write failed (its path), when that ended the run.
    close_errors : list of OutputWriteError
        Outputs that failed while being closed (after the run had ended).
    """

    frames: int = 0
    seconds: float = 0.0
    error: Optional[BaseException] = None
    cancelled: bool = False
    last_index: Optional[int] = None
    people_frames: int = 0
    ids: set = field(default_factory=set)
    failed_output: Optional[str] = None
    close_errors: list = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _named(sink: Sink, exc: BaseException) -> BaseException:
    """``exc`` as an OutputWriteError naming ``sink``'s output (KeyboardInterrupt passes)."""
    if isinstance(exc, OutputWriteError) or not isinstance(exc, Exception):
        return exc
    return OutputWriteError(sink.target, exc)


class _Flusher:
    """Calls ``flush_if_due()`` of every sink every ``interval`` seconds, in a thread."""

    def __init__(self, sinks: Sequence[Sink], interval: float):
        self._sinks = [s for s in sinks if hasattr(s, "flush_if_due")]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="posefast-flush", daemon=True)

    def __enter__(self) -> "_Flusher":
        if self._sinks:
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for sink in self._sinks:
                try:
                    sink.flush_if_due()
                except Exception:  # noqa: BLE001 - kept by the sink; its next write or close raises it
                    pass

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def run_to_sinks(pipeline: Pipeline, sinks: Sequence[Sink],
                 on_frame: Optional[Callable[[FrameResult], None]] = None,
                 flush_interval: float = 0.25) -> RunSummary:
    """Write every result of ``pipeline`` to every (already opened) sink.

    Parameters
    ----------
    pipeline : Pipeline
    sinks : sequence of Sink
        Opened sinks; they are closed here, also on error.
    on_frame : callable, optional
        Called after each frame was written (progress bars).
    flush_interval : float
        Seconds between the timer thread's flush checks.

    Returns
    -------
    RunSummary
    """
    summary = RunSummary()
    timings = pipeline.timings
    t_start = time.perf_counter()
    current: Optional[Sink] = None
    flusher = _Flusher(sinks, flush_interval)
    try:
        flusher.__enter__()
        for res in pipeline:
            for sink in sinks:
                t0 = time.perf_counter()
                current = sink
                sink.write(res)
                current = None
                if sink.stage is not None:
                    timings.add(sink.stage, time.perf_counter() - t0)
            summary.frames += 1
            summary.last_index = res.index
            if len(res):
                summary.people_frames += 1
                summary.ids.update(int(i) for i in res.ids if i >= 0)
            if on_frame is not None:
                on_frame(res)
    except BaseException as exc:  # noqa: BLE001 - reported in the summary, after closing
        summary.error = _named(current, exc) if current is not None else exc
        if isinstance(summary.error, OutputWriteError):
            summary.failed_output = summary.error.output
    finally:
        flusher.__exit__()
        try:
            pipeline.close()
        except BaseException as exc:  # noqa: BLE001
            summary.error = summary.error or exc
        for sink in sinks:
            try:
                sink.close()
            except BaseException as exc:  # noqa: BLE001
                err = _named(sink, exc)
                if isinstance(err, OutputWriteError):
                    if summary.failed_output is None or err.output != summary.failed_output:
                        summary.close_errors.append(err)
                    if summary.error is None:
                        summary.failed_output = err.output
                log.debug("closing %s failed: %s", sink.target, err)
                summary.error = summary.error or err
        summary.cancelled = pipeline.cancelled
        summary.seconds = time.perf_counter() - t_start
    return summary
