"""``Estimator``: images in, people out (preprocess -> engine -> decode).

>>> est = posefast.Estimator()                 # the "default" preset, CPU or CUDA
>>> poses = est(cv2.imread("people.jpg"))      # keypoints in the image's pixels

The three stages are also public so that a pipeline can overlap them in threads::

    x, metas = est.preprocess(frames)          # float32 [N, 3, H, W], one FrameMeta per frame
    heatmaps, pafs = est.forward(x)            # [N, K+1, h, w], [N, 2L, h, w]
    poses = est.postprocess(heatmaps, pafs, metas)

With several ``scales`` the network input and maps of the split API are tuples
(one entry per scale); :meth:`postprocess` averages them on the scale-1.0 grid
(as OpenPose does) before decoding.  Callers only pass them along.

The estimator holds no mutable state after construction: one instance may be
used from several threads at once (ONNX Runtime sessions are thread-safe; the
OpenVINO engine takes one infer request per call from a pool).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from ..config import DecodeConfig
from ..decode import decode_batch, resolve_backend
from ..layouts import Layout, get_layout
from ..types import Poses
from ..engines import check_engine, check_precision, open_engine
from .preprocess import FrameMeta, ScaleView, as_bgr, make_input, plan_view
from .presets import Preset, get_preset
from .registry import ModelSpec, Preprocessing, get_model
from .selection import choose, model_file

__all__ = ["Estimator", "split_outputs"]

log = logging.getLogger(__name__)

ImageBatch = Union[np.ndarray, Sequence[np.ndarray]]
_MAX_NET_HEIGHT = 4096


def _looks_like_path(model: Any) -> bool:
    if isinstance(model, os.PathLike):
        return True
    if not isinstance(model, str):
        return False
    return (model.lower().endswith((".onnx", ".xml")) or "/" in model or os.sep in model
            or (os.altsep is not None and os.altsep in model) or Path(model).exists())


def _to_nchw(out: np.ndarray, nhwc: bool, index: int) -> np.ndarray:
    if out.ndim != 4:
        raise ValueError(f"network output {index} has shape {out.shape}; expected maps [N, C, h, w]")
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) if nhwc else out


def split_outputs(outputs: Sequence[np.ndarray], layout: Layout, nhwc: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps and PAFs from a network's outputs.

    Parameters
    ----------
    outputs : sequence of float32 [N, C, h, w]
        One concatenated output (heatmaps first, then PAFs, as OpenPose and tf-pose
        emit), or several (e.g. Lightweight OpenPose: heatmaps and PAFs per stage),
        told apart by channel count; with several stages the last of each is used.
    layout : Layout
    nhwc : bool
        Outputs are ``[N, h, w, C]`` (transposed here).

    Returns
    -------
    heatmaps : float32 [N, K or K+1, h, w]
    pafs : float32 [N, 2L, h, w]
    """
    k, twol = layout.num_keypoints, layout.num_paf_channels
    outs = [_to_nchw(np.asarray(o), nhwc, i) for i, o in enumerate(outputs)]
    need = f"{k + 1} heatmaps (K={k} + background, or {k} without) and {twol} PAF channels"
    if len(outs) == 1:
        c = outs[0].shape[1]
        if c - twol not in (k, k + 1):
            raise ValueError(f"the model outputs {c} channels but layout {layout.name!r} needs {k + 1 + twol} "
                             f"({need}); pass the layout that matches the model (layout='body25', ...)")
        return outs[0][:, : c - twol], outs[0][:, c - twol:]
    chans = [o.shape[1] for o in outs]
    hm = [o for o in outs if o.shape[1] in (k, k + 1)]
    pf = [o for o in outs if o.shape[1] == twol]
    if not hm or not pf:
        raise ValueError(f"the model's outputs have {chans} channels but layout {layout.name!r} needs {need}; "
                         "pass the layout that matches the model")
    # Several outputs must read one way only: heatmaps and PAFs in pairs (one pair per stage).
    both = [c for c in chans if c in (k, k + 1) and c == twol]
    other = [c for c in chans if c not in (k, k + 1, twol)]
    if both or other or len(hm) != len(pf):
        if both:
            why = f"{both[0]} channels could be heatmaps or PAFs"
        elif other:
            why = f"an output of {other[0]} channels is neither heatmaps nor PAFs"
        else:
            why = (f"{len(hm)} heatmap output(s) and {len(pf)} PAF output(s) do not pair up by stage, so it is "
                   "unclear which heatmaps belong to the PAFs")
        raise ValueError(f"the model's outputs (channels {chans}) are ambiguous for layout {layout.name!r}, which "
                         f"needs {need}: {why}. Use a model with one concatenated output or one heatmap and one "
                         "PAF output per stage, or pass the layout that matches the model")
    return hm[-1], pf[-1]


