"""Decoder settings.  Every threshold lives here; no decoder has a global one."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = ["DecodeConfig", "MAX_PEAKS", "MAX_PAF_SAMPLES", "MAX_GRID_CELLS"]

# Work bounds (the C++ core checks the same numbers in cpp/src/validate.cpp):
# limb scoring costs up to max_peaks**2 * paf_max_samples per limb.
MAX_PEAKS = 128
MAX_PAF_SAMPLES = 32
# Peak finding costs up to (s*h) * (s*w) per keypoint (noise maps: every tile is
# evaluated), so the decode grid is capped at 2048 x 2048 cells per channel: about 1 s
# (native) to 3 s (numba) per frame at the cap on noise; OpenPose's x8 on a 1312 x 2336
# network input (its 4K setting) is 3.1M cells.
MAX_GRID_CELLS = 1 << 22


def check_grid(h: int, w: int, s: int) -> None:
    """Raise ValueError when maps of h x w at upsample s exceed MAX_GRID_CELLS."""
    cells = h * s * w * s
    if cells > MAX_GRID_CELLS:
        raise ValueError(
            f"the decode grid would be {h * s} x {w * s} = {cells:,} cells per channel (maps {h} x {w} at "
            f"upsample {s}), over posefast's limit of {MAX_GRID_CELLS:,} (2048 x 2048); lower "
            f"DecodeConfig.upsample or the network's input size (CLI: --upsample, --net-height)")


@dataclass(frozen=True)
class DecodeConfig:
    """Thresholds and options of the decoder.  Defaults follow CMU OpenPose.

    Attributes
    ----------
    upsample : int
        Decode on the maps bicubically upsampled by this factor (1 = the raw maps).
        Peaks are found and PAFs sampled on the upsampled grid, as OpenPose (x8) and
        Lightweight OpenPose (x4) do.  The native backend gets the same answer
        without materialising upsampled maps.  Default 4: the accuracy of the
        upsampling decoders; 1 is the fastest.  The decode grid (s*h) x (s*w) may hold
        at most ``MAX_GRID_CELLS`` (2048 x 2048) cells; larger is refused at decode.
    peak_threshold : float
        A heatmap value must be strictly above this to be a peak (OpenPose: 0.05).
    refine_radius : int or None
        Sub-pixel refinement: weighted centroid of the positive values in a
        ``(2r+1) x (2r+1)`` window of the decode grid around each peak.  ``None``
        picks ``1`` for ``upsample == 1`` and ``ceil(upsample / 2)`` otherwise;
        0 disables refinement.
    max_peaks : int
        At most this many peaks per keypoint are kept, the highest first
        (OpenPose: 127).  At most 128: limb scoring tries every pair of peaks, so
        this bounds the work of a frame (see "Work bounds" below).
    paf_threshold : float
        A PAF sample counts when its projection on the limb direction is strictly
        above this (OpenPose: 0.05).
    paf_min_above : float
        A candidate limb needs at least this fraction of its samples above
        ``paf_threshold`` (OpenPose: 0.95).
    paf_min_samples, paf_max_samples : int
        Samples per candidate limb: ``clamp(round(sqrt(5 * max(|dx|, |dy|))))``
        with ``dx``, ``dy`` measured on the decode grid (OpenPose: 5 and 25).
        Both in [2, 32].
    min_parts : int
        People with fewer keypoints are dropped (OpenPose: 3).
    min_person_score : float
        People whose score (sum of peak scores and limb scores, divided by the
        number of keypoints) is below this are dropped (OpenPose: 0.4).
    check_finite : bool
        Reject maps containing NaN or Inf with a ValueError (cheap; leave it on
        unless the maps are known to be finite).
    peak_border : int
        No peak is taken within this many cells of the decode grid's edge
        (OpenPose: 1, its NMS never marks the outermost row or column).  Default 0.
    peak_ring_ties : bool
        OpenPose's NMS next to the border (``DecodeConfig.openpose()``; needs
        ``peak_border=1``): on row 1, row H-2, column 1 and column W-2 of the decode
        grid, and on the eight edge cells beside the corners (such as (0, 1) and
        (1, 0)), a value above ``peak_threshold`` is a peak when it is ``>=`` each of
        its neighbours (ties pass); elsewhere the usual test.  Default False.
    peak_strict_nms : bool
        OpenPose's NMS test (``DecodeConfig.openpose()``): a value must be strictly
        above all 8 neighbours, so a plateau of equal values gives no peak.  Default
        False: above the earlier neighbours (raster order) and not below the later
        ones, so a plateau gives its first cell.  (The ring of ``peak_ring_ties``
        keeps its own test.)
    peak_raster_order : bool
        OpenPose's order (``DecodeConfig.openpose()``): a keypoint's peaks in raster
        order of the decode grid, and with more than ``max_peaks`` of them the first
        ``max_peaks`` in that order.  Default False: highest value first, and the
        ``max_peaks`` highest kept.  Not with ``single_person_mode`` (its one peak is
        the global maximum).
    paf_sample_far_end : bool
        ``False`` (OpenPose): sample ``i`` of ``n`` lies at ``A + (i / n) * d``,
        ``i = 0 .. n-1``, so the far end ``B`` is never sampled.  ``True``: at
        ``A + (i / (n-1)) * d``, both ends sampled.
    paf_sample_offset : float
        Added to the start peak's position before the samples are rounded to the
        grid (OpenPose and default: 0.5, the half cell of OpenPose's corner-based
        peak coordinates; 0.0 starts the samples on the peak itself).
    paf_strict_fraction : bool
        ``True`` (OpenPose): a pair passes when ``passed / n > paf_min_above``;
        ``False``: when ``passed >= paf_min_above * n``.
    paf_close_fraction : float
        A pair that fails the sample test but whose peaks are closer than
        ``paf_close_fraction * sqrt(H * W)`` (``H x W`` the decode grid) is a
        candidate with the fixed score ``peak_threshold + 1e-6`` (OpenPose:
        1/150; close peaks have no PAF between them).  0 disables.
    fill_only_shares : bool
        ``True`` (OpenPose): a fill-only limb (shoulder->ear) fills an empty slot
        of *every* person holding one of its two peaks, even with a peak another
        person already holds, adding neither score nor keypoint count.
        ``False``: it fills only keypoint ``b`` with a free peak, adding both.
    uncounted_keypoints : tuple of int
        Keypoints that do not count towards ``min_parts`` and the mean score; a
        person holding any of them with at most 4 counted keypoints is dropped,
        and when that leaves nobody the filter is rerun without this rule
        (OpenPose's BODY-25 feet, 19..24).  Default none.
    merge_fragments : float
        Whole people instead of fragments: after filtering, a person with fewer
        keypoints whose keypoints lie on a higher-ranked person's (mean distance of the keypoint
        types both hold at most ``merge_fragments`` times that person's box
        diagonal) is absorbed by it: its keypoints of types the other lacks join
        the other, and it is dropped (rule in :mod:`posefast._reference.assemble`).
        Default 0.4 (measured in ``bench/test_fragments_bench.py``); 0 disables, as
        OpenPose does.
    number_people_max : int or None
        Keep at most this many people (after the person filter): OpenPose's
        ``--number_people_max``.  People are ranked by their total score (sum of
        peak and limb scores) times the square root of the area of the bounding
        box of their keypoints, so big, complete skeletons win over small
        fragments; equal ranks go to the person formed first.  The people kept
        are reported in the usual order (score, highest first).  ``None`` (the
        default): no limit.  Details: :mod:`posefast._reference.assemble`.
    single_person_mode : bool
        One person at most, without PAFs: per keypoint the global maximum of the
        decode grid if it is above ``peak_threshold``.  Use the preset
        :meth:`single_person`.  Details: :mod:`posefast._reference.assemble`.

    Work bounds
    -----------
    Every accepted config finishes a frame in work bounded by the map area and
    by ``max_peaks ** 2 * paf_max_samples`` per limb (at most 128 x 128 pairs of
    32 samples): a few seconds at most per frame for the native and Numba
    backends, even on noise maps that are peaks everywhere.
    """

    upsample: int = 4
    peak_threshold: float = 0.05
    refine_radius: int | None = None
    max_peaks: int = 127
    paf_threshold: float = 0.05
    paf_min_above: float = 0.95
    paf_min_samples: int = 5
    paf_max_samples: int = 25
    min_parts: int = 3
    min_person_score: float = 0.4
    check_finite: bool = True
    number_people_max: int | None = None
    single_person_mode: bool = False
    peak_border: int = 0
    peak_ring_ties: bool = False
    peak_strict_nms: bool = False
    peak_raster_order: bool = False
    paf_sample_far_end: bool = False
    paf_sample_offset: float = 0.5
    paf_strict_fraction: bool = True
    paf_close_fraction: float = 1.0 / 150.0
    fill_only_shares: bool = True
    merge_fragments: float = 0.4
    uncounted_keypoints: tuple[int, ...] = ()

    @classmethod
    def openpose(cls, layout: str = "coco18", **changes) -> "DecodeConfig":
        """CMU OpenPose's CPU decoder (``resizeAndMergeCpu``, ``nmsCpu``,
        ``connectBodyPartsCpu``) for ``layout``.

        x8 decode grid, 7x7 weighted-centroid refinement, no peak on the grid's
        outermost row or column, OpenPose's sampling, strict fraction test,
        close-pair score and shoulder->ear fill; per-model thresholds of
        OpenPose's ``poseParameters.cpp`` (MPI-15: peak threshold 0.6, PAF
        threshold 0.01).  ``changes`` override fields afterwards.

        Parameters
        ----------
        layout : str
            ``"coco18"``, ``"body25"`` or ``"mpi15"`` (aliases accepted).
        """
        from .layouts import get_layout

        name = get_layout(layout).name
        base = dict(upsample=8, refine_radius=3, max_peaks=127, peak_threshold=0.05, paf_threshold=0.05,
                    paf_min_above=0.95, paf_min_samples=5, paf_max_samples=25, min_parts=3,
                    min_person_score=0.4, peak_border=1, peak_ring_ties=True, peak_strict_nms=True,
                    peak_raster_order=True,
                    paf_sample_far_end=False,
                    paf_sample_offset=0.5, paf_strict_fraction=True, paf_close_fraction=1.0 / 150.0, fill_only_shares=True,
                    merge_fragments=0.0)
        if name == "mpi15":
            base.update(peak_threshold=0.6, paf_threshold=0.01)
        elif name == "body25":
            base.update(uncounted_keypoints=(19, 20, 21, 22, 23, 24))   # the feet
        elif name not in ("coco18", "body25"):
            raise ValueError(f"DecodeConfig.openpose knows coco18, body25 and mpi15, not {name!r}")
        base.update(changes)
        return cls(**base)

    def __post_init__(self) -> None:
        def _int(name: str, lo: int, hi: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"DecodeConfig.{name} must be an int, got {v!r}")
            if not lo <= v <= hi:
                raise ValueError(f"DecodeConfig.{name} must be in [{lo}, {hi}], got {v}")

        def _float(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"DecodeConfig.{name} must be a finite number, got {v!r}")

        _int("upsample", 1, 16)
        if self.refine_radius is not None:
            _int("refine_radius", 0, 16)
        _int("max_peaks", 1, MAX_PEAKS)
        _int("paf_min_samples", 2, MAX_PAF_SAMPLES)
        _int("paf_max_samples", self.paf_min_samples, MAX_PAF_SAMPLES)
        _int("min_parts", 1, 1000)
        if self.number_people_max is not None:
            _int("number_people_max", 1, 1_000_000)
        if not isinstance(self.single_person_mode, bool):
            raise TypeError(f"DecodeConfig.single_person_mode must be a bool, got {self.single_person_mode!r}")
        _int("peak_border", 0, 1000)
        for name in ("paf_sample_far_end", "paf_strict_fraction", "fill_only_shares", "peak_ring_ties",
                     "peak_strict_nms", "peak_raster_order"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"DecodeConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.peak_ring_ties and self.peak_border != 1:
            raise ValueError(f"DecodeConfig.peak_ring_ties needs peak_border=1 (OpenPose's NMS), got "
                             f"peak_border={self.peak_border}; set both or neither")
        for name in ("peak_raster_order", "peak_strict_nms"):
            if getattr(self, name) and self.single_person_mode:
                raise ValueError(f"DecodeConfig.{name} does not go with single_person_mode (its one peak "
                                 f"per keypoint is the global maximum); leave {name} False")
        for name in ("peak_threshold", "paf_threshold", "paf_min_above", "min_person_score",
                     "paf_sample_offset", "paf_close_fraction", "merge_fragments"):
            _float(name)
            # One float per value: -0.0 becomes 0.0 (they compare and hash equal, so
            # caches keyed by the config must not see two spellings of one config).
            object.__setattr__(self, name, float(getattr(self, name)) + 0.0)
        if not 0.0 <= self.paf_min_above <= 1.0:
            raise ValueError(f"DecodeConfig.paf_min_above must be in [0, 1], got {self.paf_min_above}")
        if self.peak_threshold < 0:
            raise ValueError("DecodeConfig.peak_threshold must be >= 0 (the upsampling culling relies on it)")
        if not 0.0 <= self.paf_close_fraction <= 1.0:
            raise ValueError(f"DecodeConfig.paf_close_fraction must be in [0, 1], got {self.paf_close_fraction}")
        u = self.uncounted_keypoints
        if not isinstance(u, tuple) or any(isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < 64
                                           for k in u):
            raise ValueError(f"DecodeConfig.uncounted_keypoints must be a tuple of keypoint indices in "
                             f"[0, 63], got {u!r}")
        if not 0.0 <= self.merge_fragments <= 10.0:
            raise ValueError(f"DecodeConfig.merge_fragments must be in [0, 10], got {self.merge_fragments}")
        if not -1.0 <= self.paf_sample_offset <= 1.0:
            raise ValueError(f"DecodeConfig.paf_sample_offset must be in [-1, 1], got {self.paf_sample_offset}")

    @classmethod
    def single_person(cls, threshold: float = 0.2, **changes) -> "DecodeConfig":
        """Single-person mode: per keypoint the global maximum of the decode grid
        above ``threshold`` (the notebook convention: one person, no PAFs).

        The person is returned when at least one keypoint is found
        (``min_parts=1``, ``min_person_score=0``); ``changes`` override any field,
        e.g. ``DecodeConfig.single_person(upsample=1)``.
        """
        fields_ = dict(peak_threshold=threshold, min_parts=1, min_person_score=0.0, single_person_mode=True)
        fields_.update(changes)
        return cls(**fields_)

    @property
    def effective_max_peaks(self) -> int:
        """Peaks kept per keypoint: 1 in single-person mode, else ``max_peaks``."""
        return 1 if self.single_person_mode else self.max_peaks

    @property
    def effective_refine_radius(self) -> int:
        """The refinement radius actually used (resolves ``None``)."""
        if self.refine_radius is not None:
            return self.refine_radius
        return 1 if self.upsample == 1 else (self.upsample + 1) // 2

    def replace(self, **changes) -> "DecodeConfig":
        """A copy with some fields changed (``dataclasses.replace``)."""
        import dataclasses

        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
