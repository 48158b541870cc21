"""Download registry models into the cache, verify them, convert them to ONNX.

``fetch(name)`` leaves ``<cache>/<name>/model.onnx`` (see
:mod:`posefast.models.registry` for the cache location); for an OpenVINO IR model
it leaves the IR ``<cache>/<name>/<variant>/*.xml|.bin`` instead (ONNX Runtime gets
it converted to ONNX on first use: :func:`locate_onnx`).  Every file is written to
a temporary name in the destination folder and moved into place with
``os.replace`` only once complete and verified, so the cache never holds a partial
or corrupt file, even when the download is interrupted or two processes fetch at
once.

Source URLs
-----------
The manifest lists each file's public URL(s), tried in order.  A mirror replaces
them all: ``fetch(..., base_url="https://mirror/dir/")`` or the environment
variable ``POSEFAST_MODEL_BASE_URL`` downloads ``<base_url>/<filename>`` instead
(the sha256 check still applies; an OpenVINO IR file is ``<base_url>/<variant>/<filename>``,
as Open Model Zoo lays them out).  ``file://`` URLs work too.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from .registry import (ModelFile, ModelSpec, cache_dir as default_cache_dir, find_ir, find_model, find_sources,
                       get_model)

__all__ = ["ChecksumError", "FetchError", "convert_sources", "download_file", "fetch", "locate_ir", "locate_onnx",
           "sha256_file"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
PathLike = Union[str, os.PathLike]


class FetchError(RuntimeError):
    """A model file could not be downloaded (network error, incomplete transfer)."""


class ChecksumError(FetchError):
    """A downloaded file does not have the sha256 the registry expects."""


def sha256_file(path: PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _user_agent() -> str:
    from .. import __version__

    return f"posefast/{__version__} (+https://github.com/posefast/posefast)"


def _show_progress(progress: Optional[bool]) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _download_one(url: str, dest: Path, sha256: Optional[str], size: Optional[int],
                  progress: bool, timeout: float) -> None:
    from tqdm.auto import tqdm

    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    out = os.fdopen(fd, "wb")
    try:
        req = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()  # an HTTPError holds the open connection
            raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        with out, resp:
            length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            expected = int(length) if length and length.isdigit() else size
            h = hashlib.sha256()
            got = 0
            with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=dest.name, disable=not progress, leave=False) as bar:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if length and length.isdigit() and got != int(length):
            raise FetchError(f"download of {url} was cut short: got {got} of {int(length)} bytes; "
                             "retry (the partial file was removed)")
        if size is not None and got != size:
            raise ChecksumError(f"{url} is {got} bytes but the registry expects {size}; "
                                "the file at that URL is not the registered one")
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise ChecksumError(f"sha256 mismatch for {url}: got {digest}, expected {sha256}; the download "
                                "is corrupt or the file changed upstream (nothing was kept; retry, or use "
                                "another mirror with base_url= / POSEFAST_MODEL_BASE_URL)")
        if sha256 is None:
            log.warning("%s has no registered sha256; downloaded file (sha256 %s) is unverified", dest.name, digest)
        os.replace(tmp, dest)
    except BaseException:
        out.close()
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def download_file(urls: Union[str, Sequence[str]], dest: PathLike, sha256: Optional[str] = None,
                  size: Optional[int] = None, progress: Optional[bool] = None,
                  timeout: float = 60.0) -> Path:
    """Download the first URL that works to ``dest``, verified, atomically.

    Parameters
    ----------
    urls : str or sequence of str
        Tried in order until one succeeds.
    dest : path
        Final file; its folder must exist.  Written only when complete and verified.
    sha256 : str, optional
        Expected hex digest (``None``: not verified, a warning is logged).
    size : int, optional
        Expected size in bytes.
    progress : bool, optional
        Show a tqdm progress bar (default: only when stderr is a terminal).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    ChecksumError
        The file downloaded has the wrong sha256 or size (from every URL).
    FetchError
        No URL could be downloaded completely.
    """
    dest = Path(dest)
    if isinstance(urls, str):
        urls = [urls]
    if not urls:
        raise ValueError(f"no URL to download {dest.name} from")
    show = _show_progress(progress)
    errors: list[str] = []
    last: Optional[BaseException] = None
    for url in urls:
        log.info("downloading %s -> %s", url, dest)
        try:
            _download_one(url, dest, sha256, size, show, timeout)
            return dest
        except FetchError as exc:
            last = exc
            errors.append(str(exc))
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            last = exc
            errors.append(f"{url}: {exc}")
        log.warning("download failed: %s", errors[-1])
    if isinstance(last, ChecksumError) and len(errors) == 1:
        raise last
    cls = ChecksumError if isinstance(last, ChecksumError) else FetchError
    raise cls(f"could not download {dest.name}: " + "; ".join(errors)
              + " (check the network; or point POSEFAST_MODEL_PATH at a folder that holds <model>/model.onnx; "
                "or download the file yourself and run `posefast models fetch --base-url file:///its/folder/` "
                "(Python: base_url=...); or convert an OpenPose/TensorFlow model you have with "
                "`posefast models convert`)") from last


def _urls_for(f: ModelFile, base_url: Optional[str], urls: Optional[Mapping[str, str]]) -> list[str]:
    if urls and f.role in urls:
        return [urls[f.role]]
    if urls and f.filename in urls:
        return [urls[f.filename]]
    base = base_url if base_url is not None else os.environ.get("POSEFAST_MODEL_BASE_URL", "").strip()
    if base:
        return [base.rstrip("/") + "/" + f.relpath]  # IR files: <base>/<variant>/<filename>
    return list(f.urls)


def _have(path: Path, f: ModelFile) -> bool:
    """An already-downloaded source file that can be reused."""
    if not path.is_file():
        return False
    if f.size is not None and path.stat().st_size != f.size:
        return False
    if f.sha256 is not None and sha256_file(path) != f.sha256:
        log.warning("%s in the cache does not match its sha256; downloading it again", path)
        return False
    return True


def _converters():
    try:
        from . import convert as conv

        return conv.convert_caffe, conv.convert_tensorflow, conv.convert_openvino
    except (ImportError, AttributeError) as exc:
        raise ImportError("converting TensorFlow/Caffe/OpenVINO models to ONNX needs posefast.models.convert and "
                          "its dependencies: pip install posefast[convert] (onnx, protobuf)") from exc


def convert_sources(format: str, sources: Mapping[str, PathLike], output: PathLike, *,
                    fake_quantize: str = "drop") -> Path:
    """Convert source files to ONNX at ``output`` (atomically).

    Parameters
    ----------
    format : str
        ``"tensorflow"`` (needs ``sources["graph"]``), ``"caffe"`` (needs
        ``sources["prototxt"]`` and ``sources["caffemodel"]``) or ``"openvino"`` (needs
        ``sources["xml"]``; ``sources["bin"]`` defaults to the ``.bin`` beside it).
    sources : mapping role -> path
    output : path
        The ONNX file to write; replaced only once the conversion succeeded.
    fake_quantize : {"drop", "emulate"}
        OpenVINO only: what to do with activation FakeQuantize layers
        (see :func:`posefast.models.convert.convert_openvino`).

    Returns
    -------
    Path
        ``output``.
    """
    out = Path(output)
    need = {"tensorflow": ("graph",), "caffe": ("prototxt", "caffemodel"), "openvino": ("xml",)}
    if format not in need:
        raise ValueError(f"cannot convert format {format!r}; converters exist for 'tensorflow', 'caffe' and "
                         "'openvino'")
    for role in need[format]:
        if role not in sources:
            raise ValueError(f"converting a {format} model needs a {role!r} file")
        if not Path(sources[role]).is_file():
            raise FileNotFoundError(f"{role} file {sources[role]} not found")
    if format == "openvino":
        bin_path = Path(sources["bin"]) if sources.get("bin") else Path(sources["xml"]).with_suffix(".bin")
        if not bin_path.is_file():
            raise FileNotFoundError(f"bin file {bin_path} not found: an OpenVINO IR needs its .bin weights "
                                    "(beside the .xml with the same name, or given as the 'bin' source)")
    convert_caffe, convert_tensorflow, convert_openvino = _converters()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp.onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        log.info("converting %s model to ONNX: %s", format, out)
        if format == "tensorflow":
            made = convert_tensorflow(Path(sources["graph"]), tmp)
        elif format == "openvino":
            made = convert_openvino(Path(sources["xml"]), tmp, bin_path=bin_path,
                                    fake_quantize=fake_quantize)
        else:
            made = convert_caffe(Path(sources["prototxt"]), Path(sources["caffemodel"]), tmp)
        made = Path(made) if made is not None else tmp
        if made != tmp:
            os.replace(made, tmp)
        if tmp.stat().st_size == 0:
            raise RuntimeError(f"the {format} converter wrote an empty file")
        os.replace(tmp, out)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return out


def _writable_cache(root: Path, folder: Path, name: str) -> None:
    """Create ``folder`` and check that files can be written in it, or say how to choose another cache."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PermissionError(
            f"the model cache {root} is not writable ({exc.strerror or exc}: {exc.filename or folder}); point "
            f"POSEFAST_CACHE_DIR at a writable folder (e.g. POSEFAST_CACHE_DIR=$HOME/posefast-cache), pass "
            f"--cache-dir to `posefast models fetch`, or set POSEFAST_MODEL_PATH to a folder that already holds "
            f"the model {name}") from exc


