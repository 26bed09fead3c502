"""What a backend is: the small interface ``SiteMemory``, write-behind, import and export use.

Two backends implement it: :class:`~.filestore.FileStore` (a directory, cross-process file
locks) and :class:`~.redisstore.RedisStore` (a Redis server, atomic server-side updates). Both
keep the same :class:`~.cache.TTLCache` of parsed profiles and the same counters; the merge
logic (:mod:`.updates`) and the documents (:mod:`.documents`) are shared, so a backend only
decides how a site's bytes are read, compared and replaced atomically.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from .cache import TTLCache, is_fresh
from .history import VisitRecord
from .models import SiteProfile
from .stats import Counters
from .updates import Forget, Update, before_forget

Durability = Literal["fsync", "none"]

log = logging.getLogger("sitememory.storage")

#: URL schemes served by the Redis backend (those ``redis-py`` understands).
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class BatchId:
    """Names a write-behind batch that may be sent again after a failure whose outcome is unknown
    (a lost reply): ``client`` is the buffer, ``seq`` grows with each of its batches."""

    client: str
    seq: int


class Storage(Protocol):
    """A store of site profiles shared by threads and processes. Every method is blocking."""

    cache: TTLCache[SiteProfile]
    stats: Counters

    @property
    def location(self) -> str:
        """Where the store is, fit to print (a Redis URL without its password)."""

    @property
    def opened(self) -> bool: ...

    @property
    def origin(self) -> str:
        """This store's origin id, which its visit counts are kept under (opens it if needed)."""

    def identity(self) -> str:
        """The same string for every spelling of the same store (opens it if needed)."""

    def open(self) -> None:
        """Connect or create the store if needed; idempotent."""

    def after_fork(self) -> None:
        """In a forked child: drop what belonged to the parent's threads."""

    def close(self) -> None:
        """Drop the cache and connections; the store may be used again."""

    def cached(self, key: str) -> tuple[bool, SiteProfile | None]:
        """``(True, profile)`` when memory can answer without I/O, else ``(False, None)``."""

    def read(self, key: str) -> SiteProfile | None:
        """The site's profile: from the cache while fresh, else revalidated or fetched."""

    def state(self, key: str) -> SiteProfile | None:
        """:meth:`read`, or the site's tombstone (``gone``) if it was forgotten."""

    def lock_group(self, key: str) -> object:
        """Sites that wait for the same lock share a group: when one times out, so would the
        others."""

    def update(self, key: str, updates: Sequence[Update], batch: BatchId | None = None) -> SiteProfile:
        """Apply ``updates`` to the stored state atomically; the new profile.

        ``batch`` names a write-behind batch for a retry after a failure whose outcome is unknown
        (a lost reply): the same batch is never applied twice.
        """

    def delete(self, key: str, at: float) -> bool:
        """Forget a site and every update made before ``at``; ``True`` if anything was known."""

    def history(self, key: str, limit: int | None = None) -> list[VisitRecord]:
        """The site's last ``limit`` visits (all it keeps for ``None``), oldest first."""

    def history_since(
        self, key: str, cursor: object | None, wait: float = 0.0
    ) -> tuple[list[VisitRecord], object | None]:
        """Visits added after ``cursor`` (all for ``None``), in the order they were added, and
        the cursor to pass next time; waits up to ``wait`` seconds for one."""

    def keys(self) -> list[str]:
        """Every site key, sorted."""

    def maintenance(self) -> AbstractContextManager[None]:
        """Hold the whole store: no update commits anywhere until it is released."""

    def read_locked(self, key: str) -> SiteProfile | None:
        """The stored state, bypassing the cache, a tombstone included (``gone``); the caller
        holds :meth:`maintenance`."""

    def put(self, key: str, profile: SiteProfile) -> None:
        """Store ``profile`` as is (a tombstone if ``gone``); the caller holds :meth:`maintenance`."""

    def remove_locked(self, key: str) -> bool:
        """Remove a site and its tombstone for good; the caller holds :meth:`maintenance`."""

    def tombstones(self) -> list[str]:
        """The keys of forgotten sites whose tombstones are kept; the caller holds :meth:`maintenance`."""

    def put_history(self, key: str, records: Sequence[VisitRecord]) -> None:
        """Make ``records`` (oldest first, at most :data:`~.bounds.MAX_HISTORY`) the site's
        history; the caller holds :meth:`maintenance`."""


