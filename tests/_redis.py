"""A real ``redis-server`` for the tests: installed if missing, started on a free loopback port.

``python -m tests._redis`` (part of ``make test``) installs Debian's ``redis-server`` when it is
missing and we run as root; the ``redis_server`` fixture starts one private server per test
session, with append-only persistence fsynced on every write, and stops it at the end.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from scripts.apt import apt_install, can_install

from ._net import free_port

MISSING = ("redis-server not found: run 'make test' (installs Debian's redis-server as root) or "
           "'sudo apt-get install redis-server'")


def executable() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def ensure_installed() -> str:
    """The path of ``redis-server``, installing Debian's package first if needed (as root)."""
    found = executable()
    if found is None and can_install():
        apt_install("redis-server")
        found = executable()
    if found is None:
        raise RuntimeError(MISSING)
    return found


class RedisServer:
    """One ``redis-server`` process in ``directory``; ``restart`` keeps its port and data.

    ``requirepass`` makes the server refuse clients without that password; ``config`` adds
    command-line configuration (e.g. ``["--user", "alice", "on", ">pw", "~*", "+@all"]``).
    """

    def __init__(
        self, directory: Path, port: int | None = None, appendfsync: str = "always",
        requirepass: str | None = None, config: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.requirepass = requirepass
        self.config = list(config)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        """The server's URL, with the password if it requires one."""
        auth = f":{self.requirepass}@" if self.requirepass is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain redis-py client of the server (authenticated if need be)."""
        return redis.Redis(port=self.port, password=self.requirepass, **kwargs)

    def start(self) -> None:
        binary = executable()
        if binary is None:
            raise RuntimeError(MISSING)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
             "--daemonize", "no", "--logfile", str(self.log), "--protected-mode", "no",
             *(["--requirepass", self.requirepass] if self.requirepass is not None else []),
             *self.config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        client = self.client(socket_connect_timeout=0.5, socket_timeout=2.0)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server not ready after {timeout} s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM: a clean shutdown; SIGKILL: a crash)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def restart(self, sig: int = signal.SIGKILL, down_for: float = 0.0) -> None:
        self.stop(sig)
        time.sleep(down_for)
        self.start()

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()


if __name__ == "__main__":
    try:
        print(f"redis-server: {ensure_installed()}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"redis-server: {exc}")


def prefix_of(url: str) -> str:
    """The key prefix a test's ``redis://...?prefix=`` URL names."""
    return parse_qs(urlsplit(url).query)["prefix"][0]


def client_of(url: str, **options: Any) -> redis.Redis:
    """A plain client of the server ``url`` names, to read or plant what the store wrote."""
    parts = urlsplit(url)
    return redis.Redis(host=parts.hostname or "127.0.0.1", port=parts.port or 6379, **options)
