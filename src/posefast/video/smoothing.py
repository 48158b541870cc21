"""One-Euro smoothing of keypoints, per track id and per keypoint.

The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) is a low-pass filter whose
cutoff rises with speed: still joints are smoothed hard (no jitter), fast ones
lightly (little lag).  Coordinates are in pixels and time in seconds, so ``beta``
is in 1/pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["OneEuroConfig", "OneEuroFilter", "PoseSmoother"]


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of the One-Euro filter.

    Attributes
    ----------
    min_cutoff : float
        Cutoff frequency (Hz) at rest; lower means smoother still poses.
    beta : float
        Speed coefficient (per pixel): how fast the cutoff rises with speed; higher
        means less lag on fast motion.
    d_cutoff : float
        Cutoff frequency (Hz) of the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not (isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One-Euro filter over an array of independent signals.

    Parameters
    ----------
    config : OneEuroConfig
    shape : tuple of int
        Shape of one sample (for example ``(K, 2)``).

    Notes
    -----
    ``update`` takes a mask: signals not observed in a sample keep their state, and a
    signal observed again after a gap restarts from its new value (no smoothing
    across a disappearance).
    """

    def __init__(self, config: OneEuroConfig, shape: tuple[int, ...]):
        self.config = config
        self.x = np.zeros(shape)
        self.dx = np.zeros(shape)
        self.seen = np.zeros(shape, dtype=bool)
        self.t: float | None = None

    def update(self, value: np.ndarray, t: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Filter one sample taken at time ``t`` (seconds); returns the smoothed value."""
        value = np.asarray(value, dtype=np.float64)
        mask = np.ones(value.shape, dtype=bool) if mask is None else np.broadcast_to(mask, value.shape)
        cfg = self.config
        fresh = mask & ~self.seen
        if self.t is None or not t > self.t:
            dt = None
        else:
            dt = t - self.t
        if dt is None:
            x_hat = np.where(mask, value, self.x)
            dx_hat = np.where(mask, 0.0, self.dx)
        else:
            a_d = _alpha(cfg.d_cutoff, dt)
            dx = (value - self.x) / dt
            dx_hat = a_d * dx + (1 - a_d) * self.dx
            a = _alpha(cfg.min_cutoff + cfg.beta * np.abs(dx_hat), dt)
            x_hat = a * value + (1 - a) * self.x
            x_hat = np.where(fresh, value, x_hat)
            dx_hat = np.where(fresh, 0.0, dx_hat)
            x_hat = np.where(mask, x_hat, self.x)
            dx_hat = np.where(mask, dx_hat, self.dx)
        self.x, self.dx = x_hat, dx_hat
        # a signal missing in this sample restarts when it comes back
        self.seen = mask.copy()
        self.t = t
        return x_hat


class PoseSmoother:
    """One-Euro filters per track id over keypoint coordinates.

    Parameters
    ----------
    config : OneEuroConfig, optional
    """

    def __init__(self, config: OneEuroConfig | None = None, **kwargs):
        self.config = config if config is not None else OneEuroConfig(**kwargs)
        self._filters: dict[int, OneEuroFilter] = {}

    def update(self, keypoints: np.ndarray, ids: np.ndarray, t: float) -> np.ndarray:
        """Smooth one frame.

        Parameters
        ----------
        keypoints : float [P, K, 3]
        ids : int [P]
            Track ids (from :class:`~posefast.video.tracking.Tracker`).
        t : float
            Frame time in seconds.

        Returns
        -------
        float32 [P, K, 3]
            Smoothed copy; confidences and missing keypoints (0, 0, 0) are unchanged.
        """
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        seen_ids = set()
        for p, tid in enumerate(np.asarray(ids).tolist()):
            if tid < 0:
                continue
            seen_ids.add(tid)
            f = self._filters.get(tid)
            if f is None:
                f = self._filters[tid] = OneEuroFilter(self.config, (kp.shape[1], 2))
            vis = kp[p, :, 2] > 0
            out = f.update(kp[p, :, :2], t, vis[:, None])
            kp[p, :, :2] = np.where(vis[:, None], out, 0.0).astype(np.float32)
        return kp

    def forget(self, keep_ids) -> None:
        """Drop the state of every track not in ``keep_ids`` (retired tracks)."""
        keep = set(int(i) for i in keep_ids)
        for tid in [t for t in self._filters if t not in keep]:
            del self._filters[tid]
