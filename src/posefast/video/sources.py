"""Frame sources: an image, a folder or glob of images, a video file, a camera, a URL.

A source is opened (and validated) up front by :func:`open_source`, so bad input is
reported before any work starts.  Iterating it yields :class:`Frame` values in order;
trimming (``start``, ``duration``, ``step``) happens here, so later stages never see a
frame they would throw away.

Two kinds of error:

* :class:`SourceError` (a ``ValueError``) while opening: missing or unreadable input,
  a start past the end, a URL without ``yt-dlp``.  Nothing has been processed yet.
* :class:`FrameReadError` (a ``RuntimeError``) while reading: the input ends before
  it said it would (a truncated or corrupt video) or an image in a folder is
  unreadable.  ``.frame`` names the first frame that could not be read; every frame
  before it was delivered.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import cv2
import numpy as np

__all__ = ["Frame", "Source", "ImageSource", "VideoSource", "SourceError", "FrameReadError",
           "open_source", "parse_time", "IMAGE_EXTENSIONS", "VIDEO_URL_EXTENSIONS"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: an http(s) URL whose path ends so is media that FFmpeg (OpenCV) opens itself, without yt-dlp
VIDEO_URL_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv",
                        ".ogv", ".wmv", ".3gp", ".m3u8", ".mpd")
_LIVE_URL_EXTENSIONS = (".m3u8", ".mpd")  # playlists: possibly live, treated as streams
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
# Containers sometimes announce one frame more than they hold; more than this is damage.
_FRAME_COUNT_SLACK = 1


def parse_time(value: Union[str, float, int]) -> float:
    """Seconds from ``40``, ``2.5``, ``"40"``, ``"00:00:40"``, ``"1:05.5"`` (MM:SS) or ``"01:02:03.250"``.

    Raises
    ------
    ValueError
        Not a time, negative, or a minutes/seconds field of 60 or more.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected seconds or HH:MM:SS, got {value!r}")
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        text = str(value).strip()
        m = _CLOCK.match(text)
        if m:
            h, mnt, sec = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
            if (m.group(1) is not None and mnt >= 60) or sec >= 60:
                raise ValueError(f"expected HH:MM:SS(.ms) or MM:SS with minutes and seconds below 60, got {text!r}")
            v = 3600.0 * h + 60.0 * mnt + sec
        else:
            try:
                v = float(text)
            except ValueError:
                raise ValueError(f"expected seconds (40, 2.5) or HH:MM:SS(.ms) / MM:SS (00:00:40), "
                                 f"got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"expected a time >= 0, got {value!r}")
    return v


class SourceError(ValueError):
    """The input cannot be used; raised by :func:`open_source` before any frame is read."""


class FrameReadError(RuntimeError):
    """Reading stopped early.  ``frame`` is the index of the first frame not delivered."""

    def __init__(self, message: str, frame: int):
        super().__init__(message)
        self.frame = frame


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame of a source.

    Attributes
    ----------
    index : int
        Frame number in the source (video frame index, or position in an image list);
        with ``step > 1`` indices jump by ``step``.
    time : float
        Seconds from the start of the video (``index / fps``); NaN for still images.
    image : uint8 [H, W, 3]
        BGR pixels.
    name : str
        The image's file stem for image sources, the video's stem otherwise.
    """

    index: int
    time: float
    image: np.ndarray = field(repr=False)
    name: str = ""


class Source:
    """Base class of frame sources: iterable of :class:`Frame`, plus metadata.

    Attributes
    ----------
    name : str
        Stem used to name per-frame outputs.
    fps : float or None
        Frames per second of the source (None for still images).
    size : (int, int)
        ``(width, height)`` of the first frame.
    expected_frames : int or None
        How many frames iteration will yield when known up front (after trimming).
    """

    name: str = "frames"
    fps: Optional[float] = None
    size: tuple[int, int] = (0, 0)
    expected_frames: Optional[int] = None

    def __iter__(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying capture (safe to call twice)."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ImageSource(Source):
    """Still images, read in the given order.

    Parameters
    ----------
    paths : sequence of path
        Image files.  The first one is read at construction so an unreadable input
        fails early.
    step : int
        Take every ``step``-th image.
    """

    def __init__(self, paths: Sequence[Union[str, os.PathLike]], step: int = 1, name: str | None = None):
        self.paths = [Path(p) for p in paths][::step]
        if not self.paths:
            raise SourceError("no images to process")
        self.step = step
        first = cv2.imread(str(self.paths[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise SourceError(f"cannot read image {self.paths[0]} (missing, not an image, or unsupported format)")
        self._first = first
        self.size = (first.shape[1], first.shape[0])
        self.name = name or (self.paths[0].stem if len(self.paths) == 1 else self.paths[0].parent.name or "images")
        self.fps = None
        self.expected_frames = len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            img = self._first if i == 0 else cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise FrameReadError(f"cannot read image {path} (frame {i * self.step})", i * self.step)
            yield Frame(i * self.step, math.nan, img, path.stem)


class VideoSource(Source):
    """A video file, camera or stream read with ``cv2.VideoCapture``.

    Parameters
    ----------
    target : str or int
        File path, camera index or stream URL understood by OpenCV.
    start : float
        Seconds to skip at the beginning.
    duration : float or None
        Seconds to read from ``start`` (None: to the end).
    step : int
        Keep every ``step``-th frame (the others are grabbed, not decoded into images).
    name : str
        Stem for per-frame outputs.
    """

    def __init__(self, target: Union[str, int], *, start: float = 0.0, duration: float | None = None,
                 step: int = 1, name: str = "video", is_file: bool = False, media: str | None = None,
                 label: str | None = None):
        self.target = target
        self.name = name
        self.step = step
        self._is_file = is_file
        #: file or URL holding the video's other streams (its audio), None for cameras and live streams
        self.media = media if media is not None else (str(target) if is_file else None)
        camera = isinstance(target, int)
        self.label = label or (f"camera {target}" if camera else repr(target))
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            if camera:
                dev = f" (/dev/video{target})" if os.name == "posix" else ""
                raise SourceError(f"cannot open camera {target}{dev}: not connected, in use by another "
                                  f"program, or no permission; list cameras with `v4l2-ctl --list-devices`"
                                  if dev else f"cannot open camera {target}: not connected or in use")
            raise SourceError(f"cannot open video {self.label} (missing, not a video, or no decoder for it)")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else None
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: Optional[int] = int(count) if count and count > 0 and math.isfinite(count) else None
        if not is_file:
            self.frame_count = None  # cameras and streams do not know their end
        rate = self.fps or 25.0
        self.start_frame = int(round(start * rate))
        if self.frame_count is not None and self.start_frame >= self.frame_count:
            cap.release()
            raise SourceError(f"--start {start:g} s (frame {self.start_frame}) is past the end of {target} "
                              f"({self.frame_count} frames, {self.frame_count / rate:.2f} s)")
        self.stop_frame: Optional[int] = None  # exclusive
        if duration is not None:
            self.stop_frame = self.start_frame + max(1, int(round(duration * rate)))
        if self.frame_count is not None:
            self.stop_frame = self.frame_count if self.stop_frame is None else min(self.stop_frame, self.frame_count)
        if self.start_frame > 0:
            if is_file:
                cap.set(cv2.CAP_PROP_POS_FRAMES, self.start_frame)
            else:  # live sources cannot seek: read and drop
                for _ in range(self.start_frame):
                    if not cap.grab():
                        break
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"cannot decode any frame of {self.label}"
                              + (f" at --start {start:g} s" if start else "")
                              + (" (the camera opened but gives no picture)" if camera else ""))
        self._first: Optional[np.ndarray] = first
        self.size = (first.shape[1], first.shape[0])
        if self.stop_frame is not None:
            self.expected_frames = len(range(self.start_frame, self.stop_frame, step))

    def __iter__(self) -> Iterator[Frame]:
        cap = self._cap
        if cap is None:
            raise RuntimeError("video source is closed")
        rate = self.fps
        index = self.start_frame
        image = self._first
        self._first = None
        if image is None:
            raise RuntimeError("a VideoSource can be iterated only once")
        while True:
            yield Frame(index, index / rate if rate else math.nan, image, self.name)
            # advance `step` frames: grab step-1, read the last one
            for k in range(self.step):
                nxt = index + k + 1
                if self.stop_frame is not None and nxt >= self.stop_frame:
                    return
                last = k == self.step - 1
                ok = cap.grab()
                if ok and last:
                    ok, image = cap.retrieve()
                    ok = ok and image is not None
                if not ok:
                    self._end(nxt)
                    return
            index += self.step

    def _end(self, frame: int) -> None:
        """The capture gave no frame ``frame``: a normal end, or damage."""
        promised = self.stop_frame if self.frame_count is not None else None
        if promised is not None and frame < promised and self.frame_count - frame > _FRAME_COUNT_SLACK:
            raise FrameReadError(
                f"cannot decode frame {frame} of {self.target} (the file announces {self.frame_count} "
                f"frames; it is truncated or corrupt). Frames before {frame} were processed.", frame)
        log.debug("end of %s at frame %d", self.target, frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:limit].strip("_")


def url_name(url: str) -> str:
    """A short readable output stem for a URL: the file stem of its path (``.../dance.mp4`` -> ``dance``),
    else its host and last path part."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    path = unquote(parts.path).rstrip("/")
    stem = _slug(Path(path).stem) if path else ""
    from urllib.parse import parse_qs

    vid = (parse_qs(parts.query).get("v") or [""])[0]
    if vid and _slug(vid):  # watch?v=ID pages: the id says more than "watch"
        return _slug(f"{parts.netloc.split(':')[0].removeprefix('www.').split('.')[0]}_{vid}")
    if stem:
        return stem
    return _slug(parts.netloc.split(":")[0]) or "stream"


def _url_suffix(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(url).path)).suffix.lower()


