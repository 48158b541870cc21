"""Images -> network input, and the geometry to map network outputs back.

Every image is resized keeping its aspect ratio to the net height (width rounded
to the model's size multiple, with the model's interpolation), converted to the
model's channel order and value scaling, padded at the bottom/right to the size
multiple, and laid out NCHW float32.  Because padding is only ever at the
bottom/right, a pure per-axis scale maps output cells back to image pixels:
``x_img = (x_map + 0.5) * sx - 0.5`` (see :mod:`posefast.types`).

Accepted images (never modified in place)
-----------------------------------------
* uint8 ``[H, W, 3]`` BGR (as ``cv2.imread`` gives), the fast path;
* ``[H, W]`` or ``[H, W, 1]`` grayscale (replicated to 3 channels);
* ``[H, W, 4]`` BGRA (alpha dropped);
* uint16 (``/257`` to 8 bits);
* float or other integer dtypes, **assumed to be 0..255**, rounded and clipped
  to 8 bits (a float image whose maximum is <= 1 is probably 0..1: multiply it
  by 255; a warning is logged);
* at most 8192 pixels on a side (downscale larger images first).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .registry import Preprocessing

__all__ = ["MAX_ASPECT", "MAX_SIDE", "FrameMeta", "ScaleView", "as_bgr", "make_input", "plan_view"]

log = logging.getLogger(__name__)

MAX_SIDE = 8192
MAX_ASPECT = 8

_INTERP = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


@dataclass(frozen=True)
class ScaleView:
    """One image at one network scale.

    Attributes
    ----------
    net_scale : float
        The multi-scale factor (1.0 = ``net_height``).
    resized_shape : (int, int)
        ``(h_in, w_in)``: the resized image inside the network input.
    padded_shape : (int, int)
        The image's own network input size, padded to the size multiple.
    map_shape : (int, int)
        The image's own output grid ``ceil(padded / stride)``.
    scale : (float, float)
        ``(sx, sy)``: image pixels per output map cell.
    """

    net_scale: float
    resized_shape: tuple[int, int]
    padded_shape: tuple[int, int]
    map_shape: tuple[int, int]
    scale: tuple[float, float]


@dataclass(frozen=True)
class FrameMeta:
    """What :meth:`Estimator.postprocess` needs to know about one image.

    Attributes
    ----------
    image_shape : (int, int)
        ``(H, W)`` of the original image.
    views : tuple of ScaleView
        One per entry of the estimator's ``scales``, in that order.
    base : ScaleView
        The scale-1.0 view: multi-scale maps are averaged on its grid, and
        keypoints are mapped to image pixels with its ``scale``.
    """

    image_shape: tuple[int, int]
    views: tuple[ScaleView, ...]
    base: ScaleView

    @property
    def scale(self) -> tuple[float, float]:
        """``(sx, sy)`` image pixels per cell of the (base) output grid."""
        return self.base.scale

    @property
    def map_shape(self) -> tuple[int, int]:
        """``(h, w)`` of the (base) output grid of this image."""
        return self.base.map_shape


def as_bgr(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Validate an image and return it as 3-channel BGR, uint8 or float32 (0..255).

    Parameters
    ----------
    image : array [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]

    Returns
    -------
    uint8 [H, W, 3]
        The caller's array itself when it already is contiguous uint8 BGR (it is
        only read), otherwise a new array.  Other dtypes are brought to uint8
        first (uint16 divided by 257, floats and other integers rounded and
        clipped to 0..255), so every dtype of the same picture gives the same
        people: the networks were trained on 8-bit images resized as 8-bit.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{what} must be a NumPy array [H, W, 3] (BGR, as cv2.imread returns), "
                        f"got {type(image).__name__}; load files with cv2.imread(path)")
    if image.dtype == np.bool_ or image.dtype.kind not in "uif":
        raise TypeError(f"{what} has dtype {image.dtype}; expected uint8 (or uint16 / float in 0..255)")
    if image.ndim not in (2, 3):
        hint = "; pass a list of images to Estimator.batch()" if image.ndim == 4 else ""
        raise ValueError(f"{what} must be [H, W] or [H, W, C], got shape {image.shape}{hint}")
    if image.size == 0:
        raise ValueError(f"{what} is empty (shape {image.shape}); check that it was read correctly "
                         "(cv2.imread returns None for a missing file)")
    h, w = image.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise ValueError(f"{what} is {w}x{h} pixels; at most {MAX_SIDE} per side is supported. "
                         f"Downscale it first, e.g. cv2.resize(img, None, fx=0.25, fy=0.25, "
                         "interpolation=cv2.INTER_AREA): the network sees it at net_height anyway")
    c = 1 if image.ndim == 2 else image.shape[2]
    if c not in (1, 3, 4):
        raise ValueError(f"{what} has {c} channels; expected 1 (gray), 3 (BGR) or 4 (BGRA)")
    img = image
    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    else:
        f = img.astype(np.float32)
        if not np.isfinite(f).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        top = float(f.max())
        if image.dtype.kind == "f" and 0.0 < top <= 1.0:
            log.warning("%s is float with maximum %.3g: float images are taken as 0..255; "
                        "multiply a 0..1 image by 255", what, top)
        img = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if c == 1:
        img = cv2.cvtColor(np.ascontiguousarray(img.reshape(h, w)), cv2.COLOR_GRAY2BGR)
    elif c == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def plan_view(image_shape: tuple[int, int], net_height: int, pre: Preprocessing, stride: int,
              net_scale: float = 1.0) -> ScaleView:
    """Geometry of one image at one scale.

    The resized height is ``round(net_height * net_scale)``; the width keeps the
    aspect ratio and is rounded to the nearest multiple of ``pre.size_multiple``
    (at least one multiple).  The height is padded up to the multiple.  Images
    wider than ``MAX_ASPECT`` times their height are fitted to a width of
    ``MAX_ASPECT * net_height`` instead (their height then comes out smaller).
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    m = pre.size_multiple
    h_in = max(1, int(round(net_height * net_scale)))
    w_nominal = w * h_in / h
    max_w = MAX_ASPECT * h_in
    if w_nominal > max_w:  # a very wide strip: fit the width instead of blowing up the input
        h_in = max(1, int(round(h * max_w / w)))
        w_nominal = max_w
    w_in = max(m, int(round(w_nominal / m)) * m)
    padded = (int(math.ceil(h_in / m)) * m, w_in)
    maps = (int(math.ceil(padded[0] / stride)), int(math.ceil(padded[1] / stride)))
    scale = (stride * w / w_in, stride * h / h_in)
    return ScaleView(float(net_scale), (h_in, w_in), padded, maps, scale)


