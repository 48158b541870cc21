"""Endings other than the CLI fault matrix (tests/test_faults.py): abandoned iterators,
stalled runs, concealed decode errors, models that do not fit, a read-only cache."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import posefast as pf
from posefast.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from posefast.models import Estimator, split_outputs
from posefast.video import process
from posefast.video.runner import run_to_sinks
from posefast.video.sinks import CocoSink, TableSink
from posefast.video.sources import Frame, Source, open_source
from _shared import _in_ci

REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    """Resident memory after a full collection, with the allocator's free lists given back
    (glibc keeps freed frame buffers in per-thread arenas: noise, not a leak)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _threads_settle(limit: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() > limit and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


# -- abandoned iterators -------------------------------------------------------------------

@pytest.mark.model
def test_100_abandoned_loops_leave_no_threads_and_no_memory(model_onnx, dance_mp4):
    """``break``, an exception in the loop body and a dropped half-used pipeline, never
    closed: each must stop its threads and free its frames (1280x720: ~60 MB each)."""
    est = Estimator(model=model_onnx, device="cpu", net_height=96)

    def abandon(kind: int) -> None:
        if kind == 0:
            for r in process(dance_mp4, est, keep_images=True):
                if r.index == 2:
                    break
        elif kind == 1:
            try:
                for r in process(dance_mp4, est):
                    raise RuntimeError("in the loop body")
            except RuntimeError:
                pass
        else:
            frames = process(dance_mp4, est)
            next(frames)
            del frames

    from posefast.video.pipeline import Pipeline, _Workers

    def alive() -> int:
        return sum(isinstance(o, (Pipeline, _Workers, Source)) for o in gc.get_objects())

    for i in range(24):  # warm-up: ORT and FFmpeg pools, the allocator's per-thread arenas
        abandon(i % 3)
    threads0 = _threads_settle(1)
    alive0 = alive()
    rss = [_rss_mb()]
    for half in range(2):
        for i in range(50):
            abandon(i % 3)
        rss.append(_rss_mb())
    threads1 = _threads_settle(threads0)
    print(f"threads {threads0} -> {threads1}; RSS {rss[0]:.0f} -> {rss[1]:.0f} -> {rss[2]:.0f} MB "
          "over 2 x 50 abandoned loops")
    assert threads1 <= threads0
    assert alive() <= alive0, "pipelines or sources outlived their loops"
    # a leak grows with every loop (~60 MB each); the allocator's noise levels off
    assert rss[2] - rss[1] < 50, f"RSS grew {rss[2] - rss[1]:.0f} MB over the last 50 abandoned loops"


class _StallingSource(Source):
    """Two frames, then a long pause before the third (a stalled camera or network)."""

    def __init__(self, pause: float):
        self.pause, self.size, self.fps, self.name, self.expected_frames = pause, (64, 48), 25.0, "stall", 3

    def __iter__(self):
        for i in range(3):
            if i == 2:
                time.sleep(self.pause)
            yield Frame(i, i / 25.0, np.zeros((48, 64, 3), np.uint8), self.name)


def test_a_stalled_run_still_flushes_within_the_period(tmp_path):
    from test_video_pipeline import EchoEstimator

    from posefast.video.pipeline import Pipeline

    table = TableSink(tmp_path / "t.csv", "coco18", flush_seconds=0.3)
    coco = CocoSink(tmp_path / "c.json", "coco18", flush_seconds=0.3)
    table.open()
    coco.open()
    pipe = Pipeline(_StallingSource(pause=2.5), EchoEstimator(), track=False)
    done = []
    th = threading.Thread(target=lambda: done.append(run_to_sinks(pipe, [table, coco])))
    th.start()
    try:
        time.sleep(1.5)  # frames 0 and 1 written long ago; frame 2 not read yet
        rows = (tmp_path / "t.csv").read_text().splitlines()
        assert {r.split(",")[0] for r in rows[1:]} == {"0", "1"}
        assert [e["image_id"] for e in json.loads((tmp_path / "c.json").read_text())] == [0, 1]
    finally:
        th.join()
    assert done[0].error is None and done[0].frames == 3
    assert len(json.loads((tmp_path / "c.json").read_text())) == 3


# -- concealed decode errors ---------------------------------------------------------------

def _concealed_copy(dance_mp4: Path, folder: Path) -> Path:
    data = bytearray(dance_mp4.read_bytes())
    mid = len(data) // 2
    for i in range(200):
        data[mid + i] ^= 0xFF
    bad = folder / "concealed.mp4"
    bad.write_bytes(bytes(data))
    return bad


def test_concealed_decode_errors_are_counted(dance_mp4, tmp_path):
    pytest.importorskip("av")
    bad = _concealed_copy(dance_mp4, tmp_path)
    src = open_source(bad)
    frames = [f.index for f in src]
    src.close()
    assert frames == list(range(217))  # FFmpeg returns every frame: the damage is hidden in the pixels
    report = src.damage()
    assert report is not None and report.corrupt
    # keyframes of dance.mp4: 0, 76, 152; the damaged bytes lie in the GOP 76..151
    assert all(76 <= f < 152 for f in report.corrupt)
    assert len(report.corrupt) <= report.affected <= 152 - report.corrupt[0]
    assert "had decode errors" in str(report) and str(bad) in str(report)
    clean = open_source(dance_mp4, start=3.0, duration=3.0)
    assert len(list(clean)) == 75 and clean.damage() is None


def test_pyav_frames_match_opencv(dance_mp4):
    """The PyAV reader gives OpenCV's pixels and frame numbers, with and without --start."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("av")
    for start, step in ((0.0, 50), (2.0, 7)):
        src = open_source(dance_mp4, start=start, duration=2.0, step=step)
        cap = cv2.VideoCapture(str(dance_mp4))
        for f in src:
            cap.set(cv2.CAP_PROP_POS_FRAMES, f.index)
            ok, ref = cap.read()
            assert ok and np.array_equal(f.image, ref), f.index
        cap.release()
        src.close()


@pytest.mark.model
def test_cli_reports_concealed_frames_and_exits_1(shared_models, dance_mp4, tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    bad = _concealed_copy(dance_mp4, tmp_path)
    code = main(["run", str(bad), "--device", "cpu", "--net-height", "128", "--start", "3.4", "--duration", "1.2",
                 "--write-json", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE, err
    assert "warning:" in err and "had decode errors" in err and "outputs complete" in err
    assert len(list((tmp_path / "j").glob("*.json"))) == 30  # every frame still processed


# -- models that do not fit, caches that cannot be written ---------------------------------

def _model_with(model_onnx: Path, path: Path, outputs=None, pool: bool = False) -> Path:
    """The real model with its output sliced into ``outputs`` [(name, start, end)], or max-pooled 2x2."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(model_onnx))
    g = m.graph
    src = g.output[0].name
    del g.output[:]
    if pool:
        g.node.append(helper.make_node("MaxPool", [src], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]))
        g.output.append(helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", 57, "h", "w"]))
    for name, start, end in outputs or ():
        g.initializer.append(numpy_helper.from_array(np.array([1], np.int64), f"{name}_axes"))
        g.initializer.append(numpy_helper.from_array(np.array([start], np.int64), f"{name}_start"))
        g.initializer.append(numpy_helper.from_array(np.array([end], np.int64), f"{name}_end"))
        g.node.append(helper.make_node("Slice", [src, f"{name}_start", f"{name}_end", f"{name}_axes"], [name]))
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", end - start, "h", "w"]))
    onnx.save(m, str(path))
    return path


def test_split_outputs_refuses_ambiguous_channel_counts():
    lay = pf.get_layout("coco18")
    hm, paf = np.zeros((1, 19, 2, 2), np.float32), np.zeros((1, 38, 2, 2), np.float32)
    for outs, why in (([hm, paf, hm], "do not pair up"), ([hm, paf, np.zeros((1, 5, 2, 2), np.float32)],
                                                           "neither heatmaps nor PAFs")):
        with pytest.raises(ValueError, match="ambiguous for layout 'coco18'") as info:
            split_outputs(outs, lay)
        assert why in str(info.value)
    # a layout whose heatmap count equals its PAF channel count cannot be told apart
    square = pf.Layout("square", ("a", "b", "c"), ((0, 1), (1, 2)), ((0, 1), (2, 3)))  # K + 1 == 2L == 4
    with pytest.raises(ValueError, match="4 channels could be heatmaps or PAFs"):
        split_outputs([np.zeros((1, 4, 2, 2), np.float32)] * 2, square)
    got = split_outputs([hm, paf, hm + 1, paf + 1], lay)  # two stages: the last pair
    assert got[0].max() == 1 and got[1].max() == 1


@pytest.mark.model
def test_ambiguous_model_refused_before_work(model_onnx, shared_models, dance_mp4, tmp_path, capsys):
    path = _model_with(model_onnx, tmp_path / "amb.onnx", [("a", 0, 19), ("b", 19, 57), ("c", 0, 19)])
    with pytest.raises(ValueError, match=r"channels \[19, 38, 19\]\) are ambiguous"):
        Estimator(model=path, device="cpu")
    code = main(["run", str(dance_mp4), "--model", str(path), "--device", "cpu", "--write-json",
                 str(tmp_path / "j")])
    assert code == EXIT_USAGE
    assert "ambiguous" in capsys.readouterr().err
    assert not (tmp_path / "j").exists()


@pytest.mark.model
def test_model_with_the_wrong_stride_fails_before_any_output(model_onnx, dance_mp4, tmp_path, capsys):
    path = _model_with(model_onnx, tmp_path / "stride16.onnx", pool=True)
    code = main(["run", str(dance_mp4), "--model", str(path), "--device", "cpu", "--net-height", "128",
                 "--write-json", str(tmp_path / "j"), "--write-table", str(tmp_path / "t.parquet"),
                 "--write-coco", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert "not stride 8" in err and "stride=" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stride16.onnx"]  # nothing was created


@pytest.fixture
def read_only_dir(tmp_path):
    d = tmp_path / "ro-cache"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        msg = f"cannot mount a read-only tmpfs: {r.stderr.strip()}"
        if _in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_read_only_cache_names_the_folder_and_the_fix(read_only_dir, media, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_CACHE_DIR", str(read_only_dir))
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(tmp_path / "no-models-here"))
    code = main(["run", str(media / "p1.jpg"), "--device", "cpu", "--write-json", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert f"the model cache {read_only_dir} is not writable" in err
    assert "POSEFAST_CACHE_DIR" in err and "POSEFAST_MODEL_PATH" in err
    assert not (tmp_path / "j").exists()


# -- write failures at the sink level ------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 KiB tmpfs (root only; CI runs as root, so there it must work)."""
    d = tmp_path / "tiny"
    d.mkdir()
    reason = "mounting a tmpfs needs root"
    if os.geteuid() == 0:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(d)], capture_output=True, text=True)
        if r.returncode == 0:
            yield d
            subprocess.run(["umount", "-l", str(d)], check=False)
            return
        reason = f"mount -t tmpfs is not permitted here: {r.stderr.strip()}"
    if _in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def test_disk_full_keeps_each_file_valid_and_names_it(tiny_disk):
    import pandas as pd
    from test_sinks import make_result

    from posefast.video.sinks import OutputWriteError

    coco = CocoSink(tiny_disk / "c.json", "coco18", flush_seconds=0)  # every write goes to disk
    coco.open()
    written = 0
    with pytest.raises(OutputWriteError, match=f"cannot write {tiny_disk / 'c.json'}: No space left on device"):
        for i in range(10_000):
            coco.write(make_result(i, people=3))
            written = i + 1
    assert 0 < written < 10_000
    entries = json.loads((tiny_disk / "c.json").read_text())  # restored after the short write
    assert len(entries) == 3 * written and entries[-1]["image_id"] == written - 1
    with pytest.raises(OutputWriteError, match="c.json"):  # close says it again: the output is short
        coco.close()
    assert len(json.loads((tiny_disk / "c.json").read_text())) == 3 * written
    # the table's rows wait for the timer; its flush fails (the disk is full) and close reports it
    (tiny_disk / "c.json").unlink()
    (tiny_disk / "filler").write_bytes(b"x" * 4096)  # one page left: the header fits, the rows do not
    table = TableSink(tiny_disk / "t.csv", "coco18", flush_seconds=0.5)
    table.open()
    for i in range(5):
        table.write(make_result(i, people=3))
    time.sleep(0.6)
    with pytest.raises(OutputWriteError, match="t.csv"):
        table.flush_if_due()
    with pytest.raises(OutputWriteError, match="t.csv"):
        table.close()
    assert list(pd.read_csv(tiny_disk / "t.csv").columns) == ["frame", "time", "person", "keypoint", "x", "y",
                                                              "confidence"]
