"""The reference decoder: slow, obvious, and the specification of posefast's decoding.

Each stage lives in its own module and its docstring states the rule exactly:

* :mod:`.upsample` - the bicubic upsampling every backend must reproduce bit for bit;
* :mod:`.peaks`    - stage 1, heatmap peaks;
* :mod:`.limbs`    - stage 2, PAF line-integral scores of candidate limbs;
* :mod:`.assemble` - stage 3, greedy matching and person assembly.

The native (C++) and Numba backends must return the same people as this code.
Inputs are validated by :mod:`posefast.decode` before they get here: float32,
C-contiguous, channel counts matching the layout, non-empty.
"""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..layouts import Layout
from ..types import LimbCandidates, Peaks, Poses
from .assemble import assemble
from .limbs import score_limbs as _score_limbs
from .peaks import find_peaks as _find_peaks

__all__ = ["ensure_available", "check_finite", "find_peaks", "score_limbs", "assemble", "decode"]


def ensure_available() -> None:
    """The reference needs nothing beyond NumPy."""


def check_finite(maps: np.ndarray, what: str) -> None:
    """Raise ValueError naming the first NaN/Inf of ``maps`` [C, h, w]."""
    bad = ~np.isfinite(maps)
    if bad.any():
        c, y, x = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{what} contain NaN or Inf (first at channel {c}, row {y}, column {x}); "
                         "clean the network output (e.g. np.nan_to_num) or pass "
                         "DecodeConfig(check_finite=False) if you accept undefined results")


def find_peaks(heatmaps: np.ndarray, config: DecodeConfig) -> Peaks:
    if config.check_finite:
        check_finite(heatmaps, "heatmaps")
    return _find_peaks(heatmaps, config)


def score_limbs(pafs: np.ndarray, peaks: Peaks, layout: Layout, config: DecodeConfig) -> LimbCandidates:
    """Stage 2; in single-person mode no candidate and no PAF read (nor checked)."""
    if config.single_person_mode:
        return LimbCandidates.empty(layout.num_limbs)
    if config.check_finite:
        check_finite(pafs, "pafs")
    return _score_limbs(pafs, peaks, layout, config)


def decode(heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout, config: DecodeConfig) -> Poses:
    """Stages 1-3 on one frame: heatmaps float32 [K, h, w], pafs float32 [2L, h, w]."""
    if config.check_finite:
        check_finite(heatmaps, "heatmaps")
    peaks = _find_peaks(heatmaps, config)
    candidates = score_limbs(pafs, peaks, layout, config)
    return assemble(peaks, candidates, layout, config)