def _check_declared(shapes: Sequence[Sequence[Any]], layout: Layout, nhwc: bool, path: Path) -> None:
    """Fail at construction when the declared output channels cannot fit the layout."""
    axis = 3 if nhwc else 1
    chans = []
    for s in shapes:
        if len(s) != 4:
            raise ValueError(f"{path.name} has an output of shape {s}; expected maps [N, C, h, w]")
        chans.append(s[axis])
    if not all(isinstance(c, int) for c in chans):
        return  # symbolic: checked on the first forward pass
    fake = [np.zeros((0, c, 0, 0), np.float32) for c in chans]
    split_outputs(fake, layout)


def _bilinear_axis(src: np.ndarray, n_out: int, ratio: float, axis: int) -> np.ndarray:
    """Resample ``src`` along ``axis``: output ``u`` reads source ``(u + 0.5) * ratio - 0.5`` (clamped)."""
    n_in = src.shape[axis]
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * ratio - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = (pos - i0).astype(np.float32)
    shape = [1] * src.ndim
    shape[axis] = n_out
    t = t.reshape(shape)
    return np.take(src, i0, axis=axis) * (1 - t) + np.take(src, i1, axis=axis) * t


def _to_base(maps: np.ndarray, view: ScaleView, base: ScaleView) -> np.ndarray:
    """Maps [C, h, w] of one scale resampled onto the base (scale 1.0) grid."""
    h, w = base.map_shape
    if view.map_shape == base.map_shape and view.scale == base.scale:
        return maps
    out = _bilinear_axis(maps, w, base.scale[0] / view.scale[0], axis=2)
    return _bilinear_axis(out, h, base.scale[1] / view.scale[1], axis=1)


