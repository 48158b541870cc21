"""ONNX Runtime engine: provider choice, threads, I/O binding.

* ``device="cpu"`` uses the CPU execution provider.
* ``device="cuda"`` (or ``"cuda:1"``) requires ONNX Runtime's CUDA execution
  provider (``pip install posefast[cuda]``, i.e. ``onnxruntime-gpu``) and raises
  an ImportError saying so when it is missing.
* ``device="auto"`` takes CUDA when the provider is available, else CPU, and logs
  the choice.

When CUDA was asked for but the session silently runs on CPU (the CUDA libraries
failed to load), a warning is logged and :attr:`OrtEngine.device` says ``"cpu"``.
On CUDA, inputs are bound from host memory and outputs are bound on the device
and copied back once (``session.io_binding()``), one call per batch.

Precision: ONNX Runtime runs the float model as it is stored, ``"fp32"``; int8
and bf16 run on OpenVINO (:mod:`posefast.engines.ov`).  ONNX Runtime sessions are
thread-safe: :meth:`OrtEngine.run` may be called from several threads at once.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from . import check_input, check_threads, model_path

__all__ = ["CPU_EP", "CUDA_EP", "OrtEngine", "import_onnxruntime", "resolve_providers"]

log = logging.getLogger(__name__)

CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"


def import_onnxruntime():
    """Import onnxruntime, or raise an ImportError naming the package to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("posefast needs ONNX Runtime to run networks: pip install posefast[cpu] "
                          "(onnxruntime) or, for NVIDIA GPUs, pip install posefast[cuda] (onnxruntime-gpu)") from exc
    return onnxruntime


def _parse_device(device: str) -> tuple[str, int]:
    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'cpu' or 'cuda' (optionally 'cuda:N'), not {type(device).__name__}")
    d = device.strip().lower()
    if d in ("auto", "cpu", "cuda", "gpu"):
        return ("cuda" if d == "gpu" else d), 0
    if d.startswith("cuda:"):
        idx = d[5:]
        if idx.isdigit():
            return "cuda", int(idx)
    raise ValueError(f"unknown device {device!r}; choose 'auto', 'cpu', 'cuda' or 'cuda:N'")


def resolve_providers(device: str, available: list[str]) -> tuple[str, list]:
    """Which execution providers to ask for.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    available : list of str
        ``onnxruntime.get_available_providers()``.

    Returns
    -------
    device : str
        ``"cpu"`` or ``"cuda"``.
    providers : list
        For ``InferenceSession(providers=...)``.
    """
    kind, idx = _parse_device(device)
    has_cuda = CUDA_EP in available
    if kind == "cuda" and not has_cuda:
        raise ImportError(f"device={device!r} needs ONNX Runtime's CUDA execution provider, but this "
                          f"onnxruntime offers only {', '.join(available) or 'none'}. Install the GPU build: "
                          "pip uninstall onnxruntime && pip install posefast[cuda] (onnxruntime-gpu, with "
                          "matching CUDA/cuDNN libraries), or use device='cpu'")
    if kind == "auto":
        kind = "cuda" if has_cuda else "cpu"
        log.info("device='auto' chose %s (available providers: %s)", kind, ", ".join(available))
    if kind == "cuda":
        return "cuda", [(CUDA_EP, {"device_id": idx}), CPU_EP]
    return "cpu", [CPU_EP]


