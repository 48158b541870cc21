"""The ``posefast`` command end to end on the shared dance clip and the real model."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from posefast.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main

from _video import probe

pytestmark = pytest.mark.model

DANCE_FRAMES = 217
REPO = Path(__file__).resolve().parents[1]


def video_frames(path: Path) -> tuple[int, int]:
    """(frame count the container announces, frames actually decoded)."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} does not open"
    announced = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return announced, n


def json_frames(folder: Path) -> dict[int, list]:
    out = {}
    for p in sorted(folder.glob("*_keypoints.json")):
        doc = json.loads(p.read_text())
        assert doc["version"] == 1.3
        # videos: <name>_<frame:012d>_keypoints.json, keyed by frame; images: <stem>_keypoints.json, by stem
        head = p.name[: -len("_keypoints.json")]
        frame = head.rsplit("_", 1)[-1]
        out[int(frame) if len(frame) == 12 and frame.isdigit() else head] = doc["people"]
    assert not list(folder.glob("*.tmp")), "half-written JSON left behind"
    return out


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def whole_clip(shared_models, dance_mp4, tmp_path_factory):
    """One run over the whole clip writing every output (shared by the tests below)."""
    out = tmp_path_factory.mktemp("whole")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_MODEL_PATH", str(shared_models))
        t0 = time.perf_counter()
        code = main(["run", str(dance_mp4), "--device", "cpu", "--batch-size", "2", "--quiet",
                     "--write-json", str(out / "json"), "--write-table", str(out / "poses.csv"),
                     "--write-coco", str(out / "coco.json"), "--write-video", str(out / "overlay.mp4")])
        print(f"whole clip: {time.perf_counter() - t0:.1f} s")
    assert code == EXIT_OK
    return out


def test_whole_clip_json(whole_clip):
    frames = json_frames(whole_clip / "json")
    assert sorted(frames) == list(range(DANCE_FRAMES))
    name = sorted(p.name for p in (whole_clip / "json").iterdir())[5]
    assert name == "dance_000000000005_keypoints.json"
    with_people = [i for i, people in frames.items() if people]
    assert len(with_people) >= 0.95 * DANCE_FRAMES
    for people in frames.values():
        for person in people:
            assert len(person["pose_keypoints_2d"]) == 18 * 3
            assert isinstance(person["person_id"], list) and person["person_id"][0] >= 0
            assert person["face_keypoints_2d"] == [] and person["pose_keypoints_3d"] == []


def test_whole_clip_dancer_keeps_one_id(whole_clip):
    frames = json_frames(whole_clip / "json")
    main_ids = []
    for people in frames.values():
        if people:
            kp = np.array([p["pose_keypoints_2d"] for p in people]).reshape(len(people), 18, 3)
            # the dancer is the largest skeleton (box diagonal of its keypoints); small
            # fragments the decoder sometimes splits off get ids of their own
            size = [np.ptp(k[k[:, 2] > 0, :2], axis=0).max() for k in kp]
            main_ids.append(people[int(np.argmax(size))]["person_id"][0])
    assert len(set(main_ids)) == 1, Counter(main_ids)


def test_whole_clip_table(whole_clip):
    rows = read_csv(whole_clip / "poses.csv")
    assert list(rows[0]) == ["frame", "time", "person", "keypoint", "x", "y", "confidence"]
    frames_json = {i for i, people in json_frames(whole_clip / "json").items() if people}
    assert {int(r["frame"]) for r in rows} == frames_json
    per_person = Counter(int(r["person"]) for r in rows if r["keypoint"] == "Neck")
    dancer, count = per_person.most_common(1)[0]
    assert count >= 0.95 * DANCE_FRAMES   # one id covers the dancer in >= 95 % of the frames
    r = next(r for r in rows if r["frame"] == "100" and int(r["person"]) == dancer and r["keypoint"] == "Nose")
    assert float(r["time"]) == pytest.approx(4.0)
    assert 0 < float(r["x"]) < 1280 and 0 < float(r["y"]) < 720 and 0 < float(r["confidence"]) <= 1.5


