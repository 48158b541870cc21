"""Public decoding API: validate once, pick a backend, run.

Three backends give the same people (see ``tests/test_parity.py``):

``native``  the C++ core (``posefast._core``), GIL-free, threaded batches;
``numba``   Numba kernels mirroring the C++ stage by stage (``pip install numba``);
``python``  the reference (``posefast._reference``), written to be read.

``backend="auto"`` picks the first available of native, numba, python.  The
environment variable ``POSEFAST_BACKEND`` overrides the automatic choice (not an
explicit one).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence, Union

import numpy as np

from .config import DecodeConfig, check_grid
from .layouts import Layout, get_layout
from .types import LimbCandidates, Peaks, Poses

__all__ = ["backends", "decode", "decode_batch", "find_peaks", "score_limbs", "assemble",
           "resolve_backend"]

log = logging.getLogger(__name__)

Scale = Union[None, float, Sequence[float]]
_BACKENDS = ("native", "numba", "python")
_INSTALL_HINT = {
    "native": "the compiled extension posefast._core is missing; reinstall posefast from source "
              "with a C++17 compiler available (pip install --force-reinstall --no-binary posefast posefast, "
              "or `pip install .` in a checkout)",
    "numba": "numba is not installed; run `pip install numba` (or `pip install posefast[numba]`)",
}


def _load(name: str):
    """Import a backend module, or return the ImportError explaining why not."""
    try:
        if name == "native":
            from . import _native as mod
        elif name == "numba":
            from . import _numba as mod
        else:
            from . import _reference as mod
        mod.ensure_available()
        return mod
    except ImportError as exc:  # pragma: no cover - depends on the install
        return exc


_cache: dict[str, object] = {}


def _backend_module(name: str):
    if name not in _cache:
        _cache[name] = _load(name)
    return _cache[name]


def backends() -> dict[str, bool]:
    """Which decoding backends are usable here: ``{"native": bool, "numba": bool, "python": True}``."""
    return {name: not isinstance(_backend_module(name), Exception) for name in _BACKENDS}


def resolve_backend(backend: str = "auto") -> str:
    """The backend name that ``backend`` resolves to (raises if unusable)."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, not {type(backend).__name__}")
    name = backend.strip().lower()
    if name == "auto":
        env = os.environ.get("POSEFAST_BACKEND", "").strip().lower()
        if env and env != "auto":
            return resolve_backend(env)
        for cand in _BACKENDS:
            if not isinstance(_backend_module(cand), Exception):
                return cand
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose 'auto', 'native', 'numba' or 'python'")
    mod = _backend_module(name)
    if isinstance(mod, Exception):
        raise ImportError(f"backend {name!r} is not available: {_INSTALL_HINT[name]} ({mod})") from mod
    return name


def _module(backend: str):
    return _backend_module(resolve_backend(backend))


def _config(config: DecodeConfig | None) -> DecodeConfig:
    if config is None:
        return DecodeConfig()
    if not isinstance(config, DecodeConfig):
        raise TypeError(f"config must be a posefast.DecodeConfig, not {type(config).__name__}")
    return config


