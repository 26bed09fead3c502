"""Counters of what a store did in this process, and their public snapshot."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, fields

from .models import percentile


@dataclass(frozen=True)
class StoreStats:
    """Counters since the memory was created in this process; lock waits in seconds."""

    cache_hits: int = 0
    cache_misses: int = 0
    cache_revalidations: int = 0
    reads: int = 0
    writes: int = 0
    lock_waits: int = 0
    lock_wait_seconds: float = 0.0
    lock_wait_p50: float | None = None
    lock_wait_p99: float | None = None
    lock_wait_max: float | None = None
    corrupt_files: int = 0
    #: Documents read with values that had to be repaired (then written back repaired).
    repaired_files: int = 0
    #: Write-behind updates discarded because the site was forgotten after they were made.
    forgotten_updates: int = 0
    pending_updates: int = 0
    #: Redis: updates re-applied because another client committed first.
    conflicts: int = 0
    #: Redis: calls repeated after a lost connection or a server still loading.
    backend_retries: int = 0
    #: Visits counted that could not be added to their site's history (a file that could not be
    #: written; on Redis, something planted at its key, which was replaced).
    history_errors: int = 0


#: The fields of :class:`StoreStats` that are not counted but computed by :meth:`Counters.snapshot`.
_COMPUTED = frozenset(("lock_wait_seconds", "lock_wait_p50", "lock_wait_p99", "lock_wait_max",
                       "pending_updates"))
#: The counters: every other field of :class:`StoreStats`.
_COUNTED = tuple(f.name for f in fields(StoreStats) if f.name not in _COMPUTED)


class Counters:
    """The mutable, thread-safe counters behind :class:`StoreStats`."""

    #: How many recent lock waits the percentiles are computed over.
    WAIT_WINDOW = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(_COUNTED, 0)
        self._wait_total = 0.0
        self._waits: deque[float] = deque(maxlen=self.WAIT_WINDOW)

    def after_fork(self) -> None:
        self._lock = threading.Lock()

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._counts[name] += count

    def waited(self, _lock_name: str, seconds: float) -> None:
        with self._lock:
            self._counts["lock_waits"] += 1
            self._wait_total += seconds
            self._waits.append(seconds)

    def snapshot(self, pending: int = 0) -> StoreStats:
        with self._lock:
            waits = tuple(self._waits)
            counts = dict(self._counts)
            total = self._wait_total
        return StoreStats(
            **counts,
            lock_wait_seconds=total,
            lock_wait_p50=percentile(waits, 50),
            lock_wait_p99=percentile(waits, 99),
            lock_wait_max=max(waits, default=None),
            pending_updates=pending,
        )
