"""Engines (ONNX Runtime, OpenVINO), engine/precision selection, presets and model lookup
on the real shared models."""

from __future__ import annotations

import logging
import shutil
import threading

import cv2
import numpy as np
import pytest

import posefast as pf
from posefast.engines import ENGINES, PRECISIONS, installed_engines, open_engine
from posefast.models import Estimator, get_model, presets
from posefast.models import selection

pytestmark = pytest.mark.model
HPE = "human-pose-estimation-0001"
V2 = "openpose-mobilenet-v2-small"
BACKEND = "native" if pf.backends()["native"] else "python"

ov = pytest.importorskip("openvino")


@pytest.fixture
def model_path_env(monkeypatch, shared_models, tmp_path):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))
    return shared_models


@pytest.fixture(scope="module")
def hpe_xml(shared_models):
    p = shared_models / HPE / "FP16-INT8" / f"{HPE}.xml"
    if not p.is_file():
        pytest.fail(f"{p} missing from the shared models")
    return p


@pytest.fixture(scope="module")
def photo(media):
    return cv2.imread(str(media / "p3_dance.png"))


def _bf16_here() -> bool:
    from posefast.engines.ov import bf16_supported

    return bf16_supported(ov.Core())


# -- the OpenVINO engine on the IR ------------------------------------------------------

def test_openvino_runs_the_int8_ir_with_two_outputs(hpe_xml):
    e = open_engine("openvino", hpe_xml, precision="int8", threads=1)
    assert e.name == "openvino" and e.device == "cpu" and e.precision == "int8" and e.quantized
    assert e.input_name == "data" and e.input_shape == [1, 3, 256, 456] and not e.nhwc
    assert e.output_names == ["Mconv7_stage2_L1", "Mconv7_stage2_L2"]
    pafs, hm = e.run(np.full((2, 3, 64, 96), 100, np.float32))
    assert pafs.shape == (2, 38, 8, 12) and hm.shape == (2, 19, 8, 12) and pafs.dtype == np.float32
    d = e.describe()
    # precision is explicit in the compiled model, never OpenVINO's own (bf16 on AMX) choice
    assert d["inference_precision_hint"] == "f32" and d["inference_precision"] == "f32"
    assert d["enable_cpu_pinning"] is False and d["cpu_pinning"] is False and d["num_streams"] == 1
    assert d["inference_num_threads"] == 1 and d["fake_quantize_dropped"] == 0


def test_float_precision_drops_fake_quantize(hpe_xml):
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 128, 160)).astype(np.float32)
    q = open_engine("openvino", hpe_xml, precision="int8").run(x)
    f = open_engine("openvino", hpe_xml, precision="fp32")
    assert f.describe()["fake_quantize_dropped"] == 63
    out = f.run(x)
    diff = [np.abs(a - b) for a, b in zip(q, out)]
    assert 1e-3 < max(d.max() for d in diff) < 0.5  # int8 rounding is visible, but small
    assert max(d.mean() for d in diff) < 0.02


def test_compiled_shapes_are_cached_lru(hpe_xml):
    e = open_engine("openvino", hpe_xml, precision="int8", cache_size=2)
    a = np.zeros((1, 3, 64, 64), np.float32)
    first = e.run(a)
    e.run(a)
    assert e.describe()["compiled_shapes"] == [[1, 3, 64, 64]]
    for w in (72, 80):
        e.run(np.zeros((1, 3, 64, w), np.float32))
    assert e.describe()["compiled_shapes"] == [[1, 3, 64, 72], [1, 3, 64, 80]]
    np.testing.assert_array_equal(e.run(a)[0], first[0])  # recompiled after eviction: same numbers


