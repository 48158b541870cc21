"""Named presets along the accuracy / speed front.

A preset fixes the model, engine, precision, network height, scales and decoder
settings.  ``Estimator()`` and ``posefast run`` use :data:`DEFAULT_PRESET`;
anything passed explicitly (``model=``, ``engine=``, ``precision=``,
``net_height=``, ``scales=``, ``config=``; CLI ``--model`` ...) overrides the
preset's field.  When the model is overridden, the preset's precision and net
height (which belong to its model) are dropped too: the new model runs at its
own natural net height with precision ``"auto"``, unless those are given.

Presets prefer OpenVINO (int8).  Without the ``openvino`` package a preset falls
back to ONNX Runtime running the same model's float ONNX (converted from the IR
on first use), and logs a warning saying so; an *explicit* ``engine="openvino"``
raises an ImportError instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

__all__ = ["DEFAULT_PRESET", "Preset", "get_preset", "presets"]

DEFAULT_PRESET = "default"


@dataclass(frozen=True)
class Preset:
    """One named configuration.

    Attributes
    ----------
    name : str
    model : str
        Registry name.
    engine : str
        ``"openvino"``, ``"onnxruntime"`` or ``"auto"``.
    precision : str
    net_height : int
    scales : tuple of float
    decode : dict
        :class:`posefast.DecodeConfig` fields that differ from its defaults.
    description : str
    """

    name: str
    model: str
    engine: str
    precision: str
    net_height: int
    scales: tuple[float, ...] = (1.0,)
    decode: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scales"] = list(self.scales)
        d["decode"] = dict(self.decode)
        return d


_PRESETS = (
    Preset("fast", "human-pose-estimation-0001", "openvino", "int8", 256,
           description="Lightweight OpenPose INT8 at 256 px: the fastest, for small or near people"),
    Preset("default", "human-pose-estimation-0001", "openvino", "int8", 368,
           description="Lightweight OpenPose INT8 at 368 px: the most accurate single scale (on AVX2-only CPUs about half the frame rate of fast)"),
    Preset("accurate", "human-pose-estimation-0001", "openvino", "int8", 456, scales=(1.0, 0.75, 0.5),
           description="Lightweight OpenPose INT8 at 456 px, three scales averaged: the most accurate"),
)


def presets() -> dict[str, Preset]:
    """Every preset, by name (a fresh dict)."""
    return {p.name: p for p in _PRESETS}


def get_preset(name: Optional[str]) -> Preset:
    """The preset called ``name`` (None: the default); ValueError listing the choices otherwise."""
    if name is None:
        name = DEFAULT_PRESET
    if isinstance(name, Preset):
        return name
    table = presets()
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in table:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(table)}")
    return table[key]
