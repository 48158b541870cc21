"""People-level parity between two runs of a model (e.g. int8 vs fp32, OpenVINO vs ONNX Runtime).

The gate of issue 7: on the 217 frames of ``dance.mp4`` and the shared photos,

* the same number of people in at least 95 % of the images, and
* a mean keypoint distance of at most 2 image pixels, over the keypoints both runs
  found on people matched between them (Hungarian matching on mean keypoint
  distance).

Network runs are expensive on the 2-core CI machine, so :class:`PeopleCache`
keeps the people of each configuration for the whole test session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

PHOTOS = ("COCO_val2014_000000000357.jpg", "apink1.jpg", "apink2.jpg", "apink3.jpg", "cat.jpg", "golf.jpg",
          "handsup1.jpg", "image.jpg", "image1.jpg", "image2.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "p3_dance.png",
          "ski.jpg", "valid_person1.jpg")
MIN_SAME_COUNT = 0.95
MAX_MEAN_DISTANCE = 2.0


def parity_images(media: Path) -> list[tuple[str, np.ndarray]]:
    """The 217 dance frames, then the shared photos: ``(name, BGR image)``."""
    out = []
    cap = cv2.VideoCapture(str(media / "dance.mp4"))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out.append((f"dance.mp4#{len(out)}", frame))
    finally:
        cap.release()
    assert len(out) == 217, f"dance.mp4 gave {len(out)} frames, expected 217"
    for name in PHOTOS:
        img = cv2.imread(str(media / name))
        assert img is not None, f"cannot read {media / name}"
        out.append((name, img))
    return out


def people_of(estimator, images: Sequence[tuple[str, np.ndarray]], batch: int = 4) -> list:
    """Poses of every image (same-size images batched, as the video pipeline does)."""
    result = []
    for i in range(0, len(images), batch):
        result.extend(estimator.batch([im for _, im in images[i:i + batch]]))
    return result


@dataclass(frozen=True)
class Parity:
    images: int
    same_count: float        # fraction of images with the same number of people
    mean_distance: float     # px, over keypoints found by both on matched people
    keypoints: int           # how many keypoint pairs the mean is over
    worst: str               # the image with the largest mean distance
    mismatched: tuple[str, ...] = ()   # images whose people counts differ, "name (a vs b)"

    def ok(self) -> bool:
        return self.same_count >= MIN_SAME_COUNT and self.mean_distance <= MAX_MEAN_DISTANCE

    def __str__(self) -> str:
        more = f" ... {len(self.mismatched)} in all" if len(self.mismatched) > 12 else ""
        return (f"same people count in {100 * self.same_count:.1f} % of {self.images} images, mean keypoint "
                f"distance {self.mean_distance:.3f} px over {self.keypoints} keypoints (worst image {self.worst}); "
                f"counts differ in: {', '.join(self.mismatched[:12]) or 'none'}{more}")


def _match(a: np.ndarray, b: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Hungarian matching of people a [P, K, 3] and b [Q, K, 3] on mean distance of shared keypoints."""
    from scipy.optimize import linear_sum_assignment

    if len(a) == 0 or len(b) == 0:
        return [], np.zeros((len(a), len(b)))
    both = (a[:, None, :, 2] > 0) & (b[None, :, :, 2] > 0)                       # [P, Q, K]
    d = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=-1)           # [P, Q, K]
    shared = both.sum(-1)
    cost = np.where(shared > 0, (d * both).sum(-1) / np.maximum(shared, 1), 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols) if shared[r, c] > 0], d


def compare_people(names: Sequence[str], ref: Sequence, got: Sequence) -> Parity:
    """People-level agreement of two runs over the same images."""
    assert len(names) == len(ref) == len(got)
    same = 0
    total = 0.0
    count = 0
    worst, worst_d = "", -1.0
    mismatched = []
    for name, pa, pb in zip(names, ref, got):
        same += len(pa) == len(pb)
        if len(pa) != len(pb):
            mismatched.append(f"{name} ({len(pa)} vs {len(pb)})")
        pairs, d = _match(pa.keypoints, pb.keypoints)
        img_sum, img_n = 0.0, 0
        for r, c in pairs:
            mask = (pa.keypoints[r, :, 2] > 0) & (pb.keypoints[c, :, 2] > 0)
            img_sum += float(d[r, c][mask].sum())
            img_n += int(mask.sum())
        total += img_sum
        count += img_n
        if img_n and img_sum / img_n > worst_d:
            worst, worst_d = name, img_sum / img_n
    return Parity(len(names), same / len(names), total / max(count, 1), count, f"{worst} ({worst_d:.2f} px)",
                  tuple(mismatched))


class PeopleCache:
    """People per configuration key, computed once per test session.

    ``thin=True`` asks for every ``THIN_STEP``-th dance frame and all the photos only
    (``thin_names``): for the configurations that cost several network runs per image
    (multi-scale presets, ONNX Runtime fp32), where the full set would take most of the
    CI time.  A configuration already computed on the full set is sliced, not re-run.
    """

    THIN_STEP = 4

    def __init__(self, images: Sequence[tuple[str, np.ndarray]]) -> None:
        self.images = list(images)
        self.names = [n for n, _ in self.images]
        self._thin = [i for i, n in enumerate(self.names) if not n.startswith("dance.mp4#")
                      or int(n.split("#")[1]) % self.THIN_STEP == 0]
        self.thin_names = [self.names[i] for i in self._thin]
        self._people: dict = {}

    def get(self, key, make_estimator: Callable[[], object], thin: bool = False) -> list:
        if thin:
            if key in self._people:
                return [self._people[key][i] for i in self._thin]
            tkey = ("thin",) + tuple(key)
            if tkey not in self._people:
                self._people[tkey] = people_of(make_estimator(), [self.images[i] for i in self._thin])
            return self._people[tkey]
        if key not in self._people:
            self._people[key] = people_of(make_estimator(), self.images)
        return self._people[key]
