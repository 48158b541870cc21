"""OpenVINO IR (``.xml`` + ``.bin``, IR v10/v11) to ONNX, in pure Python.

Made for Open Model Zoo's ``human-pose-estimation-0001`` (Lightweight OpenPose, FP16-INT8) and
for IRs built from the same ops.  The ``openvino`` package is not needed: the XML is read with
:mod:`xml.etree.ElementTree` and the weights with NumPy.  Only the layers on a path from a
``Parameter`` to the ``Result`` layers are converted; any other op type on that path raises
:class:`ConversionError` naming the op type, the layer name and id.

Everything that depends only on constants is computed at conversion time (NumPy, float32
arithmetic), so the int8 weight-decompression chains ``Const(i8/u8) -> Convert -> Subtract(zero
point) -> Multiply(scale)`` and the constant ``Reshape`` of grouped-convolution weights become
plain float32 initializers.  What is left becomes ONNX (opset 13):

=========================  ==================================================================
OpenVINO op                ONNX
=========================  ==================================================================
Parameter (f16/f32)        graph input, float32; a 4-D input is ``[N, C, H, W]`` with N, H, W
                           dynamic (the IR's declared size is not baked in anywhere)
Convolution                Conv (``strides``, ``dilations``, ``pads_begin``/``pads_end``,
                           ``auto_pad`` explicit/valid/same_upper/same_lower; SAME with
                           dilations and strides > 1 as a Pad computed from the input's
                           run-time size); a following per-channel constant Add becomes
                           its bias
GroupConvolution           Conv with ``group = G`` (weights ``[G, O/G, I/G, kH, kW]``
                           reshaped to ``[O, I/G, kH, kW]``)
Add, Subtract, Multiply,   the ONNX op of the same name (numpy broadcasting in both)
Divide, Maximum, Minimum
FakeQuantize               ``fake_quantize="drop"``: removed (a float model);
                           ``"emulate"``: clip, quantize to ``levels``, dequantize (see
                           :func:`convert_openvino`)
ReLU, Elu, Sigmoid, Clamp  Relu, Elu, Sigmoid, Clip
PReLU                      PRelu (a per-channel slope reshaped to ``[C, 1, 1]``)
MaxPool, AvgPool           MaxPool, AveragePool (``rounding_type`` floor/ceil ->
                           ``ceil_mode``, ``exclude-pad`` -> ``count_include_pad``;
                           MaxPool-8's indices output must be unused)
Concat                     Concat
Convert (on activations)   nothing between float types (activations are float32 throughout)
Result                     graph output, named as the IR's output tensor (OpenVINO's
                           ``output.get_any_name()``)
=========================  ==================================================================

A ``Reshape`` of an activation (not of a constant) is refused: its target shape is a constant
written for the IR's declared input size and would break other sizes.
"""

from __future__ import annotations

import logging
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._common import (ConversionError, GraphBuilder, dependency_order, drop_output_identities, value_info,
                      write_model)

log = logging.getLogger("posefast.models.convert.openvino")

__all__ = ["convert_openvino", "FAKE_QUANTIZE_MODES"]

#: the IR versions this converter reads
IR_VERSIONS = (10, 11)
#: what :func:`convert_openvino` can do with activation FakeQuantize layers
FAKE_QUANTIZE_MODES = ("drop", "emulate")

_ELEMENT_TYPES: dict[str, Any] = {
    "f16": np.float16, "f32": np.float32, "f64": np.float64,
    "i8": np.int8, "u8": np.uint8, "i16": np.int16, "u16": np.uint16,
    "i32": np.int32, "u32": np.uint32, "i64": np.int64, "u64": np.uint64,
    "boolean": np.bool_,
}
_FLOAT_TYPES = ("f16", "f32", "f64", "bf16")


@dataclass
class _Port:
    id: str
    dims: list[int]
    names: list[str] = field(default_factory=list)


@dataclass
class _Layer:
    id: str
    name: str
    type: str
    version: str
    data: dict[str, str]
    inputs: list[_Port]
    outputs: list[_Port]

    def where(self) -> str:
        return f"layer {self.name!r} (id {self.id}, {self.type})"


@dataclass
class _Value:
    """One IR tensor during conversion: a constant, or an ONNX tensor."""

    onnx: str | None = None             # ONNX tensor name (None while it is a pure constant)
    const: np.ndarray | None = None     # value when known at conversion time
    rank: int | None = None             # rank of an ONNX tensor
    conv: Any = None                    # the Conv node producing it, if it has no bias yet


def _split_names(text: str | None) -> list[str]:
    """Tensor names of a port: comma separated, ``\\,`` is a literal comma."""
    if not text:
        return []
    parts = re.split(r"(?<!\\),", text)
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


