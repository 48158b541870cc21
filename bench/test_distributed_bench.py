"""Throughput of a many-input run: one process against Ray actors, measured in one run.

Four inputs (dance.mp4 four times, the first ``SECONDS`` of each) are processed

* sequentially in this process, one model, ``--threads 2`` (twice: first and last, the
  machine's load drifts and the sequential figure is the mean of the two),
* on a local Ray (2 CPUs) with 1 worker and with 2 workers, ``--threads-per-worker 1``.

Frames per second are end to end (model loads and actor start-up included, Ray itself
already running).  The assertions check that every configuration wrote the same outputs;
CI runs this with ``--benchmark-disable`` on fewer frames.  ``python -m pytest
bench/test_distributed_bench.py --benchmark-enable -s`` prints the figures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from posefast import batch
from posefast.cli import EXIT_OK, main

pytestmark = pytest.mark.model

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    import ray
else:
    ray = pytest.importorskip("ray", reason="needs pip install 'posefast[ray]'")

INPUTS = 4


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (batch.MARKER, batch.SUMMARY_NAME)}


def test_throughput_grows_with_ray_workers(benchmark, ray_session, model_onnx, dance_mp4, tmp_path, capsys):
    from posefast import distributed

    seconds = 0.6 if benchmark.disabled else 4.0
    frames_per_input = round(seconds * 25)
    inputs = []
    for i in range(INPUTS):
        (tmp_path / f"in{i}").mkdir()
        os.symlink(dance_mp4, tmp_path / f"in{i}" / "dance.mp4")
        inputs.append(str(tmp_path / f"in{i}" / "dance.mp4"))
    write = {"json": "json", "table": "poses.csv"}
    results: dict[str, list[float]] = {}
    outs: dict[str, dict] = {}

    def sequential(tag: str) -> None:
        out = tmp_path / tag
        t0 = time.perf_counter()
        code = main(["run", *inputs, "--output-dir", str(out), "--duration", str(seconds), "--threads", "2",
                     "--model", str(model_onnx), "--engine", "onnxruntime", "--write-json", "json", "--write-table", "poses.csv", "--quiet"])
        results.setdefault("sequential, 2 threads", []).append(time.perf_counter() - t0)
        assert code == EXIT_OK
        outs[tag] = _outputs(out)

    def on_ray(workers: int) -> None:
        out = tmp_path / f"ray{workers}"
        t0 = time.perf_counter()
        reports = distributed.run(inputs, out, workers=workers, threads_per_worker=1, duration=seconds,
                                  model=str(model_onnx), engine="onnxruntime", write=write)
        results.setdefault(f"Ray, {workers} worker{'s' if workers > 1 else ''} x 1 thread", []).append(
            time.perf_counter() - t0)
        assert all(r.status == "ok" for r in reports), reports
        outs[f"ray{workers}"] = _outputs(out)

    def all_runs():
        sequential("seq_a")
        on_ray(1)
        on_ray(2)
        sequential("seq_b")

    benchmark.pedantic(all_runs, rounds=1, iterations=1, warmup_rounds=0)
    reference = outs["seq_a"]
    assert len([k for k in reference if k.endswith(".json")]) == INPUTS * frames_per_input
    for tag, got in outs.items():
        assert got == reference, f"{tag}: outputs differ from the sequential run"
    total = INPUTS * frames_per_input
    seq_fps = total / (sum(results["sequential, 2 threads"]) / 2)
    with capsys.disabled():
        print(f"\n[distributed] {INPUTS} inputs x {frames_per_input} frames, cpus {os.cpu_count()}")
        for name, walls in results.items():
            fps = total / (sum(walls) / len(walls))
            print(f"  {name:<28} {fps:6.1f} fps  ({', '.join(f'{w:.1f}' for w in walls)} s)  "
                  f"x{fps / seq_fps:.2f} of sequential")
