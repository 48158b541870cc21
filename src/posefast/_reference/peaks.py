"""Stage 1 (reference): heatmap peaks.

For every keypoint channel, on the decode grid (the map bicubically upsampled by
``s``, or the raw map when ``s == 1``):

1. A position is a peak when its value ``v`` is strictly above ``peak_threshold``
   and it wins against each of its (up to) 8 neighbours inside the grid: ``v >``
   a neighbour that comes earlier in raster order, ``v >=`` one that comes later.
   (OpenPose's 3x3 NMS, with plateaus resolved deterministically: a flat top
   yields its first position in raster order instead of nothing; with
   ``peak_strict_nms``, OpenPose's own test, ``v >`` every neighbour, so a flat top
   yields nothing.)  Positions
   within ``peak_border`` cells of the grid's edge are never peaks (OpenPose: 1).
   With ``peak_ring_ties`` (OpenPose's NMS kernel; needs ``peak_border == 1``) the
   *ring* -- every position on row 1, row H-2, column 1 or column W-2 that is not
   inside rows and columns 2 .. H-3, 2 .. W-3, so including the eight edge
   positions next to a corner such as (0, 1) and (1, 0) -- has its own test: a ring
   position is a peak when its value is above ``peak_threshold`` and ``>=`` each
   of its neighbours inside the grid (ties pass on every side).
2. Peaks are ordered by value (highest first), ties by raster index -- or, with
   ``peak_raster_order`` (OpenPose), by raster index alone -- and only the
   first ``max_peaks`` are kept (``1`` in single-person mode,
   ``DecodeConfig.effective_max_peaks``: the one kept is then the global maximum
   of the channel's decode grid, first in raster order on ties, when it is above
   ``peak_threshold`` -- the global maximum always passes the NMS test of rule 1).
3. Each kept peak is refined to the weighted centroid of the positive values in a
   ``(2r+1) x (2r+1)`` window clipped to the grid, summed row by row, left to
   right, in float64.  ``r = 0`` keeps the integer position.
"""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..types import Peaks
from .upsample import upsample

__all__ = ["find_peaks", "peaks_on_grid"]


def _is_local_max(grid: np.ndarray, threshold: float, strict: bool = False, ties: bool = False) -> np.ndarray:
    """bool [H, W]: the NMS test of rule 1 on one channel (``strict``: ``>`` every
    neighbour; ``ties``: ``>=`` every neighbour, the ring's test)."""
    hh, ww = grid.shape
    keep = grid > threshold
    padded = np.full((hh + 2, ww + 2), -np.inf)
    padded[1:-1, 1:-1] = grid
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            neighbour = padded[1 + dy: 1 + dy + hh, 1 + dx: 1 + dx + ww]
            earlier = dy < 0 or (dy == 0 and dx < 0)
            above = not ties and (earlier or strict)
            keep &= (grid > neighbour) if above else (grid >= neighbour)
    return keep


def _ring_mask(hh: int, ww: int) -> np.ndarray:
    """bool [H, W]: the ring of ``peak_ring_ties`` (rule 1)."""
    y, x = np.indices((hh, ww))
    inner = (x > 1) & (x < ww - 2) & (y > 1) & (y < hh - 2)
    return ~inner & ((x == 1) | (x == ww - 2) | (y == 1) | (y == hh - 2))


def _refine(grid: np.ndarray, x: int, y: int, r: int) -> tuple[float, float]:
    """Weighted centroid of the positive values around (x, y) (rule 3)."""
    if r == 0:
        return float(x), float(y)
    hh, ww = grid.shape
    sw = sx = sy = 0.0
    for yy in range(max(0, y - r), min(hh, y + r + 1)):
        for xx in range(max(0, x - r), min(ww, x + r + 1)):
            v = grid[yy, xx]
            if v > 0.0:
                sw += v
                sx += v * xx
                sy += v * yy
    return sx / sw, sy / sw


def peaks_on_grid(grids: np.ndarray, config: DecodeConfig) -> Peaks:
    """Peaks of already-upsampled channels.

    Parameters
    ----------
    grids : float64 [K, s*h, s*w], or anything with ``.shape`` and ``[k]`` giving that
        The decode grid of every keypoint channel.
    """
    num_k, hh, ww = grids.shape
    r = config.effective_refine_radius
    offsets = [0]
    grid_pos, refined, scores = [], [], []
    for k in range(num_k):
        g = grids[k]
        ys, xs = np.nonzero(_is_local_max(g, config.peak_threshold, config.peak_strict_nms))
        b = 2 if config.peak_ring_ties else config.peak_border   # the ring: tested below
        inside = (xs >= b) & (xs < ww - b) & (ys >= b) & (ys < hh - b)
        ys, xs = ys[inside], xs[inside]
        if config.peak_ring_ties:
            ry, rx = np.nonzero(_ring_mask(hh, ww) & _is_local_max(g, config.peak_threshold, ties=True))
            ys, xs = np.concatenate([ys, ry]), np.concatenate([xs, rx])
        vals = g[ys, xs]
        raster = ys.astype(np.int64) * ww + xs
        if config.peak_raster_order:
            order = np.argsort(raster, kind="stable")[: config.effective_max_peaks]
        else:
            order = np.lexsort((raster, -vals))[: config.effective_max_peaks]  # value desc, raster asc
        for i in order:
            x, y = int(xs[i]), int(ys[i])
            grid_pos.append((x, y))
            refined.append(_refine(g, x, y, r))
            scores.append(float(vals[i]))
        offsets.append(len(scores))
    return Peaks(
        offsets=np.asarray(offsets, dtype=np.int64),
        grid=np.asarray(grid_pos, dtype=np.int32).reshape(-1, 2),
        xy=np.asarray(refined, dtype=np.float64).reshape(-1, 2),
        scores=np.asarray(scores, dtype=np.float64),
        upsample=config.upsample,
        grid_shape=(hh, ww),
    )


def find_peaks(heatmaps: np.ndarray, config: DecodeConfig) -> Peaks:
    """Peaks of every keypoint.

    Parameters
    ----------
    heatmaps : float32 [K, h, w]
        Keypoint channels only (no background), C-contiguous.
    """
    return peaks_on_grid(_LazyGrid(heatmaps, config.upsample), config)


class _LazyGrid:
    """Upsamples one channel when it is indexed, so big maps never need all channels
    upsampled in memory at once."""

    def __init__(self, maps: np.ndarray, s: int) -> None:
        self.maps, self.s = maps, s
        _, h, w = maps.shape
        self.shape = (maps.shape[0], s * h, s * w)

    def __getitem__(self, c: int) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):   # NaN/Inf maps with check_finite=False
            return upsample(self.maps[c: c + 1], self.s)[0]
