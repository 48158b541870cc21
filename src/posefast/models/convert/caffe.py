"""Caffe (``.prototxt`` + ``.caffemodel``) to ONNX, in pure Python.

Made for CMU OpenPose's released body models (COCO-18 ``pose_deploy_linevec.prototxt`` and
BODY_25 ``pose_deploy.prototxt``) and any net built from the same layer types:

==============  ==============================================================================
Caffe layer     ONNX
==============  ==============================================================================
Input           graph input ``[N, C, H, W]`` (N, H, W dynamic); also the ``input:`` /
                ``input_dim:`` / ``input_shape`` header form
Convolution     Conv (kernel/pad/stride as one value, ``*_h``/``*_w``, dilation, group,
                bias_term)
ReLU            Relu, or LeakyRelu when ``negative_slope`` is set
PReLU           PRelu (per channel or ``channel_shared``)
Pooling         MaxPool / AveragePool with ``ceil_mode=1`` (Caffe's default rounding; the
                ``round_mode: FLOOR`` of newer Caffe gives ``ceil_mode=0``), AVE with
                ``count_include_pad=1``; ``global_pooling`` gives GlobalMax/AveragePool
Concat          Concat (``axis`` or ``concat_dim``)
Eltwise         Sum (with ``coeff``), Mul (PROD), Max (MAX)
Split, Dropout  nothing (the tops are the bottom)
==============  ==============================================================================

ONNX Runtime's pooling with ``ceil_mode=1`` follows Caffe exactly: the last window is dropped
when it would start in the right padding, and AVE divides by the window clipped to the padded
input.  The graph outputs are the blobs that are produced and never consumed (for OpenPose:
``net_output``, 57 or 78 channels); every layer not on a path from an input to an output is
ignored, so training-only layers do no harm.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
from google.protobuf import message as _pb_message
from google.protobuf import text_format

from ._common import ConversionError, GraphBuilder, read_bytes, value_info, write_model
from ._protos import V1_TYPE_NAMES, caffe as _pb

log = logging.getLogger("posefast.models.convert.caffe")

__all__ = ["convert_caffe"]

_SUPPORTED = ("Input", "Convolution", "ReLU", "PReLU", "Pooling", "Concat", "Eltwise", "Split",
              "Dropout")

InputShape = Union[Sequence[Any], Mapping[str, Sequence[Any]]]


# ------------------------------------------------------------------------------------------
# prototxt reading
# ------------------------------------------------------------------------------------------

class _Layer:
    """One layer of the architecture file, in a form common to ``layer`` and V1 ``layers``."""

    def __init__(self, msg: Any, v1: bool, line: int) -> None:
        self.msg = msg
        self.v1 = v1
        self.line = line
        self.name: str = msg.name
        if v1:
            enum = msg.DESCRIPTOR.fields_by_name["type"].enum_type
            raw = enum.values_by_number[msg.type].name if msg.type in enum.values_by_number \
                else str(msg.type)
            self.type: str = V1_TYPE_NAMES.get(raw, raw)
        else:
            self.type = msg.type
        self.bottom: list[str] = list(msg.bottom)
        self.top: list[str] = list(msg.top)
        self.unknown_fields: str | None = None


def _top_level_entries(text: str, path: Path) -> list[tuple[str, int, int, int]]:
    """Split prototxt text into its top-level entries.

    Returns ``(key, start, end, line)`` for each entry whose value is a ``{ ... }`` block;
    scalar entries are left in place (they are part of the header).  Quotes and ``#``
    comments are honoured so that braces inside them do not count.
    """
    entries: list[tuple[str, int, int, int]] = []
    depth = 0
    i, n, line = 0, len(text), 1
    start = key = start_line = None
    ident = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*:?\s*\{")
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    raise ConversionError(f"{path}:{line}: syntax error: unterminated string")
                j += 1
            if j >= n:
                raise ConversionError(f"{path}:{line}: syntax error: unterminated string")
            i = j + 1
            continue
        elif depth == 0 and (c.isalpha() or c == "_"):
            m = ident.match(text, i)
            if m:
                key = re.match(r"[A-Za-z0-9_]+", m.group(0)).group(0)
                start, start_line = i, line
                depth = 1
                i = m.end()
                continue
        elif c == "{":
            if depth == 0:
                raise ConversionError(f"{path}:{line}: syntax error: '{{' without a field name")
            depth += 1
        elif c == "}":
            if depth == 0:
                raise ConversionError(f"{path}:{line}: syntax error: unbalanced '}}'")
            depth -= 1
            if depth == 0:
                entries.append((key, start, i + 1, start_line))
        i += 1
    if depth:
        raise ConversionError(f"{path}:{start_line}: syntax error: '{key} {{' is never closed")
    return entries


def _parse_text(text: str, msg: Any, path: Path, line0: int, what: str) -> str | None:
    """Parse text into ``msg``.  Unknown fields are skipped and described in the return value;
    any other problem is a ConversionError naming the file and line."""
    try:
        text_format.Parse(text, msg)
        return None
    except text_format.ParseError as exc:
        first = exc
    if "has no field named" not in str(first) and "unknown field" not in str(first).lower():
        raise ConversionError(f"{path}:{_shift_line(first, line0)}: syntax error in {what}: "
                              f"{_strip_pos(first)}") from first
    msg.Clear()
    try:
        text_format.Parse(text, msg, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise ConversionError(f"{path}:{_shift_line(exc, line0)}: syntax error in {what}: "
                              f"{_strip_pos(exc)}") from exc
    return f"{path}:{_shift_line(first, line0)}: {_strip_pos(first)}"


def _shift_line(exc: text_format.ParseError, line0: int) -> int:
    ln = exc.GetLine() if hasattr(exc, "GetLine") else None
    return line0 + (ln - 1 if ln else 0)


def _strip_pos(exc: Exception) -> str:
    return re.sub(r"^\d+:\d+\s*:\s*", "", str(exc))


def _read_prototxt(path: Path, data: bytes) -> tuple[Any, list[_Layer]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{path}: not a text prototxt (not UTF-8: {exc})") from exc
    entries = _top_level_entries(text, path)
    header_parts: list[str] = []
    pos = 0
    layers: list[_Layer] = []
    for key, start, end, line in entries:
        if key not in ("layer", "layers"):
            continue
        header_parts.append(text[pos:start])
        header_parts.append("\n" * text.count("\n", start, end))    # keep line numbers
        pos = end
        body = text[start:end]
        body = body[body.index("{") + 1:body.rindex("}")]
        v1 = key == "layers"
        msg = _pb.V1LayerParameter() if v1 else _pb.LayerParameter()
        unknown = _parse_text(body, msg, path, line, f"{key} block")
        layer = _Layer(msg, v1, line)
        layer.unknown_fields = unknown
        if unknown:
            log.warning("%s: layer %r (%s) has fields this converter does not know: %s",
                        path, layer.name, layer.type, unknown)
        layers.append(layer)
    header_parts.append(text[pos:])
    net = _pb.NetParameter()
    unknown = _parse_text("".join(header_parts), net, path, 1, "the net header")
    if unknown:
        log.warning("%s: ignoring unknown net-level fields: %s", path, unknown)
    return net, layers


def _included(layer: _Layer) -> bool:
    """Caffe's NetStateRule check for the TEST phase, level 0, no stages."""
    def meets(rule: Any) -> bool:
        if rule.HasField("phase") and rule.phase != 1:
            return False
        if rule.HasField("min_level") and 0 < rule.min_level:
            return False
        if rule.HasField("max_level") and 0 > rule.max_level:
            return False
        return len(rule.stage) == 0
    inc, exc = list(layer.msg.include), list(layer.msg.exclude)
    if inc:
        return any(meets(r) for r in inc)
    return not any(meets(r) for r in exc)


