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
from .bounds import MAX_HISTORY, MAX_READ_BYTES
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
        if exc.errno in (errno.EISDIR, errno.ENXIO):  # a directory, a socket
            raise NotADocument(f"{name} is not a regular file") from None
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
    try:
        got = files.read_file(path)
    except NotADocument as exc:  # grown past any history (planted): start it anew
        moved = files.quarantine(path)
        log.warning("%s; moved aside to %s", exc, moved.name)
        return
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
    """Where a reader following a history is: the file it read (its inode), how far, and the
    last line it read there, which finds its place again in a file rewritten since."""

    inode: int
    offset: int
    last: bytes


def since(path: Path, cursor: Cursor | None) -> tuple[list[VisitRecord], Cursor | None]:
    """Records added after ``cursor`` (all of them for ``None``), in the order they were added,
    and the cursor after them.

    The file is in the order the visits were committed and a rewrite keeps its last lines, so in
    a file that is not the one the cursor read (compacted, or a new one after a forget, perhaps
    with the same inode), what follows the cursor's last line is new, and all of it is when
    that line is gone. Something other than a history there reads as nothing new."""
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
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_READ_BYTES:
            return [], cursor
        if cursor is not None and _still_at(fd, st, cursor):
            start = cursor.offset
            chunk = os.pread(fd, st.st_size - start, start)
        else:
            data = os.pread(fd, st.st_size, 0)
            start = _after(data, cursor.last) if cursor is not None and cursor.last else 0
            chunk = data[start:]
    finally:
        os.close(fd)
    end = chunk.rfind(b"\n") + 1  # a line still being written is read next time, whole
    if not end:
        return [], Cursor(st.st_ino, start, cursor.last if cursor is not None and start else b"")
    lines = chunk[:end]
    last = lines[:-1].rsplit(b"\n", 1)[-1]
    return parse_lines(lines), Cursor(st.st_ino, start + end, last)


def _still_at(fd: int, st: os.stat_result, cursor: Cursor) -> bool:
    """Whether the open file is the one ``cursor`` read: the same inode, and its last line
    where it read it (an inode is reused at once after a forget removed the file)."""
    if cursor.inode != st.st_ino or cursor.offset > st.st_size:
        return False
    if not cursor.last:
        return cursor.offset == 0
    size = len(cursor.last) + 1
    return cursor.offset >= size and os.pread(fd, size, cursor.offset - size) == cursor.last + b"\n"


def _after(data: bytes, last: bytes) -> int:
    """Where what follows the line ``last`` begins in ``data``; 0 if it is not there."""
    found = data.rfind(b"\n" + last + b"\n")
    if found >= 0:
        return found + 1 + len(last) + 1
    return len(last) + 1 if data.startswith(last + b"\n") else 0
