"""Rendered frames as image files (OpenPose's ``--write_images``).

One file per frame, at the frame's own size (never resized):
``<stem>_rendered.<ext>`` for image inputs and ``<name>_<frame:012d>_rendered.<ext>``
for videos, as OpenPose names them.  Each file is encoded in memory, written to a
temporary name and renamed, so after any ending (a kill included) a file exists
complete or not at all.  A write error raises :class:`ImageWriteError` naming the file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from ..layouts import Layout, get_layout
from .pipeline import FrameResult, StageTimes
from .render import RENDER_MODES, draw_poses
from ._durable import write_atomically
from .sinks import OutputError, Sink

__all__ = ["ImageSink", "ImageWriteError", "IMAGE_FORMATS"]

PathLike = Union[str, os.PathLike]

#: format name -> (file extension, cv2.imencode parameters)
IMAGE_FORMATS = {"png": (".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]),
                 "jpg": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95])}


class ImageWriteError(OSError):
    """Writing a rendered image failed; the message names the file."""


class ImageSink(Sink):
    """Rendered frames in ``folder`` (see the module docstring).

    Parameters
    ----------
    folder : path
        Created if missing.
    mode : {"overlay", "skeleton"}
    layout : str or Layout
    image_format : {"png", "jpg"}
    per_image : bool
        Name files after the input images (``<stem>_rendered.png``) rather than frames.
    draw_ids : bool
        Label each person with its track id.
    timings : StageTimes, optional
        Render time under ``"render"``, encoding and writing under ``"write"``.
    """

    needs_image = True
    stage = None

    def __init__(self, folder: PathLike, mode: str = "overlay", layout: str | Layout = "coco18", *,
                 image_format: str = "png", per_image: bool = False, draw_ids: bool = True,
                 timings: StageTimes | None = None):
        if mode not in RENDER_MODES:
            raise OutputError(f"--render must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
        fmt = image_format.lower().lstrip(".")
        fmt = "jpg" if fmt == "jpeg" else fmt
        if fmt not in IMAGE_FORMATS:
            raise OutputError(f"image format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
        self.folder = Path(folder)
        self.mode = mode
        self.layout = get_layout(layout)
        self.format = fmt
        self.per_image = per_image
        self.draw_ids = draw_ids
        self.timings = timings
        self.files_written = 0
        self._names: dict[str, int] = {}
        self._canvas: Optional[np.ndarray] = None

    def open(self) -> None:
        self._open_folder("--write-images")

    def path_for(self, result: FrameResult) -> Path:
        """The file of one frame (two images with one stem: the second keeps its frame number)."""
        ext = IMAGE_FORMATS[self.format][0]
        if self.per_image:
            stem = result.name or "image"
            if self._names.setdefault(stem, result.index) == result.index:
                return self.folder / f"{stem}_rendered{ext}"
        return self.folder / f"{result.name or 'frame'}_{result.index:012d}_rendered{ext}"

    def write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError("ImageSink needs frames: run the pipeline with keep_images=True")
        t0 = time.perf_counter()
        image = result.image
        if self._canvas is None or self._canvas.shape != image.shape:
            self._canvas = np.empty_like(image)
        drawn = draw_poses(image, result.poses.keypoints, self.layout,
                           ids=result.ids if self.draw_ids else None, mode=self.mode, out=self._canvas)
        ext, params = IMAGE_FORMATS[self.format]
        ok, data = cv2.imencode(ext, drawn, params)
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGR
            raise RuntimeError(f"OpenCV could not encode frame {result.index} as {self.format}")
        t1 = time.perf_counter()
        path = self.path_for(result)
        try:
            write_atomically(path, data.tobytes())
        except OSError as exc:
            err = ImageWriteError(f"cannot write image {path}: {exc.strerror or exc}")
            err.errno = exc.errno
            raise err from exc
        self.files_written += 1
        if self.timings is not None:
            self.timings.add("render", t1 - t0)
            self.timings.add("write", time.perf_counter() - t1)
