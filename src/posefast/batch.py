"""Many inputs in one ``posefast run``: expansion, output names, one output set per input.

``posefast run a.mp4 b.mp4 "clips/**/*.mp4" @list.txt --output-dir out --write-table poses.csv``
processes every input with one model load and writes ``out/<name>/poses.csv`` for each, where
``<name>`` comes from the input (its stem; the parent folders are prepended where two inputs
would share a name, so ``x/clip.mp4`` and ``y/clip.mp4`` give ``x-clip`` and ``y-clip``).
Every ``--write-*`` value is a name inside the input's folder.  ``out/summary.csv`` holds one row
per input (status, frames, people, fps, error) and is printed at the end.

Each input is written into ``out/<name>/.partial/`` first; only a completed input has its
outputs moved into ``out/<name>/`` and a completion marker (``.posefast-complete.json``, the
options that produced them and the counts) written last.  A failed, interrupted or killed
attempt leaves no outputs of its own behind, and ``--resume`` skips the inputs whose marker
matches the options of the new run.

The per-input work goes through exactly the code of a single-input run (``cli._prepare`` and
:func:`~posefast.video.runner.run_to_sinks`), so an input's outputs equal those of
``posefast run INPUT --write-...`` with the same options.
"""

from __future__ import annotations

import argparse
import copy
import csv
import glob
import io
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Optional, Sequence


__all__ = ["InputReport", "expand_inputs", "output_names", "add_options", "output_options", "run_input",
           "run_batch", "write_summary", "format_summary", "plan_chunks", "join_chunks", "MARKER",
           "SUMMARY_NAME"]

log = logging.getLogger(__name__)

MARKER = ".posefast-complete.json"
PARTIAL = ".partial"
SUMMARY_NAME = "summary.csv"
SUMMARY_COLUMNS = ("input", "name", "status", "frames", "people", "people_frames", "seconds", "fps", "chunks",
                   "error")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_GLOB_CHARS = "*?["
# options that decide what is computed and written: a completed input is reused by --resume
# only when they are unchanged.  Everything else (threads, workers, batch size, Ray, the
# terminal) changes how fast, not what.
_NOT_IN_FINGERPRINT = {"func", "command", "input", "inputs_from", "output_dir", "resume", "ray", "workers",
                       "threads_per_worker", "gpus_per_worker", "chunks", "chunk_seconds", "threads",
                       "batch_size", "quiet", "verbose", "device"}
_DEFAULT_OUTPUTS = {"write_json": "json", "write_table": "poses.csv"}


class BatchUsageError(ValueError):
    """Bad inputs or options of a many-input run, found before any work (exit 2)."""


@dataclass
class InputReport:
    """What happened to one input (a row of the summary table).

    Attributes
    ----------
    input : str
        The input as given (path, URL, camera index).
    name : str
        Its output folder name inside the output directory.
    status : str
        ``"ok"``, ``"failed"``, ``"skipped"`` (complete from an earlier run, ``--resume``)
        or ``"interrupted"``.
    frames, people_frames : int
        Frames processed, and frames with at least one person.
    people : int
        Distinct track ids (with tracking), else the most people seen in one frame.
    seconds, fps : float
        Wall time of the input's processing and frames per second over it.
    chunks : int
        Time chunks the input was split into (1: processed whole).
    error : str
        Why the input failed (empty when it did not).
    """

    input: str
    name: str
    status: str = "ok"
    frames: int = 0
    people: int = 0
    people_frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    chunks: int = 1
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


# -- inputs ------------------------------------------------------------------------------------

def _is_image(path: str) -> bool:
    from .video.sources import IMAGE_EXTENSIONS

    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _is_special(text: str) -> bool:
    """URLs and camera indices are passed through untouched."""
    return bool(_URL.match(text)) or text.strip().isdigit()


