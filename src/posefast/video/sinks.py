"""Outputs written while the pipeline streams: OpenPose JSON, tables, COCO results,
rendered video.

Every sink follows the same life cycle:

``open()``
    Create the output and check it is writable.  Called for every sink before any
    frame is processed, so an unwritable path fails before work.
``write(result)``
    Add one :class:`~posefast.video.pipeline.FrameResult`; results arrive in frame
    order.
``close()``
    Finish the output so that it is valid and complete up to the last frame written
    (also after an error or an interruption).  Safe to call twice.

Formats
-------
JSON (``JsonSink``)
    One OpenPose-compatible file per frame, ``<name>_<frame:012d>_keypoints.json``
    for videos and ``<stem>_keypoints.json`` for images (OpenPose's names):
    ``{"version": 1.3, "people": [{"person_id": [id], "pose_keypoints_2d": [x, y, c,
    ...], "face_keypoints_2d": [], ...}]}``.  ``person_id`` is the track id (-1
    without tracking); missing keypoints are ``0, 0, 0``; x, y in pixels or scaled
    (``keypoint_scale``, see :mod:`posefast.video.tables`).  Each file is written to
    a temporary name and renamed, so a file either exists complete or not at all.
Table (``TableSink``)
    Tidy (one row per frame, person and keypoint, columns ``TABLE_COLUMNS``) or wide
    (one row per frame and person, ``<Keypoint>_x, _y, _c`` columns); the columns
    and rules are in :mod:`posefast.video.tables`.  ``.csv``: one file, whole rows
    appended about every second (never a torn row).  ``.parquet`` (needs pyarrow):
    **a folder** ``NAME.parquet/`` of numbered part files ``part-NNNNNN.parquet``,
    one closed about every second (``part-000000`` is empty and carries the schema);
    ``pandas.read_parquet("NAME.parquet")`` reads them as one table in frame order.
COCO (``CocoSink``)
    The COCO keypoint *results* format: a JSON list of ``{"image_id", "category_id":
    1, "keypoints": [x, y, v] * 17, "score": person score}`` in COCO-17 order
    (COCO-18's Neck dropped, the rest reordered).  ``v`` is 1 for a found keypoint
    and 0 (with x = y = 0) for a missing one, as OpenPose's COCO writer does.
    ``image_id`` is the frame number for videos; for images it is the number the
    file name ends with (``000000000785.jpg`` -> 785), as in OpenPose and COCO, or,
    when some name has no unique number, the image's position with a mapping file
    ``<results>.image_ids.json`` (``{"images": [{"id", "file_name"}]}``) beside it.
    Streamed, and a valid JSON list at every moment: the closing ``]`` stays written
    and each append (about every second) rewrites it.
Video
    ``posefast.video.avvideo.AvVideoSink`` (H.264 in fragmented MP4 with the
    source's audio, PyAV); ``VideoSink`` here is the OpenCV (mp4v) fallback used
    without PyAV.

Endings
-------
Whatever ends a run (the end, an error, a signal, ``kill -9``, a full disk), every
file output is readable by its usual reader, holding every frame written up to about
``flush_seconds`` (default 1 s) before the end; see :mod:`posefast.video._durable`.
A write that fails raises :class:`OutputWriteError` naming the output, and leaves the
file as it was before that write.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import queue
import re
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

from ..layouts import Layout, get_layout
from ._durable import (DEFAULT_FLUSH_SECONDS, Buffered, JsonListFile, OutputWriteError, ParquetParts, RecordFile,
                       write_atomically)
from .pipeline import FrameResult, StageTimes
from .render import RENDER_MODES, draw_poses
from .tables import TABLE_LAYOUTS, TIDY_COLUMNS, check_keypoint_scale, frame_columns, scale_keypoints, wide_columns

__all__ = ["Sink", "JsonSink", "TableSink", "CocoSink", "VideoSink", "ThreadedSink", "OutputError", "OutputWriteError",
           "TABLE_COLUMNS", "COCO17_KEYPOINTS", "coco17_indices"]

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("frame", "time", "person", "keypoint", "x", "y", "confidence")
COCO17_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
_COCO_TO_OPENPOSE = {"nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar",
                     "right_ear": "REar", "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
                     "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist",
                     "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee",
                     "right_knee": "RKnee", "left_ankle": "LAnkle", "right_ankle": "RAnkle"}

PathLike = Union[str, os.PathLike]


class OutputError(ValueError):
    """An output cannot be created (raised by ``open()``, before any work)."""


def coco17_indices(layout: str | Layout) -> np.ndarray:
    """Channel of each COCO-17 keypoint in ``layout`` (int [17]).

    For COCO-18 this is ``[0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]``.
    """
    lay = get_layout(layout)
    names = {n: i for i, n in enumerate(lay.keypoints)}
    missing = [c for c in COCO17_KEYPOINTS if _COCO_TO_OPENPOSE[c] not in names]
    if missing:
        raise OutputError(f"layout {lay.name!r} cannot be written as COCO-17: it lacks "
                          f"{', '.join(_COCO_TO_OPENPOSE[c] for c in missing)}")
    return np.array([names[_COCO_TO_OPENPOSE[c]] for c in COCO17_KEYPOINTS], dtype=np.int64)


_TRAILING_NUMBER = re.compile(r"(\d+)$")


def coco_image_ids(images: Sequence[tuple[int, PathLike]]) -> tuple[dict[int, int], bool]:
    """COCO ``image_id`` of each image: the number its file name ends with, OpenPose's and COCO's rule.

    ``000000000785.jpg`` -> 785, ``COCO_val2014_000000000357.jpg`` -> 357.  When a
    name holds no number, or two names give the same one, every image gets its frame
    number instead (the caller then writes the mapping file).

    Parameters
    ----------
    images : sequence of (frame number, path)

    Returns
    -------
    ids : dict of frame number -> image_id
    from_names : bool
        Whether the ids come from the file names.
    """
    ids: dict[int, int] = {}
    for index, path in images:
        m = _TRAILING_NUMBER.search(Path(path).stem)
        if m is None:
            break
        ids[int(index)] = int(m.group(1))
    else:
        if len(set(ids.values())) == len(ids):
            return ids, True
    return {int(i): int(i) for i, _ in images}, False


def _check_file(path: Path) -> None:
    if path.exists() and path.is_dir():
        raise OutputError(f"output {path} is a folder, expected a file")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {parent} for {path}: {exc.strerror or exc}") from exc


class Sink:
    """Base class of outputs (see the module docstring for the life cycle)."""

    #: whether ``write`` needs ``FrameResult.image``
    needs_image = False
    #: stage name under which the caller counts ``write`` time (None: the sink counts its own)
    stage: Optional[str] = "write"

    def open(self) -> None:
        """Create the output; raise :class:`OutputError` when it cannot be written."""

    def created(self) -> list[Path]:
        """Paths that ``open()`` created (they did not exist before)."""
        return list(getattr(self, "_created", []))

    def discard(self) -> None:
        """Close, then remove what ``open()`` created (used when another output fails to open)."""
        self.close()
        for path in reversed(self.created()):
            try:
                if path.is_dir():
                    for child in path.iterdir():
                        child.unlink()
                    path.rmdir()
                else:
                    path.unlink(missing_ok=True)
            except OSError as exc:  # pragma: no cover - best effort
                log.warning("could not remove %s: %s", path, exc)

    def _open_folder(self, flag: str) -> None:
        """``open()`` of a sink writing files into ``self.folder``: created if missing (and
        then removed by ``discard()``), refused when it is a file or cannot be written into."""
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{flag} {folder} exists and is not a folder")
        try:
            if not folder.exists():
                folder.mkdir(parents=True)
                self._created = [folder]
            probe = folder / f".posefast-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write into folder {folder}: {exc.strerror or exc}") from exc

    def write(self, result: FrameResult) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush_if_due(self) -> None:
        """Write what is buffered if the flush period passed (called by a timer thread)."""

    @property
    def target(self) -> str:
        """The output's path, for messages."""
        for attr in ("path", "folder"):
            value = getattr(self, attr, None)
            if value is not None:
                return str(value)
        inner = getattr(self, "sink", None)
        return inner.target if isinstance(inner, Sink) else type(self).__name__

    def close(self) -> None:
        """Finish the output (idempotent)."""

    def __enter__(self) -> "Sink":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fmt(v: float, nd: int) -> float:
    return round(float(v), nd)


