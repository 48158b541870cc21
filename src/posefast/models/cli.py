"""``posefast models list|info|fetch|convert``.

The ``posefast`` command (:mod:`posefast.cli`) calls :func:`add_parser` to add the
``models`` subcommand; each handler returns an exit code.  Standalone:
``python -m posefast.models.cli list``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from .fetch import FetchError, convert_sources, fetch
from .registry import DEFAULT_MODEL, cache_dir, describe, get_model, list_models

__all__ = ["add_parser", "main", "run"]

log = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``models`` subcommand to an ``argparse`` subparsers object.

    The handler is set with ``set_defaults(func=run)``; ``args.func(args)`` returns
    the exit code.
    """
    p = subparsers.add_parser(
        "models", help="list, inspect, download and convert pose models",
        description="Pose models: the registry, the local cache, downloads and conversion to ONNX. "
                    "Models are looked up in $POSEFAST_MODEL_PATH, then the cache "
                    f"($POSEFAST_CACHE_DIR, default {cache_dir()}).")
    sub = p.add_subparsers(dest="models_command", metavar="{list,info,fetch,convert}")
    sub.required = True

    q = sub.add_parser("list", help="registered models and whether they are installed")
    q.add_argument("--json", action="store_true", help="print JSON")

    q = sub.add_parser("info", help="everything the registry knows about a model")
    q.add_argument("name", help="model name (see `posefast models list`)")
    q.add_argument("--json", action="store_true", help="print JSON")

    q = sub.add_parser("fetch", help="download, verify and convert models into the cache")
    q.add_argument("names", nargs="*", default=[DEFAULT_MODEL], metavar="NAME",
                   help=f"model name(s) (default {DEFAULT_MODEL})")
    q.add_argument("--force", action="store_true", help="download and convert again")
    q.add_argument("--base-url", default=None,
                   help="mirror folder: download <BASE_URL>/<file name> (also $POSEFAST_MODEL_BASE_URL)")
    q.add_argument("--cache-dir", default=None, help="cache folder (default $POSEFAST_CACHE_DIR or ~/.cache/posefast)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")

    q = sub.add_parser("convert", help="convert TensorFlow (.pb), Caffe (.prototxt + .caffemodel) or OpenVINO IR "
                                       "(.xml [+ .bin]) files to ONNX",
                       description="Convert a frozen TensorFlow graph (.pb), a Caffe model (.prototxt and "
                                   ".caffemodel) or an OpenVINO IR (.xml, with its .bin beside it or given too) "
                                   "to ONNX. With --name and no --output, the result is installed "
                                   "as <cache>/<name>/model.onnx (for files you downloaded yourself).")
    q.add_argument("sources", nargs="+", metavar="FILE",
                   help="graph.pb, or model.prototxt and weights.caffemodel, or model.xml [model.bin]")
    q.add_argument("--fake-quantize", choices=("drop", "emulate"), default="drop",
                   help="OpenVINO int8 IR: drop the activation FakeQuantize layers (a float model, default) or "
                        "emulate their int8 rounding with float ops")
    q.add_argument("-o", "--output", default=None, help="ONNX file to write")
    q.add_argument("--name", default=None, help="registry model the files belong to (installs into the cache)")
    q.add_argument("--cache-dir", default=None, help="cache folder for --name")

    p.set_defaults(func=run)
    return p


def _print_list(as_json: bool) -> int:
    rows = [describe(s) for s in list_models()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max(len(r["name"]) for r in rows)
    print(f"{'name':<{w}}  {'format':<10}  {'layout':<7}  installed")
    for r in rows:
        print(f"{r['name']:<{w}}  {r['format']:<10}  {r['layout']:<7}  {r['path'] or '-'}")
    return 0


def _print_info(name: str, as_json: bool) -> int:
    d = describe(get_model(name))
    if as_json:
        print(json.dumps(d, indent=2))
        return 0
    pre = d["preprocessing"]
    print(f"name:          {d['name']}")
    print(f"description:   {d['description']}")
    print(f"format:        {d['format']}")
    print(f"layout:        {d['layout']}    stride: {d['stride']}    outputs: {d['outputs']}")
    print(f"preprocessing: {pre['color'].upper()}, (x - {pre['mean']}) / {pre['std']}, {pre['interpolation']} "
          f"resize, multiple of {pre['size_multiple']}, pad {pre['pad_value']}")
    print(f"licence:       {d['license']}")
    print(f"homepage:      {d['homepage']}")
    print(f"installed:     {d['path'] or 'no (posefast models fetch ' + d['name'] + ')'}")
    for f in d["files"]:
        print(f"file:          {f['filename']} ({f['role']}), sha256 {f['sha256'] or 'unknown (not verified)'}")
        for u in f["urls"]:
            print(f"               {u}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        spec = get_model(name)
        if spec.license:
            print(f"{spec.name}: licence: {spec.license}", file=sys.stderr)
        path = fetch(spec, cache_dir=args.cache_dir, base_url=args.base_url, force=args.force,
                     progress=False if args.no_progress else None)
        print(path)
    return 0


def _convert(args: argparse.Namespace) -> int:
    srcs = [Path(s) for s in args.sources]
    by_ext = {s.suffix.lower(): s for s in srcs}
    if len(srcs) == 1 and srcs[0].suffix.lower() == ".pb":
        fmt, roles = "tensorflow", {"graph": srcs[0]}
    elif len(srcs) == 2 and set(by_ext) == {".prototxt", ".caffemodel"}:
        fmt, roles = "caffe", {"prototxt": by_ext[".prototxt"], "caffemodel": by_ext[".caffemodel"]}
    elif len(srcs) == 1 and srcs[0].suffix.lower() == ".xml":
        fmt, roles = "openvino", {"xml": srcs[0]}
    elif len(srcs) == 2 and set(by_ext) == {".xml", ".bin"}:
        fmt, roles = "openvino", {"xml": by_ext[".xml"], "bin": by_ext[".bin"]}
    else:
        raise ValueError("give one TensorFlow graph (.pb), a Caffe .prototxt and its .caffemodel, or an OpenVINO "
                         ".xml (and its .bin)")
    if args.output:
        out = Path(args.output)
    elif args.name:
        spec = get_model(args.name)
        if spec.format != fmt:
            raise ValueError(f"model {spec.name!r} is a {spec.format} model, but {fmt} files were given")
        root = Path(args.cache_dir) if args.cache_dir else cache_dir()
        out = root / spec.name / "model.onnx"
    else:
        raise ValueError("say where to write the ONNX model: --output FILE, or --name MODEL to install it in the cache")
    print(convert_sources(fmt, roles, out, fake_quantize=args.fake_quantize))
    return 0


def run(args: argparse.Namespace) -> int:
    """Handle ``posefast models ...``; returns the exit code."""
    try:
        cmd = args.models_command
        if cmd == "list":
            return _print_list(args.json)
        if cmd == "info":
            return _print_info(args.name, args.json)
        if cmd == "fetch":
            return _fetch(args)
        if cmd == "convert":
            return _convert(args)
        raise ValueError(f"unknown models command {cmd!r}")
    except (ValueError, TypeError, OSError, FetchError, ImportError) as exc:
        print(f"posefast models {args.models_command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a converter failure: report it, no traceback
        log.debug("models %s failed", args.models_command, exc_info=True)
        print(f"posefast models {args.models_command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Standalone entry point: ``python -m posefast.models.cli list`` (same as ``posefast models list``)."""
    parser = argparse.ArgumentParser(prog="posefast")
    add_parser(parser.add_subparsers(dest="command", required=True))
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["models", *argv])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
