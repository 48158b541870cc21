"""Compatibility name: the ONNX Runtime engine now lives in :mod:`posefast.engines.ort`.

``OrtSession`` is :class:`posefast.engines.ort.OrtEngine`.
"""

from __future__ import annotations

from ..engines.ort import CPU_EP, CUDA_EP, OrtEngine, import_onnxruntime, resolve_providers

OrtSession = OrtEngine

__all__ = ["CPU_EP", "CUDA_EP", "OrtSession", "import_onnxruntime", "resolve_providers"]
