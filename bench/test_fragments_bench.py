"""Issue 8's fragment figures, with and without DecodeConfig.merge_fragments, on the
shared model's maps: track ids on all 217 frames of dance.mp4 (one dancer), the
dancer's keypoints per frame, people per shared photo and coco_mini AP.  Printed
(run with ``-s``) and asserted, so CI checks them too."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import posefast as pf

from _maps import MapMaker, video_frames
from _people import COCO_MINI, coco_ap, coco_maps, people, track_figures

log = logging.getLogger(__name__)
ON, OFF = pf.DecodeConfig(), pf.DecodeConfig(merge_fragments=0.0)


@pytest.fixture(scope="module")
def maker(model_onnx):
    return MapMaker(model_onnx)


@pytest.fixture(scope="module")
def dance(maker, dance_mp4):
    return [maker(f) for _, f in video_frames(dance_mp4)]


def test_dance_tracks(dance):
    ids_on, most_on = track_figures(dance, ON)
    ids_off, most_off = track_figures(dance, OFF)
    print(f"\ndance.mp4 ({len(dance)} frames): track ids {ids_off} -> {ids_on} with merge_fragments="
          f"{ON.merge_fragments}; dancer keypoints {most_off.sum()} -> {most_on.sum()}, "
          f"fewer on {(most_on < most_off).sum()} frames")
    assert len(dance) == 217
    assert ids_on <= 2 < ids_off
    assert (most_on >= most_off).all()


def test_photos_and_ap(maker, media):
    import cv2

    rows = []
    for path in sorted(p for p in media.iterdir() if p.suffix.lower() in (".jpg", ".png")):
        maps = maker(cv2.imread(str(path)))
        rows.append((path.name, len(people(maps, OFF)), len(people(maps, ON))))
    print("\npeople per photo (off -> on): " + ", ".join(f"{n} {a}->{b}" for n, a, b in rows))
    counts = {n: (a, b) for n, a, b in rows}
    assert counts["p3_dance.png"] == (5, 3)
    if (COCO_MINI / "person_keypoints.json").exists():
        maps = coco_maps(maker)
        ap_off, ap_on = coco_ap(maps, OFF), coco_ap(maps, ON)
        print(f"coco_mini AP {ap_off:.4f} -> {ap_on:.4f}")
        assert ap_on >= ap_off