class OrtEngine:
    """The ONNX Runtime engine: one inference session with cached names.

    Parameters
    ----------
    path : path
        The ``.onnx`` file (or a folder holding ``model.onnx``).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    threads : int, optional
        ``intra_op_num_threads`` (None or 0: ONNX Runtime's default, all cores).
    inter_threads : int, optional
        ``inter_op_num_threads``.
    spin : bool
        Let ONNX Runtime's idle worker threads busy-wait between operators (its own
        default).  Off by default: spinning buys little on a quiet machine and, while
        other threads (video reading, decoding, writing) need the same cores, it steals
        their CPU time; on the 2-core CI machine under load a 368x656 frame took 149 ms
        with spinning and 94 ms without.
    precision : str
        ``"fp32"`` (the only one ONNX Runtime runs here; a ValueError otherwise).

    Attributes
    ----------
    name : str
        ``"onnxruntime"``.
    path : Path
    precision : str
        ``"fp32"``.
    device : str
        ``"cpu"`` or ``"cuda"``: what the session actually runs on.
    providers : list of str
        ``session.get_providers()``.
    input_name : str
    input_shape : list
        Declared shape (ints or symbolic names).
    nhwc : bool
        Whether the input is declared ``[N, H, W, 3]`` (then :meth:`run` transposes).
    output_names : list of str
    output_shapes : list of list
    """

    def __init__(self, path: Union[str, os.PathLike], device: str = "auto", threads: Optional[int] = None,
                 inter_threads: Optional[int] = None, spin: bool = False, precision: str = "fp32") -> None:
        if precision != "fp32":
            raise ValueError(f"ONNX Runtime runs posefast's float models in fp32 only, not {precision!r}: "
                             "int8 and bf16 run on OpenVINO (engine='openvino', pip install posefast[openvino]); "
                             "fp16 is not offered for ONNX Runtime yet")
        ort = import_onnxruntime()
        self.name = "onnxruntime"
        self.precision = "fp32"
        self.path = model_path(path, (".onnx",))
        if self.path.suffix.lower() in (".xml", ".bin"):
            raise ValueError(f"{self.path} is an OpenVINO IR file; ONNX Runtime reads ONNX only. Run it with "
                             "engine='openvino', or use the registry name so posefast converts it to ONNX")
        threads = check_threads(threads, "threads")
        inter_threads = check_threads(inter_threads, "inter_threads")
        self._settings = {"intra_op_num_threads": threads or "default", "inter_op_num_threads": inter_threads
                          or "default", "allow_spinning": bool(spin), "graph_optimization_level": "ORT_ENABLE_ALL"}
        available = list(ort.get_available_providers())
        want, providers = resolve_providers(device, available)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        if inter_threads:
            opts.inter_op_num_threads = inter_threads
        flag = "1" if spin else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", flag)
        opts.add_session_config_entry("session.inter_op.allow_spinning", flag)
        try:
            # ONNX Runtime reports provider trouble with warnings.warn; turn those into log
            # records (the fallback check below says what it means for the caller).
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sess = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind exception types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if type(exc).__name__ in ("InvalidProtobuf", "InvalidGraph") or "Load model" in msg:
                raise ValueError(f"{self.path} could not be loaded as an ONNX model ({msg}). The file is not "
                                 "ONNX, or it is truncated or corrupt: download it again "
                                 "(`posefast models fetch NAME --force`) or convert it again") from exc
            raise RuntimeError(f"ONNX Runtime could not create a session for {self.path} with providers "
                               f"{[p if isinstance(p, str) else p[0] for p in providers]}: {msg}") from exc
        for w in caught:
            log.info("onnxruntime: %s", w.message)
        self._session = sess
        self.providers = list(sess.get_providers())
        self._cuda_id = providers[0][1]["device_id"] if want == "cuda" else 0
        if want == "cuda" and CUDA_EP not in self.providers:
            log.warning("CUDA was requested but ONNX Runtime fell back to %s for %s (CUDA/cuDNN libraries "
                        "missing or mismatched?); running on CPU", ", ".join(self.providers), self.path.name)
            want = "cpu"
        self.device = want
        inputs = sess.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{self.path.name} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                             "posefast runs models with a single image input [N, 3, H, W]")
        self.input_name = inputs[0].name
        self.input_shape = list(inputs[0].shape)
        if inputs[0].type != "tensor(float)":
            raise ValueError(f"{self.path.name} takes {inputs[0].type}; posefast feeds float32 images")
        if len(self.input_shape) != 4:
            raise ValueError(f"{self.path.name} input {self.input_name!r} has shape {self.input_shape}; "
                             "expected an image batch [N, 3, H, W]")
        self.nhwc = self.input_shape[1] != 3 and self.input_shape[3] == 3
        outs = sess.get_outputs()
        self.output_names = [o.name for o in outs]
        self.output_shapes = [list(o.shape) for o in outs]
        log.debug("loaded %s on %s: input %s %s, outputs %s", self.path, self.providers, self.input_name,
                  self.input_shape, list(zip(self.output_names, self.output_shapes)))
        log.info("engine: %s", self.describe())

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the network on one batch.

        Parameters
        ----------
        x : float32 [N, 3, H, W]

        Returns
        -------
        list of float32 arrays, one per output, in :attr:`output_names` order
        (NHWC outputs of an NHWC model are returned as they come).
        """
        x = check_input(x)
        if self.nhwc:
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        if self.device == "cuda":
            outs = self._run_bound(x, "cuda", self._cuda_id)
        else:
            outs = self._session.run(self.output_names, {self.input_name: x})
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def describe(self) -> dict[str, Any]:
        """Engine, device, precision, providers and session settings actually used."""
        return {"engine": self.name, "device": self.device, "precision": self.precision,
                "providers": list(self.providers), "model": str(self.path), **self._settings}

    def _run_bound(self, x: np.ndarray, device_type: str, device_id: int) -> list[np.ndarray]:
        """Run with I/O binding: input from host memory, outputs allocated on
        ``device_type`` by ONNX Runtime (shapes are dynamic), then copied back once."""
        binding = self._session.io_binding()
        binding.bind_cpu_input(self.input_name, x)
        for name in self.output_names:
            binding.bind_output(name, device_type, device_id)
        self._session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())
