"""Drawing skeletons: over the frame (``overlay``) or on black (``skeleton``)."""

from __future__ import annotations

import colorsys
from typing import Optional, Sequence

import cv2
import numpy as np

from ..layouts import Layout, get_layout

__all__ = ["draw_poses", "RENDER_MODES", "limb_colors", "id_color"]

RENDER_MODES = ("overlay", "skeleton")


def limb_colors(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct BGR colours around the hue circle (OpenPose-like rainbow)."""
    out = []
    for i in range(max(n, 1)):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 1.0, 1.0)
        out.append((int(b * 255), int(g * 255), int(r * 255)))
    return out


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable BGR colour for a track id (golden-ratio hue steps)."""
    h = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.8, 1.0)
    return (int(b * 255), int(g * 255), int(r * 255))


def draw_poses(image: np.ndarray, keypoints: np.ndarray, layout: str | Layout = "coco18", *,
               ids: Optional[Sequence[int]] = None, mode: str = "overlay",
               thickness: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Draw people on a frame.

    Parameters
    ----------
    image : uint8 [H, W, 3]
        BGR frame (never modified).
    keypoints : float [P, K, 3]
        Image-pixel keypoints; confidence 0 marks a missing keypoint.
    layout : str or Layout
    ids : sequence of int, optional
        Track ids; when given, each person is labelled with its id near the head.
    mode : {"overlay", "skeleton"}
        ``overlay`` draws on a copy of the frame, ``skeleton`` on black.
    thickness : int, optional
        Line width in pixels (default: scaled with the frame size).
    out : uint8 [H, W, 3], optional
        Buffer to draw into instead of allocating one.

    Returns
    -------
    uint8 [H, W, 3]
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"render mode must be one of {RENDER_MODES}, got {mode!r}")
    lay = get_layout(layout)
    h, w = image.shape[:2]
    if out is None:
        canvas = image.copy() if mode == "overlay" else np.zeros_like(image)
    else:
        canvas = out
        if mode == "overlay":
            np.copyto(canvas, image)
        else:
            canvas[...] = 0
    t = thickness or max(2, int(round(max(h, w) / 320)))
    limbs = lay.render_limbs()
    colors = limb_colors(len(limbs))
    kp = np.asarray(keypoints, dtype=np.float32)
    for p in range(kp.shape[0]):
        person = kp[p]
        vis = person[:, 2] > 0
        pts = np.round(person[:, :2]).astype(np.int32)
        for (a, b), col in zip(limbs, colors):
            if vis[a] and vis[b]:
                cv2.line(canvas, (int(pts[a, 0]), int(pts[a, 1])), (int(pts[b, 0]), int(pts[b, 1])),
                         col, t, cv2.LINE_AA)
        for k in np.nonzero(vis)[0]:
            cv2.circle(canvas, (int(pts[k, 0]), int(pts[k, 1])), t + 1, colors[k % len(colors)], -1, cv2.LINE_AA)
        if ids is not None and vis.any():
            tid = int(ids[p])
            top = int(np.argmin(np.where(vis, person[:, 1], np.inf)))
            org = (int(pts[top, 0]) + 2 * t, max(int(pts[top, 1]) - 2 * t, 12))
            label = str(tid) if tid >= 0 else "?"
            cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4 + t * 0.2,
                        id_color(max(tid, 0)), max(1, t // 2 + 1), cv2.LINE_AA)
    return canvas
