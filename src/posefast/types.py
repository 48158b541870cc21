"""Results of each decoding stage, as small frozen dataclasses over NumPy arrays.

Dimension letters (used in every docstring of posefast):

====  =====================================================================
N     batch (frames)
K     keypoints of the layout (background excluded)
L     limbs of the layout; the PAF block has 2L channels
M     peaks found, all keypoints together
C     candidate limb connections, all limbs together
P     people
h, w  height and width of the network's output maps
s     the upsampling factor; the decode grid is (s*h) x (s*w)
====  =====================================================================

Pixel convention
----------------
Coordinates are *pixel-centre* based: ``x = 0`` is the centre of the first column,
the first column spans ``[-0.5, 0.5)``.  A position ``u`` on the decode grid maps to
``x = (u + 0.5) / s - 0.5`` in map pixels, and a map position ``x`` to
``(x + 0.5) * scale - 0.5`` in image pixels when the maps have ``scale`` image
pixels per cell (8 for stride-8 networks on an unresized image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Peaks", "LimbCandidates", "Poses", "grid_to_map"]


def grid_to_map(xy: np.ndarray, upsample: int) -> np.ndarray:
    """Decode-grid coordinates -> map-pixel coordinates (float64)."""
    return (np.asarray(xy, dtype=np.float64) + 0.5) / upsample - 0.5


@dataclass(frozen=True, eq=False)
class Peaks:
    """Heatmap peaks of every keypoint (stage 1).

    Attributes
    ----------
    offsets : int64 [K+1]
        Peaks of keypoint ``k`` are rows ``offsets[k]:offsets[k+1]``.
    grid : int32 [M, 2]
        Integer ``(x, y)`` of each peak on the decode grid.
    xy : float64 [M, 2]
        Sub-pixel refined ``(x, y)`` on the decode grid.
    scores : float64 [M]
        Heatmap value at ``grid`` (on the upsampled map when ``upsample > 1``).
    upsample : int
        The factor ``s`` of the decode grid.
    grid_shape : (int, int)
        ``(s*h, s*w)``.

    Within a keypoint, peaks are ordered by score (highest first), ties by raster
    position on the decode grid.
    """

    offsets: np.ndarray
    grid: np.ndarray
    xy: np.ndarray
    scores: np.ndarray
    upsample: int
    grid_shape: tuple[int, int]

    @property
    def num_keypoints(self) -> int:
        return len(self.offsets) - 1

    def count(self, k: int) -> int:
        return int(self.offsets[k + 1] - self.offsets[k])

    def of(self, k: int) -> slice:
        """Row slice of keypoint ``k``."""
        return slice(int(self.offsets[k]), int(self.offsets[k + 1]))

    def map_xy(self) -> np.ndarray:
        """Refined positions in map pixels, float64 [M, 2]."""
        return grid_to_map(self.xy, self.upsample)

    def __len__(self) -> int:
        return int(self.offsets[-1])


@dataclass(frozen=True, eq=False)
class LimbCandidates:
    """Candidate limb connections that passed the PAF test (stage 2).

    Attributes
    ----------
    offsets : int64 [L+1]
        Candidates of limb ``l`` are rows ``offsets[l]:offsets[l+1]``.
    a, b : int32 [C]
        Peak index *within* the limb's keypoints ``a`` and ``b`` (add
        ``peaks.offsets[k]`` for the global row).
    scores : float64 [C]
        Mean PAF projection over the samples above ``paf_threshold``.

    Within a limb, candidates are ordered by score (highest first), ties by ``a``
    then ``b``: the order in which greedy matching takes them.
    """

    offsets: np.ndarray
    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray

    def of(self, l: int) -> slice:
        return slice(int(self.offsets[l]), int(self.offsets[l + 1]))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @staticmethod
    def empty(num_limbs: int) -> "LimbCandidates":
        """No candidate for any of ``num_limbs`` limbs."""
        return LimbCandidates(np.zeros(num_limbs + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32),
                              np.zeros(0, np.float64))


@dataclass(frozen=True, eq=False)
class Poses:
    """People found in one frame (stage 3).

    Attributes
    ----------
    keypoints : float32 [P, K, 3]
        ``x, y, confidence``; a missing keypoint is ``0, 0, 0``.  Map pixels unless
        a scale was given (then image pixels); see the module's pixel convention.
    scores : float32 [P]
        Person score: (sum of peak scores + sum of limb scores) / keypoint count.
    peak_ids : int32 [P, K]
        Which peak of keypoint ``k`` (index within that keypoint's peaks) the person
        holds, -1 where missing.
    layout : str
        Name of the layout.

    People are ordered by score (highest first), ties by the order they were formed.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    peak_ids: np.ndarray
    layout: str = "coco18"

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __iter__(self):
        return iter(self.keypoints)

    def __repr__(self) -> str:
        return f"Poses({len(self)} people, layout={self.layout!r})"

    @property
    def num_parts(self) -> np.ndarray:
        """int [P]: keypoints found per person."""
        return (self.peak_ids >= 0).sum(axis=1)

    def scaled(self, sx: float, sy: float | None = None, *, ox: float = 0.0, oy: float = 0.0) -> "Poses":
        """A copy with coordinates mapped by ``x' = (x + 0.5) * sx - 0.5 + ox``.

        Missing keypoints stay ``0, 0, 0``.
        """
        sy = sx if sy is None else sy
        kp = self.keypoints.copy()
        present = self.peak_ids >= 0
        kp[..., 0] = np.where(present, (kp[..., 0] + 0.5) * sx - 0.5 + ox, 0.0)
        kp[..., 1] = np.where(present, (kp[..., 1] + 0.5) * sy - 0.5 + oy, 0.0)
        return Poses(kp.astype(np.float32), self.scores.copy(), self.peak_ids.copy(), self.layout)

    @staticmethod
    def empty(num_keypoints: int, layout: str = "coco18") -> "Poses":
        return Poses(np.zeros((0, num_keypoints, 3), np.float32), np.zeros(0, np.float32),
                     np.zeros((0, num_keypoints), np.int32), layout)
