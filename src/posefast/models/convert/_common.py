"""Pieces shared by the converters: the error type, the dependency order of a source graph,
an ONNX graph builder and the write-to-temp-then-rename output step."""

from __future__ import annotations

import graphlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger("posefast.models.convert")

#: ONNX opset and IR version of the written models (the same as the shared ``model.onnx``).
OPSET = 13
IR_VERSION = 7


class ConversionError(ValueError):
    """A model file cannot be converted: unsupported layer/op, bad weights or a malformed file.

    The message names what is wrong (layer or op type, its name) and the file.  When it is
    raised, nothing has been written to the output path.
    """


def dependency_order(roots: Iterable[Hashable], inputs_of: Callable[[Any], Iterable[Hashable]],
                     cycle_error: Callable[[Any], ConversionError]) -> list:
    """The nodes the roots depend on (roots included), each after all of its inputs.

    ``inputs_of(node)`` names a node's inputs (raising ConversionError for one that does not
    exist); ``cycle_error(node)`` is the error for a cycle through ``node``.  Nodes that no
    root needs are left out.
    """
    graph: dict[Any, list] = {}
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in graph:
            continue
        graph[node] = list(inputs_of(node))
        todo.extend(d for d in graph[node] if d not in graph)
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise cycle_error(exc.args[1][0]) from None


def read_bytes(path: str | os.PathLike[str], what: str) -> tuple[Path, bytes]:
    """Read a whole input file, with a clear error when it is missing or not a file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if not p.is_file():
        raise ConversionError(f"{what} is not a regular file: {p}")
    return p, p.read_bytes()


class GraphBuilder:
    """Collects ONNX nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}
        self._used: set[str] = set()

    def reserve(self, name: str) -> str:
        """Mark ``name`` as taken and return it (it must not be taken yet)."""
        if name in self._used:
            raise AssertionError(f"internal error: ONNX name {name!r} used twice")
        self._used.add(name)
        return name

    def unique(self, base: str) -> str:
        """Return a fresh tensor name derived from ``base`` and reserve it."""
        name, k = base, 1
        while name in self._used:
            name = f"{base}_{k}"
            k += 1
        self._used.add(name)
        return name

    def const(self, array: np.ndarray, base: str) -> str:
        """Add an initializer and return its name."""
        name = self.unique(base)
        self.initializers[name] = np.asarray(array)
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | str,
             name: str, **attrs: Any) -> list[str]:
        """Append a node whose output names are already reserved; return them."""
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs

    def model(self, graph_name: str, inputs: Iterable[onnx.ValueInfoProto],
              outputs: Iterable[onnx.ValueInfoProto], producer: str, doc: str) -> onnx.ModelProto:
        """Assemble, check and return the model (only initializers that are used are kept)."""
        used = {i for n in self.nodes for i in n.input}
        inits = [numpy_helper.from_array(a, n) for n, a in self.initializers.items() if n in used]
        graph = helper.make_graph(self.nodes, graph_name, list(inputs), list(outputs),
                                  initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=producer, doc_string=doc)
        model.ir_version = IR_VERSION
        try:
            onnx.checker.check_model(model, full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise ConversionError(f"the converted graph does not validate: {exc}") from exc
        return model


def value_info(name: str, dims: Sequence[int | str | None]) -> onnx.ValueInfoProto:
    """A float32 value info; a str dim is symbolic, None is unknown."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def drop_output_identities(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rename the tensor feeding each output Identity to the output's name and drop it."""
    g = model.graph
    outs = {o.name for o in g.output}
    graph_inputs = {i.name for i in g.input}
    for ident in [n for n in g.node if n.op_type == "Identity" and n.output[0] in outs]:
        src, dst = ident.input[0], ident.output[0]
        readers = [n for n in g.node if src in n.input and n is not ident]
        if src in graph_inputs or src in outs or readers:
            continue
        for n in g.node:
            n.output[:] = [dst if o == src else o for o in n.output]
        g.node.remove(ident)
    return model


def write_model(model: onnx.ModelProto, output: str | os.PathLike[str]) -> Path:
    """Write ``model`` atomically: to a temporary file beside ``output``, then ``os.replace``."""
    out = Path(output)
    if not out.parent.exists():
        raise FileNotFoundError(f"output folder does not exist: {out.parent}")
    data = model.SerializeToString()
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    # os.open with mode 0o666 honours the umask, unlike tempfile.mkstemp (always 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    log.info("wrote %s (%d nodes, %d bytes)", out, len(model.graph.node), len(data))
    return out