def _dims(port: ET.Element, where: str) -> list[int]:
    out = []
    for d in port.findall("dim"):
        text = (d.text or "").strip()
        if text in ("?", "-1"):
            out.append(-1)
            continue
        try:
            out.append(int(text))
        except ValueError:
            raise ConversionError(f"{where}: dimension {text!r} is not an integer") from None
    return out


def _ints(text: str | None, where: str, key: str) -> list[int]:
    if text is None or not text.strip():
        return []
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConversionError(f"{where}: attribute {key}={text!r} is not a list of integers") from None


class _IRConverter:
    def __init__(self, xml_path: Path, bin_path: Path, root: ET.Element, weights: bytes,
                 fake_quantize: str) -> None:
        self.xml_path = xml_path
        self.bin_path = bin_path
        self.weights = weights
        self.fq_mode = fake_quantize
        self.g = GraphBuilder()
        self.layers = self._parse_layers(root)
        self.sources = self._parse_edges(root)
        self.consumers: dict[tuple[str, str], int] = {}
        for src in self.sources.values():
            self.consumers[src] = self.consumers.get(src, 0) + 1
        self.values: dict[tuple[str, str], _Value] = {}
        self.inputs: list[Any] = []
        self.result_sources = {self.sources[(lay.id, lay.inputs[0].id)]
                               for lay in self.layers.values() if lay.type == "Result"}

    # -- parsing --------------------------------------------------------------------------

    def _fail(self, layer: _Layer, what: str) -> ConversionError:
        return ConversionError(f"{self.xml_path}: {layer.where()}: {what}")

    def _parse_layers(self, root: ET.Element) -> dict[str, _Layer]:
        section = root.find("layers")
        if section is None or not len(section):
            raise ConversionError(f"{self.xml_path}: not an OpenVINO IR (no <layers>)")
        layers: dict[str, _Layer] = {}
        for el in section.findall("layer"):
            lid, ltype = el.get("id"), el.get("type")
            if lid is None or not ltype:
                raise ConversionError(f"{self.xml_path}: not an OpenVINO IR (a <layer> has no id "
                                      "or type)")
            if lid in layers:
                raise ConversionError(f"{self.xml_path}: layer id {lid} appears twice")
            name = el.get("name") or lid
            where = f"{self.xml_path}: layer {name!r} (id {lid})"
            data_el = el.find("data")
            data = dict(data_el.attrib) if data_el is not None else {}
            ports = []
            for tag in ("input", "output"):
                sect = el.find(tag)
                ps = []
                for p in (sect.findall("port") if sect is not None else []):
                    if p.get("id") is None:
                        raise ConversionError(f"{where}: a port has no id")
                    ps.append(_Port(p.get("id"), _dims(p, where), _split_names(p.get("names"))))
                ports.append(ps)
            layers[lid] = _Layer(lid, name, ltype, el.get("version", ""), data, *ports)
        return layers

    def _parse_edges(self, root: ET.Element) -> dict[tuple[str, str], tuple[str, str]]:
        section = root.find("edges")
        if section is None:
            raise ConversionError(f"{self.xml_path}: not an OpenVINO IR (no <edges>)")
        sources: dict[tuple[str, str], tuple[str, str]] = {}
        for e in section.findall("edge"):
            fl, fp, tl, tp = (e.get(k) for k in ("from-layer", "from-port", "to-layer", "to-port"))
            if None in (fl, fp, tl, tp):
                raise ConversionError(f"{self.xml_path}: an <edge> lacks from-layer/from-port/"
                                      "to-layer/to-port")
            desc = f"edge {fl}:{fp} -> {tl}:{tp}"
            for lid in (fl, tl):
                if lid not in self.layers:
                    raise ConversionError(f"{self.xml_path}: dangling {desc}: there is no layer "
                                          f"with id {lid}; the IR is corrupt, export it again")
            if fp not in {p.id for p in self.layers[fl].outputs}:
                raise ConversionError(f"{self.xml_path}: dangling {desc}: "
                                      f"{self.layers[fl].where()} has no output port {fp}")
            if tp not in {p.id for p in self.layers[tl].inputs}:
                raise ConversionError(f"{self.xml_path}: dangling {desc}: "
                                      f"{self.layers[tl].where()} has no input port {tp}")
            if (tl, tp) in sources:
                raise ConversionError(f"{self.xml_path}: two edges feed input port {tp} of "
                                      f"{self.layers[tl].where()}")
            sources[(tl, tp)] = (fl, fp)
        return sources

    def _topo(self) -> list[str]:
        """Layers needed for the Results, in dependency order."""
        results = [lid for lid, lay in self.layers.items() if lay.type == "Result"]
        if not results:
            raise ConversionError(f"{self.xml_path}: the IR has no Result layer")

        def inputs_of(lid: str) -> list[str]:
            lay = self.layers[lid]
            out = []
            for p in lay.inputs:
                src = self.sources.get((lid, p.id))
                if src is None:
                    raise ConversionError(
                        f"{self.xml_path}: dangling input: port {p.id} of {lay.where()} has "
                        "no incoming edge; the IR is corrupt, export it again")
                out.append(src[0])
            return out

        return dependency_order(results, inputs_of, lambda lid: ConversionError(
            f"{self.xml_path}: the graph has a cycle through {self.layers[lid].where()}"))

    # -- helpers --------------------------------------------------------------------------

    def _in(self, layer: _Layer, k: int) -> _Value:
        if k >= len(layer.inputs):
            raise self._fail(layer, f"expected at least {k + 1} inputs, it has "
                                    f"{len(layer.inputs)}")
        return self.values[self.sources[(layer.id, layer.inputs[k].id)]]

    def _const_in(self, layer: _Layer, k: int, what: str) -> np.ndarray:
        v = self._in(layer, k)
        if v.const is None:
            raise self._fail(layer, f"{what} (input {k}) must be a constant")
        return v.const

    def _act_in(self, layer: _Layer, k: int) -> _Value:
        """An input as an ONNX tensor (constants become initializers)."""
        v = self._in(layer, k)
        if v.onnx is None:
            v.onnx = self.g.const(self._const_float(v.const, layer, f"input {k}"),
                                  f"{layer.name}/in{k}")
            v.rank = v.const.ndim
        return v

    def _emit(self, layer: _Layer, op: str, inputs: list[str], **attrs: Any) -> str:
        out = self.g.unique(layer.name)
        self.g.node(op, inputs, out, layer.name, **attrs)
        return out

    def _set(self, layer: _Layer, value: _Value, k: int = 0) -> None:
        if k >= len(layer.outputs):
            raise self._fail(layer, f"expected {k + 1} output ports, it has {len(layer.outputs)}")
        self.values[(layer.id, layer.outputs[k].id)] = value

    def _float(self, a: np.ndarray) -> np.ndarray:
        """Constants in arithmetic: float types computed in float32, integers kept."""
        return a.astype(np.float32) if a.dtype.kind == "f" else a

    def _broadcast(self, layer: _Layer) -> None:
        mode = layer.data.get("auto_broadcast", "numpy").lower()
        if mode not in ("numpy", "none"):
            raise self._fail(layer, f"auto_broadcast={mode!r} is not supported (only numpy, none)")

    def _const_float(self, a: np.ndarray, layer: _Layer, what: str) -> np.ndarray:
        if a.dtype.kind not in "fiub":
            raise self._fail(layer, f"{what} has dtype {a.dtype}")
        return np.ascontiguousarray(a, dtype=np.float32)

    # -- ops ------------------------------------------------------------------------------

    def _parameter(self, layer: _Layer) -> None:
        etype = layer.data.get("element_type", "f32")
        if etype not in _FLOAT_TYPES:
            raise self._fail(layer, f"input element type {etype!r} is not supported (only "
                                    "floating-point inputs)")
        if len(layer.outputs) != 1:
            raise self._fail(layer, "a Parameter must have one output port")
        port = layer.outputs[0]
        dims = port.dims
        if not dims and layer.data.get("shape"):
            dims = [int(d) if d.strip() not in ("?", "-1") else -1
                    for d in layer.data["shape"].split(",")]
        name = self.g.reserve((port.names or [layer.name])[0])
        if len(dims) == 4:
            shape: list[int | str | None] = ["N", dims[1] if dims[1] > 0 else "C", "H", "W"]
        else:
            shape = ["N"] + [d if d > 0 else None for d in dims[1:]] if dims else []
        self.inputs.append(value_info(name, shape))
        self._set(layer, _Value(onnx=name, rank=len(dims)))

    def _constant(self, layer: _Layer) -> None:
        etype = layer.data.get("element_type")
        dtype = _ELEMENT_TYPES.get(etype or "")
        if dtype is None:
            raise self._fail(layer, f"constant element type {etype!r} is not supported "
                                    f"(supported: {', '.join(_ELEMENT_TYPES)})")
        try:
            offset = int(layer.data["offset"])
            size = int(layer.data["size"])
        except (KeyError, ValueError):
            raise self._fail(layer, "a Const needs integer offset and size attributes") from None
        shape_text = layer.data.get("shape")
        if shape_text is None:
            shape = tuple(layer.outputs[0].dims) if layer.outputs else ()
        else:
            shape = tuple(_ints(shape_text, layer.where(), "shape"))
        count = int(np.prod(shape)) if shape else 1
        itemsize = np.dtype(dtype).itemsize
        if offset < 0 or size < 0 or offset + size > len(self.weights):
            raise self._fail(layer, f"its data (offset {offset}, size {size}) lies past the end "
                                    f"of {self.bin_path} ({len(self.weights)} bytes): the .bin "
                                    "is truncated or belongs to another .xml; download it again")
        if size != count * itemsize:
            raise self._fail(layer, f"size {size} bytes does not match shape {list(shape)} of "
                                    f"{etype} ({count * itemsize} bytes)")
        arr = np.frombuffer(self.weights, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                            offset=offset).astype(dtype).reshape(shape)
        self._set(layer, _Value(const=arr))

    def _convert(self, layer: _Layer) -> None:
        dest = layer.data.get("destination_type", "")
        x = self._in(layer, 0)
        if x.const is not None:
            dtype = _ELEMENT_TYPES.get(dest)
            if dtype is None:
                raise self._fail(layer, f"destination_type {dest!r} is not supported")
            self._set(layer, _Value(const=x.const.astype(dtype)))
            return
        if dest not in _FLOAT_TYPES:
            raise self._fail(layer, f"converting an activation to {dest!r} is not supported "
                                    "(only between floating-point types)")
        self._set(layer, _Value(onnx=x.onnx, rank=x.rank))   # activations are float32 throughout

    _NUMPY_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply,
        "Divide": np.divide, "Maximum": np.maximum, "Minimum": np.minimum,
    }
    _ONNX_BINARY = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Divide": "Div",
                    "Maximum": "Max", "Minimum": "Min"}

    def _binary(self, layer: _Layer) -> None:
        self._broadcast(layer)
        a, b = self._in(layer, 0), self._in(layer, 1)
        if a.const is not None and b.const is not None:
            fa, fb = self._float(a.const), self._float(b.const)
            if layer.type == "Divide" and fa.dtype.kind in "iu" and fb.dtype.kind in "iu":
                res = np.floor_divide(fa, fb)
            else:
                res = self._NUMPY_BINARY[layer.type](fa, fb)
            if a.const.dtype == b.const.dtype and a.const.dtype.kind == "f":
                res = res.astype(a.const.dtype)     # the IR's element type, as OpenVINO folds it
            self._set(layer, _Value(const=res))
            return
        if layer.type == "Add" and self._fold_bias(layer, a, b):
            return
        names = []
        for k, v in enumerate((a, b)):
            if v.onnx is None:
                names.append(self.g.const(self._const_float(v.const, layer, f"input {k}"),
                                          f"{layer.name}/in{k}"))
            else:
                names.append(v.onnx)
        ranks = [v.rank if v.onnx is not None else v.const.ndim for v in (a, b)]
        out = self._emit(layer, self._ONNX_BINARY[layer.type], names)
        self._set(layer, _Value(onnx=out, rank=max(r or 0 for r in ranks)))

    def _fold_bias(self, layer: _Layer, a: _Value, b: _Value) -> bool:
        """Conv -> Add(per-channel constant) becomes the Conv's bias when nothing else reads
        the Conv's output."""
        act, cst = (a, b) if b.const is not None else (b, a)
        if act.conv is None or cst.const is None:
            return False
        node, cout, src_key = act.conv
        if self.consumers.get(src_key, 0) != 1 or src_key in self.result_sources:
            return False
        c = cst.const
        # per-channel means shape [(1,) C, 1, 1]: C on axis 1 of the activation
        if c.size != cout or c.ndim > act.rank:
            return False
        full = (1,) * (act.rank - c.ndim) + c.shape
        if full[1] != cout or any(d != 1 for i, d in enumerate(full) if i != 1):
            return False
        bias = self.g.const(c.astype(np.float32).reshape(cout), f"{node.name}/bias")
        node.input.append(bias)
        self._set(layer, _Value(onnx=act.onnx, rank=act.rank))
        return True

    def _conv_attrs(self, layer: _Layer, spatial: int,
                    kernel: list[int] | None = None) -> dict[str, Any]:
        """ONNX strides/dilations/pads for a conv or pool.  With ``kernel`` given, SAME
        padding at stride 1 becomes explicit pads (ONNX Runtime refuses ``auto_pad`` with
        dilations), and at stride > 1 with dilations the key ``"same_pad"`` asks the caller
        for a computed Pad."""
        w = layer.where()
        strides = _ints(layer.data.get("strides"), w, "strides") or [1] * spatial
        dil = _ints(layer.data.get("dilations"), w, "dilations") or [1] * spatial
        pb = _ints(layer.data.get("pads_begin"), w, "pads_begin") or [0] * spatial
        pe = _ints(layer.data.get("pads_end"), w, "pads_end") or [0] * spatial
        for key, v in (("strides", strides), ("dilations", dil), ("pads_begin", pb),
                       ("pads_end", pe)):
            if len(v) != spatial:
                raise self._fail(layer, f"{key} has {len(v)} values for {spatial} spatial axes")
        attrs: dict[str, Any] = dict(strides=strides, dilations=dil)
        auto = layer.data.get("auto_pad", "explicit").lower()
        if auto in ("explicit", "notset", ""):
            attrs["pads"] = pb + pe
        elif auto == "valid":
            attrs["pads"] = [0] * (2 * spatial)
        elif auto in ("same_upper", "same_lower"):
            if kernel is not None and set(strides) == {1}:
                total = [(k - 1) * d for k, d in zip(kernel, dil)]
                small = [t // 2 for t in total]
                big = [t - t // 2 for t in total]
                attrs["pads"] = small + big if auto == "same_upper" else big + small
            elif kernel is not None and set(dil) != {1}:
                attrs["same_pad"] = auto
                attrs["pads"] = [0] * (2 * spatial)
            else:
                attrs["auto_pad"] = auto.upper()
        else:
            raise self._fail(layer, f"auto_pad={auto!r} is not supported")
        return attrs

    def _convolution(self, layer: _Layer) -> None:
        x = self._act_in(layer, 0)
        w = self._const_float(self._const_in(layer, 1, "the weights"), layer, "the weights")
        group = 1
        if layer.type == "GroupConvolution":
            if w.ndim < 4:
                raise self._fail(layer, f"weights of shape {list(w.shape)}: expected "
                                        "[G, O/G, I/G, kH, kW]")
            group = w.shape[0]
            w = w.reshape((w.shape[0] * w.shape[1],) + w.shape[2:])
        if w.ndim < 3:
            raise self._fail(layer, f"weights of shape {list(w.shape)}: expected [O, I, kH, kW]")
        spatial = w.ndim - 2
        if x.rank is not None and x.rank != spatial + 2:
            raise self._fail(layer, f"input of rank {x.rank} for {spatial}-D weights")
        attrs = self._conv_attrs(layer, spatial, list(w.shape[2:]))
        src = x.onnx
        if "same_pad" in attrs:
            src = self._same_pad(layer, src, spatial, list(w.shape[2:]), attrs["strides"],
                                 attrs["dilations"], attrs.pop("same_pad") == "same_upper")
        weight = self.g.const(w, f"{layer.name}/weight")
        out = self._emit(layer, "Conv", [src, weight], kernel_shape=list(w.shape[2:]),
                         group=group, **attrs)
        key = (layer.id, layer.outputs[0].id)
        self._set(layer, _Value(onnx=out, rank=spatial + 2,
                                conv=(self.g.nodes[-1], w.shape[0], key)))

    def _same_pad(self, layer: _Layer, x: str, spatial: int, kernel: list[int],
                  strides: list[int], dil: list[int], upper: bool) -> str:
        """Zero-pad ``x`` as SAME padding needs for its run-time size:
        ``total = max((ceil(in / s) - 1) * s + (k - 1) * d + 1 - in, 0)``, the odd pixel at
        the end (``same_upper``) or the start (``same_lower``)."""
        n = f"{layer.name}/same_pad"
        i64 = lambda v: self.g.const(np.array(v, np.int64), f"{n}/c")   # noqa: E731
        names = iter(range(1000))
        def op(kind: str, ins: list[str], **kw: Any) -> str:
            out = self.g.unique(f"{n}/{kind}{next(names)}")
            self.g.node(kind, ins, out, out, **kw)
            return out
        size = op("Slice", [op("Shape", [x]), i64([2]), i64([2 + spatial])])
        s = i64(strides)
        count = op("Div", [op("Add", [size, i64([v - 1 for v in strides])]), s])
        need = op("Add", [op("Mul", [op("Sub", [count, i64([1] * spatial)]), s]),
                          i64([(k - 1) * d + 1 for k, d in zip(kernel, dil)])])
        total = op("Max", [op("Sub", [need, size]), i64([0] * spatial)])
        small = op("Div", [total, i64([2] * spatial)])
        big = op("Sub", [total, small])
        begin, end = (small, big) if upper else (big, small)
        pads = op("Concat", [i64([0, 0]), begin, i64([0, 0]), end], axis=0)
        return op("Pad", [x, pads])

    def _fake_quantize(self, layer: _Layer) -> None:
        self._broadcast(layer)
        try:
            levels = int(layer.data["levels"])
        except (KeyError, ValueError):
            raise self._fail(layer, "a FakeQuantize needs an integer levels attribute") from None
        if levels < 2:
            raise self._fail(layer, f"levels={levels} (must be at least 2)")
        il, ih, ol, oh = (self._const_float(self._const_in(layer, k, what), layer, what)
                          .astype(np.float64)
                          for k, what in ((1, "input_low"), (2, "input_high"),
                                          (3, "output_low"), (4, "output_high")))
        x = self._in(layer, 0)
        if x.const is not None:             # e.g. quantized weights: apply it now
            self._set(layer, _Value(const=_fake_quantize_numpy(
                x.const.astype(np.float64), il, ih, ol, oh, levels).astype(np.float32)))
            return
        if self.fq_mode == "drop":
            self._set(layer, _Value(onnx=x.onnx, rank=x.rank))
            return
        # emulate: y = round((clip(x, lo, hi) - il) * (L-1)/(ih-il)) * (oh-ol)/(L-1) + ol
        lo, hi = np.minimum(il, ih), np.maximum(il, ih)
        span = ih - il
        inv = np.divide(levels - 1, span, out=np.zeros(np.broadcast(il, ih).shape), where=span != 0)
        step = (oh - ol) / (levels - 1)
        n = layer.name
        c = lambda a, tag: self.g.const(np.ascontiguousarray(a, np.float32), f"{n}/{tag}")  # noqa: E731
        t = self.g.unique(f"{n}/max")
        self.g.node("Max", [x.onnx, c(lo, "lo")], t, t)
        t2 = self.g.unique(f"{n}/min")
        self.g.node("Min", [t, c(hi, "hi")], t2, t2)
        t3 = self.g.unique(f"{n}/shift")
        self.g.node("Sub", [t2, c(il, "il")], t3, t3)
        t4 = self.g.unique(f"{n}/scale")
        self.g.node("Mul", [t3, c(inv, "inv")], t4, t4)
        q = self.g.unique(f"{n}/round")
        self.g.node("Round", [t4], q, q)
        t5 = self.g.unique(f"{n}/dq")
        self.g.node("Mul", [q, c(step, "step")], t5, t5)
        if np.any(span <= 0):
            # degenerate or inverted ranges: the comparisons of the definition, literally
            t6 = self.g.unique(f"{n}/offset")
            self.g.node("Add", [t5, c(ol, "ol")], t6, t6)
            gt = self.g.unique(f"{n}/above")
            self.g.node("Greater", [x.onnx, c(hi, "hi_cmp")], gt, gt)
            t7 = self.g.unique(f"{n}/high")
            self.g.node("Where", [gt, c(oh, "oh"), t6], t7, t7)
            le = self.g.unique(f"{n}/below")
            self.g.node("LessOrEqual", [x.onnx, c(lo, "lo_cmp")], le, le)
            out = self._emit(layer, "Where", [le, c(ol, "ol_sel"), t7])
        else:
            out = self._emit(layer, "Add", [t5, c(ol, "ol")])
        self._set(layer, _Value(onnx=out, rank=x.rank))

    def _reshape(self, layer: _Layer) -> None:
        x = self._in(layer, 0)
        target = self._const_in(layer, 1, "the target shape").astype(np.int64).ravel()
        if x.const is None:
            raise self._fail(layer, "Reshape of an activation tensor is not supported: its "
                                    "constant target shape is written for the IR's declared "
                                    "input size and would break other input sizes")
        shape = [int(d) for d in target]
        if layer.data.get("special_zero", "false").lower() == "true":
            shape = [x.const.shape[i] if d == 0 else d for i, d in enumerate(shape)]
        try:
            self._set(layer, _Value(const=x.const.reshape(shape)))
        except ValueError as exc:
            raise self._fail(layer, f"cannot reshape {list(x.const.shape)} to {shape}: "
                                    f"{exc}") from None

    def _unary(self, layer: _Layer) -> None:
        x = self._act_in(layer, 0)
        op = {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Elu": "Elu"}[layer.type]
        attrs = {}
        if layer.type == "Elu":
            attrs["alpha"] = float(layer.data.get("alpha", 1.0))
        self._set(layer, _Value(onnx=self._emit(layer, op, [x.onnx], **attrs), rank=x.rank))

    def _clamp(self, layer: _Layer) -> None:
        x = self._act_in(layer, 0)
        try:
            lo, hi = float(layer.data["min"]), float(layer.data["max"])
        except (KeyError, ValueError):
            raise self._fail(layer, "a Clamp needs numeric min and max attributes") from None
        ins = [x.onnx, self.g.const(np.array(lo, np.float32), f"{layer.name}/min"),
               self.g.const(np.array(hi, np.float32), f"{layer.name}/max")]
        self._set(layer, _Value(onnx=self._emit(layer, "Clip", ins), rank=x.rank))

    def _prelu(self, layer: _Layer) -> None:
        x = self._act_in(layer, 0)
        slope = self._const_float(self._const_in(layer, 1, "the slope"), layer, "the slope")
        rank = x.rank or 4
        if slope.ndim == 1 and slope.size > 1 and rank >= 2:
            slope = slope.reshape((slope.size,) + (1,) * (rank - 2))   # OpenVINO: channel axis 1
        s = self.g.const(slope, f"{layer.name}/slope")
        self._set(layer, _Value(onnx=self._emit(layer, "PRelu", [x.onnx, s]), rank=x.rank))

    def _pool(self, layer: _Layer) -> None:
        x = self._act_in(layer, 0)
        w = layer.where()
        kernel = _ints(layer.data.get("kernel"), w, "kernel")
        if not kernel:
            raise self._fail(layer, "a pooling layer needs a kernel attribute")
        attrs = self._conv_attrs(layer, len(kernel), kernel)
        if attrs.pop("same_pad", None):
            raise self._fail(layer, "SAME padding with dilations and strides > 1 is not "
                                    "supported for pooling")
        if layer.type == "AvgPool" or set(attrs["dilations"]) == {1}:
            attrs.pop("dilations")
        if len(layer.outputs) > 1 and self.consumers.get((layer.id, layer.outputs[1].id), 0):
            raise self._fail(layer, "the indices output of MaxPool is not supported")
        rounding = layer.data.get("rounding_type", "floor").lower()
        if rounding not in ("floor", "ceil"):
            raise self._fail(layer, f"rounding_type={rounding!r} is not supported")
        attrs["ceil_mode"] = int(rounding == "ceil")
        if layer.type == "AvgPool":
            exclude = layer.data.get("exclude-pad", "false").lower() == "true"
            attrs["count_include_pad"] = int(not exclude)
            op = "AveragePool"
        else:
            op = "MaxPool"
        out = self._emit(layer, op, [x.onnx], kernel_shape=kernel, **attrs)
        self._set(layer, _Value(onnx=out, rank=x.rank))

    def _concat(self, layer: _Layer) -> None:
        try:
            axis = int(layer.data.get("axis", "1"))
        except ValueError:
            raise self._fail(layer, "axis is not an integer") from None
        vals = [self._in(layer, k) for k in range(len(layer.inputs))]
        if all(v.const is not None for v in vals):
            self._set(layer, _Value(const=np.concatenate([v.const for v in vals], axis=axis)))
            return
        xs = [self._act_in(layer, k) for k in range(len(layer.inputs))]
        out = self._emit(layer, "Concat", [x.onnx for x in xs], axis=axis)
        self._set(layer, _Value(onnx=out, rank=xs[0].rank))

    # -- driver ---------------------------------------------------------------------------

    def convert(self) -> Any:
        handlers: dict[str, Callable[[_Layer], None]] = {
            "Parameter": self._parameter, "Const": self._constant, "Convert": self._convert,
            "Add": self._binary, "Subtract": self._binary, "Multiply": self._binary,
            "Divide": self._binary, "Maximum": self._binary, "Minimum": self._binary,
            "FakeQuantize": self._fake_quantize, "Reshape": self._reshape,
            "Convolution": self._convolution, "GroupConvolution": self._convolution,
            "ReLU": self._unary, "Elu": self._unary, "Sigmoid": self._unary,
            "Clamp": self._clamp, "PReLU": self._prelu, "MaxPool": self._pool,
            "AvgPool": self._pool, "Concat": self._concat, "Result": lambda layer: None,
        }
        order = self._topo()
        # refuse unknown ops before any work (all of them are named at once)
        unknown = [self.layers[lid] for lid in order if self.layers[lid].type not in handlers]
        if unknown:
            listed = "; ".join(f"{lay.type!r} in layer {lay.name!r} (id {lay.id})"
                               for lay in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ConversionError(
                f"{self.xml_path}: unsupported OpenVINO op {listed}{more}; the converter "
                f"supports {', '.join(sorted(handlers))}. Run this model with the OpenVINO "
                "engine instead, or re-export it without that op.")
        results = [lay for lay in self.layers.values() if lay.type == "Result"]  # the IR's order
        out_names = []
        for res in results:
            src = self.sources[(res.id, res.inputs[0].id)]
            port = next(p for p in self.layers[src[0]].outputs if p.id == src[1])
            name = port.names[0] if port.names else re.sub(r"/sink_port_\d+$", "", res.name)
            if name in out_names:
                raise ConversionError(f"{self.xml_path}: two Result layers are named {name!r}")
            out_names.append(name)
        for name in out_names:
            self.g.reserve(name)
        for lid in order:
            layer = self.layers[lid]
            handlers[layer.type](layer)
        if not self.inputs:
            raise ConversionError(f"{self.xml_path}: the Results do not depend on any Parameter")
        out_infos = []
        for res, name in zip(results, out_names):
            v = self._in(res, 0)
            if v.onnx is None:
                raise ConversionError(f"{self.xml_path}: {res.where()} is a constant")
            self.g.node("Identity", [v.onnx], name, f"{name}/output")
            dims = res.inputs[0].dims
            if v.rank == 4:
                shape: list[int | str | None] = ["N", dims[1] if len(dims) == 4 and dims[1] > 0
                                                 else None, "H_out", "W_out"]
            else:
                shape = [None] * (v.rank or 0)
            out_infos.append(value_info(name, shape))
        model = self.g.model(
            self.xml_path.stem, self.inputs, out_infos, "posefast.convert_openvino",
            f"Converted by posefast from OpenVINO IR {self.xml_path.name} "
            f"(fake_quantize={self.fq_mode}); input N, H, W dynamic.")
        return drop_output_identities(model)


def _fake_quantize_numpy(x: np.ndarray, il: np.ndarray, ih: np.ndarray, ol: np.ndarray,
                         oh: np.ndarray, levels: int) -> np.ndarray:
    """OpenVINO's FakeQuantize definition (opset1), on constants."""
    lo, hi = np.minimum(il, ih), np.maximum(il, ih)
    span = ih - il
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.round((x - il) / np.where(span == 0, 1, span) * (levels - 1))
    mid = q / (levels - 1) * (oh - ol) + ol
    return np.where(x <= lo, ol, np.where(x > hi, oh, mid))


def convert_openvino(xml: str | os.PathLike[str], output: str | os.PathLike[str], *,
                     bin_path: str | os.PathLike[str] | None = None,
                     fake_quantize: str = "drop") -> Path:
    """Convert an OpenVINO IR (v10 or v11) to an opset-13 ONNX model.

    Parameters
    ----------
    xml : str or Path
        The IR's ``.xml`` (e.g. ``human-pose-estimation-0001.xml``).
    output : str or Path
        Where to write the ``.onnx`` file (written to a temporary file in the same folder and
        renamed at the end; a failed conversion leaves nothing behind).
    bin_path : str or Path, optional
        The IR's weights.  Default: the ``.bin`` beside ``xml`` with the same stem.
    fake_quantize : {"drop", "emulate"}
        What to do with activation ``FakeQuantize`` layers (int8 IRs).  ``"drop"`` removes
        them: a plain float model.  ``"emulate"`` keeps their arithmetic in float ONNX ops
        (clip to ``[input_low, input_high]``, round to one of ``levels`` steps, map to
        ``[output_low, output_high]``), so the model behaves like the int8 one.
        ``FakeQuantize`` on constants (quantized weights) is always applied.

    Returns
    -------
    Path
        ``output``.  For ``human-pose-estimation-0001`` the model takes ``data`` float32
        ``[N, 3, H, W]`` (BGR, raw 0..255: the IR's own ``(x - 128) / 255`` is kept) and gives
        ``Mconv7_stage2_L1`` (PAFs) float32 ``[N, 38, H/8, W/8]`` and ``Mconv7_stage2_L2``
        (heatmaps) float32 ``[N, 19, H/8, W/8]``, in the IR's Result order.

    Raises
    ------
    FileNotFoundError
        ``xml``, its ``.bin`` (the message names the path looked for) or the output folder
        does not exist.
    ConversionError
        The XML is not an IR, its version is not 10 or 11, the ``.bin`` is too short for a
        constant, an edge is dangling, or a layer on the path to the outputs has an op type
        (named with the layer name and id) or attributes the converter does not support.
    """
    if fake_quantize not in FAKE_QUANTIZE_MODES:
        raise ValueError(f"fake_quantize must be one of {FAKE_QUANTIZE_MODES}, not "
                         f"{fake_quantize!r}")
    xml_path = Path(xml)
    if not xml_path.is_file():
        raise FileNotFoundError(f"OpenVINO IR .xml not found: {xml_path}")
    bin_p = Path(bin_path) if bin_path is not None else xml_path.with_suffix(".bin")
    if not bin_p.is_file():
        hint = ("pass bin_path= (or give the .bin explicitly)" if bin_path is None
                else "check the path")
        raise FileNotFoundError(
            f"OpenVINO IR weights not found: expected {bin_p} for {xml_path.name}; an IR is "
            f"two files: put the .bin beside the .xml with the same name, or {hint}")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise ConversionError(f"{xml_path}: not an OpenVINO IR: the XML does not parse ({exc})"
                              ) from exc
    if root.tag != "net":
        raise ConversionError(f"{xml_path}: not an OpenVINO IR (the root element is "
                              f"<{root.tag}>, not <net>)")
    version = root.get("version", "")
    if not version.isdigit() or int(version) not in IR_VERSIONS:
        raise ConversionError(
            f"{xml_path}: unsupported IR version {version or '(none)'!r}: posefast reads IR "
            f"v{' and v'.join(map(str, IR_VERSIONS))}; convert it with a recent OpenVINO "
            "(openvino.save_model or ovc) first")
    weights = bin_p.read_bytes()
    conv = _IRConverter(xml_path, bin_p, root, weights, fake_quantize)
    model = conv.convert()
    log.info("converted %s (fake_quantize=%s): %d IR layers -> %d ONNX nodes", xml_path.name,
             fake_quantize, len(conv.layers), len(model.graph.node))
    return write_model(model, output)
