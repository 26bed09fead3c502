"""A store-wide lock in Redis that expires when its holder dies.

The lock is a key holding a random token with a TTL; a thread renews it every third of the TTL
while it is held, so a live holder keeps it as long as it needs and a crashed one loses it after
at most ``ttl`` seconds. Taking, renewing and releasing compare the token on the server, so a
client can never release or extend a lock that expired and was taken by someone else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from .errors import LockTimeout

log = logging.getLogger("sitememory.redislock")

#: Longest pause between attempts to take a held lock: it is released by a DEL we cannot watch
#: without a second connection, so we poll, briefly.
MAX_POLL = 0.05


class ExpiringLock:
    """``acquire``/``release`` of ``name`` by scripts run through ``call(what, script, ...)``."""

    def __init__(
        self, call: Any, scripts: Any, name: str, ttl: float, timeout: float | None,
        on_wait: Any = None,
    ) -> None:
        self._call = call
        self._scripts = scripts
        self.name = name
        self.ttl = ttl
        self.timeout = timeout
        self._on_wait = on_wait
        self.token = ""
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """Whether the lock expired while we held it (renewal found another token or none)."""
        return self._lost.is_set()

    def acquire(self) -> None:
        """Take the lock within ``timeout`` seconds or raise :class:`LockTimeout`."""
        token = os.urandom(16).hex()
        ttl_ms = max(1, int(self.ttl * 1000))
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        pause = 0.001
        while not self._try(token, ttl_ms):
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(self.name, self.timeout or 0.0)
            time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, MAX_POLL)
        if self._on_wait is not None:
            self._on_wait(self.name, time.monotonic() - start)
        self.token = token
        self._lost.clear()
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew, args=(token, ttl_ms), name="sitememory-lock-renewer", daemon=True
        )
        self._renewer.start()

    def _try(self, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self._call("lock", self._scripts.acquire, keys=[self.name],
                                   args=[token, ttl_ms]))
        except Exception:
            # The lock may have been taken before the reply was lost: give it back, best effort,
            # rather than leave it blocking everyone for its TTL.
            with contextlib.suppress(Exception):
                self._call("unlock", self._scripts.release, keys=[self.name], args=[token])
            raise

    def release(self) -> None:
        token, self.token = self.token, ""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        if token and not self._call("unlock", self._scripts.release, keys=[self.name], args=[token]):
            log.warning("lock %s had expired before it was released", self.name)

    def _renew(self, token: str, ttl_ms: int) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self._call("lock renewal", self._scripts.renew, keys=[self.name],
                                  args=[token, ttl_ms]):
                    self._lost.set()
                    log.error("lock %s expired while held: its holder stalled too long", self.name)
                    return
            except Exception as exc:  # the server may come back before the TTL runs out
                log.warning("could not renew lock %s: %s", self.name, exc)
