"""Type stub of the native decoder ``posefast._core`` (C++17, pybind11).

Private: use :func:`posefast.decode`.  Dimension letters as in :mod:`posefast.types`.
Every function validates its arrays (exact dtype, C-contiguous, shapes; TypeError or
ValueError naming the fix) and never modifies them; results are fresh arrays.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

class DecodeConfig:
    """posefast.DecodeConfig as plain numbers (refine_radius already resolved)."""

    upsample: int
    peak_threshold: float
    refine_radius: int
    max_peaks: int
    paf_threshold: float
    paf_min_above: float
    paf_min_samples: int
    paf_max_samples: int
    min_parts: int
    min_person_score: float
    check_finite: bool
    number_people_max: int  # 0 = no limit
    single_person: bool  # posefast.DecodeConfig.single_person_mode
    peak_border: int
    peak_ring_ties: bool
    peak_raster_order: bool
    peak_strict_nms: bool
    paf_sample_far_end: bool
    paf_sample_offset: float
    paf_strict_fraction: bool
    paf_close_fraction: float
    fill_only_shares: bool
    merge_fragments: float
    uncounted_mask: int
    def __init__(self, *, upsample: int = 4, peak_threshold: float = 0.05, refine_radius: int = 2,
                 max_peaks: int = 127, paf_threshold: float = 0.05, paf_min_above: float = 0.95,
                 paf_min_samples: int = 5, paf_max_samples: int = 25, min_parts: int = 3,
                 min_person_score: float = 0.4, check_finite: bool = True, number_people_max: int = 0,
                 single_person: bool = False, peak_border: int = 0, peak_ring_ties: bool = False,
                 peak_raster_order: bool = False, peak_strict_nms: bool = False,
                 paf_sample_far_end: bool = False, paf_sample_offset: float = 0.5,
                 paf_strict_fraction: bool = True, paf_close_fraction: float = 1.0 / 150.0,
                 fill_only_shares: bool = True, merge_fragments: float = 0.4,
                 uncounted_mask: int = 0) -> None: ...
    @staticmethod
    def from_config(config: Any) -> DecodeConfig: ...

# ``config`` arguments accept a _core.DecodeConfig or a posefast.DecodeConfig.
_Config = Any
_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_I32 = npt.NDArray[np.int32]
_I64 = npt.NDArray[np.int64]
_U8 = npt.NDArray[np.uint8]
_PosesTuple = tuple[_F32, _F32, _I32]  # keypoints [P, K, 3] (map pixels), scores [P], peak_ids [P, K]

def find_peaks(heatmaps: _F32, config: _Config) -> tuple[_I64, _I32, _F64, _F64]:
    """heatmaps [K, h, w] -> offsets [K+1], grid [M, 2], xy [M, 2], scores [M]."""

def score_limbs(pafs: _F32, peak_offsets: _I64, peak_xy: _F64, limbs: _I32, paf_channels: _I32,
                config: _Config) -> tuple[_I64, _I32, _I32, _F64]:
    """pafs [2L, h, w] -> offsets [L+1], a [C], b [C], scores [C]."""

def assemble(peak_offsets: _I64, peak_xy: _F64, peak_scores: _F64, cand_offsets: _I64, cand_a: _I32,
             cand_b: _I32, cand_scores: _F64, limbs: _I32, fill_only: _U8, config: _Config) -> _PosesTuple: ...

def decode(heatmaps: _F32, pafs: _F32, limbs: _I32, paf_channels: _I32, fill_only: _U8,
           config: _Config) -> _PosesTuple:
    """heatmaps [K, h, w], pafs [2L, h, w]; GIL released while decoding."""

def decode_batch(heatmaps: _F32, pafs: _F32, limbs: _I32, paf_channels: _I32, fill_only: _U8,
                 config: _Config, threads: int = 0) -> list[_PosesTuple]:
    """heatmaps [N, K, h, w], pafs [N, 2L, h, w]; frames over ``threads`` threads (0 = all cores)."""

def check_finite(maps: _F32, what: str = "maps") -> None:
    """ValueError naming the first NaN/Inf of maps [C, h, w]."""

def upsample(maps: _F32, s: int) -> _F64:
    """The decode grid materialised: [C, h, w] -> [C, s*h, s*w] (tests and tools)."""

def phase_table(s: int) -> tuple[_I64, _F64]:
    """first_tap [s], weights [s, 4]."""

def cull_bound(s: int) -> float: ...
