"""Synthetic heatmaps and PAFs of known people, for tests and benchmarks.

The maps mimic an OpenPose network's training targets: a Gaussian per keypoint
(the maximum over people), a background channel ``1 - max``, and for each limb the
unit vector from its first to its second keypoint inside a band around the segment
(averaged where several people overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layouts import Layout, get_layout

__all__ = ["Scene", "make_scene", "random_skeleton"]


@dataclass(frozen=True)
class Scene:
    """A synthetic frame.

    Attributes
    ----------
    heatmaps : float32 [K+1, h, w]
    pafs : float32 [2L, h, w]
    keypoints : float64 [P, K, 3]
        Ground-truth ``x, y, visible`` in map pixels (``visible`` is 0 for a
        keypoint outside the map or dropped).
    """

    heatmaps: np.ndarray
    pafs: np.ndarray
    keypoints: np.ndarray


def _tree_order(layout: Layout) -> list[tuple[int, int, int]]:
    """(limb index, parent, child) for the limbs that form a tree, in layout order."""
    seen = {layout.limbs[0][0]}
    out = []
    for i, (a, b) in enumerate(layout.limbs):
        if i in layout.fill_only or a not in seen or b in seen:
            continue
        seen.add(b)
        out.append((i, a, b))
    return out


# A standing person facing the camera, in limb-length units (x right, y down), by
# keypoint name; used for the layouts' keypoints it covers.
_TEMPLATE = {
    "Nose": (0, -1), "Neck": (0, 0), "Head": (0, -1.2), "Chest": (0, 1.3), "MidHip": (0, 2.6),
    "REye": (-0.2, -1.2), "LEye": (0.2, -1.2), "REar": (-0.45, -1.1), "LEar": (0.45, -1.1),
    "RShoulder": (-0.9, 0), "RElbow": (-1.1, 1.2), "RWrist": (-1.2, 2.3),
    "LShoulder": (0.9, 0), "LElbow": (1.1, 1.2), "LWrist": (1.2, 2.3),
    "RHip": (-0.5, 2.6), "RKnee": (-0.55, 4.0), "RAnkle": (-0.6, 5.4),
    "LHip": (0.5, 2.6), "LKnee": (0.55, 4.0), "LAnkle": (0.6, 5.4),
    "RBigToe": (-0.75, 5.9), "RSmallToe": (-0.9, 5.8), "RHeel": (-0.55, 5.7),
    "LBigToe": (0.75, 5.9), "LSmallToe": (0.9, 5.8), "LHeel": (0.55, 5.7),
}


def random_skeleton(rng: np.random.Generator, layout: Layout, centre: tuple[float, float],
                    size: float, pose: str = "human") -> np.ndarray:
    """One person's keypoints float64 [K, 2] in map pixels, the root at ``centre``.

    ``pose="human"``: the standing template, scaled by ``size`` (about one limb
    length), each limb turned by up to 35 degrees.  ``pose="random"``: every limb
    at a random angle (limbs may cross; a stress case for the decoder).
    """
    pts = np.full((layout.num_keypoints, 2), np.nan)
    root = layout.limbs[0][0]
    pts[root] = centre
    human = pose == "human" and all(n in _TEMPLATE for n in layout.keypoints)
    for _, a, b in _tree_order(layout):
        if human:
            v = np.subtract(_TEMPLATE[layout.keypoints[b]], _TEMPLATE[layout.keypoints[a]]) * size
            ang = np.deg2rad(rng.uniform(-35, 35))
            c, s = np.cos(ang), np.sin(ang)
            pts[b] = pts[a] + np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]]) * rng.uniform(0.85, 1.15)
        else:
            ang = rng.uniform(0, 2 * np.pi)
            pts[b] = pts[a] + size * rng.uniform(0.5, 1.2) * np.array([np.cos(ang), np.sin(ang)])
    return pts


def make_scene(rng: np.random.Generator, num_people: int, h: int = 46, w: int = 82,
               layout: str | Layout = "coco18", size: float | None = None, sigma: float = 1.0,
               paf_width: float = 1.5, noise: float = 0.0, drop: float = 0.0,
               margin: float = 0.15, pose: str = "human",
               centres: np.ndarray | None = None) -> Scene:
    """Draw ``num_people`` random people into maps of ``h x w``.

    Parameters
    ----------
    size : float, optional
        Typical limb length in map pixels (default: a tenth of the smaller side,
        at least 3).
    sigma : float
        Gaussian sigma of the keypoint peaks, map pixels.
    paf_width : float
        Half-width of the PAF band around each limb, map pixels.
    noise : float
        Standard deviation of Gaussian noise added to every channel.
    drop : float
        Probability that a keypoint (and the limbs touching it) is left out.
    margin : float
        People's centres lie in the map extended by this fraction on each side, so
        some are cut by the border.
    pose : str
        ``"human"`` (jittered standing template) or ``"random"`` (random limb angles).
    centres : float [P, 2], optional
        Root (neck) positions instead of random ones.
    """
    lay = get_layout(layout)
    k, l = lay.num_keypoints, lay.num_limbs
    size = max(3.0, min(h, w) / 10) if size is None else size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    heat = np.zeros((k, h, w))
    paf_sum = np.zeros((l, 2, h, w))
    paf_cnt = np.zeros((l, h, w))
    truth = np.zeros((num_people, k, 3))
    for p in range(num_people):
        if centres is not None:
            cx, cy = centres[p]
        else:
            cx = rng.uniform(-margin * w, (1 + margin) * w)
            cy = rng.uniform(-margin * h, (1 + margin) * h)
        pts = random_skeleton(rng, lay, (cx, cy), size, pose)
        present = ~np.isnan(pts[:, 0]) & (rng.uniform(size=k) >= drop)
        for j in np.nonzero(present)[0]:
            x, y = pts[j]
            g = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma * sigma))
            np.maximum(heat[j], g, out=heat[j])
            inside = -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5
            truth[p, j] = (x, y, 1.0 if inside else 0.0)
        for i, (a, b) in enumerate(lay.limbs):
            if not (present[a] and present[b]):
                continue
            d = pts[b] - pts[a]
            norm = np.hypot(*d)
            if norm < 1e-6:
                continue
            u = d / norm
            rx, ry = xs - pts[a, 0], ys - pts[a, 1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            band = (along >= -paf_width) & (along <= norm + paf_width) & (across <= paf_width)
            paf_sum[i, 0][band] += u[0]
            paf_sum[i, 1][band] += u[1]
            paf_cnt[i][band] += 1
    pafs = paf_sum / np.maximum(paf_cnt, 1)[:, None]
    pafs = pafs.reshape(2 * l, h, w)
    # Channel order: limb i's (x, y) go to the layout's PAF channels for it.
    ordered = np.zeros_like(pafs)
    for i, (cxi, cyi) in enumerate(lay.paf_channels):
        ordered[cxi], ordered[cyi] = pafs[2 * i], pafs[2 * i + 1]
    heatmaps = np.concatenate([heat, 1.0 - heat.max(axis=0, keepdims=True)])
    if noise > 0:
        heatmaps = heatmaps + rng.normal(0, noise, heatmaps.shape)
        ordered = ordered + rng.normal(0, noise, ordered.shape)
    return Scene(heatmaps.astype(np.float32), ordered.astype(np.float32), truth)
