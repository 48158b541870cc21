"""posefast: fast, exact OpenPose-style multi-person pose estimation.

Decoding (bring your own maps)::

    import posefast as pf
    poses = pf.decode(heatmaps, pafs, layout="coco18")

Inference on images and video::

    est = pf.Estimator()            # the "default" preset (pf.presets()), CPU or CUDA
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
    "engines",
    "get_layout",
    "presets",
    "score_limbs",
]


def presets() -> dict:
    """The named presets (``"fast"``, ``"default"``, ``"accurate"``): name -> :class:`posefast.models.presets.Preset`."""
    from .models.presets import presets as _presets

    return _presets()


def engines() -> dict:
    """Which inference engines are installed: ``{"onnxruntime": bool, "openvino": bool}``."""
    from .engines import installed_engines

    return installed_engines()


def __getattr__(name: str):
    # Estimator pulls in onnxruntime; import it only when asked for.
    if name == "Estimator":
        from .models.estimator import Estimator

        return Estimator
    raise AttributeError(f"module 'posefast' has no attribute {name!r}")
