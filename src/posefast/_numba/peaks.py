"""Stage 1 (Numba): heatmap peaks, rules as :mod:`posefast._reference.peaks`.

``s == 1``: a threshold scan of the raw map, NMS on the survivors.

``s >= 2``: no upsampled map is built.  Raw cells with ``|v| >= cutoff``
(``threshold / cull_bound(s)`` less a tiny margin) are *marked*; a tile (the ``s x s``
decode-grid block of a raw cell) is *active* when its bicubic support (raw rows
``i + min(first) .. i + max(first) + 3``, columns likewise, clamped) holds a marked
cell.  For an active tile the horizontal sums of its raw rows are computed (and
shared with the tiles above and below); when they all have ``|H| <
threshold / S`` (``S`` the largest sum of ``|vertical weights|``,
:func:`.upsample.vertical_cutoff`) the tile is culled too, else its values are
evaluated (bit-identical to the reference's).  Every value of a culled tile is
provably below the threshold, so it is never a peak and never beats a peak in the
NMS test: NMS skips such neighbours.  Refinement
windows need every positive value, so window cells of inactive tiles are evaluated
on demand.

Dimension letters as in :mod:`posefast.types`.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from ._sort import argsort_desc
from .upsample import tile_hsums, tile_values, value_at

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
def _mark_tiles(bits, k, h, w, cbits, lo, hi, slot, tile_j, row_start):
    """Active tiles of channel ``k``.

    ``bits`` is the heatmap as uint32 [K*h*w]; a raw cell is *marked* when
    ``(bits & 0x7fffffff) >= cbits``, which is ``|v| >= cutoff`` for float32 ``v``
    (``cbits``: the bits of the least float32 >= cutoff, at least 1 so that zeros
    stay unmarked); NaN and Inf are marked too (only reachable with
    check_finite=False), so a skipped tile is always finite and below threshold.

    A marked raw cell ``(i, j)`` lies in the support of tiles ``(ti, tj)`` with
    ``ti`` in ``[i - hi, i - lo]`` and ``tj`` in ``[j - hi, j - lo]`` (clamping the
    support into the map does not change that set).  Active tiles get storage
    indices in raster order: ``slot[i, j]`` (-1 when inactive), their columns in
    ``tile_j``, and those of tile row ``i`` are ``row_start[i] .. row_start[i+1]-1``.

    ``slot`` must be all -1 on entry; :func:`_clear_tiles` restores that.

    Returns the number of active tiles.
    """
    lo_row = h
    hi_row = -1
    mask = np.uint32(0x7FFFFFFF)
    for i in range(h):
        base = (k * h + i) * w
        hit = 0
        for j in range(w):
            # unsigned index: no negative-index wraparound, so this loop vectorises
            hit |= (bits[np.uint64(base + j)] & mask) >= cbits
        if hit == 0:
            continue
        for j in range(w):
            if (bits[np.uint64(base + j)] & mask) >= cbits:
                t0 = max(0, i - hi)
                t1 = min(h - 1, i - lo)
                lo_row = min(lo_row, t0)
                hi_row = max(hi_row, t1)
                for ti in range(t0, t1 + 1):
                    for tj in range(max(0, j - hi), min(w - 1, j - lo) + 1):
                        slot[ti, tj] = 0
    n = 0
    for i in range(h):
        row_start[i] = n
        if i < lo_row or i > hi_row:
            continue
        for j in range(w):
            if slot[i, j] == 0:
                slot[i, j] = n
                tile_j[n] = j
                n += 1
    row_start[h] = n
    return n


@jit
def _clear_tiles(slot, tile_j, row_start):
    """Set the active tiles' ``slot`` entries back to -1."""
    h = row_start.shape[0] - 1
    for i in range(h):
        for t in range(row_start[i], row_start[i + 1]):
            slot[i, tile_j[t]] = -1


