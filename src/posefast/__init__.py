"""posefast: fast, exact OpenPose-style multi-person pose estimation.

Decoding (bring your own maps)::

    import posefast as pf
    poses = pf.decode(heatmaps, pafs, layout="coco18")

Inference on images and video::

    est = pf.Estimator()            # default model, CPU or CUDA
    poses = est(image_bgr)          # keypoints in image pixels
"""

from __future__ import annotations

from .config import DecodeConfig
from .decode import assemble, backends, decode, decode_batch, find_peaks, score_limbs
from .layouts import LAYOUTS, Layout, get_layout
from .types import LimbCandidates, Peaks, Poses

__version__ = "0.1.0"

__all__ = [
    "DecodeConfig",
    "Estimator",
    "LAYOUTS",
    "Layout",
    "LimbCandidates",
    "Peaks",
    "Poses",
    "__version__",
    "assemble",
    "backends",
    "decode",
    "decode_batch",
    "find_peaks",
    "get_layout",
    "score_limbs",
]


def __getattr__(name: str):
    # Estimator pulls in onnxruntime; import it only when asked for.
    if name == "Estimator":
        from .models.estimator import Estimator

        return Estimator
    raise AttributeError(f"module 'posefast' has no attribute {name!r}")
