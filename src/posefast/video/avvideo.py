"""Rendered video through PyAV (FFmpeg): H.264 in fragmented MP4, with the source's sound.

The file is written so that it plays in browsers and notebooks and survives a kill:

* video: H.264 (libx264), 4:2:0 (``yuv420p``, BT.601 limited range, tagged as such),
  a keyframe every ``keyframe_seconds`` (1 s by default), constant frame rate
  ``fps`` (the CLI passes source fps / frame step, so the clip lasts as long as the
  source span it shows);
* container: *fragmented* MP4 (``movflags=frag_keyframe+empty_moov+default_base_moof``).
  The header is written first and every keyframe closes a self-contained fragment,
  so a run killed at any moment (SIGKILL, power loss) leaves a file that plays up
  to the last complete fragment, about ``keyframe_seconds`` plus a few frames
  before the kill.  ``.mkv`` (Matroska, also streamable) is accepted as well;
* audio: the source's first audio stream over the same time span
  (``--start``/``--duration``), copied packet by packet when it is AAC or MP3
  (trimmed to whole audio frames, about 21 ms), otherwise re-encoded to AAC.  It is
  interleaved with the video as frames arrive, so memory stays flat and a killed
  file has its sound too.  Audio is left out when the output frame rate is not the
  source's (``--write-video-fps`` slow/fast motion), since it would drift;
* odd frame sizes are padded (edge pixels repeated) to even, never stretched;
  frames of another size than the first (folders of images) are scaled to fit and
  centred on black (letterbox), keeping their aspect ratio.

A write error (full disk, I/O error) raises :class:`VideoWriteError` naming the file;
the CLI then stops with exit status 1.  Without PyAV, :func:`make_video_sink` falls
back to OpenCV's MPEG-4 Part 2 writer with a warning (no sound, not kill-safe, does
not play in browsers): install ``posefast[video]``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from ..layouts import Layout, get_layout
from .pipeline import FrameResult, StageTimes
from .render import RENDER_MODES, draw_poses
from .sinks import OutputError, Sink, VideoSink, _check_file, letterbox

__all__ = ["AudioSpan", "AvVideoSink", "VideoWriteError", "make_video_sink", "have_pyav", "VIDEO_EXTENSIONS",
           "X264_PRESETS"]

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: container format per output extension (all written progressively, readable after a kill)
VIDEO_EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"
_COPY_AUDIO = ("aac", "mp3")          # codecs copied as they are (play in MP4 everywhere)
_AVCOL_SPC_SMPTE170M = 6              # BT.601 matrix: what cv2.COLOR_BGR2YUV_I420 computes
_AVCOL_RANGE_MPEG = 1                 # limited range (16-235), also what OpenCV computes


class VideoWriteError(OSError):
    """Writing the rendered video failed (full disk, I/O error); the message names the file."""


def have_pyav() -> bool:
    """Whether PyAV (``import av``) is installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class AudioSpan:
    """Which sound goes with the rendered video.

    Attributes
    ----------
    source : str
        File path or URL that holds the audio (the video's own input).
    start : float
        Seconds from the first video frame of the source where the output begins.
    end : float or None
        Seconds (same origin) where it ends; None: to the end of the source.
    """

    source: str
    start: float = 0.0
    end: Optional[float] = None


def _even(n: int) -> int:
    return n + (n % 2)


