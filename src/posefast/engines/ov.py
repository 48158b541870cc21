"""OpenVINO engine (CPU): IR (``.xml`` + ``.bin``) or ONNX, explicit precision.

Settings, each passed explicitly to ``compile_model`` and reported by
:meth:`OpenVINOEngine.describe`:

``INFERENCE_PRECISION_HINT``
    Always set: ``f32`` for ``precision="fp32"`` and ``"int8"`` (an INT8 IR's
    quantised layers run in int8 through its FakeQuantize ops; everything else in
    f32), ``bf16`` for ``precision="bf16"``.  OpenVINO's CPU plugin would
    otherwise pick bf16 by itself on CPUs with AMX, changing the results
    silently.  bf16 is refused on CPUs whose ``OPTIMIZATION_CAPABILITIES`` lack
    ``BF16``.
``NUM_STREAMS`` = 1, ``PERFORMANCE_HINT`` = ``LATENCY``
    One stream: posefast runs one batch at a time per call and overlaps the
    other pipeline stages in its own threads.
``INFERENCE_NUM_THREADS``
    ``threads`` (0 / None: OpenVINO's default, all cores).
``ENABLE_CPU_PINNING`` = False (``pinning=False``)
    The CPU plugin has no busy-wait switch like ONNX Runtime's
    ``allow_spinning``; the setting that decides whether inference threads
    compete well with the reader / decoder / writer threads of a video pipeline
    is pinning.  Pinned inference threads hold their cores; unpinned they share
    them with the rest of the pipeline.  ``pinning=True`` restores OpenVINO's own
    choice.  Measured on the shared 2-core CI-class VM (heavily loaded, so only
    the ratio means anything), a 368x656 int8 forward pass with a competing NumPy
    thread, 4 interleaved rounds of 3 calls: median 3.55 s unpinned, 4.01 s
    pinned.  ``Estimator(engine_options={"pinning": True})`` measures it again.

Precision and FakeQuantize
--------------------------
An INT8 IR carries FakeQuantize ops on activations.  ``precision="int8"`` keeps
them (OpenVINO then runs int8 kernels); ``"fp32"`` / ``"bf16"`` on such a model
remove them (``drop_fake_quantize``, on by default for float precisions) so the
network runs as the float model its int8 weights were decompressed from: the
same arithmetic posefast's IR -> ONNX converter produces with
``fake_quantize="drop"``.  ``"int8"`` on a model without FakeQuantize is an error.

Input sizes
-----------
The model is compiled for each input shape it sees (reshaped to that static
shape), and the compiled models are kept in a small LRU cache (``cache_size``, 8
by default: room for the 3 scales of the accurate preset at a few image sizes).
The frames of one video compile once per scale; a folder of photos of a few
sizes compiles a few times (about 1-2 s each on 2 cores).  Static shapes let the
CPU plugin pick its kernels for the exact size; a single dynamic-shape compile
was not measured against it.

Threads
-------
The engine is thread-safe: each :meth:`~OpenVINOEngine.run` takes an idle infer
request of the compiled model from a pool (creating one when all are busy) and
gives it back afterwards, so several threads may run at once.  Compiling and the
cache are guarded by one lock.  Each engine owns its ``openvino.Core``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from . import check_input, check_threads, missing_engine_error, model_path

__all__ = ["OpenVINOEngine", "bf16_supported", "import_openvino"]

log = logging.getLogger(__name__)

_HINTS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}


def import_openvino():
    """Import openvino, or raise an ImportError naming the extra to install."""
    try:
        import openvino
    except ImportError as exc:
        raise missing_engine_error("openvino") from exc
    return openvino


def bf16_supported(core: Any) -> bool:
    """Whether this CPU runs bf16 natively (``BF16`` in the CPU plugin's ``OPTIMIZATION_CAPABILITIES``)."""
    try:
        return "BF16" in [str(c).upper() for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    except Exception:  # noqa: BLE001 - a plugin that cannot say does not support it
        return False


def _ir_pair(path: Path) -> tuple[Path, Optional[Path]]:
    if path.suffix.lower() == ".bin":
        raise ValueError(f"{path} is the weights file of an OpenVINO IR; pass the .xml file beside it")
    if path.suffix.lower() != ".xml":
        return path, None
    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise FileNotFoundError(f"OpenVINO IR {path.name} needs its weights file {weights.name} beside it "
                                f"(in {path.parent}); copy or download the .bin too")
    if weights.stat().st_size == 0:
        raise ValueError(f"OpenVINO IR weights {weights} are empty; download the model again")
    return path, weights


def _reason(exc: BaseException) -> str:
    """The informative line of an OpenVINO exception (its first lines are source locations)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '"))]
    return (useful or lines or [type(exc).__name__])[-1]


def _dims(partial_shape) -> list:
    return [d.get_length() if d.is_static else -1 for d in partial_shape]


class OpenVINOEngine:
    """The OpenVINO engine (CPU only).

    Parameters
    ----------
    path : path
        An OpenVINO IR ``.xml`` (its ``.bin`` beside it) or an ``.onnx`` file.
    device : str
        ``"cpu"`` (``"auto"`` means cpu; ``"cuda"`` is refused: use ONNX Runtime).
    precision : str
        ``"fp32"``, ``"bf16"`` or ``"int8"`` (see the module docstring).
    threads : int, optional
        ``INFERENCE_NUM_THREADS`` (None / 0: OpenVINO's default).
    streams : int
        ``NUM_STREAMS`` (default 1).
    pinning : bool
        ``ENABLE_CPU_PINNING`` (default False).
    drop_fake_quantize : bool, optional
        Remove FakeQuantize ops before compiling.  Default: True for fp32/bf16,
        False for int8 (True with int8 is an error).
    cache_size : int
        Compiled input shapes kept (LRU, default 8).

    Attributes
    ----------
    name, path, device, precision, input_name, input_shape, nhwc, output_names, output_shapes
        As in :class:`posefast.engines.Engine`.
    quantized : bool
        Whether the model file has FakeQuantize ops (an INT8 model).
    """

    def __init__(self, path: Union[str, os.PathLike], device: str = "cpu", precision: str = "fp32",
                 threads: Optional[int] = None, streams: int = 1, pinning: bool = False,
                 drop_fake_quantize: Optional[bool] = None, cache_size: int = 8) -> None:
        ov = import_openvino()
        d = str(device).strip().lower() if isinstance(device, str) else device
        if d not in ("cpu", "auto"):
            raise ValueError(f"engine 'openvino' runs on the CPU only, not device={device!r}; use device='cpu', "
                             "or engine='onnxruntime' for CUDA")
        if precision not in _HINTS:
            raise ValueError(f"engine 'openvino' runs fp32, bf16 or int8, not {precision!r} (fp16 is for CUDA "
                             "with ONNX Runtime)")
        threads = check_threads(threads, "threads")
        if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
            raise ValueError(f"streams must be an int >= 1, got {streams!r}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be an int >= 1, got {cache_size!r}")
        self.name = "openvino"
        self.device = "cpu"
        self.precision = precision
        self.path = model_path(path, (".xml", ".onnx"))
        xml, weights = _ir_pair(self.path)
        self._core = ov.Core()
        if precision == "bf16" and not bf16_supported(self._core):
            caps = ", ".join(map(str, self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))
            raise ValueError(f"precision 'bf16' needs a CPU with native bf16 (AVX512-BF16 or AMX); this CPU "
                             f"({self._core.get_property('CPU', 'FULL_DEVICE_NAME')}) offers {caps}. "
                             "Use precision='fp32' (or 'int8' for a model with an int8 form)")
        try:
            model = self._core.read_model(str(xml), str(weights)) if weights else self._core.read_model(str(xml))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            msg = _reason(exc)
            raise ValueError(f"OpenVINO could not read {self.path} ({msg[:300]}): the file is not an OpenVINO "
                             "IR or ONNX model, or it (or its .bin) is truncated or corrupt; download or "
                             "convert it again") from exc
        fq = [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
        self.quantized = bool(fq)
        if drop_fake_quantize is None:
            drop_fake_quantize = precision != "int8"
        if precision == "int8":
            if drop_fake_quantize:
                raise ValueError("precision 'int8' needs the model's FakeQuantize ops; do not drop them")
            if not fq:
                raise ValueError(f"{self.path.name} has no int8 form (no FakeQuantize ops): use precision='fp32', "
                                 "or an INT8 IR (e.g. human-pose-estimation-0001 FP16-INT8)")
        if drop_fake_quantize and fq:
            for op in fq:
                op.output(0).replace(op.input_value(0))
            log.info("%s: removed %d FakeQuantize ops to run the float model in %s", self.path.name, len(fq),
                     precision)
        self._dropped = len(fq) if drop_fake_quantize else 0
        if len(model.inputs) != 1:
            raise ValueError(f"{self.path.name} has {len(model.inputs)} inputs; posefast runs models with a single "
                             "image input [N, 3, H, W]")
        inp = model.inputs[0]
        self.input_name = inp.get_any_name()
        self.input_shape = _dims(inp.get_partial_shape())
        if len(self.input_shape) != 4:
            raise ValueError(f"{self.path.name} input {self.input_name!r} has shape {self.input_shape}; "
                             "expected an image batch [N, 3, H, W]")
        self.nhwc = self.input_shape[1] != 3 and self.input_shape[3] == 3
        self.output_names = [o.get_any_name() for o in model.outputs]
        self.output_shapes = [_dims(o.get_partial_shape()) for o in model.outputs]
        self._model = model
        self._config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "NUM_STREAMS": str(streams),
            "PERFORMANCE_HINT": "LATENCY",
            "ENABLE_CPU_PINNING": bool(pinning),
        }
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = threads
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._compiled: OrderedDict[tuple, tuple[Any, list]] = OrderedDict()
        self._effective: dict[str, Any] = {}
        log.info("engine: %s", self.describe())

    # -- compiling ----------------------------------------------------------------

    def _compiled_for(self, shape: tuple[int, ...]):
        with self._lock:
            hit = self._compiled.get(shape)
            if hit is not None:
                self._compiled.move_to_end(shape)
                return hit
            self._model.reshape({self._model.inputs[0]: list(shape)})
            try:
                compiled = self._core.compile_model(self._model, "CPU", self._config)
            except Exception as exc:  # noqa: BLE001
                raise RuntimeError(f"OpenVINO could not compile {self.path.name} for input {list(shape)}: "
                                   f"{_reason(exc)}") from exc
            hint = compiled.get_property("INFERENCE_PRECISION_HINT")
            got = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
            if "bf16" in got.lower() and self.precision != "bf16":  # the hint is explicit; never silently bf16
                raise RuntimeError(f"OpenVINO compiled {self.path.name} in {got} although {self.precision} was asked")
            if not self._effective:
                self._effective = {
                    "inference_precision": got,
                    "inference_num_threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                    "num_streams": int(compiled.get_property("NUM_STREAMS")),
                    "cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING")),
                }
                log.info("openvino compiled %s: %s", self.path.name, self._effective)
            entry = (compiled, [])
            self._compiled[shape] = entry
            while len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
            log.debug("openvino: compiled %s for %s (%d shapes cached)", self.path.name, shape, len(self._compiled))
            return entry

    # -- running ------------------------------------------------------------------

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the network on one batch.

        Parameters
        ----------
        x : float32 [N, 3, H, W]

        Returns
        -------
        list of float32 arrays, one per output, in :attr:`output_names` order
        (fresh arrays, owned by the caller).
        """
        x = check_input(x)
        if self.nhwc:
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        compiled, idle = self._compiled_for(tuple(int(v) for v in x.shape))
        with self._lock:
            request = idle.pop() if idle else None
        if request is None:
            request = compiled.create_infer_request()
        try:
            request.infer({0: x}, share_inputs=True)  # x is ours (contiguous float32): no copy
            outs = [np.array(request.get_output_tensor(i).data, dtype=np.float32, copy=True)
                    for i in range(len(self.output_names))]
        finally:
            with self._lock:
                idle.append(request)
        return outs

    def describe(self) -> dict[str, Any]:
        """Engine, device, precision and the compile settings (effective values once compiled)."""
        d: dict[str, Any] = {"engine": self.name, "device": self.device, "precision": self.precision,
                             "model": str(self.path), "quantized": self.quantized,
                             "fake_quantize_dropped": self._dropped}
        d.update({k.lower(): v for k, v in self._config.items()})
        d["inference_num_threads"] = self._config.get("INFERENCE_NUM_THREADS", "default")
        with self._lock:
            d.update(self._effective)
            d["compiled_shapes"] = [list(s) for s in self._compiled]
        return d
