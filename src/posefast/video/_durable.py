"""Crash-safe file writing for the streaming sinks.

Every output must stay readable whatever ends the run: a signal, ``kill -9``, a full
disk.  Three writers, one per shape of file, each keeping the file valid between any
two of its writes:

:class:`RecordFile`
    Appends whole records (CSV rows).  Each flush is one ``pwrite`` of complete
    rows; a failed or short write is truncated back to the last complete row.
:class:`JsonListFile`
    A JSON list that is always closed: the file always ends in ``"\\n]\\n"``, and
    an append overwrites that tail with ``",\\n{...}\\n]\\n"`` in one ``pwrite``.
    A failed write restores the previous bytes.
:class:`ParquetParts`
    A Parquet *dataset folder*: each flush writes one complete part file under a
    hidden temporary name (pyarrow and pandas ignore names starting with ``.``) and
    renames it into place, so the folder only ever holds closed, valid parts.
    ``pandas.read_parquet(folder)`` / ``pyarrow.parquet.read_table(folder)`` read
    them as one table, in frame order (parts are numbered).

:class:`Buffered` batches records in memory and hands them to a writer at most every
``period`` seconds (and when :meth:`Buffered.flush_if_due` is called by a timer
thread, so a stalled run still flushes), which is what bounds the loss after
``kill -9`` to about one period.  The one window that no file API can close: a
``kill -9`` that lands inside the kernel's copy of one flush (microseconds per
second of data) can leave that flush torn.  Nothing here protects against power
loss (no ``fsync``): the page cache outlives the process, not the machine.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

__all__ = ["Buffered", "RecordFile", "JsonListFile", "ParquetParts", "OutputWriteError", "DEFAULT_FLUSH_SECONDS"]

log = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 1.0


class OutputWriteError(OSError):
    """Writing an output failed during the run (disk full, I/O error, ...).

    ``output`` names the output (its path); the message says which one and why.
    """

    def __init__(self, output: str, cause: BaseException):
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        errno = getattr(cause, "errno", None)
        # a sink's own error that already names the file is kept as it is
        super().__init__(errno, reason if output in reason else f"cannot write {output}: {reason}")
        self.output = output
        self.cause = cause

    def __str__(self) -> str:
        return self.strerror


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:  # pragma: no cover - pwrite raises rather than returning 0 on regular files
            raise OSError(28, "No space left on device")
        view = view[n:]
        offset += n


class RecordFile:
    """A file of whole records, appended with one ``pwrite`` per flush.

    Parameters
    ----------
    path : path
        Created or truncated.
    header : bytes
        Written first (e.g. the CSV header line).
    """

    def __init__(self, path: os.PathLike | str, header: bytes = b""):
        self.path = Path(path)
        self._fd: Optional[int] = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.size = 0
        if header:
            self.append(header)

    def append(self, data: bytes) -> None:
        """Append ``data`` whole, or leave the file as it was and raise."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        try:
            _pwrite_all(self._fd, data, self.size)
        except BaseException:
            self._restore()
            raise
        self.size += len(data)

    def _restore(self) -> None:
        try:
            os.ftruncate(self._fd, self.size)
        except OSError as exc:  # pragma: no cover - truncating never needs space
            log.error("could not truncate %s back to %d bytes: %s", self.path, self.size, exc)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class JsonListFile:
    """A JSON list on disk that is valid after every append.

    The file is ``[`` + items separated by ``,\\n`` + ``\\n]\\n``; appending rewrites
    only the 3-byte tail.
    """

    _TAIL = b"\n]\n"

    def __init__(self, path: os.PathLike | str):
        self.path = Path(path)
        self._fd: Optional[int] = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.count = 0
        _pwrite_all(self._fd, b"[" + self._TAIL, 0)
        self.size = 1 + len(self._TAIL)

    def extend(self, items: list[bytes]) -> None:
        """Append encoded JSON values (one ``pwrite``), or restore the file and raise."""
        if not items:
            return
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        at = self.size - len(self._TAIL)
        data = (b",\n" if self.count else b"\n") + b",\n".join(items) + self._TAIL
        try:
            _pwrite_all(self._fd, data, at)
        except BaseException:
            self._restore(at)
            raise
        self.size = at + len(data)
        self.count += len(items)

    def _restore(self, at: int) -> None:
        # The tail's bytes lie in blocks the file already owns: rewriting them needs no space.
        try:
            os.ftruncate(self._fd, self.size)
            _pwrite_all(self._fd, self._TAIL, at)
        except OSError as exc:  # pragma: no cover
            log.error("could not restore the end of %s: %s", self.path, exc)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