@jit
def _grid_value(hm, k, yy, xx, s, first, wts, slot, state, buf):
    """Decode-grid value at (yy, xx): from an evaluated tile, else on demand."""
    i = yy // s
    j = xx // s
    t = slot[i, j]
    if t >= 0 and state[t] > 0:
        return buf[t * s * s + (yy - i * s) * s + (xx - j * s)]
    return value_at(hm, k, yy, xx, s, first, wts)


@jit
def _refine_up(hm, k, x, y, r, s, first, wts, slot, state, buf):
    hh = hm.shape[1] * s
    ww = hm.shape[2] * s
    sw = 0.0
    sx = 0.0
    sy = 0.0
    for yy in range(max(0, y - r), min(hh, y + r + 1)):
        for xx in range(max(0, x - r), min(ww, x + r + 1)):
            v = _grid_value(hm, k, yy, xx, s, first, wts, slot, state, buf)
            if v > 0.0:
                sw += v
                sx += v * xx
                sy += v * yy
    return sx / sw, sy / sw


@jit
def _up_candidates(hm, k, threshold, s, slot, tile_j, row_start, state, buf, cand_pos, cand_val):
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
            for t in range(row_start[i], row_start[i + 1]):
                if state[t] != 2:
                    continue
                j = tile_j[t]
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
                        # neighbour's tile row and phase, without dividing
                        qy = py + dy
                        ti = i
                        if qy < 0:
                            ti = i - 1
                            qy = s - 1
                        elif qy == s:
                            ti = i + 1
                            qy = 0
                        for dx in range(-1, 2):
                            if dy == 0 and dx == 0:
                                continue
                            xx = x + dx
                            if xx < 0 or xx >= ww:
                                continue
                            qx = px + dx
                            tj = j
                            if qx < 0:
                                tj = j - 1
                                qx = s - 1
                            elif qx == s:
                                tj = j + 1
                                qx = 0
                            tn = slot[ti, tj]
                            if tn < 0 or state[tn] == 0:
                                continue  # culled tile: every value <= threshold < v
                            nb = buf[tn * ss + qy * s + qx]
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
def _strict_filter(hm, k, s, first, wts, slot, state, buf, cand_pos, cand_val, n):
    """``peak_strict_nms``: drop candidates equal to a later neighbour (right, or any
    below).  Candidates already beat earlier neighbours strictly and are not below
    later ones, so what is left is exactly "above all 8".  Order kept."""
    hh = hm.shape[1] * s
    ww = hm.shape[2] * s
    n_in = 0
    for c in range(n):
        pos = cand_pos[c]
        v = cand_val[c]
        y = pos // ww
        x = pos - y * ww
        tie = False
        for dy in range(0, 2):
            yy = y + dy
            if yy >= hh:
                continue
            for dx in range(-1, 2):
                xx = x + dx
                if (dy == 0 and dx <= 0) or xx < 0 or xx >= ww:
                    continue
                if s == 1:
                    nb = np.float64(hm[k, yy, xx])
                else:
                    nb = _grid_value(hm, k, yy, xx, s, first, wts, slot, state, buf)
                if nb == v:
                    tie = True
        if not tie:
            cand_pos[n_in] = pos
            cand_val[n_in] = v
            n_in += 1
    return n_in


@jit
def _ring_nb(hm, k, s, slot, state, buf, yy, xx, v):
    """True when ``v`` >= the decode-grid value at (yy, xx) (a neighbour inside the grid).
    A neighbour in an inactive or culled tile is <= threshold < v."""
    if s == 1:
        return v >= np.float64(hm[k, yy, xx])
    i = yy // s
    j = xx // s
    t = slot[i, j]
    if t < 0 or state[t] == 0:
        return True
    return v >= buf[t * s * s + (yy - i * s) * s + (xx - j * s)]


