"""A site's visit history in the file store: ``sites/XX/<site>.visits`` beside its document.

JSON Lines (:class:`~.history.VisitRecord`), appended by the writer that holds the site's lock,
right after the document that counted the visits is in place. Once the file holds twice
:data:`~.bounds.MAX_HISTORY` lines it is rewritten, atomically, to the last ``MAX_HISTORY``: an
append stays one ``write`` and the file stays small. The appends are not fsynced: a power loss
can drop the last lines of a history, never a count (those are in the document, which is).

Like the documents, the file is never opened through a symbolic link or as anything but a
regular file: something planted there is moved aside.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import files
from .bounds import MAX_HISTORY
from .files import NotADocument, ShardDir
from .history import VisitRecord, newest, parse_lines

log = logging.getLogger("sitememory.historyfile")

#: Size below which an append does not count the file's lines: under ``2 * MAX_HISTORY`` of the
#: shortest records (about 40 bytes; a typical one is 70 to 200).
_COUNT_FROM = MAX_HISTORY * 64


def append(path: Path, records: list[VisitRecord], *, temp: str) -> None:
    """Add ``records`` to the history at ``path``; ``temp`` names the temp file a compaction
    writes (the site document's, so that its stripe guards it). The caller holds the site's lock."""
    data = b"".join(r.to_line() for r in records)
    with ShardDir(path.parent, create=True, durable=False) as shard:
        try:
            size = _append(shard.fd, path.name, data)
        except NotADocument as exc:
            moved = files.quarantine(path)
            log.warning("%s; moved aside to %s", exc, moved.name)
            size = _append(shard.fd, path.name, data)
    if size > _COUNT_FROM:
        _compact(path, temp)


def _append(dir_fd: int, name: str, data: bytes) -> int:
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotADocument(f"{name} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotADocument(f"{name} is not a regular file")
        # A crash in the middle of an earlier append left a line without its end: begin on a
        # line of our own, so that the torn line is the only one lost.
        if st.st_size and os.pread(fd, 1, st.st_size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return st.st_size + len(data)
    finally:
        os.close(fd)


def _compact(path: Path, temp: str) -> None:
    got = files.read_file(path)
    if got is None:
        return
    data = got[0]
    lines = data.split(b"\n")
    if len(lines) <= 2 * MAX_HISTORY:
        return
    kept = b"\n".join(line for line in lines[-MAX_HISTORY - 1:] if line.strip()) + b"\n"
    files.write_atomic(path, kept, durable=False, temp=temp)


def write(path: Path, records: Sequence[VisitRecord], *, temp: str) -> None:
    """Replace the history at ``path`` with ``records``, atomically (a store being copied)."""
    files.write_atomic(path, b"".join(r.to_line() for r in records), durable=False, temp=temp)


def read(path: Path, limit: int | None) -> list[VisitRecord]:
    """The ``limit`` most recent records at ``path``, oldest first; none if there is no file or
    something other than one (logged)."""
    try:
        got = files.read_file(path)
    except NotADocument as exc:
        log.warning("visit history not read: %s", exc)
        return []
    kept = MAX_HISTORY if limit is None else min(limit, MAX_HISTORY)
    return [] if got is None else newest(parse_lines(got[0]), kept)


def remove(path: Path) -> None:
    """Delete the history at ``path`` (the site was forgotten); nothing if there is none."""
    files.remove(path, durable=False)


@dataclass(frozen=True)
class Cursor:
    """Where a reader following a history is: the file it read, how far, the newest time seen."""

    inode: int
    offset: int
    latest: float


def since(path: Path, cursor: Cursor | None) -> tuple[list[VisitRecord], Cursor | None]:
    """Records added after ``cursor`` (all of them for ``None``), in the order they were added,
    and the cursor after them. A file rewritten since (compacted) is read anew from records
    newer than the newest one seen; a file removed (the site forgotten) starts over."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return [], None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return [], cursor
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return [], cursor
        same = cursor is not None and cursor.inode == st.st_ino and cursor.offset <= st.st_size
        start = cursor.offset if same and cursor is not None else 0
        chunk = os.pread(fd, max(0, st.st_size - start), start)
    finally:
        os.close(fd)
    end = chunk.rfind(b"\n") + 1  # a line still being written is read next time, whole
    records = parse_lines(chunk[:end])
    if cursor is not None and not same:
        records = [r for r in records if r.at > cursor.latest]
    latest = max((r.at for r in records), default=cursor.latest if cursor else float("-inf"))
    return records, Cursor(st.st_ino, start + end, latest)
