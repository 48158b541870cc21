"""Video and image-stream processing: sources, the streaming pipeline, tracking,
smoothing, rendering and outputs.

>>> import posefast as pf
>>> from posefast.video import process
>>> for r in process("dance.mp4", pf.Estimator(), track=True):
...     r.index, r.time, r.ids, r.poses.keypoints     # frame number, seconds, track ids, [P, K, 3]

Submodules: ``sources`` (frame readers), ``pipeline`` (threaded streaming),
``tracking`` (stable ids), ``smoothing`` (One-Euro), ``render`` (drawing),
``sinks`` (JSON / table / COCO), ``tables`` (tidy / wide tables, ``to_dataframe``),
``avvideo`` (H.264 video with sound), ``imagesink`` (rendered images), ``runner`` (pipeline into sinks),
``plot`` (motion plots), ``bench`` (stage timings).
"""

from __future__ import annotations

from .pipeline import FrameResult, Pipeline, StageTimes, process
from .render import draw_poses
from .smoothing import OneEuroConfig, OneEuroFilter, PoseSmoother
from .sources import Frame, FrameReadError, Source, SourceError, open_source
from .tables import to_dataframe
from .tracking import Tracker, TrackerConfig

__all__ = ["Frame", "FrameReadError", "FrameResult", "OneEuroConfig", "OneEuroFilter", "Pipeline",
           "PoseSmoother", "Source", "SourceError", "StageTimes", "Tracker", "TrackerConfig", "draw_poses",
           "open_source", "process", "to_dataframe"]
