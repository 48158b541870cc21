"""Networks: the model registry, downloads, presets and the :class:`Estimator`.

Importing this package imports no runtime (onnxruntime, openvino); creating an
engine does (:mod:`posefast.engines`).
Converters (``posefast.models.convert``) are imported only when a TensorFlow or
Caffe model has to be converted.
"""

from __future__ import annotations

from .estimator import Estimator, split_outputs
from .fetch import (ChecksumError, FetchError, convert_sources, download_file, fetch, locate_ir, locate_onnx,
                    sha256_file)
from .presets import DEFAULT_PRESET, Preset, get_preset, presets
from .preprocess import FrameMeta, ScaleView
from .registry import (DEFAULT_MODEL, ModelFile, ModelSpec, Preprocessing, cache_dir, describe, find_model,
                       get_model, list_models, load_manifest, search_path)
from .runtime import OrtSession

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRESET",
    "ChecksumError",
    "Estimator",
    "FetchError",
    "FrameMeta",
    "ModelFile",
    "ModelSpec",
    "OrtSession",
    "Preprocessing",
    "Preset",
    "ScaleView",
    "cache_dir",
    "convert_sources",
    "describe",
    "download_file",
    "fetch",
    "find_model",
    "get_model",
    "get_preset",
    "list_models",
    "load_manifest",
    "locate_ir",
    "locate_onnx",
    "presets",
    "search_path",
    "sha256_file",
    "split_outputs",
]