# ------------------------------------------------------------------------------------------
# caffemodel reading
# ------------------------------------------------------------------------------------------

def _read_weights(path: Path, data: bytes) -> dict[str, list[Any]]:
    net = _pb.NetParameter()
    try:
        net.ParseFromString(data)
    except _pb_message.DecodeError as exc:
        raise ConversionError(f"{path}: not a valid caffemodel (truncated or not a Caffe "
                              f"NetParameter protobuf: {exc})") from exc
    blobs: dict[str, list[Any]] = {}
    for layer in list(net.layer) + list(net.layers):
        if len(layer.blobs):
            blobs[layer.name] = list(layer.blobs)
    if not len(net.layer) and not len(net.layers):
        raise ConversionError(f"{path}: not a valid caffemodel (it holds no layers)")
    return blobs


def _blob_array(blob: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    if blob.HasField("shape"):
        dims = tuple(int(d) for d in blob.shape.dim)
    else:
        dims = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
    if len(blob.data):
        arr = np.array(blob.data, dtype=np.float32)
    else:
        arr = np.array(blob.double_data, dtype=np.float64).astype(np.float32)
    return arr, dims


def _strip_ones(dims: Sequence[int]) -> tuple[int, ...]:
    d = list(dims)
    while d and d[0] == 1:
        d.pop(0)
    return tuple(d)


# ------------------------------------------------------------------------------------------
# conversion
# ------------------------------------------------------------------------------------------

def _hw(param: Any, single: str, h: str, w: str, default: int | None) -> tuple[int, int]:
    """Read a 2-D spatial parameter given as ``single`` (1 or 2 values) or ``h``/``w``."""
    if h and (param.HasField(h) or param.HasField(w)):
        return int(getattr(param, h)), int(getattr(param, w))
    vals = list(getattr(param, single))
    if not vals:
        if default is None:
            raise KeyError(single)
        return default, default
    if len(vals) == 1:
        return int(vals[0]), int(vals[0])
    if len(vals) == 2:
        return int(vals[0]), int(vals[1])
    raise ValueError(f"{single} has {len(vals)} values; only 2-D layers are supported")


class _CaffeConverter:
    def __init__(self, proto_path: Path, model_path: Path, net: Any, layers: list[_Layer],
                 weights: dict[str, list[Any]], input_shape: InputShape | None) -> None:
        self.proto_path = proto_path
        self.model_path = model_path
        self.net = net
        self.layers = [la for la in layers if _included(la)]
        self.weights = weights
        self.input_shape = input_shape
        self.g = GraphBuilder()
        self.blob: dict[str, str] = {}          # caffe blob -> current ONNX tensor
        self.channels: dict[str, int] = {}      # ONNX tensor -> channel count
        self.final_writer: dict[str, _Layer] = {}   # blob -> last converted layer writing it

    # -- helpers ---------------------------------------------------------------------------

    def _fail(self, layer: _Layer, why: str) -> ConversionError:
        return ConversionError(f"{self.proto_path}:{layer.line}: layer {layer.name!r} "
                               f"(type {layer.type}): {why}")

    def _input_dims(self, name: str, declared: Sequence[int] | None) -> list[Any]:
        """Final input dims: N, H, W dynamic unless fixed by ``input_shape``; C required."""
        dims: list[Any] = [None] * 4
        if declared is not None:
            if len(declared) != 4:
                raise ConversionError(f"{self.proto_path}: input {name!r} has shape "
                                      f"{list(declared)}; only 4-D NCHW inputs are supported")
            dims[1] = int(declared[1])
        override = None
        if isinstance(self.input_shape, Mapping):
            override = self.input_shape.get(name)
        elif self.input_shape is not None:
            override = self.input_shape
        if override is not None:
            override = list(override)
            if len(override) != 4:
                raise ValueError(f"input_shape for {name!r} must have 4 entries (N, C, H, W), "
                                 f"got {override}")
            for k, v in enumerate(override):
                if v is not None and int(v) > 0:
                    dims[k] = int(v)
        if dims[1] is None:
            raise ConversionError(f"{self.proto_path}: the channel count of input {name!r} is "
                                  "not given; pass input_shape=(None, C, None, None)")
        sym = ["N", None, "H", "W"]
        return [d if d is not None else sym[k] for k, d in enumerate(dims)]

    def _collect_inputs(self) -> list[tuple[str, list[int] | None]]:
        found: list[tuple[str, list[int] | None]] = []
        net = self.net
        names = list(net.input)
        if names:
            if len(net.input_shape):
                if len(net.input_shape) != len(names):
                    raise ConversionError(f"{self.proto_path}: {len(names)} inputs but "
                                          f"{len(net.input_shape)} input_shape entries")
                shapes = [list(s.dim) for s in net.input_shape]
            elif len(net.input_dim):
                if len(net.input_dim) != 4 * len(names):
                    raise ConversionError(f"{self.proto_path}: {len(names)} inputs need "
                                          f"{4 * len(names)} input_dim values, got "
                                          f"{len(net.input_dim)}")
                dims = list(net.input_dim)
                shapes = [dims[4 * k:4 * k + 4] for k in range(len(names))]
            else:
                shapes = [None] * len(names)
            found += list(zip(names, shapes))
        for layer in self.layers:
            if layer.type != "Input":
                continue
            shapes = [list(s.dim) for s in layer.msg.input_param.shape] \
                if not layer.v1 and layer.msg.HasField("input_param") else []
            for k, top in enumerate(layer.top):
                if len(shapes) == 1:
                    found.append((top, shapes[0]))
                elif len(shapes) == len(layer.top):
                    found.append((top, shapes[k]))
                elif not shapes:
                    found.append((top, None))
                else:
                    raise self._fail(layer, f"{len(shapes)} shapes for {len(layer.top)} tops")
        if not found:
            raise ConversionError(f"{self.proto_path}: the net declares no input (neither an "
                                  "'input:' header nor an Input layer)")
        return found

    def _blobs_of(self, layer: _Layer, expected: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
        blobs = self.weights.get(layer.name)
        if blobs is None:
            raise ConversionError(f"{self.model_path}: no weights for layer {layer.name!r} "
                                  f"(type {layer.type}, {self.proto_path}:{layer.line})")
        if len(blobs) < len(expected):
            raise ConversionError(f"{self.model_path}: layer {layer.name!r} (type {layer.type}) "
                                  f"has {len(blobs)} weight blobs, expected {len(expected)}")
        out = []
        for k, (blob, exp) in enumerate(zip(blobs, expected)):
            arr, dims = _blob_array(blob)
            n = int(np.prod(exp))
            if arr.size != int(np.prod(dims)) or arr.size != n \
                    or _strip_ones(dims) != _strip_ones(exp):
                raise ConversionError(
                    f"{self.model_path}: weight shape mismatch in layer {layer.name!r} "
                    f"(type {layer.type}), blob {k}: file has {list(dims)} "
                    f"({arr.size} values), the prototxt needs {list(exp)}")
            out.append(arr.reshape(exp))
        return out

    def _out(self, layer: _Layer, top: str, channels: int) -> str:
        """Name the ONNX tensor for a layer's top.

        The last write of a blob gets the blob's own name (so ``net_output`` stays
        ``net_output`` even after in-place layers); earlier versions get ``blob/layer``."""
        if self.final_writer.get(top) is layer:
            name = self.g.unique(top)
        else:
            name = self.g.unique(f"{top}/{layer.name}")
        self.blob[top] = name
        self.channels[name] = channels
        return name

    def _in(self, layer: _Layer, k: int = 0) -> str:
        b = layer.bottom[k]
        if b not in self.blob:
            raise self._fail(layer, f"bottom blob {b!r} is not produced by any earlier layer")
        return self.blob[b]

    # -- layers ----------------------------------------------------------------------------

    def _conv(self, layer: _Layer) -> None:
        p = layer.msg.convolution_param
        x = self._in(layer)
        cin = self.channels[x]
        try:
            kh, kw = _hw(p, "kernel_size", "kernel_h", "kernel_w", None)
            ph, pw = _hw(p, "pad", "pad_h", "pad_w", 0)
            sh, sw = _hw(p, "stride", "stride_h", "stride_w", 1)
            dh, dw = _hw(p, "dilation", "", "", 1)
        except KeyError:
            raise self._fail(layer, "kernel_size (or kernel_h/kernel_w) is missing") from None
        except ValueError as exc:
            raise self._fail(layer, str(exc)) from None
        if p.axis != 1:
            raise self._fail(layer, f"axis {p.axis} is not supported (only 1)")
        group = int(p.group)
        cout = int(p.num_output)
        if group < 1 or cin % group or cout % group or cout < 1:
            raise self._fail(layer, f"num_output {cout} / input channels {cin} do not fit "
                                    f"group {group}")
        expected = [(cout, cin // group, kh, kw)] + ([(cout,)] if p.bias_term else [])
        arrays = self._blobs_of(layer, expected)
        w = self.g.const(arrays[0], f"{layer.name}/weight")
        inputs = [x, w]
        if p.bias_term:
            inputs.append(self.g.const(arrays[1], f"{layer.name}/bias"))
        y = self._out(layer, layer.top[0], cout)
        self.g.node("Conv", inputs, y, layer.name, kernel_shape=[kh, kw],
                    pads=[ph, pw, ph, pw], strides=[sh, sw], dilations=[dh, dw], group=group)

    def _relu(self, layer: _Layer) -> None:
        x = self._in(layer)
        slope = float(layer.msg.relu_param.negative_slope)
        y = self._out(layer, layer.top[0], self.channels[x])
        if slope != 0.0:
            self.g.node("LeakyRelu", [x], y, layer.name, alpha=slope)
        else:
            self.g.node("Relu", [x], y, layer.name)

    def _prelu(self, layer: _Layer) -> None:
        x = self._in(layer)
        c = self.channels[x]
        shared = bool(layer.msg.prelu_param.channel_shared)
        (slope,) = self._blobs_of(layer, [(1,) if shared else (c,)])
        s = self.g.const(slope.reshape((1,) if shared else (c, 1, 1)), f"{layer.name}/slope")
        y = self._out(layer, layer.top[0], c)
        self.g.node("PRelu", [x, s], y, layer.name)

    def _pool(self, layer: _Layer) -> None:
        p = layer.msg.pooling_param
        x = self._in(layer)
        c = self.channels[x]
        method = p.pool
        if method not in (0, 1):
            raise self._fail(layer, "only MAX and AVE pooling are supported (not STOCHASTIC)")
        y = self._out(layer, layer.top[0], c)
        if p.global_pooling:
            self.g.node("GlobalMaxPool" if method == 0 else "GlobalAveragePool", [x], y,
                        layer.name)
            return
        try:
            kh, kw = _hw(p, "kernel_size", "kernel_h", "kernel_w", None)
            ph, pw = _hw(p, "pad", "pad_h", "pad_w", 0)
            sh, sw = _hw(p, "stride", "stride_h", "stride_w", 1)
        except KeyError:
            raise self._fail(layer, "kernel_size (or kernel_h/kernel_w) is missing") from None
        except ValueError as exc:
            raise self._fail(layer, str(exc)) from None
        if ph >= kh or pw >= kw:
            raise self._fail(layer, f"pad ({ph}, {pw}) must be smaller than the kernel "
                                    f"({kh}, {kw})")
        ceil = 0 if p.round_mode == 1 else 1
        attrs: dict[str, Any] = dict(kernel_shape=[kh, kw], pads=[ph, pw, ph, pw],
                                     strides=[sh, sw], ceil_mode=ceil)
        if method == 0:
            self.g.node("MaxPool", [x], y, layer.name, **attrs)
        else:
            self.g.node("AveragePool", [x], y, layer.name, count_include_pad=1, **attrs)

    def _concat(self, layer: _Layer) -> None:
        p = layer.msg.concat_param
        xs = [self._in(layer, k) for k in range(len(layer.bottom))]
        axis = int(p.axis) if p.HasField("axis") or not p.HasField("concat_dim") \
            else int(p.concat_dim)
        if axis < 0:
            axis += 4
        if axis not in (0, 1, 2, 3):
            raise self._fail(layer, f"axis {axis} out of range for 4-D blobs")
        if axis == 1:
            c = sum(self.channels[x] for x in xs)
        else:
            c = self.channels[xs[0]]
        y = self._out(layer, layer.top[0], c)
        self.g.node("Concat", xs, y, layer.name, axis=axis)

    def _eltwise(self, layer: _Layer) -> None:
        p = layer.msg.eltwise_param
        xs = [self._in(layer, k) for k in range(len(layer.bottom))]
        if len(xs) < 2:
            raise self._fail(layer, "Eltwise needs at least two bottoms")
        c = self.channels[xs[0]]
        if any(self.channels[x] != c for x in xs):
            raise self._fail(layer, "bottoms have different channel counts "
                                    f"{[self.channels[x] for x in xs]}")
        op = p.operation
        coeffs = list(p.coeff)
        if coeffs and op != 1:
            raise self._fail(layer, "coeff is only allowed with operation SUM")
        if coeffs and len(coeffs) != len(xs):
            raise self._fail(layer, f"{len(coeffs)} coeffs for {len(xs)} bottoms")
        if op == 1 and coeffs and any(cf != 1.0 for cf in coeffs):
            scaled = []
            for k, (x, cf) in enumerate(zip(xs, coeffs)):
                if cf == 1.0:
                    scaled.append(x)
                    continue
                cst = self.g.const(np.array(cf, np.float32), f"{layer.name}/coeff{k}")
                out = self.g.unique(f"{layer.name}/scaled{k}")
                self.g.node("Mul", [x, cst], out, f"{layer.name}/scale{k}")
                scaled.append(out)
            xs = scaled
        y = self._out(layer, layer.top[0], c)
        onnx_op = {0: "Mul", 1: "Sum", 2: "Max"}[op]
        if onnx_op == "Mul":
            acc = xs[0]
            for k, x in enumerate(xs[1:], start=1):
                out = y if k == len(xs) - 1 else self.g.unique(f"{layer.name}/prod{k}")
                self.g.node("Mul", [acc, x], out, layer.name if out == y else f"{layer.name}/{k}")
                acc = out
        else:
            self.g.node(onnx_op, xs, y, layer.name)

    def _passthrough(self, layer: _Layer) -> None:
        x = self._in(layer)
        for top in layer.top:
            self.blob[top] = x

    # -- driver ----------------------------------------------------------------------------

    def _needed_layers(self, outputs: list[str]) -> set[int]:
        """Indices of layers on a path to an output (walking producers backwards)."""
        producer_before: list[dict[str, int]] = []
        current: dict[str, int] = {}
        for k, layer in enumerate(self.layers):
            producer_before.append(dict(current))
            for t in layer.top:
                current[t] = k
        needed: set[int] = set()
        todo = [current[b] for b in outputs if b in current]
        while todo:
            k = todo.pop()
            if k in needed:
                continue
            needed.add(k)
            for b in self.layers[k].bottom:
                if b in producer_before[k]:
                    todo.append(producer_before[k][b])
        return needed

    def convert(self) -> Any:
        inputs = self._collect_inputs()
        input_names = {n for n, _ in inputs}
        # graph outputs: blobs that no layer reads after their last write (an in-place layer
        # reads and rewrites its blob, so `conv7 -> ReLU in place` leaves conv7 an output)
        last_write: dict[str, int] = {}
        last_read: dict[str, int] = {}
        for k, layer in enumerate(self.layers):
            if layer.type == "Input":
                continue
            for b in layer.bottom:
                last_read[b] = k
            for t in layer.top:
                last_write[t] = k
        outputs = sorted((t for t, k in last_write.items()
                          if t not in input_names and last_read.get(t, -1) <= k),
                         key=lambda t: last_write[t])
        if not outputs:
            raise ConversionError(f"{self.proto_path}: the net has no output blob")
        needed = self._needed_layers(outputs)
        for k, layer in enumerate(self.layers):
            if k in needed:
                for t in layer.top:
                    self.final_writer[t] = layer

        in_infos = []
        for name, declared in inputs:
            dims = self._input_dims(name, declared)
            onnx_name = self.g.reserve(name)
            self.blob[name] = onnx_name
            self.channels[onnx_name] = int(dims[1])
            in_infos.append(value_info(onnx_name, dims))

        handlers = {"Convolution": self._conv, "ReLU": self._relu, "PReLU": self._prelu,
                    "Pooling": self._pool, "Concat": self._concat, "Eltwise": self._eltwise,
                    "Split": self._passthrough, "Dropout": self._passthrough}
        for k, layer in enumerate(self.layers):
            if k not in needed or layer.type == "Input":
                continue
            handler = handlers.get(layer.type)
            if handler is None:
                raise ConversionError(
                    f"unsupported layer type {layer.type!r} in layer {layer.name!r} "
                    f"({self.proto_path}:{layer.line}); supported: {', '.join(_SUPPORTED)}")
            if layer.unknown_fields:
                raise self._fail(layer, "it has fields this converter does not know, so it "
                                        f"cannot be converted faithfully: {layer.unknown_fields}")
            if not layer.bottom or not layer.top:
                raise self._fail(layer, "it needs at least one bottom and one top")
            if layer.type in ("Convolution", "ReLU", "PReLU", "Pooling") and \
                    (len(layer.bottom) != 1 or len(layer.top) != 1):
                raise self._fail(layer, "it must have exactly one bottom and one top")
            handler(layer)
            log.debug("converted layer %s (%s)", layer.name, layer.type)

        out_infos = []
        for b in outputs:
            t = self.blob[b]
            if t != b:
                # the last version of the blob must carry the blob's own name
                if b in (n for n, _ in inputs):
                    raise ConversionError(f"{self.proto_path}: output blob {b!r} is an input")
                self.g.node("Identity", [t], self.g.unique(b), f"{b}/output")
                t = self.g.nodes[-1].output[0]
            out_infos.append(value_info(t, ["N", self.channels[self.blob[b]], None, None]))
        name = self.net.name or self.proto_path.stem
        doc = (f"Converted by posefast from Caffe {self.proto_path.name} + "
               f"{self.model_path.name}. Inputs NCHW float32 with dynamic N, H, W.")
        return self.g.model(name, in_infos, out_infos, "posefast.convert_caffe", doc)


def convert_caffe(prototxt: str | os.PathLike[str], caffemodel: str | os.PathLike[str],
                  output: str | os.PathLike[str], *,
                  input_shape: InputShape | None = None) -> Path:
    """Convert a Caffe model (architecture + weights) to ONNX.

    Parameters
    ----------
    prototxt : str or Path
        Architecture file (text ``NetParameter``), e.g. OpenPose's
        ``pose_deploy_linevec.prototxt``.  Inputs may be declared with an ``Input`` layer or
        with the legacy ``input:`` + ``input_dim:`` / ``input_shape { dim: }`` header.
    caffemodel : str or Path
        Binary weights (``NetParameter`` with blobs), e.g. ``pose_iter_440000.caffemodel``.
        Weights are matched to layers by layer name; both ``layer`` and V1 ``layers`` work.
    output : str or Path
        Where to write the ``.onnx`` file.  It is written to a temporary file in the same
        folder and renamed at the end, so a failed conversion leaves nothing behind.
    input_shape : sequence of 4 ints/None, or mapping of input name to one, optional
        Fixes dimensions of the input ``[N, C, H, W]``; ``None`` or ``-1`` entries stay
        dynamic.  By default N, H and W are dynamic and C comes from the prototxt.

    Returns
    -------
    Path
        ``output``.  The model has opset 13, inputs named as in the prototxt (OpenPose:
        ``image``, float32 ``[N, 3, H, W]``) and one output per final blob (OpenPose:
        ``net_output``, ``[N, 57 or 78, ceil(H/8), ceil(W/8)]``).  The network's own input
        normalisation is not part of the graph (OpenPose feeds BGR ``x/256 - 0.5``).

    Raises
    ------
    FileNotFoundError
        An input file (or the output folder) does not exist.
    ConversionError
        Unsupported layer type on the path to an output (the message names the type, the
        layer and the file), syntax error in the prototxt, truncated or invalid caffemodel,
        missing weights or weights of the wrong shape.
    """
    proto_path, proto_bytes = read_bytes(prototxt, "Caffe prototxt")
    model_path, model_bytes = read_bytes(caffemodel, "Caffe caffemodel")
    net, layers = _read_prototxt(proto_path, proto_bytes)
    weights = _read_weights(model_path, model_bytes)
    del model_bytes
    conv = _CaffeConverter(proto_path, model_path, net, layers, weights, input_shape)
    model = conv.convert()
    log.info("converted %s + %s: %d layers -> %d ONNX nodes", proto_path.name, model_path.name,
             len(layers), len(model.graph.node))
    return write_model(model, output)
