"""Shared/exclusive file locks across processes, threads and asyncio tasks.

Each acquisition opens its own descriptor and takes ``flock`` on it through portalocker, so holders
in one process exclude each other exactly as holders in different processes do, and the kernel
frees the lock the moment a holder dies: there are no stale lock files to delete.

An uncontended acquisition is one non-blocking call. A contended one blocks in the kernel on a
short-lived waiter thread instead of polling (portalocker's own timeout polls every 0.25 s): the
waiter wakes the moment the lock is free, and the caller waits on it with its timeout. A waiter
that wins after its caller gave up releases the lock straight away.

A forked child inherits every descriptor, and ``flock`` belongs to the open file, not to the
process: a child holding a copy would keep its parent's lock held until it exited. So the child
closes, at once, every lock descriptor of the parent (held, or waiting in a waiter thread that
the child does not have): it holds nothing it did not take, and the parent's locks are released
when the parent releases them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType

import portalocker

from .errors import LockTimeout
from .files import open_dir

# Flag combinations made once: operations on enum flags cost microseconds each.
_SHARED = portalocker.LockFlags.SHARED
_EXCLUSIVE = portalocker.LockFlags.EXCLUSIVE
_NON_BLOCKING = {
    _SHARED: _SHARED | portalocker.LockFlags.NON_BLOCKING,
    _EXCLUSIVE: _EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING,
}

#: Called with (lock name, seconds waited) after every contended acquisition.
WaitObserver = Callable[[str, float], None]


class ReadWriteLock:
    """A readers-writer lock on a file: ``shared()`` holders exclude ``exclusive()`` holders.

    Use as ``with lock.exclusive():`` or ``async with lock.shared():``. Raises
    :class:`LockTimeout` after ``timeout`` seconds (``None`` waits for ever).
    """

    def __init__(
        self, path: str | os.PathLike[str], timeout: float | None = 10.0,
        on_wait: WaitObserver | None = None, *, confined: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self._dir, self._name = os.path.split(self.path)
        self.timeout = timeout
        self._on_wait = on_wait
        #: Whether the lock file's directory must not be a link either (a store's own locks).
        self.confined = confined
        self._lingering: list[_Waiter] = []
        self._lingering_lock = threading.Lock()
        _LOCKS.add(self)

    def shared(self, timeout: float | None = None) -> Hold:
        return Hold(self, _SHARED, timeout)

    def exclusive(self, timeout: float | None = None) -> Hold:
        return Hold(self, _EXCLUSIVE, timeout)

    def __repr__(self) -> str:
        return f"ReadWriteLock({self.path!r}, timeout={self.timeout!r})"

    def _open(self) -> int:
        # Registered before a fork can copy it (see _before_fork); never through a planted link
        # (O_CREAT would create its target elsewhere).
        with _LIVE_LOCK:
            fd = (self._open_confined() if self.confined else
                  os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
            _LIVE[fd] = None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file: refusing to lock it", self.path)
        except BaseException:
            _close(fd)
            raise
        return fd

    def _open_confined(self) -> int:
        """The lock file, created if need be, opened through its directory held open: neither the
        file nor its directory may be a link (a directory replaced by a link to another one after
        the store was opened would have the file created there)."""
        dir_fd = open_dir(self._dir or ".", "not a directory (a symbolic link?): refusing to "
                          "create a lock file in it")
        try:
            return os.open(self._name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600,
                           dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def _try(self, fd: int, flags: portalocker.LockFlags) -> bool:
        try:
            portalocker.lock(fd, _NON_BLOCKING[flags])
        except portalocker.AlreadyLocked:
            return False
        return True

    def _linger(self, waiter: _Waiter) -> None:
        """Keep a waiter whose caller gave up, for the next caller to adopt: against a holder that
        never lets go, repeated timeouts then cost one blocked thread, not one each."""
        with self._lingering_lock:
            self._lingering.append(waiter)

    def _adopt(self, flags: portalocker.LockFlags) -> _Waiter | None:
        with self._lingering_lock:
            for waiter in list(self._lingering):
                if waiter.flags == flags and waiter.pid == os.getpid():
                    self._lingering.remove(waiter)
                    if waiter.adopt():
                        return waiter
        return None

    def _waited(self, started: float) -> None:
        if self._on_wait is not None:
            self._on_wait(self.path, time.perf_counter() - started)


class Hold:
    """One acquisition of a :class:`ReadWriteLock`; a sync and async context manager."""

    def __init__(
        self, lock: ReadWriteLock, flags: portalocker.LockFlags, timeout: float | None
    ) -> None:
        self._lock = lock
        self._flags = flags
        self._timeout = lock.timeout if timeout is None else timeout
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Block the calling thread until held, or raise :class:`LockTimeout`."""
        waiter = self._start()
        if isinstance(waiter, int):
            self._hold(waiter)
            return
        started = time.perf_counter()
        try:
            won = waiter.done.wait(self._timeout)
        except BaseException:  # interrupted: KeyboardInterrupt, an exception from a signal handler
            self._give_up(waiter)
            raise
        if not won and not self._abandon(waiter):
            raise LockTimeout(self._lock.path, self._timeout or 0.0)
        self._hold(waiter.result())
        self._lock._waited(started)

    async def acquire_async(self) -> None:
        """Like :meth:`acquire`, without blocking the event loop."""
        waiter = self._start()
        if isinstance(waiter, int):
            self._hold(waiter)
            return
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        waiter.on_done(lambda: loop.call_soon_threadsafe(_resolve, woken))
        started = time.perf_counter()
        try:
            # Not wait_for: on Python 3.11 it can swallow a cancellation that arrives just as the
            # lock is won, and the cancelled task would run its critical section anyway.
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(woken)
        except TimeoutError:
            if not self._abandon(waiter):
                raise LockTimeout(self._lock.path, self._timeout or 0.0) from None
        except BaseException:  # cancelled
            self._give_up(waiter)
            raise
        self._hold(waiter.result())
        self._lock._waited(started)

    def _hold(self, fd: int) -> None:
        with _LIVE_LOCK:
            _LIVE[fd] = self
            self._fd = fd

    def release(self) -> None:
        with _LIVE_LOCK:
            fd, self._fd = self._fd, None
        if fd is not None:
            # Closing the last descriptor releases the flock; no explicit unlock needed.
            _close(fd)

    def _start(self) -> int | _Waiter:
        """The descriptor holding the lock if it was free, else a waiter blocked on it."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self._lock.path!r} is already held by this Hold")
        fd = self._lock._open()
        try:
            if self._lock._try(fd, self._flags):
                return fd
        except BaseException:
            _close(fd)
            raise
        # Before giving up at once (timeout 0): a waiter an earlier caller left may hold the lock
        # by now, and then nobody else can take it until it is adopted.
        adopted = self._lock._adopt(self._flags)
        if adopted is not None:
            _close(fd)  # the adopted waiter has its own descriptor, already queued in the kernel
            return adopted
        if self._timeout is not None and self._timeout <= 0:
            _close(fd)
            raise LockTimeout(self._lock.path, 0.0)
        waiter = _Waiter(fd, self._flags)
        waiter.start()
        return waiter

    def _abandon(self, waiter: _Waiter) -> bool:
        """Stop waiting. True if the lock was won meanwhile (the caller has it); otherwise the
        waiter is left for the next caller to adopt, and drops the lock if nobody does."""
        if waiter.finished_in_time():
            return True
        self._lock._linger(waiter)
        return False

    def _give_up(self, waiter: _Waiter) -> None:
        """Stop waiting and hold nothing: a lock won meanwhile is released at once."""
        if self._abandon(waiter):
            with contextlib.suppress(Exception):  # a failed wait has nothing to release
                _close(waiter.result())

    def __enter__(self) -> Hold:
        self.acquire()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    async def __aenter__(self) -> Hold:
        await self.acquire_async()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Waiter(threading.Thread):
    """Blocks in ``flock`` for a caller that may give up; hands over or drops the lock."""

    def __init__(self, fd: int, flags: portalocker.LockFlags) -> None:
        super().__init__(name="sitememory-lock-waiter", daemon=True)
        with _LIVE_LOCK:
            _LIVE[fd] = self
        self.fd = fd
        self.flags = flags
        self.pid = os.getpid()  # a forked child has the object but not the thread
        self.done = threading.Event()
        self._mutex = threading.Lock()
        self._finished = False
        self._abandoned = False
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[], object]] = []

    def run(self) -> None:
        try:
            portalocker.lock(self.fd, self.flags)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
        with self._mutex:
            self._finished = True
            abandoned = self._abandoned
            callbacks = list(self._callbacks)
        if abandoned:
            self.close()
        self.done.set()
        for callback in callbacks:
            with contextlib.suppress(RuntimeError):  # the caller's loop may be closed by now
                callback()

    def on_done(self, callback: Callable[[], object]) -> None:
        with self._mutex:
            if not self._finished:
                self._callbacks.append(callback)
                return
        callback()

    def adopt(self) -> bool:
        """Take over an abandoned wait; False if it already ended (it released the lock)."""
        with self._mutex:
            if self._finished:
                return False
            self._abandoned = False
            return True

    def finished_in_time(self) -> bool:
        """True if the lock was won; otherwise mark the wait abandoned (the waiter cleans up)."""
        with self._mutex:
            if self._finished:
                return True
            self._abandoned = True
            return False

    def result(self) -> int:
        """The descriptor holding the lock, for the caller's :class:`Hold` to own."""
        if self._error is not None:
            self.close()
            raise self._error
        return self.fd

    def close(self) -> None:
        with _LIVE_LOCK:
            mine = _LIVE.get(self.fd) is self
        if mine:
            _close(self.fd)


