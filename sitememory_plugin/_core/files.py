"""The store's directory layout and its durable file operations.

::

    <root>/store.json                 format marker
    <root>/locks/stripe-NN.lock       a fixed number of lock stripes: an update holds its site's
                                      exclusively, maintenance holds them all
    <root>/sites/XX/<site>.json       one document per site, in 256 shard directories
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreFormatError, VersionTooNew
from .keys import file_name, shard_of

log = logging.getLogger("sitememory")

SHARDS = 256
STRIPES = 64
STORE_FORMAT = "sitememory.store"
STORE_VERSION = 1
TEMP_SUFFIX = ".tmp"
_PATH_MEMO = 4096


class Layout:
    """Where each file of a store lives. Pure path arithmetic, plus :meth:`create`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.sites = self.root / "sites"
        self.locks = self.root / "locks"
        self.marker = self.root / "store.json"
        self._paths: dict[str, Path] = {}

    def site_path(self, key: str) -> Path:
        path = self._paths.get(key)
        if path is None:
            path = self.sites / f"{shard_of(key, SHARDS):02x}" / file_name(key)
            # Keys are validated host names and file_name() quotes separators; this is the backstop.
            if path.parent.parent != self.sites or path.name in (".", ".."):
                raise ValueError(f"site key {key!r} does not map inside the store")
            if len(self._paths) >= _PATH_MEMO:
                self._paths.clear()
            self._paths[key] = path
        return path

    def stripe_path(self, index: int) -> Path:
        return self.locks / f"stripe-{index:02d}.lock"

    @staticmethod
    def stripe_for(key: str) -> int:
        """The lock stripe guarding a site's file."""
        return stripe_of_name(file_name(key))

    def create(self) -> None:
        """Create the directories (mode 0700) and the format marker; check an existing marker."""
        for directory in (self.root, self.sites, self.locks):
            try:
                directory.mkdir(mode=0o700, parents=directory is self.root)
            except FileExistsError:
                if not directory.is_dir():
                    raise NotADirectoryError(f"{directory} exists and is not a directory") from None
        try:
            marker = json.loads(self.marker.read_bytes())
        except FileNotFoundError:
            self._create_marker()
            return
        except ValueError:
            raise StoreFormatError(f"{self.marker} is not valid JSON") from None
        if not isinstance(marker, dict) or marker.get("format") != STORE_FORMAT:
            raise StoreFormatError(f"{self.root} is not a sitememory store")
        if not isinstance(marker.get("version"), int) or marker["version"] > STORE_VERSION:
            raise VersionTooNew(f"store version {marker.get('version')!r} is newer than this "
                                   f"library ({STORE_VERSION}); upgrade sitememory-plugin")

    def _create_marker(self) -> None:
        # Many processes may open a new store at once: each writes its own temp file and links it
        # into place, so the marker appears complete, once, and a loser simply finds it there.
        doc = json.dumps({"format": STORE_FORMAT, "version": STORE_VERSION}).encode()
        tmp = self.root / f".store.json.{os.getpid()}.{time.time_ns()}{TEMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                os.write(fd, doc)
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.marker)
        finally:
            os.unlink(tmp)
        fsync_dir(self.root)

    def site_files(self) -> Iterator[Path]:
        """Every site document, in no particular order. O(number of sites)."""
        for shard in _scandir(self.sites):
            if shard.is_dir(follow_symlinks=False):
                for entry in _scandir(Path(shard.path)):
                    if entry.name.endswith(".json") and not entry.name.startswith("."):
                        yield Path(entry.path)

    def temp_files(self) -> Iterator[Path]:
        """Temporary files left by writers that died before their rename."""
        for shard in _scandir(self.sites):
            if shard.is_dir(follow_symlinks=False):
                for entry in _scandir(Path(shard.path)):
                    if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                        yield Path(entry.path)


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:
        return []


def stripe_of_name(name: str) -> int:
    """The lock stripe of a site file's name; a temp file's final name gives its stripe."""
    return shard_of(name, STRIPES)


def final_name(temp_name: str) -> str:
    """The file name a temp file (see :func:`temp_path`) is renamed to."""
    return temp_name[1:].removesuffix(TEMP_SUFFIX)


def temp_path(path: Path) -> Path:
    """The one temp file of ``path``. Only the holder of the site's lock writes it, so a fixed
    name is safe, and a temp file left by a crash is simply reused by the next writer."""
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def read_file(path: Path) -> tuple[bytes, os.stat_result] | None:
    """Bytes and ``fstat`` of ``path``, or ``None`` if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, max(st.st_size, 4096) + 1):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes, *, durable: bool, keep_open: bool = False
) -> tuple[os.stat_result, int | None]:
    """Replace ``path`` with ``data`` atomically: temp file, fsync, rename, fsync of the directory.

    Readers see the old file or the new one, never a part. On any error before the rename (a
    full disk, a read-only directory) the temp file is removed, the old file is untouched, and
    the ``OSError`` propagates. After the rename the write has happened: a failing directory
    fsync is logged as an error, not raised. Returns the ``fstat`` of the new file and, with ``keep_open``, a
    read-only descriptor of it that the caller must close.
    """
    tmp = temp_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:
        _make_parent(path.parent, durable)
        fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
        st = os.fstat(fd)
        fd, closing = -1, fd
        os.close(closing)
        if keep_open:
            # Read-only: a descriptor open for writing would keep the file system from going
            # read-only (mount -o remount,ro) while it is held.
            fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        try:
            fsync_dir(path.parent)
        except OSError as exc:
            # The new file is in place and visible: raising would make a caller retry and
            # apply the update twice. Say loudly that it may not survive a power loss.
            log.error("wrote %s but could not fsync its directory (%s): the write may not "
                      "survive a power loss", path, exc)
    return st, fd if keep_open else None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_parent(directory: Path, durable: bool) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    if durable:
        fsync_dir(directory.parent)


def quarantine(path: Path) -> Path:
    """Move a corrupt file aside as ``<name>.corrupt-<UTC time>`` and return its new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}-{time.time_ns() % 10**9:09d}")
    os.replace(path, target)
    return target


def remove(path: Path, *, durable: bool) -> bool:
    """Delete ``path``; ``False`` if it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    if durable:
        fsync_dir(path.parent)
    return True
