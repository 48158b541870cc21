"""Pipeline throughput against the network alone, measured in the same run.

For each output combination the whole pipeline (threaded read, preprocess, batched
inference, decode, tracking, writing) runs over the first seconds of dance.mp4,
then ``estimator.forward`` runs alone on the same frames.  The ratio
pipeline fps / inference-only fps says how well reading, decoding and writing hide
behind the network (targets on a 2-core CPU: >= 90 % with JSON + table, >= 80 % with
a rendered video).  Timings are printed, never asserted: the assertions check the
outputs.  CI runs this with ``--benchmark-disable``: each body once, over the first second.
"""

from __future__ import annotations

import json
import os

import cv2
import pytest

from posefast.video.bench import inference_only_fps, warm_up
from posefast.video.pipeline import StageTimes, process
from posefast.video.runner import run_to_sinks
from posefast.video.sinks import JsonSink, TableSink, ThreadedSink, VideoSink

pytestmark = pytest.mark.model

SECONDS = 3.0  # 75 frames of the 25 fps clip (timed runs)
FRAMES = 75
CHECK_SECONDS = 1.0  # 25 frames when timing is disabled (CI): the assertions check outputs only
CHECK_FRAMES = 25


@pytest.fixture(scope="module")
def estimator(shared_models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_MODEL_PATH", str(shared_models))
        from posefast import Estimator

        est = Estimator(device="cpu")
    return est


def _sinks(kind: str, out, layout, timings):
    if kind == "json+table":
        return [JsonSink(out / "json"), TableSink(out / "poses.csv", layout)]
    return [ThreadedSink(VideoSink(out / "overlay.mp4", 25.0, (1280, 720), "overlay", layout, timings=timings))]


@pytest.mark.parametrize("kind, target, batch_size", [("json+table", 0.90, 1), ("json+table", 0.90, 4),
                                                     ("video", 0.80, 1)])
def test_pipeline_vs_inference_only(benchmark, estimator, dance_mp4, tmp_path, kind, target, batch_size, capsys):
    seconds, n = (CHECK_SECONDS, CHECK_FRAMES) if benchmark.disabled else (SECONDS, FRAMES)
    runs = []
    alone: list[float] = []   # network alone, before and after the pipeline (the load drifts)

    def one_run():
        out = tmp_path / f"run{len(runs)}"
        out.mkdir()
        timings = StageTimes()
        pipe = process(dance_mp4, estimator, duration=seconds, batch_size=batch_size,
                       keep_images=(kind == "video"), timings=timings)
        warm_up(estimator, pipe.source)
        alone.append(inference_only_fps(estimator, dance_mp4, batch_size=batch_size, frames=n))
        sinks = _sinks(kind, out, estimator.layout, timings)
        for s in sinks:
            s.open()
        summary = run_to_sinks(pipe, sinks)
        runs.append((out, summary, timings))
        return summary

    summary = benchmark.pedantic(one_run, rounds=1, iterations=1, warmup_rounds=0)
    assert summary.error is None and summary.frames == n
    assert summary.people_frames >= 0.95 * n
    out = runs[-1][0]
    if kind == "json+table":
        files = sorted((out / "json").glob("*.json"))
        assert len(files) == n
        assert all(json.loads(f.read_text())["version"] == 1.3 for f in files[:3])
        with open(out / "poses.csv") as f:
            frames = {line.split(",", 1)[0] for line in list(f)[1:]}
        assert len(frames) == summary.people_frames
    else:
        cap = cv2.VideoCapture(str(out / "overlay.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    alone.append(inference_only_fps(estimator, dance_mp4, batch_size=batch_size, frames=n))
    alone_fps = sum(alone) / len(alone)
    ratio = summary.fps / alone_fps
    snap = runs[-1][2].snapshot()
    per_stage = ", ".join(f"{s} {1e3 * sec / n:.1f}" for s, (sec, _) in snap.items() if sec)
    with capsys.disabled():
        print(f"\n[pipeline {kind}, batch {batch_size}] pipeline {summary.fps:.1f} fps, inference-only "
              f"{alone_fps:.1f} fps (before/after {alone[0]:.1f}/{alone[-1]:.1f}), ratio {ratio:.0%} (target {target:.0%}); ms/frame: {per_stage}; "
              f"cpus {os.cpu_count()}")