class JsonSink(Sink):
    """OpenPose-style per-frame JSON files in ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing.
    """

    def __init__(self, folder: PathLike, *, per_image: bool = False, keypoint_scale: int = 0):
        self.folder = Path(folder)
        self.per_image = bool(per_image)
        self.keypoint_scale = check_keypoint_scale(keypoint_scale)
        self._names: dict[str, int] = {}
        self.files_written = 0

    def open(self) -> None:
        self._open_folder("--write-json")

    @staticmethod
    def document(result: FrameResult, keypoint_scale: int = 0) -> dict:
        """The OpenPose JSON document of one frame (x, y scaled by ``keypoint_scale``)."""
        people = []
        kp = scale_keypoints(result.poses.keypoints, result.size, keypoint_scale)
        nd = 3 if keypoint_scale == 0 else 6
        for p in range(kp.shape[0]):
            flat = [_fmt(v, nd) for v in kp[p].reshape(-1)]
            people.append({
                "person_id": [int(result.ids[p])],
                "pose_keypoints_2d": flat,
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
                "pose_keypoints_3d": [],
                "face_keypoints_3d": [],
                "hand_left_keypoints_3d": [],
                "hand_right_keypoints_3d": [],
            })
        return {"version": 1.3, "people": people}

    def path_for(self, result: FrameResult) -> Path:
        """``<name>_<frame:012d>_keypoints.json``; per image ``<stem>_keypoints.json`` (OpenPose's names).

        Two images with the same stem (from different folders) keep their frame
        number: ``<stem>_<frame:012d>_keypoints.json`` for the second.
        """
        if self.per_image:
            stem = result.name or "image"
            owner = self._names.setdefault(stem, result.index)
            if owner == result.index:
                return self.folder / f"{stem}_keypoints.json"
        return self.folder / f"{result.name or 'frame'}_{result.index:012d}_keypoints.json"

    def write(self, result: FrameResult) -> None:
        text = json.dumps(self.document(result, self.keypoint_scale), separators=(",", ":"))
        write_atomically(self.path_for(result), text.encode("utf-8"))  # hidden temporary: never *.json
        self.files_written += 1


