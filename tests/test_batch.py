"""Many inputs in one ``posefast run`` (no Ray): inputs, names, outputs, failures, --resume."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

from posefast import batch
from posefast.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read_summary(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


def test_expand_inputs_globs_lists_and_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for p in ("v/a.mp4", "v/b.mp4", "v/sub/c.mp4", "img/1.jpg", "img/2.jpg"):
        _touch(tmp_path / p)
    # a quoted pattern of videos gives one input per file, sorted; of images, one picture set
    assert batch.expand_inputs(["v/*.mp4"]) == ["v/a.mp4", "v/b.mp4"]
    assert batch.expand_inputs(["v/**/*.mp4"]) == ["v/a.mp4", "v/b.mp4", "v/sub/c.mp4"]
    assert batch.expand_inputs(["img/*.jpg"]) == ["img/*.jpg"]
    # list files: comments and blank lines skipped, paths relative to the list, URLs kept
    _touch(tmp_path / "lists/l.txt", b"# clips\n\n../v/b.mp4\nhttps://example.org/x.mp4\n../v/sub/*.mp4\n")
    got = batch.expand_inputs(["v/a.mp4", "@lists/l.txt"])
    assert got == ["v/a.mp4", "v/b.mp4", "https://example.org/x.mp4", "v/sub/c.mp4"]
    # the same file twice is processed once; --inputs-from comes after the arguments
    assert batch.expand_inputs(["v/b.mp4", "v/a.mp4"], "lists/l.txt")[:3] == ["v/b.mp4", "v/a.mp4",
                                                                              "https://example.org/x.mp4"]
    with pytest.raises(batch.BatchUsageError, match="matches no file"):
        batch.expand_inputs(["v/*.avi"])
    with pytest.raises(batch.BatchUsageError, match="does not exist: v/nope.mp4"):
        batch.expand_inputs(["v/a.mp4", "v/nope.mp4"])
    with pytest.raises(batch.BatchUsageError, match="cannot read input list"):
        batch.expand_inputs(["@missing.txt"])
    _touch(tmp_path / "empty.txt", b"# nothing\n")
    with pytest.raises(batch.BatchUsageError, match="names no input"):
        batch.expand_inputs(["@empty.txt"])


def test_output_names_never_collide(tmp_path):
    for p in ("x/clip.mp4", "y/clip.mp4", "z/clip.mp4", "z/clip.avi", "w/other.mp4"):
        _touch(tmp_path / p)
    names = batch.output_names([str(tmp_path / p) for p in ("x/clip.mp4", "y/clip.mp4", "w/other.mp4")])
    assert names == ["x-clip", "y-clip", "other"]
    names = batch.output_names([str(tmp_path / "z/clip.mp4"), str(tmp_path / "z/clip.avi")])
    assert names == ["clip.mp4", "clip.avi"]
    names = batch.output_names(["0", "https://example.org/v/x.mp4?t=3", str(tmp_path / "x/clip.mp4")])
    assert names == ["camera0", "x", "clip"]
    many = batch.output_names([str(tmp_path / p) for p in ("x/clip.mp4", "y/clip.mp4", "z/clip.mp4",
                                                         "z/clip.avi")])
    assert len({n.lower() for n in many}) == 4


def test_plan_chunks_cover_every_frame_once():
    frames = range(10, 217, 3)
    for n in (1, 2, 4, 7, 69, 500):
        chunks = batch.plan_chunks(frames, n)
        got = [i for a, b in chunks for i in range(a, b, 3)]
        assert got == list(frames)
        assert len(chunks) == min(n, len(frames))
    assert len(batch.plan_chunks(range(0, 217), chunk_frames=50)) == 5
    assert batch.plan_chunks(range(0), 4) == []


@pytest.mark.parametrize("argv, message", [
    (["a.mp4", "b.mp4"], "2 inputs need --output-dir"),
    (["a.mp4", "--output-dir", "o", "--chunks", "2"], "add --ray"),
    (["a.mp4", "--output-dir", "o", "--workers", "2"], "add --ray"),
    (["a.mp4", "b.mp4", "--output-dir", "o", "--write-table", "/abs/t.csv"], "a name inside each input"),
    (["a.mp4", "b.mp4", "--output-dir", "o", "--write-json", "../j"], "a name inside each input"),
    (["a.mp4", "missing.mp4", "--output-dir", "o"], "does not exist: missing.mp4"),
    (["a.mp4", "--output-dir", "a.mp4"], "exists and is not a folder"),
])
def test_bad_usage_exits_2_before_work(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "a.mp4")
    _touch(tmp_path / "b.mp4")
    assert main(["run", *argv]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_ray_missing_names_the_extra(monkeypatch):
    from posefast import distributed

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'posefast\[ray\]'"):
        distributed.require_ray()


@pytest.mark.model
def test_many_inputs_equal_single_runs_failures_and_resume(shared_models, dance_mp4, media, tmp_path, capsys):
    os.environ.setdefault("POSEFAST_MODEL_PATH", str(shared_models))
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    os.symlink(dance_mp4, tmp_path / "x" / "clip.mp4")
    os.symlink(dance_mp4, tmp_path / "y" / "clip.mp4")
    bad = _touch(tmp_path / "broken.mp4", b"not a video at all")
    photo = media / "p3_dance.png"
    out = tmp_path / "out"
    common = ["--duration", "0.6", "--quiet", "--model", str(shared_models / "openpose-mobilenet-v2-small"
                                                              / "model.onnx")]
    argv = ["run", str(tmp_path / "x" / "clip.mp4"), str(bad), str(tmp_path / "y" / "clip.mp4"), str(photo),
            "--output-dir", str(out), "--write-table", "poses.csv", "--write-json", "json", *common]
    assert main(argv) == EXIT_FAILURE           # one input failed, the others were done
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "cannot open video" in err
    rows = read_summary(out / "summary.csv")
    assert [rows[n]["status"] for n in ("x-clip", "broken", "y-clip", "p3_dance")] == ["ok", "failed", "ok", "ok"]
    assert rows["x-clip"]["frames"] == "15" and rows["p3_dance"]["frames"] == "1"
    assert int(rows["p3_dance"]["people"]) >= 3
    assert not (out / "broken").exists()        # a failed input leaves nothing
    assert not list(out.rglob(batch.PARTIAL))

    # every input's outputs are those of a single-input run with the same options
    single = tmp_path / "single"
    assert main(["run", str(tmp_path / "y" / "clip.mp4"), "--write-table", str(single / "poses.csv"),
                 "--write-json", str(single / "json"), *common]) == EXIT_OK
    assert (out / "x-clip" / "poses.csv").read_bytes() == (single / "poses.csv").read_bytes()
    assert (out / "y-clip" / "poses.csv").read_bytes() == (single / "poses.csv").read_bytes()
    names = sorted(p.name for p in (single / "json").iterdir())
    assert names == sorted(p.name for p in (out / "y-clip" / "json").iterdir()) and len(names) == 15
    for n in names:
        assert (out / "y-clip" / "json" / n).read_bytes() == (single / "json" / n).read_bytes()

    # --resume: complete inputs are skipped, the failed one is tried again, a damaged one redone
    (out / "y-clip" / batch.MARKER).unlink()
    stamp = (out / "x-clip" / "poses.csv").stat().st_mtime_ns
    assert main(argv + ["--resume"]) == EXIT_FAILURE
    rows = read_summary(out / "summary.csv")
    assert [rows[n]["status"] for n in ("x-clip", "broken", "y-clip", "p3_dance")] == \
        ["skipped", "failed", "ok", "skipped"]
    assert rows["x-clip"]["frames"] == "15"     # counts come from the earlier run
    assert (out / "x-clip" / "poses.csv").stat().st_mtime_ns == stamp
    assert (out / "y-clip" / "poses.csv").read_bytes() == (single / "poses.csv").read_bytes()
    # other options than those of the completed outputs: redone, not skipped
    assert main(argv[:-len(common)] + ["--duration", "0.2", *common[2:], "--resume"]) == EXIT_FAILURE
    rows = read_summary(out / "summary.csv")
    assert rows["x-clip"]["status"] == "ok" and rows["x-clip"]["frames"] == "5"


def test_one_input_keeps_the_single_input_path(tmp_path, monkeypatch):
    from posefast.cli import build_parser

    monkeypatch.chdir(tmp_path)
    for p in ("v/a.mp4", "v/b.mp4", "img/1.jpg", "img/2.jpg"):
        _touch(tmp_path / p)
    parse = build_parser().parse_args

    assert not batch.is_batch(parse(["run", "v/a.mp4", "--write-table", "t.csv"]))
    assert not batch.is_batch(parse(["run", "img/*.jpg"]))            # a picture set, as before
    assert not batch.is_batch(parse(["run", "0"]))                    # a camera
    assert batch.is_batch(parse(["run", "v/*.mp4"]))                  # a quoted glob of two videos
    assert batch.is_batch(parse(["run", "v/a.mp4", "v/b.mp4"]))
    assert batch.is_batch(parse(["run", "v/a.mp4", "--output-dir", "o"]))
    assert batch.is_batch(parse(["run", "--inputs-from", "l.txt", "v/a.mp4"]))
    # `--ray` before the inputs: the first input is not taken for a Ray address
    from posefast.cli import _split_ray_flag

    args = parse(_split_ray_flag(["run", "--ray", "v/a.mp4", "v/b.mp4", "--output-dir", "o"]))
    plan = batch.make_plan(args)
    assert plan.inputs == ["v/a.mp4", "v/b.mp4"] and args.ray == ""


def test_ray_without_address_does_not_swallow_the_input(tmp_path):
    """`posefast run --ray clip.mp4`: the word after --ray is an input, not a Ray address."""
    from posefast.cli import _split_ray_flag, build_parser

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    parser = build_parser()
    cases = [
        (["run", "--ray", str(clip), "--output-dir", "o"], "", [str(clip)]),
        (["run", "--ray", "auto", str(clip)], "auto", [str(clip)]),
        (["run", "--ray", "127.0.0.1:6379", str(clip)], "127.0.0.1:6379", [str(clip)]),
        (["run", "--ray", str(tmp_path / "*.mp4")], "", [str(tmp_path / "*.mp4")]),
        (["run", str(clip), "--ray"], "", [str(clip)]),
    ]
    for argv, address, inputs in cases:
        args = parser.parse_args(_split_ray_flag(argv))
        assert (args.ray, args.input) == (address, inputs), argv
