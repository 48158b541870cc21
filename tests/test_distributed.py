"""posefast on a local Ray (2 CPUs, as on the CI machine): outputs equal sequential runs.

One Ray instance serves the whole module (starting Ray costs seconds).  The network runs
at --net-height 184 to keep the clips short to process; the comparisons are exact.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import cv2
import pytest

from posefast import batch
from posefast.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main

pytestmark = pytest.mark.model

if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    import ray  # CI installs the extra: a missing Ray must fail, not skip
else:
    ray = pytest.importorskip("ray", reason="Ray tests need pip install 'posefast[ray]'")

DANCE_FRAMES = 217


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    # the crash-once estimator below is sent to the actors by value (this module is not on their path)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture(scope="module")
def options(model_onnx):
    # ONNX Runtime: its outputs are bit-identical across thread counts (the workers run 1 thread,
    # the sequential runs 2); OpenVINO's differ in the last bits with the thread count
    return ["--model", str(model_onnx), "--engine", "onnxruntime", "--net-height", "184", "--quiet"]


def read_summary(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def assert_same_outputs(a: Path, b: Path, names: list[str], skip: tuple[str, ...] = ()) -> int:
    """Every output file of every input is byte-identical in ``a`` and ``b``; returns the file count."""
    n = 0
    skip = (batch.MARKER, *skip)
    for name in names:
        fa = sorted(p.relative_to(a / name) for p in (a / name).rglob("*") if p.is_file() and p.name not in skip)
        fb = sorted(p.relative_to(b / name) for p in (b / name).rglob("*") if p.is_file() and p.name not in skip)
        assert fa == fb and fa, f"{name}: different output files"
        for rel in fa:
            assert (a / name / rel).read_bytes() == (b / name / rel).read_bytes(), f"{name}/{rel} differs"
        n += len(fa)
    assert not list(b.rglob(batch.PARTIAL)), "partial outputs left behind"
    return n


def table_ids(path: Path) -> list[tuple[int, int]]:
    with open(path, newline="") as f:
        return sorted({(int(r["frame"]), int(r["person"])) for r in csv.DictReader(f)})


@pytest.fixture(scope="module")
def clips(dance_mp4, tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    paths = []
    for d in ("x", "y", "z"):
        (root / d).mkdir()
        os.symlink(dance_mp4, root / d / "clip.mp4")
        paths.append(root / d / "clip.mp4")
    bad = root / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    return paths, bad


def test_four_inputs_on_two_workers_equal_a_sequential_run(ray_session, clips, media, options, tmp_path):
    from posefast import distributed

    paths, bad = clips
    inputs = [str(p) for p in paths] + [str(media / "p3_dance.png"), str(bad)]
    seq, par = tmp_path / "seq", tmp_path / "ray"
    outs = ["--write-json", "json", "--write-table", "poses.csv", "--write-coco", "coco.json"]
    assert main(["run", *inputs, "--output-dir", str(seq), "--duration", "1", "--threads", "2", *outs,
                 *options]) == EXIT_FAILURE
    reports = distributed.run(inputs, par, workers=2, threads_per_worker=1, duration=1.0,
                              model=options[1], engine="onnxruntime", net_height=184,
                              write={"json": "json", "table": "poses.csv", "coco": "coco.json"})
    assert [r.name for r in reports] == ["x-clip", "y-clip", "z-clip", "p3_dance", "broken"]
    assert [r.status for r in reports] == ["ok"] * 4 + ["failed"]
    assert "cannot open video" in reports[-1].error and not (par / "broken").exists()
    assert [r.frames for r in reports[:4]] == [25, 25, 25, 1]
    assert assert_same_outputs(seq, par, ["x-clip", "y-clip", "z-clip", "p3_dance"]) == 3 * 27 + 3
    rows = read_summary(par / "summary.csv")
    assert rows["broken"]["status"] == "failed" and rows["z-clip"]["frames"] == "25"

    # --resume: the complete inputs are not redone (no actor is even started for them)
    before = (par / "y-clip" / "poses.csv").stat().st_mtime_ns
    again = distributed.run(inputs[:4], par, resume=True, workers=2, duration=1.0, model=options[1],
                            engine="onnxruntime", net_height=184, write={"json": "json", "table": "poses.csv", "coco": "coco.json"})
    assert [r.status for r in again] == ["skipped"] * 4 and again[0].frames == 25
    assert (par / "y-clip" / "poses.csv").stat().st_mtime_ns == before


def test_dance_in_four_chunks_equals_the_whole_clip(ray_session, dance_mp4, options, tmp_path):
    seq, par = tmp_path / "seq", tmp_path / "ray"
    outs = ["--write-json", "json", "--write-table", "poses.csv", "--write-coco", "coco.json"]
    outs += ["--write-video", "pose.mp4", "--render", "skeleton"]
    assert main(["run", str(dance_mp4), "--output-dir", str(seq), "--threads", "2", *outs, *options]) == EXIT_OK
    assert main(["run", str(dance_mp4), "--output-dir", str(par), "--ray", "--workers", "2", "--chunks", "4",
                 *outs, *options]) == EXIT_OK
    rows = read_summary(par / "summary.csv")
    assert rows["dance"]["chunks"] == "4" and rows["dance"]["frames"] == str(DANCE_FRAMES)
    assert assert_same_outputs(seq, par, ["dance"], skip=("pose.mp4",)) == DANCE_FRAMES + 2
    # the rendered video of a chunked run (drawn by the driver) shows the same frames
    caps = [cv2.VideoCapture(str(d / "dance" / "pose.mp4")) for d in (seq, par)]
    count = 0
    while True:
        (ok_a, img_a), (ok_b, img_b) = caps[0].read(), caps[1].read()
        assert ok_a == ok_b
        if not ok_a:
            break
        assert float(cv2.absdiff(img_a, img_b).mean()) < 0.5, f"frame {count} of the video differs"
        count += 1
    assert count == DANCE_FRAMES
    ids = table_ids(par / "dance" / "poses.csv")
    assert len({f for f, _ in ids}) >= 0.95 * DANCE_FRAMES


def test_long_synthetic_video_in_chunks_keeps_the_ids(ray_session, dance_mp4, options, tmp_path):
    # dance.mp4 twice over at half size: 434 frames, 17 s; every 3rd frame processed
    long = tmp_path / "long.mp4"
    cap = cv2.VideoCapture(str(dance_mp4))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA))
    cap.release()
    writer = cv2.VideoWriter(str(long), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (640, 360))
    for _ in range(2):
        for img in frames:
            writer.write(img)
    writer.release()
    seq, par = tmp_path / "seq", tmp_path / "ray"
    common = ["--frame-step", "3", "--write-table", "poses.csv", "--write-json", "json", *options]
    assert main(["run", str(long), "--output-dir", str(seq), "--threads", "2", *common]) == EXIT_OK
    assert main(["run", str(long), "--output-dir", str(par), "--ray", "--workers", "2", "--chunk-seconds", "3",
                 *common]) == EXIT_OK
    rows = read_summary(par / "summary.csv")
    n = len(range(0, 2 * DANCE_FRAMES, 3))
    assert rows["long"]["frames"] == str(n) and int(rows["long"]["chunks"]) == 6
    assert assert_same_outputs(seq, par, ["long"]) == n + 1
    frames_with_people = {f for f, _ in table_ids(par / "long" / "poses.csv")}
    assert len(frames_with_people) >= 0.95 * n


class CrashOnce:
    """An estimator factory whose estimator kills its process at the n-th network call,
    the first time only (a file remembers it): a worker dying in the middle of an input."""

    def __init__(self, marker: Path, at_call: int = 8):
        self.marker = str(marker)
        self.at_call = at_call

    def __call__(self, args):
        from posefast.cli import _make_estimator

        return _Crashing(_make_estimator(args), self.marker, self.at_call)


class _Crashing:
    def __init__(self, est, marker: str, at_call: int):
        self._est, self._marker, self._at, self._calls = est, marker, at_call, 0

    def __getattr__(self, name):
        return getattr(self._est, name)

    def forward(self, x):
        self._calls += 1
        if self._calls == self._at and not os.path.exists(self._marker):
            Path(self._marker).write_text(str(os.getpid()))
            os._exit(1)  # the actor process dies at once, outputs half written
        return self._est.forward(x)


def test_a_dying_worker_is_retried_and_leaves_no_partial_outputs(ray_session, clips, options, tmp_path):
    from posefast import distributed

    paths, _ = clips
    marker = tmp_path / "crashed"
    seq, par = tmp_path / "seq", tmp_path / "ray"
    assert main(["run", str(paths[0]), "--output-dir", str(seq), "--duration", "1", "--write-json", "json",
                 "--write-table", "poses.csv", *options]) == EXIT_OK
    reports = distributed.run([str(paths[0])], par, workers=1, duration=1.0, model=options[1],
                              engine="onnxruntime", net_height=184, write={"json": "json", "table": "poses.csv"}, make_estimator=CrashOnce(marker))
    assert marker.exists(), "the worker did not crash"
    assert [r.status for r in reports] == ["ok"], reports
    assert assert_same_outputs(seq, par, ["clip"]) == 26
    doc = json.loads((par / "clip" / batch.MARKER).read_text())
    assert sorted(doc["outputs"]) == ["json", "poses.csv"]


def test_more_workers_than_cpus_is_refused_before_work(ray_session, clips, options, tmp_path, capsys):
    paths, _ = clips
    out = tmp_path / "out"
    assert main(["run", str(paths[0]), "--output-dir", str(out), "--ray", "--workers", "3", *options]) == EXIT_USAGE
    assert "3 workers x 1 threads need 3 CPUs, the Ray cluster has 2" in capsys.readouterr().err
    assert not any(out.iterdir())


class CrashOnBigFrames(CrashOnce):
    """Kills its process at every network call on frames bigger than ``limit`` values
    (the dance clip, not p1.jpg): a worker that dies each time Ray retries."""

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, args):
        from posefast.cli import _make_estimator

        est = _make_estimator(args)
        limit = self.limit

        class Crashing(_Crashing):
            def forward(self, x):
                if x.size > limit:
                    os._exit(1)
                return self._est.forward(x)

        return Crashing(est, "", 0)


def test_a_worker_dying_on_every_retry_fails_its_input_only(ray_session, clips, media, options, tmp_path):
    from posefast import distributed

    paths, _ = clips
    par = tmp_path / "ray"
    # at --net-height 184: dance 184 x 328 x 3 = 181k values, p1.jpg 184 x 176 x 3 = 97k
    reports = distributed.run([str(paths[0]), str(media / "p1.jpg")], par, workers=2, duration=0.2,
                              model=options[1], engine="onnxruntime", net_height=184, write={"json": "json", "table": "poses.csv"},
                              make_estimator=CrashOnBigFrames(140_000))
    assert [r.status for r in reports] == ["failed", "ok"], reports
    assert "worker died" in reports[0].error
    assert not (par / "clip").exists(), "the dead worker's partial outputs were left behind"
    assert (par / "p1" / "poses.csv").exists() and (par / "p1" / batch.MARKER).exists()
    assert read_summary(par / "summary.csv")["clip"]["status"] == "failed"