def _expand_one(token: str, base: Optional[Path], out: list[str], seen_lists: set) -> None:
    if _is_special(token):
        out.append(token)
        return
    if base is not None and not os.path.isabs(token):
        token = os.path.normpath(str(base / token))
    if token.startswith("@") and not os.path.exists(token):
        out.extend(read_input_list(token[1:], seen_lists))
        return
    if any(ch in token for ch in _GLOB_CHARS) and not os.path.exists(token):
        matches = sorted(p for p in glob.glob(token, recursive=True) if os.path.isfile(p))
        if not matches:
            raise BatchUsageError(f"pattern {token!r} matches no file")
        if all(_is_image(p) for p in matches):
            out.append(token)  # a picture set is one input, as in a single-input run
        else:
            out.extend(matches)
        return
    out.append(token)


def read_input_list(path: str, seen_lists: Optional[set] = None) -> list[str]:
    """Inputs listed in a text file: one path, URL or glob a line; ``#`` comments and blank lines skipped.

    Relative paths are taken relative to the list file's folder.
    """
    seen_lists = set() if seen_lists is None else seen_lists
    p = Path(path)
    key = p.resolve()
    if key in seen_lists:
        raise BatchUsageError(f"input list {path} includes itself")
    seen_lists.add(key)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchUsageError(f"cannot read input list {path}: {exc.strerror or exc}") from None
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            _expand_one(line, p.parent, out, seen_lists)
    if not out:
        raise BatchUsageError(f"input list {path} names no input")
    return out


def expand_inputs(tokens: Sequence[str], inputs_from: Optional[str] = None) -> list[str]:
    """The inputs of a run, in order, each once.

    Parameters
    ----------
    tokens : sequence of str
        INPUT arguments: paths, URLs, camera indices, glob patterns (expanded here when the
        shell did not: a pattern matching only images stays one picture-set input, any other
        gives one input per matching file) and ``@FILE`` lists (see :func:`read_input_list`).
    inputs_from : str, optional
        A list file (``--inputs-from``), appended after the tokens.

    Returns
    -------
    list of str

    Raises
    ------
    BatchUsageError
        A pattern matches nothing, a list file is unreadable or empty, or a path is missing.
    """
    out: list[str] = []
    seen_lists: set = set()
    for t in tokens:
        _expand_one(t, None, out, seen_lists)
    if inputs_from:
        out.extend(read_input_list(inputs_from, seen_lists))
    unique, keys = [], set()
    for t in out:
        key = t if _is_special(t) or any(ch in t for ch in _GLOB_CHARS) else os.path.abspath(t)
        if key in keys:
            log.warning("input %s is given twice: processed once", t)
            continue
        keys.add(key)
        unique.append(t)
    missing = [t for t in unique if not _is_special(t) and not any(ch in t for ch in _GLOB_CHARS)
               and not os.path.exists(t)]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BatchUsageError(f"input does not exist: {shown}")
    if not unique:
        raise BatchUsageError("no input given")
    return unique


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "input"