def _normalised_pad(pre: Preprocessing) -> np.ndarray:
    mean = np.broadcast_to(np.asarray(pre.mean, np.float32), (3,))
    std = np.broadcast_to(np.asarray(pre.std, np.float32), (3,))
    return (np.float32(pre.pad_value) - mean) / std


def make_input(images: Sequence[np.ndarray], views: Sequence[ScaleView], pre: Preprocessing,
               out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resize, convert and stack images into one network input.

    Parameters
    ----------
    images : sequence of N arrays [H, W, 3]
        Validated BGR images (from :func:`as_bgr`).
    views : sequence of N ScaleView
        Their geometry at this scale.
    pre : Preprocessing
    out_shape : (int, int), optional
        Network input ``(H, W)``; default the largest padded size of the batch.

    Returns
    -------
    float32 [N, 3, H, W]
        Each image at the top-left, the rest filled with the normalised pad value.
    """
    if out_shape is None:
        out_shape = (max(v.padded_shape[0] for v in views), max(v.padded_shape[1] for v in views))
    n = len(images)
    x = np.empty((n, 3, out_shape[0], out_shape[1]), np.float32)
    x[:] = _normalised_pad(pre)[None, :, None, None]
    mean = np.asarray(pre.mean, np.float32)
    inv_std = np.float32(1.0) / np.asarray(pre.std, np.float32)
    interp = _INTERP[pre.interpolation]
    for i, (img, v) in enumerate(zip(images, views)):
        h_in, w_in = v.resized_shape
        if img.shape[0] == h_in and img.shape[1] == w_in:
            r = img
        else:
            r = cv2.resize(img, (w_in, h_in), interpolation=interp)
        r = r.astype(np.float32)
        if pre.color == "rgb":
            r = r[:, :, ::-1]
        if not (np.all(mean == 0) and np.all(inv_std == 1)):
            r = (r - mean) * inv_std
        x[i, :, :h_in, :w_in] = r.transpose(2, 0, 1)
    return x