class CachedReads:
    """The cache-first half of a backend, written once: a fresh entry answers without I/O."""

    cache: TTLCache[SiteProfile]
    stats: Counters

    def cached(self, key: str) -> tuple[bool, SiteProfile | None]:
        entry = self.cache.get(key)
        if entry is not None and is_fresh(entry.checked_at, time.monotonic(), self.cache.ttl):
            self.stats.add("cache_hits")
            return True, live(entry.value)
        return False, None


class Backend(CachedReads):
    """What both backends write alike over their own ``open`` and ``_update``: the origin they
    count visits under, and a forget."""

    _origin: str

    def open(self) -> None:
        raise NotImplementedError

    def _update(
        self, key: str, updates: Sequence[Update], batch: BatchId | None
    ) -> tuple[SiteProfile | None, SiteProfile]:
        """The state before ``updates`` (``None`` for none, or a tombstone) and after."""
        raise NotImplementedError

    @property
    def origin(self) -> str:
        self.open()
        return self._origin

    def delete(self, key: str, at: float) -> bool:
        """Forget a site: its tombstone keeps every update made before ``at`` out."""
        before, _ = self._update(key, (Forget(at),), None)
        return before is not None and not before.gone


class Committed:
    """Write-behind batches this process has committed, the latest per buffer and site (a few
    thousand): a batch sent again after an error that came once it was in place is done."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._seqs: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, batch: BatchId, key: str) -> None:
        with self._lock:
            self._seqs[batch.client, key] = batch.seq
            self._seqs.move_to_end((batch.client, key))
            if len(self._seqs) > self.LIMIT:
                self._seqs.popitem(last=False)

    def done(self, batch: BatchId, key: str) -> bool:
        with self._lock:
            return self._seqs.get((batch.client, key), -1) >= batch.seq

    def after_fork(self) -> None:
        self._lock = threading.Lock()


def note_forgotten(
    stats: Counters, key: str, batch: BatchId | None, before: SiteProfile | None,
    updates: Sequence[Update],
) -> None:
    """Count and say what a forget discarded of a write-behind ``batch`` applied over ``before``:
    its updates that waited and were made before the forget (nothing without a batch)."""
    if batch is None:
        return
    count = before_forget(before, updates)
    if count:
        stats.add("forgotten_updates", count)
        log.info("discarded %d updates of %s made before it was forgotten", count, key)


def new_origin() -> str:
    """A new store's origin id: 64 random bits, so that stores never share one by chance."""
    return secrets.token_hex(8)


def live(profile: SiteProfile | None) -> SiteProfile | None:
    """What a read returns of a cached state: nothing for a forgotten site's tombstone."""
    return None if profile is None or profile.gone else profile


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether a storage location names a Redis server rather than a directory."""
    return isinstance(location, str) and location.startswith(REDIS_SCHEMES)


def open_storage(
    location: str | os.PathLike[str],
    *,
    lock_timeout: float,
    cache_ttl: float | None,
    durability: Durability,
) -> Storage:
    """The backend for ``location``: a Redis URL, else a directory path."""
    if is_url(location):
        from .redisstore import RedisStore

        return RedisStore(str(location), lock_timeout=lock_timeout, cache_ttl=cache_ttl,
                          durability=durability)
    from .filestore import FileStore

    return FileStore(Path(location).expanduser(), lock_timeout=lock_timeout, cache_ttl=cache_ttl,
                     durability=durability)