def output_names(inputs: Sequence[str]) -> list[str]:
    """A distinct folder name per input, derived from it.

    The name is the file stem; where stems collide the extension is added, then parent
    folders one at a time (``x/clip.mp4``, ``y/clip.mp4`` -> ``x-clip``, ``y-clip``), and
    as a last resort a counter.  URLs use their host and path, cameras ``camera<N>``.
    """
    def parts(t: str) -> tuple[list[str], str, str]:
        if t.strip().isdigit():
            return [], f"camera{t.strip()}", ""
        if _URL.match(t):
            rest = t.split("://", 1)[1].split("?", 1)[0].rstrip("/")
            segs = [s for s in rest.split("/") if s]
            stem, ext = os.path.splitext(segs[-1]) if segs else ("stream", "")
            return segs[:-1], stem, ext.lstrip(".")
        p = Path(os.path.abspath(t))
        if any(ch in t for ch in _GLOB_CHARS):  # picture-set pattern: name it after its folder
            p = p.parent
            return [q for q in p.parent.parts if q not in ("/", "")], p.name or "images", ""
        r = p
        folder = r.is_dir()
        return [q for q in r.parent.parts if q not in ("/", "")], r.name if folder else r.stem, \
            "" if folder else r.suffix.lstrip(".")

    info = [parts(t) for t in inputs]

    def candidates(i: int) -> list[str]:
        parents, stem, ext = info[i]
        out = []
        for d in range(len(parents) + 1):  # stem, stem.ext, parent-stem, parent-stem.ext, ...
            base = "-".join(parents[len(parents) - d:] + [stem])
            out += [base, f"{base}.{ext}"] if ext else [base]
        return out

    names = [_clean(info[i][1]) for i in range(len(inputs))]
    for _ in range(8):
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            groups.setdefault(n.lower(), []).append(i)
        clashes = [g for g in groups.values() if len(g) > 1]
        if not clashes:
            return names
        for g in clashes:
            cands = {i: [_clean(c) for c in candidates(i)] for i in g}
            depth = max(len(c) for c in cands.values())
            for d in range(depth):  # fewest parents that tell the group apart
                trial = [cands[i][min(d, len(cands[i]) - 1)].lower() for i in g]
                if len(set(trial)) == len(g):
                    for i in g:
                        names[i] = cands[i][min(d, len(cands[i]) - 1)]
                    break
            else:
                for k, i in enumerate(g):
                    names[i] = f"{cands[i][-1]}-{k + 1}"
    taken: set[str] = set()
    for i, n in enumerate(names):  # pragma: no cover - only after 8 rounds of clashes
        while n.lower() in taken:
            n = f"{n}-{i}"
        taken.add(n.lower())
        names[i] = n
    return names


# -- options -----------------------------------------------------------------------------------

def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _pos_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def add_options(parser: argparse.ArgumentParser) -> None:
    """The many-inputs and Ray options of ``posefast run``."""
    g = parser.add_argument_group(
        "many inputs (one output set per input in --output-dir; every --write-* value is then a "
        "name inside <DIR>/<input name>/)")
    g.add_argument("--inputs-from", metavar="FILE",
                   help="text file of inputs, one path, URL or glob a line (also as INPUT @FILE)")
    g.add_argument("--output-dir", metavar="DIR",
                   help="folder for the outputs of every input (needed for several inputs); "
                        "default outputs there: --write-json json --write-table poses.csv")
    g.add_argument("--resume", action="store_true",
                   help="skip inputs whose outputs in --output-dir are complete for the same options")
    r = parser.add_argument_group("Ray (pip install posefast[ray])")
    r.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray: no ADDRESS starts a local Ray (or joins $RAY_ADDRESS), "
                        "'auto' joins the cluster of this node, or HOST:PORT / ray://HOST:10001")
    r.add_argument("--workers", type=_pos_int, default=None, metavar="N",
                   help="Ray actors, each holding one model (default: CPUs / --threads-per-worker)")
    r.add_argument("--threads-per-worker", type=_pos_int, default=1, metavar="N",
                   help="ONNX Runtime threads (and Ray CPUs) per actor (default 1)")
    r.add_argument("--gpus-per-worker", type=_nonneg_float, default=0.0, metavar="G",
                   help="GPUs per actor, e.g. 1 or 0.5 (use with --device cuda; default 0)")
    r.add_argument("--chunks", type=_pos_int, default=None, metavar="N",
                   help="split each video into N time chunks processed in parallel (needs --ray)")
    r.add_argument("--chunk-seconds", type=_nonneg_float, default=None, metavar="S",
                   help="split each video into chunks of about S seconds (needs --ray)")


