"""Sinks on synthetic results: OpenPose JSON, tidy table (CSV/Parquet), COCO, video."""

from __future__ import annotations

import json
import os
import stat

import cv2
import numpy as np
import pytest

from posefast import Poses, get_layout
from posefast.video.pipeline import FrameResult
from posefast.video.render import draw_poses
from posefast.video.sinks import (TABLE_COLUMNS, CocoSink, JsonSink, OutputError, TableSink, ThreadedSink,
                                  VideoSink, coco17_indices)
from posefast.video.plot import PlotError, plot_motion, read_table

COCO18 = get_layout("coco18")
K = COCO18.num_keypoints


def make_result(index: int, people: int = 2, missing=(3,), image: bool = False, fps: float = 25.0) -> FrameResult:
    kp = np.zeros((people, K, 3), np.float32)
    peak = np.zeros((people, K), np.int32)
    for p in range(people):
        kp[p, :, 0] = 100 + 200 * p + np.arange(K) + index
        kp[p, :, 1] = 50 + 10 * np.arange(K)
        kp[p, :, 2] = 0.5 + 0.01 * np.arange(K)
        for k in missing:
            kp[p, k] = 0
            peak[p, k] = -1
    poses = Poses(kp, np.linspace(1.0, 0.5, people).astype(np.float32), peak, "coco18")
    img = np.full((240, 320, 3), 40, np.uint8) if image else None
    return FrameResult(index, index / fps, poses, np.arange(people, dtype=np.int64) + 7, img, "clip", (320, 240))


