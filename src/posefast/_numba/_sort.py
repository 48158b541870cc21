"""A stable descending argsort shared by every stage.

Equivalent to ``np.argsort(-vals, kind="mergesort")`` for the values the stages
sort (never NaN: peak values are above a threshold, limb and person scores are
finite for finite maps), written out so that it is compiled once and cached
instead of once per calling kernel (NumPy's mergesort in Numba costs seconds of
compile time at every use).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

__all__ = ["argsort_desc"]

_RUN = 16


@jit
def argsort_desc(vals):
    """int64 indices ordering ``vals`` float64 [n] by value, highest first, ties in
    index order."""
    n = vals.shape[0]
    idx = np.arange(n)
    # Insertion sort of short runs (stable: an element moves only past smaller ones).
    for start in range(0, n, _RUN):
        stop = min(n, start + _RUN)
        for q in range(start + 1, stop):
            cur = idx[q]
            v = vals[cur]
            p = q - 1
            while p >= start and vals[idx[p]] < v:
                idx[p + 1] = idx[p]
                p -= 1
            idx[p + 1] = cur
    if n <= _RUN:
        return idx
    # Bottom-up merges; on ties the left run goes first (stable).
    tmp = np.empty(n, dtype=np.int64)
    width = _RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(n, lo + width)
            hi = min(n, lo + 2 * width)
            a = lo
            b = mid
            o = lo
            while a < mid and b < hi:
                if vals[idx[b]] > vals[idx[a]]:
                    tmp[o] = idx[b]
                    b += 1
                else:
                    tmp[o] = idx[a]
                    a += 1
                o += 1
            while a < mid:
                tmp[o] = idx[a]
                a += 1
                o += 1
            while b < hi:
                tmp[o] = idx[b]
                b += 1
                o += 1
        idx, tmp = tmp, idx
        width *= 2
    return idx