class _BufferedSink(Sink):
    """A sink whose records wait in a :class:`Buffered` (``_out``) in front of its open file
    (``_file``, or ``_writer`` for Parquet parts)."""

    _out: Optional[Buffered] = None
    _file: Any = None
    _writer: Any = None

    def flush_if_due(self) -> None:
        if self._out is not None:
            self._out.flush_if_due()

    def close(self) -> None:
        out, self._out = self._out, None
        try:
            if out is not None:
                out.flush()  # raises a failure kept from an earlier (timer) flush, too
        finally:
            for attr in ("_file", "_writer"):
                f = getattr(self, attr)
                if f is not None:
                    f.close()
                    setattr(self, attr, None)


class TableSink(_BufferedSink):
    """The keypoint table (CSV or Parquet), tidy or wide (see :mod:`posefast.video.tables`).

    Parameters
    ----------
    path : path
        ``.csv`` or ``.parquet``.
    layout : str or Layout
        Names of the keypoints.
    row_group_frames : int
        Frames held at most before writing (bounds memory; Parquet: frames per part).
    table_layout : {"tidy", "wide"}
        Tidy: columns ``TABLE_COLUMNS``, one row per keypoint.  Wide: one row per
        person, ``<Keypoint>_x, _y, _c`` columns, frames with nobody kept as an empty row.
    keypoint_scale : {0, 3, 4}
        OpenPose's keypoint scaling of x and y (0 pixels, 3 [0, 1], 4 [-1, 1]).
    flush_seconds : float
        Buffered rows are written at least this often (the most a ``kill -9`` loses).
    """

    def __init__(self, path: PathLike, layout: str | Layout = "coco18", row_group_frames: int = 500, *,
                 table_layout: str = "tidy", keypoint_scale: int = 0,
                 flush_seconds: float = DEFAULT_FLUSH_SECONDS):
        self.path = Path(path)
        self.layout = get_layout(layout)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise OutputError(f"--write-table {self.path}: use a .csv or .parquet file name")
        if table_layout not in TABLE_LAYOUTS:
            raise OutputError(f"table layout must be one of {', '.join(TABLE_LAYOUTS)}, got {table_layout!r}")
        self.format = suffix[1:]
        self.table_layout = table_layout
        self.keypoint_scale = check_keypoint_scale(keypoint_scale)
        self.columns = TIDY_COLUMNS if table_layout == "tidy" else wide_columns(self.layout)
        self.row_group_frames = row_group_frames
        self.flush_seconds = flush_seconds
        self._file = None
        self._writer = None
        self._pa = None
        self._out: Optional[Buffered] = None
        self.rows_written = 0

    def _arrow_schema(self, pa):
        types = {"frame": pa.int64(), "time": pa.float64(), "person": pa.int64(), "keypoint": pa.string()}
        return pa.schema([(c, types.get(c, pa.float64())) for c in self.columns])

    def open(self) -> None:
        if self.format == "parquet":
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise OutputError("writing a .parquet table needs pyarrow: pip install pyarrow "
                                  "(or write a .csv table)") from None
            self._pa = (pa, pq)
            if self.path.is_file():
                with open(self.path, "rb") as f:
                    magic = f.read(4)
                if magic != b"PAR1":
                    raise OutputError(f"--write-table {self.path} exists and is not a Parquet table; posefast "
                                      "writes a .parquet table as a folder of parts: give another name")
                self.path.unlink()  # a single-file table of an earlier version, replaced as before
            self._created = [] if self.path.exists() else [self.path]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create folder {self.path.parent} for {self.path}: "
                                  f"{exc.strerror or exc}") from exc
            self._schema = self._arrow_schema(pa)
            try:
                self._writer = ParquetParts(self.path, self._schema)
            except ValueError as exc:
                raise OutputError(f"--write-table {exc}") from exc
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
            write = self._write_parquet
        else:
            self._created = [] if self.path.exists() else [self.path]
            _check_file(self.path)
            try:
                self._file = RecordFile(self.path, (",".join(self.columns) + "\n").encode())
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
            write = self._write_csv
        self._out = Buffered(write, str(self.path), self.flush_seconds, max_records=self.row_group_frames)

    def _csv_text(self, cols: dict) -> str:
        n = len(cols["frame"])
        xy = "{:.3f}" if self.keypoint_scale == 0 else "{:.6f}"
        cells = []
        for name in self.columns:
            v = cols[name]
            if name == "frame":
                cells.append([str(int(i)) for i in v])
            elif name == "time":
                cells.append(["" if not math.isfinite(t) else repr(round(float(t), 6)) for t in v])
            elif name == "person":
                cells.append(["" if isinstance(i, float) and math.isnan(i) else str(int(i)) for i in v.tolist()])
            elif name == "keypoint":
                cells.append(list(v))
            else:
                fmt = "{:.4f}" if (name == "confidence" or name.endswith("_c")) else xy
                cells.append(["" if math.isnan(f) else fmt.format(f) for f in v.tolist()])
        return "".join(",".join(row) + "\n" for row in zip(*cells)) if n else ""

    def write(self, result: FrameResult) -> None:
        cols = frame_columns(result, self.layout, self.table_layout, self.keypoint_scale)
        n = len(cols["frame"])
        if n == 0:
            return
        if self.format == "csv":
            self._out.add([self._csv_text(cols).encode()])  # whole rows of one frame
        else:
            self._out.add([cols])
        self.rows_written += n

    def _write_csv(self, batch: list) -> None:
        self._file.append(b"".join(batch))

    def _write_parquet(self, batch: list) -> None:
        pa = self._pa[0]
        arrays = []
        for name, field in zip(self.columns, self._schema):
            parts = [c[name] for c in batch]
            if name == "keypoint":
                arrays.append(pa.array([k for part in parts for k in part], pa.string()))
            elif name == "person":
                v = np.concatenate([p.astype(np.float64) for p in parts])
                missing = np.isnan(v)
                arrays.append(pa.array(np.where(missing, 0, v).astype(np.int64), pa.int64(), mask=missing))
            else:
                arrays.append(pa.array(np.concatenate(parts), field.type))
        self._writer.write(pa.Table.from_arrays(arrays, schema=self._schema))


