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
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from . import files
from .cache import ANY, Entry, TTLCache, is_racy, signature
from .documents import encode, parse
from .errors import LockTimeout, StoreFormatError, VersionTooNew
from .files import STRIPES, Layout
from .keys import key_from_file_name
from .locks import ReadWriteLock
from .models import SiteProfile
from .stats import Counters
from .storage import CachedReads, Durability
from .updates import Update, apply_all

log = logging.getLogger("sitememory")


class FileStore(CachedReads):
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
            ReadWriteLock(self.layout.stripe_path(i), lock_timeout, self.stats.waited)
            for i in range(STRIPES)
        ]
        self._opened = False
        self._open_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create the store if needed and clean temp files left by crashed writers. Idempotent."""
        if self._opened:
            return
        with self._open_lock:
            if not self._opened:
                self.layout.create()
                self._clean_temp_files()
                self._opened = True

    def after_fork(self) -> None:
        """In a forked child: fresh locks (another parent thread may have held one at the fork)."""
        self._open_lock = threading.Lock()
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
        """Read and parse the site's file and cache it; quarantine it if it is corrupt.

        ``seen``: the cache entry before an unlocked read; the result is cached only if no other
        thread cached a (newer) state meanwhile.
        """
        got = files.read_file(path)
        self.stats.add("reads")
        if got is None:
            self.cache.put(key, None, None, time.monotonic(), unless_changed_from=seen)
            return None
        data, st = got
        try:
            profile = parse(data, key)
        except VersionTooNew:
            raise
        except StoreFormatError as exc:
            if not locked:
                # Move it aside only under the site's lock, and only if it is still the same bad file.
                with self._site_lock(key):
                    return self._load(key, path, locked=True)
            self._quarantine(path, exc)
            return None
        self._cache(key, profile, st, unless_changed_from=seen)
        return profile

    def read_locked(self, key: str) -> SiteProfile | None:
        """The site's state on disk, bypassing the cache; the caller holds its lock."""
        return self._load(key, self.layout.site_path(key), locked=True)

    def _quarantine(self, path: Path, reason: Exception) -> None:
        moved = files.quarantine(path)
        self.stats.add("corrupt_files")
        log.warning("corrupt site file %s moved aside to %s (%s); the site starts fresh",
                    path, moved.name, reason)

    # -- writes ------------------------------------------------------------------------------

    def update(self, key: str, updates: Sequence[Update], op: str | None = None) -> SiteProfile:
        """Apply ``updates`` to the site's state on disk under its exclusive lock; return it.

        ``op`` is not needed here: a failed write raised before its rename, so it never happened.
        """
        self.open()
        path = self.layout.site_path(key)
        with self._site_lock(key):
            known, current = self.cache.pinned(key, signature(_stat(path)))
            if not known:
                current = self.read_locked(key)
            profile = apply_all(current or SiteProfile(key), updates)
            data = encode(profile)
            try:
                st, pin = files.write_atomic(path, data, durable=self.durable, keep_open=True)
            except BaseException:
                self.cache.drop(key)
                raise
            self.stats.add("writes")
            self._cache(key, profile, st, pin)
        return profile

    def put(self, key: str, profile: SiteProfile) -> None:
        """Write ``profile`` as is; the caller holds :meth:`maintenance`."""
        st, _ = files.write_atomic(self.layout.site_path(key), encode(profile), durable=self.durable)
        self._cache(key, profile, st)

    def _cache(
        self, key: str, profile: SiteProfile, st: os.stat_result, pin: int | None = None, *,
        unless_changed_from: Entry[SiteProfile] | object | None = ANY,
    ) -> None:
        self.cache.put(key, profile, signature(st), time.monotonic(), is_racy(st, time.time_ns()),
                       pin, unless_changed_from=unless_changed_from)

    def delete(self, key: str) -> bool:
        """Forget a site; ``True`` if it had a file."""
        self.open()
        with self._site_lock(key):
            removed = files.remove(self.layout.site_path(key), durable=self.durable)
            self.cache.drop(key)
        return removed

    def remove_locked(self, key: str) -> bool:
        """:meth:`delete` for a caller that holds :meth:`maintenance`."""
        removed = files.remove(self.layout.site_path(key), durable=self.durable)
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
        found = []
        for path in self.layout.site_files():
            key = key_from_file_name(path.name)
            if key is None:
                key = self._key_from_document(path)
            if key is not None:
                found.append(key)
        return sorted(found)

    def _key_from_document(self, path: Path) -> str | None:
        # Only the domain is needed: a document of a newer version is still listed.
        got = files.read_file(path)
        try:
            domain = json.loads(got[0]).get("domain") if got is not None else None
        except (ValueError, AttributeError, RecursionError):
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