def test_openvino_engine_is_thread_safe(hpe_xml):
    e = open_engine("openvino", hpe_xml, precision="int8")
    rng = np.random.default_rng(1)
    xs = [rng.uniform(0, 255, (1, 3, 64, 96)).astype(np.float32) for _ in range(4)]
    want = [e.run(x) for x in xs]
    got: dict[int, list] = {}
    errors: list = []

    def work(i: int) -> None:
        try:
            for _ in range(3):
                got[i] = e.run(xs[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        for a, b in zip(got[i], want[i]):
            np.testing.assert_array_equal(a, b)


def test_bad_ir_files_fail_clearly(hpe_xml, tmp_path):
    bin_ = hpe_xml.with_suffix(".bin")
    lone = tmp_path / "lone.xml"
    shutil.copy(hpe_xml, lone)
    with pytest.raises(FileNotFoundError, match=r"lone\.bin beside it"):
        open_engine("openvino", lone, precision="int8")
    short = tmp_path / "short.xml"
    shutil.copy(hpe_xml, short)
    short.with_suffix(".bin").write_bytes(bin_.read_bytes()[:1_000_000])
    with pytest.raises(ValueError, match="Incorrect weights.*truncated or corrupt"):
        open_engine("openvino", short, precision="int8")
    cut = tmp_path / "cut.xml"
    cut.write_bytes(hpe_xml.read_bytes()[:100_000])
    shutil.copy(bin_, cut.with_suffix(".bin"))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        open_engine("openvino", cut, precision="int8")
    with pytest.raises(ValueError, match="pass the .xml"):
        open_engine("openvino", bin_, precision="int8")
    with pytest.raises(ValueError, match="OpenVINO IR file; ONNX Runtime reads ONNX only"):
        open_engine("onnxruntime", hpe_xml, device="cpu")
    # the same through Estimator and the CLI: before any work, exit 2
    with pytest.raises(FileNotFoundError, match="lone.bin"):
        Estimator(model=lone, device="cpu", engine="openvino")
    from posefast.cli import EXIT_USAGE, main

    assert main(["run", str(tmp_path / "nothing.png"), "--model", str(short), "--quiet"]) == EXIT_USAGE


def test_engine_option_errors(hpe_xml, model_onnx):
    with pytest.raises(ValueError, match="no int8 form"):
        open_engine("openvino", model_onnx, precision="int8")
    with pytest.raises(ValueError, match="CPU only"):
        open_engine("openvino", hpe_xml, device="cuda", precision="int8")
    with pytest.raises(ValueError, match="fp32 only"):
        open_engine("onnxruntime", model_onnx, device="cpu", precision="int8")
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'; choose one of onnxruntime, openvino"):
        open_engine("tensorrt", model_onnx)


@pytest.mark.skipif("_bf16_here()", reason="this CPU has bf16: the refusal cannot be seen here")
def test_bf16_refused_on_a_cpu_without_it(hpe_xml, model_path_env):
    with pytest.raises(ValueError, match="bf16.*AVX512-BF16 or AMX.*offers"):
        open_engine("openvino", hpe_xml, precision="bf16")
    with pytest.raises(ValueError, match="bf16"):
        Estimator(device="cpu", precision="bf16")


# -- selection, before any work -------------------------------------------------------

def test_selection_errors_name_the_choices(model_path_env):
    with pytest.raises(ValueError, match="unknown engine 'tpu'; choose one of auto, onnxruntime, openvino"):
        Estimator(engine="tpu")
    with pytest.raises(ValueError, match="unknown precision 'int4'; choose one of auto, fp32, bf16, int8, fp16"):
        Estimator(precision="int4")
    with pytest.raises(ValueError, match=f"model '{V2}' has no int8 form; it offers fp32, bf16"):
        Estimator(model=V2, precision="int8", device="cpu")
    with pytest.raises(ValueError, match="fp16.*only on CUDA"):
        Estimator(precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="int8.*OpenVINO only"):
        Estimator(engine="onnxruntime", precision="int8", device="cpu")
    with pytest.raises(ValueError, match="openvino' runs on the CPU"):
        Estimator(engine="openvino", device="cuda")
    with pytest.raises(ValueError, match="unknown preset 'slow'; choose one of fast, default, accurate"):
        Estimator(preset="slow")
    assert set(ENGINES) == {"onnxruntime", "openvino"} and "fp16" in PRECISIONS


def test_missing_engine_names_the_extra(monkeypatch, model_path_env, caplog):
    monkeypatch.setattr(selection, "installed_engines", lambda: {"onnxruntime": True, "openvino": False})
    with pytest.raises(ImportError, match=r"pip install posefast\[openvino\]"):
        Estimator(engine="openvino", device="cpu")
    with pytest.raises(ImportError, match=r"pip install posefast\[openvino\]"):
        Estimator(precision="int8", device="cpu")
    # the preset's engine is a preference: without OpenVINO it says so and runs ONNX Runtime fp32
    with caplog.at_level(logging.WARNING, logger="posefast.models.selection"):
        est = Estimator(model=V2, device="cpu", backend=BACKEND)
    assert est.engine == "onnxruntime" and est.precision == "fp32"
    assert "openvino is not installed" in caplog.text and est.model_info["fallback"]
    monkeypatch.setattr(selection, "installed_engines", lambda: {"onnxruntime": False, "openvino": True})
    with pytest.raises(ImportError, match=r"posefast\[cpu\].*posefast\[cuda\]"):
        Estimator(model=V2, engine="onnxruntime", device="cpu")


def test_auto_choices(model_path_env, caplog):
    with caplog.at_level(logging.INFO, logger="posefast.models.selection"):
        est = Estimator(device="cpu", backend=BACKEND)
    assert "engine='auto' chose openvino on cpu" in caplog.text or est.engine == "openvino"
    assert (est.engine, est.precision, est.net_height, est.scales, est.preset) == \
        ("openvino", "int8", 368, (1.0,), "default")
    info = est.model_info
    assert info["engine"] == "openvino" and info["precision"] == "int8" and info["source_format"] == "openvino"
    assert info["engine_settings"]["inference_precision_hint"] == "f32" and info["fallback"] is None
    assert info["path"].endswith("FP16-INT8/human-pose-estimation-0001.xml")
    # another model: its own natural height, precision auto (fp32: it has no int8)
    v2 = Estimator(model=V2, device="cpu", backend=BACKEND)
    assert (v2.engine, v2.precision, v2.net_height) == ("openvino", "fp32", 368)
    ort = Estimator(model=V2, device="cpu", backend=BACKEND, engine="onnxruntime")
    assert (ort.engine, ort.precision, ort.providers) == ("onnxruntime", "fp32", ["CPUExecutionProvider"])
    assert Estimator(model=HPE, device="cpu", backend=BACKEND).net_height == 256  # the IR's own


def test_presets_and_overrides(model_path_env):
    table = pf.presets()
    assert list(table) == ["fast", "default", "accurate"] and presets() == table
    assert table["accurate"].scales == (1.0, 0.75, 0.5) and table["fast"].net_height == 256
    fast = Estimator(preset="fast", device="cpu", backend=BACKEND)
    assert (fast.net_height, fast.precision, fast.preset) == (256, "int8", "fast")
    acc = Estimator(preset="accurate", device="cpu", backend=BACKEND, scales=(1.0,), net_height=320,
                    precision="fp32", config=pf.DecodeConfig(min_parts=5))
    assert (acc.scales, acc.net_height, acc.precision, acc.config.min_parts) == ((1.0,), 320, "fp32", 5)


def test_hpe_two_outputs_on_real_photos(model_path_env, media, photo):
    est = Estimator(device="cpu", backend=BACKEND)
    hm, pafs = est.infer(photo)
    assert hm.shape[0] == 19 and pafs.shape[0] == 38  # told apart by channel count, PAFs come first
    people = est(photo)
    assert int((people.num_parts >= 8).sum()) == 3  # three dancers
    one = est(cv2.imread(str(media / "image1.jpg")))
    assert len(one) == 1 and one.num_parts[0] >= 14
    assert len(est(cv2.imread(str(media / "cat.jpg")))) == 0


def test_openvino_batches_match_single_images(model_path_env, media):
    """OpenVINO's batched kernels differ from single-image ones in the last bits: same people."""
    est = Estimator(device="cpu", backend=BACKEND)
    cap = cv2.VideoCapture(str(media / "dance.mp4"))
    frames = [cap.read()[1] for _ in range(3)]
    cap.release()
    for got, frame in zip(est.batch(frames), frames):
        want = est(frame)
        assert len(got) == len(want)
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=0.05)


# -- model files: sources converted into the cache, never beside them ----------------------

def test_sources_only_are_converted_into_the_cache(monkeypatch, tmp_path, shared_models, media):
    pytest.importorskip("onnx")
    ro = tmp_path / "readonly" / V2
    ro.mkdir(parents=True)
    (ro / "graph_opt.pb").symlink_to(shared_models / V2 / "graph_opt.pb")
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(ro.parent))
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))
    est = Estimator(model=V2, device="cpu", backend=BACKEND, engine="onnxruntime")
    made = tmp_path / "cache" / V2 / "model.onnx"
    assert est.model_info["path"] == str(made) and sorted(p.name for p in ro.iterdir()) == ["graph_opt.pb"]
    stamp = made.stat().st_mtime_ns
    again = Estimator(model=V2, device="cpu", backend=BACKEND, engine="onnxruntime")
    assert made.stat().st_mtime_ns == stamp and again.model_info["path"] == str(made)  # reused
    assert len(est(cv2.imread(str(media / "image.jpg")))) == 1
    # a cache that cannot be written says which directory and what to set
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(PermissionError, match="POSEFAST_CACHE_DIR"):
        Estimator(model=V2, device="cpu", engine="onnxruntime")


