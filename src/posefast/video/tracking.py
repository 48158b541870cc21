"""Stable person ids across frames.

Each frame's people are matched to the live tracks by the mean distance between
their commonly visible keypoints, divided by the person's size (the diagonal of the
box around the visible keypoints), so the same gate works for a child far away and a
dancer filling the frame.  A track's position is predicted from its last position
and a damped per-keypoint velocity, which keeps two people apart while they cross.

Assignment is optimal (Hungarian, ``scipy.optimize.linear_sum_assignment``) when
SciPy is installed and greedy (cheapest pair first) otherwise.  People left over get
new ids; tracks not matched for more than ``max_missing`` consecutive frames are
retired, and their ids are never reused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["TrackerConfig", "Tracker", "person_size", "pose_distance"]

log = logging.getLogger(__name__)


def _hungarian():
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # pragma: no cover - depends on the install
        return None
    return linear_sum_assignment


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`Tracker`.

    Attributes
    ----------
    max_missing : int
        A track survives this many consecutive frames without a match; after that its
        id is retired (a person coming back later gets a new id).
    gate : float
        Largest accepted distance, as a fraction of the person's size (box diagonal
        of the visible keypoints).  Pairs farther apart are never matched.
    min_common : int
        Keypoints both poses must show for a distance to be defined.
    min_size : float
        Floor of the person size in pixels (guards tiny or collapsed poses).
    velocity_decay : float
        Weight of the previous velocity when a new displacement is seen (0: last
        displacement only); the velocity is also damped by this factor per missed frame.
    coverage_weight : float
        Ranking penalty for covering few of the track's keypoints:
        ``coverage_weight * (1 - common / max(visible_in_track, visible_in_person))``
        is added to the normalised distance (the gate applies to the distance alone).
        Without it a 3-keypoint fragment lying on a person would win that person's
        track from the person's own, more complete, detection.
    strong_fraction : float
        People showing at least this fraction of the keypoints are matched first;
        the weaker ones (fragments) only get the tracks left over (as ByteTrack
        matches high-confidence detections first).
    method : str
        ``"auto"`` (Hungarian when SciPy is importable, else greedy), ``"hungarian"``
        or ``"greedy"``.
    """

    max_missing: int = 10
    gate: float = 0.5
    min_common: int = 2
    min_size: float = 16.0
    velocity_decay: float = 0.5
    coverage_weight: float = 0.5
    strong_fraction: float = 1 / 3
    method: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.max_missing, bool) or not isinstance(self.max_missing, int) or self.max_missing < 0:
            raise ValueError(f"max_missing must be an integer >= 0, got {self.max_missing!r}")
        if not self.gate > 0:
            raise ValueError(f"gate must be > 0, got {self.gate!r}")
        if self.min_common < 1:
            raise ValueError(f"min_common must be >= 1, got {self.min_common!r}")
        if not 0.0 <= self.strong_fraction <= 1.0:
            raise ValueError(f"strong_fraction must be in [0, 1], got {self.strong_fraction!r}")
        if not self.coverage_weight >= 0:
            raise ValueError(f"coverage_weight must be >= 0, got {self.coverage_weight!r}")
        if not 0.0 <= self.velocity_decay < 1.0:
            raise ValueError(f"velocity_decay must be in [0, 1), got {self.velocity_decay!r}")
        if self.method not in ("auto", "hungarian", "greedy"):
            raise ValueError(f"method must be 'auto', 'hungarian' or 'greedy', got {self.method!r}")


def person_size(keypoints: np.ndarray, min_size: float = 1.0) -> np.ndarray:
    """Diagonal of the box around each person's visible keypoints.

    Parameters
    ----------
    keypoints : float [P, K, 3]

    Returns
    -------
    float64 [P]
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = kp[..., 2] > 0
    big = np.where(vis[..., None], kp[..., :2], np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(big, axis=1)
            hi = np.nanmax(big, axis=1)
    diag = np.hypot(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
    return np.where(np.isfinite(diag), np.maximum(diag, min_size), min_size)


def pose_distance(a: np.ndarray, b: np.ndarray, min_common: int = 1) -> np.ndarray:
    """Mean distance over commonly visible keypoints, for every pair.

    Parameters
    ----------
    a : float [A, K, 3]
    b : float [B, K, 3]
        Poses (x, y, confidence > 0 where visible).

    Returns
    -------
    float64 [A, B]
        ``inf`` where fewer than ``min_common`` keypoints are visible in both.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    common = (a[:, None, :, 2] > 0) & (b[None, :, :, 2] > 0)  # [A, B, K]
    d = np.hypot(a[:, None, :, 0] - b[None, :, :, 0], a[:, None, :, 1] - b[None, :, :, 1])
    n = common.sum(axis=2)
    total = np.where(common, d, 0.0).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = total / n
    return np.where(n >= min_common, out, np.inf)