def _crop(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return maps[:, : shape[0], : shape[1]]


class Estimator:
    """Multi-person pose estimator: a network on an engine, plus the decoder.

    Parameters
    ----------
    model : str or path, optional
        A registry name (``posefast models list``), or the path of an ``.onnx``
        file or an OpenVINO IR ``.xml``.  Default: the preset's model.  A
        registry model is looked up in ``$POSEFAST_MODEL_PATH`` then the cache,
        converted into the cache when only its sources are there, and downloaded
        on first use when its entry allows (others need ``posefast models fetch
        NAME``, which shows their licence).  A path defaults to the COCO-18
        layout and tf-pose preprocessing (BGR, raw 0..255, cubic, multiple of 16,
        stride 8); override with ``layout`` and ``preprocessing``.
    device : str
        ``"auto"`` (CUDA when ONNX Runtime has it, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    net_height : int, optional
        Network input height for scale 1.0; the width follows the aspect ratio.
        Default: the preset's, or the model's natural height when ``model`` is given.
    backend : str
        Decoder backend (``"auto"``, ``"native"``, ``"numba"``, ``"python"``).
    config : DecodeConfig, optional
        Decoder thresholds (default: the preset's, i.e. OpenPose's defaults).
    scales : sequence of float, optional
        Network scales, relative to ``net_height``; maps of all scales are averaged
        on the scale-1.0 grid.  Default: the preset's.
    threads : int, optional
        Engine compute threads (None: the runtime's default, all cores).
    layout : str or Layout, optional
        Skeleton layout; default the registry's, or ``"coco18"`` for a path.
    preprocessing : Preprocessing or mapping, optional
        Override the preprocessing (a mapping changes only the fields it names,
        e.g. ``{"mean": 128, "std": 256}``).
    inter_threads : int, optional
        ONNX Runtime inter-op threads.
    stride : int, optional
        Input pixels per output cell (default the registry's, or 8).
    spin : bool
        Let ONNX Runtime's idle threads busy-wait (off by default: it starves the
        other stages of a video pipeline on small machines; see ``OrtEngine``).
    engine : str, optional
        ``"auto"``, ``"onnxruntime"`` or ``"openvino"`` (default: the preset's,
        which falls back to ONNX Runtime with a warning when OpenVINO is missing).
    precision : str, optional
        ``"auto"``, ``"fp32"``, ``"bf16"``, ``"int8"`` or ``"fp16"`` (default: the
        preset's when its model is used, else ``"auto"``: int8 on OpenVINO for a
        model with an int8 form, else fp32).
    preset : str, optional
        ``"fast"``, ``"default"`` or ``"accurate"`` (:func:`posefast.presets`);
        default ``"default"``.  Explicit arguments override its fields.
    engine_options : mapping, optional
        Extra engine settings, e.g. ``{"pinning": True, "streams": 2}`` for OpenVINO
        (see :class:`posefast.engines.ov.OpenVINOEngine`); the chosen settings are
        logged and in ``model_info["engine_settings"]``.
    """

    def __init__(self, model: Union[str, os.PathLike, ModelSpec, None] = None, device: str = "auto",
                 net_height: Optional[int] = None, backend: str = "auto", config: Optional[DecodeConfig] = None,
                 scales: Optional[Sequence[float]] = None, threads: Optional[int] = None,
                 layout: Union[str, Layout, None] = None,
                 preprocessing: Union[Preprocessing, Mapping[str, Any], None] = None,
                 inter_threads: Optional[int] = None, stride: Optional[int] = None,
                 spin: bool = False, engine: Optional[str] = None, precision: Optional[str] = None,
                 preset: Union[str, Preset, None] = None,
                 engine_options: Optional[Mapping[str, Any]] = None) -> None:
        if config is not None and not isinstance(config, DecodeConfig):
            raise TypeError(f"config must be a posefast.DecodeConfig, not {type(config).__name__}")
        self._preset = get_preset(preset)
        if engine is not None:
            check_engine(engine)
        if precision is not None:
            check_precision(precision)
        self._config = config if config is not None else DecodeConfig(**self._preset.decode)
        self._backend = backend
        resolve_backend(backend)  # fail now, not on the first frame
        if net_height is not None and (isinstance(net_height, bool) or not isinstance(net_height, (int, np.integer))):
            raise TypeError(f"net_height must be an int, got {net_height!r}")
        self._scales = self._check_scales(scales if scales is not None else self._preset.scales)

        from_preset = model is None
        spec, path = self._resolve(self._preset.model if from_preset else model)
        self._spec = spec
        if net_height is None:
            net_height = self._preset.net_height if from_preset else (spec.net_height if spec else 368)
        self._net_height = int(net_height)
        self._layout = get_layout(layout if layout is not None else (spec.layout if spec else "coco18"))
        base_pre = spec.preprocessing if spec else get_model("openpose-mobilenet-v2-small").preprocessing
        self._pre = self._merge_pre(base_pre, preprocessing)
        st = stride if stride is not None else (spec.stride if spec else 8)
        if isinstance(st, bool) or not isinstance(st, (int, np.integer)) or st < 1:
            raise ValueError(f"stride must be a positive int, got {stride!r}")
        self._stride = int(st)
        m = self._pre.size_multiple
        if not m <= self._net_height <= _MAX_NET_HEIGHT:
            raise ValueError(f"net_height must be in [{m}, {_MAX_NET_HEIGHT}], got {self._net_height} "
                             "(368 is OpenPose's default; use a multiple of 16)")
        if self._net_height % m:
            log.info("net_height %d is not a multiple of %d; inputs are padded to %d", self._net_height, m,
                     math.ceil(self._net_height / m) * m)

        soft_precision = precision is None and from_preset
        choice = choose(spec, path, engine=engine if engine is not None else self._preset.engine,
                        precision=precision if precision is not None else
                        (self._preset.precision if from_preset else "auto"),
                        device=device, soft_engine=engine is None, soft_precision=soft_precision)
        if spec is not None:
            path = model_file(spec, choice)
        if engine_options is not None and not isinstance(engine_options, Mapping):
            raise TypeError(f"engine_options must be a dict, not {type(engine_options).__name__}")
        options: dict[str, Any] = {}
        if choice.engine == "onnxruntime":
            options = {"inter_threads": inter_threads, "spin": spin}
        options.update(engine_options or {})
        self._fallback = choice.note
        self._session = open_engine(choice.engine, path, device=choice.device, precision=choice.precision,
                                    threads=threads, **options)
        _check_declared(self._session.output_shapes, self._layout, self._session.nhwc, self._session.path)
        log.info("Estimator: %s on %s %s (%s), layout %s, net_height %d, scales %s", self._session.path,
                 self._session.name, self._session.device, self._session.precision, self._layout.name,
                 self._net_height, self._scales)

    # -- construction helpers ------------------------------------------------

    @staticmethod
    def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
        if isinstance(scales, (int, float)) and not isinstance(scales, bool):
            scales = (scales,)
        try:
            vals = tuple(float(s) for s in scales)
        except (TypeError, ValueError):
            raise TypeError(f"scales must be a sequence of numbers, e.g. (1.0, 0.75), got {scales!r}") from None
        if not vals or any(not (math.isfinite(s) and 0.1 <= s <= 4.0) for s in vals):
            raise ValueError(f"scales must be 1 or more numbers in [0.1, 4], got {scales!r}")
        return vals

    @staticmethod
    def _merge_pre(base: Preprocessing, override) -> Preprocessing:
        if override is None:
            return base
        if isinstance(override, Preprocessing):
            return override
        if isinstance(override, Mapping):
            d = base.as_dict()
            d.update(override)
            return Preprocessing.from_dict(d)
        raise TypeError(f"preprocessing must be a posefast.models.Preprocessing or a dict, "
                        f"not {type(override).__name__}")

    @staticmethod
    def _resolve(model) -> tuple[Optional[ModelSpec], Optional[Path]]:
        if isinstance(model, ModelSpec):
            return model, None
        if _looks_like_path(model):
            return None, Path(model)
        if isinstance(model, str):
            return get_model(model), None
        raise TypeError(f"model must be a registry name or a path to an .onnx or OpenVINO .xml file, "
                        f"not {type(model).__name__}")

    # -- public attributes ---------------------------------------------------

    @property
    def layout(self) -> Layout:
        """The skeleton layout of the model's outputs."""
        return self._layout

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the network actually runs."""
        return self._session.device

    @property
    def engine(self) -> str:
        """``"onnxruntime"`` or ``"openvino"``: the engine running the network."""
        return self._session.name

    @property
    def precision(self) -> str:
        """``"fp32"``, ``"bf16"``, ``"int8"`` or ``"fp16"``: the arithmetic the network runs in."""
        return self._session.precision

    @property
    def preset(self) -> str:
        """Name of the preset the unset options came from."""
        return self._preset.name

    @property
    def providers(self) -> list[str]:
        """ONNX Runtime execution providers of the session, in priority order (``[]`` on OpenVINO)."""
        return list(getattr(self._session, "providers", []))

    @property
    def scales(self) -> tuple[float, ...]:
        return self._scales

    @property
    def net_height(self) -> int:
        return self._net_height

    @property
    def config(self) -> DecodeConfig:
        return self._config

    @property
    def model_info(self) -> dict[str, Any]:
        """Description of the loaded model (a fresh dict each time)."""
        s = self._session
        return {
            "name": self._spec.name if self._spec else s.path.stem,
            "path": str(s.path),
            "source_format": self._spec.format if self._spec else
            ("openvino" if s.path.suffix.lower() == ".xml" else "onnx"),
            "description": self._spec.description if self._spec else "",
            "license": self._spec.license if self._spec else "",
            "layout": self._layout.name,
            "stride": self._stride,
            "preprocessing": self._pre.as_dict(),
            "net_height": self._net_height,
            "scales": list(self._scales),
            "input": {"name": s.input_name, "shape": list(s.input_shape), "nhwc": s.nhwc},
            "outputs": [{"name": n, "shape": list(sh)} for n, sh in zip(s.output_names, s.output_shapes)],
            "device": s.device,
            "providers": self.providers,
            "engine": s.name,
            "precision": s.precision,
            "preset": self._preset.name,
            "engine_settings": s.describe(),
            "fallback": self._fallback or None,
        }

    def __repr__(self) -> str:
        name = self._spec.name if self._spec else str(self._session.path)
        return (f"Estimator(model={name!r}, engine={self.engine!r}, precision={self.precision!r}, "
                f"device={self.device!r}, layout={self._layout.name!r}, net_height={self._net_height}, "
                f"scales={self._scales})")

    # -- stages --------------------------------------------------------------

    @staticmethod
    def _image_list(images: ImageBatch) -> list:
        if isinstance(images, np.ndarray):
            if images.ndim == 4:
                return list(images)
            return [images]
        if isinstance(images, (list, tuple)):
            return list(images)
        raise TypeError(f"images must be a list of arrays [H, W, 3] or an array [N, H, W, 3], "
                        f"not {type(images).__name__}")

    def _meta(self, shape: tuple[int, int]) -> FrameMeta:
        views = tuple(plan_view(shape, self._net_height, self._pre, self._stride, s) for s in self._scales)
        base = next((v for v in views if v.net_scale == 1.0), None)
        if base is None:
            base = plan_view(shape, self._net_height, self._pre, self._stride, 1.0)
        return FrameMeta((int(shape[0]), int(shape[1])), views, base)

    def preprocess(self, images: ImageBatch) -> tuple[Union[np.ndarray, tuple[np.ndarray, ...]], list[FrameMeta]]:
        """Images -> network input.

        Parameters
        ----------
        images : list of N arrays [H, W, 3] (BGR), or an array [N, H, W, 3]
            A single array [H, W] / [H, W, C] counts as one image.  Sizes may
            differ: every image is padded (bottom/right) to the largest.

        Returns
        -------
        x : float32 [N, 3, H, W], or a tuple of them (one per scale) when the
            estimator has several ``scales``.
        metas : list of N FrameMeta
        """
        imgs = self._image_list(images)
        if not imgs:
            raise ValueError("no images given")
        bgr = [as_bgr(im, f"images[{i}]" if len(imgs) > 1 else "image") for i, im in enumerate(imgs)]
        metas = [self._meta(b.shape[:2]) for b in bgr]
        xs = tuple(make_input(bgr, [m.views[j] for m in metas], self._pre) for j in range(len(self._scales)))
        return (xs[0] if len(xs) == 1 else xs), metas

    def forward(self, x: Union[np.ndarray, Sequence[np.ndarray]]) -> tuple[Any, Any]:
        """Run the network.

        Parameters
        ----------
        x : float32 [N, 3, H, W] (or a tuple of them, from a multi-scale :meth:`preprocess`)

        Returns
        -------
        heatmaps : float32 [N, K+1, h, w] (or a tuple, one per scale)
        pafs : float32 [N, 2L, h, w] (or a tuple)
        """
        if isinstance(x, (tuple, list)):
            pairs = [self.forward(xi) for xi in x]
            return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be the float32 array from Estimator.preprocess, not {type(x).__name__}")
        outs = self._session.run(x)
        hm, pafs = split_outputs(outs, self._layout, self._session.nhwc)
        exp = (math.ceil(x.shape[2] / self._stride), math.ceil(x.shape[3] / self._stride))
        if abs(hm.shape[2] - exp[0]) > 1 or abs(hm.shape[3] - exp[1]) > 1:
            raise ValueError(f"the network turned a {x.shape[2]}x{x.shape[3]} input into {hm.shape[2]}x{hm.shape[3]} "
                             f"maps, not stride {self._stride}; pass stride= to Estimator")
        return hm, pafs

    def _maps(self, heatmaps, pafs, metas: Sequence[FrameMeta]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: maps cropped to its own grid (multi-scale: averaged on the base grid)."""
        multi = isinstance(heatmaps, (tuple, list))
        hms = list(heatmaps) if multi else [heatmaps]
        pfs = list(pafs) if multi else [pafs]
        if len(hms) != len(pfs):
            raise ValueError("heatmaps and pafs must come from the same Estimator.forward call")
        if metas and multi != (len(metas[0].views) > 1) or (multi and metas and len(hms) != len(metas[0].views)):
            raise ValueError(f"got maps for {len(hms)} scale(s) but the metas describe {len(metas[0].views)}; "
                             "pass the metas that Estimator.preprocess returned with this batch")
        for h, p in zip(hms, pfs):
            if h.shape[0] != len(metas) or p.shape[0] != len(metas):
                raise ValueError(f"maps hold {h.shape[0]} frames but {len(metas)} metas were given; pass the "
                                 "metas that Estimator.preprocess returned with this batch")
        out = []
        for i, meta in enumerate(metas):
            if not isinstance(meta, FrameMeta):
                raise TypeError(f"metas[{i}] is {type(meta).__name__}, not the FrameMeta from Estimator.preprocess")
            if not multi:
                v = meta.views[0]
                hm_i, pf_i = _crop(hms[0][i], v.map_shape), _crop(pfs[0][i], v.map_shape)
                if v is not meta.base:  # a single scale other than 1.0
                    hm_i, pf_i = _to_base(hm_i, v, meta.base), _to_base(pf_i, v, meta.base)
            else:
                acc_h = acc_p = None
                for j, v in enumerate(meta.views):
                    h_j = _to_base(_crop(hms[j][i], v.map_shape), v, meta.base)
                    p_j = _to_base(_crop(pfs[j][i], v.map_shape), v, meta.base)
                    acc_h = h_j.astype(np.float32) if acc_h is None else acc_h + h_j
                    acc_p = p_j.astype(np.float32) if acc_p is None else acc_p + p_j
                n = np.float32(len(meta.views))
                hm_i, pf_i = acc_h / n, acc_p / n
            out.append((np.ascontiguousarray(hm_i, np.float32), np.ascontiguousarray(pf_i, np.float32)))
        return out

    def postprocess(self, heatmaps, pafs, metas: Sequence[FrameMeta]) -> list[Poses]:
        """Network maps -> people in each image's own pixel coordinates.

        Parameters
        ----------
        heatmaps : float32 [N, K+1, h, w] (or the tuple from a multi-scale :meth:`forward`)
        pafs : float32 [N, 2L, h, w] (or a tuple)
        metas : list of N FrameMeta, from :meth:`preprocess`

        Returns
        -------
        list of N Poses
        """
        maps = self._maps(heatmaps, pafs, metas)
        result: list[Optional[Poses]] = [None] * len(maps)
        groups: dict[tuple, list[int]] = {}
        for i, (hm, _) in enumerate(maps):
            groups.setdefault((hm.shape, metas[i].scale), []).append(i)
        for (_, scale), idx in groups.items():
            hm = np.stack([maps[i][0] for i in idx])
            pf = np.stack([maps[i][1] for i in idx])
            poses = decode_batch(hm, pf, layout=self._layout, backend=self._backend, config=self._config,
                                 scale=scale)
            for i, p in zip(idx, poses):
                result[i] = p
        return result  # type: ignore[return-value]

    # -- conveniences --------------------------------------------------------

    def infer(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw network maps of one image (averaged over scales, on the scale-1.0 grid).

        Returns
        -------
        heatmaps : float32 [K+1, h, w]
        pafs : float32 [2L, h, w]
            Cell ``(row, col)`` is centred on image pixel
            ``((col + 0.5) * sx - 0.5, (row + 0.5) * sy - 0.5)`` with
            ``sx, sy = est.preprocess([image])[1][0].scale``.
        """
        if not isinstance(image, np.ndarray):
            as_bgr(image)  # raises the TypeError
        x, metas = self.preprocess([image])
        hm, pf = self.forward(x)
        return self._maps(hm, pf, metas)[0]

    def __call__(self, image: np.ndarray) -> Poses:
        """People in one BGR image [H, W, 3]; keypoints in the image's pixels."""
        if not isinstance(image, np.ndarray):
            as_bgr(image)
        x, metas = self.preprocess([image])
        return self.postprocess(*self.forward(x), metas)[0]

    def batch(self, images: ImageBatch) -> list[Poses]:
        """People in each of several images; the same result as calling the
        estimator on each image, in fewer network runs.

        Images whose network inputs have the same size (all frames of a video,
        photos of one camera) go through the network as one batch (per scale).
        Images of different sizes are batched by size: padding one image to
        another's size would change its result, because the default model
        normalises every image with statistics taken over the whole input,
        padding included.  (:meth:`preprocess` does pad mixed sizes to one
        tensor; use same-size images there when exactness matters.)
        """
        imgs = self._image_list(images)
        if not imgs:
            return []
        bgr = [as_bgr(im, f"images[{i}]") for i, im in enumerate(imgs)]
        groups: dict[tuple, list[int]] = {}
        for i, b in enumerate(bgr):
            key = tuple(v.padded_shape for v in self._meta(b.shape[:2]).views)
            groups.setdefault(key, []).append(i)
        result: list[Optional[Poses]] = [None] * len(bgr)
        for idx in groups.values():
            x, metas = self.preprocess([bgr[i] for i in idx])
            for i, p in zip(idx, self.postprocess(*self.forward(x), metas)):
                result[i] = p
        return result  # type: ignore[return-value]
