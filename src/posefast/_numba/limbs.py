"""Stage 2 (Numba): PAF line-integral scores, rules as :mod:`posefast._reference.limbs`.

PAF values are evaluated on demand at each sample's integer decode-grid position
(no upsampled PAF maps).  A pair reads its samples in the reference's finiteness
order (``0, n-1, 1, ..., n-2``) and is abandoned as soon as it cannot pass the
sample test; that changes no result, since the abandoned pair's line-integral
score is never used.

Float64 throughout, in the reference's order: ``sample = (A + o) + i * (d / n)``
(or ``(A + o) + (i / (n - 1)) * d`` with ``paf_sample_far_end``),
``proj = vx * ux + vy * uy``, and the passing projections summed as the
reference's ``cumsum`` does (non-passing samples add ``0.0``).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit
from ._sort import argsort_desc
from .upsample import value_at2

__all__ = ["score_limbs_kernel"]


@jit
def _grow_cands(ca, cb, cs, need):
    cap = ca.shape[0]
    if need <= cap:
        return ca, cb, cs
    new_cap = max(need, 2 * cap)
    a2 = np.empty(new_cap, dtype=np.int32)
    b2 = np.empty(new_cap, dtype=np.int32)
    s2 = np.empty(new_cap, dtype=np.float64)
    a2[:cap] = ca
    b2[:cap] = cb
    s2[:cap] = cs
    return a2, b2, s2


@jit
def _passes(count, n, min_above, strict):
    """The reference's sample test on ``count`` passing samples of ``n``."""
    if strict:
        return count > 0 and np.float64(count) / np.float64(n) > min_above
    return count > 0 and count >= min_above * n


@jit
def allowed_table(nmax, min_above, strict):
    """``allowed(n)`` of the reference (``allowed_failures``) for n = 0 .. nmax."""
    out = np.full(nmax + 1, -1, dtype=np.int64)
    for n in range(1, nmax + 1):
        if _passes(n, n, min_above, strict):
            m = 0
            while m < n and _passes(n - (m + 1), n, min_above, strict):
                m += 1
            out[n] = m
    return out


@jit
def _sample(pafs, cx, cy, s, first, wts, i, ox, oy, dx, dy, stepx, stepy, denom, far_end, hh, ww):
    """PAF vector at sample ``i`` (reference rule 2)."""
    if far_end:
        t = np.float64(i) / denom
        sx = ox + t * dx
        sy = oy + t * dy
    else:
        sx = ox + np.float64(i) * stepx
        sy = oy + np.float64(i) * stepy
    fx = math.floor(sx + 0.5)
    fy = math.floor(sy + 0.5)
    px = np.int64(min(max(fx, 0.0), np.float64(ww - 1)))
    py = np.int64(min(max(fy, 0.0), np.float64(hh - 1)))
    if s == 1:
        return np.float64(pafs[cx, py, px]), np.float64(pafs[cy, py, px])
    return value_at2(pafs, cx, cy, py, px, s, first, wts)


