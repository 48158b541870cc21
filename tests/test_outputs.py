"""Outputs people share and analyse (issue 11): H.264 video with sound that survives a kill,
rendered images, COCO results that score, tidy and wide tables, direct media URLs, clock times."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from _shared import REPO, _need
from _video import probe
from posefast.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, build_parser, main
from posefast.video.sources import parse_time

DANCE_FPS = 25.0


def data_dir() -> Path:
    return Path(os.environ.get("POSEFAST_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def coco_mini() -> Path:
    return _need(data_dir() / "coco_mini" / "person_keypoints.json", "POSEFAST_TEST_DATA coco_mini").parent


def cli_env(shared_models: Path) -> dict:
    env = dict(os.environ, POSEFAST_MODEL_PATH=str(shared_models),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    for k in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"):
        env.pop(k, None)
    return env


def run(argv: list, monkeypatch, shared_models: Path) -> int:
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    return main(["run", *map(str, argv), "--device", "cpu", "--quiet"])


# -- video ------------------------------------------------------------------------------------

@pytest.mark.model
def test_sigkilled_run_leaves_a_playable_video(shared_models, dance_mp4, tmp_path):
    """SIGKILL (no handler runs, no trailer is written): the fragmented MP4 still plays."""
    cmd = [sys.executable, "-m", "posefast.cli", "run", str(dance_mp4), "--device", "cpu", "--quiet",
           "--write-json", str(tmp_path / "j"), "--write-video", str(tmp_path / "v.mp4")]
    err = tmp_path / "stderr.txt"
    with open(err, "w") as err_file:
        proc = subprocess.Popen(cmd, env=cli_env(shared_models), stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        deadline = time.monotonic() + 240
        while len(list((tmp_path / "j").glob("*_keypoints.json"))) < 45:
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "fewer than 45 frames after 240 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(list((tmp_path / "j").glob("*_keypoints.json")))
    assert 45 <= done < 217
    v = probe(tmp_path / "v.mp4")
    assert (v.codec, v.pix_fmt, v.size) == ("h264", "yuv420p", (1280, 720))
    # what a kill may lose: the fragment being built (1 s keyframe interval = 25 frames)
    # plus the frames queued for the encoder thread (8) and in the encoder
    assert 25 <= v.frames <= done
    assert v.frames >= done - 25 - 8 - 4, (v.frames, done)
    assert v.audio_codec == "aac" and abs(v.audio_seconds - v.frames / DANCE_FPS) < 0.6


def _limit_file_size(limit: int):
    def apply() -> None:  # runs in the child before exec; SIG_IGN survives exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.model
def test_video_write_failure_stops_the_run_naming_the_file(shared_models, dance_mp4, tmp_path):
    """A write error mid-run (here EFBIG from a file-size limit, as a full disk gives ENOSPC)."""
    video = tmp_path / "v.mp4"
    cmd = [sys.executable, "-m", "posefast.cli", "run", str(dance_mp4), "--device", "cpu", "--quiet",
           "--duration", "3", "--write-json", str(tmp_path / "j"), "--write-video", str(video)]
    proc = subprocess.run(cmd, env=cli_env(shared_models), capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size(300_000))
    assert proc.returncode == EXIT_FAILURE, proc.stderr
    assert f"cannot write video {video}" in proc.stderr, proc.stderr
    frames = sorted(tmp_path.joinpath("j").glob("*_keypoints.json"))
    assert 20 <= len(frames) < 75            # stopped early, the JSON frames before are complete
    for f in frames:
        json.loads(f.read_text())


# -- images -----------------------------------------------------------------------------------

@pytest.mark.model
def test_image_folder_gives_independent_rendered_pictures(shared_models, media, tmp_path, monkeypatch):
    shots = tmp_path / "shots"
    shots.mkdir()
    names = ["cat.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]          # 480x360, 217x232, 500x422, 600x471
    for n in names:
        (shots / n).symlink_to(media / n)
    out = tmp_path / "out"
    assert run([shots, "--write-json", out / "j", "--write-images", out / "img", "--write-video", out / "v.mp4",
                "--write-table", out / "wide.csv", "--table-layout", "wide", "--write-coco", out / "coco.json"],
               monkeypatch, shared_models) == EXIT_OK
    stems = [Path(n).stem for n in names]
    # OpenPose's names; no tracking across unrelated photos (person_id -1)
    assert sorted(p.name for p in (out / "j").iterdir()) == [f"{s}_keypoints.json" for s in stems]
    people = {s: json.loads((out / "j" / f"{s}_keypoints.json").read_text())["people"] for s in stems}
    assert len(people["cat"]) == 0 and len(people["p2"]) == 2
    assert all(p["person_id"] == [-1] for ps in people.values() for p in ps)
    # rendered images at each picture's own size
    assert sorted(p.name for p in (out / "img").iterdir()) == [f"{s}_rendered.png" for s in stems]
    for n in names:
        src, drawn = cv2.imread(str(media / n)), cv2.imread(str(out / "img" / f"{Path(n).stem}_rendered.png"))
        assert drawn.shape == src.shape
    assert not np.array_equal(cv2.imread(str(out / "img" / "p2_rendered.png")), cv2.imread(str(media / "p2.jpg")))
    # the video: one frame per picture at 1 fps on the first picture's canvas, letterboxed, not stretched
    v = probe(out / "v.mp4")
    assert (v.codec, v.size, v.frames, v.audio_codec) == ("h264", (480, 360), 4, None)
    assert v.fps == pytest.approx(1.0)
    import av

    with av.open(str(out / "v.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    p2 = frames[2]           # 500x422 fitted into 480x360: 427x360, centred: ~26 px black bars left and right
    assert p2[:, :20].mean() < 8 and p2[:, -20:].mean() < 8 and p2[:, 40:-40].mean() > 40
    # the wide table keeps the frame with nobody as an empty row
    import pandas as pd

    wide = pd.read_csv(out / "wide.csv")
    cat = wide[wide["frame"] == 0]
    assert len(cat) == 1 and cat["person"].isna().all() and cat.drop(columns=["frame", "time"]).isna().all(None)
    assert wide.groupby("frame").size().to_dict() == {i: max(len(people[s]), 1) for i, s in enumerate(stems)}
    # "cat" has no number: COCO ids are the positions, with a mapping file beside the results
    coco = json.loads((out / "coco.json").read_text())
    assert {d["image_id"] for d in coco} == {i for i, s in enumerate(stems) if people[s]}
    mapping = json.loads((out / "coco.json.image_ids.json").read_text())
    assert mapping == {"images": [{"id": i, "file_name": n} for i, n in enumerate(names)]}

    # --track asks for ids across the pictures
    assert run([shots, "--track", "--write-json", out / "t"], monkeypatch, shared_models) == EXIT_OK
    tracked = [p["person_id"][0] for s in stems
               for p in json.loads((out / "t" / f"{s}_keypoints.json").read_text())["people"]]
    assert tracked and min(tracked) >= 0


def _coco17(est_layout) -> list[int]:
    names = ["Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
             "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"]
    return [est_layout.keypoints.index(n) for n in names]


def _evaluate(gt_path: Path, results: list) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


@pytest.mark.model
def test_coco_results_score_like_the_python_api(shared_models, coco_mini, tmp_path, monkeypatch):
    pytest.importorskip("pycocotools", reason="pip install pycocotools (the test extra)")
    import posefast as pf

    gt_path = coco_mini / "person_keypoints.json"
    gt = json.loads(gt_path.read_text())
    id_of_file = {im["file_name"]: im["id"] for im in gt["images"]}
    out = tmp_path / "coco.json"
    assert run([coco_mini / "images", "--write-coco", out], monkeypatch, shared_models) == EXIT_OK
    cli = json.loads(out.read_text())
    # image_id = the number of the file name (000000000785.jpg -> 785), no mapping file needed
    assert {d["image_id"] for d in cli} <= {int(Path(n).stem) for n in id_of_file}
    assert {785, 40083, 196141, 197388} <= {d["image_id"] for d in cli}
    assert not out.with_name(out.name + ".image_ids.json").exists()
    # the COCO images score as they are; OCHuman's ids are 900000 + n, so map those through the names
    by_number = {int(Path(n).stem): i for n, i in id_of_file.items()}
    cli_mapped = [dict(d, image_id=by_number[d["image_id"]]) for d in cli]

    est = pf.Estimator(device="cpu")  # what `posefast run` uses: the default preset
    order = _coco17(est.layout)
    api = []
    for name, image_id in sorted(id_of_file.items()):
        poses = est(cv2.imread(str(coco_mini / "images" / name)))
        for kp, score in zip(poses.keypoints, poses.scores):
            vals = []
            for x, y, c in kp[order].tolist():
                vals += [round(x, 3), round(y, 3), 1] if c > 0 else [0, 0, 0]
            api.append({"image_id": image_id, "category_id": 1, "keypoints": vals, "score": float(score)})
    assert len(api) == len(cli)
    ours, theirs = _evaluate(gt_path, cli_mapped), _evaluate(gt_path, api)
    np.testing.assert_array_equal(ours, theirs)
    print("AP", ours[0])
    assert ours[0] > 0.2        # a real score (AP), not the 0.000 of frame-index ids


# -- tables -----------------------------------------------------------------------------------

@pytest.mark.model
def test_wide_and_tidy_tables_hold_the_same_numbers(shared_models, dance_mp4, tmp_path):
    pd = pytest.importorskip("pandas")
    import posefast as pf
    from posefast.video import process
    from posefast.video.sinks import JsonSink, TableSink

    est = pf.Estimator(model=str(shared_models / "openpose-mobilenet-v2-small" / "model.onnx"), device="cpu")
    with process(dance_mp4, est, start="00:00:04", duration=0.4) as frames:
        results = list(frames)
    assert [r.index for r in results] == list(range(100, 110))
    sinks = [TableSink(tmp_path / "tidy.csv", est.layout), TableSink(tmp_path / "wide.parquet", est.layout,
                                                                       table_layout="wide"),
             TableSink(tmp_path / "wide3.csv", est.layout, table_layout="wide", keypoint_scale=3),
             JsonSink(tmp_path / "j4", keypoint_scale=4)]
    for s in sinks:
        s.open()
        for r in results:
            s.write(r)
        s.close()
    tidy = pd.read_csv(tmp_path / "tidy.csv")
    wide = pd.read_parquet(tmp_path / "wide.parquet")
    names = list(est.layout.keypoints)
    assert list(wide.columns) == ["frame", "time", "person"] + [f"{k}_{s}" for k in names for s in "xyc"]
    # wide -> tidy by hand, in the layout's keypoint order
    rows = []
    for _, w in wide.iterrows():
        for k in names:
            rows.append((w["frame"], w["time"], w["person"], k, w[f"{k}_x"], w[f"{k}_y"], w[f"{k}_c"]))
    back = pd.DataFrame(rows, columns=list(tidy.columns))
    assert len(back) == len(tidy) == sum(len(r) for r in results) * len(names)
    np.testing.assert_array_equal(back[["frame", "person"]].to_numpy(), tidy[["frame", "person"]].to_numpy())
    assert list(back["keypoint"]) == list(tidy["keypoint"])
    for col in ("x", "y", "confidence"):   # CSV keeps 3 (x, y) and 4 (confidence) decimals
        np.testing.assert_allclose(back[col].to_numpy(float), tidy[col].to_numpy(float), atol=6e-4, equal_nan=True)
    # the same tables straight from the API
    api_tidy = pf.video.to_dataframe(results)
    api_wide = pf.video.to_dataframe(results, table_layout="wide")
    pd.testing.assert_frame_equal(api_wide.astype({"person": "int64"}), wide, check_dtype=False)
    np.testing.assert_allclose(api_tidy["x"].to_numpy(float), tidy["x"].to_numpy(float), atol=6e-4, equal_nan=True)
    # keypoint scale 3: x / (W - 1), y / (H - 1); 4: 2 x / (W - 1) - 1
    w3 = pd.read_csv(tmp_path / "wide3.csv")
    np.testing.assert_allclose(w3["RWrist_x"], wide["RWrist_x"] / 1279, atol=1e-6)
    np.testing.assert_allclose(w3["RWrist_y"], wide["RWrist_y"] / 719, atol=1e-6)
    doc = json.loads((tmp_path / "j4" / "dance_000000000100_keypoints.json").read_text())
    kp4 = np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
    kp0 = results[0].poses.keypoints[0]
    found = kp0[:, 2] > 0
    np.testing.assert_allclose(kp4[found, 0], 2 * kp0[found, 0] / 1279 - 1, atol=2e-6)
    np.testing.assert_allclose(kp4[found, 1], 2 * kp0[found, 1] / 719 - 1, atol=2e-6)
    assert (kp4[~found] == 0).all()                        # missing stays 0, 0, 0
    assert ((kp4[found, :2] >= -1) & (kp4[found, :2] <= 1)).all()


def test_to_dataframe_without_pandas_names_the_extra(monkeypatch):
    from posefast.video.tables import to_dataframe

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"posefast\[table\]"):
        to_dataframe([])


# -- inputs -----------------------------------------------------------------------------------

@contextlib.contextmanager
def serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # players drop connections when they seek
            pass

    with Quiet(("127.0.0.1", 0), handler) as httpd:
        handler.log_message = lambda *a: None
        th = threading.Thread(target=httpd.serve_forever, daemon=True)
        th.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            th.join()


@pytest.mark.model
def test_direct_media_url_opens_without_yt_dlp(shared_models, media, tmp_path, monkeypatch):
    import posefast.video.sources as sources

    def no_yt_dlp(url):
        raise AssertionError(f"yt-dlp asked for the direct media URL {url}")

    monkeypatch.setattr(sources, "_resolve_url", no_yt_dlp)
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    with serve(media) as base:
        code = run([f"{base}/dance.mp4?dl=1", "--start", "00:00:01", "--duration", "0:00.4",
                    "--write-json", tmp_path / "j", "--write-video", tmp_path / "v.mp4"], monkeypatch, shared_models)
    assert code == EXIT_OK
    names = sorted(p.name for p in (tmp_path / "j").iterdir())
    assert names == [f"dance_{i:012d}_keypoints.json" for i in range(25, 35)]   # short name, clock times
    v = probe(tmp_path / "v.mp4")
    assert (v.codec, v.frames, v.audio_codec) == ("h264", 10, "aac")
    assert v.audio_seconds == pytest.approx(0.4, abs=0.05)


def test_page_url_without_yt_dlp_says_how(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "yt_dlp", None)
    from posefast.video.sources import SourceError, open_source

    with serve(tmp_path) as base, pytest.raises(SourceError, match="yt-dlp"):
        open_source(f"{base}/watch?v=abc")


def test_clock_times():
    assert parse_time("00:00:40") == 40.0 and parse_time("1:05.5") == 65.5
    assert parse_time("01:02:03.250") == 3723.25 and parse_time("2.5") == 2.5 and parse_time(3) == 3.0
    for bad in ("1:60", "00:61:00", "-1", "1:2:3:4", "abc", "nan"):
        with pytest.raises(ValueError):
            parse_time(bad)
    args = build_parser().parse_args(["run", "x.mp4", "--start", "00:01:30", "--duration", "0:10"])
    assert (args.start, args.duration) == (90.0, 10.0)


def test_camera_error_names_the_device(capsys):
    assert main(["run", "57", "--quiet"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "camera 57" in err and "/dev/video57" in err


@pytest.mark.model
def test_quiet_silences_ffmpeg_and_verbose_keeps_it(shared_models, dance_mp4, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = dance_mp4.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    outs = {}
    for flag in ("-q", "-v"):
        cmd = [sys.executable, "-m", "posefast.cli", "run", str(cut), "--device", "cpu", "--start", "3",
               "--write-json", str(tmp_path / flag), flag]
        proc = subprocess.run(cmd, env=cli_env(shared_models), capture_output=True, text=True, timeout=300)
        assert proc.returncode == EXIT_FAILURE, proc.stderr
        outs[flag] = proc.stdout + proc.stderr      # OpenCV prints FFmpeg's messages on stdout
    assert "partial file" in outs["-v"] or "NAL unit" in outs["-v"], outs["-v"]
    lines = [ln for ln in outs["-q"].splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("posefast: error: cannot decode frame"), outs["-q"]


def test_offline_first_run_names_the_cli_fixes(tmp_path):
    from posefast.models.fetch import FetchError, download_file

    with pytest.raises(FetchError) as info:
        download_file(["http://127.0.0.1:9/model.onnx"], tmp_path / "model.onnx", progress=False, timeout=2)
    msg = str(info.value)
    for fix in ("POSEFAST_MODEL_PATH", "posefast models fetch --base-url", "posefast models convert"):
        assert fix in msg, msg


# -- sinks alone (no model) --------------------------------------------------------------------

def _result(index, image, kp=None):
    from posefast.types import Poses
    from posefast.video.pipeline import FrameResult

    kp = np.zeros((0, 18, 3), np.float32) if kp is None else kp
    poses = Poses(kp, np.ones(len(kp), np.float32), np.zeros((len(kp), 18), np.int32), "coco18")
    h, w = image.shape[:2]
    return FrameResult(index, index / 25.0, poses, np.arange(len(kp)), image, "clip", (w, h))


def test_odd_sized_video_is_padded_not_stretched(tmp_path):
    from posefast.video.avvideo import AvVideoSink

    img = np.full((75, 101, 3), 200, np.uint8)
    img[:, -1] = 0                                    # the last column is dark: it must survive
    sink = AvVideoSink(tmp_path / "odd.mp4", 25.0, (101, 75), "overlay")
    sink.open()
    for i in range(30):
        sink.write(_result(i, img))
    sink.close()
    v = probe(tmp_path / "odd.mp4")
    assert (v.codec, v.size, v.frames, v.error) == ("h264", (102, 76), 30, None)
    import av

    with av.open(str(tmp_path / "odd.mp4")) as c:
        first = next(iter(c.decode(video=0))).to_ndarray(format="bgr24")
    assert first[:, 100].mean() < 60 and first[:, 50].mean() > 150     # column 100 kept, edge repeated


def test_video_names_and_presets_checked_before_work(tmp_path):
    from posefast.video.avvideo import AvVideoSink
    from posefast.video.sinks import OutputError

    with pytest.raises(OutputError, match=r"\.mp4"):
        AvVideoSink(tmp_path / "x.avi", 25, (64, 64))
    with pytest.raises(OutputError, match="ultrafast"):
        AvVideoSink(tmp_path / "x.mp4", 25, (64, 64), preset="fastest")


@pytest.mark.parametrize("kind", ["pyav", "opencv"])
def test_other_sized_frames_are_letterboxed_not_stretched(kind, tmp_path):
    from posefast.video.avvideo import AvVideoSink
    from posefast.video.sinks import VideoSink

    path = tmp_path / f"{kind}.mp4"
    sink = AvVideoSink(path, 1.0, (160, 80)) if kind == "pyav" else VideoSink(path, 1.0, (160, 80))
    sink.open()
    sink.write(_result(0, np.full((80, 160, 3), 255, np.uint8)))      # the canvas
    sink.write(_result(1, np.full((160, 80, 3), 255, np.uint8)))      # portrait: 40x80 in the middle
    sink.close()
    cap = cv2.VideoCapture(str(path))
    frames = [cap.read()[1] for _ in range(2)]
    cap.release()
    assert frames[1].shape[:2] == (80, 160)
    portrait = frames[1].astype(float)
    assert portrait[:, :50].mean() < 20 and portrait[:, -50:].mean() < 20     # black bars, not stretched
    assert portrait[:, 65:95].mean() > 230
