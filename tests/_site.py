"""A local HTTP site with controlled behaviour, for browser tests.

::

    with TestSite() as site:
        started = time.monotonic()
        page.goto(site.url("/slow?ms=300"))
        assert site.hits("/slow") == 1
        assert site.arrivals("/slow")[0] >= started  # time.monotonic() when the request arrived

Routes: ``/``, ``/page/<any>``, ``/slow?ms=N``, ``/status/<code>``, ``/redirect?to=PATH``,
``/redirect-chain``, ``/flaky``, ``/form`` (markup set by ``site.version``), ``/results?q=``,
``/cookie?delay_ms=N&load_ms=M&history_ms=H``, ``/frames``, ``/popup``, ``/spa``, ``/download``
(an attachment), ``/busy?ms=N`` (a fetch after load), ``/limited?status=S&retry_after=V`` (a rate
limit: status S, 429 by default, with ``Retry-After: V`` exactly as given, none without it; every
response carries the server's ``Date``); anything else is a 404.
"""

from __future__ import annotations

import html
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast
from urllib.parse import parse_qs, urlsplit

__all__ = ["TestSite"]

# Responses that must not carry a body, per RFC 9110.
_NO_BODY = frozenset({204, 205, 304})


def _doc(title: str, body: str, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}</head>\n<body>\n{body}\n</body></html>\n"
    )


def _plain_page(path: str) -> str:
    return _doc(
        path,
        f'<h1 id="title">{html.escape(path)}</h1>\n<p><a id="next" href="/page/next">next</a></p>',
    )


def _form_page(version: int) -> str:
    if version == 1:
        controls = '<input id="search" name="q" type="text">\n<button id="go" type="submit">Search</button>'
    else:
        # The redesign drops the ids on purpose: stored selectors for v1 must stop matching.
        controls = (
            '<input class="search-v2" name="q" type="text">\n'
            '<button class="go-v2" type="submit">Search</button>'
        )
    return _doc(
        "/form",
        f'<h1 id="title">Search (v{version})</h1>\n'
        f'<form id="search-form" method="get" action="/results">\n{controls}\n</form>',
    )


def _results_page(query: str) -> str:
    return _doc("/results", f'<h1 id="title">Results</h1>\n<p id="query">{html.escape(query)}</p>')


def _cookie_page(delay_ms: int, load_ms: int = 0, history_ms: int = 0) -> str:
    # With a delay the overlay starts hidden and appears later, like consent banners injected
    # after load; with none it is in the markup so it covers the button from the first paint.
    hidden = " hidden" if delay_ms > 0 else ""
    show = (
        f"<script>setTimeout(function () {{"
        f" document.getElementById('cookie-overlay').hidden = false; }}, {delay_ms});</script>"
        if delay_ms > 0
        else ""
    )
    style = (
        "<style>"
        "#cookie-overlay{position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.6);"
        "display:flex;align-items:center;justify-content:center}"
        "#cookie-overlay[hidden]{display:none}"
        "#cookie-box{background:#fff;padding:2em}"
        "</style>"
    )
    body = (
        '<h1 id="title">Shop</h1>\n'
        "<button id=\"buy\" onclick=\"document.getElementById('status').textContent = 'bought'\">"
        "Buy</button>\n"
        '<p id="status"></p>\n'
        f'<div id="cookie-overlay"{hidden}><div id="cookie-box"><p>We use cookies.</p>'
        '<button id="accept-cookies" '
        "onclick=\"document.getElementById('cookie-overlay').style.display = 'none'\">"
        "Accept</button></div></div>\n"
        f"{show}"
        # An image that holds the load event back: the page is up, and not yet loaded.
        + (f'<img src="/slow?ms={load_ms}" alt="">' if load_ms > 0 else "")
        # A same-document navigation, as a single-page app makes when its route changes.
        + (f"<script>setTimeout(function () {{ history.pushState(null, '', '/cookie#moved'); }}, "
           f"{history_ms});</script>" if history_ms > 0 else "")
    )
    return _doc("/cookie", body, head=style)


def _frames_page() -> str:
    return _doc(
        "/frames",
        '<h1 id="title">/frames</h1>\n<iframe id="inner" src="/page/inner" width="400" height="200">'
        "</iframe>",
    )


def _popup_page() -> str:
    return _doc(
        "/popup",
        '<h1 id="title">/popup</h1>\n<p><a id="open" href="/page/popped" target="_blank">open</a></p>',
    )


def _spa_page(path: str) -> str:
    return _doc(
        path,
        '<h1 id="title">SPA</h1>\n'
        '<p id="where"></p>\n'
        "<button id=\"push\" onclick=\"history.pushState({}, '', '/spa/next');"
        " document.getElementById('where').textContent = location.pathname\">go</button>",
    )


def _int_arg(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return max(0, int(query[name][0]))
    except (KeyError, IndexError, ValueError):
        return default


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: TestSite) -> None:
        self.site = site
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Browsers drop connections mid-response (navigation aborted, page closed); a traceback
        # on stderr for that would only hide real failures in test output.
        pass


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestSite/1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        site = cast(_Server, self.server).site
        parts = urlsplit(self.path)
        path = parts.path or "/"
        query = parse_qs(parts.query)
        if path == "/favicon.ico":
            self._send(404, "", send_body)
            return
        count = site._record(path)
        status, body, headers = site._route(path, query, count)
        self._send(status, body, send_body, headers)

    def _send(self, status: int, body: str, send_body: bool, headers: dict[str, str] | None = None) -> None:
        data = b"" if status in _NO_BODY else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and data:
            self.wfile.write(data)