def is_batch(args: argparse.Namespace) -> bool:
    """Whether ``args`` of ``posefast run`` ask for the many-input path."""
    inputs = args.input if isinstance(args.input, list) else [args.input]
    if (len(inputs) > 1 or args.output_dir or args.inputs_from or args.ray is not None or args.resume
            or args.chunks or args.chunk_seconds or args.workers is not None):
        return True
    token = inputs[0]
    if _is_special(token) or os.path.exists(token):
        return False
    if token.startswith("@"):
        return True
    if any(ch in token for ch in _GLOB_CHARS):  # a quoted pattern: one picture set, or several inputs
        try:
            return expand_inputs([token]) != [token]
        except BatchUsageError:
            return False  # the single-input path reports it as today
    return False


def output_options(args: argparse.Namespace) -> dict[str, str]:
    """The ``--write-*`` options given (dest -> value), or the defaults of a many-input run."""
    out = {k: v for k, v in vars(args).items() if k.startswith("write_") and isinstance(v, str)}
    return out or dict(_DEFAULT_OUTPUTS)


def _check_output_names(outputs: dict[str, str]) -> None:
    for dest, value in outputs.items():
        p = Path(value)
        if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] in (PARTIAL, MARKER, SUMMARY_NAME):
            raise BatchUsageError(f"--{dest.replace('_', '-')} {value!r}: with --output-dir it is a name inside "
                                  f"each input's folder (e.g. --write-table poses.csv), not a path")


def fingerprint(args: argparse.Namespace, input_text: str) -> dict:
    """The options that decide an input's outputs (compared by ``--resume``)."""
    fp = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_IN_FINGERPRINT and not callable(v)}
    fp = json.loads(json.dumps(fp, default=str))
    src = input_text if _is_special(input_text) or any(c in input_text for c in _GLOB_CHARS) \
        else os.path.abspath(input_text)
    fp["input"] = src
    if not _is_special(input_text) and os.path.isfile(input_text):
        st = os.stat(input_text)
        fp["input_size"], fp["input_mtime_ns"] = st.st_size, st.st_mtime_ns
    return fp


def is_complete(folder: Path, fp: dict) -> Optional[InputReport]:
    """The report stored by a completed earlier run with the same options, or None."""
    try:
        doc = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("fingerprint") != fp:
        log.info("%s: outputs were made with other options: redone", folder)
        return None
    if not all((folder / o).exists() for o in doc.get("outputs", [])):
        return None
    rep = InputReport(**{k: v for k, v in doc.get("report", {}).items() if k in InputReport.__dataclass_fields__})
    rep.status = "skipped"
    return rep


# -- one input ---------------------------------------------------------------------------------

