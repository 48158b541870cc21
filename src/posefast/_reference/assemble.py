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
``min_person_score``, are dropped.  With ``uncounted_keypoints`` (OpenPose's BODY-25
feet), ``parts`` is the count minus the uncounted keypoints the person holds, and
a person holding any of them with ``parts <= 4`` is dropped; when that leaves
nobody, the filter is rerun without the rule.  The rest are ordered by ``score / parts``
(highest first; ties keep the order in which people were started) and reported
with that value as their score.

**Fragments** (``merge_fragments = t > 0``).  People are then visited in that
order; each person ``q`` is compared with every earlier person ``p`` still kept, in
order, and absorbed by the first one for which: they hold at least one keypoint
type in common, ``q`` holds fewer keypoints than ``p``, and the mean over those types ``k`` (added in ``k`` order) of
``sqrt(dx*dx + dy*dy)`` between their refined decode-grid positions is at most
``t * sqrt(bw*bw + bh*bh)``, where ``bw``, ``bh`` are the width and height of the box
around ``p``'s present keypoints.  ``p`` takes ``q``'s keypoints of the types it
lacks (its score stays), and ``q`` is dropped.  Comparisons use ``p`` as it is
at that moment (keypoints absorbed before included).  Keypoints are the refined peak positions in map
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


def _filter(people: list, config: DecodeConfig, uncounted: set) -> list:
    """[(mean, index, person)] of the people passing the filter (module docstring)."""
    kept = []
    for i, p in enumerate(people):
        c = p.count - sum(1 for k in uncounted if k < len(p.parts) and p.parts[k] >= 0)
        if c != p.count and c <= 4:
            continue
        if c >= config.min_parts and p.score / c >= config.min_person_score:
            kept.append((p.score / c, i, p))
    return kept


def _absorb_fragments(kept: list, peaks: Peaks, t: float) -> list:
    """The fragment rule of the module docstring on ``kept`` [(mean, index, person)]."""
    def xy(k: int, i: int) -> tuple[float, float]:
        g = int(peaks.offsets[k]) + i
        return float(peaks.xy[g, 0]), float(peaks.xy[g, 1])

    out: list = []
    for entry in kept:
        q = entry[2]
        for _, _, p in out:
            total, shared = 0.0, 0
            x0 = y0 = np.inf
            x1 = y1 = -np.inf
            for k, i in enumerate(p.parts):
                if i < 0:
                    continue
                px, py = xy(k, i)
                x0, x1, y0, y1 = min(x0, px), max(x1, px), min(y0, py), max(y1, py)
                if q.parts[k] >= 0:
                    qx, qy = xy(k, q.parts[k])
                    dx, dy = px - qx, py - qy
                    total += float(np.sqrt(dx * dx + dy * dy))
                    shared += 1
            if shared == 0 or sum(i >= 0 for i in q.parts) >= sum(i >= 0 for i in p.parts):
                continue
            bw, bh = x1 - x0, y1 - y0
            if total / shared <= t * float(np.sqrt(bw * bw + bh * bh)):
                for k, i in enumerate(q.parts):
                    if i >= 0 and p.parts[k] < 0:
                        p.parts[k] = i
                break
        else:
            out.append(entry)
    return out


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

    kept = _filter(people, config, set(config.uncounted_keypoints))
    if not kept and config.uncounted_keypoints:
        kept = _filter(people, config, set())
    kept.sort(key=lambda e: (-e[0], e[1]))
    if config.merge_fragments > 0:
        kept = _absorb_fragments(kept, peaks, config.merge_fragments)

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
