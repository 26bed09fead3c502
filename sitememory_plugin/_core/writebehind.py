"""Write-behind: updates wait in memory and are merged into the store under its locks at flush.

Pending updates are values (see :mod:`.updates`), applied at flush time to whatever is stored then,
so batching never overwrites what another process wrote meanwhile. Reads in this process see
pending updates at once. An update is either accepted (and will be written) or refused with an
error and not queued: when ``max_pending`` are waiting, the caller flushes first, and an update
that still finds no room raises.

One thread per process flushes every buffer at its interval (:class:`_Flusher`); it holds a
buffer with pending updates strongly, so a memory dropped without ``close()`` is still flushed.
What is pending when the process ends is flushed: at interpreter exit, when a multiprocessing
worker returns (``fork`` and ``forkserver`` workers end in ``os._exit``, past ``atexit``), and on
SIGTERM (``Pool.terminate()``, the end of a ``with Pool()`` block) unless the program handles
SIGTERM itself. SIGKILL, another signal at its default action, ``os._exit`` (a plain
``os.fork`` child ends so) or a crash loses them.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import uuid
from types import FrameType

from .errors import LockTimeout, StoreFormatError
from .models import SiteProfile
from .storage import BatchId, Storage, live
from .updates import Update, apply_all, coalesce, creates

log = logging.getLogger("sitememory.writebehind")

#: Seconds a SIGTERM waits for pending updates to be written before the process dies.
SIGTERM_GRACE = 10.0


class WriteBehind:
    """Pending updates per site of one memory, flushed every ``interval`` by the shared flusher."""

    def __init__(self, store: Storage, interval: float, max_pending: int = 10_000) -> None:
        if interval <= 0:
            raise ValueError("flush_interval must be > 0 seconds (or None for write-through)")
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self.store = store
        self.interval = interval
        self.max_pending = max_pending
        self._reset()
        _install_sigterm_flush()

    def _reset(self) -> None:
        #: Names this buffer's batches, so that a batch sent again is never applied twice.
        self.client = uuid.uuid4().hex
        self._seq = 0
        self._count = 0
        self._pending: dict[str, list[Update]] = {}
        #: Sites being written by a flush, and a count of site writes started and ended: a read
        #: that saw it unchanged read the store and the pending updates consistently.
        self._inflight: set[str] = set()
        self._generation = 0
        # Sites whose last write failed: the batch it used and how many leading pending updates
        # it carried. A failure may come after the commit (a lost reply), so exactly that batch
        # is sent again under the same id, which the store recognises instead of applying twice.
        self._retrying: dict[str, tuple[BatchId, int]] = {}
        self._lock = threading.Lock()
        self._written = threading.Condition(self._lock)
        # One flush at a time, so that each site's updates are written in the order they came.
        self._flushing = threading.Lock()

    def after_fork(self) -> None:
        """In a forked child: the parent's pending updates are the parent's to write, and its
        locks may have been held at the fork; the child's batches get their own id."""
        self._reset()

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.max_pending

    def add(self, key: str, update: Update) -> None:
        """Queue ``update`` (call :meth:`make_room` first when :attr:`full`)."""
        with self._lock:
            self._pending.setdefault(key, []).append(update)
            self._count += 1
        _FLUSHER.schedule(self)
        register_exit_hook()

    def make_room(self) -> None:
        """Flush when ``max_pending`` updates wait (backpressure); raise the flush's error if that
        leaves no room, so that the caller's update is refused rather than queued."""
        if not self.full:
            return
        try:
            self.flush()
        except Exception:
            if self.full:
                raise

    def has(self, key: str) -> bool:
        """Whether ``key`` has updates pending or being flushed (reads then go through :meth:`read`)."""
        return key in self._pending or key in self._inflight

    def read(self, key: str) -> SiteProfile | None:
        """The stored state of ``key`` with this process's pending updates applied on top, as
        they will be (those made before a forget, skipped).

        Waits only while this site is being written, never for the rest of a flush."""
        while True:
            with self._lock:
                while key in self._inflight:
                    self._written.wait()
                seen = self._generation
            profile = self.store.state(key)
            with self._lock:
                if self._generation == seen:
                    ops = list(self._pending.get(key, ()))
                    break
        if ops:
            base = profile or SiteProfile(key)
            applied = apply_all(base, coalesce(ops), self.store.origin, waited=True)
            # Updates that change nothing make no site of nothing, as the store will not write one.
            profile = profile if applied is base and not creates(ops) else applied
        return live(profile)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def discard(self, key: str) -> bool:
        """Drop the site's pending updates (a forget); ``True`` if it had any."""
        with self._lock:
            while key in self._inflight:
                self._written.wait()
            ops = self._pending.pop(key, None)
            self._retrying.pop(key, None)
            self._count -= len(ops or ())
            return ops is not None

    def flush(self) -> int:
        """Write every pending update; returns how many.

        Each site is written on its own, so one failing site never holds back the others. A
        site that failed on a lock timeout or an I/O error stays pending, to be retried, and so
        do the sites behind the same lock, untried (each would wait as long). An update that can
        never be written (a bug) is found by halving its batch and dropped with an error in the
        log; the others are written. A document this version cannot write (a newer one) drops
        its site's updates, with one error. The first error propagates once every site was tried.
        """
        written = 0
        errors: list[Exception] = []
        stuck: set[object] = set()  # locks that timed out in this flush: their sites wait for the next
        with self._flushing:
            for key in self.keys():
                group = self.store.lock_group(key)
                if group in stuck:
                    continue
                with self._lock:
                    ops = self._pending.pop(key, None)
                    if not ops:
                        continue
                    self._count -= len(ops)
                    retry = self._retrying.pop(key, None)
                    self._inflight.add(key)
                    self._generation += 1
                try:
                    failed = len(errors)
                    written += self._write(key, ops, retry, errors)
                    if len(errors) > failed and isinstance(errors[-1], LockTimeout):
                        stuck.add(group)
                finally:
                    with self._lock:
                        self._inflight.discard(key)
                        self._generation += 1
                        self._written.notify_all()
        if not self._pending:
            _FLUSHER.drop(self)  # nothing left to lose: may be collected again
        if errors:
            raise errors[0]
        return written

    def _write(
        self, key: str, ops: list[Update], retry: tuple[BatchId, int] | None, errors: list[Exception]
    ) -> int:
        """Write one site's ``ops``; what cannot be written now goes back to pending."""
        written = 0
        batch, size = retry or (self._batch(), len(ops))
        try:
            while ops:
                try:
                    self.store.update(key, coalesce(ops[:size]), batch)
                except OSError:  # includes LockTimeout and BackendUnavailable: try again later
                    raise
                except StoreFormatError as exc:  # the document's fault (a newer version's): none can
                    log.error("dropping %d pending updates of %s: %s", len(ops), key, exc)
                    errors.append(exc)
                    return written
                except Exception as exc:
                    if size > 1:  # halve the batch until the update that cannot be written is alone
                        batch, size = self._batch(), size // 2
                        continue
                    log.error("dropping a pending update of %s that cannot be written: %r (%r)",
                              key, ops[0], exc)
                    errors.append(exc)
                else:
                    written += size
                ops = ops[size:]
                batch, size = self._batch(), len(ops)
        except BaseException as exc:  # OSError, or an interrupt: keep what was not written
            self._requeue(key, ops, batch, size)
            if not isinstance(exc, OSError):
                raise
            errors.append(exc)
        return written

    def _requeue(self, key: str, ops: list[Update], batch: BatchId, size: int) -> None:
        with self._lock:
            self._pending[key] = ops + self._pending.get(key, [])
            self._retrying[key] = (batch, size)
            self._count += len(ops)
        _FLUSHER.schedule(self)

    def _batch(self) -> BatchId:
        self._seq += 1
        return BatchId(self.client, self._seq)

    def close(self) -> None:
        """Flush what is left. A later update is flushed as before."""
        self.flush()