def test_json_openpose_layout(tmp_path):
    sink = JsonSink(tmp_path / "json")
    sink.open()
    for i in range(3):
        sink.write(make_result(i, people=i))
    sink.close()
    files = sorted(p.name for p in (tmp_path / "json").iterdir())
    assert files == [f"clip_{i:012d}_keypoints.json" for i in range(3)]
    doc = json.loads((tmp_path / "json" / files[2]).read_text())
    assert doc["version"] == 1.3
    assert len(doc["people"]) == 2
    person = doc["people"][1]
    assert person["person_id"] == [8]
    assert len(person["pose_keypoints_2d"]) == 3 * K
    assert person["pose_keypoints_2d"][9:12] == [0, 0, 0]          # keypoint 3 missing
    assert person["pose_keypoints_2d"][0] == pytest.approx(302.0)
    for key in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "pose_keypoints_3d",
                "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d"):
        assert person[key] == []
    assert json.loads((tmp_path / "json" / files[0]).read_text())["people"] == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_columns_and_nan_for_missing(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    sink = TableSink(path, "coco18", row_group_frames=2)
    sink.open()
    for i in range(5):
        sink.write(make_result(i, people=0 if i == 1 else 2))
    sink.close()
    cols = read_table(path)
    assert list(cols) == list(TABLE_COLUMNS)
    assert len(cols["frame"]) == 4 * 2 * K                          # frame 1 had nobody
    assert sorted(set(cols["frame"].tolist())) == [0, 2, 3, 4]
    assert set(cols["person"].tolist()) == {7, 8}
    assert cols["keypoint"][:K].tolist() == list(COCO18.keypoints)
    miss = cols["keypoint"] == "RElbow"
    assert np.isnan(cols["x"][miss]).all() and np.isnan(cols["y"][miss]).all()
    assert (cols["confidence"][miss] == 0).all()
    assert np.isfinite(cols["x"][~miss]).all()
    sel = (cols["frame"] == 3) & (cols["person"] == 8) & (cols["keypoint"] == "Nose")
    assert cols["x"][sel].tolist() == [pytest.approx(303.0)]
    assert cols["time"][sel].tolist() == [pytest.approx(3 / 25)]


def test_table_without_tracking_uses_rank(tmp_path):
    r = make_result(0, people=2)
    r = FrameResult(r.index, r.time, r.poses, np.full(2, -1, np.int64), None, r.name, r.size)
    sink = TableSink(tmp_path / "t.csv")
    sink.open()
    sink.write(r)
    sink.close()
    assert set(read_table(tmp_path / "t.csv")["person"].tolist()) == {0, 1}


def test_coco_results(tmp_path):
    idx = coco17_indices("coco18")
    assert idx.tolist() == [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
    sink = CocoSink(tmp_path / "coco.json")
    sink.open()
    for i in range(3):
        sink.write(make_result(i, people=i))
    sink.close()
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert len(doc) == 0 + 1 + 2
    assert [d["image_id"] for d in doc] == [1, 2, 2]
    d = doc[1]
    assert d["category_id"] == 1 and len(d["keypoints"]) == 51 and d["score"] == pytest.approx(1.0)
    kp = np.array(d["keypoints"]).reshape(17, 3)
    assert kp[0].tolist() == [pytest.approx(102.0), pytest.approx(50.0), 1]     # nose
    assert kp[8].tolist() == [0, 0, 0]                                          # right_elbow = RElbow missing
    assert kp[7, 0] == pytest.approx(102.0 + 6)                                 # left_elbow = LElbow (6)
    assert kp[1, 0] == pytest.approx(102.0 + 15)                                # left_eye = LEye (15)
    with pytest.raises(OutputError, match="COCO-17"):
        CocoSink(tmp_path / "x.json", "mpi15")


def test_coco_file_is_valid_when_empty(tmp_path):
    sink = CocoSink(tmp_path / "c.json")
    sink.open()
    sink.close()
    assert json.loads((tmp_path / "c.json").read_text()) == []


@pytest.mark.parametrize("mode", ["overlay", "skeleton"])
def test_video_frame_count_and_content(tmp_path, mode):
    path = tmp_path / f"{mode}.mp4"
    sink = ThreadedSink(VideoSink(path, 25.0, (320, 240), mode))
    sink.open()
    for i in range(12):
        sink.write(make_result(i, people=1, image=True))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    frames = []
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        frames.append(fr)
    assert len(frames) == 12
    assert frames[0].shape == (240, 320, 3)
    corner = frames[0][:20, -20:]   # far from the skeleton: the frame (40) or black (0)
    assert abs(float(corner.mean()) - (40 if mode == "overlay" else 0)) < 8
    assert frames[0].max() > 150    # coloured limbs were drawn


def test_video_odd_size_keeps_every_row_and_column(tmp_path):
    """OpenCV's mp4v writer drops the last row/column of odd sizes; the sink pads instead."""
    path = tmp_path / "odd.mp4"
    sink = VideoSink(path, 25.0, (321, 239), "overlay")
    sink.open()
    for i in range(3):
        r = make_result(i, people=1, image=True)
        img = np.full((239, 321, 3), 40, np.uint8)
        img[-1, :] = 250          # a bright last row and column must survive
        img[:, -1] = 250
        sink.write(FrameResult(r.index, r.time, r.poses, r.ids, img, r.name, (321, 239)))
    sink.close()
    cap = cv2.VideoCapture(str(path))
    ok, fr = cap.read()
    assert ok and fr.shape == (240, 322, 3)
    assert fr[238, 100:200].mean() > 200 and fr[100:200, 320].mean() > 200
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_draw_poses_does_not_touch_input():
    img = np.full((100, 100, 3), 9, np.uint8)
    kp = np.zeros((1, K, 3), np.float32)
    kp[0, 1] = (50, 20, 1)
    kp[0, 2] = (30, 20, 1)
    out = draw_poses(img, kp, "coco18", ids=[3])
    assert (img == 9).all()
    assert out.shape == img.shape and (out != 9).any()
    with pytest.raises(ValueError, match="render mode"):
        draw_poses(img, kp, mode="bogus")


def test_threaded_sink_raises_writer_errors(tmp_path):
    class Boom(JsonSink):
        def write(self, result):
            raise RuntimeError("disk on fire")

    sink = ThreadedSink(Boom(tmp_path / "j"))
    sink.open()
    with pytest.raises(RuntimeError, match="disk on fire"):
        for i in range(50):
            sink.write(make_result(i))
        sink.close()
    sink.close()  # idempotent


def test_unwritable_outputs_fail_on_open(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        JsonSink(blocker).open()                        # a file, not a folder
    with pytest.raises(OutputError):
        TableSink(blocker / "t.csv").open()             # parent is a file
    with pytest.raises(OutputError, match=".csv or .parquet"):
        TableSink(tmp_path / "t.xlsx")
    with pytest.raises(OutputError):
        CocoSink(blocker / "c.json").open()
    with pytest.raises(OutputError):
        VideoSink(blocker / "v.mp4", 25, (64, 64)).open()
    if os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(OutputError):
                TableSink(ro / "t.csv").open()
            with pytest.raises(OutputError):
                JsonSink(ro / "j").open()
        finally:
            ro.chmod(stat.S_IRWXU)


def test_plot_from_table(tmp_path):
    sink = TableSink(tmp_path / "t.csv")
    sink.open()
    for i in range(30):
        sink.write(make_result(i, people=2))
    sink.close()
    out = plot_motion(tmp_path / "t.csv", tmp_path / "m.png", keypoints=["rwrist", "LWrist"], person=8)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    with pytest.raises(PlotError, match="unknown keypoint"):
        plot_motion(tmp_path / "t.csv", tmp_path / "n.png", keypoints=["Tail"])
    with pytest.raises(PlotError, match="person 99"):
        plot_motion(tmp_path / "t.csv", tmp_path / "n.png", person=99)
    assert not (tmp_path / "n.png").exists()
