"""A local site whose pages are blocked by real consent managers, served from their npm files.

``node/`` pins two consent managers (``make node`` installs them with ``npm ci``):
vanilla-cookieconsent 3 (``disablePageInteraction: true``: a modal over a backdrop that takes
every click) and Osano's open-source cookieconsent 3 (an opt-in bar fixed over the bottom of the
page, where the page's button is). Their own files are served under ``/npm/<package>/``; the
pages configure them as a site would. ``/unknown`` is blocked by an overlay no consent manager
draws; ``/shadow`` by a banner in the open shadow root of its host, with Usercentrics' markup
(the page draws it: Usercentrics is no npm package). Every page has a ``#buy`` button that
writes "bought" into ``#status``.

Routes: ``/vanilla?delay_ms=N`` (the manager starts N ms after the load event),
``/osano``, ``/unknown``, ``/shadow``, ``/npm/<package>/<file>``.
"""

from __future__ import annotations

import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from scripts.node import NODE_DIR

from ._env import unavailable
from ._site import _doc, _int_arg

#: Each package's directory of files to serve, in node/node_modules.
PACKAGES = {"vanilla-cookieconsent": "dist", "cookieconsent": "build"}

#: Whether the element a selector names is shown, opaque, in the page (for ``wait_for_function``).
SHOWN = "s => !!document.querySelector(s)?.checkVisibility({opacityProperty: true})"

_BUY = (
    '<button id="buy" onclick="document.getElementById(\'status\').textContent = \'bought\'">Buy</button>'
    '<p id="status"></p>'
)


def _vanilla(delay_ms: int) -> str:
    # hideFromBots: it hides itself from a headless browser's user agent otherwise.
    config = """{
      disablePageInteraction: true, hideFromBots: false,
      categories: {necessary: {enabled: true, readOnly: true}, analytics: {}},
      language: {default: 'en', translations: {en: {
        consentModal: {title: 'We use cookies', description: 'Choose.',
                       acceptAllBtn: 'Accept all', acceptNecessaryBtn: 'Reject all'},
        preferencesModal: {title: 'Preferences', sections: []}}}}
    }"""
    start = f"CookieConsent.run({config})"
    if delay_ms:
        start = f"window.addEventListener('load', () => setTimeout(() => {start}, {delay_ms}))"
    return _doc(
        "vanilla-cookieconsent",
        f'<h1>Shop</h1>{_BUY}\n<script src="/npm/vanilla-cookieconsent/cookieconsent.umd.js"></script>\n'
        f"<script>{start}</script>",
        '<link rel="stylesheet" href="/npm/vanilla-cookieconsent/cookieconsent.css">',
    )


def _osano() -> str:
    # The page's button sits where the bar is: at the bottom of the viewport.
    return _doc(
        "cookieconsent",
        '<h1>Shop</h1><div style="position:fixed;bottom:10px;left:10px">' + _BUY + "</div>\n"
        '<script src="/npm/cookieconsent/cookieconsent.min.js"></script>\n'
        "<script>window.cookieconsent.initialise({type: 'opt-in', position: 'bottom', "
        "revokable: false, content: {deny: 'Decline', allow: 'Allow cookies'}});</script>",
        '<link rel="stylesheet" href="/npm/cookieconsent/cookieconsent.min.css">',
    )


def _unknown() -> str:
    # A blocking overlay that no consent manager draws; its button is not for the memory to guess.
    return _doc(
        "unknown overlay",
        f"<h1>Shop</h1>{_BUY}\n"
        '<div id="paywall" style="position:fixed;inset:0;z-index:99;background:rgba(0,0,0,.5)">'
        '<div style="background:#fff;margin:4em;padding:2em"><p>Subscribe to read on.</p>'
        '<button class="cc-deny" onclick="document.getElementById(\'paywall\').remove()">No thanks</button>'
        "</div></div>",
    )


def _shadow() -> str:
    banner = (
        '<div style="position:fixed;inset:0;z-index:99;background:rgba(0,0,0,.5)">'
        '<div style="background:#fff;margin:4em;padding:2em"><p>We use cookies.</p>'
        '<button data-testid="uc-deny-all-button">Deny</button>'
        '<button data-testid="uc-accept-all-button">Accept all</button></div></div>'
    )
    script = (
        "const host = document.getElementById('usercentrics-root');"
        "const root = host.attachShadow({mode: 'open'});"
        f"root.innerHTML = {banner!r};"
        "root.querySelectorAll('button').forEach(b => b.onclick = () => root.innerHTML = '');"
    )
    return _doc("shadow banner", f'<h1>Shop</h1>{_BUY}\n<div id="usercentrics-root"></div>'
                 f"<script>{script}</script>")


class ConsentSite:
    """The server on a free loopback port; ``with ConsentSite() as site: site.url("/vanilla")``.

    Skips the test (fails it in CI) when ``make node`` has not installed the packages.
    """

    __test__ = False

    def __init__(self) -> None:
        self.roots: dict[str, Path] = {}
        for package, folder in PACKAGES.items():
            root = NODE_DIR / "node_modules" / package / folder
            if not root.is_dir():
                unavailable(f"{package} is not installed in {NODE_DIR}: run 'make node'")
            self.roots[package] = root
        self._server = _Quiet(("127.0.0.1", 0), _Handler)
        self._server.site = self  # type: ignore[attr-defined]
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, str]:
        if path.startswith("/npm/"):
            package, _, name = path.removeprefix("/npm/").partition("/")
            root = self.roots.get(package)
            file = (root / name).resolve() if root is not None else None
            if root is None or file is None or root not in file.parents or not file.is_file():
                return 404, b"", "text/plain"
            return 200, file.read_bytes(), mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        pages = {
            "/vanilla": lambda: _vanilla(_int_arg(query, "delay_ms", 0)),
            "/osano": _osano,
            "/unknown": _unknown,
            "/shadow": _shadow,
        }
        page = pages.get(path)
        if page is None:
            return 404, b"", "text/plain"
        return 200, page().encode(), "text/html; charset=utf-8"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ConsentSite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser dropping a connection mid-response (see _site._Server)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        site: ConsentSite = self.server.site  # type: ignore[attr-defined]
        status, body, kind = site.respond(parts.path, parse_qs(parts.query))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)
