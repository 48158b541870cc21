"""Frame sources: trimming, seeking, images, truncated video, bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from posefast.video.sources import FrameReadError, ImageSource, SourceError, VideoSource, open_source


def test_video_trimming_and_exact_seek(dance_mp4):
    src = open_source(dance_mp4, start=2.0, duration=1.0, step=3)
    assert isinstance(src, VideoSource)
    assert src.fps == pytest.approx(25.0) and src.size == (1280, 720)
    frames = list(src)
    assert [f.index for f in frames] == list(range(50, 75, 3))
    assert src.expected_frames == len(frames)
    assert frames[0].time == pytest.approx(2.0)
    cap = cv2.VideoCapture(str(dance_mp4))
    for _ in range(51):
        ok, ref = cap.read()
    assert ok and np.array_equal(ref, frames[0].image)  # the seek lands on frame 50 exactly
    src.close()


def test_whole_video(dance_mp4):
    with open_source(dance_mp4) as src:
        assert src.expected_frames == 217
        assert sum(1 for _ in src) == 217


def test_truncated_video_yields_frames_then_names_the_frame(dance_mp4, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = dance_mp4.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    src = open_source(cut)
    got = []
    with pytest.raises(FrameReadError) as info:
        for f in src:
            got.append(f.index)
    assert got == list(range(len(got))) and 30 < len(got) < 217
    assert info.value.frame == len(got)
    assert f"frame {len(got)}" in str(info.value)


def test_images_folder_and_glob(media):
    src = open_source(media)
    assert isinstance(src, ImageSource) and src.expected_frames == 16
    frames = list(open_source(str(media / "p*.jpg")))
    assert [f.name for f in frames] == ["p1", "p2", "p3"]
    assert all(math.isnan(f.time) for f in frames)
    one = list(open_source(media / "ski.jpg"))
    assert len(one) == 1 and one[0].image.shape == (674, 712, 3)


@pytest.mark.parametrize("bad, match", [
    ("/no/such/file.mp4", "does not exist"),
    ("{media}/MEDIA.md", "cannot open video"),
    ("{media}/*.nothing", "matches no images"),
])
def test_bad_inputs_fail_when_opened(media, bad, match):
    with pytest.raises(SourceError, match=match):
        open_source(bad.format(media=media))


def test_start_past_end_and_bad_trimming(dance_mp4, tmp_path):
    with pytest.raises(SourceError, match="past the end"):
        open_source(dance_mp4, start=9.0)
    with pytest.raises(SourceError):
        open_source(dance_mp4, step=0)
    with pytest.raises(SourceError):
        open_source(dance_mp4, duration=0)
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="cannot read image"):
        open_source(fake)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path / "empty")


def test_url_without_yt_dlp_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ytdlp(name, *a, **kw):
        if name == "yt_dlp":
            raise ImportError("no yt_dlp")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ytdlp)
    with pytest.raises(SourceError, match="pip install yt-dlp"):
        open_source("https://example.com/watch?v=x")
