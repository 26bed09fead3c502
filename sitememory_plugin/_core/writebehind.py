"""Write-behind: updates wait in memory and are merged into the store under its locks at flush.

Pending updates are values (see :mod:`.updates`), applied at flush time to whatever is on disk
then, so batching never overwrites what another process wrote meanwhile. Reads in this process
see pending updates at once. While updates are pending, a module-level set holds the buffer, so
a memory dropped without ``close()`` is still flushed (by its thread, or at exit) rather than
collected with its updates.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable

from .models import SiteProfile
from .storage import Storage
from .updates import Update, apply_all, coalesce

log = logging.getLogger("sitememory")


class WriteBehind:
    """Pending updates per site, and a background thread that flushes them every ``interval``."""

    def __init__(self, store: Storage, interval: float, max_pending: int = 10_000) -> None:
        if interval <= 0:
            raise ValueError("flush_interval must be > 0 seconds (or None for write-through)")
        self.store = store
        self.interval = interval
        self.max_pending = max_pending
        self._count = 0
        self._pending: dict[str, list[Update]] = {}
        self._inflight: dict[str, list[Update]] = {}  # taken by a running flush, not yet written
        # Sites whose last flush failed: the id it used and how many leading pending updates it
        # carried. A failure may come after the commit (a lost reply), so exactly that batch is
        # sent again under the same id, which the store recognises instead of applying twice.
        self._retrying: dict[str, tuple[str, int]] = {}
        self._ops_lock = threading.Lock()
        # Held for a whole flush, and by reads of sites with pending updates, so that a read never
        # sees a batch both on disk and still pending (or in neither place).
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: the parent's pending updates are the parent's to write, its
        flusher thread does not exist here, and its locks may have been held at the fork."""
        self._pending, self._inflight, self._count, self._retrying = {}, {}, 0, {}
        self._ops_lock = threading.Lock()
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None
        self._started = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, key: str, update: Update) -> bool:
        """Queue ``update``; ``True`` when ``max_pending`` is reached and the caller should flush
        (backpressure: pending updates never grow without bound)."""
        with self._ops_lock:
            self._pending.setdefault(key, []).append(update)
            self._count += 1
            full = self._count >= self.max_pending
            _LIVE.add(self)
        self._ensure_thread()
        return full

    def has(self, key: str) -> bool:
        """Whether ``key`` has updates pending or being flushed (reads then go through :meth:`read`)."""
        return key in self._pending or key in self._inflight

    def read(self, key: str, read: Callable[[str], SiteProfile | None]) -> SiteProfile | None:
        """``read(key)`` with this process's pending updates for ``key`` applied on top."""
        with self._flush_lock:
            profile = read(key)
            with self._ops_lock:
                ops = list(self._pending.get(key, ()))
        if not ops:
            return profile
        return apply_all(profile or SiteProfile(key), coalesce(ops))

    def keys(self) -> list[str]:
        with self._ops_lock:
            return list(self._pending)

    def discard(self, key: str) -> bool:
        """Drop the site's pending updates; ``True`` if it had any."""
        with self._flush_lock, self._ops_lock:
            ops = self._pending.pop(key, None)
            self._retrying.pop(key, None)
            self._count -= len(ops or ())
            return ops is not None

    def flush(self) -> int:
        """Write every pending update; returns how many.

        Each site is written on its own, so one failing site never holds back the others. A
        site that failed on a lock timeout or an I/O error stays pending, to be retried; one
        whose updates can never be written (a bug, or a file we refuse to touch) is dropped
        with an error in the log. The first error propagates once every site was tried.
        """
        with self._flush_lock:
            with self._ops_lock:
                batch, self._pending = self._pending, {}
                retrying, self._retrying = self._retrying, {}
                self._inflight = batch
                self._count = 0
            written = 0
            errors: list[BaseException] = []
            retry: dict[str, tuple[str, list[Update]]] = {}
            try:
                for key, ops in batch.items():
                    op, size = retrying.get(key) or (uuid.uuid4().hex, len(ops))
                    try:
                        while ops:
                            self.store.update(key, coalesce(ops[:size]), op)
                            written += size
                            ops = ops[size:]
                            op, size = uuid.uuid4().hex, len(ops)
                    except OSError as exc:  # includes LockTimeout: transient, try again later
                        retry[key] = (op, ops)
                        errors.append(exc)
                    except Exception as exc:
                        log.error("dropping %d pending updates of %s that cannot be written: %r",
                                  len(ops), key, exc)
                        errors.append(exc)
            finally:
                with self._ops_lock:
                    for key, (op, ops) in retry.items():
                        self._pending[key] = ops + self._pending.get(key, [])
                        self._retrying[key] = (op, len(ops))
                        self._count += len(ops)
                    self._inflight = {}
                    if not self._pending:
                        _LIVE.discard(self)  # nothing left to lose: may be collected again
            if errors:
                raise errors[0]
            return written

    def close(self) -> None:
        """Stop the flusher thread, then flush what is left. A later update starts a new one."""
        with self._started:
            thread, self._thread = self._thread, None
            stop, self._stop = self._stop, threading.Event()
        stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_run, args=(weakref.ref(self), self._stop, self.interval),
                    name="sitememory-flusher", daemon=True,
                )
                self._thread.start()


def _run(ref: weakref.ref[WriteBehind], stop: threading.Event, interval: float) -> None:
    # Holds only a weak reference between rounds, so an unclosed memory can still be collected.
    while not stop.wait(interval):
        owner = ref()
        if owner is None:
            return
        try:
            owner.flush()
        except Exception:
            log.exception("write-behind flush failed; updates that failed transiently are retried")
        del owner


# Buffers with pending updates, held strongly until flushed: flushed by one exit handler. A
# forked child owns none of them (each memory resets its own buffer, see SiteMemory).
_LIVE: set[WriteBehind] = set()
os.register_at_fork(after_in_child=_LIVE.clear)


@atexit.register
def _flush_at_exit() -> None:
    for owner in list(_LIVE):
        try:
            owner.flush()
        except Exception:
            log.exception("write-behind flush at exit failed: %d updates lost", len(owner))
