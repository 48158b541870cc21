"""Keypoint tables in the two shapes people use, and OpenPose's keypoint scaling.

Two layouts of the same numbers:

``tidy`` (default)
    One row per (frame, person, keypoint): ``frame, time, person, keypoint, x, y,
    confidence``.  Every keypoint of every detected person is a row; frames without
    people have no rows.
``wide``
    One row per (frame, person): ``frame, time, person, <Keypoint>_x, <Keypoint>_y,
    <Keypoint>_c, ...`` with the keypoints in the layout's order (``Nose_x, Nose_y,
    Nose_c, Neck_x, ...``).  A frame without people is kept as one row whose
    ``person`` and keypoint columns are empty (NaN), so a per-frame plot keeps its
    time axis.

In both, ``x``/``y`` of a keypoint that was not found are empty (NaN) and its
confidence is 0; ``person`` is the track id (the person's rank in the frame when
tracking is off).

Keypoint scaling (``keypoint_scale``, OpenPose's ``--keypoint_scale``), with W, H
the frame size in pixels:

==  =======================================================================
0   image pixels (the default)
3   ``x / (W - 1)``, ``y / (H - 1)``: [0, 1], (0, 0) the top-left pixel centre
    and (1, 1) the bottom-right one
4   ``2 x / (W - 1) - 1``, ``2 y / (H - 1) - 1``: [-1, 1]
==  =======================================================================

OpenPose's 1 (network output size) and 2 (``--output_resolution``) have no
counterpart here: posefast renders at the source size, where 2 is the same as 0.
Keypoints that were not found are not scaled: JSON keeps them ``0, 0, 0``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..layouts import Layout, get_layout

__all__ = ["KEYPOINT_SCALES", "TABLE_LAYOUTS", "TIDY_COLUMNS", "scale_keypoints", "wide_columns",
           "frame_columns", "to_dataframe"]

KEYPOINT_SCALES = (0, 3, 4)
TABLE_LAYOUTS = ("tidy", "wide")
TIDY_COLUMNS = ("frame", "time", "person", "keypoint", "x", "y", "confidence")


def check_keypoint_scale(mode: int) -> int:
    """``mode`` if it is one of :data:`KEYPOINT_SCALES`, else a ValueError saying which are."""
    if isinstance(mode, bool) or mode not in KEYPOINT_SCALES:
        raise ValueError(f"keypoint scale must be one of {', '.join(map(str, KEYPOINT_SCALES))} "
                         f"(0 pixels, 3 [0, 1], 4 [-1, 1]), got {mode!r}")
    return int(mode)


def scale_keypoints(keypoints: np.ndarray, size: tuple[int, int], mode: int = 0) -> np.ndarray:
    """Keypoints with x, y in the coordinates of ``mode`` (see the module docstring).

    Parameters
    ----------
    keypoints : float [P, K, 3]
        Image-pixel keypoints; confidence 0 marks a missing keypoint (left as it is).
    size : (int, int)
        ``(W, H)`` of the frame.
    mode : {0, 3, 4}

    Returns
    -------
    float32 [P, K, 3]
        A new array (the input is never modified); ``mode`` 0 returns it unchanged.
    """
    mode = check_keypoint_scale(mode)
    kp = np.asarray(keypoints, dtype=np.float32)
    if mode == 0 or kp.size == 0:
        return kp
    w, h = float(size[0]), float(size[1])
    out = kp.copy()
    found = out[..., 2] > 0
    sx = 1.0 / max(w - 1.0, 1.0)
    sy = 1.0 / max(h - 1.0, 1.0)
    if mode == 3:
        out[..., 0] = np.where(found, out[..., 0] * sx, out[..., 0])
        out[..., 1] = np.where(found, out[..., 1] * sy, out[..., 1])
    else:
        out[..., 0] = np.where(found, out[..., 0] * (2 * sx) - 1, out[..., 0])
        out[..., 1] = np.where(found, out[..., 1] * (2 * sy) - 1, out[..., 1])
    return out


def wide_columns(layout: str | Layout) -> tuple[str, ...]:
    """Column names of the wide table: ``frame, time, person, <K>_x, <K>_y, <K>_c, ...``."""
    lay = get_layout(layout)
    cols = ["frame", "time", "person"]
    for name in lay.keypoints:
        cols += [f"{name}_x", f"{name}_y", f"{name}_c"]
    return tuple(cols)


def _person_column(result) -> np.ndarray:
    ids = np.asarray(result.ids, dtype=np.int64)
    return ids if (ids >= 0).all() else np.arange(len(ids), dtype=np.int64)


def frame_columns(result, layout: str | Layout, table_layout: str = "tidy",
                  keypoint_scale: int = 0) -> dict[str, np.ndarray]:
    """The table rows of one frame, as columns.

    Parameters
    ----------
    result : FrameResult
    layout : str or Layout
        Keypoint names.
    table_layout : {"tidy", "wide"}
    keypoint_scale : {0, 3, 4}

    Returns
    -------
    dict of column name -> array
        Tidy: ``P*K`` rows (``keypoint`` an object array of names).  Wide: ``max(P, 1)``
        rows (``person`` float64 with NaN for the empty row of a frame with nobody,
        else int64).
    """
    lay = get_layout(layout)
    kp = scale_keypoints(result.poses.keypoints, result.size, keypoint_scale).astype(np.float64)
    P, K = kp.shape[0], kp.shape[1]
    present = kp[..., 2] > 0
    x = np.where(present, kp[..., 0], np.nan)
    y = np.where(present, kp[..., 1], np.nan)
    c = np.where(present, kp[..., 2], 0.0)
    person = _person_column(result)
    if table_layout == "tidy":
        n = P * K
        return {"frame": np.full(n, result.index, np.int64), "time": np.full(n, result.time, np.float64),
                "person": np.repeat(person, K), "keypoint": np.array(list(lay.keypoints) * P, dtype=object),
                "x": x.reshape(-1), "y": y.reshape(-1), "confidence": c.reshape(-1)}
    if table_layout != "wide":
        raise ValueError(f"table layout must be 'tidy' or 'wide', got {table_layout!r}")
    rows = max(P, 1)
    cols: dict[str, np.ndarray] = {"frame": np.full(rows, result.index, np.int64),
                                   "time": np.full(rows, result.time, np.float64)}
    if P == 0:
        cols["person"] = np.full(1, np.nan)
        for name in lay.keypoints:
            for s in ("x", "y", "c"):
                cols[f"{name}_{s}"] = np.full(1, np.nan)
        return cols
    cols["person"] = person
    for k, name in enumerate(lay.keypoints):
        cols[f"{name}_x"] = x[:, k]
        cols[f"{name}_y"] = y[:, k]
        cols[f"{name}_c"] = c[:, k]
    return cols


def to_dataframe(results: Iterable, layout: str | Layout | None = None, *, table_layout: str = "tidy",
                 keypoint_scale: int = 0):
    """A pandas DataFrame of pose results (the same table ``--write-table`` writes).

    Parameters
    ----------
    results : iterable of FrameResult
        E.g. ``process(...)`` (consumed to its end) or a list of its results.
    layout : str or Layout, optional
        Keypoint names; default the layout of the first result's poses.
    table_layout : {"tidy", "wide"}
        See the module docstring.
    keypoint_scale : {0, 3, 4}
        See the module docstring.

    Returns
    -------
    pandas.DataFrame
        Tidy: columns :data:`TIDY_COLUMNS`.  Wide: :func:`wide_columns`, ``person`` as
        pandas' nullable ``Int64`` (``<NA>`` on the row of a frame with nobody).

    Raises
    ------
    ImportError
        pandas is not installed (``pip install posefast[table]``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_dataframe() needs pandas: pip install posefast[table] (or pip install pandas)") from None
    check_keypoint_scale(keypoint_scale)
    if table_layout not in TABLE_LAYOUTS:
        raise ValueError(f"table layout must be 'tidy' or 'wide', got {table_layout!r}")
    parts: list[dict] = []
    lay = get_layout(layout) if layout is not None else None
    for r in results:
        if lay is None:
            lay = get_layout(getattr(r.poses, "layout", None) or "coco18")
        parts.append(frame_columns(r, lay, table_layout, keypoint_scale))
    if lay is None:
        lay = get_layout("coco18")
    names: Sequence[str] = TIDY_COLUMNS if table_layout == "tidy" else wide_columns(lay)
    if parts:
        data = {n: np.concatenate([p[n] for p in parts]) for n in names}
    else:
        data = {n: np.empty(0, dtype=object if n == "keypoint" else np.float64) for n in names}
    df = pd.DataFrame(data, columns=list(names))
    if table_layout == "tidy":
        df = df.astype({"frame": "int64", "person": "int64", "keypoint": "string"})
    else:
        df = df.astype({"frame": "int64", "person": "Int64"})
    return df
