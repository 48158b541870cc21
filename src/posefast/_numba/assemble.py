"""Stage 3 (Numba): greedy matching and assembly, rules as :mod:`posefast._reference.assemble`.

Flat arrays instead of dicts: ``owner[g]`` is the person holding global peak row
``g`` (-1 = nobody), ``used[g]`` marks peaks taken by the current limb's matching.
Person scores follow the reference's operation order exactly:
``(pa + pb) + s`` for a new person, ``score += (pb + s)`` to join.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from ._sort import argsort_desc

__all__ = ["assemble_kernel", "assemble_single_kernel", "check_stage_inputs"]


@jit
def check_stage_inputs(pk_off, num_peaks, c_off, ca, cb, num_c, limbs):
    """Whether peaks and candidates from the caller fit together (the assembly
    kernel indexes with them unchecked).

    Returns 0 when they do, 1 for malformed peak offsets, 2 for malformed
    candidate offsets, or ``3 + l`` when limb ``l`` names a peak that is not there.
    """
    num_k = pk_off.shape[0] - 1
    if pk_off[0] != 0 or pk_off[num_k] != num_peaks:
        return 1
    for k in range(num_k):
        if pk_off[k + 1] < pk_off[k]:
            return 1
    num_l = limbs.shape[0]
    if c_off.shape[0] != num_l + 1 or c_off[0] != 0 or c_off[num_l] != num_c:
        return 2
    for l in range(num_l):
        if c_off[l + 1] < c_off[l]:
            return 2
    for l in range(num_l):
        na = pk_off[limbs[l, 0] + 1] - pk_off[limbs[l, 0]]
        nb = pk_off[limbs[l, 1] + 1] - pk_off[limbs[l, 1]]
        for c in range(c_off[l], c_off[l + 1]):
            if ca[c] < 0 or ca[c] >= na or cb[c] < 0 or cb[c] >= nb:
                return 3 + l
    return 0


@jit
def _rank(parts, p, pk_off, xy, total):
    """``total * sqrt(box area)`` of person ``p`` (the reference's ``_rank``)."""
    num_k = parts.shape[1]
    first = True
    lo_x = 0.0
    hi_x = 0.0
    lo_y = 0.0
    hi_y = 0.0
    for k in range(num_k):
        i = parts[p, k]
        if i < 0:
            continue
        g = pk_off[k] + i
        x = xy[g, 0]
        y = xy[g, 1]
        if first:
            lo_x = x
            hi_x = x
            lo_y = y
            hi_y = y
            first = False
            continue
        if x < lo_x:
            lo_x = x
        if x > hi_x:
            hi_x = x
        if y < lo_y:
            lo_y = y
        if y > hi_y:
            hi_y = y
    r = total * np.sqrt((hi_x - lo_x) * (hi_y - lo_y))
    if r != r:
        r = -np.inf
    return r


@jit
def _to_poses(pk_off, pk_scores, xy, s, parts, keep, avg, order, n_keep):
    """Poses of people ``keep[order[row]]`` (rows ``0 .. n_keep-1``), scores ``avg``."""
    num_k = parts.shape[1]
    sf = np.float64(s)
    keypoints = np.zeros((n_keep, num_k, 3), dtype=np.float32)
    peak_ids = np.full((n_keep, num_k), -1, dtype=np.int32)
    scores = np.empty(n_keep, dtype=np.float32)
    for row in range(n_keep):
        q = order[row]
        p = keep[q]
        scores[row] = np.float32(avg[q])
        for k in range(num_k):
            i = parts[p, k]
            if i >= 0:
                g = pk_off[k] + i
                keypoints[row, k, 0] = np.float32((xy[g, 0] + 0.5) / sf - 0.5)
                keypoints[row, k, 1] = np.float32((xy[g, 1] + 0.5) / sf - 0.5)
                keypoints[row, k, 2] = np.float32(pk_scores[g])
                peak_ids[row, k] = i
    return keypoints, scores, peak_ids


@jit
def assemble_single_kernel(pk_off, pk_scores, xy, s, min_parts, min_person_score, people_max):
    """Single-person mode: at most one person, holding peak 0 of every keypoint that
    has one (the reference's ``_single_person``).  ``people_max`` is unused (one
    person never exceeds a limit >= 1); it keeps the signature of
    :func:`assemble_kernel`'s person arguments."""
    num_k = pk_off.shape[0] - 1
    parts = np.full((1, num_k), -1, dtype=np.int32)
    total = 0.0
    count = 0
    for k in range(num_k):
        if pk_off[k + 1] > pk_off[k]:
            parts[0, k] = 0
            total += pk_scores[pk_off[k]]
            count += 1
    keep = np.zeros(1, dtype=np.int64)
    avg = np.zeros(1, dtype=np.float64)
    n_keep = 0
    if count >= min_parts and total / count >= min_person_score:
        avg[0] = total / count
        n_keep = 1
    return _to_poses(pk_off, pk_scores, xy, s, parts, keep, avg, keep, n_keep)


@jit
def assemble_kernel(pk_off, pk_scores, xy, s, c_off, ca, cb, cs, limbs, fill, min_parts, min_person_score,
                    people_max):
    """People from peaks and candidate limbs; at most ``people_max`` (0 = no limit)
    of the highest rank (the reference's ``_top_people``).

    Returns
    -------
    keypoints float32 [P, K, 3] (map pixels), scores float32 [P], peak_ids int32 [P, K]
    """
    num_k = pk_off.shape[0] - 1
    num_l = limbs.shape[0]
    m = pk_off[num_k]
    owner = np.full(m, -1, dtype=np.int64)
    used = np.zeros(m, dtype=np.bool_)
    max_people = m // 2 + 1   # a new person takes two unowned peaks
    parts = np.full((max_people, num_k), -1, dtype=np.int32)
    score = np.zeros(max_people, dtype=np.float64)
    count = np.zeros(max_people, dtype=np.int64)
    n_people = 0
    for l in range(num_l):
        ka = limbs[l, 0]
        kb = limbs[l, 1]
        oa = pk_off[ka]
        ob = pk_off[kb]
        for c in range(c_off[l], c_off[l + 1]):
            ia = ca[c]
            ib = cb[c]
            ga = oa + ia
            gb = ob + ib
            if used[ga] or used[gb]:
                continue
            used[ga] = True
            used[gb] = True
            if owner[gb] >= 0:
                continue
            p = owner[ga]
            if p >= 0:
                if parts[p, kb] != -1:
                    continue
                parts[p, kb] = ib
                score[p] += pk_scores[gb] + cs[c]
                count[p] += 1
                owner[gb] = p
            elif fill[l] == 0:
                p = n_people
                parts[p, ka] = ia
                parts[p, kb] = ib
                score[p] = pk_scores[ga] + pk_scores[gb] + cs[c]
                count[p] = 2
                owner[ga] = p
                owner[gb] = p
                n_people += 1
        used[oa:pk_off[ka + 1]] = False
        used[ob:pk_off[kb + 1]] = False

    keep = np.empty(n_people, dtype=np.int64)
    avg = np.empty(n_people, dtype=np.float64)
    n_keep = 0
    for p in range(n_people):
        if count[p] >= min_parts:
            v = score[p] / count[p]
            if v >= min_person_score:
                keep[n_keep] = p
                avg[n_keep] = v
                n_keep += 1
    if people_max > 0 and n_keep > people_max:
        # The people_max of highest rank; ties in formation order (stable sort).
        rank = np.empty(n_keep, dtype=np.float64)
        for q in range(n_keep):
            rank[q] = _rank(parts, keep[q], pk_off, xy, score[keep[q]])
        by_rank = argsort_desc(rank)
        chosen = np.zeros(n_keep, dtype=np.bool_)
        for q in range(people_max):
            chosen[by_rank[q]] = True
        n2 = 0
        for q in range(n_keep):
            if chosen[q]:
                keep[n2] = keep[q]
                avg[n2] = avg[q]
                n2 += 1
        n_keep = n2
    # Score desc, ties in formation order (stable sort of kept people, kept in order).
    order = argsort_desc(avg[:n_keep])
    return _to_poses(pk_off, pk_scores, xy, s, parts, keep, avg, order, n_keep)