@jit
def _score_pair(pafs, cx, cy, s, first, wts, xa, ya, xb, yb, threshold, nmin, nmax,
                far_end, offset, close_dist, close_score, allowed, proj, check):
    """``(status, score)`` of the pair A = (xa, ya), B = (xb, yb): status 1 for a
    candidate, 0 for none, 2 when ``check`` and a read PAF value is NaN or Inf.

    Samples are read in the reference's finiteness order (0, n-1, 1, ..., n-2),
    stopping once more than ``allowed[n]`` fail; the score still adds the passing
    projections in sample order, as the reference's ``cumsum`` does.
    """
    hh = pafs.shape[1] * s
    ww = pafs.shape[2] * s
    dx = xb - xa
    dy = yb - ya
    norm = math.sqrt(dx * dx + dy * dy)
    if not norm >= 1e-6:
        return 0, 0.0
    ux = dx / norm
    uy = dy / norm
    nf = math.floor(math.sqrt(5.0 * max(abs(dx), abs(dy))) + 0.5)
    nf = min(max(nf, np.float64(nmin)), np.float64(nmax))
    n = np.int64(nf)
    denom = np.float64(n - 1)
    stepx = dx / np.float64(n)
    stepy = dy / np.float64(n)
    ox = xa + offset
    oy = ya + offset
    al = allowed[n]
    failed = 0
    for e in range(2):
        i = np.int64(0) if e == 0 else n - 1
        vx, vy = _sample(pafs, cx, cy, s, first, wts, i, ox, oy, dx, dy, stepx, stepy, denom, far_end, hh, ww)
        if check and not (math.isfinite(vx) and math.isfinite(vy)):
            return 2, 0.0
        pr = vx * ux + vy * uy
        proj[i] = pr
        if not pr > threshold:
            failed += 1
        if failed > al:
            break  # decided by sample 0: sample n-1 is not read
    ok = failed <= al
    if ok:
        for i in range(1, n - 1):
            vx, vy = _sample(pafs, cx, cy, s, first, wts, i, ox, oy, dx, dy, stepx, stepy, denom, far_end, hh, ww)
            if check and not (math.isfinite(vx) and math.isfinite(vy)):
                return 2, 0.0
            pr = vx * ux + vy * uy
            proj[i] = pr
            if not pr > threshold:
                failed += 1
                if failed > al:
                    ok = False
                    break
    if ok:
        count = 0
        total = 0.0
        for i in range(n):
            # cumsum semantics: element i is proj when it passes, else 0.0.
            if proj[i] > threshold:
                count += 1
                total = proj[i] if i == 0 else total + proj[i]
            else:
                total = 0.0 if i == 0 else total + 0.0
        if n < nmax:
            total = total + 0.0  # the reference's trailing out-of-line samples
        if count > 0:
            return 1, total / count
    if norm < close_dist:
        return 1, close_score
    return 0, 0.0


@jit
def score_limbs_kernel(pafs, s, first, wts, pk_off, xy, limbs, paf, threshold, min_above, nmin, nmax,
                       far_end, offset, strict, close_fraction, close_score, check):
    """Candidate limbs of every limb.

    Parameters
    ----------
    pafs : float32 [2L, h, w]
    pk_off : int64 [K+1], xy : float64 [M, 2]
        Peak offsets and refined decode-grid positions.
    limbs, paf : int32 [L, 2]

    Returns
    -------
    offsets int64 [L+1], a int32 [C], b int32 [C], scores float64 [C], and a flag:
    True when ``check`` and a read PAF value was NaN or Inf (the rest is then unusable).
    """
    num_l = limbs.shape[0]
    close_dist = close_fraction * math.sqrt(np.float64(pafs.shape[1] * s * pafs.shape[2] * s))
    allowed = allowed_table(nmax, min_above, strict)
    proj = np.empty(nmax, dtype=np.float64)
    offsets = np.zeros(num_l + 1, dtype=np.int64)
    ca = np.empty(256, dtype=np.int32)
    cb = np.empty(256, dtype=np.int32)
    cs = np.empty(256, dtype=np.float64)
    nc = 0
    for l in range(num_l):
        ka = limbs[l, 0]
        kb = limbs[l, 1]
        cx = paf[l, 0]
        cy = paf[l, 1]
        a0 = pk_off[ka]
        na = pk_off[ka + 1] - a0
        b0 = pk_off[kb]
        nb = pk_off[kb + 1] - b0
        start = nc
        ca, cb, cs = _grow_cands(ca, cb, cs, nc + na * nb)
        for ia in range(na):
            xa = xy[a0 + ia, 0]
            ya = xy[a0 + ia, 1]
            for ib in range(nb):
                st, sc = _score_pair(pafs, cx, cy, s, first, wts, xa, ya,
                                     xy[b0 + ib, 0], xy[b0 + ib, 1], threshold, nmin, nmax,
                                     far_end, offset, close_dist, close_score, allowed, proj, check)
                if st == 2:
                    return offsets, ca[:0].copy(), cb[:0].copy(), cs[:0].copy(), True
                if st == 1:
                    ca[nc] = ia
                    cb[nc] = ib
                    cs[nc] = sc
                    nc += 1
        # Score desc, then a, then b: candidates were made in (a, b) order; stable sort.
        cnt = nc - start
        if cnt > 1:
            order = argsort_desc(cs[start:nc])
            ta = ca[start:nc].copy()
            tb = cb[start:nc].copy()
            ts = cs[start:nc].copy()
            for q in range(cnt):
                ca[start + q] = ta[order[q]]
                cb[start + q] = tb[order[q]]
                cs[start + q] = ts[order[q]]
        offsets[l + 1] = nc
    return offsets, ca[:nc].copy(), cb[:nc].copy(), cs[:nc].copy(), False
