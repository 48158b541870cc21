"""posefast on Ray: many inputs and long videos across processes and machines.

``posefast run ... --output-dir DIR --ray [ADDRESS]`` and :func:`run` do the work of a
many-input run (:mod:`posefast.batch`) in Ray actors:

* Each actor (:class:`PoseWorker`) loads the model once and runs whole inputs through the
  ordinary threaded pipeline (reading, inference, decoding, tracking and writing overlap
  inside the actor, next to the network), or computes the untracked poses of one time chunk
  of a long video.  ``--workers`` actors of ``--threads-per-worker`` CPUs (ONNX Runtime
  threads) and ``--gpus-per-worker`` GPUs each.
* Long videos (``--chunks N`` or ``--chunk-seconds S``) are cut into contiguous frame
  ranges; the driver joins the chunks in frame order and tracks them with the sequential
  tracker (:func:`posefast.batch.join_chunks`), so frames, poses and ids equal a
  sequential run.
* A dying actor is restarted and its task retried by Ray (``max_restarts``,
  ``max_task_retries``); outputs are written under ``<name>/.partial/`` and moved into place
  only when an input completed, so no attempt leaves partial outputs.  A failing input
  is reported and the others go on.

On a cluster every node must see the inputs and the output folder at the same paths
(shared storage), and have posefast and the model installed.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from . import batch
from .batch import InputReport, Plan

__all__ = ["connect", "RaySession", "PoseWorker", "run_plan", "run", "ClusterTooSmall", "require_ray"]

log = logging.getLogger(__name__)

#: restarts of a dead actor, and retries of the task it was running, before an input fails
MAX_RESTARTS = 2
MAX_TASK_RETRIES = 2
_IN_FLIGHT = 2  # tasks queued per actor: the next one starts as soon as the last ended


class ClusterTooSmall(ValueError):
    """The requested actors need more CPUs or GPUs than the Ray cluster has."""


def require_ray():
    """Import Ray, or raise an ImportError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError("running on Ray (--ray, posefast.distributed) needs Ray: pip install 'posefast[ray]'") \
            from None
    return ray


@dataclass
class RaySession:
    """A connection to Ray; :meth:`close` shuts down only a Ray instance this session started."""

    started: bool
    address: str = ""

    def close(self) -> None:
        if self.started:
            ray = require_ray()
            if ray.is_initialized():
                ray.shutdown()
            self.started = False

    def __enter__(self) -> "RaySession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(address: Optional[str] = None, *, num_cpus: Optional[int] = None,
            num_gpus: Optional[int] = None) -> RaySession:
    """Join a Ray cluster, or start a local Ray instance.

    Parameters
    ----------
    address : str, optional
        ``None`` or ``""``: join ``$RAY_ADDRESS`` when set, else start a local instance
        (no dashboard).  ``"auto"``: the cluster this node belongs to (``ray start``).
        ``"HOST:PORT"`` or ``"ray://HOST:10001"``: that cluster.
    num_cpus, num_gpus : int, optional
        Resources of a local instance (default: the machine's).

    Returns
    -------
    RaySession
        Reuses a Ray already initialised in this process (then ``close()`` leaves it running).
    """
    ray = require_ray()
    if ray.is_initialized():
        return RaySession(started=False)
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target:
        ray.init(address=target, logging_level=logging.WARNING)
        return RaySession(started=True, address=target)
    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, logging_level=logging.WARNING)
    return RaySession(started=True, address="local")


def _default_estimator(args: argparse.Namespace) -> Any:
    from . import cli

    return cli._make_estimator(args)


class PoseWorker:
    """A Ray actor holding one model (made a Ray actor class by :func:`run_plan`).

    Parameters
    ----------
    args : argparse.Namespace
        ``posefast run`` options (``threads`` = the actor's ONNX Runtime threads).
    make_estimator : callable, optional
        ``make_estimator(args) -> Estimator``; default: the CLI's model loading.
    """

    def __init__(self, args: argparse.Namespace, make_estimator: Optional[Callable[[argparse.Namespace], Any]] = None):
        self.args = args
        self.estimator = (make_estimator or _default_estimator)(args)

    def layout(self) -> Any:
        return self.estimator.layout

    def run_input(self, input_text: str, folder: str) -> InputReport:
        return batch.run_input(self.args, input_text, folder, self.estimator)

    def detect(self, input_text: str, first: int, stop: int, fps: float) -> tuple[list, float]:
        t0 = time.perf_counter()
        frames = batch.detect_chunk(self.args, input_text, first, stop, fps, self.estimator)
        return frames, time.perf_counter() - t0


@dataclass
class _Job:
    index: int            # position of the input
    folder: Path
    chunks: list          # [(first, stop)] or [] for a whole input
    fps: float = 0.0
    results: dict = field(default_factory=dict)   # chunk number -> frames
    failed: str = ""
    t0: float = 0.0