def fetch(model: Union[str, ModelSpec] = "openpose-mobilenet-v2-small", *,
          cache_dir: Optional[PathLike] = None, base_url: Optional[str] = None,
          urls: Optional[Mapping[str, str]] = None, force: bool = False,
          progress: Optional[bool] = None, timeout: float = 60.0, variant: Optional[str] = None) -> Path:
    """Download, verify and (if needed) convert a registry model into the cache.

    Parameters
    ----------
    model : str or ModelSpec
        Registry name (``posefast models list``) or an entry.
    cache_dir : path, optional
        Cache root (default: :func:`posefast.models.registry.cache_dir`).
    base_url : str, optional
        Mirror folder: download ``<base_url>/<filename>`` for every file instead of
        the registered URLs.  Default: ``$POSEFAST_MODEL_BASE_URL`` if set.
    urls : mapping, optional
        Per-file URL overrides, keyed by file role or file name.
    force : bool
        Download and convert again even if ``model.onnx`` exists.
    progress : bool, optional
        tqdm progress bars (default: only when stderr is a terminal).
    timeout : float
        Socket timeout in seconds.
    variant : str, optional
        OpenVINO IR models: the release to download (``"FP16-INT8"``, ``"FP32"``,
        ``"FP16"``; default the first in the manifest).

    Returns
    -------
    Path
        ``<cache>/<name>/model.onnx``, or for an OpenVINO model the IR's
        ``<cache>/<name>/<variant>/<name>.xml`` (no conversion).

    Raises
    ------
    ChecksumError, FetchError
        Download problems; nothing partial is left in the cache.
    ImportError
        A TensorFlow/Caffe model needs the converters (``pip install posefast[convert]``).
    """
    spec = get_model(model)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / spec.name
    if spec.format == "openvino":
        return _fetch_ir(spec, folder, variant, base_url, urls, force, progress, timeout)
    if variant is not None:
        raise ValueError(f"model {spec.name!r} ({spec.format}) has no variants; variant= is for OpenVINO IR models")
    target = folder / "model.onnx"
    if target.is_file() and not force:
        log.debug("%s already in the cache: %s", spec.name, target)
        return target
    _writable_cache(root, folder, spec.name)
    if spec.license:
        log.info("%s: licence: %s", spec.name, spec.license)
    if spec.format == "onnx":
        f = spec.file("onnx")
        download_file(_urls_for(f, base_url, urls), target, f.sha256, f.size, progress, timeout)
        return target
    if spec.format in ("tensorflow", "caffe"):
        _converters()  # fail before a long download when the converters are missing
    sources: dict[str, Path] = {}
    for f in spec.files:
        path = folder / f.filename
        if force or not _have(path, f):
            download_file(_urls_for(f, base_url, urls), path, f.sha256, f.size, progress, timeout)
        sources[f.role] = path
    convert_sources(spec.format, sources, target)
    log.info("%s is ready: %s", spec.name, target)
    return target


