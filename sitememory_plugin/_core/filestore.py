"""The file store: one JSON document per site in a directory, updated by locked read-modify-write.

Blocking by design: the sync API calls it directly, the async API runs it on worker threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from . import files, historyfile
from .cache import ANY, Entry, TTLCache, is_racy, signature
from .documents import Parsed, encode, parse
from .errors import LockTimeout, StoreFormatError, VersionTooNew
from .files import STRIPES, Layout
from .history import VisitRecord
from .historyfile import Cursor
from .keys import key_from_file_name
from .locks import ReadWriteLock
from .merge import merge
from .models import SiteProfile
from .stats import Counters
from .storage import Backend, BatchId, Committed, Durability, note_forgotten
from .updates import Update, apply_all, creates, history_of

log = logging.getLogger("sitememory.filestore")

#: Seconds between looks at a history file that a reader follows.
_FOLLOW_POLL = 0.2


class FileStore(Backend):
    """Site documents under ``root``, shared safely by any number of threads and processes."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        lock_timeout: float = 10.0,
        cache_ttl: float | None = 60.0,
        durability: Durability = "fsync",
    ) -> None:
        if durability not in ("fsync", "none"):
            raise ValueError(f"durability must be 'fsync' or 'none', not {durability!r}")
        if lock_timeout is not None and lock_timeout < 0:
            raise ValueError("lock_timeout must be >= 0")
        self.layout = Layout(root)
        self.durable = durability == "fsync"
        self.cache: TTLCache[SiteProfile] = TTLCache(cache_ttl)
        self.stats = Counters()
        self._stripes = [
            ReadWriteLock(self.layout.stripe_path(i), lock_timeout, self.stats.waited, confined=True)
            for i in range(STRIPES)
        ]
        self._origin = ""
        self._committed = Committed()
        self._opened = False
        self._open_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create the store if needed, upgrade an older one, and clean temp files left by crashed
        writers. Idempotent."""
        if self._opened:
            return
        with self._open_lock:
            if not self._opened:
                origin = self.layout.create()
                if origin is None:
                    origin = self._upgrade()
                self._origin = origin
                self._clean_temp_files()
                self._opened = True

    def _upgrade(self) -> str:
        """A version-1 store gets its origin id, once, while no update runs (documents are
        upgraded one by one as they are next written: see :mod:`.models`)."""
        with self._hold_all():
            marker = self.layout.read_marker()
            assert marker is not None
            if marker["version"] >= 2:
                return str(marker["origin"])
            origin = self.layout.upgrade(marker)
        log.info("upgraded the store at %s to version %d", self.layout.root, files.STORE_VERSION)
        return origin

    def after_fork(self) -> None:
        """In a forked child: fresh locks (another parent thread may have held one at the fork)."""
        self._open_lock = threading.Lock()
        self._committed.after_fork()
        self.cache.after_fork()
        self.stats.after_fork()

    @property
    def opened(self) -> bool:
        return self._opened

    @property
    def location(self) -> str:
        return str(self.layout.root)

    def identity(self) -> str:
        return f"file:{os.path.realpath(self.layout.root)}"

    def _clean_temp_files(self) -> None:
        # A temp file is live while its writer holds the stripe of its final name (an update
        # holds one stripe, maintenance all): if we can take that stripe now, it is stale.
        for tmp in self.layout.temp_files():
            stripe = self._stripes[files.stripe_of_name(files.final_name(tmp.name))]
            with contextlib.suppress(LockTimeout), stripe.exclusive(timeout=0):
                tmp.unlink(missing_ok=True)
                log.info("removed temp file left by a crashed writer: %s", tmp)

    # -- reads -------------------------------------------------------------------------------

    def read(self, key: str) -> SiteProfile | None:
        """The site's profile, from the cache while fresh, else revalidated or read from disk."""
        self.open()
        hit, value = self.cached(key)
        if hit:
            return value
        path = self.layout.site_path(key)
        entry = self.cache.get(key)
        now = time.monotonic()
        if entry is not None and self.cache.confirm(entry, signature(_stat(path)), now):
            self.stats.add("cache_revalidations")
            return entry.value
        self.stats.add("cache_misses")
        return self._load(key, path, locked=False, seen=entry)

    def _load(
        self, key: str, path: Path, *, locked: bool, seen: Entry[SiteProfile] | object | None = ANY
    ) -> SiteProfile | None:
        """Read and parse the site's file and cache it. A corrupt file is moved aside, one that
        had to be repaired is written back repaired: both only under the site's lock.

        ``seen``: the cache entry before an unlocked read; the result is cached only if no other
        thread cached a (newer) state meanwhile.
        """
        try:
            got = files.read_file(path)
            self.stats.add("reads")
            if got is None:
                self.cache.put(key, None, None, time.monotonic(), unless_changed_from=seen)
                return None
            data, st = got
            parsed = parse(data, key, time.time())
        except VersionTooNew:
            raise
        except StoreFormatError as exc:
            if not locked:
                # Move it aside only under the site's lock, and only if it is still the same bad file.
                with self._site_lock(key):
                    return self._load(key, path, locked=True)
            self._quarantine(path, exc)
            return None
        if parsed.repaired:
            if not locked:
                with self._site_lock(key):
                    return self._load(key, path, locked=True)
            return self._repair(key, path, parsed)
        self._cache(key, parsed.profile, st, unless_changed_from=seen)
        return parsed.profile

    def _repair(self, key: str, path: Path, parsed: Parsed) -> SiteProfile:
        """Write a document back as reading repaired it, once; the caller holds its lock."""
        log.warning("site file %s had %s; written back repaired", path, ", ".join(parsed.repaired))
        self.stats.add("repaired_files")
        try:
            return self._write(key, parsed.profile, from_tomb=False)
        except OSError as exc:  # a read-only store still reads
            log.info("could not write back %s: %s", path, exc)
            return parsed.profile

    def read_locked(self, key: str) -> SiteProfile | None:
        """The site's state on disk, bypassing the cache, its tombstone if it was forgotten; the
        caller holds its lock."""
        profile = self._load(key, self.layout.site_path(key), locked=True)
        tomb = self._tomb(key, locked=True)
        if tomb is None or profile is None:
            return profile if tomb is None else tomb
        # Both: written by a process that cannot see tombstones (the previous version), or left
        # by a crash between the two files. The forget still counts: joined in, once.
        return self._write(key, merge(profile, tomb), from_tomb=True)

    def state(self, key: str) -> SiteProfile | None:
        """:meth:`read`, or the site's tombstone if it was forgotten."""
        profile = self.read(key)
        return profile if profile is not None else self._tomb(key, locked=False)

    def _tomb(self, key: str, *, locked: bool) -> SiteProfile | None:
        path = self.layout.tomb_path(key)
        try:
            got = files.read_file(path)
            return None if got is None else parse(got[0], key).profile
        except VersionTooNew:
            raise
        except StoreFormatError as exc:
            if locked:
                self._quarantine(path, exc)
            return None

    def _quarantine(self, path: Path, reason: Exception) -> None:
        moved = files.quarantine(path)
        self.stats.add("corrupt_files")
        log.warning("corrupt site file %s moved aside to %s (%s); the site starts fresh",
                    path, moved.name, reason)

    # -- writes ------------------------------------------------------------------------------

    def update(self, key: str, updates: Sequence[Update], batch: BatchId | None = None) -> SiteProfile:
        """Apply ``updates`` to the site's state on disk under its exclusive lock; return it.

        A write can fail after its rename (an interrupt during the directory's fsync): the
        ``batch`` of a write-behind buffer is remembered once renamed, so that sending it again
        changes nothing.
        """
        return self._update(key, updates, batch)[1]

    def _update(
        self, key: str, updates: Sequence[Update], batch: BatchId | None = None
    ) -> tuple[SiteProfile | None, SiteProfile]:
        """The state before (``None`` for none, or a tombstone) and after ``updates``."""
        self.open()
        path = self.layout.site_path(key)
        with self._site_lock(key):
            known, current = self.cache.pinned(key, signature(_stat(path)))
            if not known:
                current = self.read_locked(key)
            if batch is not None and self._committed.done(batch, key):
                return current, current or SiteProfile(key)
            base = current or SiteProfile(key)
            kept: list[Update] = []
            profile = apply_all(base, updates, self._origin, waited=batch is not None, kept=kept)
            note_forgotten(self.stats, key, batch, current, updates)
            if profile is base and (current is not None or not creates(updates)):
                # Nothing changed (updates that came after a forget, a result for an entry the
                # site does not have): nothing to write, and no site made of nothing.
                return current, current or base
            profile = self._write(key, profile, from_tomb=current is not None and current.gone,
                                  renamed=None if batch is None else lambda: self._committed.add(batch, key))
            self._add_history(key, kept, gone=profile.gone)
        return current, profile

    def _add_history(self, key: str, applied: list[Update], *, gone: bool) -> None:
        """Append the visits just counted to the site's history (clear it if they forgot the
        site). After the document is in place, so never raised: the update has happened, and a
        retry would count it twice. A history that cannot be written is logged and counted."""
        cleared, records = history_of(applied)
        if not (cleared or gone or records):
            return
        path = self.layout.history_path(key)
        try:
            if cleared or gone:
                historyfile.remove(path)
            if records and not gone:
                historyfile.append(path, records, temp=files.temp_name(self.layout.site_path(key).name))
        except (OSError, StoreFormatError) as exc:  # StoreFormatError: something planted there
            self.stats.add("history_errors")
            log.error("counted %d visits of %s but could not add them to its history %s: %s",
                      len(records), key, path, exc)

    # -- history -----------------------------------------------------------------------------

    def history(self, key: str, limit: int | None = None) -> list[VisitRecord]:
        """The site's last ``limit`` visits (all it keeps for ``None``), oldest first."""
        self.open()
        return historyfile.read(self.layout.history_path(key), limit)

    def put_history(self, key: str, records: Sequence[VisitRecord]) -> None:
        """Make ``records`` the site's history; the caller holds :meth:`maintenance`."""
        historyfile.write(self.layout.history_path(key), records,
                          temp=files.temp_name(self.layout.site_path(key).name))

    def history_since(
        self, key: str, cursor: object | None, wait: float = 0.0
    ) -> tuple[list[VisitRecord], object | None]:
        """Visits added after ``cursor`` (all for ``None``) and the cursor after them; waits up to
        ``wait`` seconds for one, polling the file."""
        self.open()
        path = self.layout.history_path(key)
        mine = cursor if isinstance(cursor, Cursor) else None
        deadline = time.monotonic() + wait
        while True:
            records, after = historyfile.since(path, mine)
            left = deadline - time.monotonic()
            if records or left <= 0:
                return records, after
            mine = after
            time.sleep(min(_FOLLOW_POLL, left))

    def _write(
        self, key: str, profile: SiteProfile, *, from_tomb: bool,
        renamed: Callable[[], None] | None = None,
    ) -> SiteProfile:
        """Store ``profile`` (a tombstone beside the live document's name if it is ``gone``);
        the caller holds the site's lock. ``renamed`` is called the moment it is in place."""
        profile, data = encode(profile)
        path = self.layout.site_path(key)
        if profile.gone:
            try:
                # The document's own temp file: a temp file's name tells whose lock guards it.
                files.write_atomic(self.layout.tomb_path(key), data, durable=self.durable,
                                   temp=files.temp_name(path.name), renamed=renamed)
                files.remove(path, durable=self.durable)
            finally:
                self.cache.drop(key)
            self.stats.add("writes")
            self.cache.put(key, None, None, time.monotonic())
            return profile
        try:
            st, pin = files.write_atomic(path, data, durable=self.durable, keep_open=True,
                                         renamed=renamed)
        except BaseException:
            self.cache.drop(key)
            raise
        self.stats.add("writes")
        self._cache(key, profile, st, pin)
        if from_tomb:
            try:
                files.remove(self.layout.tomb_path(key), durable=self.durable)
            except OSError as exc:
                # The document is in place: raising would have the caller write it again. A
                # tombstone left beside it is joined in by the next write, which must read.
                log.error("wrote %s but could not remove its tombstone: %s", path, exc)
                self.cache.drop(key)
        return profile

    def put(self, key: str, profile: SiteProfile) -> None:
        """Write ``profile`` as is (a tombstone takes the site's history with it); the caller
        holds :meth:`maintenance`."""
        self._write(key, profile, from_tomb=self.layout.tomb_path(key).exists())
        if profile.gone:
            historyfile.remove(self.layout.history_path(key))

    def _cache(
        self, key: str, profile: SiteProfile, st: os.stat_result, pin: int | None = None, *,
        unless_changed_from: Entry[SiteProfile] | object | None = ANY,
    ) -> None:
        self.cache.put(key, profile, signature(st), time.monotonic(), is_racy(st, time.time_ns()),
                       pin, unless_changed_from=unless_changed_from)

    def remove_locked(self, key: str) -> bool:
        """Remove a site's document and tombstone; the caller holds :meth:`maintenance`."""
        removed = files.remove(self.layout.site_path(key), durable=self.durable)
        files.remove(self.layout.tomb_path(key), durable=self.durable)
        historyfile.remove(self.layout.history_path(key))
        self.cache.drop(key)
        return removed

    def close(self) -> None:
        """Drop the cache and the descriptors it pins; the store may be used again."""
        self.cache.clear()

    @contextmanager
    def maintenance(self) -> Iterator[None]:
        """Hold the whole store exclusively: every stripe, in order, within one ``lock_timeout``.

        No update runs in any process meanwhile. Updates hold one stripe and maintenance takes
        them in a fixed order, so neither can deadlock the other.
        """
        self.open()
        with self._hold_all():
            yield

    @contextmanager
    def _hold_all(self) -> Iterator[None]:
        timeout = self._stripes[0].timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        with ExitStack() as held:
            for stripe in self._stripes:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    held.enter_context(stripe.exclusive(left))
                except LockTimeout:
                    raise LockTimeout(f"{self.layout.locks} (all stripes)", timeout or 0.0) from None
            yield

    # -- listing -----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every site key in the store, sorted. O(number of sites)."""
        self.open()
        return sorted(self._keys(self.layout.site_files()))

    def tombstones(self) -> list[str]:
        return sorted(self._keys(self.layout.tomb_files()))

    def lock_group(self, key: str) -> int:
        """Sites that share a lock: the stripe."""
        return self.layout.stripe_for(key)

    def _keys(self, paths: Iterator[Path]) -> list[str]:
        found = []
        for path in paths:
            key = key_from_file_name(path.with_suffix(".json").name)
            if key is None:
                key = self._key_from_document(path)
            if key is not None:
                found.append(key)
        return found

    def _key_from_document(self, path: Path) -> str | None:
        # Only the domain is needed: a document of a newer version is still listed.
        try:
            got = files.read_file(path)
            domain = json.loads(got[0]).get("domain") if got is not None else None
        except (ValueError, AttributeError, RecursionError):  # StoreFormatError is a ValueError
            return None
        return domain if isinstance(domain, str) and domain else None

    @contextmanager
    def _site_lock(self, key: str) -> Iterator[None]:
        """The site's stripe, exclusively; a timeout names the site as well as the lock file."""
        hold = self._stripes[self.layout.stripe_for(key)].exclusive()
        try:
            hold.acquire()
        except LockTimeout as exc:
            raise LockTimeout(exc.name, exc.timeout, key) from None
        try:
            yield
        finally:
            hold.release()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
