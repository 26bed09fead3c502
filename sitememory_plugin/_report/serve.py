"""``sitememory serve``: the report live over HTTP, on 127.0.0.1 only, read-only.

``/`` is the page, ``/version`` the fingerprint of the store's sites; the page polls it and
reloads when it changes. The store is re-read at most every ``ttl`` seconds, however many
pages poll; a store that went away is 503 "no store at PATH", not an empty report. GET and HEAD
only: any other method is 405, and no request writes what the store knows. A
``Host`` other than the server's own address is refused (421), so a web page cannot reach the
report through a DNS name rebound to 127.0.0.1.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import urlsplit

from .._memory import SiteMemory
from .data import report_data
from .page import policy, render
from .source import StoreReader, check_store

#: The only address the server listens on.
HOST = "127.0.0.1"
DEFAULT_PORT = 8780
#: How long a read of the store is reused, and how often the page asks whether it changed.
DEFAULT_TTL = 1.0
DEFAULT_POLL = 2.0


class LiveReport:
    """The report of ``memory`` (or of its ``site`` alone), re-read at most every ``ttl`` s."""

    def __init__(self, memory: SiteMemory, site: str | None = None, *, ttl: float = DEFAULT_TTL,
                 poll: float = DEFAULT_POLL, clock: Callable[[], float] = time.monotonic) -> None:
        self.memory, self.ttl, self.poll, self._clock = memory, ttl, poll, clock
        self._reader = StoreReader(memory, site)
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._version = ""
        self._page = b""

    def current(self) -> tuple[str, bytes]:
        """The fingerprint of the store's sites and the page showing them (re-rendered only
        when the fingerprint changed)."""
        with self._lock:
            if self._read_at is None or self._clock() - self._read_at >= self.ttl:
                check_store(self.memory)
                snapshot = self._reader.read()
                version = snapshot.fingerprint
                if version != self._version or not self._page:
                    data = report_data(snapshot.profiles, snapshot.histories, time.time(),
                                       self.memory.half_life)
                    self._page = render(data, live=self.poll, version=version).encode()
                    self._version = version
                self._read_at = self._clock()
            return self._version, self._page


class ReportServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, report: LiveReport, port: int = DEFAULT_PORT) -> None:
        self.report = report
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"


class _Handler(BaseHTTPRequestHandler):
    server: ReportServer
    server_version = "sitememory"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every other method (POST, PUT, DELETE, anything a client makes up) is refused.
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True  # its body, if any, is never read
        self._send(405, b"read-only: GET and HEAD only\n", "text/plain; charset=utf-8", True,
                   {"Allow": "GET, HEAD"})

    def _answer(self, body: bool) -> None:
        host = self.headers.get("Host")
        if host is not None and host.lower() not in (f"{HOST}:{self.server.port}",
                                                     f"localhost:{self.server.port}"):
            self._send(421, b"this server answers only to its own address\n", "text/plain; charset=utf-8",
                       body)
            return
        path = urlsplit(self.path).path
        if path not in ("/", "/index.html", "/version"):
            self._send(404, b"not found\n", "text/plain; charset=utf-8", body)
            return
        try:
            version, page = self.server.report.current()
        except Exception as exc:  # the store failed: say so, keep serving
            self._send(503, f"the store could not be read: {type(exc).__name__}: {exc}\n".encode(),
                       "text/plain; charset=utf-8", body)
            return
        if path == "/version":
            self._send(200, version.encode(), "text/plain; charset=utf-8", body)
        else:
            self._send(200, page, "text/html; charset=utf-8", body,
                       {"Content-Security-Policy": policy(True) + "; frame-ancestors 'none'"})

    def _send(self, code: int, data: bytes, kind: str, body: bool,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in {"Content-Type": kind, "Content-Length": str(len(data)),
                            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                            "Referrer-Policy": "no-referrer", **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per poll would drown what matters


def serve_until_signal(server: ReportServer) -> int:
    """Serve until SIGINT or SIGTERM, then stop (requests in flight finish); returns the signal."""
    received: list[int] = []
    stop = threading.Event()

    def handle(sig: int, frame: FrameType | None) -> None:
        received.append(sig)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, name="sitememory-serve", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0]
