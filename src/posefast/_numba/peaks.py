"""Stage 1 (Numba): heatmap peaks, rules as :mod:`posefast._reference.peaks`.

``s == 1``: a threshold scan of the raw map, NMS on the survivors.

``s >= 2``: no upsampled map is built.  Raw cells with ``|v| >= cutoff``
(``threshold / cull_bound(s)`` less a tiny margin) are *marked*; a tile (the ``s x s``
decode-grid block of a raw cell) is *active* when its bicubic support (raw rows
``i + min(first) .. i + max(first) + 3``, columns likewise, clamped) holds a marked
cell.  Only active tiles are evaluated (values bit-identical to the reference's).
Every value of an inactive tile is provably ``<= threshold``, so it is never a peak
and never beats a peak in the NMS test: NMS skips such neighbours.  Refinement
windows need every positive value, so window cells of inactive tiles are evaluated
on demand.

Dimension letters as in :mod:`posefast.types`.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from .upsample import eval_tile, value_at

__all__ = ["find_peaks_kernel"]


@jit
def _grow_peaks(grid, xy, scores, need):
    cap = grid.shape[0]
    if need <= cap:
        return grid, xy, scores
    new_cap = max(need, 2 * cap)
    g2 = np.empty((new_cap, 2), dtype=np.int32)
    x2 = np.empty((new_cap, 2), dtype=np.float64)
    s2 = np.empty(new_cap, dtype=np.float64)
    g2[:cap] = grid
    x2[:cap] = xy
    s2[:cap] = scores
    return g2, x2, s2


@jit
def _raw_candidates(hm, k, threshold, cand_pos, cand_val):
    """Rule 1 on the raw map of channel ``k``; candidates in raster order."""
    h = hm.shape[1]
    w = hm.shape[2]
    n = 0
    for y in range(h):
        for x in range(w):
            v = np.float64(hm[k, y, x])
            if not v > threshold:
                continue
            ok = True
            for dy in range(-1, 2):
                yy = y + dy
                if yy < 0 or yy >= h:
                    continue
                for dx in range(-1, 2):
                    if dy == 0 and dx == 0:
                        continue
                    xx = x + dx
                    if xx < 0 or xx >= w:
                        continue
                    nb = np.float64(hm[k, yy, xx])
                    if dy < 0 or (dy == 0 and dx < 0):
                        if not v > nb:
                            ok = False
                            break
                    elif not v >= nb:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                cand_pos[n] = y * w + x
                cand_val[n] = v
                n += 1
    return n


@jit
def _refine_raw(hm, k, x, y, r):
    h = hm.shape[1]
    w = hm.shape[2]
    sw = 0.0
    sx = 0.0
    sy = 0.0
    for yy in range(max(0, y - r), min(h, y + r + 1)):
        for xx in range(max(0, x - r), min(w, x + r + 1)):
            v = np.float64(hm[k, yy, xx])
            if v > 0.0:
                sw += v
                sx += v * xx
                sy += v * yy
    return sx / sw, sy / sw


@jit
def _mark_tiles(hm, k, cutoff, lo, hi, mark, rowdil, slot):
    """Active-tile map of channel ``k``: ``slot[i, j]`` = storage index or -1.

    Returns the number of active tiles.
    """
    h = hm.shape[1]
    w = hm.shape[2]
    for i in range(h):
        for j in range(w):
            v = np.float64(hm[k, i, j])
            # NaN/Inf are marked too (only reachable with check_finite=False), so
            # a skipped tile is always finite and below the threshold.
            mark[i, j] = not (abs(v) < cutoff or v == 0.0)
    for i in range(h):
        for j in range(w):
            any_ = False
            for q in range(max(0, j + lo), min(w - 1, j + hi) + 1):
                if mark[i, q]:
                    any_ = True
                    break
            rowdil[i, j] = any_
    n = 0
    for i in range(h):
        for j in range(w):
            any_ = False
            for q in range(max(0, i + lo), min(h - 1, i + hi) + 1):
                if rowdil[q, j]:
                    any_ = True
                    break
            if any_:
                slot[i, j] = n
                n += 1
            else:
                slot[i, j] = -1
    return n


@jit
def _grid_value(hm, k, yy, xx, s, first, wts, slot, buf):
    """Decode-grid value at (yy, xx): from an evaluated tile, else on demand."""
    i = yy // s
    j = xx // s
    t = slot[i, j]
    if t >= 0:
        return buf[t * s * s + (yy - i * s) * s + (xx - j * s)]
    return value_at(hm, k, yy, xx, s, first, wts)


@jit
def _refine_up(hm, k, x, y, r, s, first, wts, slot, buf):
    hh = hm.shape[1] * s
    ww = hm.shape[2] * s
    sw = 0.0
    sx = 0.0
    sy = 0.0
    for yy in range(max(0, y - r), min(hh, y + r + 1)):
        for xx in range(max(0, x - r), min(ww, x + r + 1)):
            v = _grid_value(hm, k, yy, xx, s, first, wts, slot, buf)
            if v > 0.0:
                sw += v
                sx += v * xx
                sy += v * yy
    return sx / sw, sy / sw


@jit
def _up_candidates(hm, k, threshold, s, slot, buf, cand_pos, cand_val):
    """Rule 1 on the active tiles of channel ``k``; candidates in decode-grid raster order."""
    h = hm.shape[1]
    w = hm.shape[2]
    hh = h * s
    ww = w * s
    ss = s * s
    n = 0
    for i in range(h):
        for py in range(s):
            y = i * s + py
            for j in range(w):
                t = slot[i, j]
                if t < 0:
                    continue
                row = t * ss + py * s
                for px in range(s):
                    v = buf[row + px]
                    if not v > threshold:
                        continue
                    x = j * s + px
                    ok = True
                    for dy in range(-1, 2):
                        yy = y + dy
                        if yy < 0 or yy >= hh:
                            continue
                        ti = yy // s
                        for dx in range(-1, 2):
                            if dy == 0 and dx == 0:
                                continue
                            xx = x + dx
                            if xx < 0 or xx >= ww:
                                continue
                            tj = xx // s
                            tn = slot[ti, tj]
                            if tn < 0:
                                continue  # inactive tile: every value <= threshold < v
                            nb = buf[tn * ss + (yy - ti * s) * s + (xx - tj * s)]
                            if dy < 0 or (dy == 0 and dx < 0):
                                if not v > nb:
                                    ok = False
                                    break
                            elif not v >= nb:
                                ok = False
                                break
                        if not ok:
                            break
                    if ok:
                        cand_pos[n] = y * ww + x
                        cand_val[n] = v
                        n += 1
    return n


@jit
def find_peaks_kernel(hm, s, first, wts, threshold, cutoff, max_peaks, r):
    """Peaks of every channel of ``hm`` float32 [K, h, w].

    Returns
    -------
    offsets int64 [K+1], grid int32 [M, 2], xy float64 [M, 2], scores float64 [M]
    """
    num_k = hm.shape[0]
    h = hm.shape[1]
    w = hm.shape[2]
    ww = w * s
    offsets = np.zeros(num_k + 1, dtype=np.int64)
    cap = num_k * min(max_peaks, 32)
    grid = np.empty((cap, 2), dtype=np.int32)
    xy = np.empty((cap, 2), dtype=np.float64)
    scores = np.empty(cap, dtype=np.float64)
    m = 0
    if s == 1:
        cand_pos = np.empty(h * w, dtype=np.int64)
        cand_val = np.empty(h * w, dtype=np.float64)
        mark = np.empty((1, 1), dtype=np.bool_)
        rowdil = np.empty((1, 1), dtype=np.bool_)
        slot = np.empty((1, 1), dtype=np.int64)
        hbuf = np.empty((1, 1), dtype=np.float64)
        lo = 0
        hi = 0
    else:
        cand_pos = np.empty(0, dtype=np.int64)
        cand_val = np.empty(0, dtype=np.float64)
        mark = np.empty((h, w), dtype=np.bool_)
        rowdil = np.empty((h, w), dtype=np.bool_)
        slot = np.empty((h, w), dtype=np.int64)
        lo = first.min()
        hi = first.max() + 3
        hbuf = np.empty((hi - lo + 1, s), dtype=np.float64)
    buf = np.empty(0, dtype=np.float64)
    for k in range(num_k):
        if s == 1:
            n = _raw_candidates(hm, k, threshold, cand_pos, cand_val)
        else:
            nact = _mark_tiles(hm, k, cutoff, lo, hi, mark, rowdil, slot)
            ss = s * s
            if buf.shape[0] < nact * ss:
                buf = np.empty(nact * ss, dtype=np.float64)
            if cand_pos.shape[0] < nact * ss:
                cand_pos = np.empty(nact * ss, dtype=np.int64)
                cand_val = np.empty(nact * ss, dtype=np.float64)
            for i in range(h):
                for j in range(w):
                    t = slot[i, j]
                    if t >= 0:
                        eval_tile(hm, k, i, j, s, first, wts, lo, hbuf, buf, t * ss)
            n = _up_candidates(hm, k, threshold, s, slot, buf, cand_pos, cand_val)
        # Rule 2: value desc, raster asc (candidates are in raster order; the sort is stable).
        order = np.argsort(-cand_val[:n], kind="mergesort")
        keep = min(n, max_peaks)
        grid, xy, scores = _grow_peaks(grid, xy, scores, m + keep)
        for q in range(keep):
            c = order[q]
            pos = cand_pos[c]
            y = pos // ww
            x = pos - y * ww
            grid[m, 0] = x
            grid[m, 1] = y
            scores[m] = cand_val[c]
            if r == 0:
                xy[m, 0] = np.float64(x)
                xy[m, 1] = np.float64(y)
            elif s == 1:
                rx, ry = _refine_raw(hm, k, x, y, r)
                xy[m, 0] = rx
                xy[m, 1] = ry
            else:
                rx, ry = _refine_up(hm, k, x, y, r, s, first, wts, slot, buf)
                xy[m, 0] = rx
                xy[m, 1] = ry
            m += 1
        offsets[k + 1] = m
    return offsets, grid[:m].copy(), xy[:m].copy(), scores[:m].copy()
