"""ONNX Runtime session wrapper: providers, fallbacks, bad model files, I/O binding."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from posefast.models.runtime import CPU_EP, CUDA_EP, OrtSession, import_onnxruntime, resolve_providers

ort = pytest.importorskip("onnxruntime")


def test_resolve_providers():
    assert resolve_providers("cpu", [CPU_EP]) == ("cpu", [CPU_EP])
    assert resolve_providers("CPU", [CUDA_EP, CPU_EP]) == ("cpu", [CPU_EP])
    assert resolve_providers("cuda", [CUDA_EP, CPU_EP]) == ("cuda", [(CUDA_EP, {"device_id": 0}), CPU_EP])
    assert resolve_providers("cuda:1", [CUDA_EP, CPU_EP])[1][0] == (CUDA_EP, {"device_id": 1})
    assert resolve_providers("auto", [CUDA_EP, CPU_EP])[0] == "cuda"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_providers("tpu", [CPU_EP])
    with pytest.raises(ValueError, match="unknown device"):
        resolve_providers("cuda:x", [CPU_EP])
    with pytest.raises(TypeError):
        resolve_providers(0, [CPU_EP])


def test_cuda_missing_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install posefast\[cuda\].*onnxruntime-gpu"):
        resolve_providers("cuda", ["AzureExecutionProvider", CPU_EP])


def test_auto_logs_its_choice(caplog):
    with caplog.at_level(logging.INFO, logger="posefast.engines.ort"):
        assert resolve_providers("auto", [CPU_EP]) == ("cpu", [CPU_EP])
    assert "device='auto' chose cpu" in caplog.text


def test_onnxruntime_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"posefast\[cpu\].*posefast\[cuda\]"):
        import_onnxruntime()


def test_session_on_the_real_model(model_onnx):
    s = OrtSession(model_onnx, device="cpu", threads=1, inter_threads=1)
    assert s.device == "cpu" and s.providers == [CPU_EP]
    assert s.input_name == "image" and s.output_names == ["heatmaps_pafs"]
    assert s.input_shape[1] == 3 and not s.nhwc
    assert s.output_shapes[0][1] == 57
    x = np.zeros((2, 3, 64, 96), np.float32)
    (out,) = s.run(x)
    assert out.shape == (2, 57, 8, 12) and out.dtype == np.float32
    # the I/O-binding path used for CUDA, exercised with host outputs
    (bound,) = s._run_bound(x, "cpu", 0)
    np.testing.assert_array_equal(bound, out)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        s.run(np.zeros((64, 96, 3), np.float32))


def test_model_folder_is_accepted(model_onnx):
    assert OrtSession(model_onnx.parent, device="cpu").path == model_onnx


def test_cuda_request_on_a_cpu_build_fails_clearly(model_onnx):
    if CUDA_EP in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ImportError, match=r"posefast\[cuda\]"):
        OrtSession(model_onnx, device="cuda")
    assert OrtSession(model_onnx, device="auto").device == "cpu"


def test_silent_cuda_fallback_warns(model_onnx, monkeypatch, caplog):
    """The CUDA provider is listed but the session comes up on CPU only."""
    if CUDA_EP in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_EP, CPU_EP])
    with caplog.at_level(logging.WARNING, logger="posefast.engines.ort"):
        s = OrtSession(model_onnx, device="cuda")
    assert s.device == "cpu" and CUDA_EP not in s.providers
    assert "fell back" in caplog.text
    assert s.run(np.zeros((1, 3, 32, 32), np.float32))[0].shape == (1, 57, 4, 4)


def test_bad_model_files(tmp_path, model_onnx, media):
    with pytest.raises(FileNotFoundError, match="not found"):
        OrtSession(tmp_path / "missing.onnx", device="cpu")
    with pytest.raises(ValueError, match="is a directory"):
        OrtSession(tmp_path, device="cpu")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        OrtSession(empty, device="cpu")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_onnx.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        OrtSession(truncated, device="cpu")
    jpeg = tmp_path / "photo.onnx"
    jpeg.write_bytes((media / "cat.jpg").read_bytes())
    with pytest.raises(ValueError, match="not ONNX"):
        OrtSession(jpeg, device="cpu")


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_thread_counts_validated(model_onnx, bad):
    with pytest.raises(ValueError, match="threads"):
        OrtSession(model_onnx, device="cpu", threads=bad)
