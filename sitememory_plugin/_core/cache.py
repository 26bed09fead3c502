"""In-memory TTL cache of site profiles, revalidated by ``stat`` instead of a re-parse.

Files in the store are never modified in place (every write is a rename of a new file), so a
file's identity (inode, size, mtime) names its content. The one trap is a coarse file-system
clock: a file replaced within the same clock tick, reusing a freed inode and with the same size,
would look unchanged. Like git's "racy" index entries, an entry recorded within
:data:`RACY_NS` of its file's mtime is never trusted on ``stat`` alone.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")
Signature = tuple[int, int, int, int]
#: Larger than any file-system timestamp granularity we expect on Linux (a jiffy is 1 to 10 ms).
RACY_NS = 100_000_000


def signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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
    value: V | None  # None: the site has no file
    signature: Signature | None
    checked_at: float
    racy: bool


class TTLCache(Generic[V]):
    """Entries by site key. ``ttl`` ``None`` never expires; ``0`` revalidates every read."""

    def __init__(self, ttl: float | None, maxsize: int = 10_000) -> None:
        if ttl is not None and ttl < 0:
            raise ValueError("cache_ttl must be >= 0 or None")
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries: dict[str, Entry[V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry[V] | None:
        return self._entries.get(key)

    def put(
        self, key: str, value: V | None, st: os.stat_result | None, now: float, wall_ns: int
    ) -> None:
        entry = Entry(
            value,
            None if st is None else signature(st),
            now,
            st is not None and is_racy(st, wall_ns),
        )
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry
            while len(self._entries) > self.maxsize:
                # Oldest insertion first: cheap, and good enough for a working set of sites.
                del self._entries[next(iter(self._entries))]

    def confirm(self, entry: Entry[V], st: os.stat_result | None, now: float) -> bool:
        """True (and the entry's TTL restarts) if ``st`` proves the entry still current."""
        current = None if st is None else signature(st)
        if current != entry.signature or entry.racy:
            return False
        entry.checked_at = now
        return True

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