_PART = re.compile(r"^part-\d{6}\.parquet$")


class ParquetParts:
    """A folder of numbered, closed Parquet part files (one table).

    Parameters
    ----------
    folder : path
        Created if missing.  Part files left by an earlier run (``part-NNNNNN.parquet``
        and hidden temporaries) are removed; a folder holding anything else is refused
        (ValueError), so no user file is ever deleted.
    schema : pyarrow.Schema
    """

    def __init__(self, folder: os.PathLike | str, schema: Any):
        import pyarrow.parquet as pq

        self._pq = pq
        self.folder = Path(folder)
        self.schema = schema
        self.parts = 0
        if self.folder.is_dir():
            other = [p.name for p in self.folder.iterdir()
                     if not (_PART.match(p.name) or (p.name.startswith(".part-") and p.name.endswith(".tmp")))]
            if other:
                raise ValueError(f"{self.folder} is a folder holding other files ({', '.join(sorted(other)[:3])}"
                                 f"{', ...' if len(other) > 3 else ''}); posefast writes a Parquet table as a "
                                 "folder of part files: give a new name")
            for p in self.folder.iterdir():
                p.unlink()
        else:
            self.folder.mkdir(parents=True)
        # an empty first part: the folder reads as a table (with its schema) from the start
        self.write(schema.empty_table())

    def write(self, table: Any) -> None:
        """Write ``table`` as the next part: complete under a hidden name, then renamed."""
        name = f"part-{self.parts:06d}.parquet"
        write_atomically(self.folder / name, lambda tmp: self._pq.write_table(table, str(tmp)))
        self.parts += 1

    def close(self) -> None:
        """Nothing stays open between parts."""


def write_atomically(path: Path, data: "bytes | Callable[[Path], None]") -> None:
    """Write ``path`` complete under a hidden temporary name beside it, then rename it into
    place: a reader, or a kill, never sees part of it.  ``data`` is the content, or a function
    that writes the file it is given.  On any failure the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Buffered:
    """Batch records in memory; write them out at most every ``period`` seconds.

    Parameters
    ----------
    write : callable(list) -> None
        Writes a batch to disk, all or nothing (one of the writers above).
    output : str
        Name of the output in error messages (its path).
    period : float
        Seconds between flushes (``0``: write every record at once).
    max_records : int, optional
        Also flush when this many records are waiting (bounds memory).

    Thread-safe: the sink adds records from the pipeline's thread while a timer
    thread calls :meth:`flush_if_due`.  After a failed write the batch is dropped,
    the file stays as it was before that write, and every later call raises
    :class:`OutputWriteError`.
    """

    def __init__(self, write: Callable[[list], None], output: str, period: float = DEFAULT_FLUSH_SECONDS,
                 max_records: Optional[int] = None):
        self._write = write
        self.max_records = max_records
        self.output = output
        self.period = float(period)
        self._pending: list = []
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self.error: Optional[OutputWriteError] = None

    def add(self, records: list) -> None:
        with self._lock:
            self._check()
            self._pending.extend(records)
            if (time.monotonic() - self._last >= self.period
                    or (self.max_records is not None and len(self._pending) >= self.max_records)):
                self._flush_locked()

    def flush_if_due(self) -> None:
        """Flush when the period has passed (called by a timer thread)."""
        with self._lock:
            if self.error is None and self._pending and time.monotonic() - self._last >= self.period:
                self._flush_locked()

    def flush(self) -> None:
        """Write everything buffered now."""
        with self._lock:
            self._check()
            self._flush_locked()

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def _flush_locked(self) -> None:
        self._last = time.monotonic()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            self._write(batch)
        except Exception as exc:  # noqa: BLE001 - every write failure names the output
            self.error = exc if isinstance(exc, OutputWriteError) else OutputWriteError(self.output, exc)
            raise self.error from exc