def _chunk_plan(args: argparse.Namespace, text: str) -> tuple[list, float]:
    """Chunks of a video file input, or ([], 0) to process it whole."""
    if not (args.chunks or args.chunk_seconds):
        return [], 0.0
    from .video.sources import VideoSource, open_source

    src = open_source(text, start=args.start, duration=args.duration, step=args.frame_step)
    try:
        if not isinstance(src, VideoSource) or src.stop_frame is None or not src.fps or not getattr(src, "_is_file", 0):
            return [], 0.0
        frames = range(src.start_frame, src.stop_frame, args.frame_step)
        per = None
        if args.chunk_seconds:
            per = max(1, int(round(args.chunk_seconds * src.fps / args.frame_step)))
        chunks = batch.plan_chunks(frames, args.chunks, per)
        return (chunks if len(chunks) > 1 else []), float(src.fps)
    finally:
        src.close()


def run_plan(plan: Plan, *, make_estimator: Optional[Callable[[argparse.Namespace], Any]] = None,
             on_input: Optional[Callable[[InputReport], None]] = None) -> list[InputReport]:
    """Process a many-input plan on the connected Ray cluster (see :func:`connect`).

    Returns one report per input, in input order, and writes ``summary.csv``.

    Raises
    ------
    ClusterTooSmall
        ``--workers`` x ``--threads-per-worker`` (or GPUs) exceed the cluster's resources.
    """
    ray = require_ray()
    from ray.exceptions import RayActorError, RayError

    args = plan.args
    tpw = int(args.threads_per_worker)
    gpw = float(args.gpus_per_worker or 0.0)
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
    workers = args.workers or max(1, int(cpus // tpw))
    if workers * tpw > cpus:
        raise ClusterTooSmall(f"{workers} workers x {tpw} threads need {workers * tpw} CPUs, the Ray cluster has "
                              f"{cpus:g}: lower --workers or --threads-per-worker")
    if gpw and workers * gpw > gpus:
        raise ClusterTooSmall(f"{workers} workers x {gpw:g} GPUs need {workers * gpw:g} GPUs, the Ray cluster "
                              f"has {gpus:g}: lower --workers or --gpus-per-worker")
    wargs = copy.copy(args)
    wargs.threads = tpw
    actor_cls = ray.remote(num_cpus=tpw, num_gpus=gpw, max_restarts=MAX_RESTARTS,
                           max_task_retries=MAX_TASK_RETRIES)(PoseWorker)

    reports: list[Optional[InputReport]] = [None] * len(plan.inputs)

    def done(i: int, rep: InputReport) -> None:
        rep.input, rep.name = plan.inputs[i], plan.names[i]
        reports[i] = rep
        if on_input is not None:
            on_input(rep)

    # what to do with each input: skip (complete), whole, or chunks
    work: list[tuple[_Job, int]] = []   # (job, chunk number or -1)
    jobs: dict[int, _Job] = {}
    for i, (text, name, fp) in enumerate(zip(plan.inputs, plan.names, plan.fingerprints)):
        folder = plan.output_dir / name
        if args.resume:
            rep = batch.is_complete(folder, fp)
            if rep is not None:
                done(i, rep)
                continue
        try:
            chunks, fps = _chunk_plan(args, text)
        except Exception as exc:  # noqa: BLE001 - a bad input fails alone
            done(i, InputReport(text, name, status="failed", error=str(exc)))
            continue
        job = _Job(i, folder, chunks, fps)
        jobs[i] = job
        if chunks:
            work.extend((job, c) for c in range(len(chunks)))
        else:
            work.append((job, -1))

    if work:
        n_actors = min(workers, len(work))
        actors = [actor_cls.remote(wargs, make_estimator) for _ in range(n_actors)]
        log.info("%d Ray workers x %d threads for %d tasks", n_actors, tpw, len(work))
        inflight: dict = {}   # ref -> (job, chunk, actor slot)
        load = [0] * n_actors
        replaced = 0
        pending = list(work)
        try:
            while pending or inflight:
                while pending and min(load) < _IN_FLIGHT:
                    slot = load.index(min(load))
                    job, c = pending.pop(0)
                    if job.failed:
                        continue
                    if not job.t0:
                        job.t0 = time.perf_counter()
                    actor = actors[slot]
                    if c < 0:
                        ref = actor.run_input.remote(plan.inputs[job.index], str(job.folder))
                    else:
                        first, stop = job.chunks[c]
                        ref = actor.detect.remote(plan.inputs[job.index], first, stop, job.fps)
                    inflight[ref] = (job, c, slot)
                    load[slot] += 1
                if not inflight:
                    continue
                ready, _ = ray.wait(list(inflight), num_returns=1)
                ref = ready[0]
                job, c, slot = inflight.pop(ref)
                load[slot] -= 1
                try:
                    value = ray.get(ref)
                except RayActorError as exc:
                    err = f"worker died ({MAX_TASK_RETRIES} retries used): {exc}".splitlines()[0]
                    value = None
                    if replaced < 4 * n_actors:  # the actor is gone for good: a fresh one takes its slot
                        actors[slot] = actor_cls.remote(wargs, make_estimator)
                        replaced += 1
                except RayError as exc:
                    err = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    value = None
                if c < 0:
                    if value is None:
                        batch.discard_input(job.folder)
                        value = InputReport(plan.inputs[job.index], plan.names[job.index], status="failed", error=err)
                    done(job.index, value)
                    continue
                if value is None:
                    if not job.failed:
                        job.failed = err
                        batch.discard_input(job.folder)
                        done(job.index, InputReport(plan.inputs[job.index], plan.names[job.index], status="failed",
                                                    error=f"chunk {c + 1} of {len(job.chunks)}: {err}",
                                                    chunks=len(job.chunks)))
                    continue
                if job.failed:
                    continue
                job.results[c] = value[0]
                if len(job.results) == len(job.chunks):
                    ordered = (job.results.pop(k) for k in range(len(job.chunks)))
                    layout = ray.get(actors[slot].layout.remote())
                    rep = batch.join_chunks(args, plan.inputs[job.index], job.folder, layout, ordered,
                                            len(job.chunks))
                    wall = time.perf_counter() - job.t0
                    rep.seconds, rep.fps = wall, (rep.frames / wall if wall > 0 else 0.0)
                    done(job.index, rep)
        except BaseException:
            for ref, (job, _, _) in inflight.items():
                ray.cancel(ref, force=True)
            for a in actors:
                ray.kill(a)
            for job in jobs.values():
                if reports[job.index] is None:
                    batch.discard_input(job.folder)
            raise
        for a in actors:
            ray.kill(a)
    final = [r for r in reports if r is not None]
    batch.write_summary(final, plan.output_dir / batch.SUMMARY_NAME)
    return final


def run(inputs: Sequence[str] | str, output_dir: os.PathLike | str, *, address: Optional[str] = None,
        workers: Optional[int] = None, threads_per_worker: int = 1, gpus_per_worker: float = 0.0,
        chunks: Optional[int] = None, chunk_seconds: Optional[float] = None, resume: bool = False,
        write: Optional[dict[str, str]] = None,
        make_estimator: Optional[Callable[[argparse.Namespace], Any]] = None,
        **options: Any) -> list[InputReport]:
    """Process inputs on Ray into ``output_dir`` (the Python form of ``posefast run --ray``).

    Parameters
    ----------
    inputs : str or sequence of str
        Paths, globs, URLs or ``@list.txt`` files.
    output_dir : path
        One folder per input is made there, plus ``summary.csv``.
    address : str, optional
        Ray address (see :func:`connect`); ignored when Ray is already initialised.
    workers, threads_per_worker, gpus_per_worker
        Actor count and size.
    chunks, chunk_seconds
        Split video files into time chunks.
    resume : bool
        Skip inputs whose outputs are complete.
    write : dict, optional
        Outputs, as ``--write-*`` names without the prefix:
        ``{"json": "json", "table": "poses.csv", "video": "pose.mp4"}``
        (default ``{"json": "json", "table": "poses.csv"}``).
    make_estimator : callable, optional
        ``make_estimator(args) -> Estimator`` run once in each actor.
    **options
        Any other ``posefast run`` option by its Python name (``start``, ``duration``,
        ``frame_step``, ``model``, ``device``, ``track``, ``max_missing``, ``smooth``, ...).

    Returns
    -------
    list of InputReport
        One per input, in order; check ``report.ok``.
    """
    from . import cli

    args = cli.build_parser().parse_args(["run", "-"])
    args.input = [inputs] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(t) for t in inputs]
    args.input = [os.fspath(t) for t in args.input]
    args.output_dir, args.ray, args.resume = os.fspath(output_dir), address or "", resume
    args.workers, args.threads_per_worker, args.gpus_per_worker = workers, threads_per_worker, gpus_per_worker
    args.chunks, args.chunk_seconds = chunks, chunk_seconds
    for k, v in (write or {}).items():
        if not hasattr(args, f"write_{k}"):
            raise TypeError(f"unknown output {k!r}; known: "
                            + ", ".join(d[6:] for d in vars(args) if d.startswith("write_")))
        setattr(args, f"write_{k}", v)
    for k, v in options.items():
        if not hasattr(args, k) or k in ("func", "command", "input"):
            raise TypeError(f"unknown option {k!r}")
        setattr(args, k, v)
    plan = batch.make_plan(args)
    with connect(address):
        return run_plan(plan, make_estimator=make_estimator)
