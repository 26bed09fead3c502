"""The store's directory layout and its durable file operations.

::

    <root>/store.json                 format marker
    <root>/locks/stripe-NN.lock       a fixed number of lock stripes: an update holds its site's
                                      exclusively, maintenance holds them all
    <root>/sites/XX/<site>.json       one document per site, in 256 shard directories
    <root>/sites/XX/<site>.gone       a forgotten site's tombstone (see :class:`~.updates.Forget`)
    <root>/sites/XX/<site>.visits     its recent visits, JSON Lines (see :mod:`.historyfile`)
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .bounds import MAX_READ_BYTES
from .errors import StoreFormatError, VersionTooNew
from .keys import file_name, shard_of
from .storage import new_origin

log = logging.getLogger("sitememory.files")

SHARDS = 256
STRIPES = 64
STORE_FORMAT = "sitememory.store"
#: Version 2 gives each store an origin id (see :mod:`.ledger`); a version-1 store is upgraded.
STORE_VERSION = 2
TEMP_SUFFIX = ".tmp"
TOMB_SUFFIX = ".gone"
HISTORY_SUFFIX = ".visits"
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

    def tomb_path(self, key: str) -> Path:
        """Where a forgotten site's tombstone lives (beside its document, so under its stripe)."""
        return self.site_path(key).with_suffix(TOMB_SUFFIX)

    def history_path(self, key: str) -> Path:
        """Where a site's visit history lives (beside its document, so under its stripe)."""
        return self.site_path(key).with_suffix(HISTORY_SUFFIX)

    def stripe_path(self, index: int) -> Path:
        return self.locks / f"stripe-{index:02d}.lock"

    @staticmethod
    def stripe_for(key: str) -> int:
        """The lock stripe guarding a site's file."""
        return stripe_of_name(file_name(key))

    def create(self) -> str | None:
        """Create the directories (mode 0700) and the format marker, or check an existing marker;
        the store's origin id, or ``None`` for a version-1 store (see :meth:`upgrade`)."""
        for directory in (self.root, self.sites, self.locks):
            try:
                directory.mkdir(mode=0o700, parents=directory is self.root)
            except FileExistsError:
                # The root may be a link the user made; what is inside is ours and must be real.
                st = directory.stat() if directory is self.root else directory.lstat()
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(f"{directory} exists and is not a directory") from None
        marker = self.read_marker()
        if marker is None:
            self._create_marker()
            marker = self.read_marker()
            assert marker is not None
        origin = marker.get("origin")
        if marker["version"] >= 2 and (not isinstance(origin, str) or not origin):
            raise StoreFormatError(f"{self.marker} names no origin")
        return origin if marker["version"] >= 2 else None

    def read_marker(self) -> dict[str, Any] | None:
        """The checked format marker, or ``None`` when there is none yet."""
        try:
            got = read_file(self.marker)
        except NotADocument as exc:
            raise StoreFormatError(f"{self.root} is not a sitememory store: {exc}") from None
        if got is None:
            return None
        try:
            marker = json.loads(got[0])
        except ValueError:
            raise StoreFormatError(f"{self.marker} is not valid JSON") from None
        if not isinstance(marker, dict) or marker.get("format") != STORE_FORMAT:
            raise StoreFormatError(f"{self.root} is not a sitememory store")
        if not isinstance(marker.get("version"), int) or marker["version"] > STORE_VERSION:
            raise VersionTooNew(f"store version {marker.get('version')!r} is newer than this "
                                f"library ({STORE_VERSION}); upgrade sitememory-plugin")
        return marker

    def upgrade(self, marker: dict[str, Any]) -> str:
        """Write the version-2 marker over a version-1 one, with a new origin id; the caller
        holds the whole store, so that one origin is made, once."""
        origin = new_origin()
        self._write_marker({**marker, "origin": origin}, lambda tmp: os.replace(tmp, self.marker))
        return origin

    def _create_marker(self) -> None:
        # Many processes may open a new store at once: each writes its own temp file and links it
        # into place, so the marker appears complete, once, and a loser simply finds it there.
        def link(tmp: Path) -> None:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.marker)

        self._write_marker({"origin": new_origin()}, link)

    def _write_marker(self, fields: dict[str, Any], place: Callable[[Path], None]) -> None:
        """A complete marker in a temp file of this process, put in place by ``place``."""
        doc = json.dumps({**fields, "format": STORE_FORMAT, "version": STORE_VERSION}).encode()
        tmp = self.root / f".store.json.{os.getpid()}.{time.time_ns()}{TEMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                os.write(fd, doc)
                os.fsync(fd)
            finally:
                os.close(fd)
            place(tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        fsync_path(self.root)

    def site_files(self) -> Iterator[Path]:
        """Every site document, in no particular order. O(number of sites)."""
        return self._shard_entries(lambda name: name.endswith(".json") and not name.startswith("."))

    def tomb_files(self) -> Iterator[Path]:
        """Every tombstone of a forgotten site."""
        return self._shard_entries(lambda name: name.endswith(TOMB_SUFFIX) and not name.startswith("."))

    def temp_files(self) -> Iterator[Path]:
        """Temporary files left by writers that died before their rename."""
        return self._shard_entries(lambda name: name.startswith(".") and name.endswith(TEMP_SUFFIX))

    def _shard_entries(self, match: Callable[[str], bool]) -> Iterator[Path]:
        """Every file in a shard directory whose name ``match`` accepts."""
        for shard in _scandir(self.sites):
            if shard.is_dir(follow_symlinks=False):
                for entry in _scandir(Path(shard.path)):
                    if match(entry.name):
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
    """The file name a temp file (see :func:`temp_name`) is renamed to."""
    return temp_name[1:].removesuffix(TEMP_SUFFIX)


def temp_name(name: str) -> str:
    """The one temp file of a site's document ``name``. Only the holder of the site's lock writes
    it, so a fixed name is safe, and a temp file left by a crash is reused by the next writer."""
    return f".{name}{TEMP_SUFFIX}"


def read_file(path: Path) -> tuple[bytes, os.stat_result] | None:
    """Bytes and ``fstat`` of the regular file ``path``, or ``None`` if it does not exist.

    Never follows a symbolic link, never blocks on a FIFO, and reads at most
    :data:`~.bounds.MAX_READ_BYTES`: anything else planted at ``path`` is a
    :class:`NotADocument`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotADocument(f"{path} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotADocument(f"{path} is not a regular file")
        if st.st_size > MAX_READ_BYTES:
            raise NotADocument(f"{path} is {st.st_size} bytes, larger than any document")
        chunks = []
        size = 0
        while chunk := os.read(fd, max(st.st_size, 4096) + 1):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_READ_BYTES:
                raise NotADocument(f"{path} grew larger than any document")
        return b"".join(chunks), st
    finally:
        os.close(fd)


class NotADocument(StoreFormatError):
    """Something other than a document was planted where one belongs."""


class ShardDir:
    """A shard directory held open, so that its files are written where the store is: a shard
    (or ``sites``) replaced by a symbolic link is refused instead of followed outside."""

    def __init__(self, path: Path, *, create: bool, durable: bool) -> None:
        sites = _open_store_dir(path.parent)
        try:
            try:
                self.fd = _open_store_dir(Path(path.name), dir_fd=sites)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path.name, 0o700, dir_fd=sites)
                if durable:
                    os.fsync(sites)
                self.fd = _open_store_dir(Path(path.name), dir_fd=sites)
        finally:
            os.close(sites)

    def __enter__(self) -> ShardDir:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def open_dir(path: str | os.PathLike[str], refusal: str, dir_fd: int | None = None) -> int:
    """A descriptor of the directory ``path``, never through a symbolic link: a link (or a
    non-directory) there is an ``OSError`` saying ``refusal``."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(exc.errno, refusal, os.fspath(path)) from None
        raise


def _open_store_dir(path: Path, dir_fd: int | None = None) -> int:
    return open_dir(path, "not a directory of the store (a symbolic link?): refusing to write "
                    "outside the store", dir_fd)


def write_atomic(
    path: Path, data: bytes, *, durable: bool, keep_open: bool = False, temp: str | None = None,
    renamed: Callable[[], None] | None = None,
) -> tuple[os.stat_result, int | None]:
    """Replace ``path`` with ``data`` atomically: temp file, fsync, rename, fsync of the directory.

    Readers see the old file or the new one, never a part. On any error before the rename (a
    full disk, a read-only directory) the temp file is removed, the old file is untouched, and
    the ``OSError`` propagates. After the rename the write has happened: a failing directory
    fsync is logged as an error, not raised. Returns the ``fstat`` of the new file and, with
    ``keep_open``, a read-only descriptor of it that the caller must close.

    The temp file (``temp``, default :func:`temp_name` of ``path``) is created afresh and never
    through a symbolic link, and the directory is held open throughout, so nothing planted in the
    store can redirect the write. ``renamed`` is called right after the rename: from then on the
    write has happened, whatever is raised.
    """
    tmp = temp or temp_name(path.name)
    with ShardDir(path.parent, create=True, durable=durable) as shard:
        fd = _create(tmp, shard.fd)
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
                fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=shard.fd)
            os.replace(tmp, path.name, src_dir_fd=shard.fd, dst_dir_fd=shard.fd)
            if renamed is not None:
                renamed()
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=shard.fd)
            raise
        if durable:
            try:
                fsync_dir(shard.fd)
            except OSError as exc:
                # The new file is in place and visible: raising would make a caller retry and
                # apply the update twice. Say loudly that it may not survive a power loss.
                log.error("wrote %s but could not fsync its directory (%s): the write may not "
                          "survive a power loss", path, exc)
    return st, fd if keep_open else None


def _create(name: str, dir_fd: int) -> int:
    """A new temp file ``name``; whatever was left there (a crashed writer's file, or something
    planted: a link, a FIFO) is removed first, as only the lock holder writes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        os.unlink(name, dir_fd=dir_fd)
        return os.open(name, flags, 0o600, dir_fd=dir_fd)


def fsync_dir(fd: int) -> None:
    os.fsync(fd)


def fsync_path(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quarantine(path: Path) -> Path:
    """Move a corrupt file aside as ``<name>.corrupt-<UTC time>`` and return its new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}-{time.time_ns() % 10**9:09d}")
    with ShardDir(path.parent, create=False, durable=False) as shard:
        os.replace(path.name, target.name, src_dir_fd=shard.fd, dst_dir_fd=shard.fd)
    return target


def remove(path: Path, *, durable: bool) -> bool:
    """Delete ``path``; ``False`` if it was not there."""
    try:
        with ShardDir(path.parent, create=False, durable=durable) as shard:
            os.unlink(path.name, dir_fd=shard.fd)
            if durable:
                fsync_dir(shard.fd)
    except FileNotFoundError:
        return False
    return True
