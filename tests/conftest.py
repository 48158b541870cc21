"""Fixtures live in _shared.py so that bench/ can use the same ones."""

from _shared import (  # noqa: F401
    dance_mp4, every_backend_in_ci, media, model_onnx, model_pb, shared_models,
)
