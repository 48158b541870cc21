"""Video files read with PyAV (FFmpeg), which says which frames had decode errors.

FFmpeg *conceals* damage in a compressed stream: a frame whose data is corrupt is
still returned, patched from its neighbours, and every frame predicted from it up to
the next keyframe inherits the damage.  OpenCV hides this completely.  PyAV marks the
frame the decoder found corrupt (``frame.is_corrupt``); :class:`AvVideoSource` counts
those and the frames decoded from them until the next keyframe, and reports them with
:meth:`AvVideoSource.damage` once reading ended.

Pixels are those OpenCV gives (the same FFmpeg decoder and BGR conversion; checked on
the shared dance clip), and frame numbers are the same.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from .sources import _FRAME_COUNT_SLACK, Frame, FrameReadError, SourceError, VideoSource

__all__ = ["AvVideoSource", "DecodeDamage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodeDamage:
    """Frames of a video that were decoded from corrupt data.

    Attributes
    ----------
    target : str
        The video.
    corrupt : tuple of int
        Frames the decoder flagged as corrupt.
    affected : int
        Frames decoded from damaged data: each corrupt frame and the frames after it
        up to the next keyframe (read frames only).
    """

    target: str
    corrupt: tuple
    affected: int

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.corrupt[:10])) + (" ..." if len(self.corrupt) > 10 else "")
        return (f"{len(self.corrupt)} frame(s) of {self.target} had decode errors (frame {shown}); FFmpeg "
                f"concealed them, and {self.affected} frame(s) decoded from the damaged data up to the next "
                "keyframe may show a broken picture and wrong or missing people")


class AvVideoSource(VideoSource):
    """A video file decoded with PyAV; same interface and trimming as ``VideoSource``
    (a subclass of it that does not use OpenCV).

    Parameters
    ----------
    path : str
    start, duration, step, name
        As :class:`~posefast.video.sources.VideoSource`.
    """

    def __init__(self, path: str, *, start: float = 0.0, duration: float | None = None, step: int = 1,
                 name: str = "video"):
        import av

        self._av = av
        self._cap = None
        self._is_file = True
        self.target = path
        self.media = path  # the file holding the other streams (the sound of --write-video)
        self.label = repr(path)
        self.name = name
        self.step = step
        try:
            container = av.open(path)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open video {path!r} (missing, not a video, or no decoder for it): "
                              f"{exc}") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{path!r} holds no video stream")
        self._container = container
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate and math.isfinite(float(rate)) and float(rate) > 0 else None
        fps = self.fps or 25.0
        count = stream.frames
        if not count and stream.duration and stream.time_base:
            count = int(round(float(stream.duration * stream.time_base) * fps))
        self.frame_count: Optional[int] = int(count) if count and count > 0 else None
        self.start_frame = int(round(start * fps))
        if self.frame_count is not None and self.start_frame >= self.frame_count:
            container.close()
            raise SourceError(f"--start {start:g} s (frame {self.start_frame}) is past the end of {path} "
                              f"({self.frame_count} frames, {self.frame_count / fps:.2f} s)")
        self.stop_frame: Optional[int] = None
        if duration is not None:
            self.stop_frame = self.start_frame + max(1, int(round(duration * fps)))
        if self.frame_count is not None:
            self.stop_frame = self.frame_count if self.stop_frame is None else min(self.stop_frame, self.frame_count)
        self._t0 = stream.start_time or 0
        self._corrupt: list[int] = []
        self._affected = 0
        self._damaged = False  # decoding frames predicted from a corrupt one
        if self.start_frame > 0:
            try:
                container.seek(int(self.start_frame / fps / stream.time_base) + self._t0, stream=stream,
                               backward=True)
            except av.error.FFmpegError as exc:
                container.close()
                raise SourceError(f"cannot seek to --start {start:g} s in {path}: {exc}") from None
        self._frames = self._decoded()
        first = next(self._frames, None)
        if first is None:
            container.close()
            raise SourceError(f"cannot decode any frame of {path!r}" + (f" at --start {start:g} s" if start else ""))
        self._first: Optional[tuple[int, np.ndarray]] = first
        self.size = (first[1].shape[1], first[1].shape[0])
        if self.stop_frame is not None:
            self.expected_frames = len(range(self.start_frame, self.stop_frame, step))

    def _decoded(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index, BGR image) of every frame to deliver, from ``start_frame``, with ``step``."""
        av, stream = self._av, self._stream
        fps = self.fps or 25.0
        index: Optional[int] = None
        self._next = self.start_frame  # the first frame not decoded yet
        try:
            for frame in self._container.decode(stream):
                if index is None:  # after a seek, the first frame's number comes from its time
                    pts = frame.pts
                    index = (int(round(float((pts - self._t0) * stream.time_base) * fps)) if pts is not None
                             else self.start_frame)
                else:
                    index += 1
                if index < self.start_frame:
                    continue  # decoded from the keyframe before --start
                if self.stop_frame is not None and index >= self.stop_frame:
                    self._next = self.stop_frame
                    return
                self._next = index + 1
                if frame.key_frame:
                    self._damaged = False
                if frame.is_corrupt:
                    self._corrupt.append(index)
                    self._damaged = True
                if self._damaged:
                    self._affected += 1
                if (index - self.start_frame) % self.step == 0:
                    yield index, frame.to_ndarray(format="bgr24")
        except av.error.FFmpegError as exc:  # damage the decoder could not get past: ends here
            log.info("decoding %s stopped after frame %s: %s", self.target, index, exc)

    def __iter__(self) -> Iterator[Frame]:
        if self._first is None:
            raise RuntimeError("a video source can be iterated only once")
        first, self._first = self._first, None
        rate = self.fps
        index, image = first
        yield Frame(index, index / rate if rate else math.nan, image, self.name)
        for index, image in self._frames:
            yield Frame(index, index / rate if rate else math.nan, image, self.name)
        self._end(self._next)

    def _end(self, frame: int) -> None:
        promised = self.stop_frame if self.frame_count is not None else None
        if promised is not None and frame < promised and self.frame_count - frame > _FRAME_COUNT_SLACK:
            raise FrameReadError(
                f"cannot decode frame {frame} of {self.target} (the file announces {self.frame_count} "
                f"frames; it is truncated or corrupt). Frames before {frame} were processed.", frame)

    def damage(self) -> Optional[DecodeDamage]:
        """The frames read so far that had decode errors, or None."""
        if not self._corrupt:
            return None
        return DecodeDamage(self.target, tuple(self._corrupt), self._affected)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
