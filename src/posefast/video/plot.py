"""Motion plots from a keypoint table (the output of ``--write-table``).

For each chosen keypoint of one person: x and y over time, and their frame-to-frame
change (pixels per processed frame), one row of two panels per keypoint.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .sinks import TABLE_COLUMNS

__all__ = ["read_table", "plot_motion", "PlotError"]

log = logging.getLogger(__name__)


class PlotError(ValueError):
    """Bad plot request (unknown keypoint or person, unreadable table)."""


def read_table(path: Union[str, os.PathLike]) -> dict[str, np.ndarray]:
    """Read a ``--write-table`` output (``.csv`` file or ``.parquet`` folder) into column arrays.

    Returns
    -------
    dict
        ``frame``, ``person`` int64; ``time``, ``x``, ``y``, ``confidence`` float64;
        ``keypoint`` object array of str.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    # a .parquet table is a folder of parts (or a single file from older versions)
    if not (path.is_file() or (suffix == ".parquet" and path.is_dir())):
        raise PlotError(f"table {path} does not exist")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise PlotError("reading a .parquet table needs pyarrow: pip install pyarrow") from None
        try:
            table = pq.read_table(str(path))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
            raise PlotError(f"cannot read {path}: {exc}") from exc
        missing = [c for c in TABLE_COLUMNS if c not in table.column_names]
        if missing:
            raise PlotError(f"{path} lacks columns {missing}; expected {list(TABLE_COLUMNS)}")
        cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in TABLE_COLUMNS}
    elif suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != list(TABLE_COLUMNS):
                if header and any(h.endswith("_x") for h in header):
                    raise PlotError(f"{path} is a wide table; plot reads tidy tables: write one with "
                                    f"--table-layout tidy (the default)")
                raise PlotError(f"{path} is not a posefast table: header {header}, expected {list(TABLE_COLUMNS)}")
            rows = list(reader)
        def num(i: int) -> np.ndarray:
            return np.array([float(r[i]) if r[i] != "" else math.nan for r in rows], dtype=np.float64)
        cols = {"frame": np.array([int(r[0]) for r in rows], dtype=np.int64), "time": num(1),
                "person": np.array([int(r[2]) for r in rows], dtype=np.int64),
                "keypoint": np.array([r[3] for r in rows], dtype=object), "x": num(4), "y": num(5),
                "confidence": num(6)}
    else:
        raise PlotError(f"table {path}: expected a .csv or .parquet file")
    cols["keypoint"] = np.asarray(cols["keypoint"], dtype=object)
    return cols


def _resolve_keypoints(requested: Optional[Sequence[str]], available: Sequence[str]) -> list[str]:
    low = {k.lower(): k for k in available}
    if not requested:
        return list(available)
    out, bad = [], []
    for name in requested:
        key = name.strip().lower()
        if key in low:
            out.append(low[key])
        else:
            bad.append(name)
    if bad:
        raise PlotError(f"unknown keypoint(s) {', '.join(bad)}; the table has: {', '.join(available)}")
    return out


def plot_motion(table: Union[str, os.PathLike, dict], output: Union[str, os.PathLike], *,
                keypoints: Optional[Sequence[str]] = None, person: Optional[int] = None,
                dpi: int = 100) -> Path:
    """Plot keypoint motion from a table.

    Parameters
    ----------
    table : path or dict
        A ``--write-table`` file, or the dict :func:`read_table` returns.
    output : path
        Image file (``.png``, ``.pdf``, ``.svg``: any format matplotlib writes).
    keypoints : sequence of str, optional
        Keypoint names (case-insensitive); default: every keypoint in the table.
    person : int, optional
        Person (track id) to plot; default: the one present in the most frames.
    dpi : int

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    PlotError
        Unknown keypoint or person, or an empty table, before anything is drawn.
    """
    cols = read_table(table) if not isinstance(table, dict) else table
    if len(cols["frame"]) == 0:
        raise PlotError("the table has no rows (no person was found)")
    available = list(dict.fromkeys(cols["keypoint"].tolist()))
    names = _resolve_keypoints(keypoints, available)
    persons, counts = np.unique(cols["person"], return_counts=True)
    if person is None:
        person = int(persons[np.argmax(counts)])
    elif person not in set(persons.tolist()):
        raise PlotError(f"person {person} is not in the table; persons: {', '.join(map(str, persons.tolist()))}")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    sel = cols["person"] == person
    frames_all = np.unique(cols["frame"][sel])
    times = cols["time"][sel]
    use_time = np.isfinite(times).any()
    if use_time:
        first = np.unique(cols["frame"][sel], return_index=True)[1]
        axis = times[first]
    else:
        axis = frames_all.astype(np.float64)
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 2.2 * len(names) + 0.6), squeeze=False, sharex=True)
    for row, name in enumerate(names):
        m = sel & (cols["keypoint"] == name)
        order = np.argsort(cols["frame"][m], kind="stable")
        fr = cols["frame"][m][order]
        # put every frame of this person on the axis so gaps show as gaps
        x = np.full(len(frames_all), np.nan)
        y = np.full(len(frames_all), np.nan)
        pos = np.searchsorted(frames_all, fr)
        x[pos] = cols["x"][m][order]
        y[pos] = cols["y"][m][order]
        ax_p, ax_d = axes[row]
        ax_p.plot(axis, x, label="x", lw=1)
        ax_p.plot(axis, y, label="y", lw=1)
        ax_p.set_ylabel(f"{name}\npixels")
        ax_p.legend(loc="upper right", fontsize=7)
        ax_d.plot(axis[1:], np.diff(x), label="dx", lw=1)
        ax_d.plot(axis[1:], np.diff(y), label="dy", lw=1)
        ax_d.axhline(0, color="0.6", lw=0.5)
        ax_d.set_ylabel("change / frame")
        ax_d.legend(loc="upper right", fontsize=7)
    xlabel = "time (s)" if use_time else "frame"
    axes[-1][0].set_xlabel(xlabel)
    axes[-1][1].set_xlabel(xlabel)
    axes[0][0].set_title(f"person {person}: position")
    axes[0][1].set_title("frame-to-frame change")
    fig.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    log.info("wrote %s (%d keypoints, person %d)", out, len(names), person)
    return out