def _fetch_ir(spec: ModelSpec, folder: Path, variant: Optional[str], base_url: Optional[str],
              urls: Optional[Mapping[str, str]], force: bool, progress: Optional[bool], timeout: float) -> Path:
    variants = spec.variants()
    variant = variant if variant is not None else variants[0]
    if variant not in variants:
        raise ValueError(f"model {spec.name!r} has no IR variant {variant!r}; it has {', '.join(variants)}")
    if spec.license:
        log.info("%s: licence: %s", spec.name, spec.license)
    sub = folder / variant
    _writable_cache(folder.parent, sub, spec.name)
    for f in spec.files:
        if f.variant != variant:
            continue
        path = sub / f.filename
        if force or not _have(path, f):
            download_file(_urls_for(f, base_url, urls), path, f.sha256, f.size, progress, timeout)
    xml = sub / spec.file("xml", variant).filename
    log.info("%s %s is ready: %s", spec.name, variant, xml)
    return xml


def _not_installed(spec: ModelSpec, what: str) -> FileNotFoundError:
    return FileNotFoundError(f"model {spec.name!r} ({what}) is not installed (searched $POSEFAST_MODEL_PATH and the "
                             f"cache); run `posefast models fetch {spec.name}` first (licence: {spec.license})")


def locate_ir(model: Union[str, ModelSpec], variants: Sequence[str], *,
              cache_dir: Optional[PathLike] = None, fetch_missing: Optional[bool] = None) -> Path:
    """The ``.xml`` of the first of ``variants`` found; else download the first one.

    Parameters
    ----------
    model : str or ModelSpec
        An OpenVINO IR model of the registry.
    variants : sequence of str
        IR variants acceptable, best first.
    cache_dir : path, optional
    fetch_missing : bool, optional
        Download when none is found (default: the entry's ``auto_fetch``).
    """
    spec = get_model(model)
    if spec.format != "openvino":
        raise ValueError(f"model {spec.name!r} is {spec.format}, not an OpenVINO IR")
    if not variants:
        raise ValueError(f"no IR variant asked for model {spec.name!r}")
    for v in variants:
        found = find_ir(spec, v, cache_dir)
        if found is not None:
            return found
    if not (spec.auto_fetch if fetch_missing is None else fetch_missing):
        raise _not_installed(spec, f"IR {variants[0]}")
    log.warning("model %s (%s) not found locally; downloading it (one time)", spec.name, variants[0])
    return fetch(spec, cache_dir=cache_dir, variant=variants[0])


