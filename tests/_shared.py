"""Shared fixtures: where the real model and the sample media are.

The model is looked up in ``$POSEFAST_TEST_MODELS`` (a folder holding
``openpose-mobilenet-v2-small/model.onnx``), else in ``../shared/models`` beside the
checkout.  Media likewise in ``$POSEFAST_TEST_MEDIA`` or ``../shared/media``.
Outside CI a missing model or media folder skips the tests that need it; with
``CI=true`` it fails them, since CI always has ``../shared`` beside the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "openpose-mobilenet-v2-small"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not found at {path} (set the environment variable or put ../shared beside the checkout)"
    if _in_ci():
        pytest.fail(msg + "; CI must have it", pytrace=False)
    pytest.skip(msg)


def models_dir() -> Path:
    return Path(os.environ.get("POSEFAST_TEST_MODELS", REPO.parent / "shared" / "models"))


def media_dir() -> Path:
    return Path(os.environ.get("POSEFAST_TEST_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session", autouse=True)
def every_backend_in_ci():
    """In CI the install must provide every decoder backend: tests that compare the backends
    present would otherwise pass on fewer of them."""
    if _in_ci():
        import posefast as pf

        missing = [b for b, ok in pf.backends().items() if not ok]
        if missing:
            pytest.fail(f"decoder backends {missing} are not available in CI; the install must "
                        "build/provide them", pytrace=False)


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """Folder holding the shared models (one sub-folder per model)."""
    return _need(models_dir() / MODEL_NAME / "model.onnx", "POSEFAST_TEST_MODELS model").parents[1]


@pytest.fixture(scope="session")
def model_onnx(shared_models: Path) -> Path:
    """Path of the real shared ONNX model."""
    return shared_models / MODEL_NAME / "model.onnx"


@pytest.fixture(scope="session")
def model_pb(shared_models: Path) -> Path:
    """Path of the original TensorFlow graph of the shared model."""
    return _need(shared_models / MODEL_NAME / "graph_opt.pb", "TensorFlow graph")


@pytest.fixture(scope="session")
def media() -> Path:
    """Folder of the shared sample media."""
    return _need(media_dir() / "dance.mp4", "POSEFAST_TEST_MEDIA media").parent


@pytest.fixture(scope="session")
def dance_mp4(media: Path) -> Path:
    return media / "dance.mp4"