@jit
def _ring_peak(hm, k, threshold, s, slot, state, buf, y, x, cand_pos, cand_val, n):
    """Rule 1's ring test at (y, x); appends a peak and returns the new count."""
    hh = hm.shape[1] * s
    ww = hm.shape[2] * s
    if s == 1:
        v = np.float64(hm[k, y, x])
    else:
        i = y // s
        j = x // s
        t = slot[i, j]
        if t < 0 or state[t] != 2:
            return n   # no value of this tile is above the threshold
        v = buf[t * s * s + (y - i * s) * s + (x - j * s)]
    if not v > threshold:
        return n
    for dy in range(-1, 2):
        yy = y + dy
        if yy < 0 or yy >= hh:
            continue
        for dx in range(-1, 2):
            xx = x + dx
            if (dy == 0 and dx == 0) or xx < 0 or xx >= ww:
                continue
            if not _ring_nb(hm, k, s, slot, state, buf, yy, xx, v):
                return n
    cand_pos[n] = y * ww + x
    cand_val[n] = v
    return n + 1


@jit
def _ring_tile(hm, k, threshold, s, slot, state, buf, i, j, cand_pos, cand_val, n):
    """The ring cells of tile (i, j) (s >= 2); only a tile holding a value above the
    threshold (state 2) can hold a ring peak."""
    t = slot[i, j]
    if t < 0 or state[t] != 2:
        return n
    hh = hm.shape[1] * s
    ww = hm.shape[2] * s
    for y in range(i * s, i * s + s):
        for x in range(j * s, j * s + s):
            inner = x > 1 and x < ww - 2 and y > 1 and y < hh - 2
            if not inner and (x == 1 or x == ww - 2 or y == 1 or y == hh - 2):
                n = _ring_peak(hm, k, threshold, s, slot, state, buf, y, x, cand_pos, cand_val, n)
    return n


@jit
def _ring_candidates(hm, k, threshold, s, slot, state, buf, cand_pos, cand_val, n):
    """Append rule 1's ring peaks (``peak_ring_ties``) to the ``n`` candidates, then put
    all of them back in raster order."""
    h = hm.shape[1]
    w = hm.shape[2]
    hh = h * s
    ww = w * s
    n0 = n
    if s == 1:
        for y in range(hh):
            if y == 1 or y == hh - 2:
                for x in range(ww):
                    n = _ring_peak(hm, k, threshold, s, slot, state, buf, y, x, cand_pos, cand_val, n)
            else:
                if ww > 1:
                    n = _ring_peak(hm, k, threshold, s, slot, state, buf, y, 1, cand_pos, cand_val, n)
                if ww - 2 > 1:
                    n = _ring_peak(hm, k, threshold, s, slot, state, buf, y, ww - 2, cand_pos, cand_val, n)
    else:
        # The ring lies in the tiles of raw rows 0, h-1 and columns 0, w-1, each visited once.
        for i in range(h):
            if i == 0 or i == h - 1:
                for j in range(w):
                    n = _ring_tile(hm, k, threshold, s, slot, state, buf, i, j, cand_pos, cand_val, n)
            else:
                n = _ring_tile(hm, k, threshold, s, slot, state, buf, i, 0, cand_pos, cand_val, n)
                if w > 1:
                    n = _ring_tile(hm, k, threshold, s, slot, state, buf, i, w - 1, cand_pos, cand_val, n)
    if n > n0:
        order = np.argsort(cand_pos[:n])
        pos = cand_pos[:n][order]
        val = cand_val[:n][order]
        cand_pos[:n] = pos
        cand_val[:n] = val
    return n


