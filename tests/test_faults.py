"""The fault matrix: every way a ``posefast run`` can end leaves readable outputs.

Endings: SIGINT, SIGTERM, SIGHUP (a clean stop: exit 128 + signal number, every output
complete up to the last frame processed), SIGKILL early / middle / late (every output
readable and holding every frame processed until 2 s before the kill), and a full disk
(a small tmpfs per output, and one for all: exit 1, the message names the output that
failed, every output readable and a prefix of the frames processed).

Outputs: OpenPose JSON (json), CSV and Parquet tables (pandas), COCO results
(pycocotools), the rendered video (PyAV) and rendered images (OpenCV).  The JSON folder
is the clock: it is written first for each frame, one file per frame, so the test
polls it to know how many frames had been processed at any moment.

The rendered video and images are written in their own threads behind a queue of
``QUEUED`` frames, and the video closes a fragment at every keyframe (one a second of
video, ``FRAGMENT`` frames): after a kill they may lack those frames beyond the bound.

Runs are short: a 4 s slice of dance.mp4 (100 frames) at ``--net-height 128``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from _shared import _in_ci

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[1]
DURATION = 4.0
FRAMES = 100          # DURATION * 25 fps
# The full-disk runs are longer: tables and COCO are written at the 1 s flushes, and on a
# fast machine 100 frames took about 1 s, so the first write (the one that fails) came at
# the end of the run.
FULL_DURATION = 8.0
FULL_FRAMES = 200
K = 18
BOUND_S = 2.0         # the most a kill may lose
QUEUED = 8            # ThreadedSink's queue depth (video, images)


def _run_options() -> set:
    from posefast.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {o for a in sub.choices["run"]._actions for o in a.option_strings}


# The kill-safe rendered video (fragmented H.264 MP4) and the rendered images come with
# --write-images (the outputs work); before it, --write-video is OpenCV's mp4v, which a
# kill leaves without its index, so it is left out of the matrix.
RENDERED = "--write-images" in _run_options()
FRAGMENT = 25         # frames per fragment of the rendered video (a keyframe a second)


def _env(shared_models) -> dict:
    return dict(os.environ, POSEFAST_MODEL_PATH=str(shared_models),
                PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))


def _command(dance_mp4, outs: dict, duration: float = DURATION) -> list:
    cmd = [sys.executable, "-m", "posefast.cli", "run", str(dance_mp4), "--device", "cpu", "--net-height", "128",
           "--duration", str(duration), "--quiet"]
    flags = {"json": "--write-json", "table": "--write-table", "coco": "--write-coco", "video": "--write-video",
             "images": "--write-images"}
    for key, path in outs.items():
        cmd += [flags[key], str(path)]
    if "images" in outs:
        cmd += ["--write-images-format", "jpg"]
    return cmd


def _outputs(folder: Path, table: str) -> dict:
    outs = {"json": folder / "json", "table": folder / f"poses.{table}", "coco": folder / "coco.json"}
    if RENDERED:
        outs.update(video=folder / "render.mp4", images=folder / "images")
    return outs


def _count_json(folder: Path) -> int:
    try:
        return sum(1 for n in os.listdir(folder) if n.endswith("_keypoints.json"))
    except FileNotFoundError:
        return 0


# -- readers: each output read with its usual tool, checked for consistency -----------------

def read_json(folder: Path) -> dict[int, int]:
    """frame -> people; every file parses and the frames are 0..n-1."""
    people = {}
    for p in folder.glob("*_keypoints.json"):
        doc = json.loads(p.read_text())
        people[int(p.name.rsplit("_", 2)[1])] = len(doc["people"])
    assert sorted(people) == list(range(len(people))), "JSON frames are not a prefix"
    return people


def read_table(path: Path) -> dict[int, int]:
    """frame -> people, through pandas; every (frame, person) has its K rows."""
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    assert list(df.columns) == ["frame", "time", "person", "keypoint", "x", "y", "confidence"]
    if df.empty:
        return {}
    sizes = df.groupby(["frame", "person"]).size()
    assert (sizes == K).all(), "a torn person in the table"
    assert df["frame"].is_monotonic_increasing
    return {int(f): int(n) for f, n in df.groupby("frame")["person"].nunique().items()}


def read_coco(path: Path) -> dict[int, int]:
    """image_id -> people; a valid JSON list that pycocotools loads."""
    entries = json.loads(path.read_text())
    assert isinstance(entries, list)
    if entries:
        from pycocotools.coco import COCO

        from posefast.video.sinks import COCO17_KEYPOINTS

        gt = COCO()
        gt.dataset = {"images": [{"id": i} for i in range(FULL_FRAMES)], "annotations": [],
                      "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_KEYPOINTS),
                                      "skeleton": []}]}
        gt.createIndex()
        res = gt.loadRes(entries)
        assert len(res.getAnnIds()) == len(entries)
    counts: dict[int, int] = {}
    for e in entries:
        counts[e["image_id"]] = counts.get(e["image_id"], 0) + 1
    return counts


def read_video(path: Path) -> int:
    """Frames a player decodes (PyAV), up to any damage."""
    from _video import probe

    p = probe(path)
    assert p.codec == "h264"
    return p.frames


def read_images(folder: Path) -> int:
    """Rendered frames: every file decodes, and they are frames 0..n-1."""
    import cv2

    names = sorted(p.name for p in folder.glob("*_rendered.jpg"))
    for name in names:
        assert cv2.imread(str(folder / name)) is not None, f"{name} does not decode"
    assert names == [f"dance_{i:012d}_rendered.jpg" for i in range(len(names))]
    return len(names)


def check(outs: dict, *, complete: bool, covered: int = 0, failed: str | None = None) -> dict:
    """Read every output; check each is a prefix of the frames processed.

    ``complete``: every output holds every frame the JSON holds.  ``covered``: every
    output holds at least frames 0..covered-1.  ``failed``: the output that ran out of
    space (may hold fewer frames than the others).
    """
    frames = read_json(outs["json"]) if outs["json"].is_dir() else {}
    processed = len(frames)
    result = {"json": processed}
    for key, reader in (("table", read_table), ("coco", read_coco)):
        path = outs[key]
        got = reader(path)
        last = max(got, default=-1)
        # a prefix of the frames processed: every frame with people up to its last one, none made up
        want = {f: n for f, n in frames.items() if n and f <= last}
        assert got == want, f"{key}: frames differ from the JSON's"
        holds = last + 1
        if complete:
            assert got == {f: n for f, n in frames.items() if n}, f"{key} misses frames after a clean stop"
        elif key != failed:
            with_people = [f for f, n in frames.items() if n and f < covered]
            assert all(f in got for f in with_people), \
                f"{key} lost frames processed more than {BOUND_S} s before the kill (holds up to {last}, " \
                f"needed {covered - 1})"
        result[key] = holds
    for key, reader in (("video", read_video), ("images", read_images)):
        if key not in outs:
            continue
        n = reader(outs[key])
        assert n <= processed, f"{key} holds frames never processed"
        if complete:
            assert n == processed, f"{key} misses frames after a clean stop"
        elif key != failed:
            slack = QUEUED + (FRAGMENT if key == "video" else 0)
            assert n >= covered - slack, f"{key} holds {n} frames, needed {covered} - {slack}"
        result[key] = n
    return result


# -- endings -------------------------------------------------------------------------------

def _start(dance_mp4, outs, env):
    return subprocess.Popen(_command(dance_mp4, outs), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(proc, json_dir: Path, frames: int, history: list) -> None:
    deadline = time.monotonic() + 180
    while True:
        n = _count_json(json_dir)
        history.append((time.monotonic(), n))
        if n >= frames:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before frame {frames}: {proc.communicate()}")
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


@pytest.mark.parametrize("table", ["csv", "parquet"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_stop_signal_closes_every_output(sig, table, shared_models, dance_mp4, tmp_path):
    outs = _outputs(tmp_path, table)
    proc = _start(dance_mp4, outs, _env(shared_models))
    try:
        _wait_for(proc, outs["json"], 15, [])
        signum = getattr(signal, sig)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {sig}" in err and "outputs closed" in err
    got = check(outs, complete=True)
    assert 15 <= got["json"] < FRAMES


@pytest.mark.parametrize("table", ["csv", "parquet"])
@pytest.mark.parametrize("moment", [2, 50, 88], ids=["early", "middle", "late"])
def test_kill_9_keeps_every_frame_but_the_last_seconds(moment, table, shared_models, dance_mp4, tmp_path):
    outs = _outputs(tmp_path, table)
    proc = _start(dance_mp4, outs, _env(shared_models))
    history: list = []
    try:
        _wait_for(proc, outs["json"], moment, history)
        t_kill = time.monotonic()
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    covered = max((n for t, n in history if t <= t_kill - BOUND_S), default=0)
    got = check(outs, complete=False, covered=covered)
    assert got["json"] >= moment
    if table == "parquet":  # the folder holds closed parts only (temporaries are hidden from readers)
        assert all(p.name.startswith(("part-", ".part-")) for p in outs["table"].iterdir())


# -- full disk -------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """Mount small tmpfs folders (root only; CI runs as root, so there it must work)."""
    mounted: list[Path] = []

    def make(size_kb: int) -> Path:
        reason = None
        if os.geteuid() != 0:
            reason = "mounting a small tmpfs needs root"
        else:
            d = tmp_path / f"disk{len(mounted)}"
            d.mkdir()
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(d)],
                               capture_output=True, text=True)
            if r.returncode == 0:
                mounted.append(d)
                return d
            reason = f"mount -t tmpfs is not permitted here: {r.stderr.strip()}"
        if _in_ci():
            pytest.fail(f"{reason}; CI runs as root and must run the full-disk tests", pytrace=False)
        pytest.skip(reason)

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


# size of the tmpfs that holds the failing output: small enough to fill within the run
DISK_KB = {"json": 40, "csv": 16, "parquet": 24, "coco": 8}

if RENDERED:
    DISK_KB.update(video=1024, images=1024)


@pytest.mark.parametrize("full", sorted(DISK_KB))
def test_full_disk_names_the_output_and_keeps_the_others(full, small_disk, shared_models, dance_mp4, tmp_path):
    table = "parquet" if full == "parquet" else "csv"
    outs = _outputs(tmp_path, table)
    disk = small_disk(DISK_KB[full])
    key = "table" if full in ("csv", "parquet") else full
    outs[key] = disk / outs[key].name
    r = subprocess.run(_command(dance_mp4, outs, FULL_DURATION), env=_env(shared_models), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "cannot write" in r.stderr and str(outs[key]) in r.stderr, r.stderr  # names the output
    assert "No space left on device" in r.stderr
    processed = len(read_json(outs["json"]))
    assert 0 < processed < FULL_FRAMES
    if key == "json":  # written first for each frame: the others stopped with it
        check(outs, complete=True)
    else:  # the others hold every frame but the one being written when the failure came
        check(outs, complete=False, failed=key, covered=processed - 1)


def test_full_disk_with_every_output_on_it(small_disk, shared_models, dance_mp4, tmp_path):
    disk = small_disk(64)
    outs = _outputs(disk, "parquet")
    r = subprocess.run(_command(dance_mp4, outs, FULL_DURATION), env=_env(shared_models), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "No space left on device" in r.stderr
    named = [k for k, p in outs.items() if "cannot write" in r.stderr and str(p) in r.stderr]
    assert named, r.stderr
    check(outs, complete=False, failed=named[0])
