"""Bicubic values of the decode grid, evaluated only where they are needed.

The definition, and the float64 operation order every value must follow, is
:mod:`posefast._reference.upsample`: for each of the 4 raw rows a left-to-right
horizontal 4-tap sum, then the vertical 4-tap sum of those.  Nothing here
materialises an upsampled map: :func:`value_at` gives one value, :func:`eval_tile`
the ``s x s`` values of one raw cell in two steps, :func:`tile_hsums` (horizontal
sums, shared between tiles, which changes no result since each depends only on its
raw row and grid column) and :func:`tile_values` (the vertical pass).
"""

from __future__ import annotations

import numpy as np

from .._reference.upsample import cull_bound, phase_table
from ._jit import jit

__all__ = ["phase_arrays", "cull_cutoff", "cull_cutoff_bits", "vertical_cutoff", "value_at", "value_at2",
           "tile_hsums", "tile_values"]

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
    threshold = float(threshold) + 0.0  # -0.0 -> 0.0: a sign bit would corrupt cull_cutoff_bits
    if s == 1:
        return float(threshold)
    return float(threshold) / cull_bound(s) * (1.0 - _CULL_MARGIN)


def vertical_cutoff(threshold: float, s: int) -> float:
    """Tiles whose horizontal sums all have ``|.|`` below this hold no value above
    ``threshold``: a value is ``sum_k wy_k * H_k``, so ``|v| <= S * max |H_k|`` with
    ``S = max over phases of sum_k |wy_k|`` (``sqrt(cull_bound(s))``), less the margin."""
    threshold = float(threshold) + 0.0
    if s == 1:
        return float(threshold)
    _, weights = phase_table(s)
    one_d = float(np.abs(weights).sum(axis=1).max())
    return float(threshold) / one_d * (1.0 - _CULL_MARGIN)


def cull_cutoff_bits(threshold: float, s: int) -> np.uint32:
    """:func:`cull_cutoff` as the bit pattern of the least float32 ``c >= cutoff``
    (at least 1): for float32 ``v``, ``|v| >= cutoff`` and ``v != 0`` exactly when
    ``(bits(v) & 0x7fffffff) >= c`` (NaN and Inf pass too).
    """
    cutoff = cull_cutoff(threshold, s)
    c32 = np.float32(cutoff)
    if float(c32) < cutoff:
        c32 = np.nextafter(c32, np.float32(np.inf))
    return np.uint32(max(1, int(np.array(c32, dtype=np.float32).view(np.uint32))))


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
def tile_hsums(flat, h, w, c, i, j, s, first, wflat, lo, nrows, hcache, habs, hstamp, stamp):
    """Cache the horizontal sums of raw cell ``(i, j)``'s tile; return their max ``|.|``.

    Parameters
    ----------
    flat : float32 [C*h*w]
        The maps, flattened.
    wflat : float64 [s*4]
        The phase weights, flattened.
    lo, nrows : int
        ``min(first)`` and ``max(first) + 4 - lo``: the tile's raw rows are
        ``i + lo .. i + lo + nrows - 1`` (clamped).
    hcache : float64 [h * s*w], habs : float64 [h*w], hstamp : int64 [h*w], stamp : int
        ``hcache[r*s*w + j*s + px]`` is raw row ``r``'s horizontal sum for grid
        column ``j*s + px`` and ``habs[r*w + j]`` the max ``|.|`` of those ``s``
        sums, valid when ``hstamp[r*w + j] == stamp`` (one stamp per channel and
        call).  A horizontal sum depends only on its raw row and grid column, so
        sharing it between tiles changes no value.  NaN counts as ``inf``.
    """
    ws = w * s
    interior = j + lo >= 0 and j + lo + nrows - 1 <= w - 1
    top = 0.0
    for d in range(nrows):
        r = i + lo + d
        r = 0 if r < 0 else (h - 1 if r > h - 1 else r)
        key = r * w + j
        if hstamp[key] != stamp:
            hstamp[key] = stamp
            ro = (c * h + r) * w
            ho = r * ws + j * s
            big = 0.0
            for px in range(s):
                q = j + first[px]
                if interior:
                    c0 = q
                    c1 = q + 1
                    c2 = q + 2
                    c3 = q + 3
                else:
                    c0 = _clamp(q, w)
                    c1 = _clamp(q + 1, w)
                    c2 = _clamp(q + 2, w)
                    c3 = _clamp(q + 3, w)
                wb = 4 * px
                hk = wflat[wb] * np.float64(flat[ro + c0]) + wflat[wb + 1] * np.float64(flat[ro + c1])
                hk = hk + wflat[wb + 2] * np.float64(flat[ro + c2])
                hk = hk + wflat[wb + 3] * np.float64(flat[ro + c3])
                hcache[ho + px] = hk
                a = abs(hk)
                if not a <= big:
                    big = a if a == a else np.inf
            habs[key] = big
        if habs[key] > top:
            top = habs[key]
    return top


@jit
def tile_values(h, w, i, j, s, first, wflat, hcache, out, base, threshold):
    """Vertical pass of raw cell ``(i, j)``'s tile (horizontal sums from
    :func:`tile_hsums`): write its ``s x s`` decode-grid values to
    ``out[base + py*s + px]``; return whether any is above ``threshold``."""
    ws = w * s
    js = j * s
    hot = False
    for py in range(s):
        r0 = i + first[py]
        o0 = _clamp(r0, h) * ws + js
        o1 = _clamp(r0 + 1, h) * ws + js
        o2 = _clamp(r0 + 2, h) * ws + js
        o3 = _clamp(r0 + 3, h) * ws + js
        wb = 4 * py
        wy0 = wflat[wb]
        wy1 = wflat[wb + 1]
        wy2 = wflat[wb + 2]
        wy3 = wflat[wb + 3]
        o = base + py * s
        for px in range(s):
            v = wy0 * hcache[o0 + px] + wy1 * hcache[o1 + px]
            v = v + wy2 * hcache[o2 + px]
            v = v + wy3 * hcache[o3 + px]
            out[o + px] = v
            hot |= v > threshold
    return hot