@jit
def find_peaks_kernel(hm, s, first, wts, threshold, cutoff_bits, hcut, max_peaks, r, border, ring, raster,
                      strict):
    """Peaks of every channel of ``hm`` float32 [K, h, w].

    ``cutoff_bits`` (uint32) and ``hcut`` are :func:`.upsample.cull_cutoff_bits` and
    :func:`.upsample.vertical_cutoff`; unused when ``s == 1``.

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
        slot = np.empty((1, 1), dtype=np.int64)
        tile_j = np.empty(1, dtype=np.int64)
        row_start = np.empty(1, dtype=np.int64)
        state = np.empty(1, dtype=np.int8)
        habs = np.empty(1, dtype=np.float64)
        hcache = np.empty(1, dtype=np.float64)
        hstamp = np.empty(1, dtype=np.int64)
        lo = 0
        hi = 0
    else:
        cand_pos = np.empty(0, dtype=np.int64)
        cand_val = np.empty(0, dtype=np.float64)
        slot = np.full((h, w), -1, dtype=np.int64)
        tile_j = np.empty(h * w, dtype=np.int64)
        row_start = np.empty(h + 1, dtype=np.int64)
        state = np.empty(h * w, dtype=np.int8)
        habs = np.empty(h * w, dtype=np.float64)
        lo = first.min()
        hi = first.max() + 3
        hcache = np.empty(h * w * s, dtype=np.float64)
        hstamp = np.zeros(h * w, dtype=np.int64)
    nrows = hi - lo + 1
    flat = hm.reshape(-1)
    wflat = wts.reshape(-1)
    bits = hm.reshape(-1).view(np.uint32)
    buf = np.empty(0, dtype=np.float64)
    for k in range(num_k):
        if s == 1:
            n = _raw_candidates(hm, k, threshold, cand_pos, cand_val)
        else:
            nact = _mark_tiles(bits, k, h, w, cutoff_bits, lo, hi, slot, tile_j, row_start)
            ss = s * s
            if buf.shape[0] < nact * ss:
                buf = np.empty(nact * ss, dtype=np.float64)
            if cand_pos.shape[0] < nact * ss:
                cand_pos = np.empty(nact * ss, dtype=np.int64)
                cand_val = np.empty(nact * ss, dtype=np.float64)
            for i in range(h):
                for t in range(row_start[i], row_start[i + 1]):
                    j = tile_j[t]
                    top = tile_hsums(flat, h, w, k, i, j, s, first, wflat, lo, nrows,
                                     hcache, habs, hstamp, k + 1)
                    if top < hcut:
                        state[t] = 0   # culled by the vertical bound: not evaluated
                    elif tile_values(h, w, i, j, s, first, wflat, hcache, buf, t * ss, threshold):
                        state[t] = 2   # evaluated, holds a value above the threshold
                    else:
                        state[t] = 1   # evaluated
            n = _up_candidates(hm, k, threshold, s, slot, tile_j, row_start, state, buf, cand_pos, cand_val)
        if strict:
            n = _strict_filter(hm, k, s, first, wts, slot, state, buf, cand_pos, cand_val, n)
        b = 2 if ring else border   # with ring ties, the ring is tested on its own below
        if b > 0:
            # Rule 1's border: drop candidates within `b` cells of the edge (order kept).
            n_in = 0
            for c in range(n):
                pos = cand_pos[c]
                y = pos // ww
                x = pos - y * ww
                if x >= b and x < ww - b and y >= b and y < h * s - b:
                    cand_pos[n_in] = pos
                    cand_val[n_in] = cand_val[c]
                    n_in += 1
            n = n_in
        if ring:
            n = _ring_candidates(hm, k, threshold, s, slot, state, buf, cand_pos, cand_val, n)
        # Rule 2: value desc, raster asc (candidates are in raster order; the sort is
        # stable), or raster order alone.
        if raster:
            order = np.arange(n)
        else:
            order = argsort_desc(cand_val[:n])
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
                rx, ry = _refine_up(hm, k, x, y, r, s, first, wts, slot, state, buf)
                xy[m, 0] = rx
                xy[m, 1] = ry
            m += 1
        if s > 1:
            _clear_tiles(slot, tile_j, row_start)
        offsets[k + 1] = m
    return offsets, grid[:m].copy(), xy[:m].copy(), scores[:m].copy()