#: Every lock descriptor of this process, and who has it: a :class:`Hold`, a :class:`_Waiter`, or
#: ``None`` while an acquisition is being tried.
_LIVE: dict[int, Hold | _Waiter | None] = {}
_LIVE_LOCK = threading.Lock()
#: Every lock, so that a forked child can reset their thread locks.
_LOCKS: weakref.WeakSet[ReadWriteLock] = weakref.WeakSet()


def _close(fd: int) -> None:
    with _LIVE_LOCK:
        _LIVE.pop(fd, None)
        os.close(fd)


def _before_fork() -> None:
    _LIVE_LOCK.acquire()  # no descriptor is half-registered while the process is copied


def _after_fork_in_parent() -> None:
    _LIVE_LOCK.release()


def _after_fork_in_child() -> None:
    """Close the parent's lock descriptors: the child's copies of its holds hold nothing."""
    global _LIVE_LOCK
    for fd, owner in _LIVE.items():
        with contextlib.suppress(OSError):
            os.close(fd)
        if isinstance(owner, Hold):
            owner._fd = None
        elif isinstance(owner, _Waiter):
            # Its thread does not exist here, and no thread of the child waits for it (setting
            # its event could block on a lock a parent thread held at the fork).
            owner._abandoned = owner._finished = True
            owner._error = OSError(errno.EBADF, "a lock wait does not survive a fork")
    _LIVE.clear()
    _LIVE_LOCK = threading.Lock()
    for lock in list(_LOCKS):
        lock._lingering = []
        lock._lingering_lock = threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
