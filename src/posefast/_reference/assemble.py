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

   A *fill-only* limb (shoulder->ear) with ``fill_only_shares`` (OpenPose's rule)
   skips the steps above: every person, in the order people were started, that
   holds ``ia`` as keypoint ``a`` and has no keypoint ``b`` gets ``ib``; else, if it
   holds ``ib`` as keypoint ``b`` and has no keypoint ``a``, it gets ``ia``.  Such a
   fill adds neither score nor count, may give a peak to a second person, and
   does not change which person owns a peak for later limbs.

People with fewer than ``min_parts`` keypoints, or whose ``score / parts`` is below
``min_person_score``, are dropped.  The rest are ordered by ``score / parts``
(highest first; ties keep the order in which people were started) and reported
with that value as their score.  Keypoints are the refined peak positions in map
pixels with the peak score as confidence; missing ones are ``0, 0, 0``.
"""

from __future__ import annotations

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
            if config.fill_only_shares and l in layout.fill_only:
                for person in people:
                    if person.parts[a] == ia and person.parts[b] == -1:
                        person.parts[b] = ib
                    elif person.parts[b] == ib and person.parts[a] == -1:
                        person.parts[a] = ia
                continue
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
    kept.sort(key=lambda e: (-e[0], e[1]))

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
