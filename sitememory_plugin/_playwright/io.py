"""The one part of a handle that differs between Playwright's two APIs: how it reads and writes
the memory, sleeps, runs a flow started by a browser event, and waits for recordings.

Each method returns what the flows yield: a value under the sync API, an awaitable under the
async API (see ``_drive``). ``attach()`` picks one of the two, once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._core.errors import PluginError
from .._core.models import SiteProfile
from .._drive import Flow, run_async, run_sync
from .._hooktypes import SiteUpdates
from .._memory import SiteMemory
from .flows import AFTER_NAVIGATION

log = logging.getLogger("sitememory.playwright")


class Io(Protocol):
    def read(self, key: str) -> Any:
        """The site's profile (``SiteProfile | None``)."""

    def write(self, updates: SiteUpdates) -> Any:
        """Write ``updates`` now; the caller waits."""

    def write_later(self, updates: SiteUpdates) -> Any:
        """Write ``updates`` off the caller's path; a failure is kept for ``settle()``."""

    def sleep(self, seconds: float) -> Any: ...

    def spawn(self, flow: Flow[Any], *, recording: bool = True) -> None:
        """Run a flow started by a browser event (sync: inline, its write queued; async: a task).

        ``recording=False``: not a visit's recording (a look for overlays), which
        :meth:`recorded` does not wait for: its ``evaluate`` may wait for the page's next
        document, and a failed ``goto`` must not wait with it."""

    def recorded(self) -> Any:
        """Wait until the recordings spawned so far have run their hooks."""

    def written(self) -> Any:
        """Wait until every flow spawned so far is done and what they recorded is written."""

    def close_memory(self) -> Any: ...

    def dismiss(self, locator: Any) -> Any:
        """The locator handler that clicks an overlay away."""


class SyncIo:
    """Playwright's sync API: it runs event handlers inside the caller's own Playwright calls, so
    a spawned flow runs there at once and hands its write to :class:`WriteQueue`."""

    def __init__(self, memory: SiteMemory, keep: Callable[[PluginError], None]) -> None:
        self.memory = memory
        self.queue = WriteQueue(memory, keep)

    def read(self, key: str) -> SiteProfile | None:
        return self.memory._read(key)

    def write(self, updates: SiteUpdates) -> None:
        self.memory._apply_now(updates.key, tuple(updates))

    def write_later(self, updates: SiteUpdates) -> None:
        self.queue.put(updates)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def spawn(self, flow: Flow[Any], *, recording: bool = True) -> None:
        run_sync(flow)

    def recorded(self) -> None:
        return None  # spawned flows ran inside the Playwright call that delivered their event

    def written(self) -> None:
        self.queue.wait()

    def close_memory(self) -> None:
        self.memory.close_sync()

    def dismiss(self, locator: Any) -> None:
        locator.click()


class AsyncIo:
    """Playwright's async API: a spawned flow is a task of its own; writes are awaited there."""

    def __init__(self, memory: SiteMemory) -> None:
        self.memory = memory
        self.tasks: set[asyncio.Task[Any]] = set()
        #: Spawned flows that record no visit (see :meth:`Io.spawn`).
        self.others: set[asyncio.Task[Any]] = set()

    def read(self, key: str) -> Awaitable[SiteProfile | None]:
        return self.memory._profile(key)

    def write(self, updates: SiteUpdates) -> Awaitable[None]:
        return self.memory._apply(updates.key, tuple(updates))

    write_later = write  # spawned flows are off the navigation's path already

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)

    def spawn(self, flow: Flow[Any], *, recording: bool = True) -> None:
        task = asyncio.ensure_future(run_async(flow))
        tasks = self.tasks if recording else self.others
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def recorded(self) -> None:
        await _all_done(lambda: self.tasks)

    async def written(self) -> None:
        await _all_done(lambda: self.tasks | self.others)

    def close_memory(self) -> Awaitable[None]:
        return self.memory.close()

    async def dismiss(self, locator: Any) -> None:
        await locator.click()


async def _all_done(spawned: Callable[[], set[asyncio.Task[Any]]]) -> None:
    """Wait until the tasks ``spawned()`` names, and those they spawn meanwhile, are done (each
    leaves its set when done)."""
    while pending := spawned() - {asyncio.current_task()}:
        await asyncio.gather(*pending, return_exceptions=True)


class WriteQueue:
    """The sync handle's writes that its caller does not wait for, done in order on the memory's
    worker threads; :meth:`wait` returns once they are. A write that fails is handed to ``keep``
    (it is logged, and raised by the next ``settle()``); the ones after it go on."""

    def __init__(self, memory: SiteMemory, keep: Callable[[PluginError], None]) -> None:
        self._memory = memory
        self._keep = keep
        self._items: deque[SiteUpdates] = deque()
        self._busy = False
        self._idle = threading.Condition()
        # One worker at a time, also if a pool that failed to start a thread runs one later.
        self._runner = threading.Lock()

    def put(self, updates: SiteUpdates) -> None:
        with self._idle:
            self._items.append(updates)
            if self._busy:
                return
            self._busy = True
        try:
            self._memory._submit(self._work)
        except BaseException:
            with self._idle:  # not queued after all: the caller reports it as not written
                self._items.remove(updates)
                self._busy = False
                self._idle.notify_all()
            raise

    def wait(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: not self._busy)

    def _work(self) -> None:
        with self._runner:
            finished = False
            try:
                while True:
                    with self._idle:
                        if not self._items:
                            self._busy, finished = False, True
                            self._idle.notify_all()
                            return
                        updates = self._items.popleft()
                    self._write(updates)
            finally:
                if not finished:  # never leave settle() waiting for a worker that is gone
                    with self._idle:
                        self._busy = False
                        self._idle.notify_all()

    def _write(self, updates: SiteUpdates) -> None:
        try:
            self._memory._apply_now(updates.key, tuple(updates))
        except Exception as exc:
            try:
                self._keep(updates.failed(exc, AFTER_NAVIGATION))
            except Exception:
                log.exception("sitememory: a write about %s failed and could not be reported", updates.key)
