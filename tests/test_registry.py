"""Model registry: the manifest, cache and search-path rules, the `models` CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from posefast.layouts import get_layout
from posefast.models import cli as models_cli
from posefast.models.fetch import sha256_file
from posefast.models.registry import (DEFAULT_MODEL, ModelFile, ModelSpec, Preprocessing, cache_dir, describe,
                                      find_model, get_model, list_models, load_manifest, manifest_path,
                                      search_path)

REPO = Path(__file__).resolve().parents[1]
GRAPH_SHA = "428a9d6e7bfc0319e1ce4de8c0191a9111cd281bea6ae2b496fd42c92d574160"
V2 = "openpose-mobilenet-v2-small"
HPE = "human-pose-estimation-0001"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for var in ("POSEFAST_MODEL_PATH", "POSEFAST_CACHE_DIR", "XDG_CACHE_HOME", "POSEFAST_MODEL_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_top_level_manifest_is_the_packaged_one():
    # The package reads the manifest shipped beside it (in site-packages once installed).
    assert manifest_path().parent.name == "models" and manifest_path().parent.parent.name == "posefast"
    source = (REPO / "src" / "posefast" / "models" / "manifest.json").read_bytes()
    assert manifest_path().read_bytes() == source, "the installed manifest is stale: reinstall posefast"
    assert (REPO / "models" / "manifest.json").read_bytes() == source, \
        "models/manifest.json must be an exact copy of src/posefast/models/manifest.json"


def test_manifest_entries():
    models = load_manifest()
    assert list(models)[0] == DEFAULT_MODEL
    assert set(models) >= {"openpose-mobilenet-v2-small", "openpose-coco", "openpose-body25"}
    data = json.loads(manifest_path().read_text())
    assert data["default"] == DEFAULT_MODEL
    for spec in models.values():
        get_layout(spec.layout)
        assert spec.stride == 8
        assert spec.description and spec.license and spec.homepage.startswith("https://")
        for f in spec.files:
            assert f.urls and all(u.startswith(("https://", "http://")) for u in f.urls)

    tf = models[V2]
    assert tf.format == "tensorflow" and tf.layout == "coco18" and tf.auto_fetch
    g = tf.file("graph")
    assert g.urls[0] == ("https://github.com/ildoonet/tf-pose-estimation/raw/master/models/graph/"
                         "mobilenet_v2_small/graph_opt.pb")
    assert g.sha256 == GRAPH_SHA and g.size == 2096019
    assert tf.preprocessing == Preprocessing(color="bgr", mean=0.0, std=1.0, interpolation="cubic",
                                             size_multiple=16, pad_value=0.0)

    coco, body = models["openpose-coco"], models["openpose-body25"]
    assert coco.format == body.format == "caffe" and not coco.auto_fetch and not body.auto_fetch
    assert coco.layout == "coco18" and body.layout == "body25"
    assert coco.file("caffemodel").sha256 == "b4cf475576abd7b15d5316f1ee65eb492b5c9f5865e70a2e7882ed31fb682549"
    assert body.file("caffemodel").sha256 == "44e3d7ebd8c8b62d4366d67127f1b562611a9e8fd0f4f3cdeeb4bb4a6ed12be6"
    assert coco.file("prototxt").sha256 is None  # not verifiable here: fetch warns
    for m in (coco, body):
        assert m.preprocessing.mean == 128.0 and m.preprocessing.std == 256.0  # x/256 - 0.5
        assert "non-commercial" in m.license


def test_shared_graph_matches_manifest_sha(model_pb):
    assert sha256_file(model_pb) == get_model(V2).file("graph").sha256


def test_get_model_lookup():
    assert get_model("OpenPose-COCO").name == "openpose-coco"
    spec = get_model(DEFAULT_MODEL)
    assert get_model(spec) is spec
    with pytest.raises(ValueError, match="unknown model 'nope'.*openpose-mobilenet-v2-small.*onnx"):
        get_model("nope")
    with pytest.raises(TypeError):
        get_model(3)
    assert [s.name for s in list_models()] == list(load_manifest())


def test_spec_validation():
    f = ModelFile("onnx", "model.onnx", "https://x/model.onnx", None, None)
    assert f.urls == ("https://x/model.onnx",)
    with pytest.raises(ValueError, match="64 hex"):
        ModelFile("onnx", "model.onnx", ("https://x",), "abc")
    with pytest.raises(ValueError, match="plain file name"):
        ModelFile("onnx", "../evil.onnx", ("https://x",))
    with pytest.raises(ValueError, match="roles"):
        ModelSpec("m", "d", "caffe", (f,))
    with pytest.raises(ValueError, match="format"):
        ModelSpec("m", "d", "pytorch", (f,))
    with pytest.raises(ValueError, match="unknown layout"):
        ModelSpec("m", "d", "onnx", (f,), layout="hands21")
    with pytest.raises(ValueError, match="plain name"):
        ModelSpec("../m", "d", "onnx", (f,))
    with pytest.raises(ValueError, match="color"):
        Preprocessing(color="yuv")
    with pytest.raises(ValueError, match="std"):
        Preprocessing(std=0)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Preprocessing.from_dict({"colour": "bgr"})
    assert Preprocessing(mean=[1, 2, 3]).mean == (1.0, 2.0, 3.0)


def test_bad_manifest_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="reinstall"):
        load_manifest(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_manifest(bad)
    bad.write_text('{"models": {"m": {"description": "d", "format": "onnx"}}}')
    with pytest.raises(ValueError, match="lists no files"):
        load_manifest(bad)


def test_cache_dir_precedence(monkeypatch, tmp_path):
    assert cache_dir() == tmp_path / "home" / ".cache" / "posefast"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "posefast"
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "pc"))
    assert cache_dir() == tmp_path / "pc"


def test_search_path_order(monkeypatch, tmp_path):
    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache"
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(cache))
    monkeypatch.setenv("POSEFAST_MODEL_PATH", f"{a}{__import__('os').pathsep}{b}")
    assert search_path() == [a, b, cache]
    assert find_model("m") is None
    for d in (b, cache):
        (d / "m").mkdir(parents=True)
        (d / "m" / "model.onnx").write_bytes(b"x")
    assert find_model("m") == b / "m" / "model.onnx"
    (a / "m").mkdir(parents=True)  # a folder without model.onnx is skipped
    assert find_model("m") == b / "m" / "model.onnx"
    monkeypatch.delenv("POSEFAST_MODEL_PATH")
    assert find_model("m") == cache / "m" / "model.onnx"
    assert describe(get_model(DEFAULT_MODEL))["path"] is None


def test_shared_models_found_via_model_path(monkeypatch, shared_models, model_onnx):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    assert find_model(V2) == model_onnx
    assert describe(get_model(V2))["path"] == str(model_onnx)


# -- CLI ---------------------------------------------------------------------

def test_add_parser_wires_a_handler():
    parser = argparse.ArgumentParser(prog="posefast")
    sub = parser.add_subparsers(dest="command")
    models_cli.add_parser(sub)
    args = parser.parse_args(["models", "list", "--json"])
    assert args.func is models_cli.run and args.json
    with pytest.raises(SystemExit):
        parser.parse_args(["models"])  # a models command is required


def test_cli_list_and_info(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(tmp_path))
    (tmp_path / V2).mkdir()
    (tmp_path / V2 / "model.onnx").write_bytes(b"x")
    assert models_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert V2 in out and "openpose-body25" in out and str(tmp_path) in out
    assert models_cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(load_manifest())
    assert models_cli.main(["info", "openpose-body25"]) == 0
    out = capsys.readouterr().out
    assert "body25" in out and "pose_iter_584000.caffemodel" in out and "not verified" in out
    assert models_cli.main(["info", V2, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"][0]["sha256"] == GRAPH_SHA


def test_cli_errors_return_nonzero(capsys, tmp_path):
    assert models_cli.main(["info", "nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert models_cli.main(["convert", str(tmp_path / "x.txt"), "-o", str(tmp_path / "y.onnx")]) == 1
    assert ".prototxt" in capsys.readouterr().err
    pb = tmp_path / "g.pb"
    pb.write_bytes(b"")
    assert models_cli.main(["convert", str(pb)]) == 1
    assert "--output" in capsys.readouterr().err
    assert models_cli.main(["convert", str(pb), "--name", "openpose-coco"]) == 1
    assert "caffe model" in capsys.readouterr().err
    assert not (tmp_path / "y.onnx").exists()


# -- OpenVINO IR and the new models ----------------------------------------------

def _md_sha(path: Path) -> dict[str, str]:
    """``file -> sha256`` from the table of a shared MODEL.md."""
    import re

    return {m.group(1): m.group(2) for m in re.finditer(r"\| `([^`]+)` \| [\d,]+ \| `([0-9a-f]{64})` \|",
                                                         path.read_text())}


def test_hpe_entry_matches_model_md_and_omz(shared_models):
    spec = get_model(HPE)
    assert DEFAULT_MODEL == HPE and spec.format == "openvino" and spec.outputs == "separate"
    assert spec.variants() == ["FP16-INT8", "FP32", "FP16"]
    assert spec.int8_variants() == ["FP16-INT8"] and spec.float_variants() == ["FP32", "FP16"]
    assert spec.precisions == ("fp32", "bf16", "int8") and spec.net_height == 256 and spec.auto_fetch
    assert spec.preprocessing == Preprocessing(color="bgr", mean=0.0, std=1.0, interpolation="linear",
                                               size_multiple=8, pad_value=0.0)
    md = _md_sha(shared_models.parent / "models" / HPE / "MODEL.md")
    for role in ("xml", "bin"):
        f = spec.file(role, "FP16-INT8")
        assert f.sha256 == md[f"FP16-INT8/{f.filename}"]
        assert f.urls == ("https://storage.openvinotoolkit.org/repositories/open_model_zoo/2021.4/models_bin/3/"
                          f"human-pose-estimation-0001/FP16-INT8/{f.filename}",)
        assert sha256_file(shared_models / HPE / f.relpath) == f.sha256
    # sizes and digests of the float releases as open_model_zoo's model.yml gives them
    assert spec.file("bin", "FP32").size == 16394712 and spec.file("bin", "FP16").size == 8197356
    assert spec.file("xml", "FP32").sha256 == "a4312443bb77b8528080c75fff2e5b99ad46d660d5c4cc753ee218dd3deb01f5"


def test_thin_entry_matches_model_md(shared_models):
    spec = get_model("openpose-mobilenet-thin")
    g = spec.file("graph")
    md = _md_sha(shared_models / "openpose-mobilenet-thin" / "MODEL.md")
    assert g.sha256 == md["graph_opt.pb"] == sha256_file(shared_models / "openpose-mobilenet-thin" / "graph_opt.pb")
    assert g.urls[0].endswith("/models/graph/mobilenet_thin/graph_opt.pb") and g.size == 7804434
    assert spec.format == "tensorflow" and "int8" not in spec.precisions


def test_ir_lookup(monkeypatch, tmp_path, shared_models):
    from posefast.models.registry import find_ir, find_sources

    spec = get_model(HPE)
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    assert find_ir(spec, "FP16-INT8") == shared_models / HPE / "FP16-INT8" / "human-pose-estimation-0001.xml"
    assert find_ir(spec, "FP32") is None and find_model(HPE) is None
    assert set(find_sources(spec, variant="FP16-INT8")) == {"xml", "bin"}
    d = describe(spec)
    assert d["ir"]["FP16-INT8"].endswith("FP16-INT8/human-pose-estimation-0001.xml") and d["ir"]["FP32"] is None
    assert d["path"] == d["ir"]["FP16-INT8"]  # `posefast models list` shows the IR as installed
    assert d["files"][0]["variant"] == "FP16-INT8"


def test_ir_entries_validated():
    f = ModelFile("xml", "m.xml", ("u",), variant="FP32")
    with pytest.raises(ValueError, match="roles"):
        ModelSpec("m", "d", "openvino", (f,))
    with pytest.raises(ValueError, match="variant"):
        ModelSpec("m", "d", "openvino", (ModelFile("xml", "m.xml", ("u",)), ModelFile("bin", "m.bin", ("u",))))
    with pytest.raises(ValueError, match="no INT8 IR"):
        ModelSpec("m", "d", "openvino", (f, ModelFile("bin", "m.bin", ("u",), variant="FP32")),
                  precisions=("fp32", "int8"))
    with pytest.raises(ValueError, match="precisions"):
        ModelSpec("m", "d", "onnx", (ModelFile("onnx", "m.onnx", ("u",)),), precisions=("int4",))
    with pytest.raises(ValueError, match="plain folder"):
        ModelFile("xml", "m.xml", ("u",), variant="../x")