class _AudioFeed:
    """The source's audio over a time span, handed out in output time order."""

    def __init__(self, av, span: AudioSpan, out, path: Path):
        self.av = av
        self.span = span
        self._in = av.open(span.source, "r")
        try:
            streams = self._in.streams.audio
            if not streams:
                raise LookupError("no audio stream")
            self.ist = streams[0]
            video = self._in.streams.video
            v0 = 0.0
            if video and video[0].start_time is not None and video[0].time_base is not None:
                v0 = float(video[0].start_time * video[0].time_base)
            self.t0 = v0 + span.start                       # container time of output time 0
            self.t1 = None if span.end is None else v0 + span.end
            self.name = self.ist.codec_context.name
            self.copy = self.name in _COPY_AUDIO
            if self.copy:
                self.ost = out.add_stream_from_template(self.ist)
            else:
                cc = self.ist.codec_context
                rate = cc.sample_rate or 48000
                self.ost = out.add_stream("aac", rate=rate)
                channels = cc.channels or 2
                self.ost.codec_context.layout = "mono" if channels == 1 else "5.1" if channels == 6 else "stereo"
                self._samples = 0
            if self.t0 > 0:
                self._in.seek(int(self.t0 / self.ist.time_base), stream=self.ist, backward=True, any_frame=False)
            self._packets = self._in.demux(self.ist)
        except BaseException:
            self._in.close()
            raise
        self.done = False
        self._pending = None        # a demuxed packet that ends after the video so far
        self.muxed_until = 0.0      # output seconds of the audio muxed so far
        self.path = path

    def _next_packets(self, until: float):
        """Packets (copy) or encoded packets (re-encode) that end by output time ``until``.

        A packet that would end later waits in ``_pending`` for the next call, so the
        sound never runs past the video (players would show the last frame for it).
        """
        tb = self.ist.time_base
        while True:
            pkt, self._pending = self._pending, None
            if pkt is None:
                pkt = next(self._packets, None)
                if pkt is None:
                    self.done = True
                    return
            if pkt.pts is None:
                if pkt.size == 0:  # the demuxer's flush packet: the end of the stream
                    self.done = True
                    return
                continue
            t = float(pkt.pts * tb)
            dur = float(pkt.duration * tb) if pkt.duration else 0.0
            if t < self.t0 - 1e-9:
                continue
            if self.t1 is not None and t + dur > self.t1 + 1e-6:
                self.done = True
                return
            out_t = t - self.t0
            if out_t + dur > until + 1e-6:
                self._pending = pkt
                return
            if self.copy:
                shift = int(round(self.t0 / tb))
                pkt.pts -= shift
                pkt.dts = pkt.pts if pkt.dts is None else max(pkt.dts - shift, 0)
                pkt.stream = self.ost
                yield pkt
            else:
                for frame in pkt.decode():
                    frame.pts = self._samples  # output samples from 0, in 1 / sample rate
                    frame.time_base = Fraction(1, frame.sample_rate)
                    self._samples += frame.samples
                    yield from self.ost.encode(frame)
            self.muxed_until = out_t + dur

    def mux_until(self, out, until: float) -> None:
        """Mux the audio that ends by output second ``until`` (the end of the video so far)."""
        if self.done or until <= self.muxed_until:
            return
        for p in self._next_packets(until):
            out.mux(p)

    def finish(self, out, end: float) -> None:
        """Mux the rest of the audio up to output second ``end``, then flush the encoder."""
        if not self.done and end > self.muxed_until:
            for p in self._next_packets(end):
                out.mux(p)
        if not self.copy:
            for p in self.ost.encode(None):
                out.mux(p)
        self.done = True

    def close(self) -> None:
        self._in.close()


