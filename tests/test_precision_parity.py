"""Parity gates: reduced precision (int8, bf16) is only allowed where it keeps people-level
parity with fp32 of the same model, preset by preset; and the IR in OpenVINO matches its
converted ONNX in ONNX Runtime (fp32).

Gate (issue 7): on the 217 frames of dance.mp4 and the shared photos, the same number of
people in >= 95 % of the images and a mean keypoint distance <= 2 image pixels.  People of
each configuration are computed once per session (tests/_parity_people.py).  The fast
preset (the cheapest network) is gated on all 233 images; the others, and the ONNX Runtime
comparison, on every 4th dance frame and all the photos (71 images): consecutive frames of
the clip are near-duplicates, each image costs one network run per configuration and scale,
and on the full set these tests took 450 s of CI's 24 minutes.
"""

from __future__ import annotations

import pytest

import posefast as pf
from posefast.models import Estimator

from _parity_people import PeopleCache, compare_people, parity_images

pytestmark = [pytest.mark.model, pytest.mark.slow]
BACKEND = "native" if pf.backends()["native"] else "numba" if pf.backends()["numba"] else "python"

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def people(media, shared_models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_MODEL_PATH", str(shared_models))
        yield PeopleCache(parity_images(media))


def _bf16_here() -> bool:
    import openvino as ov

    from posefast.engines.ov import bf16_supported

    return bf16_supported(ov.Core())


def _key(preset: pf.models.Preset, engine: str, precision: str) -> tuple:
    return (preset.model, engine, precision, preset.net_height, preset.scales)


def _people(people: PeopleCache, name: str, engine: str, precision: str, thin: bool = False) -> list:
    p = pf.presets()[name]
    return people.get(_key(p, engine, precision),
                      lambda: Estimator(preset=name, engine=engine, precision=precision, device="cpu",
                                        backend=BACKEND), thin=thin)


def _thin(name: str) -> bool:
    """All but the fast preset run on the thinned image set (module docstring)."""
    return name != "fast"


@pytest.mark.parametrize("name", list(pf.presets()))
def test_preset_precision_keeps_people_parity_with_fp32(name, people):
    preset = pf.presets()[name]
    if preset.precision == "fp32":
        pytest.skip(f"preset {name} runs fp32 itself")
    if preset.precision == "bf16" and not _bf16_here():
        pytest.skip("this CPU has no bf16 (OPTIMIZATION_CAPABILITIES lacks BF16): the bf16 preset cannot run here")
    thin = _thin(name)
    ref = _people(people, name, "openvino", "fp32", thin)
    got = _people(people, name, "openvino", preset.precision, thin)
    result = compare_people(people.thin_names if thin else people.names, ref, got)
    print(f"{name} ({preset.precision} vs fp32): {result}")
    assert result.ok(), f"preset {name}: {preset.precision} loses people-level parity with fp32: {result}"


@pytest.mark.parametrize("name", list(pf.presets()))
def test_bf16_keeps_people_parity_with_fp32(name, people):
    if not _bf16_here():
        pytest.skip("this CPU has no bf16 (OPTIMIZATION_CAPABILITIES lacks BF16): bf16 is refused here")
    thin = _thin(name)
    ref = _people(people, name, "openvino", "fp32", thin)
    got = _people(people, name, "openvino", "bf16", thin)
    result = compare_people(people.thin_names if thin else people.names, ref, got)
    print(f"{name} (bf16 vs fp32): {result}")
    assert result.ok(), f"preset {name}: bf16 loses people-level parity with fp32: {result}"


def test_ir_in_openvino_matches_converted_onnx_in_onnxruntime(people, tmp_path_factory):
    """fp32: the IR with FakeQuantize dropped by OpenVINO vs posefast's IR -> ONNX conversion on ORT."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEFAST_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        ort = _people(people, "default", "onnxruntime", "fp32", thin=True)
    ref = _people(people, "default", "openvino", "fp32", thin=True)
    result = compare_people(people.thin_names, ref, ort)
    print(f"OpenVINO IR vs ONNX Runtime converted ONNX (fp32): {result}")
    assert result.ok(), f"the converted ONNX on ONNX Runtime differs from the IR on OpenVINO: {result}"


def test_parity_measure_is_not_blind(people):
    """The comparison catches a real difference: the fast preset's people against the accurate one's."""
    fast = _people(people, "fast", "openvino", "int8", thin=True)
    other = people.get(("hpe-at-160",), lambda: Estimator(preset="fast", net_height=160, device="cpu",
                                                          backend=BACKEND), thin=True)
    result = compare_people(people.thin_names, fast, other)
    assert not result.ok(), result
