"""Model registry: what each named model is, where it comes from, where it lives here.

The registry is data: ``manifest.json`` beside this module (installed with the
package; ``models/manifest.json`` at the top of the repository is an identical
copy).  Each entry names the public source file(s) of a model, their sha256, the
source format (``onnx``, ``tensorflow``, ``caffe`` or ``openvino``), the skeleton
layout, the network stride, its natural net height, the precisions it offers and
the preprocessing the network was trained with.

Where models live
-----------------
A model called ``NAME`` is the file ``<dir>/NAME/model.onnx`` (the float ONNX
model, converted from its sources when needed); its sources are
``<dir>/NAME/<filename>`` (TensorFlow, Caffe) or, for an OpenVINO IR,
``<dir>/NAME/<variant>/<filename>`` (e.g. ``FP16-INT8/human-pose-estimation-0001.xml``,
as Open Model Zoo lays them out).  Directories are searched in this order:

1. each directory of ``POSEFAST_MODEL_PATH`` (``os.pathsep``-separated), so tests,
   CI and offline installs can point at a folder of ready models;
2. the cache: ``POSEFAST_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/posefast``,
   else ``~/.cache/posefast``.  :func:`posefast.models.fetch` downloads there.

Environment variables are read at each call; nothing is cached in module state.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from ..layouts import get_layout

__all__ = [
    "DEFAULT_MODEL",
    "ModelFile",
    "ModelSpec",
    "Preprocessing",
    "cache_dir",
    "describe",
    "find_ir",
    "find_model",
    "find_sources",
    "get_model",
    "list_models",
    "load_manifest",
    "manifest_path",
    "search_path",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "human-pose-estimation-0001"
FORMATS = ("onnx", "tensorflow", "caffe", "openvino")
#: source files each format needs, by role
FORMAT_ROLES = {"onnx": ("onnx",), "tensorflow": ("graph",), "caffe": ("prototxt", "caffemodel"),
                "openvino": ("xml", "bin")}
MODEL_PRECISIONS = ("fp32", "bf16", "int8", "fp16")
_INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos")
_OUTPUTS = ("concatenated", "separate", "auto")


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network input.

    ``net_input = (resize(image) - mean) / std`` in channel order ``color``, laid out
    NCHW as float32.

    Attributes
    ----------
    color : str
        ``"bgr"`` (OpenCV order, as ``cv2.imread`` gives) or ``"rgb"``.
    mean, std : float or (float, float, float)
        Per-channel (in ``color`` order) or scalar.  tf-pose: 0 and 1 (raw 0..255);
        CMU OpenPose: 128 and 256 (``x/256 - 0.5``).
    interpolation : str
        OpenCV resize interpolation: ``"cubic"``, ``"linear"``, ``"area"``,
        ``"nearest"`` or ``"lanczos"``.
    size_multiple : int
        Network input height and width are padded (bottom/right) up to a multiple of
        this; the resized width is rounded to the nearest multiple.
    pad_value : float
        Raw pixel value (0..255 scale, before mean/std) of the padding.
    """

    color: str = "bgr"
    mean: Union[float, tuple[float, float, float]] = 0.0
    std: Union[float, tuple[float, float, float]] = 1.0
    interpolation: str = "cubic"
    size_multiple: int = 16
    pad_value: float = 0.0

    def __post_init__(self) -> None:
        if self.color not in ("bgr", "rgb"):
            raise ValueError(f"preprocessing color must be 'bgr' or 'rgb', got {self.color!r}")
        for name in ("mean", "std"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                if len(v) != 3:
                    raise ValueError(f"preprocessing {name} must be a number or 3 numbers, got {v!r}")
                object.__setattr__(self, name, tuple(float(x) for x in v))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                object.__setattr__(self, name, float(v))
            else:
                raise TypeError(f"preprocessing {name} must be a number or 3 numbers, got {v!r}")
        stds = self.std if isinstance(self.std, tuple) else (self.std,)
        if any(s == 0 for s in stds):
            raise ValueError("preprocessing std must be non-zero")
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"preprocessing interpolation must be one of {_INTERPOLATIONS}, "
                             f"got {self.interpolation!r}")
        if isinstance(self.size_multiple, bool) or not isinstance(self.size_multiple, int) \
                or not 1 <= self.size_multiple <= 256:
            raise ValueError(f"preprocessing size_multiple must be an int in [1, 256], got {self.size_multiple!r}")
        object.__setattr__(self, "pad_value", float(self.pad_value))

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "Preprocessing":
        known = set(Preprocessing.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown preprocessing field(s) {sorted(extra)}; known: {sorted(known)}")
        return Preprocessing(**dict(d))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("mean", "std"):
            if isinstance(d[k], tuple):
                d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class ModelFile:
    """One source file of a model.

    Attributes
    ----------
    role : str
        ``"onnx"``, ``"graph"`` (TensorFlow frozen GraphDef), ``"prototxt"``,
        ``"caffemodel"``, ``"xml"`` or ``"bin"`` (OpenVINO IR).
    filename : str
        Name the file is stored under in the cache.
    variant : str or None
        OpenVINO IR release the file belongs to (``"FP32"``, ``"FP16"``,
        ``"FP16-INT8"``); the file lives in a sub-folder of that name.
    urls : tuple of str
        Public download URLs, tried in order.
    sha256 : str or None
        Expected digest; ``None`` when it could not be verified (fetch then warns).
    size : int or None
        Expected size in bytes, when known.
    """

    role: str
    filename: str
    urls: tuple[str, ...]
    sha256: Optional[str] = None
    size: Optional[int] = None
    variant: Optional[str] = None

    @property
    def relpath(self) -> str:
        """Where the file lives inside the model's folder (``variant/filename`` or ``filename``)."""
        return f"{self.variant}/{self.filename}" if self.variant else self.filename

    def __post_init__(self) -> None:
        if not self.filename or os.path.basename(self.filename) != self.filename:
            raise ValueError(f"model file name must be a plain file name, got {self.filename!r}")
        if self.variant is not None and (not self.variant or os.path.basename(self.variant) != self.variant
                                         or self.variant.startswith(".")):
            raise ValueError(f"model file variant must be a plain folder name, got {self.variant!r}")
        if isinstance(self.urls, str):
            object.__setattr__(self, "urls", (self.urls,))
        else:
            object.__setattr__(self, "urls", tuple(self.urls))
        if self.sha256 is not None:
            h = str(self.sha256).lower()
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise ValueError(f"sha256 of {self.filename} must be 64 hex digits or null, got {self.sha256!r}")
            object.__setattr__(self, "sha256", h)


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry.

    Attributes
    ----------
    name : str
    description : str
    format : str
        Source format: ``"onnx"``, ``"tensorflow"``, ``"caffe"`` or ``"openvino"``.
    files : tuple of ModelFile
    layout : str
        Skeleton layout name (``"coco18"``, ``"body25"``, ``"mpi15"``).
    stride : int
        Input pixels per output map cell.
    outputs : str
        ``"concatenated"`` (one output, heatmaps then PAFs), ``"separate"`` (two
        outputs, told apart by channel count) or ``"auto"``.
    net_height : int
        The network input height it was made for (used when none is asked for).
    precisions : tuple of str
        What it offers: ``"fp32"``, ``"bf16"`` (the float model in bf16, where the
        CPU has it), ``"int8"`` (an INT8 OpenVINO IR), ``"fp16"``.
    preprocessing : Preprocessing
    auto_fetch : bool
        Whether :class:`~posefast.Estimator` may download it on first use.
    license : str
    homepage : str
    """

    name: str
    description: str
    format: str
    files: tuple[ModelFile, ...]
    layout: str = "coco18"
    stride: int = 8
    outputs: str = "auto"
    net_height: int = 368
    precisions: tuple[str, ...] = ("fp32",)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    auto_fetch: bool = False
    license: str = ""
    homepage: str = ""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name or self.name.startswith("."):
            raise ValueError(f"model name must be a plain name, got {self.name!r}")
        if self.format not in FORMATS:
            raise ValueError(f"model {self.name!r}: format must be one of {FORMATS}, got {self.format!r}")
        get_layout(self.layout)  # raises for an unknown layout
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride < 1:
            raise ValueError(f"model {self.name!r}: stride must be a positive int, got {self.stride!r}")
        if self.outputs not in _OUTPUTS:
            raise ValueError(f"model {self.name!r}: outputs must be one of {_OUTPUTS}, got {self.outputs!r}")
        if isinstance(self.net_height, bool) or not isinstance(self.net_height, int) \
                or not 16 <= self.net_height <= 4096:
            raise ValueError(f"model {self.name!r}: net_height must be an int in [16, 4096], got {self.net_height!r}")
        object.__setattr__(self, "precisions", tuple(self.precisions))
        bad = [p for p in self.precisions if p not in MODEL_PRECISIONS]
        if bad or "fp32" not in self.precisions:
            raise ValueError(f"model {self.name!r}: precisions must include 'fp32' and be among "
                             f"{MODEL_PRECISIONS}, got {list(self.precisions)}")
        object.__setattr__(self, "files", tuple(self.files))
        need = set(FORMAT_ROLES[self.format])
        groups: dict[Optional[str], set] = {}
        for f in self.files:
            groups.setdefault(f.variant, set()).add(f.role)
        if self.format == "openvino":
            if None in groups:
                raise ValueError(f"model {self.name!r}: every OpenVINO IR file needs a 'variant' (e.g. 'FP32')")
        elif set(groups) != {None}:
            raise ValueError(f"model {self.name!r}: only OpenVINO IR files have variants")
        for variant, roles in groups.items():
            if not need <= roles:
                what = f" variant {variant!r}" if variant else ""
                raise ValueError(f"model {self.name!r} ({self.format}){what} needs files with roles {sorted(need)}, "
                                 f"has {sorted(roles)}")
        if "int8" in self.precisions and not self.int8_variants():
            raise ValueError(f"model {self.name!r} lists precision 'int8' but has no INT8 IR variant")

    def file(self, role: str, variant: Optional[str] = None) -> ModelFile:
        """The source file with this role (of this IR variant)."""
        for f in self.files:
            if f.role == role and (variant is None or f.variant == variant):
                return f
        raise KeyError(f"model {self.name!r} has no {role!r} file" + (f" in variant {variant!r}" if variant else ""))

    def variants(self) -> list[str]:
        """OpenVINO IR variants, in manifest order (empty for other formats)."""
        out: list[str] = []
        for f in self.files:
            if f.variant is not None and f.variant not in out:
                out.append(f.variant)
        return out

    def int8_variants(self) -> list[str]:
        """IR variants with int8 arithmetic (names containing ``INT8``, Open Model Zoo's convention)."""
        return [v for v in self.variants() if "INT8" in v.upper()]

    def float_variants(self) -> list[str]:
        """IR variants of the float model, FP32 before FP16."""
        rest = [v for v in self.variants() if v not in self.int8_variants()]
        return sorted(rest, key=lambda v: (v.upper() != "FP32", rest.index(v)))

    @staticmethod
    def from_dict(name: str, d: Mapping[str, Any]) -> "ModelSpec":
        d = dict(d)
        try:
            files = tuple(ModelFile(**dict(f)) for f in d.pop("files"))
        except KeyError:
            raise ValueError(f"manifest entry {name!r} lists no files") from None
        except TypeError as exc:
            raise ValueError(f"manifest entry {name!r}: bad file entry ({exc})") from None
        pre = Preprocessing.from_dict(d.pop("preprocessing", {}))
        known = set(ModelSpec.__dataclass_fields__) - {"name", "files", "preprocessing"}
        extra = set(d) - known
        if extra:
            raise ValueError(f"manifest entry {name!r}: unknown field(s) {sorted(extra)}")
        return ModelSpec(name=name, files=files, preprocessing=pre, **d)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (as in the manifest, plus ``name``)."""
        return {
            "name": self.name,
            "description": self.description,
            "format": self.format,
            "files": [{"role": f.role, **({"variant": f.variant} if f.variant else {}), "filename": f.filename,
                       "urls": list(f.urls), "sha256": f.sha256, "size": f.size} for f in self.files],
            "layout": self.layout,
            "stride": self.stride,
            "outputs": self.outputs,
            "net_height": self.net_height,
            "precisions": list(self.precisions),
            "preprocessing": self.preprocessing.as_dict(),
            "auto_fetch": self.auto_fetch,
            "license": self.license,
            "homepage": self.homepage,
        }


def manifest_path() -> Path:
    """Path of the manifest installed with the package."""
    return Path(__file__).resolve().with_name("manifest.json")


def load_manifest(path: Union[str, os.PathLike, None] = None) -> dict[str, ModelSpec]:
    """Read a manifest file (the packaged one by default).

    Returns
    -------
    dict
        Model name -> :class:`ModelSpec`, in file order.
    """
    p = Path(path) if path is not None else manifest_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"model manifest {p} is missing; reinstall posefast") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"model manifest {p} is not valid JSON: {exc}") from None
    models = data.get("models")
    if not isinstance(models, dict):
        raise ValueError(f"model manifest {p} has no 'models' table")
    return {name: ModelSpec.from_dict(name, entry) for name, entry in models.items()}


def list_models() -> list[ModelSpec]:
    """Every model of the packaged registry."""
    return list(load_manifest().values())


def get_model(name: Union[str, ModelSpec]) -> ModelSpec:
    """The registry entry called ``name`` (a :class:`ModelSpec` passes through)."""
    if isinstance(name, ModelSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, not {type(name).__name__}")
    models = load_manifest()
    key = name.strip()
    if key in models:
        return models[key]
    low = {k.lower(): k for k in models}
    if key.lower() in low:
        return models[low[key.lower()]]
    raise ValueError(f"unknown model {name!r}; registered models: {', '.join(models)} "
                     "(`posefast models list`), or pass the path of an .onnx file")


def cache_dir() -> Path:
    """The model cache directory (not created here).

    ``POSEFAST_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/posefast``, else
    ``~/.cache/posefast``.
    """
    env = os.environ.get("POSEFAST_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "posefast"


def search_path(cache: Union[str, os.PathLike, None] = None) -> list[Path]:
    """Directories searched for ``<name>/model.onnx``, in order.

    The entries of ``POSEFAST_MODEL_PATH`` (``os.pathsep``-separated), then the
    cache (``cache`` if given, else :func:`cache_dir`).
    """
    dirs = [Path(p).expanduser() for p in os.environ.get("POSEFAST_MODEL_PATH", "").split(os.pathsep)
            if p.strip()]
    dirs.append(Path(cache) if cache is not None else cache_dir())
    return dirs


def find_model(name: str, cache: Union[str, os.PathLike, None] = None) -> Optional[Path]:
    """Path of ``<dir>/<name>/model.onnx`` in the first search directory holding it, else None."""
    for d in search_path(cache):
        p = d / name / "model.onnx"
        if p.is_file():
            return p
    return None


def find_ir(spec: ModelSpec, variant: str, cache: Union[str, os.PathLike, None] = None) -> Optional[Path]:
    """The ``.xml`` of an IR variant in the first search directory holding it, else None.

    Only the ``.xml`` is looked for: a missing ``.bin`` beside it is reported when
    the model is loaded, with the folder to fix.
    """
    xml = spec.file("xml", variant)
    for d in search_path(cache):
        p = d / spec.name / xml.relpath
        if p.is_file():
            return p
    return None


def find_sources(spec: ModelSpec, cache: Union[str, os.PathLike, None] = None,
                 variant: Optional[str] = None) -> Optional[dict[str, Path]]:
    """Source files (role -> path) in the first search directory holding all of them, else None."""
    files = [f for f in spec.files if variant is None or f.variant == variant]
    for d in search_path(cache):
        paths = {f.role: d / spec.name / f.relpath for f in files}
        if paths and all(p.is_file() for p in paths.values()):
            return paths
    return None


def describe(spec: ModelSpec, cache: Union[str, os.PathLike, None] = None) -> dict[str, Any]:
    """Registry entry plus where it is installed here.

    ``path``: the ONNX model, or for an OpenVINO model without one the first IR
    ``.xml`` found (str or None); ``ir``: for OpenVINO models, each variant's
    ``.xml`` found (or None).
    """
    d = spec.as_dict()
    p = find_model(spec.name, cache)
    d["path"] = str(p) if p is not None else None
    if spec.format == "openvino":
        d["ir"] = {v: (str(x) if (x := find_ir(spec, v, cache)) is not None else None) for v in spec.variants()}
        if d["path"] is None:
            d["path"] = next((x for x in d["ir"].values() if x is not None), None)
    return d