class CocoSink(_BufferedSink):
    """COCO keypoint results JSON, streamed (see the module docstring).

    Parameters
    ----------
    path : path
    layout : str or Layout
        Must name the 17 COCO keypoints (COCO-18 and BODY-25 do).
    flush_seconds : float
        Buffered results are written at least this often.
    """

    def __init__(self, path: PathLike, layout: str | Layout = "coco18",
                 images: Optional[Sequence[tuple[int, PathLike]]] = None,
                 flush_seconds: float = DEFAULT_FLUSH_SECONDS):
        self.path = Path(path)
        self.index = coco17_indices(layout)
        self.flush_seconds = flush_seconds
        self._file: Optional[JsonListFile] = None
        self._out: Optional[Buffered] = None
        self.count = 0
        self.image_ids, self.ids_from_names = coco_image_ids(images) if images is not None else ({}, False)
        self._images_listed = [(self.image_ids[int(i)], Path(p).name) for i, p in images] if images else []

    @property
    def mapping_path(self) -> Path:
        """``<results>.image_ids.json``: written when image ids are not the file names' numbers."""
        return self.path.with_name(self.path.name + ".image_ids.json")

    def image_id(self, result: FrameResult) -> int:
        """COCO ``image_id`` of a result: from the image file name, else the frame number."""
        return int(self.image_ids.get(result.index, result.index))

    def open(self) -> None:
        self._created = [] if self.path.exists() else [self.path]
        _check_file(self.path)
        try:
            self._file = JsonListFile(self.path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._out = Buffered(self._file.extend, str(self.path), self.flush_seconds, max_records=10_000)
        if self._images_listed and not self.ids_from_names:
            mp = self.mapping_path
            if not mp.exists():
                self._created.append(mp)
            doc = {"images": [{"id": i, "file_name": name} for i, name in self._images_listed]}
            try:
                write_atomically(mp, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
            except OSError as exc:
                raise OutputError(f"cannot write {mp}: {exc.strerror or exc}") from exc
            log.info("COCO image ids are frame numbers (some file names hold no unique number): see %s", mp)

    def write(self, result: FrameResult) -> None:
        kp = result.poses.keypoints[:, self.index, :]
        parts = []
        for p in range(kp.shape[0]):
            vals: list = []
            for x, y, c in kp[p].tolist():
                vals.extend((round(x, 3), round(y, 3), 1) if c > 0 else (0, 0, 0))
            entry = {"image_id": self.image_id(result), "category_id": 1, "keypoints": vals,
                     "score": round(float(result.poses.scores[p]), 6)}
            parts.append(json.dumps(entry, separators=(",", ":")).encode())
        if parts:
            self._out.add(parts)
            self.count += len(parts)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` [H, W, 3] scaled to fit ``size`` = (width, height), keeping its aspect ratio, centred on black."""
    w, h = size
    fh, fw = image.shape[:2]
    s = min(w / fw, h / fh)
    nw, nh = max(1, int(round(fw * s))), max(1, int(round(fh * s)))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = small
    return canvas


class VideoSink(Sink):
    """Rendered video through ``cv2.VideoWriter`` (mp4v).

    Parameters
    ----------
    path : path
        Output file (``.mp4`` recommended; ``.avi`` and ``.mov`` work too).
    fps : float
        Frame rate of the output (use the source's to keep timing).
    size : (int, int)
        ``(width, height)``; frames of another size are fitted in, keeping their aspect
        ratio, centred on black (never stretched).  MPEG-4 needs even
        sizes (OpenCV's encoder would silently drop the last row or column), so an odd
        size is encoded one pixel larger, the extra row/column repeating the edge.
    mode : {"overlay", "skeleton"}
    layout : str or Layout
    draw_ids : bool
        Label each person with its track id.
    timings : StageTimes, optional
        Render time is counted under ``"render"``.
    """

    needs_image = True
    stage = None  # times itself: "render" and "write"

    def __init__(self, path: PathLike, fps: float, size: tuple[int, int], mode: str = "overlay",
                 layout: str | Layout = "coco18", draw_ids: bool = True, timings: StageTimes | None = None,
                 fourcc: str = "mp4v"):
        if mode not in RENDER_MODES:
            raise OutputError(f"--render must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.size = (int(size[0]), int(size[1]))
        self.mode = mode
        self.layout = get_layout(layout)
        self.draw_ids = draw_ids
        self.timings = timings
        self.fourcc = fourcc
        self._writer = None
        self._canvas: Optional[np.ndarray] = None
        self.frames_written = 0

    def open(self) -> None:
        if not self.path.suffix:
            raise OutputError(f"--write-video {self.path}: give the file an extension such as .mp4")
        _check_file(self.path)
        if not os.access(self.path.parent, os.W_OK):
            raise OutputError(f"cannot write {self.path}: folder {self.path.parent} is not writable")
        self._created = [] if self.path.exists() else [self.path]
        # Even encoded size: no content row or column is lost (see the class docstring).
        self._pad = (self.size[0] % 2, self.size[1] % 2)
        encoded = (self.size[0] + self._pad[0], self.size[1] + self._pad[1])
        w = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, encoded)
        if not w.isOpened():
            raise OutputError(f"cannot open a {self.fourcc} video writer for {self.path} "
                              f"(unwritable path or unsupported container)")
        self._writer = w

    def write(self, result: FrameResult) -> None:
        if result.image is None:
            raise ValueError("VideoSink needs frames: run the pipeline with keep_images=True")
        t0 = time.perf_counter()
        image = result.image
        if self._canvas is None or self._canvas.shape != image.shape:
            self._canvas = np.empty_like(image)
        frame = draw_poses(image, result.poses.keypoints, self.layout, ids=result.ids if self.draw_ids else None,
                           mode=self.mode, out=self._canvas)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = letterbox(frame, self.size)
        if self._pad != (0, 0):
            frame = cv2.copyMakeBorder(frame, 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE)
        t1 = time.perf_counter()
        self._writer.write(frame)
        if self.timings is not None:
            self.timings.add("render", t1 - t0)
            self.timings.add("write", time.perf_counter() - t1)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class ThreadedSink(Sink):
    """Run another sink's ``write`` in its own thread behind a bounded queue.

    Rendering and video encoding release the GIL, so they overlap with the rest of
    the pipeline.  An exception in the thread is raised by the next ``write`` or by
    ``close``.  ``close`` writes every queued result first.
    """

    def __init__(self, sink: Sink, depth: int = 8):
        self.sink = sink
        self.needs_image = sink.needs_image
        self.stage = sink.stage
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._failed = False
        self._closed = False

    def created(self) -> list[Path]:
        return self.sink.created()

    def open(self) -> None:
        self.sink.open()
        self._thread = threading.Thread(target=self._run, name=f"posefast-{type(self.sink).__name__}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self._failed:
                continue  # drain without writing after a failure
            try:
                self.sink.write(item)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc
                self._failed = True

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def write(self, result: FrameResult) -> None:
        self._raise()
        while True:
            try:
                self._q.put(result, timeout=0.1)
                break
            except queue.Full:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError(f"{type(self.sink).__name__} writer thread died")
                self._raise()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread is not None:
                self._q.put(None)
                self._thread.join()
        finally:
            self.sink.close()
        self._raise()
