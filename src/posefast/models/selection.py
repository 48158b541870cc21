"""Which engine, precision and model file an :class:`~posefast.Estimator` uses.

Everything here runs before any work (no model is compiled or converted until
:func:`choose` has accepted the request), so bad requests fail fast:

* unknown engine / precision: ValueError listing the choices;
* an engine that is not installed: ImportError naming the extra;
* int8 for a model without an int8 form, bf16 on a CPU without bf16, fp16
  anywhere but CUDA, OpenVINO on CUDA: ValueError saying what to use instead.

``engine="auto"`` on the CPU takes OpenVINO when it is installed (faster on
these networks, and the only engine with int8 and bf16), else ONNX Runtime; on
CUDA (or ``device="auto"`` with ONNX Runtime's CUDA provider available) it takes
ONNX Runtime.  ``precision="auto"`` is int8 when the engine is OpenVINO and the
model has an int8 form, else fp32; bf16 is only used when asked for.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..engines import check_engine, check_precision, installed_engines, missing_engine_error
from .registry import ModelSpec

__all__ = ["Choice", "choose", "model_file"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """A resolved request: engine, device to ask it for, precision, and why."""

    engine: str
    device: str
    precision: str
    note: str = ""


def _device_kind(device: str) -> str:
    from ..engines.ort import _parse_device

    return _parse_device(device)[0]


def _ort_has_cuda() -> bool:
    if not installed_engines()["onnxruntime"]:
        return False
    from ..engines.ort import CUDA_EP, import_onnxruntime

    return CUDA_EP in import_onnxruntime().get_available_providers()


def _offers(spec: Optional[ModelSpec], path: Optional[Path]) -> tuple[str, ...]:
    if spec is not None:
        return spec.precisions
    if path is not None and path.suffix.lower() == ".xml":
        return ("fp32", "bf16", "int8")  # int8 is checked against the file's FakeQuantize ops at load
    return ("fp32", "bf16")


def choose(spec: Optional[ModelSpec], path: Optional[Path], *, engine: str, precision: str, device: str,
           soft_engine: bool = False, soft_precision: bool = False) -> Choice:
    """Resolve ``engine`` / ``precision`` / ``device`` for a model.

    Parameters
    ----------
    spec, path
        The registry entry (or None for a file given by path) and the path (or None).
    engine, precision, device
        As given (``"auto"`` allowed).
    soft_engine, soft_precision
        They come from a preset, not from the caller: a missing OpenVINO then falls
        back to ONNX Runtime fp32 with a warning instead of an ImportError.
    """
    engine = check_engine(engine)
    precision = check_precision(precision)
    kind = _device_kind(device)
    installed = installed_engines()
    name = spec.name if spec is not None else (path.name if path is not None else "model")
    offers = _offers(spec, path)
    note = ""

    if precision == "fp16" and kind != "cuda":
        raise ValueError("precision 'fp16' runs only on CUDA (device='cuda' with ONNX Runtime); on the CPU use "
                         "'fp32', 'int8' or 'bf16'")
    if precision != "auto" and precision not in offers:
        hint = " (int8 is an OpenVINO INT8 IR, e.g. model='human-pose-estimation-0001')" if precision == "int8" else ""
        raise ValueError(f"model {name!r} has no {precision} form; it offers {', '.join(offers)}{hint}")

    if engine == "openvino" and not soft_engine and kind == "cuda":
        raise ValueError("engine 'openvino' runs on the CPU here; use device='cpu', or engine='onnxruntime' for CUDA")
    if engine == "auto" or (engine == "openvino" and soft_engine):
        wants_ov = precision in ("int8", "bf16") and not soft_precision
        if kind == "cuda" or (kind == "auto" and not wants_ov and _ort_has_cuda()):
            if soft_engine and engine == "openvino":
                note = "CUDA: the preset's OpenVINO engine replaced by ONNX Runtime"
            engine, kind = "onnxruntime", "cuda"
        elif installed["openvino"]:
            engine, kind = "openvino", "cpu"
        elif wants_ov and not soft_precision:
            raise missing_engine_error("openvino")
        else:
            if soft_engine:
                note = ("openvino is not installed: running the preset's model on ONNX Runtime in fp32 "
                        "(pip install posefast[openvino] for its int8 speed)")
            engine = "onnxruntime"
        log.info("engine='auto' chose %s on %s for %s%s", engine, kind, name, f" ({note})" if note else "")
    if not installed[engine]:
        raise missing_engine_error(engine)
    if engine == "openvino" and kind == "auto":
        kind = "cpu"

    if precision == "auto" or (soft_precision and engine == "onnxruntime"):
        if engine == "openvino" and "int8" in offers and spec is not None:
            precision = "int8"
        else:
            precision = "fp32"
    if engine == "onnxruntime" and precision in ("int8", "bf16"):
        raise ValueError(f"precision {precision!r} runs on OpenVINO only (engine='openvino', "
                         "pip install posefast[openvino]); ONNX Runtime runs fp32")
    if engine == "onnxruntime" and precision == "fp16":
        raise ValueError("precision 'fp16' on CUDA needs an fp16 ONNX model, which posefast does not make yet; "
                         "use precision='fp32' on CUDA")
    if precision == "bf16":
        from ..engines.ov import bf16_supported, import_openvino

        core = import_openvino().Core()
        if not bf16_supported(core):
            caps = ", ".join(map(str, core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))
            raise ValueError(f"precision 'bf16' needs a CPU with native bf16 (AVX512-BF16 or AMX); this CPU "
                             f"({core.get_property('CPU', 'FULL_DEVICE_NAME')}) offers {caps}. Use "
                             "precision='fp32' (or 'int8' where the model has it)")
    if note:
        log.warning("%s", note)
    return Choice(engine, kind if engine == "openvino" else device if kind == "auto" else _keep_index(device, kind),
                  precision, note)


def _keep_index(device: str, kind: str) -> str:
    """``"cuda:1"`` stays ``"cuda:1"``; otherwise the resolved kind."""
    d = device.strip().lower()
    return d if kind == "cuda" and d.startswith("cuda:") else kind


def model_file(spec: ModelSpec, choice: Choice, cache_dir: Union[str, os.PathLike, None] = None) -> Path:
    """The file ``choice.engine`` loads for a registry model (found, converted or downloaded).

    OpenVINO: int8 -> the INT8 IR; fp32/bf16 -> the FP32 IR, else FP16, else the
    INT8 IR with its FakeQuantize ops dropped (for an IR model), or the float ONNX
    (other formats).  ONNX Runtime: the float ONNX (an IR converted on first use).
    """
    from .fetch import locate_ir, locate_onnx

    if choice.engine == "openvino" and spec.format == "openvino":
        if choice.precision == "int8":
            return locate_ir(spec, spec.int8_variants(), cache_dir=cache_dir)
        return locate_ir(spec, spec.float_variants() + spec.int8_variants(), cache_dir=cache_dir)
    return locate_onnx(spec, cache_dir=cache_dir)
