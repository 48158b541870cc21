"""The Numba backend: JIT-compiled kernels mirroring the C++ core stage by stage.

Same stages, signatures and results as :mod:`posefast._reference` (the
specification).  Numba is optional: this package imports without it, and
:func:`ensure_available` says how to install it.  Inputs arrive validated by
:mod:`posefast.decode` (float32, C-contiguous, channel counts of the layout).

Kernels live in one module per stage (:mod:`.upsample`, :mod:`.peaks`,
:mod:`.limbs`, :mod:`.assemble`; the fused frame decode in :mod:`.pipeline`), all
compiled with the flags of :mod:`._jit`.  They hold no global state and release
the GIL, so frames may be decoded from several threads at once.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..config import DecodeConfig
from ..layouts import Layout
from ..types import LimbCandidates, Peaks, Poses

__all__ = ["ensure_available", "check_finite", "find_peaks", "score_limbs", "assemble", "decode",
           "decode_batch"]

try:
    import numba  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    _NUMBA_ERROR: ImportError | None = exc
else:
    _NUMBA_ERROR = None
_HAVE_NUMBA = _NUMBA_ERROR is None

if _HAVE_NUMBA:
    from .assemble import assemble_kernel, assemble_single_kernel, check_stage_inputs
    from .limbs import score_limbs_kernel
    from .peaks import find_peaks_kernel
    from .pipeline import decode_kernel, first_non_finite
    from .upsample import cull_cutoff_bits, phase_arrays, vertical_cutoff


def ensure_available() -> None:
    """Raise ImportError (saying how to install it) when numba is missing."""
    if not _HAVE_NUMBA:
        if isinstance(_NUMBA_ERROR, ModuleNotFoundError) or _NUMBA_ERROR is None:
            raise ImportError("numba is not installed; pip install numba") from _NUMBA_ERROR
        raise ImportError(f"numba is installed but failed to import ({_NUMBA_ERROR}); "
                          "pip install -U numba") from _NUMBA_ERROR


def check_finite(maps: np.ndarray, what: str) -> None:
    """Raise ValueError naming the first NaN/Inf of ``maps`` float32 [C, h, w]
    (the reference's message)."""
    q = int(first_non_finite(maps))
    if q >= 0:
        c, y, x = (int(v) for v in np.unravel_index(q, maps.shape))
        raise ValueError(f"{what} contain NaN or Inf (first at channel {c}, row {y}, column {x}); "
                         "clean the network output (e.g. np.nan_to_num) or pass "
                         "DecodeConfig(check_finite=False) if you accept undefined results")


# Per-config and per-layout kernel arguments are cached: building them (the phase
# table, the culling cutoffs, the layout as arrays) costs more Python time than a
# whole s=1 decode.  Configs and layouts are frozen, hence hashable; the cached
# arrays are private and only ever read by the kernels.
@functools.lru_cache(maxsize=64)
def _peak_args(cfg: DecodeConfig) -> tuple:
    s = int(cfg.upsample)
    first, wts = phase_arrays(s)
    return (s, first, wts, float(cfg.peak_threshold), cull_cutoff_bits(cfg.peak_threshold, s),
            vertical_cutoff(cfg.peak_threshold, s),
            int(cfg.effective_max_peaks), int(cfg.effective_refine_radius), int(cfg.peak_border),
            bool(cfg.peak_ring_ties), bool(cfg.peak_raster_order), bool(cfg.peak_strict_nms))


@functools.lru_cache(maxsize=64)
def _limb_args(cfg: DecodeConfig) -> tuple:
    return (float(cfg.paf_threshold), float(cfg.paf_min_above), int(cfg.paf_min_samples),
            int(cfg.paf_max_samples), bool(cfg.paf_sample_far_end), float(cfg.paf_sample_offset),
            bool(cfg.paf_strict_fraction), float(cfg.paf_close_fraction),
            float(cfg.peak_threshold) + 1e-6)


@functools.lru_cache(maxsize=64)
def _uncounted(cfg: DecodeConfig) -> np.ndarray:
    """uint8 [64]: 1 for each of ``cfg.uncounted_keypoints``."""
    mask = np.zeros(64, dtype=np.uint8)
    for k in cfg.uncounted_keypoints:
        mask[k] = 1
    return mask


def _person_args(cfg: DecodeConfig) -> tuple:
    """The person filter and limit (0 = no limit) of the assembly kernels."""
    return int(cfg.min_parts), float(cfg.min_person_score), int(cfg.number_people_max or 0)


@functools.lru_cache(maxsize=16)
def _layout_arrays(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    limbs, paf, fill = layout.arrays()
    return np.ascontiguousarray(limbs), np.ascontiguousarray(paf), np.ascontiguousarray(fill)


def _peak_arrays(peaks: Peaks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(peaks.offsets, dtype=np.int64),
            np.ascontiguousarray(peaks.xy, dtype=np.float64),
            np.ascontiguousarray(peaks.scores, dtype=np.float64))


def find_peaks(heatmaps: np.ndarray, config: DecodeConfig) -> Peaks:
    """Stage 1: peaks of ``heatmaps`` float32 [K, h, w]."""
    if config.check_finite:
        check_finite(heatmaps, "heatmaps")
    args = _peak_args(config)
    offsets, grid, xy, scores = find_peaks_kernel(heatmaps, *args)
    s = args[0]
    return Peaks(offsets=offsets, grid=grid, xy=xy, scores=scores, upsample=s,
                 grid_shape=(heatmaps.shape[1] * s, heatmaps.shape[2] * s))


def score_limbs(pafs: np.ndarray, peaks: Peaks, layout: Layout, config: DecodeConfig) -> LimbCandidates:
    """Stage 2: candidate limbs on ``pafs`` float32 [2L, h, w] (none, and no PAF
    read, in single-person mode)."""
    if config.single_person_mode:
        return LimbCandidates.empty(layout.num_limbs)
    s, first, wts = _peak_args(config)[:3]
    limbs, paf, _ = _layout_arrays(layout)
    pk_off, xy, _ = _peak_arrays(peaks)
    # The kernel indexes xy by these offsets unchecked.
    if len(pk_off) != layout.num_keypoints + 1 or pk_off[0] != 0 or pk_off[-1] != len(xy) \
            or (np.diff(pk_off) < 0).any():
        raise ValueError("peaks are malformed (offsets must rise from 0 to the number of peaks)")
    offsets, a, b, scores, bad = score_limbs_kernel(pafs, s, first, wts, pk_off, xy, limbs, paf,
                                                    *_limb_args(config), bool(config.check_finite))
    if bad:  # a PAF value read was NaN/Inf: name the first one of the block
        check_finite(pafs, "pafs")
    return LimbCandidates(offsets=offsets, a=a, b=b, scores=scores)


def assemble(peaks: Peaks, candidates: LimbCandidates, layout: Layout, config: DecodeConfig) -> Poses:
    """Stage 3: people, keypoints in map pixels."""
    limbs, _, fill = _layout_arrays(layout)
    pk_off, xy, pk_scores = _peak_arrays(peaks)
    c_off = np.ascontiguousarray(candidates.offsets, dtype=np.int64)
    ca = np.ascontiguousarray(candidates.a, dtype=np.int32)
    cb = np.ascontiguousarray(candidates.b, dtype=np.int32)
    cs = np.ascontiguousarray(candidates.scores, dtype=np.float64)
    # The kernel indexes peaks by these numbers without bounds checks: make sure they fit.
    if len(pk_off) != layout.num_keypoints + 1 or len(pk_scores) != len(xy) or not len(ca) == len(cb) == len(cs):
        raise ValueError("peaks or candidates are malformed (array lengths disagree)")
    bad = int(check_stage_inputs(pk_off, len(xy), c_off, ca, cb, len(ca), limbs))
    if bad == 1:
        raise ValueError("peaks are malformed (offsets must rise from 0 to the number of peaks)")
    if bad == 2:
        raise ValueError("candidates are malformed (offsets must rise from 0 to the number of rows)")
    if bad >= 3:
        raise ValueError(f"candidates of limb {bad - 3} name peaks that these peaks do not have; "
                         "pass the peaks the candidates were scored on")
    if config.single_person_mode:
        kp, scores, ids = assemble_single_kernel(pk_off, pk_scores, xy, int(peaks.upsample), *_person_args(config))
    else:
        kp, scores, ids = assemble_kernel(pk_off, pk_scores, xy, int(peaks.upsample), c_off, ca, cb, cs,
                                          limbs, fill, *_person_args(config), bool(config.fill_only_shares),
                                          float(config.merge_fragments), _uncounted(config))
    return Poses(keypoints=kp, scores=scores, peak_ids=ids, layout=layout.name)


def decode(heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout, config: DecodeConfig) -> Poses:
    """Stages 1-3 on one frame: heatmaps float32 [K, h, w], pafs float32 [2L, h, w]."""
    if config.check_finite:
        check_finite(heatmaps, "heatmaps")   # PAFs: only the values read, inside the kernel
    limbs, paf, fill = _layout_arrays(layout)
    if config.single_person_mode:  # no PAF read
        args = _peak_args(config)
        pk_off, _, xy, pk_scores = find_peaks_kernel(heatmaps, *args)
        kp, scores, ids = assemble_single_kernel(pk_off, pk_scores, xy, args[0], *_person_args(config))
    else:
        kp, scores, ids, bad = decode_kernel(heatmaps, pafs, *_peak_args(config), limbs, paf, fill,
                                             *_limb_args(config), *_person_args(config),
                                             bool(config.fill_only_shares), float(config.merge_fragments),
                                             _uncounted(config), bool(config.check_finite))
        if bad:
            check_finite(pafs, "pafs")
    return Poses(keypoints=kp, scores=scores, peak_ids=ids, layout=layout.name)


def decode_batch(heatmaps: np.ndarray, pafs: np.ndarray, layout: Layout, config: DecodeConfig,
                 threads: int = 0) -> list[Poses]:
    """Frames of ``heatmaps`` float32 [N, K, h, w] and ``pafs`` float32 [N, 2L, h, w].

    ``threads`` worker threads (0 = all cores); the kernels release the GIL, so
    frames are decoded in parallel.  Results are in frame order.
    """
    n = heatmaps.shape[0]
    workers = min(n, threads or (os.cpu_count() or 1))
    if workers <= 1:
        return [decode(heatmaps[i], pafs[i], layout, config) for i in range(n)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda i: decode(heatmaps[i], pafs[i], layout, config), range(n)))