def test_whole_clip_coco(whole_clip):
    doc = json.loads((whole_clip / "coco.json").read_text())
    frames_json = json_frames(whole_clip / "json")
    assert len(doc) == sum(len(p) for p in frames_json.values())
    assert {d["image_id"] for d in doc} == {i for i, p in frames_json.items() if p}
    for d in doc:
        assert d["category_id"] == 1 and len(d["keypoints"]) == 51 and d["score"] > 0
        assert set(d["keypoints"][2::3]) <= {0, 1}


def test_whole_clip_video(whole_clip):
    v = probe(whole_clip / "overlay.mp4")
    assert (v.codec, v.pix_fmt, v.size, v.error) == ("h264", "yuv420p", (1280, 720), None)
    assert v.frames == DANCE_FRAMES and v.fps == pytest.approx(25.0)
    assert v.seconds == pytest.approx(DANCE_FRAMES / 25.0, abs=0.05)
    # the dancer's music: dance.mp4's AAC track, the whole 8.68 s of it
    assert v.audio_codec == "aac" and v.audio_seconds == pytest.approx(8.68, abs=0.05)
    announced, decoded = video_frames(whole_clip / "overlay.mp4")   # OpenCV reads it too
    assert announced == decoded == DANCE_FRAMES


def test_plot_from_the_clip_table(whole_clip, tmp_path):
    out = tmp_path / "motion.png"
    assert main(["plot", str(whole_clip / "poses.csv"), "-o", str(out), "--keypoints", "RWrist,LWrist",
                 "--quiet"]) == EXIT_OK
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert main(["plot", str(whole_clip / "poses.csv"), "-o", str(tmp_path / "x.png"),
                 "--keypoints", "RWrist,Tail"]) == EXIT_USAGE
    assert not (tmp_path / "x.png").exists()