class _Flusher:
    """The one thread of a process that flushes every buffer with pending updates when due."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[WriteBehind, float] = {}  # strong references: see the module docstring
        # The buffer the thread is flushing: still one for flush_all, which must wait for that
        # flush (the thread is a daemon, killed when the interpreter ends) and write the rest.
        self._busy: WriteBehind | None = None
        self._thread: threading.Thread | None = None

    def after_fork(self) -> None:
        # A forked child owns none of the parent's buffers (each resets its own), nor its thread.
        self._cond = threading.Condition()
        self._due = {}
        self._busy = None
        self._thread = None

    def schedule(self, buffer: WriteBehind) -> None:
        with self._cond:
            if buffer not in self._due:
                self._due[buffer] = time.monotonic() + buffer.interval
                self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sitememory-flusher",
                                                daemon=True)
                self._thread.start()

    def drop(self, buffer: WriteBehind) -> None:
        """Forget a buffer flushed empty (it is scheduled again by its next update)."""
        with self._cond:
            if not buffer._pending:
                self._due.pop(buffer, None)

    def buffers(self) -> list[WriteBehind]:
        """Every buffer with updates pending, the one being flushed included."""
        with self._cond:
            busy = [] if self._busy is None or self._busy in self._due else [self._busy]
            return [*busy, *self._due]

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._due:
                    self._cond.wait(60.0)
                    if not self._due:
                        self._thread = None  # idle: the next schedule() starts another
                        return
                    continue
                delay = min(self._due.values()) - time.monotonic()
                if delay > 0:  # holding no buffer meanwhile: one flushed empty may be collected
                    self._cond.wait(delay)
                    continue
                buffer = min(self._due, key=self._due.__getitem__)
                del self._due[buffer]
                self._busy = buffer
            try:
                buffer.flush()
            except Exception:
                log.exception("write-behind flush failed; updates that failed transiently are retried")
            finally:
                with self._cond:
                    self._busy = None
                del buffer


_FLUSHER = _Flusher()


def flush_all(why: str) -> None:
    """Flush every buffer with pending updates (the process is ending)."""
    for buffer in _FLUSHER.buffers():
        try:
            buffer.flush()
        except Exception:
            log.exception("write-behind flush %s failed: %d updates lost", why, len(buffer))


atexit.register(flush_all, "at exit")


def _after_fork_in_child() -> None:
    _FLUSHER.after_fork()
    _WATCHER.after_fork()
    global _exit_hook_pid
    _exit_hook_pid = 0


os.register_at_fork(after_in_child=_after_fork_in_child)

_exit_hook_pid = 0


def register_exit_hook() -> None:
    """In a multiprocessing worker, flush when it ends: ``fork`` and ``forkserver`` workers end
    in ``os._exit`` after multiprocessing's own exit function, so ``atexit`` never runs there."""
    global _exit_hook_pid
    if _exit_hook_pid == os.getpid():
        return
    _exit_hook_pid = os.getpid()
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        _WATCHER.arm()
    util = sys.modules.get("multiprocessing.util")
    if util is not None:  # a multiprocessing worker has imported it before running our code
        util.Finalize(None, flush_all, args=("as the worker ended",), exitpriority=100)


