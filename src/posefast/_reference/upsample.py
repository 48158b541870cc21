"""Bicubic upsampling, defined so that any single upsampled value can be recomputed
exactly (bit for bit) from 4x4 raw samples.  The native and Numba backends rely on
that: they evaluate the same formula only where it is needed.

Definition
----------
Upsampling a map of width ``w`` by an integer factor ``s`` gives ``s*w`` columns.
Output column ``u`` (``u = s*j + p``, phase ``p = u mod s``) sits at source
coordinate ``j + f_p`` with ``f_p = (p + 0.5) / s - 0.5`` (pixel-centre alignment,
as OpenCV's ``resize``).  With ``fl = floor(f_p)`` and ``t = f_p - fl`` the four taps
are source columns ``j + fl - 1 + i`` (``i = 0..3``), clamped into ``[0, w-1]``
(replicated border), with Keys' cubic weights for ``a = -0.75`` (OpenCV's) in
OpenCV's Horner form::

    w0 = ((a*(t+1) - 5a)*(t+1) + 8a)*(t+1) - 4a
    w1 = ((a+2)*t - (a+3))*t*t + 1
    w2 = ((a+2)*(1-t) - (a+3))*(1-t)*(1-t) + 1
    w3 = 1 - w0 - w1 - w2

Rows use the same weights.  A value is a horizontal pass then a vertical one, both
in float64, each summed left to right::

    h_k = ((wx0*r[k,0] + wx1*r[k,1]) + wx2*r[k,2]) + wx3*r[k,3]     k = 0..3
    v   = ((wy0*h_0 + wy1*h_1) + wy2*h_2) + wy3*h_3
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CUBIC_A", "phase_table", "upsample", "cull_bound"]

CUBIC_A = -0.75


def phase_table(s: int) -> tuple[np.ndarray, np.ndarray]:
    """Tap offsets and weights of each output phase.

    Returns
    -------
    first_tap : int64 [s]
        Offset of tap 0 from the cell index ``j`` (``fl - 1``).
    weights : float64 [s, 4]
    """
    a = CUBIC_A
    first = np.zeros(s, dtype=np.int64)
    weights = np.zeros((s, 4), dtype=np.float64)
    for p in range(s):
        f = (p + 0.5) / s - 0.5
        fl = math.floor(f)
        t = f - fl
        w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
        w1 = ((a + 2) * t - (a + 3)) * t * t + 1
        w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
        w3 = 1 - w0 - w1 - w2
        first[p] = fl - 1
        weights[p] = (w0, w1, w2, w3)
    return first, weights


def _taps(n: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index [4, s*n] and weight [4, s*n] of every output position along one axis."""
    first, weights = phase_table(s)
    out = np.arange(s * n)
    j, p = out // s, out % s
    idx = np.clip(j[None, :] + first[p][None, :] + np.arange(4)[:, None], 0, n - 1)
    return idx, weights[p].T.copy()


def upsample(maps: np.ndarray, s: int) -> np.ndarray:
    """Bicubically upsample every channel by ``s``.

    Parameters
    ----------
    maps : float32 [C, h, w]

    Returns
    -------
    float64 [C, s*h, s*w]  (``maps`` itself, as float64, when ``s == 1``)
    """
    raw = maps.astype(np.float64)
    if s == 1:
        return raw
    _, h, w = raw.shape
    cols, wx = _taps(w, s)
    rows, wy = _taps(h, s)
    # Horizontal pass: [C, h, s*w], summed tap by tap, left to right.
    hor = wx[0] * raw[:, :, cols[0]]
    for i in range(1, 4):
        hor = hor + wx[i] * raw[:, :, cols[i]]
    # Vertical pass: [C, s*h, s*w].
    out = wy[0][:, None] * hor[:, rows[0], :]
    for k in range(1, 4):
        out = out + wy[k][:, None] * hor[:, rows[k], :]
    return out


def cull_bound(s: int) -> float:
    """``B`` such that ``|upsampled value| <= B * max |raw value in its 4x4 support|``.

    It is ``(max over phases of sum_i |w_i|)^2``.  A tile of the upsampled map whose
    raw 4x4 support stays below ``threshold / B`` cannot hold a peak, which is how
    the native backend skips most of the map.  (The reference does not need it; it
    is here because it is part of the definition the fast backends must honour.)
    """
    if s == 1:
        return 1.0
    _, weights = phase_table(s)
    one_d = float(np.abs(weights).sum(axis=1).max())
    return one_d * one_d