def test_parquet_skeleton_smooth_and_step(shared_models, dance_mp4, tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    code = main(["run", str(dance_mp4), "--device", "cpu", "--start", "2", "--duration", "2", "--frame-step", "5",
                 "--smooth", "--quiet", "--write-table", str(tmp_path / "t.parquet"),
                 "--write-json", str(tmp_path / "j"), "--write-video", str(tmp_path / "s.mp4"),
                 "--render", "skeleton"])
    assert code == EXIT_OK
    frames = json_frames(tmp_path / "j")
    assert sorted(frames) == list(range(50, 100, 5))
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == ["frame", "time", "person", "keypoint", "x", "y", "confidence"]
    assert set(table.column("frame").to_pylist()) == {i for i, p in frames.items() if p}
    assert video_frames(tmp_path / "s.mp4") == (10, 10)
    # every 5th frame of 2 s at 25 fps: 10 frames at 5 fps, 2 s long, with the same 2 s of sound
    v = probe(tmp_path / "s.mp4")
    assert (v.codec, v.frames, v.error) == ("h264", 10, None)
    assert v.fps == pytest.approx(5.0) and v.seconds == pytest.approx(2.0, abs=0.05)
    assert v.audio_codec == "aac" and v.audio_seconds == pytest.approx(2.0, abs=0.05)
    cap = cv2.VideoCapture(str(tmp_path / "s.mp4"))
    ok, first = cap.read()
    assert ok and np.median(first) < 5     # skeleton on black


def test_image_glob(shared_models, media, tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    code = main(["run", str(media / "p*.jpg"), "--device", "cpu", "--quiet", "--no-track",
                 "--write-json", str(tmp_path / "j"), "--write-table", str(tmp_path / "t.csv")])
    assert code == EXIT_OK
    names = sorted(p.name for p in (tmp_path / "j").iterdir())
    assert names == ["p1_keypoints.json", "p2_keypoints.json", "p3_keypoints.json"]   # OpenPose's names
    people = json.loads((tmp_path / "j" / names[1]).read_text())["people"]
    assert len(people) == 2 and all(p["person_id"] == [-1] for p in people)   # two seated men
    assert {r["time"] for r in read_csv(tmp_path / "t.csv")} == {""}


def test_truncated_video_keeps_what_was_read(shared_models, dance_mp4, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    cut = tmp_path / "cut.mp4"
    data = dance_mp4.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    code = main(["run", str(cut), "--device", "cpu", "--frame-step", "4", "--quiet",
                 "--write-json", str(tmp_path / "j"), "--write-table", str(tmp_path / "t.csv"),
                 "--write-coco", str(tmp_path / "c.json"), "--write-video", str(tmp_path / "v.mp4")])
    assert code == EXIT_FAILURE
    err = capsys.readouterr().err
    frames = json_frames(tmp_path / "j")
    last = max(frames)
    assert sorted(frames) == list(range(0, last + 1, 4)) and 40 < last < 217
    bad = int(err.split("cannot decode frame ")[1].split()[0])
    assert last < bad <= last + 4, err
    assert video_frames(tmp_path / "v.mp4") == (len(frames), len(frames))
    assert {int(r["frame"]) for r in read_csv(tmp_path / "t.csv")} == {i for i, p in frames.items() if p}
    assert len(json.loads((tmp_path / "c.json").read_text())) == sum(len(p) for p in frames.values())


def test_sigint_leaves_valid_outputs(shared_models, dance_mp4, tmp_path):
    env = dict(os.environ, POSEFAST_MODEL_PATH=str(shared_models),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "posefast.cli", "run", str(dance_mp4), "--device", "cpu",
           "--write-json", str(tmp_path / "j"), "--write-table", str(tmp_path / "t.csv"),
           "--write-coco", str(tmp_path / "c.json"), "--write-video", str(tmp_path / "v.mp4")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "j").glob("*.json"))) < 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no output after 120 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "interrupted" in err
    frames = json_frames(tmp_path / "j")
    n = len(frames)
    assert 5 <= n < DANCE_FRAMES and sorted(frames) == list(range(n))
    assert video_frames(tmp_path / "v.mp4") == (n, n)
    assert {int(r["frame"]) for r in read_csv(tmp_path / "t.csv")} == {i for i, p in frames.items() if p}
    assert len(json.loads((tmp_path / "c.json").read_text())) == sum(len(p) for p in frames.values())


@pytest.mark.parametrize("argv, message", [
    (["run", "/no/such/video.mp4"], "does not exist"),
    (["run", "{dance}", "--start", "60"], "past the end"),
    (["run", "{dance}", "--write-table", "{blocker}/t.csv"], "cannot"),
    (["run", "{dance}", "--write-json", "{blocker}"], "not a folder"),
    (["run", "{dance}", "--write-table", "{tmp}/t.xlsx"], ".csv or .parquet"),
    (["run", "{dance}", "--smooth", "--no-track"], "--no-track"),
    (["run", "{dance}", "--model", "no-such-model"], "no-such-model"),
    (["run", "{dance}", "--frame-step", "0"], ""),
    (["run", "{dance}", "--number-people-max", "0"], "--number-people-max"),
])
def test_usage_errors_exit_2_before_work(argv, message, shared_models, dance_mp4, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    argv = [a.format(dance=dance_mp4, blocker=blocker, tmp=tmp_path) for a in argv]
    before = set(tmp_path.rglob("*"))
    assert main(argv + ["--device", "cpu", "--write-json", str(tmp_path / "never")]
                if "--write-json" not in argv else argv + ["--device", "cpu"]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
    assert not any(p.suffix == ".json" for p in set(tmp_path.rglob("*")) - before)


def test_help_documents_exit_codes_and_columns(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for text in ("0    success", "1    runtime failure", "2    usage error", "130  interrupted",
                 "frame", "confidence", "--write-coco", "--frame-step", "--smooth", "--upsample"):
        assert text in out
    assert main(["bogus-command"]) == EXIT_USAGE


def test_bench_prints_stage_table(shared_models, dance_mp4, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    assert main(["bench", str(dance_mp4), "--device", "cpu", "--duration", "0.6", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    for stage in ("read", "preprocess", "inference", "decode", "pipeline fps", "inference-only fps", "ratio"):
        assert stage in out


def test_people_options_build_the_decode_config():
    from posefast import DecodeConfig
    from posefast.cli import _people_config, build_parser

    def config(*flags, base=None):
        return _people_config(build_parser().parse_args(["run", "x.mp4", *flags]), base)

    assert config() is None and config(base=DecodeConfig(upsample=2)) == DecodeConfig(upsample=2)
    assert config("--number-people-max", "2") == DecodeConfig(number_people_max=2)
    single = config("--single-person", base=DecodeConfig(upsample=1))
    assert single == DecodeConfig.single_person(upsample=1)
    both = config("--single-person", "--number-people-max", "1")
    assert both == DecodeConfig.single_person(number_people_max=1)


def test_people_options_end_to_end(shared_models, media, tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    counts = {}
    for name, flags in {"all": [], "two": ["--number-people-max", "2"], "single": ["--single-person"]}.items():
        assert main(["run", str(media / "p3_dance.png"), "--device", "cpu", "--quiet", "--no-track",
                     "--write-json", str(tmp_path / name), *flags]) == EXIT_OK
        (doc,) = json_frames(tmp_path / name).values()
        counts[name] = len(doc)
    assert counts["all"] >= 3 and counts["two"] == 2 and counts["single"] == 1


# -- presets, engines, precision, scales and decoder flags --------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--engine", "tensorrt"], "invalid choice"),
    (["--preset", "slow"], "invalid choice"),
    (["--precision", "int8", "--model", "openpose-mobilenet-v2-small"], "no int8 form"),
    (["--precision", "fp16", "--device", "cpu"], "only on CUDA"),
    (["--engine", "onnxruntime", "--precision", "int8"], "OpenVINO only"),
    (["--scales", "1,0.5", "--scale-number", "2"], "either --scales"),
    (["--scale-gap", "0.3"], "--scale-gap needs --scale-number"),
    (["--scale-number", "5", "--scale-gap", "0.25"], "scales must stay > 0"),
    (["--scales", "1,x"], "comma-separated"),
    (["--upsample", "0"], "upsample must be in [1, 16]"),
    (["--paf-min-above", "2"], "paf_min_above must be in [0, 1]"),
    (["--upsample", "16", "--net-height", "1040"], "the decode grid would be"),   # over the cap, before output
])
def test_model_option_errors_exit_2(argv, message, shared_models, media, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    code = main(["run", str(media / "image.jpg"), *argv, "--write-json", str(tmp_path / "never")])
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def _estimator_for(argv: list[str]):
    from posefast.cli import _make_estimator, build_parser

    return _make_estimator(build_parser().parse_args(["run", "x.jpg", "--device", "cpu", *argv]))


def test_preset_flags_and_overrides(shared_models, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    est = _estimator_for([])
    assert (est.preset, est.engine, est.precision, est.net_height, est.scales) == \
        ("default", "openvino", "int8", 368, (1.0,))
    fast = _estimator_for(["--preset", "fast", "--scale-number", "2", "--scale-gap", "0.5", "--min-keypoints", "6",
                           "--peak-threshold", "0.1", "--upsample", "2"])
    assert (fast.net_height, fast.scales, fast.precision) == (256, (1.0, 0.5), "int8")
    assert (fast.config.min_parts, fast.config.peak_threshold, fast.config.upsample) == (6, 0.1, 2)
    acc = _estimator_for(["--preset", "accurate"])
    assert (acc.net_height, acc.scales) == (456, (1.0, 0.75, 0.5))
    # the pre-0.2 default configuration, as the maintainer's comparison names it
    old = _estimator_for(["--model", "openpose-mobilenet-v2-small", "--engine", "onnxruntime", "--precision", "fp32",
                          "--net-height", "368"])
    assert (old.engine, old.precision, old.net_height, old.model_info["name"]) == \
        ("onnxruntime", "fp32", 368, "openpose-mobilenet-v2-small")


def test_min_keypoints_flag_filters_people(shared_models, media, tmp_path, monkeypatch):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    assert main(["run", str(media / "p3_dance.png"), "--device", "cpu", "--quiet", "--min-keypoints", "12",
                 "--write-json", str(tmp_path / "j")]) == EXIT_OK
    (people,) = json_frames(tmp_path / "j").values()
    assert people and all(sum(c > 0 for c in p["pose_keypoints_2d"][2::3]) >= 12 for p in people)


def test_bench_with_onnxruntime(shared_models, dance_mp4, monkeypatch, capsys):
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    assert main(["bench", str(dance_mp4), "--device", "cpu", "--duration", "0.3", "--quiet",
                 "--model", "openpose-mobilenet-v2-small", "--engine", "onnxruntime", "--precision", "fp32"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "pipeline fps" in out and "inference-only fps" in out