def _as_maps(arr, what: str, ndim: int) -> np.ndarray:
    """float32, C-contiguous view or copy of a real-valued map array."""
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(arr)
        except Exception as exc:  # noqa: BLE001 - report what the user passed
            raise TypeError(f"{what} must be a NumPy array, got {type(arr).__name__}") from exc
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{what} must hold real numbers (float32 preferred), got dtype {arr.dtype}; "
                        f"convert with {what}.astype(np.float32)")
    if arr.ndim != ndim:
        shape = "[C, h, w]" if ndim == 3 else "[N, C, h, w]"
        hint = " (pass a single frame to decode(), a batch to decode_batch())" if arr.ndim in (3, 4) else ""
        raise ValueError(f"{what} must have {ndim} dimensions {shape}, got shape {arr.shape}{hint}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous or not arr.flags.aligned:
        # A fresh array is aligned: every backend then reads the same float32 values
        # (the native core refuses unaligned buffers).  Right arrays are not copied.
        arr = np.array(arr, dtype=np.float32, order="C")
    return arr


def _check_channels(hm: np.ndarray, pafs: np.ndarray, lay: Layout, axis: int) -> None:
    k, twol = lay.num_keypoints, lay.num_paf_channels
    if hm.shape[axis] not in (k, k + 1):
        raise ValueError(f"heatmaps have {hm.shape[axis]} channels but layout {lay.name!r} needs {k} "
                         f"(or {k + 1} with background); pick the layout that matches the model")
    if pafs.shape[axis] != twol:
        raise ValueError(f"pafs have {pafs.shape[axis]} channels but layout {lay.name!r} needs {twol} "
                         f"(x, y per limb for {lay.num_limbs} limbs); pick the layout that matches the model")
    if hm.shape[axis + 1:] != pafs.shape[axis + 1:]:
        raise ValueError(f"heatmaps are {hm.shape[axis + 1:]} (h, w) but pafs are {pafs.shape[axis + 1:]}; "
                         "both must come from the same network output")
    if axis == 1 and hm.shape[0] != pafs.shape[0]:
        raise ValueError(f"heatmaps hold {hm.shape[0]} frames but pafs hold {pafs.shape[0]}")


def _scale_pair(scale: Scale) -> tuple[float, float] | None:
    if scale is None:
        return None
    if np.isscalar(scale):
        sx = sy = float(scale)
    else:
        vals = [float(v) for v in scale]
        if len(vals) != 2:
            raise ValueError(f"scale must be a number or (sx, sy), got {scale!r}")
        sx, sy = vals
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    return sx, sy


def _apply_scale(poses: Poses, scale: tuple[float, float] | None) -> Poses:
    if scale is None or len(poses) == 0:
        return poses
    return poses.scaled(scale[0], scale[1])


def decode(heatmaps: np.ndarray, pafs: np.ndarray, layout: str | Layout = "coco18",
           backend: str = "auto", config: DecodeConfig | None = None, scale: Scale = None) -> Poses:
    """Decode one frame's maps into people.

    Parameters
    ----------
    heatmaps : float32 [K or K+1, h, w]
        Keypoint heatmaps; a trailing background channel is ignored.
    pafs : float32 [2L, h, w]
        Part affinity fields, channels as the layout's ``paf_channels`` say.
    layout : str or Layout
        ``"coco18"`` (default), ``"body25"``, ``"mpi15"`` or a :class:`Layout`.
    backend : str
        ``"auto"``, ``"native"``, ``"numba"`` or ``"python"``.
    config : DecodeConfig, optional
        Thresholds; OpenPose's defaults when omitted.
    scale : float or (sx, sy), optional
        Image pixels per map cell; keypoints are then in image pixels
        (``x_img = (x_map + 0.5) * sx - 0.5``).  Map pixels when omitted.

    Returns
    -------
    Poses
        ``keypoints`` float32 [P, K, 3], ``scores`` float32 [P].

    Float64, integer, non-contiguous or unaligned input is converted to a float32
    copy; the caller's arrays are never modified.  Maps of zero height or width
    give no people.
    """
    lay = get_layout(layout)
    cfg = _config(config)
    sc = _scale_pair(scale)
    hm = _as_maps(heatmaps, "heatmaps", 3)
    pf = _as_maps(pafs, "pafs", 3)
    _check_channels(hm, pf, lay, 0)
    hm = hm[: lay.num_keypoints]
    if hm.shape[1] == 0 or hm.shape[2] == 0:
        return Poses.empty(lay.num_keypoints, lay.name)
    check_grid(hm.shape[1], hm.shape[2], cfg.upsample)
    mod = _module(backend)
    return _apply_scale(mod.decode(np.ascontiguousarray(hm), pf, lay, cfg), sc)


def decode_batch(heatmaps: np.ndarray, pafs: np.ndarray, layout: str | Layout = "coco18",
                 backend: str = "auto", config: DecodeConfig | None = None, scale: Scale = None,
                 threads: int = 0) -> list[Poses]:
    """Decode a batch of frames.

    Parameters
    ----------
    heatmaps : float32 [N, K or K+1, h, w]
    pafs : float32 [N, 2L, h, w]
    threads : int
        Worker threads for the native backend (0 = all cores).  The native
        backend decodes frames in parallel with the GIL released; the others run
        frames one after another.

    Returns
    -------
    list of Poses, one per frame, in frame order.
    """
    lay = get_layout(layout)
    cfg = _config(config)
    sc = _scale_pair(scale)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise ValueError(f"threads must be an int >= 0 (0 = all cores), got {threads!r}")
    hm = _as_maps(heatmaps, "heatmaps", 4)
    pf = _as_maps(pafs, "pafs", 4)
    _check_channels(hm, pf, lay, 1)
    n = hm.shape[0]
    if hm.shape[1] != lay.num_keypoints:
        hm = np.ascontiguousarray(hm[:, : lay.num_keypoints])
    if n == 0:
        return []
    if hm.shape[2] == 0 or hm.shape[3] == 0:
        return [Poses.empty(lay.num_keypoints, lay.name) for _ in range(n)]
    check_grid(hm.shape[2], hm.shape[3], cfg.upsample)
    mod = _module(backend)
    if hasattr(mod, "decode_batch"):
        out = mod.decode_batch(hm, pf, lay, cfg, int(threads))
    else:
        out = [mod.decode(hm[i], pf[i], lay, cfg) for i in range(n)]
    return [_apply_scale(p, sc) for p in out]


def find_peaks(heatmaps: np.ndarray, layout: str | Layout = "coco18", backend: str = "auto",
               config: DecodeConfig | None = None) -> Peaks:
    """Stage 1: heatmap peaks of every keypoint.

    Parameters
    ----------
    heatmaps : float32 [K or K+1, h, w]

    Returns
    -------
    Peaks
    """
    lay = get_layout(layout)
    cfg = _config(config)
    hm = _as_maps(heatmaps, "heatmaps", 3)
    if hm.shape[0] not in (lay.num_keypoints, lay.num_keypoints + 1):
        raise ValueError(f"heatmaps have {hm.shape[0]} channels but layout {lay.name!r} needs "
                         f"{lay.num_keypoints} (or {lay.num_keypoints + 1} with background)")
    hm = np.ascontiguousarray(hm[: lay.num_keypoints])
    if hm.shape[1] == 0 or hm.shape[2] == 0:
        # No position, no peak (every backend; the native core needs 1 x 1 at least).
        s = cfg.upsample
        return Peaks(offsets=np.zeros(lay.num_keypoints + 1, np.int64), grid=np.zeros((0, 2), np.int32),
                     xy=np.zeros((0, 2), np.float64), scores=np.zeros(0, np.float64), upsample=s,
                     grid_shape=(hm.shape[1] * s, hm.shape[2] * s))
    check_grid(hm.shape[1], hm.shape[2], cfg.upsample)
    return _module(backend).find_peaks(hm, cfg)


_PEAKS_FIX = "pass the Peaks that find_peaks returned (unchanged) with the same DecodeConfig"
_CANDS_FIX = "pass the LimbCandidates that score_limbs returned for these peaks (unchanged)"


def _int_array(value, what: str, fix: str, shape: tuple) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or arr.shape != shape:
        raise ValueError(f"{what} must be an integer array of shape {shape}, got {arr.dtype} {arr.shape}; {fix}")
    return arr


def _real_array(value, what: str, fix: str, shape: tuple) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu" or arr.shape != shape:
        raise ValueError(f"{what} must be a real array of shape {shape}, got {arr.dtype} {arr.shape}; {fix}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"{what} hold NaN or Inf; {fix}")
    return out


def _offsets(value, n: int, rows: int, what: str, fix: str) -> np.ndarray:
    off = _int_array(value, f"{what}.offsets", fix, (n,)).astype(np.int64)
    if off[0] != 0 or off[-1] != rows or (np.diff(off) < 0).any():
        raise ValueError(f"{what}.offsets must rise from 0 to the number of rows ({rows}), "
                         f"got {off[0]} .. {off[-1]}; {fix}")
    return np.ascontiguousarray(off)


def _check_peaks(peaks: Peaks, lay: Layout, pafs: np.ndarray | None, cfg: DecodeConfig) -> Peaks:
    """``peaks`` validated (every backend gets the same, well-formed input) with
    canonical dtypes: int64 offsets, int32 grid, float64 xy and scores."""
    if not isinstance(peaks, Peaks):
        raise TypeError(f"peaks must be the Peaks returned by find_peaks, not {type(peaks).__name__}")
    if np.ndim(peaks.offsets) != 1 or len(peaks.offsets) != lay.num_keypoints + 1:
        raise ValueError(f"peaks hold {np.size(peaks.offsets) - 1} keypoints but layout {lay.name!r} has "
                         f"{lay.num_keypoints}")
    if peaks.upsample != cfg.upsample:
        raise ValueError(f"peaks were found with upsample={peaks.upsample} but config has upsample={cfg.upsample}; "
                         "use the same DecodeConfig for every stage")
    try:
        gh, gw = (int(v) for v in peaks.grid_shape)
    except (TypeError, ValueError):
        raise ValueError(f"peaks.grid_shape must be (s*h, s*w), got {peaks.grid_shape!r}; {_PEAKS_FIX}") from None
    if pafs is not None:
        h, w = pafs.shape[1:]
        if (gh, gw) != (h * cfg.upsample, w * cfg.upsample):
            raise ValueError(f"peaks come from {gh // cfg.upsample}x{gw // cfg.upsample} "
                             f"maps but pafs are {h}x{w}")
    m = int(np.shape(peaks.xy)[0]) if np.ndim(peaks.xy) == 2 else -1
    xy = _real_array(peaks.xy, "peaks.xy", _PEAKS_FIX, (max(m, 0), 2))
    offsets = _offsets(peaks.offsets, lay.num_keypoints + 1, m, "peaks", _PEAKS_FIX)
    grid = _int_array(peaks.grid, "peaks.grid", _PEAKS_FIX, (m, 2))
    scores = _real_array(peaks.scores, "peaks.scores", _PEAKS_FIX, (m,))
    # The grid's extent (cells span +-0.5 around their centres): refined positions
    # may round a hair past the outermost centre.
    if m and not ((xy[:, 0] >= -0.5).all() and (xy[:, 0] <= gw - 0.5).all()
                  and (xy[:, 1] >= -0.5).all() and (xy[:, 1] <= gh - 0.5).all()):
        raise ValueError(f"peaks.xy hold positions outside the {gh}x{gw} decode grid (x in [-0.5, {gw - 0.5}], "
                         f"y in [-0.5, {gh - 0.5}]); {_PEAKS_FIX}")
    return Peaks(offsets=offsets, grid=np.ascontiguousarray(grid, dtype=np.int32), xy=xy, scores=scores,
                 upsample=peaks.upsample, grid_shape=(gh, gw))


def _check_candidates(cands: LimbCandidates, peaks: Peaks, lay: Layout) -> LimbCandidates:
    """``cands`` validated against ``peaks`` (checked) and the layout, with canonical
    dtypes: int64 offsets, int32 a and b, float64 scores."""
    if not isinstance(cands, LimbCandidates):
        raise TypeError(f"candidates must be the LimbCandidates returned by score_limbs, not {type(cands).__name__}")
    if np.ndim(cands.offsets) != 1 or len(cands.offsets) != lay.num_limbs + 1:
        raise ValueError(f"candidates hold {np.size(cands.offsets) - 1} limbs but layout {lay.name!r} has "
                         f"{lay.num_limbs}")
    c = int(np.shape(cands.a)[0]) if np.ndim(cands.a) == 1 else -1
    a = _int_array(cands.a, "candidates.a", _CANDS_FIX, (max(c, 0),))
    b = _int_array(cands.b, "candidates.b", _CANDS_FIX, (c,))
    scores = _real_array(cands.scores, "candidates.scores", _CANDS_FIX, (c,))
    offsets = _offsets(cands.offsets, lay.num_limbs + 1, c, "candidates", _CANDS_FIX)
    counts = np.diff(peaks.offsets)
    limb_of = np.repeat(np.arange(lay.num_limbs), np.diff(offsets))
    ka, kb = np.asarray(lay.limbs, np.int64).reshape(-1, 2).T
    bad = (a < 0) | (a >= counts[ka[limb_of]]) | (b < 0) | (b >= counts[kb[limb_of]])
    if bad.any():
        l = int(limb_of[np.argmax(bad)])
        raise ValueError(f"candidates of limb {l} {lay.limbs[l]} name peaks that these peaks do not have; "
                         f"{_CANDS_FIX}")
    return LimbCandidates(offsets=offsets, a=np.ascontiguousarray(a, dtype=np.int32),
                          b=np.ascontiguousarray(b, dtype=np.int32), scores=scores)


def score_limbs(pafs: np.ndarray, peaks: Peaks, layout: str | Layout = "coco18", backend: str = "auto",
                config: DecodeConfig | None = None) -> LimbCandidates:
    """Stage 2: score every candidate connection of every limb on the PAFs.

    Parameters
    ----------
    pafs : float32 [2L, h, w]
    peaks : Peaks
        From :func:`find_peaks` with the same config.

    Returns
    -------
    LimbCandidates
        Empty in single-person mode (no PAF is read) and for maps of zero size.

    Raises
    ------
    ValueError
        When ``peaks`` do not fit the maps, layout or config, or are malformed
        (offsets not rising from 0 to the number of peaks, array shapes that
        disagree, NaN/Inf, or positions outside the decode grid ``grid_shape``).
        Every backend gets the same checked input, converted to the dtypes
        :class:`Peaks` documents (float32 positions are widened to float64).
    """
    lay = get_layout(layout)
    cfg = _config(config)
    pf = _as_maps(pafs, "pafs", 3)
    if pf.shape[0] != lay.num_paf_channels:
        raise ValueError(f"pafs have {pf.shape[0]} channels but layout {lay.name!r} needs {lay.num_paf_channels}")
    if pf.shape[1] > 0 and pf.shape[2] > 0:
        check_grid(pf.shape[1], pf.shape[2], cfg.upsample)
    peaks = _check_peaks(peaks, lay, pf, cfg)
    mod = _module(backend)
    if pf.shape[1] == 0 or pf.shape[2] == 0:
        return LimbCandidates.empty(lay.num_limbs)  # no position, hence no peak
    return mod.score_limbs(pf, peaks, lay, cfg)


def assemble(peaks: Peaks, candidates: LimbCandidates, layout: str | Layout = "coco18",
             backend: str = "auto", config: DecodeConfig | None = None, scale: Scale = None) -> Poses:
    """Stage 3: greedy limb matching and person assembly.

    Returns
    -------
    Poses

    Raises
    ------
    ValueError
        When ``peaks`` are malformed (as for :func:`score_limbs`) or
        ``candidates`` are: offsets not rising from 0 to the number of rows,
        lengths that disagree, NaN/Inf scores, or peak indices a limb's
        keypoints do not have.  Candidates are taken in their given order.
    """
    lay = get_layout(layout)
    cfg = _config(config)
    sc = _scale_pair(scale)
    peaks = _check_peaks(peaks, lay, None, cfg)
    candidates = _check_candidates(candidates, peaks, lay)
    return _apply_scale(_module(backend).assemble(peaks, candidates, lay, cfg), sc)
