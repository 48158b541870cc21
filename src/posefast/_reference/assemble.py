"""Stage 3 (reference): greedy matching per limb and person assembly.

Limbs are processed in the layout's order.  For each limb:

1. **Greedy matching.**  Candidates are taken in their order (score desc, then
   ``a``, then ``b``); a candidate is accepted when neither its ``a`` peak nor its
   ``b`` peak was accepted earlier *for this limb*.
2. **Assembly**, for each accepted ``(ia, ib, score)`` in acceptance order:

   * if peak ``ib`` of keypoint ``b`` already belongs to a person, nothing happens
     (a peak is never shared);
   * else if peak ``ia`` of keypoint ``a`` belongs to person ``p``: when ``p`` has
     no keypoint ``b`` yet, ``ib`` joins ``p`` and ``p.score += peak score of ib +
     score``; otherwise nothing happens;
   * else, unless the limb is *fill-only*, a new person ``{a: ia, b: ib}`` starts
     with ``score = peak score of ia + peak score of ib + score``.

People with fewer than ``min_parts`` keypoints, or whose ``score / parts`` is below
``min_person_score``, are dropped (the *person filter*).

**number_people_max** ``N`` (OpenPose's ``--number_people_max``): when more than
``N`` people pass the filter, only ``N`` are kept, ranked by

    ``rank = score * sqrt((max x - min x) * (max y - min y))``

with ``score`` the person's total (not divided by the parts) and the bounding box
of its keypoints' refined positions on the decode grid (float64; min and max taken
in keypoint order, a coordinate replacing the running one only when strictly
smaller / larger).  A NaN rank (only reachable with ``check_finite=False``) ranks
lowest.  Highest rank first; equal ranks go to the person started first
(OpenPose: its ``KeepTopNPeople`` ranks by the mean score times the square root of
the keypoints' box area and keeps, of the people on the threshold rank, the first
ones; its mean divides by a constant, so the order is the same; it counts the
keypoints with confidence above 0.05 in the box, which at the default
``peak_threshold`` of 0.05 are all of them).

The people kept are ordered by ``score / parts`` (highest first; ties keep the order
in which people were started) and reported with that value as their score.
Keypoints are the refined peak positions in map pixels with the peak score as
confidence; missing ones are ``0, 0, 0``.

**Single-person mode** (``single_person_mode``, preset
``DecodeConfig.single_person()``): stage 1 keeps one peak per keypoint, the global
maximum of its decode grid (upsampled when ``upsample > 1``, the lowest raster
index on ties) if it is strictly above ``peak_threshold``, refined as every peak;
stage 2 reads no PAF and gives no candidate.  Stage 3 makes at most one person: it
holds peak 0 (the highest) of every keypoint that has one, its score is the sum of
those peaks' scores, added in keypoint order, divided by their number, and it
passes the same person filter (the preset sets ``min_parts=1`` and
``min_person_score=0``: one keypoint found is enough).  No keypoint found: no
person.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import DecodeConfig
from ..layouts import Layout
from ..types import LimbCandidates, Peaks, Poses, grid_to_map

__all__ = ["assemble"]


class _Person:
    def __init__(self, num_keypoints: int) -> None:
        self.parts = [-1] * num_keypoints    # peak index within each keypoint, -1 = missing
        self.score = 0.0
        self.count = 0


def assemble(peaks: Peaks, candidates: LimbCandidates, layout: Layout, config: DecodeConfig) -> Poses:
    """Group scored limbs into people.

    Returns
    -------
    Poses
        Keypoints in map pixels.
    """
    if config.single_person_mode:
        return _single_person(peaks, layout, config)
    num_k = layout.num_keypoints
    people: list[_Person] = []
    owner: list[dict[int, int]] = [dict() for _ in range(num_k)]   # owner[k][peak] = person

    def peak_score(k: int, i: int) -> float:
        return float(peaks.scores[peaks.offsets[k] + i])

    for l, (a, b) in enumerate(layout.limbs):
        rows = candidates.of(l)
        used_a: set[int] = set()
        used_b: set[int] = set()
        for ia, ib, s in zip(candidates.a[rows].tolist(), candidates.b[rows].tolist(),
                             candidates.scores[rows].tolist()):
            if ia in used_a or ib in used_b:
                continue
            used_a.add(ia)
            used_b.add(ib)
            if ib in owner[b]:
                continue
            p = owner[a].get(ia)
            if p is not None:
                person = people[p]
                if person.parts[b] != -1:
                    continue
                person.parts[b] = ib
                person.score += peak_score(b, ib) + s
                person.count += 1
                owner[b][ib] = p
            elif l not in layout.fill_only:
                person = _Person(num_k)
                person.parts[a], person.parts[b] = ia, ib
                person.score = peak_score(a, ia) + peak_score(b, ib) + s
                person.count = 2
                owner[a][ia] = owner[b][ib] = len(people)
                people.append(person)

    kept = [(p.score / p.count, i, p) for i, p in enumerate(people)
            if p.count >= config.min_parts and p.score / p.count >= config.min_person_score]
    if config.number_people_max is not None and len(kept) > config.number_people_max:
        kept = _top_people(kept, peaks, config.number_people_max)
    kept.sort(key=lambda e: (-e[0], e[1]))
    return _poses(kept, peaks, layout)


def _rank(person: _Person, peaks: Peaks) -> float:
    """``score * sqrt(box area)`` of the module docstring; NaN -> -inf."""
    lo_x = hi_x = lo_y = hi_y = None
    for k, i in enumerate(person.parts):
        if i < 0:
            continue
        x, y = (float(v) for v in peaks.xy[int(peaks.offsets[k]) + i])
        if lo_x is None:
            lo_x = hi_x = x
            lo_y = hi_y = y
            continue
        if x < lo_x:
            lo_x = x
        if x > hi_x:
            hi_x = x
        if y < lo_y:
            lo_y = y
        if y > hi_y:
            hi_y = y
    r = person.score * math.sqrt((hi_x - lo_x) * (hi_y - lo_y))
    return -math.inf if math.isnan(r) else r


def _top_people(kept: list, peaks: Peaks, n: int) -> list:
    """The ``n`` entries ``(mean, index, person)`` of highest rank (ties: lower index)."""
    ranked = sorted(kept, key=lambda e: (-_rank(e[2], peaks), e[1]))
    chosen = {e[1] for e in ranked[:n]}
    return [e for e in kept if e[1] in chosen]


def _single_person(peaks: Peaks, layout: Layout, config: DecodeConfig) -> Poses:
    person = _Person(layout.num_keypoints)
    for k in range(layout.num_keypoints):
        if peaks.count(k) > 0:
            person.parts[k] = 0
            person.score += float(peaks.scores[peaks.offsets[k]])
            person.count += 1
    kept = []
    if person.count >= config.min_parts and person.score / person.count >= config.min_person_score:
        kept.append((person.score / person.count, 0, person))
    return _poses(kept, peaks, layout)


def _poses(kept: list, peaks: Peaks, layout: Layout) -> Poses:
    """Poses of the entries ``(mean, index, person)``, in their order."""
    num_k = layout.num_keypoints
    keypoints = np.zeros((len(kept), num_k, 3), dtype=np.float64)
    peak_ids = np.full((len(kept), num_k), -1, dtype=np.int32)
    map_xy = grid_to_map(peaks.xy, peaks.upsample)
    for row, (_, _, person) in enumerate(kept):
        for k, i in enumerate(person.parts):
            if i >= 0:
                g = int(peaks.offsets[k]) + i
                keypoints[row, k] = (map_xy[g, 0], map_xy[g, 1], peaks.scores[g])
                peak_ids[row, k] = i
    return Poses(
        keypoints=keypoints.astype(np.float32),
        scores=np.asarray([e[0] for e in kept], dtype=np.float32),
        peak_ids=peak_ids,
        layout=layout.name,
    )
