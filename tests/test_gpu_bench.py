"""The prepared GPU benchmark (bench/gpu_bench.py, run by bench/gpu.sh on a GPU machine).

On CPU CI the script's rehearsal mode runs end to end on the real model, so the
GPU run (which only some tasks are lent a machine for) cannot fail on a broken step.
The CUDA run itself is the second test: it runs where ONNX Runtime offers CUDA.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_bench.py"
MODEL = "openpose-mobilenet-v2-small"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gpu_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def _run(device, tmp_path, monkeypatch, shared_models, media):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = _load().main(["--device", device, "--quick", "--models", MODEL, "--out", str(out),
                       "--media", str(media)])
    report = json.loads((out / "gpu_bench.json").read_text())
    table = (out / "gpu_bench.md").read_text()
    return rc, report, table


def test_cpu_rehearsal_runs_every_step(tmp_path, monkeypatch, shared_models, media):
    rc, report, table = _run("cpu", tmp_path, monkeypatch, shared_models, media)
    assert rc == 0, report["failures"]
    assert report["provider"][MODEL]["ok"] and report["provider"][MODEL]["device"] == "cpu"
    (agree,) = [a for a in report["agreement"] if a["model"] == MODEL]
    # the same engine on the same device: identical people
    assert agree["frames"] == 11 and agree["same_count"] == 1.0 and agree["mean_px"] == 0.0 and agree["pass"]
    rows = [t for t in report["throughput"] if t["model"] == MODEL]
    assert [r["batch"] for r in rows] == [1, 2]
    for r in rows:
        assert r["network_fps"] > 0 and r["decode_fps"] > 0
        p = r["pipeline"]
        assert p["exit"] == 0, p.get("stderr")
        assert p["pipeline_fps"] > 0 and p["inference_fps"] > 0 and p["bound_by"] in p["stages_ms"]
    assert "| openpose-mobilenet-v2-small | fp32 | 1 |" in table


def test_cuda_run(tmp_path, monkeypatch, shared_models, media):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("ONNX Runtime offers no CUDA provider here (CPU build or no GPU): "
                    "the CUDA run needs onnxruntime-gpu and an NVIDIA GPU (bench/gpu.sh)")
    rc, report, _ = _run("cuda", tmp_path, monkeypatch, shared_models, media)
    assert report["provider"][MODEL]["ok"], report["provider"]
    assert rc == 0, report["failures"]
