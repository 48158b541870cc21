"""Caffe -> ONNX converter, checked against OpenCV's own Caffe importer.

No CMU files are needed: small architecture files written here use every supported layer type
and parameter, random weights go into a ``.caffemodel`` written with the converter's own
protobuf classes, and ONNX Runtime's output of the converted model is compared with
``cv2.dnn.readNetFromCaffe`` on the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from posefast.models.convert import ConversionError, convert_caffe  # noqa: E402
from posefast.models.convert._protos import caffe as pb  # noqa: E402

# ----------------------------------------------------------------------------------------------
# architecture files
# ----------------------------------------------------------------------------------------------

# Every supported layer type and parameter, Input-layer form.  Spatial sizes are chosen by the
# test inputs so that pooling meets odd sizes (Caffe's ceil rounding and clipped last window).
ALL_LAYERS = """
name: "all_layers"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 37 dim: 45 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        convolution_param { num_output: 8 kernel_size: 3 pad: 1
                            weight_filler { type: "gaussian" std: 0.01 }
                            bias_filler { type: "constant" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 12 kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2
                            stride_h: 2 stride_w: 1 group: 4 } }
layer { name: "lrelu2" type: "ReLU" bottom: "conv2" top: "conv2"
        relu_param { negative_slope: 0.1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv2" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "split" type: "Split" bottom: "pool1" top: "pool1a" top: "pool1b" }
layer { name: "conv3" type: "Convolution" bottom: "pool1a" top: "conv3"
        convolution_param { num_output: 8 kernel_size: 3 dilation: 2 pad: 2 bias_term: false } }
layer { name: "prelu3" type: "PReLU" bottom: "conv3" top: "conv3" }
layer { name: "conv4" type: "Convolution" bottom: "pool1b" top: "conv4"
        convolution_param { num_output: 8 kernel_size: 1 stride: 1 } }
layer { name: "prelu4" type: "PReLU" bottom: "conv4" top: "conv4"
        prelu_param { channel_shared: true } }
layer { name: "drop4" type: "Dropout" bottom: "conv4" top: "conv4"
        dropout_param { dropout_ratio: 0.5 } }
layer { name: "sum" type: "Eltwise" bottom: "conv3" bottom: "conv4" top: "sum"
        eltwise_param { operation: SUM coeff: 0.5 coeff: -1.5 } }
layer { name: "plain_sum" type: "Eltwise" bottom: "sum" bottom: "conv4" top: "plain_sum" }
layer { name: "prod" type: "Eltwise" bottom: "conv3" bottom: "conv4" top: "prod"
        eltwise_param { operation: PROD } }
layer { name: "max" type: "Eltwise" bottom: "plain_sum" bottom: "prod" bottom: "conv4" top: "max"
        eltwise_param { operation: MAX } }
layer { name: "ave_pad" type: "Pooling" bottom: "max" top: "ave_pad"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "max_pad" type: "Pooling" bottom: "max" top: "max_pad"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "concat" type: "Concat" bottom: "ave_pad" bottom: "max_pad" top: "cat"
        concat_param { axis: 1 } }
layer { name: "ave_nopad" type: "Pooling" bottom: "cat" top: "ave_nopad"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "out" type: "Convolution" bottom: "ave_nopad" top: "out"
        convolution_param { num_output: 5 kernel_size: 3 pad: 1 } }
layer { name: "global" type: "Pooling" bottom: "cat" top: "global"
        pooling_param { pool: AVE global_pooling: true } }
"""


def openpose_like(header: str, stage_kernel: int = 7) -> str:
    """A two-stage OpenPose-shaped net: VGG-like stride-8 trunk, two branches per stage
    (L1: 38 PAF channels, L2: 19 heatmaps), and ``net_output`` = Concat(L2, L1) = 57."""
    lines = [header]

    def conv(name: str, bottom: str, n: int, k: int, relu: bool = True) -> None:
        lines.append(
            f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
            f"convolution_param {{ num_output: {n} pad: {k // 2} kernel_size: {k} }} }}")
        if relu:
            lines.append(f'layer {{ name: "relu_{name}" type: "ReLU" bottom: "{name}" '
                         f'top: "{name}" }}')

    def pool(name: str, bottom: str) -> None:
        lines.append(f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{name}" '
                     "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }")

    conv("conv1_1", "image", 8, 3)
    pool("pool1", "conv1_1")
    conv("conv2_1", "pool1", 8, 3)
    pool("pool2", "conv2_1")
    conv("conv3_1", "pool2", 12, 3)
    pool("pool3", "conv3_1")
    conv("conv4_3_CPM", "pool3", 16, 3)
    prev = "conv4_3_CPM"
    for stage in (1, 2):
        k = 3 if stage == 1 else stage_kernel
        for branch, n_out in (("L1", 38), ("L2", 19)):
            conv(f"Mconv1_stage{stage}_{branch}", prev, 8, k)
            conv(f"Mconv2_stage{stage}_{branch}", f"Mconv1_stage{stage}_{branch}", 8, 1)
            conv(f"Mconv7_stage{stage}_{branch}", f"Mconv2_stage{stage}_{branch}", n_out, 1,
                 relu=False)
        if stage == 1:
            lines.append('layer { name: "concat_stage2" type: "Concat" '
                         'bottom: "Mconv7_stage1_L1" bottom: "Mconv7_stage1_L2" '
                         'bottom: "conv4_3_CPM" top: "concat_stage2" concat_param { axis: 1 } }')
            prev = "concat_stage2"
    lines.append('layer { name: "net_output" type: "Concat" bottom: "Mconv7_stage2_L2" '
                 'bottom: "Mconv7_stage2_L1" top: "net_output" concat_param { axis: 1 } }')
    return "\n".join(lines) + "\n"


# the legacy header forms, as in CMU's pose_deploy_linevec.prototxt
HEADER_INPUT_DIM = ('name: "openpose_like"\ninput: "image"\n'
                    "input_dim: 1\ninput_dim: 3\ninput_dim: 1 # set at runtime\ninput_dim: 1\n")
HEADER_INPUT_SHAPE = ('input: "image"\ninput_shape { dim: 1 dim: 3 dim: 64 dim: 80 }\n')


# ----------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------

def _layers(text: str) -> list:
    from google.protobuf import text_format
    net = text_format.Parse(text, pb.NetParameter())
    return list(net.layer) + list(net.layers), net


def blob_shapes(text: str, in_channels: int = 3) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of the learned blobs of each layer, by walking channel counts."""
    layers, net = _layers(text)
    ch: dict[str, int] = {name: in_channels for name in net.input}
    shapes: dict[str, list[tuple[int, ...]]] = {}
    for la in layers:
        t = la.type if isinstance(la.type, str) else \
            {4: "Convolution", 18: "ReLU", 17: "Pooling", 3: "Concat"}[la.type]
        if t == "Input":
            for top in la.top:
                ch[top] = in_channels
            continue
        if any(b not in ch for b in la.bottom):
            continue
        c = ch[la.bottom[0]]
        if t == "Convolution":
            p = la.convolution_param
            kh = p.kernel_h or p.kernel_size[0]
            kw = p.kernel_w or p.kernel_size[-1]
            shapes[la.name] = [(p.num_output, c // p.group, kh, kw)]
            if p.bias_term:
                shapes[la.name].append((p.num_output,))
            c = p.num_output
        elif t == "PReLU":
            shapes[la.name] = [(1,) if la.prelu_param.channel_shared else (c,)]
        elif t == "Concat":
            c = sum(ch[b] for b in la.bottom)
        for top in la.top:
            ch[top] = c
    return shapes


def write_caffemodel(path: Path, shapes: dict[str, list[tuple[int, ...]]], seed: int = 0,
                     v1: bool = False, legacy_dims: bool = False) -> None:
    rng = np.random.default_rng(seed)
    net = pb.NetParameter(name="random")
    for name, blob_shapes_ in shapes.items():
        layer = net.layers.add() if v1 else net.layer.add()
        layer.name = name
        if not v1:
            layer.type = "Convolution" if len(blob_shapes_[0]) == 4 else "PReLU"
        for k, shape in enumerate(blob_shapes_):
            if len(shape) == 4:
                fan_in = shape[1] * shape[2] * shape[3]
                arr = rng.standard_normal(shape) * (1.5 / np.sqrt(fan_in))
            elif len(blob_shapes_) == 1:                     # PReLU slopes
                arr = rng.uniform(0.05, 0.5, shape)
            else:                                            # bias
                arr = rng.uniform(-0.2, 0.2, shape)
            blob = layer.blobs.add()
            if legacy_dims:
                dims = (1,) * (4 - len(shape)) + tuple(shape)
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(shape)
            blob.data.extend(arr.astype(np.float32).ravel())
    path.write_bytes(net.SerializeToString())


def make_model(tmp: Path, text: str, name: str, **kw) -> tuple[Path, Path]:
    proto = tmp / f"{name}.prototxt"
    proto.write_text(text)
    weights = tmp / f"{name}.caffemodel"
    write_caffemodel(weights, blob_shapes(text), **kw)
    return proto, weights


def run_onnx(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x})))


def run_opencv(proto: Path, weights: Path, x: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
    """OpenCV's Caffe importer (``outputs`` are layer names, here equal to the blob names)."""
    net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    net.setInput(x)
    res = net.forward(outputs)
    return [np.asarray(r) for r in res]


# ----------------------------------------------------------------------------------------------
# a slow, obvious Caffe forward pass in float64 (the oracle where OpenCV has no Caffe importer)
# ----------------------------------------------------------------------------------------------

def _pair(p, single: str, h: str, w: str, default: int) -> tuple[int, int]:
    if h and (p.HasField(h) or p.HasField(w)):
        return getattr(p, h), getattr(p, w)
    v = list(getattr(p, single))
    return (v[0], v[-1]) if v else (default, default)


def _naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, p) -> np.ndarray:
    kh, kw = w.shape[2:]
    ph, pw = _pair(p, "pad", "pad_h", "pad_w", 0)
    sh, sw = _pair(p, "stride", "stride_h", "stride_w", 1)
    dh, dw = _pair(p, "dilation", "", "", 1)
    n, c, h, wd = x.shape
    g = p.group
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    o = w.shape[0]
    out = np.zeros((n, o, oh, ow))
    cg, og = c // g, o // g
    for gi in range(g):
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[:, gi * cg:(gi + 1) * cg,
                           ky * dh:ky * dh + sh * (oh - 1) + 1:sh,
                           kx * dw:kx * dw + sw * (ow - 1) + 1:sw]
                out[:, gi * og:(gi + 1) * og] += np.einsum(
                    "nchw,oc->nohw", patch, w[gi * og:(gi + 1) * og, :, ky, kx])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def _naive_pool(x: np.ndarray, p) -> np.ndarray:
    n, c, h, w = x.shape
    if p.global_pooling:
        return x.max((2, 3), keepdims=True) if p.pool == 0 else x.mean((2, 3), keepdims=True)
    kh, kw = _pair(p, "kernel_size", "kernel_h", "kernel_w", 0)
    ph, pw = _pair(p, "pad", "pad_h", "pad_w", 0)
    sh, sw = _pair(p, "stride", "stride_h", "stride_w", 1)
    if p.round_mode == 1:                         # FLOOR (newer Caffe)
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    else:
        oh = -(-(h + 2 * ph - kh) // sh) + 1      # Caffe rounds up ...
        ow = -(-(w + 2 * pw - kw) // sw) + 1
    if ph and (oh - 1) * sh >= h + ph:            # ... but the last window must start inside
        oh -= 1
    if pw and (ow - 1) * sw >= w + pw:
        ow -= 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y0, x0 = i * sh - ph, j * sw - pw
            y1, x1 = min(y0 + kh, h + ph), min(x0 + kw, w + pw)
            area = (y1 - y0) * (x1 - x0)          # AVE divides by the window within the padding
            win = x[:, :, max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
            out[:, :, i, j] = win.max((2, 3)) if p.pool == 0 else win.sum((2, 3)) / area
    return out


def run_naive(proto: Path, weights: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Forward pass of the Caffe net, layer by layer; returns every blob."""
    v1_names = {4: "Convolution", 18: "ReLU", 17: "Pooling", 3: "Concat", 25: "Eltwise",
                22: "Split", 6: "Dropout"}
    layers, net = _layers(proto.read_text())
    wnet = pb.NetParameter()
    wnet.ParseFromString(weights.read_bytes())
    blobs = {la.name: [np.array(b.data, np.float64) for b in la.blobs]
             for la in list(wnet.layer) + list(wnet.layers)}
    env: dict[str, np.ndarray] = {}
    for name in net.input:
        env[name] = x.astype(np.float64)
    for la in layers:
        t = la.type if isinstance(la.type, str) else v1_names[la.type]
        if t == "Input":
            env[la.top[0]] = x.astype(np.float64)
            continue
        if any(r.phase == 0 for r in la.include):      # TRAIN-only
            continue
        xs = [env[b] for b in la.bottom]
        if t == "Convolution":
            p = la.convolution_param
            ws = blobs[la.name]
            kh = p.kernel_h or p.kernel_size[0]
            kw = p.kernel_w or p.kernel_size[-1]
            w = ws[0].reshape(p.num_output, -1, kh, kw)
            y = _naive_conv(xs[0], w, ws[1] if p.bias_term else None, p)
        elif t == "ReLU":
            y = np.where(xs[0] > 0, xs[0], xs[0] * la.relu_param.negative_slope)
        elif t == "PReLU":
            a = blobs[la.name][0]
            a = a.reshape(1, -1, 1, 1) if a.size > 1 else a.reshape(())
            y = np.where(xs[0] > 0, xs[0], xs[0] * a)
        elif t == "Pooling":
            y = _naive_pool(xs[0], la.pooling_param)
        elif t == "Concat":
            y = np.concatenate(xs, axis=la.concat_param.axis)
        elif t == "Eltwise":
            op = la.eltwise_param.operation
            if op == 1:
                coeff = list(la.eltwise_param.coeff) or [1.0] * len(xs)
                y = sum(cf * v for cf, v in zip(coeff, xs))
            elif op == 0:
                y = np.prod(xs, axis=0)
            else:
                y = np.max(xs, axis=0)
        elif t in ("Split", "Dropout"):
            y = xs[0]
        else:
            raise AssertionError(f"naive forward has no {t}")
        for top in la.top:
            env[top] = y
    return env


def reference(kind: str, proto: Path, weights: Path, x: np.ndarray,
              outputs: list[str]) -> list[np.ndarray]:
    if kind == "opencv":
        if not hasattr(cv2.dnn, "readNetFromCaffe"):
            pytest.skip(f"OpenCV {cv2.__version__} has no Caffe importer (removed in 5.0); "
                        "the float64 NumPy Caffe forward pass is the reference here")
        return run_opencv(proto, weights, x, outputs)
    env = run_naive(proto, weights, x)
    return [env[o] for o in outputs]


REFERENCES = ["numpy", "opencv"]


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


# ----------------------------------------------------------------------------------------------
# equivalence with OpenCV
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("hw", [(37, 45), (36, 50), (41, 41)])
def test_all_layer_types_match_reference(tmp_path: Path, hw: tuple[int, int], ref: str) -> None:
    proto, weights = make_model(tmp_path, ALL_LAYERS, "all")
    onnx_path = convert_caffe(proto, weights, tmp_path / "all.onnx")
    assert onnx_path == tmp_path / "all.onnx"
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, *hw)).astype(np.float32)
    got = run_onnx(onnx_path, x)
    assert sorted(got) == ["global", "out"]        # the two blobs nothing consumes
    ref_out, ref_global = reference(ref, proto, weights, x, ["out", "global"])
    assert rel_err(got["out"], ref_out) <= 1e-4
    assert rel_err(got["global"], ref_global) <= 1e-4


def test_batch_is_dynamic(tmp_path: Path) -> None:
    proto, weights = make_model(tmp_path, ALL_LAYERS, "all")
    onnx_path = convert_caffe(proto, weights, tmp_path / "all.onnx")
    x = np.random.default_rng(2).uniform(-1, 1, (2, 3, 33, 47)).astype(np.float32)
    both = run_onnx(onnx_path, x)["out"]
    for n in range(2):
        one = run_onnx(onnx_path, x[n:n + 1])["out"]
        np.testing.assert_allclose(both[n:n + 1], one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ref", REFERENCES)
@pytest.mark.parametrize("header", [HEADER_INPUT_DIM, HEADER_INPUT_SHAPE],
                         ids=["input_dim", "input_shape"])
def test_openpose_like_two_stage_net(tmp_path: Path, header: str, ref: str) -> None:
    text = openpose_like(header)
    proto, weights = make_model(tmp_path, text, "op")
    onnx_path = convert_caffe(proto, weights, tmp_path / "op.onnx")
    import onnx
    m = onnx.load(str(onnx_path))
    (inp,) = m.graph.input
    (out,) = m.graph.output
    assert inp.name == "image" and out.name == "net_output"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["N", 3, "H", "W"]
    assert out.type.tensor_type.shape.dim[1].dim_value == 57
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (1, 3, 64, 80)).astype(np.float32)
    got = run_onnx(onnx_path, x)["net_output"]
    assert got.shape == (1, 57, 8, 10)
    (expected,) = reference(ref, proto, weights, x, ["net_output"])
    assert rel_err(got, expected) <= 1e-4


@pytest.mark.parametrize("ref", REFERENCES)
def test_v1_layers_and_legacy_blob_dims(tmp_path: Path, ref: str) -> None:
    text = ('input: "image"\ninput_dim: 1 input_dim: 3 input_dim: 20 input_dim: 24\n'
            'layers { name: "conv1" type: CONVOLUTION bottom: "image" top: "conv1" '
            "convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }\n"
            'layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }\n'
            'layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" '
            "pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n"
            'layers { name: "conv2" type: CONVOLUTION bottom: "pool1" top: "conv2" '
            "convolution_param { num_output: 4 kernel_size: 1 } }\n"
            'layers { name: "cat" type: CONCAT bottom: "conv2" bottom: "pool1" top: "cat" '
            "concat_param { concat_dim: 1 } }\n")
    proto, weights = make_model(tmp_path, text, "v1", v1=True, legacy_dims=True)
    onnx_path = convert_caffe(proto, weights, tmp_path / "v1.onnx")
    x = np.random.default_rng(4).uniform(-1, 1, (1, 3, 21, 25)).astype(np.float32)
    got = run_onnx(onnx_path, x)["cat"]
    (expected,) = reference(ref, proto, weights, x, ["cat"])
    assert got.shape == (1, 10, 10, 12)
    assert rel_err(got, expected) <= 1e-4


def test_train_only_layers_are_ignored(tmp_path: Path) -> None:
    proto, weights = make_model(tmp_path, ALL_LAYERS, "all")
    plain = convert_caffe(proto, weights, tmp_path / "plain.onnx")
    proto.write_text(ALL_LAYERS + (
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "out" bottom: "label" '
        'top: "loss" include { phase: TRAIN } }\n'
        'layer { name: "acc" type: "Accuracy" bottom: "out" top: "acc" '
        "exclude { phase: TEST } }\n"))
    with_train = convert_caffe(proto, weights, tmp_path / "train.onnx")
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 30, 30)).astype(np.float32)
    a, b = run_onnx(plain, x), run_onnx(with_train, x)
    assert sorted(a) == sorted(b) == ["global", "out"]
    np.testing.assert_array_equal(a["out"], b["out"])


def test_floor_rounding_and_global_max_pooling(tmp_path: Path) -> None:
    """``round_mode: FLOOR`` (newer BVLC Caffe; OpenCV's importer does not know it, so the
    NumPy forward pass is the reference) and MAX ``global_pooling``."""
    text = ('input: "data"\ninput_shape { dim: 1 dim: 3 dim: 9 dim: 9 }\n'
            'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
            "convolution_param { num_output: 4 kernel_size: 3 } }\n"
            'layer { name: "floor" type: "Pooling" bottom: "c" top: "floor" '
            "pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR } }\n"
            'layer { name: "gmax" type: "Pooling" bottom: "c" top: "gmax" '
            "pooling_param { pool: MAX global_pooling: true } }\n")
    proto, weights = make_model(tmp_path, text, "floor")
    out = convert_caffe(proto, weights, tmp_path / "floor.onnx")
    for hw in ((20, 24), (21, 25)):
        x = np.random.default_rng(6).uniform(-1, 1, (1, 3, *hw)).astype(np.float32)
        got = run_onnx(out, x)
        env = run_naive(proto, weights, x)
        ch, cw = hw[0] - 2, hw[1] - 2                  # after the unpadded 3x3 conv
        want = (1, 4, (ch - 1) // 2 + 1, (cw - 1) // 2 + 1)   # ceil would give 10 x 12 at 20 x 24
        assert got["floor"].shape == env["floor"].shape == want
        assert rel_err(got["floor"], env["floor"]) <= 1e-4
        assert rel_err(got["gmax"], env["gmax"]) <= 1e-4


def test_input_shape_argument_fixes_dims(tmp_path: Path) -> None:
    text = openpose_like('input: "image"\n')          # no shape at all in the prototxt
    proto, weights = make_model(tmp_path, text, "noshape")
    with pytest.raises(ConversionError, match="channel count of input 'image'"):
        convert_caffe(proto, weights, tmp_path / "x.onnx")
    import onnx
    for shape, want in (((1, 3, None, -1), [1, 3, "H", "W"]),
                        ({"image": (None, 3, 64, None)}, ["N", 3, 64, "W"])):
        out = convert_caffe(proto, weights, tmp_path / "x.onnx", input_shape=shape)
        dims = [d.dim_param or d.dim_value for d in
                onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
        assert dims == want


# ----------------------------------------------------------------------------------------------
# bad inputs: a clear error and nothing written
# ----------------------------------------------------------------------------------------------

def assert_nothing_written(folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before


@pytest.fixture()
def good(tmp_path: Path) -> tuple[Path, Path, Path]:
    text = openpose_like(HEADER_INPUT_DIM, stage_kernel=3)
    proto, weights = make_model(tmp_path, text, "good")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    return proto, weights, out_dir


def test_unsupported_layer_on_path(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    text = proto.read_text() + ('layer { name: "prob" type: "Softmax" bottom: "net_output" '
                                'top: "prob" }\n')
    proto.write_text(text)
    with pytest.raises(ConversionError) as info:
        convert_caffe(proto, weights, out_dir / "m.onnx")
    msg = str(info.value)
    assert "'Softmax'" in msg and "'prob'" in msg and str(proto) in msg
    assert_nothing_written(out_dir, set())


def test_failed_conversion_keeps_existing_output(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    target = out_dir / "m.onnx"
    target.write_bytes(b"previous")
    proto.write_text(proto.read_text().replace('type: "ReLU"', 'type: "TanH"', 1))
    with pytest.raises(ConversionError, match="'TanH'"):
        convert_caffe(proto, weights, target)
    assert target.read_bytes() == b"previous"
    assert_nothing_written(out_dir, {"m.onnx"})


def test_unknown_field_on_path_is_an_error(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    proto.write_text(proto.read_text().replace("kernel_size: 2 stride: 2",
                                               "kernel_size: 2 stride: 2 frobnicate: 3", 1))
    with pytest.raises(ConversionError, match="frobnicate"):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())


def test_missing_files(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    with pytest.raises(FileNotFoundError, match="prototxt"):
        convert_caffe(out_dir / "nope.prototxt", weights, out_dir / "m.onnx")
    with pytest.raises(FileNotFoundError, match="caffemodel"):
        convert_caffe(proto, out_dir / "nope.caffemodel", out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())


def test_truncated_caffemodel(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2 + 3])
    with pytest.raises(ConversionError, match="not a valid caffemodel"):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    weights.write_bytes(b"")
    with pytest.raises(ConversionError, match="no layers"):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())


@pytest.mark.parametrize("edit, pattern", [
    (lambda t: t.replace("num_output: 8", "num_output: eight", 1), r"good\.prototxt:\d+: syntax"),
    (lambda t: t + "layer { name: 'broken' type: 'ReLU'\n", "never closed"),
    (lambda t: t + "}\n", "unbalanced"),
])
def test_prototxt_syntax_error(good: tuple[Path, Path, Path], edit, pattern: str) -> None:
    proto, weights, out_dir = good
    proto.write_text(edit(proto.read_text()))
    with pytest.raises(ConversionError, match=pattern):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())


def test_weights_missing_for_a_layer(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    shapes = blob_shapes(proto.read_text())
    del shapes["Mconv2_stage2_L1"]
    write_caffemodel(weights, shapes)
    with pytest.raises(ConversionError, match="no weights for layer 'Mconv2_stage2_L1'"):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())


def test_weight_shape_mismatch(good: tuple[Path, Path, Path]) -> None:
    proto, weights, out_dir = good
    shapes = blob_shapes(proto.read_text())
    o, i, kh, kw = shapes["conv2_1"][0]
    shapes["conv2_1"][0] = (o, i, kh + 2, kw + 2)
    write_caffemodel(weights, shapes)
    with pytest.raises(ConversionError, match="weight shape mismatch in layer 'conv2_1'"):
        convert_caffe(proto, weights, out_dir / "m.onnx")
    assert_nothing_written(out_dir, set())
