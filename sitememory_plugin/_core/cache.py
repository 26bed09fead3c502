"""In-memory TTL cache of site profiles, revalidated by a cheap signature instead of a re-parse.

Each entry keeps the *signature* of the state it holds: for the file store, the file's identity
from ``stat``; for the Redis store, the site's version number. After the TTL, a backend checks
the signature (one ``stat``, or one round trip) and re-reads only when it changed.

Files in the store are never modified in place (every write is a rename of a new file), so a
file's identity (inode, size, mtime) names its content. The one trap is a coarse file-system
clock: a file replaced within the same clock tick, reusing a freed inode and with the same size,
would look unchanged. Like git's "racy" index entries, an entry recorded within
:data:`RACY_NS` of its file's mtime is never trusted on ``stat`` alone, unless it is *pinned*:
for a file this process wrote, the cache may keep the written descriptor open, so the inode cannot
be freed and reused, and the same inode at the path then proves the same content. That lets an
update skip re-reading and re-parsing the file it wrote last, even a moment ago.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")
#: What proves an entry current: a file's (dev, inode, size, mtime), or a Redis version.
Signature = Hashable
#: Larger than any file-system timestamp granularity we expect on Linux (a jiffy is 1 to 10 ms).
RACY_NS = 100_000_000
#: At most this many descriptors held open for pinned entries of one cache (the sites it wrote
#: last), and of all caches in the process, so that many memories cannot exhaust the fd limit.
MAX_PINS = 64
MAX_PINS_PER_PROCESS = 256
_pins_in_process = 0
_pins_lock = threading.Lock()


#: Default of :meth:`TTLCache.put`'s ``unless_changed_from``: store unconditionally.
ANY = object()


def signature(st: os.stat_result | None) -> Signature | None:
    """A file's signature, or ``None`` for a missing file."""
    return None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def is_fresh(checked_at: float, now: float, ttl: float | None) -> bool:
    """Whether an entry checked at ``checked_at`` may be served at ``now`` without a ``stat``."""
    if ttl is None:
        return True
    return ttl > 0 and now - checked_at < ttl


def is_racy(st: os.stat_result, wall_ns: int) -> bool:
    """Whether a file may still change without its signature changing (see module docstring)."""
    return wall_ns - st.st_mtime_ns < RACY_NS


@dataclass
class Entry(Generic[V]):
    value: V | None  # None: the site is not in the store
    signature: Signature | None
    checked_at: float
    racy: bool  # the signature alone cannot prove the entry current
    pin: int | None = None  # an open descriptor of the file, owned by the cache


class TTLCache(Generic[V]):
    """Entries by site key. ``ttl`` ``None`` never expires; ``0`` revalidates every read."""

    def __init__(self, ttl: float | None, maxsize: int = 10_000) -> None:
        if ttl is not None and ttl < 0:
            raise ValueError("cache_ttl must be >= 0 or None")
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries: dict[str, Entry[V]] = {}
        # Pinned descriptors by key, oldest first; the one owner that closes them, also when the
        # cache is collected without clear().
        self._pinned: dict[str, int] = {}
        self._lock = threading.Lock()
        weakref.finalize(self, _close_all, self._pinned)

    def after_fork(self) -> None:
        """In a forked child: a lock held by another thread of the parent would never be freed."""
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry[V] | None:
        return self._entries.get(key)

    def put(
        self, key: str, value: V | None, sig: Signature | None, now: float, racy: bool = False,
        pin: int | None = None, *, unless_changed_from: Entry[V] | object | None = ANY,
    ) -> None:
        """Cache ``value`` read or written with signature ``sig``; ``pin``, if given, now belongs
        to the cache.

        With ``unless_changed_from`` (the entry seen before an unlocked read), nothing is stored
        if another thread cached something meanwhile: it is at least as new as what was read.
        """
        entry = Entry(value, sig, now, racy, pin)
        with self._lock:
            if unless_changed_from is not ANY and self._entries.get(key) is not unless_changed_from:
                if pin is not None:
                    os.close(pin)
                return
            self._unpin(key, self._entries.pop(key, None))
            self._entries[key] = entry
            if pin is not None:
                if len(self._pinned) >= MAX_PINS:
                    oldest = next(iter(self._pinned))
                    self._unpin(oldest, self._entries.get(oldest))
                if _take_pin():
                    self._pinned[key] = pin
                else:  # the process's budget is spent: an unpinned entry is merely re-read
                    entry.pin = None
                    os.close(pin)
            while len(self._entries) > self.maxsize:
                # Oldest insertion first: cheap, and good enough for a working set of sites.
                oldest = next(iter(self._entries))
                self._unpin(oldest, self._entries.pop(oldest))

    def confirm(self, entry: Entry[V], current: Signature | None, now: float) -> bool:
        """True (and the entry's TTL restarts) if signature ``current`` proves it still current."""
        with self._lock:
            if current != entry.signature or (entry.racy and entry.pin is None):
                return False
            entry.checked_at = now
            return True

    def pinned(self, key: str, sig: Signature | None) -> tuple[bool, V | None]:
        """``(True, value)`` if ``key`` is pinned and ``sig`` is its file's: no need to read it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.pin is None or sig is None or sig != entry.signature:
                return False, None
            return True, entry.value

    def drop(self, key: str) -> None:
        with self._lock:
            self._unpin(key, self._entries.pop(key, None))

    def clear(self) -> None:
        """Forget everything and close every pinned descriptor."""
        with self._lock:
            for key, entry in self._entries.items():
                self._unpin(key, entry)
            self._entries.clear()

    def _unpin(self, key: str, entry: Entry[V] | None) -> None:
        # Called with the lock held.
        fd = self._pinned.pop(key, None)
        if entry is not None:
            entry.pin = None
        if fd is not None:
            os.close(fd)
            _give_pin(1)


def _after_fork_in_child() -> None:
    global _pins_lock
    _pins_lock = threading.Lock()  # a parent thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def _take_pin() -> bool:
    global _pins_in_process
    with _pins_lock:
        if _pins_in_process >= MAX_PINS_PER_PROCESS:
            return False
        _pins_in_process += 1
        return True


def _give_pin(count: int) -> None:
    global _pins_in_process
    with _pins_lock:
        _pins_in_process -= count


def _close_all(pinned: dict[str, int]) -> None:
    for fd in pinned.values():
        os.close(fd)
    _give_pin(len(pinned))
    pinned.clear()
