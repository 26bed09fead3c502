"""One worker thread at most per site for the async API's blocking calls.

An update waits for its site's lock on a worker thread. Without a gate, many tasks updating one
site whose lock is held elsewhere would each block a worker, until none is left for any other
site. Tasks of one site instead queue on an asyncio lock in their event loop, and one of them at a
time takes a thread: a stuck site stalls only its own updates.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SiteGates:
    """An asyncio lock per (event loop, site) while any task needs it."""

    def __init__(self) -> None:
        self._gates: dict[tuple[int, str], tuple[asyncio.Lock, list[int]]] = {}
        self._lock = threading.Lock()  # a memory may serve several event loops, on their threads

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        name = (id(asyncio.get_running_loop()), key)
        with self._lock:
            gate, users = self._gates.get(name) or self._gates.setdefault(name, (asyncio.Lock(), [0]))
            users[0] += 1
        try:
            async with gate:
                yield
        finally:
            with self._lock:
                users[0] -= 1
                if not users[0]:
                    del self._gates[name]

    def after_fork(self) -> None:
        self._gates = {}
        self._lock = threading.Lock()