class AvVideoSink(Sink):
    """Rendered video: H.264 in fragmented MP4 with the source's sound (see the module docstring).

    Parameters
    ----------
    path : path
        ``.mp4`` (also ``.m4v``, ``.mov``, ``.mkv``).
    fps : float
        Output frame rate (source fps / frame step keeps the timing of the source).
    size : (int, int)
        ``(width, height)`` of the frames (the first frame's).  Odd sizes are padded to even.
    mode : {"overlay", "skeleton"}
    layout : str or Layout
    audio : AudioSpan, optional
        Where the sound comes from; None: no audio track.  A source without audio
        (or whose audio cannot be read) gives a silent video with an INFO/WARNING log.
    draw_ids : bool
        Label each person with its track id.
    timings : StageTimes, optional
        Render time is counted under ``"render"``, encoding under ``"write"``.
    preset : str
        x264 speed preset (``ultrafast`` keeps up with the network on two cores;
        ``veryfast``/``medium`` give smaller files).
    crf : int
        x264 constant quality (lower is better; 23 is x264's default).
    keyframe_seconds : float
        Keyframe (and fragment) interval: what a kill may lose at most, roughly.
    """

    needs_image = True
    stage = None  # times itself: "render" and "write"

    def __init__(self, path: PathLike, fps: float, size: tuple[int, int], mode: str = "overlay",
                 layout: str | Layout = "coco18", *, audio: AudioSpan | None = None, draw_ids: bool = True,
                 timings: StageTimes | None = None, preset: str = "ultrafast", crf: int = 23,
                 keyframe_seconds: float = 1.0):
        if mode not in RENDER_MODES:
            raise OutputError(f"--render must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_EXTENSIONS:
            raise OutputError(f"--write-video {self.path}: use a {', '.join(VIDEO_EXTENSIONS)} file name")
        self.format = VIDEO_EXTENSIONS[suffix]
        if not (fps and math.isfinite(fps) and fps > 0):
            raise OutputError(f"video frame rate must be > 0, got {fps!r}")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.fps = float(self.rate)
        self.size = (int(size[0]), int(size[1]))
        if self.size[0] < 1 or self.size[1] < 1:
            raise OutputError(f"video frame size must be positive, got {self.size}")
        self.encoded_size = (_even(self.size[0]), _even(self.size[1]))
        self.mode = mode
        self.layout = get_layout(layout)
        self.audio = audio
        self.draw_ids = draw_ids
        self.timings = timings
        if preset not in X264_PRESETS:
            raise OutputError(f"unknown x264 preset {preset!r}; use one of {', '.join(X264_PRESETS)}")
        self.preset = preset
        self.crf = int(crf)
        self.keyframe_seconds = float(keyframe_seconds)
        self.frames_written = 0
        self.has_audio = False
        self._out = None
        self._vs = None
        self._feed: Optional[_AudioFeed] = None
        self._canvas: Optional[np.ndarray] = None
        self._failed = False

    # -- set-up --------------------------------------------------------------------------------
    def open(self) -> None:
        try:
            import av
        except ImportError:
            raise OutputError("writing H.264 video needs PyAV: pip install posefast[video]") from None
        self._av = av
        _check_file(self.path)
        if not os.access(self.path.parent, os.W_OK):
            raise OutputError(f"cannot write {self.path}: folder {self.path.parent} is not writable")
        self._created = [] if self.path.exists() else [self.path]
        # flush_packets: every finished fragment reaches the file at once (not left in a buffer)
        opts = {"flush_packets": "1"}
        if self.format in ("mp4", "mov"):
            opts["movflags"] = _FRAGMENTED
        try:
            out = av.open(str(self.path), "w", format=self.format, options=opts)
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
        try:
            vs = out.add_stream("libx264", rate=self.rate)
            vs.width, vs.height = self.encoded_size
            vs.pix_fmt = "yuv420p"
            gop = max(1, int(round(self.keyframe_seconds * self.fps)))
            vs.codec_context.gop_size = gop
            vs.codec_context.options = {"preset": self.preset, "crf": str(self.crf),
                                        "x264-params": f"keyint={gop}:min-keyint={gop}"}
            vs.codec_context.colorspace = _AVCOL_SPC_SMPTE170M
            vs.codec_context.color_range = _AVCOL_RANGE_MPEG
            vs.thread_count = 1  # one encoder thread: the network needs the other cores
            self._vs = vs
            if self.audio is not None:
                try:
                    self._feed = _AudioFeed(av, self.audio, out, self.path)
                    self.has_audio = True
                    log.info("video %s: audio %s from %s (%s)", self.path, self._feed.name,
                             self.audio.source, "copied" if self._feed.copy else "re-encoded to AAC")
                except LookupError:
                    log.info("video %s: the source has no audio stream", self.path)
                except (OSError, av.error.FFmpegError, ValueError) as exc:
                    log.warning("video %s is written without sound: cannot read the audio of %s (%s)",
                                self.path, self.audio.source, exc)
            out.start_encoding()
        except BaseException as exc:
            if self._feed is not None:
                self._feed.close()
                self._feed = None
            try:
                out.close()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
            if isinstance(exc, (OSError, av.error.FFmpegError)):
                raise OutputError(f"cannot write {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
            raise
        self._out = out

    # -- frames --------------------------------------------------------------------------------
    def _fit(self, frame: np.ndarray) -> np.ndarray:
        """The rendered frame on the even output canvas: padded, or letterboxed if its size differs."""
        w, h = self.size
        ew, eh = self.encoded_size
        fh, fw = frame.shape[:2]
        if (fw, fh) == (w, h):
            if (ew, eh) == (w, h):
                return frame
            return cv2.copyMakeBorder(frame, 0, eh - h, 0, ew - w, cv2.BORDER_REPLICATE)
        fitted = letterbox(frame, (w, h))
        if (ew, eh) == (w, h):
            return fitted
        return cv2.copyMakeBorder(fitted, 0, eh - h, 0, ew - w, cv2.BORDER_CONSTANT, value=(0, 0, 0))

    def _raise_write(self, exc: BaseException) -> None:
        self._failed = True
        reason = getattr(exc, "strerror", None) or str(exc)
        err = VideoWriteError(f"cannot write video {self.path}: {reason}")
        err.errno = getattr(exc, "errno", None)
        raise err from exc

    def write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError("AvVideoSink needs frames: run the pipeline with keep_images=True")
        if self._out is None:
            raise RuntimeError(f"video {self.path} is not open (call open() first)" if not self._failed
                               else f"video {self.path} failed earlier")
        av = self._av
        t0 = time.perf_counter()
        image = result.image
        if self._canvas is None or self._canvas.shape != image.shape:
            self._canvas = np.empty_like(image)
        drawn = draw_poses(image, result.poses.keypoints, self.layout,
                           ids=result.ids if self.draw_ids else None, mode=self.mode, out=self._canvas)
        yuv = cv2.cvtColor(self._fit(drawn), cv2.COLOR_BGR2YUV_I420)
        t1 = time.perf_counter()
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.colorspace = _AVCOL_SPC_SMPTE170M
        frame.color_range = _AVCOL_RANGE_MPEG
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        try:
            for p in self._vs.encode(frame):
                self._out.mux(p)
            if self._feed is not None:  # the sound up to the end of this frame
                self._feed.mux_until(self._out, (self.frames_written + 1) / self.fps)
        except (OSError, av.error.FFmpegError) as exc:
            self._raise_write(exc)
        self.frames_written += 1
        if self.timings is not None:
            self.timings.add("render", t1 - t0)
            self.timings.add("write", time.perf_counter() - t1)

    def close(self) -> None:
        out, self._out = self._out, None
        if out is None:
            return
        av = self._av
        error: Optional[BaseException] = None
        try:
            if not self._failed:
                for p in self._vs.encode(None):
                    out.mux(p)
                if self._feed is not None:
                    self._feed.finish(out, self.frames_written / self.fps)
        except (OSError, av.error.FFmpegError) as exc:
            error = exc
        finally:
            if self._feed is not None:
                self._feed.close()
            try:
                out.close()
            except (OSError, av.error.FFmpegError) as exc:
                error = error or exc
        if error is not None and not self._failed:
            self._raise_write(error)


def make_video_sink(path: PathLike, fps: float, size: tuple[int, int], mode: str = "overlay",
                    layout: str | Layout = "coco18", *, audio: AudioSpan | None = None,
                    timings: StageTimes | None = None, preset: str = "ultrafast", crf: int = 23) -> Sink:
    """The rendered-video sink: :class:`AvVideoSink` with PyAV, else OpenCV's mp4v writer.

    The fallback is logged as a warning saying what is lost (sound, browser playback,
    kill safety) and how to get it (``pip install posefast[video]``).
    """
    if have_pyav():
        return AvVideoSink(path, fps, size, mode, layout, audio=audio, timings=timings, preset=preset, crf=crf)
    log.warning("PyAV is not installed: writing %s with OpenCV's MPEG-4 Part 2 encoder (no sound, does not "
                "play in browsers, unreadable after a kill); pip install posefast[video] for H.264 with audio",
                path)
    return VideoSink(path, fps, size, mode, layout, timings=timings)
