"""Networks: the model registry, downloads, ONNX Runtime and the :class:`Estimator`.

Importing this package does not import onnxruntime; creating a session does.
Converters (``posefast.models.convert``) are imported only when a TensorFlow or
Caffe model has to be converted.
"""

from __future__ import annotations

from .estimator import Estimator, split_outputs
from .fetch import ChecksumError, FetchError, convert_sources, download_file, fetch, sha256_file
from .preprocess import FrameMeta, ScaleView
from .registry import (DEFAULT_MODEL, ModelFile, ModelSpec, Preprocessing, cache_dir, describe, find_model,
                       get_model, list_models, load_manifest, search_path)
from .runtime import OrtSession

__all__ = [
    "DEFAULT_MODEL",
    "ChecksumError",
    "Estimator",
    "FetchError",
    "FrameMeta",
    "ModelFile",
    "ModelSpec",
    "OrtSession",
    "Preprocessing",
    "ScaleView",
    "cache_dir",
    "convert_sources",
    "describe",
    "download_file",
    "fetch",
    "find_model",
    "get_model",
    "list_models",
    "load_manifest",
    "search_path",
    "sha256_file",
    "split_outputs",
]
