"""A headless Chromium started as its own process with a DevTools port on 127.0.0.1, as an
agent's browser is (Playwright MCP, browser-use): the recorder connects to it over CDP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from ._browser import CHROMIUM_ARGS, chromium_executable
from ._env import unavailable
from ._net import free_port

__all__ = ["CdpBrowser"]


class CdpBrowser:
    """``with CdpBrowser() as browser: browser.endpoint`` (``http://127.0.0.1:PORT``).

    :meth:`stop` kills it (as a crash or a user closing it would), :meth:`start` starts it again
    on the same port and profile.
    """

    def __init__(self, port: int | None = None) -> None:
        executable = chromium_executable()
        if executable is None:
            unavailable("no Chromium executable to start with a DevTools port (make browser)")
        self.executable = executable
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._profile = Path(tempfile.mkdtemp(prefix="sitememory-cdp-"))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> CdpBrowser:
        args = [
            self.executable, "--headless", *CHROMIUM_ARGS, "--disable-quic",
            f"--remote-debugging-port={self.port}", "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self._profile}", "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/json/version", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Chromium did not open its DevTools port {self.port}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill the browser and its child processes."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> CdpBrowser:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