_Response = tuple[int, str, dict[str, str]]


class TestSite:
    """A threaded HTTP server on 127.0.0.1 with an OS-assigned port, serving the test routes."""

    # Stops pytest from trying to collect this class as a test case.
    __test__ = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._arrivals: dict[str, list[float]] = {}
        self._version = 1
        self._closed = False
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.base: str = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"TestSite:{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def version(self) -> int:
        """Which markup ``/form`` serves: 1 (ids) or 2 (classes only)."""
        with self._lock:
            return self._version

    @version.setter
    def version(self, value: int) -> None:
        with self._lock:
            self._version = value

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this site."""
        return self.base + (path if path.startswith("/") else "/" + path)

    def hits(self, path: str) -> int:
        """How many requests reached ``path`` (its query string is ignored)."""
        key = urlsplit(path).path or "/"
        with self._lock:
            return self._hits[key]

    def arrivals(self, path: str) -> list[float]:
        """When each request to ``path`` arrived (``time.monotonic()``, query string ignored)."""
        key = urlsplit(path).path or "/"
        with self._lock:
            return list(self._arrivals.get(key, ()))

    def close(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TestSite:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TestSite({self.base!r})"

    # -- called from handler threads -------------------------------------------------------------

    def _record(self, path: str) -> int:
        """Count a request and return this path's count including it."""
        arrived = time.monotonic()
        with self._lock:
            self._arrivals.setdefault(path, []).append(arrived)
            self._hits[path] += 1
            return self._hits[path]

    def _route(self, path: str, query: dict[str, list[str]], count: int) -> _Response:
        match path:
            case "/":
                return 200, _plain_page(path), {}
            case "/slow":
                time.sleep(_int_arg(query, "ms", 0) / 1000)
                return 200, _plain_page(path), {}
            case "/redirect":
                return self._redirect(302, query.get("to", ["/page/landing"])[0])
            case "/redirect-chain":
                return self._redirect(301, "/redirect?to=/page/end")
            case "/flaky":
                # Odd-numbered requests fail, so one retry always succeeds.
                return (503 if count % 2 else 200), _plain_page(path), {}
            case "/form":
                return 200, _form_page(self.version), {}
            case "/results":
                return 200, _results_page(query.get("q", [""])[0]), {}
            case "/cookie":
                delays = (_int_arg(query, name, 0) for name in ("delay_ms", "load_ms", "history_ms"))
                return 200, _cookie_page(*delays), {}
            case "/late-load":
                # Commits at once, but its load event waits for an image that takes ms
                # milliseconds; from the second request on, the document itself is late by as much.
                ms = _int_arg(query, "ms", 0)
                if count > 1:
                    time.sleep(ms / 1000)
                return 200, _doc(path, f'<h1 id="title">late</h1><img src="/slow?ms={ms}&n={count}">'), {}
            case "/frames":
                return 200, _frames_page(), {}
            case "/busy":
                # Loads at once, then keeps the network busy: "networkidle" comes ms later.
                ms = _int_arg(query, "ms", 0)
                script = f"<script>addEventListener('load', () => fetch('/slow?ms={ms}'));</script>"
                again = f'<a id="again" href="/busy?ms={ms}">again</a>'
                return 200, _doc(path, f'<h1 id="title">busy</h1>{again}{script}'), {}
            case "/download":
                return 200, "hello", {"Content-Disposition": 'attachment; filename="hello.txt"'}
            case "/limited":
                code = _int_arg(query, "status", 429)
                headers = {"Retry-After": query["retry_after"][0]} if "retry_after" in query else {}
                return code, _doc(path, f'<h1 id="title">{code}: slow down</h1>'), headers
            case "/popup":
                return 200, _popup_page(), {}
            case "/spa":
                return 200, _spa_page(path), {}
        if path.startswith("/page/"):
            return 200, _plain_page(path), {}
        if path.startswith("/spa/"):
            # A reload after pushState lands here; serve the app rather than a 404.
            return 200, _spa_page(path), {}
        if path.startswith("/status/"):
            return self._status(path)
        return 404, _doc(path, '<h1 id="title">Not found</h1>'), {}

    @staticmethod
    def _redirect(status: int, target: str) -> _Response:
        body = _doc("redirect", f'<p>Moved to <a href="{html.escape(target)}">{html.escape(target)}</a></p>')
        return status, body, {"Location": target}

    @staticmethod
    def _status(path: str) -> _Response:
        code_text = path.removeprefix("/status/")
        if not code_text.isdigit() or not 200 <= int(code_text) <= 599:
            return 400, _doc(path, '<h1 id="title">Bad status code</h1>'), {}
        code = int(code_text)
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Status"
        return code, _doc(path, f'<h1 id="title">{code} {html.escape(phrase)}</h1>'), {}