def _have_yt_dlp() -> bool:
    try:
        import yt_dlp  # type: ignore  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_url(url: str) -> tuple[str, str]:
    """Direct media URL of a web page through yt-dlp, and a short name (title or id)."""
    try:
        import yt_dlp  # type: ignore
    except ImportError:
        raise SourceError(f"reading {url} needs yt-dlp: pip install yt-dlp") from None
    opts = {"quiet": True, "no_warnings": True, "format": "best[ext=mp4][vcodec!=none]/best[vcodec!=none]/best"}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False)
    except Exception as exc:  # noqa: BLE001 - yt-dlp raises many types
        raise SourceError(f"yt-dlp cannot resolve {url}: {exc}") from exc
    direct = info.get("url") or next((f.get("url") for f in reversed(info.get("formats") or []) if f.get("url")), None)
    if not direct:
        raise SourceError(f"yt-dlp found no playable stream at {url}")
    name = _slug(str(info.get("title") or "")) or _slug(str(info.get("id") or "")) or url_name(url)
    return direct, name


def _open_url(text: str, start: float, duration: float | None, step: int) -> "VideoSource":
    """A URL: direct media (``.mp4`` and the like) through FFmpeg, web pages through yt-dlp."""
    if not text.lower().startswith(("http://", "https://")):
        return VideoSource(text, start=start, duration=duration, step=step, name=url_name(text), label=text)
    suffix = _url_suffix(text)
    if suffix in VIDEO_URL_EXTENSIONS:
        live = suffix in _LIVE_URL_EXTENSIONS
        return VideoSource(text, start=start, duration=duration, step=step, name=url_name(text),
                           is_file=not live, media=None if live else text, label=text)
    if _have_yt_dlp():
        direct, name = _resolve_url(text)
        return VideoSource(direct, start=start, duration=duration, step=step, name=name, media=direct, label=text)
    try:  # maybe media after all (a URL without an extension): FFmpeg knows
        return VideoSource(text, start=start, duration=duration, step=step, name=url_name(text),
                           media=text, label=text)
    except SourceError:
        raise SourceError(f"cannot open {text} as a video; if it is a web page (YouTube and the like), "
                          "reading it needs yt-dlp: pip install yt-dlp") from None


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def open_source(source: Union[str, os.PathLike, int, Source], *, start: float | str = 0.0,
                duration: float | str | None = None, step: int = 1) -> Source:
    """Open and validate a source of frames.

    Parameters
    ----------
    source : str, path, int or Source
        An image file, a folder of images, a glob pattern (``"shots/*.jpg"``), a video
        file, a camera index (``0`` or ``"0"``), a direct ``http(s)://`` media URL
        (``.../clip.mp4``, opened by FFmpeg), a web page URL (resolved with yt-dlp when
        installed) or another FFmpeg stream URL (``rtsp://...``).  A :class:`Source`
        is returned unchanged.
    start : float or str
        Time to skip (videos): seconds, or ``"HH:MM:SS(.ms)"`` / ``"MM:SS"``; for
        images, ``start`` and ``duration`` do not apply.
    duration : float, str or None
        Time to process from ``start`` (videos), same forms.
    step : int
        Keep every ``step``-th frame.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        The input is missing, unreadable, or the trimming leaves nothing.
    """
    if isinstance(source, Source):
        return source
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise SourceError(f"frame step must be an integer >= 1, got {step!r}")
    try:
        start = parse_time(start)
        duration = None if duration is None else parse_time(duration)
    except ValueError as exc:
        raise SourceError(f"start/duration: {exc}") from None
    if duration is not None and duration <= 0:
        raise SourceError(f"duration must be a number of seconds > 0, got {duration!r}")
    if isinstance(source, int) and not isinstance(source, bool):
        return VideoSource(source, start=start, duration=duration, step=step, name=f"camera{source}")
    text = os.fspath(source)
    if text.strip().isdigit():
        return VideoSource(int(text), start=start, duration=duration, step=step, name=f"camera{text.strip()}")
    if _URL.match(text):
        return _open_url(text, start, duration, step)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _is_image(p))
        if not files:
            raise SourceError(f"folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return ImageSource(files, step=step, name=path.name or "images")
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text) if _is_image(Path(p)) and Path(p).is_file())
        if not files:
            raise SourceError(f"pattern {text!r} matches no images")
        return ImageSource(files, step=step, name=Path(text).parent.name or "images")
    if not path.exists():
        raise SourceError(f"input {text!r} does not exist")
    if not path.is_file():
        raise SourceError(f"input {text!r} is not a file")
    if not os.access(path, os.R_OK):
        raise SourceError(f"input {text!r} is not readable (permission denied)")
    if _is_image(path):
        return ImageSource([path], name=path.stem)
    return _video_file(str(path), start=start, duration=duration, step=step, name=path.stem)


def _video_file(path: str, **kw) -> Source:
    """A local video file: PyAV when installed (it reports concealed decode errors), else OpenCV."""
    try:
        from ._avsource import AvVideoSource
    except ImportError:
        log.debug("PyAV not installed: %s is read with OpenCV, without decode-error reports", path)
        return VideoSource(path, is_file=True, **kw)
    try:
        return AvVideoSource(path, **kw)
    except SourceError as exc:  # PyAV could not open or seek it: OpenCV may (or says why not)
        log.debug("PyAV: %s; trying OpenCV", exc)
        return VideoSource(path, is_file=True, **kw)
