"""Drive a :class:`~posefast.video.pipeline.Pipeline` into sinks, closing everything
whatever happens.

:func:`run_to_sinks` never raises what the pipeline or a sink raised: it returns a
:class:`RunSummary` whose ``error`` holds it, after every sink was closed, so the
outputs are valid up to the last frame written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .pipeline import FrameResult, Pipeline
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
    """

    frames: int = 0
    seconds: float = 0.0
    error: Optional[BaseException] = None
    cancelled: bool = False
    last_index: Optional[int] = None
    people_frames: int = 0
    ids: set = field(default_factory=set)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_to_sinks(pipeline: Pipeline, sinks: Sequence[Sink],
                 on_frame: Optional[Callable[[FrameResult], None]] = None) -> RunSummary:
    """Write every result of ``pipeline`` to every (already opened) sink.

    Parameters
    ----------
    pipeline : Pipeline
    sinks : sequence of Sink
        Opened sinks; they are closed here, also on error.
    on_frame : callable, optional
        Called after each frame was written (progress bars).

    Returns
    -------
    RunSummary
    """
    summary = RunSummary()
    timings = pipeline.timings
    t_start = time.perf_counter()
    try:
        for res in pipeline:
            for sink in sinks:
                t0 = time.perf_counter()
                sink.write(res)
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
        summary.error = exc
    finally:
        try:
            pipeline.close()
        except BaseException as exc:  # noqa: BLE001
            summary.error = summary.error or exc
        for sink in sinks:
            try:
                sink.close()
            except BaseException as exc:  # noqa: BLE001
                log.error("closing %s failed: %s", type(sink).__name__, exc)
                summary.error = summary.error or exc
        summary.cancelled = pipeline.cancelled
        summary.seconds = time.perf_counter() - t_start
    return summary
