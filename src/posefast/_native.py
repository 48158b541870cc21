"""Adapter between the decode facade and the C++ core ``posefast._core``.

Same stage functions and signatures as :mod:`posefast._reference` (``find_peaks``,
``score_limbs``, ``assemble``, ``decode``) plus a threaded ``decode_batch``.  The
facade (:mod:`posefast.decode`) has validated the maps; ``_core`` validates again
at its own boundary, since it may be called directly.

Dimension letters as in :mod:`posefast.types`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .config import DecodeConfig
from .layouts import Layout
from .types import LimbCandidates, Peaks, Poses

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - depends on the install
    _core = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

__all__ = ["ensure_available", "find_peaks", "score_limbs", "assemble", "decode", "decode_batch"]


def ensure_available() -> None:
    """Raise ImportError, saying how to build it, when ``posefast._core`` is missing."""
    if _core is None:
        raise ImportError(
            "the native decoder posefast._core is not built or cannot be loaded "
            f"({_IMPORT_ERROR}); reinstall with `pip install .` from a checkout "
            "(a C++17 compiler is needed), or see cpp/README.md for the in-tree build"
        ) from _IMPORT_ERROR


@lru_cache(maxsize=64)
def _config(cfg: DecodeConfig):
    """The C++ config of a (frozen, hashable) DecodeConfig."""
    return _core.DecodeConfig(
        upsample=cfg.upsample,
        peak_threshold=float(cfg.peak_threshold),
        refine_radius=cfg.effective_refine_radius,
        max_peaks=cfg.max_peaks,
        paf_threshold=float(cfg.paf_threshold),
        paf_min_above=float(cfg.paf_min_above),
        paf_min_samples=cfg.paf_min_samples,
        paf_max_samples=cfg.paf_max_samples,
        min_parts=cfg.min_parts,
        min_person_score=float(cfg.min_person_score),
        check_finite=bool(cfg.check_finite),
        number_people_max=int(cfg.number_people_max or 0),
        single_person=bool(cfg.single_person_mode),
        peak_border=cfg.peak_border,
        peak_ring_ties=bool(cfg.peak_ring_ties),
        peak_raster_order=bool(cfg.peak_raster_order),
        peak_strict_nms=bool(cfg.peak_strict_nms),
        paf_sample_far_end=bool(cfg.paf_sample_far_end),
        paf_sample_offset=float(cfg.paf_sample_offset),
        paf_strict_fraction=bool(cfg.paf_strict_fraction),
        paf_close_fraction=float(cfg.paf_close_fraction),
        fill_only_shares=bool(cfg.fill_only_shares),
        merge_fragments=float(cfg.merge_fragments),
        uncounted_mask=sum(1 << k for k in set(cfg.uncounted_keypoints)),
    )


@lru_cache(maxsize=64)
def _layout(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Layout.arrays()`` (limbs int32 [L, 2], paf int32 [L, 2], fill_only uint8 [L]), read-only."""
    arrays = layout.arrays()
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _poses(out: tuple, layout: Layout) -> Poses:
    keypoints, scores, peak_ids = out
    return Poses(keypoints=keypoints, scores=scores, peak_ids=peak_ids, layout=layout.name)


def find_peaks(heatmaps: np.ndarray, config: DecodeConfig) -> Peaks:
    """Stage 1 on heatmaps float32 [K, h, w]."""
    offsets, grid, xy, scores = _core.find_peaks(heatmaps, _config(config))
    s = config.upsample
    return Peaks(offsets=offsets, grid=grid, xy=xy, scores=scores, upsample=s,
                 grid_shape=(heatmaps.shape[1] * s, heatmaps.shape[2] * s))


def score_limbs(pafs: np.ndarray, peaks: Peaks, layout: Layout, config: DecodeConfig) -> LimbCandidates:
    """Stage 2 on pafs float32 [2L, h, w]."""
    limbs, paf, _ = _layout(layout)
    offsets, a, b, scores = _core.score_limbs(
        pafs, np.ascontiguousarray(peaks.offsets, dtype=np.int64), np.ascontiguousarray(peaks.xy, dtype=np.float64),
        limbs, paf, _config(config))
    return LimbCandidates(offsets=offsets, a=a, b=b, scores=scores)


def assemble(peaks: Peaks, candidates: LimbCandidates, layout: Layout, config: DecodeConfig) -> Poses:
    """Stage 3: people, keypoints in map pixels."""
    limbs, _, fill = _layout(layout)
    c64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    c32 = lambda a: np.ascontiguousarray(a, dtype=np.int32)  # noqa: E731
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    out = _core.assemble(c64(peaks.offsets), f64(peaks.xy), f64(peaks.scores), c64(candidates.offsets),
                         c32(candidates.a), c32(candidates.b), f64(candidates.scores), limbs, fill,
                         _config(config))
    return _poses(out, layout)


def decode(heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout, config: DecodeConfig) -> Poses:
    """Stages 1-3 on one frame: heatmaps float32 [K, h, w], pafs float32 [2L, h, w]."""
    limbs, paf, fill = _layout(layout)
    return _poses(_core.decode(heatmaps, pafs, limbs, paf, fill, _config(config)), layout)


def decode_batch(heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout, config: DecodeConfig,
                 threads: int = 0) -> list[Poses]:
    """N frames (heatmaps float32 [N, K, h, w], pafs float32 [N, 2L, h, w]) over ``threads``
    threads (0 = all cores), GIL released; results in frame order."""
    limbs, paf, fill = _layout(layout)
    outs = _core.decode_batch(heatmaps, pafs, limbs, paf, fill, _config(config), int(threads))
    return [_poses(o, layout) for o in outs]