def locate_onnx(model: Union[str, ModelSpec], *, cache_dir: Optional[PathLike] = None,
                fetch_missing: Optional[bool] = None) -> Path:
    """The float ONNX model of a registry entry, converting it into the cache once.

    Order: ``<dir>/<name>/model.onnx`` on the search path; else source files found on
    the search path (a TensorFlow graph, Caffe files, or an OpenVINO IR: FP32, then
    FP16, then the INT8 IR with its FakeQuantize ops dropped) converted to
    ``<cache>/<name>/model.onnx`` (never into the folder the sources are in: that
    may be read-only); else a download into the cache (when ``fetch_missing``,
    default the entry's ``auto_fetch``) and a conversion.

    Raises
    ------
    FileNotFoundError
        Not installed and not to be downloaded.
    PermissionError
        The cache is not writable (the message names it and ``POSEFAST_CACHE_DIR``).
    """
    spec = get_model(model)
    found = find_model(spec.name, cache_dir)
    if found is not None:
        return found
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / spec.name / "model.onnx"
    if spec.format == "openvino":
        for v in spec.float_variants() + spec.int8_variants():
            sources = find_sources(spec, cache_dir, variant=v)
            if sources is not None:
                break
    else:
        sources = find_sources(spec, cache_dir) if spec.format != "onnx" else None
    if sources is not None:
        _writable_cache(root, target.parent, spec.name)
        log.warning("converting %s to ONNX from %s into the cache (one time): %s", spec.name,
                    Path(next(iter(sources.values()))).parent, target)
        return convert_sources(spec.format, sources, target)
    if not (spec.auto_fetch if fetch_missing is None else fetch_missing):
        raise _not_installed(spec, "ONNX or its sources")
    log.warning("model %s not found locally; downloading and converting it (one time)", spec.name)
    if spec.format != "openvino":
        return fetch(spec, cache_dir=cache_dir)
    xml = fetch(spec, cache_dir=cache_dir, variant=(spec.float_variants() or spec.variants())[0])
    return convert_sources("openvino", {"xml": xml, "bin": xml.with_suffix(".bin")}, target)
