"""Inference engines: one module per runtime, behind one small protocol.

An engine loads one model file and runs float32 image batches ``[N, 3, H, W]``
through it.  Models, preprocessing and decoding (``posefast.models``) talk to
engines only through :class:`Engine`; nothing above this package imports a
runtime.

========================  ==============================  ====================
engine                    module                          extra
========================  ==============================  ====================
``"onnxruntime"``         :mod:`posefast.engines.ort`     ``cpu`` / ``cuda``
``"openvino"``            :mod:`posefast.engines.ov`      ``openvino``
========================  ==============================  ====================

Importing this package imports no runtime; :func:`open_engine` imports the one
asked for.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Optional, Protocol, Union, runtime_checkable

import numpy as np

__all__ = [
    "ENGINES",
    "EXTRAS",
    "PRECISIONS",
    "Engine",
    "check_engine",
    "check_precision",
    "installed_engines",
    "open_engine",
]

log = logging.getLogger(__name__)

ENGINES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8", "fp16")
#: pip extra that installs each engine's runtime
EXTRAS = {"onnxruntime": "cpu", "openvino": "openvino"}
_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


@runtime_checkable
class Engine(Protocol):
    """What every engine offers.

    Attributes
    ----------
    name : str
        ``"onnxruntime"`` or ``"openvino"``.
    path : Path
        The model file loaded.
    device : str
        ``"cpu"`` or ``"cuda"``: what the network really runs on.
    precision : str
        ``"fp32"``, ``"bf16"``, ``"int8"`` or ``"fp16"``: the arithmetic it runs in.
    input_name : str
    input_shape : list
        Declared input shape (ints, or names / -1 for dynamic axes).
    nhwc : bool
        Whether the model's input is ``[N, H, W, 3]`` (``run`` transposes for you).
    output_names : list of str
    output_shapes : list of list
    """

    name: str
    path: Path
    device: str
    precision: str
    input_name: str
    input_shape: list
    nhwc: bool
    output_names: list
    output_shapes: list

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """float32 [N, 3, H, W] -> one float32 array per output (as the model lays them out)."""
        ...

    def describe(self) -> dict[str, Any]:
        """The runtime settings actually in effect (a fresh JSON-ready dict)."""
        ...


def installed_engines() -> dict[str, bool]:
    """Which engines' runtimes are installed (found, not imported)."""
    out = {}
    for name in ENGINES:
        try:
            out[name] = importlib.util.find_spec(_PACKAGES[name]) is not None
        except (ImportError, ValueError):
            out[name] = False
    return out


def check_engine(engine: str, allow_auto: bool = True) -> str:
    """Normalise an engine name; ValueError listing the choices otherwise."""
    choices = (("auto",) if allow_auto else ()) + ENGINES
    if not isinstance(engine, str) or engine.strip().lower() not in choices:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(choices)}")
    return engine.strip().lower()


def check_precision(precision: str, allow_auto: bool = True) -> str:
    """Normalise a precision name; ValueError listing the choices otherwise."""
    choices = (("auto",) if allow_auto else ()) + PRECISIONS
    if not isinstance(precision, str) or precision.strip().lower() not in choices:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(choices)}")
    return precision.strip().lower()


def missing_engine_error(engine: str) -> ImportError:
    """The ImportError for an engine whose runtime is not installed."""
    if engine == "onnxruntime":
        return ImportError("engine 'onnxruntime' needs ONNX Runtime: pip install posefast[cpu] (onnxruntime) or, "
                           "for NVIDIA GPUs, pip install posefast[cuda] (onnxruntime-gpu)")
    return ImportError(f"engine {engine!r} needs the {_PACKAGES[engine]} package: "
                       f"pip install posefast[{EXTRAS[engine]}]")


def open_engine(engine: str, path: Union[str, os.PathLike], *, device: str = "cpu", precision: str = "fp32",
                threads: Optional[int] = None, **options: Any) -> Engine:
    """Load ``path`` into the named engine.

    Parameters
    ----------
    engine : str
        ``"onnxruntime"`` or ``"openvino"`` (resolve ``"auto"`` before).
    path : path
        The model file: ``.onnx`` (both engines) or an OpenVINO IR ``.xml`` with
        its ``.bin`` beside it (OpenVINO).
    device : str
        ONNX Runtime: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``; OpenVINO: ``"cpu"``.
    precision : str
        One of :data:`PRECISIONS` (what the engine supports; see each module).
    threads : int, optional
        Compute threads (None: the runtime's default).
    **options
        Engine-specific (``inter_threads``, ``spin`` for ONNX Runtime;
        ``streams``, ``pinning``, ``drop_fake_quantize``, ``cache_size`` for OpenVINO).
    """
    engine = check_engine(engine, allow_auto=False)
    if not installed_engines()[engine]:
        raise missing_engine_error(engine)
    if engine == "onnxruntime":
        from .ort import OrtEngine

        return OrtEngine(path, device=device, precision=precision, threads=threads, **options)
    from .ov import OpenVINOEngine

    return OpenVINOEngine(path, device=device, precision=precision, threads=threads, **options)


def check_input(x: Any) -> np.ndarray:
    """Validate a network input batch; returns it as contiguous float32 (a copy only if needed)."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"network input must be a float32 array [N, 3, H, W], got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    return np.ascontiguousarray(x, dtype=np.float32)


def check_threads(value: Any, what: str) -> Optional[int]:
    """``None`` or an int >= 0 (0 means the runtime's default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be None (the runtime's default) or an int >= 0 (0 = default), got {value!r}")
    return int(value)


def model_path(path: Union[str, os.PathLike], suffixes: tuple[str, ...]) -> Path:
    """A model file that exists and is not empty (a folder holding ``model.onnx`` is accepted)."""
    p = Path(path).expanduser()
    if p.is_dir():
        inner = p / "model.onnx"
        if inner.is_file():
            return inner
        raise ValueError(f"{p} is a directory, not a model file; pass the {' or '.join(suffixes)} file itself "
                         "(a model folder must hold model.onnx)")
    if not p.exists():
        raise FileNotFoundError(f"model file {p} not found; check the path, or use a registry name "
                                "(`posefast models list`)")
    if p.stat().st_size == 0:
        raise ValueError(f"model file {p} is empty; delete it and fetch or convert the model again")
    return p