def begin_input(folder: Path) -> Path:
    """Forget an earlier state of ``folder``'s outputs and give a fresh partial folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).unlink(missing_ok=True)
    partial = folder / PARTIAL
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    return partial


def discard_input(folder: Path) -> None:
    """Remove the partial outputs of a failed attempt (the folder goes too when left empty)."""
    shutil.rmtree(folder / PARTIAL, ignore_errors=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def finish_input(folder: Path, outputs: dict[str, str], fp: dict, report: InputReport) -> None:
    """Move the completed outputs into place, then write the completion marker (last)."""
    partial = folder / PARTIAL
    done = []
    for value in outputs.values():
        src, dst = partial / value, folder / value
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        os.replace(src, dst)
        done.append(value)
    shutil.rmtree(partial, ignore_errors=True)
    doc = {"fingerprint": fp, "outputs": done, "report": asdict(report)}
    from .video._durable import write_atomically

    write_atomically(folder / MARKER, json.dumps(doc, indent=1).encode("utf-8"))


def _args_for(args: argparse.Namespace, input_text: str, partial: Path, outputs: dict[str, str]):
    a = copy.copy(args)
    a.input = input_text
    for k in list(vars(a)):
        if k.startswith("write_") and isinstance(getattr(a, k), str):
            setattr(a, k, None)
    for dest, value in outputs.items():
        setattr(a, dest, str(partial / value))
    return a


def run_input(args: argparse.Namespace, input_text: str, folder: os.PathLike | str, estimator: Any, *,
              cancel: Optional[threading.Event] = None) -> InputReport:
    """Process one input into ``folder`` with an already loaded estimator.

    Parameters
    ----------
    args : argparse.Namespace
        Options of ``posefast run`` (``--write-*`` values are names inside ``folder``).
    input_text : str
        The input.
    folder : path
        The input's output folder; outputs appear there only when the input completed.
    estimator : posefast.Estimator
    cancel : threading.Event, optional
        Set to stop after the current frame (the input then counts as interrupted).

    Returns
    -------
    InputReport
        Never raises for a bad or failing input: the report says what went wrong.
    """
    from . import cli
    from .video.runner import run_to_sinks

    folder = Path(folder)
    outputs = output_options(args)
    fp = fingerprint(args, input_text)
    report = InputReport(input_text, folder.name)
    partial = begin_input(folder)
    a = _args_for(args, input_text, partial, outputs)
    people_max = [0]
    try:
        try:
            source, est, sinks, pipe, timings, cancel_ev = cli._prepare(a, estimator=estimator)
        except Exception as exc:  # noqa: BLE001 - a bad input fails alone
            raise _InputFailed(str(exc)) from exc
        if cancel is not None:
            _chain(cancel, cancel_ev)

        def count(r) -> None:
            people_max[0] = max(people_max[0], len(r))

        summary = run_to_sinks(pipe, sinks, on_frame=count)
        report.frames, report.people_frames = summary.frames, summary.people_frames
        report.people = len(summary.ids) if summary.ids else people_max[0]  # no ids: untracked
        report.seconds, report.fps = summary.seconds, summary.fps
        if summary.cancelled or isinstance(summary.error, KeyboardInterrupt):
            report.status, report.error = "interrupted", "interrupted"
        elif summary.error is not None:
            raise _InputFailed(f"{type(summary.error).__name__}: {summary.error}")
    except _InputFailed as exc:
        report.status, report.error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001
        log.debug("input %s failed", input_text, exc_info=True)
        report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
    except BaseException:
        discard_input(folder)
        raise
    if report.status == "ok":
        finish_input(folder, outputs, fp, report)
    else:
        discard_input(folder)
    return report


class _InputFailed(Exception):
    pass


def _chain(outer: threading.Event, inner: threading.Event) -> None:
    """Set ``inner`` as soon as ``outer`` is set (a watcher thread that ends with either)."""
    def watch() -> None:
        while not inner.is_set():
            if outer.wait(0.1):
                inner.set()
                return

    threading.Thread(target=watch, name="posefast-cancel", daemon=True).start()


# -- chunks of a long video ----------------------------------------------------------------------

def plan_chunks(frames: Sequence[int], chunks: Optional[int] = None, chunk_frames: Optional[int] = None
                ) -> list[tuple[int, int]]:
    """Split the frame indices of a trimmed video into contiguous chunks.

    Parameters
    ----------
    frames : sequence of int
        Source indices the run reads, in order (``range(start, stop, step)``).
    chunks : int, optional
        Number of chunks (at most one per frame).
    chunk_frames : int, optional
        Frames read per chunk instead.

    Returns
    -------
    list of (first, stop)
        Source index of each chunk's first frame and the exclusive source index after its
        last one; consecutive chunks share no frame and leave none out.
    """
    n = len(frames)
    if n == 0:
        return []
    if chunk_frames is not None:
        count = max(1, math.ceil(n / max(1, chunk_frames)))
    else:
        count = max(1, min(int(chunks or 1), n))
    bounds = [round(i * n / count) for i in range(count + 1)]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b > a:
            out.append((int(frames[a]), int(frames[b - 1]) + 1))
    return out


@dataclass(frozen=True)
class ChunkFrame:
    """One untracked frame of a chunk: what a worker sends back."""

    index: int
    time: float
    poses: Any
    name: str
    size: tuple[int, int]


def detect_chunk(args: argparse.Namespace, input_text: str, first: int, stop: int, fps: float,
                 estimator: Any) -> list[ChunkFrame]:
    """Poses (no tracking) of the frames ``first, first + step, ... < stop`` of a video file.

    The chunk is opened at ``first`` with the same trimming code as a whole run; the
    indices it yields are checked against the plan.
    """
    from .video.pipeline import process
    from .video.sources import FrameReadError, open_source

    step = args.frame_step
    source = open_source(input_text, start=first / fps, duration=(stop - first) / fps, step=step)
    got_first = getattr(source, "start_frame", None)
    if got_first != first:
        source.close()
        raise RuntimeError(f"chunk of {input_text} should start at frame {first}, the source opened at {got_first}")
    want = list(range(first, stop, step))
    out: list[ChunkFrame] = []
    with process(source, estimator, batch_size=args.batch_size, track=False) as pipe:
        for r in pipe:
            out.append(ChunkFrame(r.index, r.time, r.poses, r.name, r.size))
    if [f.index for f in out] != want[:len(out)] or len(out) != len(want):
        missing = want[len(out)] if len(out) < len(want) else None
        if missing is not None:
            raise FrameReadError(f"cannot decode frame {missing} of {input_text} (chunk {first}-{stop - 1})", missing)
        raise RuntimeError(f"chunk {first}-{stop - 1} of {input_text} gave frames other than planned")
    return out


def join_chunks(args: argparse.Namespace, input_text: str, folder: os.PathLike | str, layout: Any,
                chunk_results: Iterable[list[ChunkFrame]], n_chunks: int, seconds: float = 0.0) -> InputReport:
    """Track the joined chunks in frame order and write the input's outputs.

    The seam algorithm: chunks carry untracked poses; here they are concatenated in
    frame order (each frame once, checked) and run through the same tracker and
    smoother a sequential run uses, so track ids (never reused, and depending on every
    earlier frame) are exactly those of a sequential run.  The tracker costs well
    under 1 % of a frame's work, which is why it is not parallelised.  Outputs that need
    the pixels (a rendered video) read the frames again here, in order.

    Parameters
    ----------
    chunk_results : iterable of list of ChunkFrame
        The chunks' frames, chunk by chunk in time order.
    """
    from . import cli
    from .video.pipeline import FrameResult, Pipeline, StageTimes
    from .video.runner import RunSummary
    from .video.smoothing import OneEuroConfig
    from .video.sources import open_source
    from .video.tracking import TrackerConfig

    folder = Path(folder)
    outputs = output_options(args)
    fp = fingerprint(args, input_text)
    report = InputReport(input_text, folder.name, chunks=n_chunks)
    partial = begin_input(folder)
    a = _args_for(args, input_text, partial, outputs)
    t0 = time.perf_counter()
    sinks: list = []
    source = None
    try:
        source = open_source(input_text, start=args.start, duration=args.duration, step=args.frame_step)
        timings = StageTimes()
        sinks = cli._open_sinks(a, source, SimpleNamespace(layout=layout), timings)
        keep = any(s.needs_image for s in sinks)
        smooth = OneEuroConfig(args.min_cutoff, args.beta, args.d_cutoff) if args.smooth else False
        # the tracking step of a sequential pipeline, fed frame by frame (no threads started)
        tracker = Pipeline(source, None, track=args.track, tracker=TrackerConfig(max_missing=args.max_missing),
                           smooth=smooth)
        frames_iter = iter(source) if keep else None
        summary = RunSummary()
        people_max = 0
        expected = getattr(source, "start_frame", 0)
        for chunk in chunk_results:
            for f in chunk:
                if f.index < expected:
                    raise RuntimeError(f"frame {f.index} of {input_text} arrived twice or out of order")
                expected = f.index + args.frame_step
                poses, ids = tracker._track(SimpleNamespace(index=f.index, time=f.time), f.poses)
                image = None
                if frames_iter is not None:
                    fr = next(frames_iter)
                    if fr.index != f.index:
                        raise RuntimeError(f"re-reading {input_text} for rendering gave frame {fr.index}, "
                                           f"expected {f.index}")
                    image = fr.image
                res = FrameResult(f.index, f.time, poses, ids, image, f.name, f.size)
                for s in sinks:
                    s.write(res)
                summary.frames += 1
                if len(res):
                    summary.people_frames += 1
                    summary.ids.update(int(i) for i in ids if i >= 0)
                people_max = max(people_max, len(res))
        err = None
    except Exception as exc:  # noqa: BLE001
        err = exc
    except BaseException:
        for s in sinks:
            s.close()
        if source is not None:
            source.close()
        discard_input(folder)
        raise
    for s in sinks:
        try:
            s.close()
        except Exception as exc:  # noqa: BLE001
            err = err or exc
    if source is not None:
        source.close()
    if err is None and source is not None and source.expected_frames is not None \
            and summary.frames != source.expected_frames:
        err = RuntimeError(f"{summary.frames} frames joined, {source.expected_frames} expected")
    seconds += time.perf_counter() - t0
    if err is not None:
        report.status, report.error = "failed", f"{type(err).__name__}: {err}"
        discard_input(folder)
        return report
    report.frames, report.people_frames = summary.frames, summary.people_frames
    report.people = len(summary.ids) if summary.ids else people_max  # no ids: untracked
    report.seconds = seconds
    report.fps = summary.frames / seconds if seconds > 0 else 0.0
    finish_input(folder, outputs, fp, report)
    return report


# -- the whole run -----------------------------------------------------------------------------

@dataclass
class Plan:
    """Inputs, their folders and what to do with each."""

    args: argparse.Namespace
    output_dir: Path
    inputs: list[str]
    names: list[str]
    fingerprints: list[dict] = field(default_factory=list)


def make_plan(args: argparse.Namespace) -> Plan:
    """Check the options and inputs of a many-input run (raises BatchUsageError, before work)."""
    tokens = args.input if isinstance(args.input, list) else [args.input]
    inputs = expand_inputs(tokens, args.inputs_from)
    if not args.output_dir:
        hint = (" (an unquoted pattern of images was expanded by the shell: quote it to process the "
                "images as one set)" if inputs and all(_is_image(t) for t in inputs) else "")
        raise BatchUsageError(f"{len(inputs)} inputs need --output-dir DIR (one output folder per input){hint}")
    if (args.chunks or args.chunk_seconds) and args.ray is None:
        raise BatchUsageError("--chunks/--chunk-seconds split videos across Ray workers: add --ray")
    if args.chunks and args.chunk_seconds:
        raise BatchUsageError("give --chunks or --chunk-seconds, not both")
    if args.chunk_seconds is not None and args.chunk_seconds <= 0:
        raise BatchUsageError("--chunk-seconds must be > 0")
    if args.ray is None and (args.workers is not None or args.gpus_per_worker):
        raise BatchUsageError("--workers/--gpus-per-worker size Ray actors: add --ray")
    if args.smooth and args.track is False:  # None: per input (images untracked)
        raise BatchUsageError("--smooth works per track: it cannot be combined with --no-track")
    outputs = output_options(args)
    _check_output_names(outputs)
    for dest, value in outputs.items():
        setattr(args, dest, value)
    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise BatchUsageError(f"--output-dir {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".posefast-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BatchUsageError(f"cannot write into --output-dir {out}: {exc.strerror or exc}") from None
    names = output_names(inputs)
    return Plan(args, out, inputs, names, [fingerprint(args, t) for t in inputs])


def write_summary(reports: Sequence[InputReport], path: os.PathLike | str) -> Path:
    """Write the summary table (``SUMMARY_COLUMNS``) as CSV, atomically."""
    path = Path(path)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(SUMMARY_COLUMNS)
    for r in reports:
        w.writerow([r.input, r.name, r.status, r.frames, r.people, r.people_frames, f"{r.seconds:.3f}",
                    f"{r.fps:.2f}", r.chunks, r.error])
    from .video._durable import write_atomically

    write_atomically(path, buf.getvalue().encode("utf-8"))
    return path


def format_summary(reports: Sequence[InputReport]) -> str:
    """The summary as an aligned text table (for the terminal)."""
    rows = [("name", "status", "frames", "people", "fps", "chunks", "error")]
    for r in reports:
        rows.append((r.name, r.status, str(r.frames), str(r.people), f"{r.fps:.1f}", str(r.chunks),
                     (r.error[:70] + "...") if len(r.error) > 73 else r.error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(wd) if i in (0, 1, 6) else c.rjust(wd) for i, (c, wd) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    ok = sum(r.ok for r in reports)
    lines.append(f"{ok} of {len(reports)} inputs done" + (f", {len(reports) - ok} failed" if ok < len(reports)
                                                           else ""))
    return "\n".join(lines)


def run_batch(plan: Plan, estimator: Any, *, cancel: Optional[threading.Event] = None,
              on_input: Optional[Callable[[InputReport], None]] = None) -> list[InputReport]:
    """Process the plan's inputs one after the other in this process (one model load).

    Returns one report per input, in input order; writes ``summary.csv`` in the output folder.
    """
    reports: list[InputReport] = []
    for text, name, fp in zip(plan.inputs, plan.names, plan.fingerprints):
        folder = plan.output_dir / name
        if cancel is not None and cancel.is_set():
            reports.append(InputReport(text, name, status="interrupted", error="interrupted before it started"))
            continue
        rep = is_complete(folder, fp) if plan.args.resume else None
        if rep is None:
            rep = run_input(plan.args, text, folder, estimator, cancel=cancel)
        rep.input, rep.name = text, name
        reports.append(rep)
        if on_input is not None:
            on_input(rep)
    write_summary(reports, plan.output_dir / SUMMARY_NAME)
    return reports


def cmd_run_many(args: argparse.Namespace) -> int:
    """``posefast run`` with several inputs, an output folder, or Ray."""
    from . import cli

    try:
        plan = make_plan(args)
    except (BatchUsageError, ImportError) as exc:
        cli._error(str(exc))
        return cli.EXIT_USAGE

    def said(rep: InputReport) -> None:
        if rep.status == "failed":
            cli._error(f"{rep.input}: {rep.error}")
        else:
            cli._say(args, f"posefast: {rep.name}: {rep.status}, {rep.frames} frames, {rep.fps:.1f} fps")

    if args.ray is not None:
        from . import distributed

        try:
            session = distributed.connect(args.ray)
        except ImportError as exc:
            cli._error(str(exc))
            return cli.EXIT_USAGE
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError
            where = args.ray or os.environ.get("RAY_ADDRESS") or "a local instance"
            cli._error(f"cannot start or join Ray ({where}): {exc}".splitlines()[0]
                       + " (check --ray ADDRESS, $RAY_ADDRESS and `ray status`)")
            return cli.EXIT_USAGE
        try:
            reports = distributed.run_plan(plan, on_input=said)
        except distributed.ClusterTooSmall as exc:
            cli._error(str(exc))
            return cli.EXIT_USAGE
        finally:
            session.close()
    else:
        try:
            est = cli._make_estimator(args)
        except cli._SETUP_ERRORS as exc:
            cli._error(str(exc))
            return cli.EXIT_USAGE
        cancel = threading.Event()
        with cli._Interrupt(cancel) as intr:
            reports = run_batch(plan, est, cancel=cancel, on_input=said)
    cli._say(args, format_summary(reports) + f"\nsummary: {plan.output_dir / SUMMARY_NAME}")
    if any(r.status == "interrupted" for r in reports):
        return intr.exit_code if args.ray is None else cli.EXIT_INTERRUPTED  # 128 + the signal
    return cli.EXIT_OK if all(r.ok for r in reports) else cli.EXIT_FAILURE