def test_registered_models_resolve_per_engine(model_path_env):
    from posefast.models.selection import Choice, model_file

    spec = get_model(HPE)
    assert model_file(spec, Choice("openvino", "cpu", "int8")).parent.name == "FP16-INT8"
    # no FP32/FP16 IR here: the float model is the INT8 IR with FakeQuantize dropped
    assert model_file(spec, Choice("openvino", "cpu", "fp32")).parent.name == "FP16-INT8"


# -- CUDA ----------------------------------------------------------------------------

def _ort_cuda() -> bool:
    ort = pytest.importorskip("onnxruntime")
    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.parametrize("name", [HPE, "openpose-mobilenet-thin", V2])
def test_cuda_runs_every_registered_model(name, model_path_env, photo):
    if not _ort_cuda():
        pytest.skip("no CUDA: this onnxruntime has no CUDAExecutionProvider (pip install posefast[cuda] on a GPU "
                    "machine)")
    est = Estimator(model=name, device="cuda", engine="onnxruntime", backend=BACKEND)
    assert est.device == "cuda" and est.engine == "onnxruntime"
    cpu = Estimator(model=name, device="cpu", engine="onnxruntime", backend=BACKEND)
    assert len(est(photo)) == len(cpu(photo))


def test_cuda_auto_resolution_without_a_gpu(monkeypatch, model_path_env):
    """With ONNX Runtime's CUDA provider, device='auto' picks ONNX Runtime on CUDA; int8 stays on OpenVINO."""
    monkeypatch.setattr(selection, "_ort_has_cuda", lambda: True)
    c = selection.choose(get_model(V2), None, engine="auto", precision="auto", device="auto")
    assert (c.engine, c.device, c.precision) == ("onnxruntime", "cuda", "fp32")
    c = selection.choose(get_model(HPE), None, engine="openvino", precision="int8", device="auto",
                         soft_engine=True, soft_precision=True)
    assert (c.engine, c.device, c.precision) == ("onnxruntime", "cuda", "fp32") and "CUDA" in c.note
    c = selection.choose(get_model(HPE), None, engine="auto", precision="int8", device="auto")
    assert (c.engine, c.device) == ("openvino", "cpu")
    c = selection.choose(get_model(V2), None, engine="auto", precision="auto", device="cuda:1")
    assert c.device == "cuda:1"
    assert installed_engines()["openvino"]
