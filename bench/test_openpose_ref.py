"""DecodeConfig.openpose() against CMU OpenPose's own CPU decoder (bench/openpose_ref/).

Needs an OpenPose checkout, which CI cannot fetch (it reaches only package registries):
set POSEFAST_OPENPOSE_SRC to one (git clone https://github.com/CMU-Perceptual-Computing-Lab/openpose)
to run it; `python bench/openpose_ref/check.py --openpose-src DIR` prints the full report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model
HERE = Path(__file__).resolve().parent


def test_preset_equals_openpose_decoder(tmp_path, shared_models, media):
    src = os.environ.get("POSEFAST_OPENPOSE_SRC")
    if not src:
        pytest.skip("POSEFAST_OPENPOSE_SRC is not set: no OpenPose checkout to build its decoder from")
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler to build OpenPose's decoder with")
    lib = subprocess.run(["bash", str(HERE / "openpose_ref" / "build.sh"), src, str(tmp_path)], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    out = subprocess.run([sys.executable, str(HERE / "openpose_ref" / "check.py"), "--lib", lib,
                          "--model", str(shared_models / "openpose-mobilenet-v2-small" / "model.onnx"),
                          "--media", str(media), "--scenes", "50", "--rounds", "0"],
                         capture_output=True, text=True)
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "preset matches OpenPose's decoder" in out.stdout
