"""Built-in ``recorder`` plugin: every navigation becomes a visit in the memory.

The write is off the navigation's path: under the async API the page's load report is handled
in a task of its own; under the sync API, where Playwright runs the report inline, the write
goes to one worker thread (in order). ``site.settle()`` waits for writes in flight.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from .._memory import SiteMemory
from .._playwright.navigation import Visit
from ..hookspecs import hookimpl
from ._api import is_async

log = logging.getLogger("sitememory_plugin")


class Recorder:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._owner = os.getpid()
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    @hookimpl
    def sitememory_after_navigation(
        self, page: Any, key: str, visit: Visit, memory: SiteMemory
    ) -> Awaitable[None] | None:
        if is_async(page):
            return memory.record_visit(
                key, visit.duration, status=visit.status, error=visit.error, timings=visit.timings
            )
        future = self._pool().submit(
            memory.record_visit_sync, key, visit.duration, status=visit.status, error=visit.error,
            timings=visit.timings,
        )
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return None

    def wait(self) -> None:
        """Block until the visits handed to the worker thread are written; raise the first write
        that failed since the last call (each failure is also logged when it happens)."""
        with self._lock:
            if self._owner != os.getpid():  # a forked child: the parent's writes are not ours
                return
            pending = list(self._pending)
        wait(pending)
        # Read the outcomes here, not in _done: a future's callbacks may still be running when
        # wait() returns. A failed write stays pending until a wait() has reported it.
        with self._lock:
            self._pending.difference_update(pending)
        for future in pending:
            error = future.exception()
            if isinstance(error, Exception):
                raise error

    def _done(self, future: Future[None]) -> None:
        error = future.exception()
        if error is not None:
            log.error("sitememory: a visit could not be written: %s: %s", type(error).__name__, error)
            return
        with self._lock:
            self._pending.discard(future)

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None or self._owner != os.getpid():  # none in a forked child
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="sitememory-recorder")
                self._owner = os.getpid()
                self._pending = set()
            return self._executor
