"""Pipeline benchmark: seconds per stage, pipeline fps, and the network alone.

``inference-only fps`` runs ``estimator.forward`` back to back on frames of the
same source, already preprocessed and batched as the pipeline batches them: the
throughput the pipeline would reach if reading, decoding and writing were free.
The ratio pipeline / inference-only says how well the other stages hide behind
the network.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .pipeline import STAGES, StageTimes
from .sources import Source, open_source

__all__ = ["warm_up", "inference_only_fps", "format_report"]

log = logging.getLogger(__name__)


def _first_images(source, count: int, start: float = 0.0, step: int = 1) -> list[np.ndarray]:
    src = open_source(source, start=start, step=step)
    out = []
    try:
        for frame in src:
            out.append(frame.image)
            if len(out) >= count:
                break
    finally:
        src.close()
    if not out:
        raise ValueError("the source yielded no frame")
    return out


def warm_up(estimator: Any, source: Source) -> None:
    """One forward pass at the source's frame size, so session start-up is not timed."""
    w, h = source.size
    x, _ = estimator.preprocess([np.zeros((h, w, 3), np.uint8)])
    estimator.forward(x)


def inference_only_fps(estimator: Any, source_path, *, start: float = 0.0, step: int = 1,
                       batch_size: int = 1, frames: int = 100, max_seconds: float = 30.0) -> float:
    """Frames per second of ``estimator.forward`` alone.

    Parameters
    ----------
    estimator : posefast.Estimator
    source_path : str, path or int
        The source the pipeline read; its first ``batch_size`` frames are used.
    batch_size : int
        Frames per forward call (N), as in the pipeline.
    frames : int
        Frames to push through (rounded up to whole batches).
    max_seconds : float
        Stop early after this long.

    Returns
    -------
    float
    """
    images = _first_images(source_path, batch_size, start, step)
    while len(images) < batch_size:
        images.append(images[len(images) % len(images)])
    x, _ = estimator.preprocess(images)
    estimator.forward(x)  # warm
    done = 0
    t0 = time.perf_counter()
    while done < frames:
        estimator.forward(x)
        done += batch_size
        if time.perf_counter() - t0 > max_seconds:
            break
    return done / (time.perf_counter() - t0)


def format_report(timings: StageTimes, summary, inference_fps, batch_size: int = 1) -> str:
    """The bench table: per stage busy seconds, ms per frame, and the fps summary.

    Stages run in parallel threads, so their seconds add up to more than the wall time;
    a stage's ``fps alone`` is what it could sustain if it were the only work.
    ``inference_fps`` is one figure or several (measured before and after the
    pipeline); the ratio uses their mean.
    """
    if inference_fps is not None and not isinstance(inference_fps, (int, float)):
        runs = [float(v) for v in inference_fps if v]
        inference_fps = sum(runs) / len(runs) if runs else None
        spread = f" (runs: {', '.join(f'{v:.1f}' for v in runs)})" if len(runs) > 1 else ""
    else:
        spread = ""
    snap = timings.snapshot()
    n = max(summary.frames, 1)
    lines = [f"{'stage':<12}{'seconds':>10}{'ms/frame':>11}{'fps alone':>11}"]
    for stage in STAGES:
        sec, _ = snap.get(stage, (0.0, 0))
        if sec == 0.0:
            continue
        ms = 1000.0 * sec / n
        lines.append(f"{stage:<12}{sec:>10.3f}{ms:>11.2f}{(n / sec):>11.1f}")
    lines.append("")
    lines.append(f"frames {summary.frames}, wall {summary.seconds:.2f} s, batch {batch_size}")
    lines.append(f"pipeline fps        {summary.fps:8.1f}")
    if inference_fps:
        lines.append(f"inference-only fps  {inference_fps:8.1f}{spread}")
        lines.append(f"ratio               {summary.fps / inference_fps:8.1%}")
    return "\n".join(lines)