def _install_sigterm_flush() -> None:
    """Flush pending updates on SIGTERM, then die of it as before, if nobody else handles it."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        _WATCHER.arm()
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main interpreter
        return


class _Watcher:
    """A thread, started before any signal comes, that the SIGTERM handler wakes through a pipe.

    The flush runs there, and the handler returns at once: the main thread it interrupted may
    hold a lock the flush needs (in the middle of a record, or of its own flush), and goes on to
    release it. A handler that started a thread, or took any lock, could deadlock with it.
    """

    def __init__(self) -> None:
        self._pid = 0
        self._fds: tuple[int, int] | None = None

    def arm(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid, self._fds = os.getpid(), os.pipe()
        threading.Thread(target=self._wait, args=(self._fds[0],), name="sitememory-sigterm",
                         daemon=True).start()

    def _wait(self, fd: int) -> None:
        if os.read(fd, 1):
            _flush_then_die()

    def fire(self) -> bool:
        """Wake the thread; ``False`` when this process has none (nothing was ever queued)."""
        if self._pid != os.getpid() or self._fds is None:
            return False
        os.write(self._fds[1], b"t")
        return True

    def after_fork(self) -> None:
        # The parent's pipe is the parent's: the child arms its own when it queues an update.
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
        self._pid, self._fds = 0, None


_WATCHER = _Watcher()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _WATCHER.fire():
        _die()


def _flush_then_die() -> None:
    deadline = threading.Timer(SIGTERM_GRACE, _die)
    deadline.daemon = True
    deadline.start()
    try:
        flush_all("on SIGTERM")
    finally:
        _die()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the default action now: the process ends as it would have
