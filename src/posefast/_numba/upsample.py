"""Bicubic values of the decode grid, evaluated only where they are needed.

The definition, and the float64 operation order every value must follow, is
:mod:`posefast._reference.upsample`: for each of the 4 raw rows a left-to-right
horizontal 4-tap sum, then the vertical 4-tap sum of those.  Nothing here
materialises an upsampled map: :func:`value_at` gives one value, :func:`eval_tile`
the ``s x s`` values of one raw cell (sharing the horizontal sums between phases,
which changes no result since each horizontal sum depends only on its raw row and
column phase).
"""

from __future__ import annotations

import numpy as np

from .._reference.upsample import cull_bound, phase_table
from ._jit import jit

__all__ = ["phase_arrays", "cull_cutoff", "value_at", "value_at2", "eval_tile"]

# Relative slack on the culling cutoff: |upsampled| <= B * max|raw| holds for exact
# arithmetic; the float64 evaluation can exceed it by a few ulps, far below this.
_CULL_MARGIN = 1e-9


def phase_arrays(s: int) -> tuple[np.ndarray, np.ndarray]:
    """``first`` int64 [s] and ``weights`` float64 [s, 4] of the reference's phase table.

    For ``s == 1`` (no upsampling) placeholders of the same dtypes, so the kernels
    keep one signature.
    """
    if s == 1:
        return np.zeros(1, dtype=np.int64), np.zeros((1, 4), dtype=np.float64)
    first, weights = phase_table(s)
    return (np.ascontiguousarray(first, dtype=np.int64),
            np.ascontiguousarray(weights, dtype=np.float64))


def cull_cutoff(threshold: float, s: int) -> float:
    """Raw cells with ``|v|`` below this cannot lift an upsampled value above ``threshold``."""
    if s == 1:
        return float(threshold)
    return float(threshold) / cull_bound(s) * (1.0 - _CULL_MARGIN)


@jit
def _clamp(i, n):
    if i < 0:
        return 0
    if i > n - 1:
        return n - 1
    return i


@jit
def value_at(maps, c, yy, xx, s, first, wts):
    """Decode-grid value of channel ``c`` of ``maps`` float32 [C, h, w] at row ``yy``,
    column ``xx`` (``s >= 2``), exactly as the reference computes it."""
    h = maps.shape[1]
    w = maps.shape[2]
    i = yy // s
    py = yy - i * s
    j = xx // s
    px = xx - j * s
    r0 = i + first[py]
    q = j + first[px]
    c0 = _clamp(q, w)
    c1 = _clamp(q + 1, w)
    c2 = _clamp(q + 2, w)
    c3 = _clamp(q + 3, w)
    wx0 = wts[px, 0]
    wx1 = wts[px, 1]
    wx2 = wts[px, 2]
    wx3 = wts[px, 3]
    v = 0.0
    for k in range(4):
        r = _clamp(r0 + k, h)
        hk = wx0 * np.float64(maps[c, r, c0]) + wx1 * np.float64(maps[c, r, c1])
        hk = hk + wx2 * np.float64(maps[c, r, c2])
        hk = hk + wx3 * np.float64(maps[c, r, c3])
        if k == 0:
            v = wts[py, 0] * hk
        else:
            v = v + wts[py, k] * hk
    return v


@jit
def value_at2(maps, ca, cb, yy, xx, s, first, wts):
    """:func:`value_at` of two channels at the same position (the x and y of a PAF)."""
    h = maps.shape[1]
    w = maps.shape[2]
    i = yy // s
    py = yy - i * s
    j = xx // s
    px = xx - j * s
    r0 = i + first[py]
    q = j + first[px]
    c0 = _clamp(q, w)
    c1 = _clamp(q + 1, w)
    c2 = _clamp(q + 2, w)
    c3 = _clamp(q + 3, w)
    wx0 = wts[px, 0]
    wx1 = wts[px, 1]
    wx2 = wts[px, 2]
    wx3 = wts[px, 3]
    va = 0.0
    vb = 0.0
    for k in range(4):
        r = _clamp(r0 + k, h)
        ha = wx0 * np.float64(maps[ca, r, c0]) + wx1 * np.float64(maps[ca, r, c1])
        ha = ha + wx2 * np.float64(maps[ca, r, c2])
        ha = ha + wx3 * np.float64(maps[ca, r, c3])
        hb = wx0 * np.float64(maps[cb, r, c0]) + wx1 * np.float64(maps[cb, r, c1])
        hb = hb + wx2 * np.float64(maps[cb, r, c2])
        hb = hb + wx3 * np.float64(maps[cb, r, c3])
        wy = wts[py, k]
        if k == 0:
            va = wy * ha
            vb = wy * hb
        else:
            va = va + wy * ha
            vb = vb + wy * hb
    return va, vb


@jit
def eval_tile(maps, c, i, j, s, first, wts, lo, hbuf, out, base):
    """Write the ``s x s`` decode-grid values of raw cell ``(i, j)`` of channel ``c``
    to ``out[base + py*s + px]``.

    ``lo`` is ``min(first)``; ``hbuf`` float64 [>= max(first) + 4 - lo, s] is scratch
    for the horizontal sums of raw rows ``i + lo ...``.
    """
    h = maps.shape[1]
    w = maps.shape[2]
    nrows = hbuf.shape[0]
    for d in range(nrows):
        r = _clamp(i + lo + d, h)
        for px in range(s):
            q = j + first[px]
            hk = wts[px, 0] * np.float64(maps[c, r, _clamp(q, w)]) \
                + wts[px, 1] * np.float64(maps[c, r, _clamp(q + 1, w)])
            hk = hk + wts[px, 2] * np.float64(maps[c, r, _clamp(q + 2, w)])
            hk = hk + wts[px, 3] * np.float64(maps[c, r, _clamp(q + 3, w)])
            hbuf[d, px] = hk
    for py in range(s):
        d0 = first[py] - lo
        wy0 = wts[py, 0]
        wy1 = wts[py, 1]
        wy2 = wts[py, 2]
        wy3 = wts[py, 3]
        row = base + py * s
        for px in range(s):
            v = wy0 * hbuf[d0, px] + wy1 * hbuf[d0 + 1, px]
            v = v + wy2 * hbuf[d0 + 2, px]
            v = v + wy3 * hbuf[d0 + 3, px]
            out[row + px] = v