class Tracker:
    """Assign stable ids to the people of consecutive frames.

    Parameters
    ----------
    config : TrackerConfig, optional
    **kwargs
        Fields of :class:`TrackerConfig` (shortcut for ``Tracker(TrackerConfig(...))``).

    Examples
    --------
    >>> tracker = Tracker(max_missing=5)
    >>> ids = tracker.update(poses.keypoints)   # int64 [P], one id per person
    """

    def __init__(self, config: TrackerConfig | None = None, **kwargs):
        if config is not None and kwargs:
            raise TypeError("pass either a TrackerConfig or keyword settings, not both")
        self.config = config if config is not None else TrackerConfig(**kwargs)
        solver = _hungarian() if self.config.method in ("auto", "hungarian") else None
        if self.config.method == "hungarian" and solver is None:
            raise ImportError("method='hungarian' needs SciPy: pip install scipy")
        self._solver = solver
        self._next_id = 0
        self._ids: list[int] = []
        self._kp = np.zeros((0, 0, 3))       # last seen keypoints of each track [T, K, 3]
        self._vel = np.zeros((0, 0, 2))      # per-keypoint velocity, px per frame [T, K, 2]
        self._missing: list[int] = []        # consecutive frames without a match

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks currently alive (matched or within ``max_missing``)."""
        return list(self._ids)

    def reset(self) -> None:
        """Forget every track; new ids continue from the last one given."""
        self._ids, self._missing = [], []
        self._kp = np.zeros((0, 0, 3))
        self._vel = np.zeros((0, 0, 2))

    def _predicted(self) -> np.ndarray:
        kp = self._kp.copy()
        if len(kp):
            gap = np.asarray(self._missing, dtype=np.float64)[:, None, None] + 1.0
            kp[..., :2] += self._vel * gap
        return kp

    def _assign(self, dist: np.ndarray, cost: np.ndarray) -> list[tuple[int, int]]:
        """Pairs (track, person) minimising ``cost`` among pairs whose ``dist`` passes the gate."""
        gate = self.config.gate
        ok = np.isfinite(dist) & (dist <= gate)
        if not ok.any():
            return []
        if self._solver is not None:
            big = np.where(ok, cost, (gate + self.config.coverage_weight) * 1e6 + 1.0)
            rows, cols = self._solver(big)
            return [(int(r), int(c)) for r, c in zip(rows, cols) if ok[r, c]]
        pairs = sorted(zip(*np.nonzero(ok)), key=lambda rc: (cost[rc], rc[0], rc[1]))
        used_r, used_c, out = set(), set(), []
        for r, c in pairs:
            if r not in used_r and c not in used_c:
                used_r.add(r)
                used_c.add(c)
                out.append((int(r), int(c)))
        return out

    def update(self, keypoints: np.ndarray) -> np.ndarray:
        """Match one frame's people to the tracks.

        Parameters
        ----------
        keypoints : float [P, K, 3]
            The frame's people (x, y, confidence; confidence 0 where missing).

        Returns
        -------
        int64 [P]
            Track id of each person, in the input order.
        """
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[-1] != 3:
            raise ValueError(f"keypoints must be [P, K, 3], got shape {kp.shape}")
        P, K = kp.shape[0], kp.shape[1]
        if len(self._ids) and self._kp.shape[1] != K:
            raise ValueError(f"keypoint count changed from {self._kp.shape[1]} to {K} between frames")
        cfg = self.config
        T = len(self._ids)
        ids = np.full(P, -1, dtype=np.int64)
        matched_tracks: set[int] = set()
        if T and P:
            pred = self._predicted()
            dist = pose_distance(pred, kp, cfg.min_common)
            size = np.maximum(person_size(pred, cfg.min_size)[:, None], person_size(kp, cfg.min_size)[None, :])
            norm = dist / size
            vis_t = pred[:, :, 2] > 0
            vis_p = kp[:, :, 2] > 0
            common = (vis_t[:, None, :] & vis_p[None, :, :]).sum(axis=2)
            most = np.maximum(vis_t.sum(axis=1)[:, None], vis_p.sum(axis=1)[None, :])
            cost = norm + cfg.coverage_weight * (1.0 - common / np.maximum(most, 1))
            strong = vis_p.sum(axis=1) >= cfg.strong_fraction * K
            pairs: list[tuple[int, int]] = []
            for group in (np.nonzero(strong)[0], np.nonzero(~strong)[0]):
                free_t = np.array([t for t in range(T) if t not in {pt for pt, _ in pairs}], dtype=np.int64)
                if len(group) == 0 or len(free_t) == 0:
                    continue
                sub = self._assign(norm[np.ix_(free_t, group)], cost[np.ix_(free_t, group)])
                pairs.extend((int(free_t[a]), int(group[b])) for a, b in sub)
            for t, p in pairs:
                ids[p] = self._ids[t]
                matched_tracks.add(t)
                vis_new = kp[p, :, 2] > 0
                vis_old = self._kp[t, :, 2] > 0
                both = vis_new & vis_old
                gap = self._missing[t] + 1.0
                step = (kp[p, :, :2] - self._kp[t, :, :2]) / gap
                d = cfg.velocity_decay
                self._vel[t] = np.where(both[:, None], d * self._vel[t] + (1 - d) * step, self._vel[t] * d)
                # keep the last known position of keypoints not seen this frame
                self._kp[t] = np.where(vis_new[:, None], kp[p], self._kp[t])
                self._missing[t] = 0
        # age unmatched tracks, retire the stale ones
        keep = []
        for t in range(T):
            if t not in matched_tracks:
                self._missing[t] += 1
                self._vel[t] *= cfg.velocity_decay
            if self._missing[t] <= cfg.max_missing:
                keep.append(t)
            else:
                log.debug("track %d retired after %d missing frames", self._ids[t], self._missing[t])
        if len(keep) != T:
            self._ids = [self._ids[t] for t in keep]
            self._missing = [self._missing[t] for t in keep]
            self._kp = self._kp[keep]
            self._vel = self._vel[keep]
        # new tracks for the unmatched people (in input order: best-scored first)
        new = [p for p in range(P) if ids[p] < 0 and (kp[p, :, 2] > 0).any()]
        if new:
            if len(self._ids) == 0:
                self._kp = np.zeros((0, K, 3))
                self._vel = np.zeros((0, K, 2))
            for p in new:
                ids[p] = self._next_id
                self._next_id += 1
                self._ids.append(int(ids[p]))
                self._missing.append(0)
            self._kp = np.concatenate([self._kp, kp[new]], axis=0)
            self._vel = np.concatenate([self._vel, np.zeros((len(new), K, 2))], axis=0)
        return ids
