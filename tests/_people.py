"""Measuring whole people (issue 8, fragments): track ids on dance.mp4, people per
shared photo, AP on ../shared/data/coco_mini.  Shared by tests/test_fragments.py and
bench/test_fragments_bench.py; maps come from the shared model as in _maps.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np

import posefast as pf
from posefast.video.sinks import coco17_indices
from posefast.video.tracking import Tracker

from _shared import REPO

COCO_MINI = Path(os.environ.get("POSEFAST_TEST_COCO", REPO.parent / "shared" / "data" / "coco_mini"))


def people(maps: np.ndarray, cfg: pf.DecodeConfig, backend: str = "native", scale=None) -> pf.Poses:
    """Decode one network output float32 [57, h, w] (heatmaps 0..17, background 18, PAFs 19..)."""
    return pf.decode(maps[:18], maps[19:], backend=backend, config=cfg, scale=scale)


def track_figures(frames: list[np.ndarray], cfg: pf.DecodeConfig, backend: str = "native") -> tuple[int, np.ndarray]:
    """(track ids in all, keypoints of the fullest person per frame int [N]) over the frames."""
    tracker = Tracker()
    ids: set[int] = set()
    most = np.zeros(len(frames), dtype=np.int64)
    for i, maps in enumerate(frames):
        p = people(maps, cfg, backend, scale=8.0)
        ids |= set(tracker.update(p.keypoints).tolist())
        if len(p):
            most[i] = int((p.keypoints[:, :, 2] > 0).sum(axis=1).max())
    return len(ids), most


def coco_ap(maps_by_image: dict[int, tuple[np.ndarray, tuple[int, int]]], cfg: pf.DecodeConfig,
            backend: str = "native") -> float:
    """COCO keypoint AP (pycocotools) of the decoded people on coco_mini.

    maps_by_image: image id -> (maps [57, h, w], (image height, image width)).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    idx = coco17_indices("coco18")
    results = []
    for image_id, (maps, (ih, iw)) in maps_by_image.items():
        p = people(maps, cfg, backend, scale=(iw / maps.shape[2], ih / maps.shape[1]))
        for j in range(len(p)):
            kp = p.keypoints[j][idx].astype(np.float64)
            kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
            results.append({"image_id": int(image_id), "category_id": 1,
                            "keypoints": kp.reshape(-1).tolist(), "score": float(p.scores[j])})
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints its tables
        gt = COCO(str(COCO_MINI / "person_keypoints.json"))
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def coco_maps(maker) -> dict[int, tuple[np.ndarray, tuple[int, int]]]:
    import cv2

    gt = json.loads((COCO_MINI / "person_keypoints.json").read_text())
    out = {}
    for im in gt["images"]:
        img = cv2.imread(str(COCO_MINI / "images" / im["file_name"]))
        out[im["id"]] = (maker(img), img.shape[:2])
    return out
