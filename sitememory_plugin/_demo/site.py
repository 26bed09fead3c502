"""The demo site: a small shop on three local sites, with the troubles agents meet on real ones.

One threaded HTTP server on 127.0.0.1 answers for three host names (Chromium resolves every
``*.localhost`` name to the loopback address, so no DNS is involved), each its own site key:

- ``shop.localhost``: home page with a search form, search results, cart, checkout. Its search
  box was redesigned: the old ``#search`` id is gone. A cookie banner (OneTrust's markup)
  covers every page until it is answered and blocks clicks meanwhile.
- ``catalog.localhost``: product pages, slow (:attr:`Scenario.product_delay`).
- ``stock.localhost``: stock lookups (:attr:`Scenario.stock_latency` each), one at a time per
  client (its User-Agent): a lookup while the client has another in flight gets a 503 at once.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .scenario import Scenario

SITES = ("shop", "catalog", "stock")


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: str


PRODUCTS = (
    Product("lamp-01", "Desk lamp", "39.00"),
    Product("kettle-02", "Electric kettle", "24.50"),
    Product("chair-03", "Office chair", "129.00"),
    Product("mug-04", "Coffee mug", "8.90"),
)

# The banner uses the ids of OneTrust's banner (one of the consent managers the built-in
# ``consent`` plugin knows), so the memory recognises it without any agent naming it.
_BANNER_STYLE = (
    "<style>#onetrust-consent-sdk{position:fixed;inset:0;z-index:2147483647;display:flex;"
    "align-items:center;justify-content:center;background:rgba(0,0,0,.55)}"
    "#onetrust-banner-sdk{background:#fff;padding:2em}</style>"
)
_CHOOSE = "document.cookie='consent={}; path=/'; document.getElementById('onetrust-consent-sdk').remove()"
_BANNER = (
    '<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk" role="region" aria-label="Cookie banner">'
    "<p>We use cookies.</p>"
    f'<button id="onetrust-accept-btn-handler" onclick="{_CHOOSE.format("yes")}">Accept All Cookies</button> '
    f'<button id="onetrust-reject-all-handler" onclick="{_CHOOSE.format("no")}">Reject All</button>'
    "</div></div>"
)


def _page(title: str, body: str, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}</head>\n<body>\n{body}\n</body></html>\n"
    )


Response = tuple[int, str, dict[str, str]]


class DemoSite:
    """The demo's HTTP server on a free loopback port; ``with DemoSite(scenario) as site:``."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._lock = threading.Lock()
        #: Clients (User-Agents) with a stock lookup in flight.
        self._busy: set[str] = set()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"sitememory-demo-site:{self.port}", daemon=True,
        )
        self._thread.start()

    def base(self, site: str) -> str:
        """The base URL of one of :data:`SITES`."""
        return f"http://{site}.localhost:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> DemoSite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- called from handler threads ---------------------------------------------------------

    def route(
        self, host: str, path: str, query: dict[str, list[str]], cookies: dict[str, str], client: str
    ) -> Response:
        site = host.split(".", 1)[0]
        if site == "shop":
            return self._shop(path, query, cookies)
        if site == "catalog":
            return self._catalog(path)
        if site == "stock":
            return self._stock(path, client)
        return 404, _page("Not found", "<h1>No such site</h1>"), {}

    def _shop(self, path: str, query: dict[str, list[str]], cookies: dict[str, str]) -> Response:
        consented = cookies.get("consent") in ("yes", "no")
        head = "" if consented else _BANNER_STYLE
        banner = "" if consented else _BANNER
        if path == "/":
            # The redesign renamed the search box: ``#search`` matches nothing any more.
            body = (
                '<h1>Demo shop</h1>\n<form action="/search" method="get">'
                '<input class="search-field" name="q" type="search" placeholder="Search">'
                '<button id="search-go" type="submit">Search</button></form>'
            )
            return 200, _page("Demo shop", body + banner, head), {}
        if path == "/search":
            words = query.get("q", [""])[0].lower()
            links = "".join(
                f'<li><a class="product" href="{self.base("catalog")}/product/{p.sku}">'
                f"{html.escape(p.name)}</a></li>"
                for p in PRODUCTS if words and words in p.name.lower()
            )
            body = f'<h1>Results</h1>\n<ul id="results">{links}</ul>'
            return 200, _page("Results", body + banner, head), {}
        if path == "/cart/add":
            sku = query.get("sku", [""])[0]
            cart = ",".join(filter(None, [unquote(cookies.get("cart", "")), sku]))
            return 303, "", {"Location": "/cart", "Set-Cookie": f"cart={quote(cart)}; Path=/"}
        if path == "/cart":
            items = [p for p in PRODUCTS if p.sku in unquote(cookies.get("cart", "")).split(",")]
            rows = "".join(f"<li>{html.escape(p.name)} {p.price}</li>" for p in items)
            body = (
                f'<h1>Cart</h1>\n<ul id="cart">{rows}</ul>\n<a id="checkout" href="/checkout">Check out</a>'
            )
            return 200, _page("Cart", body + banner, head), {}
        if path == "/checkout":
            body = (
                '<h1>Checkout</h1>\n<form action="/order" method="get">'
                '<button id="place-order" type="submit">Place order</button></form>'
            )
            return 200, _page("Checkout", body + banner, head), {}
        if path == "/order":
            return 200, _page("Thank you", '<h1 id="confirmed">Order confirmed</h1>' + banner, head), {}
        return 404, _page("Not found", "<h1>Not found</h1>"), {}

    def _catalog(self, path: str) -> Response:
        product = next((p for p in PRODUCTS if path == f"/product/{p.sku}"), None)
        if product is None:
            return 404, _page("Not found", "<h1>Not found</h1>"), {}
        time.sleep(self.scenario.product_delay)
        body = (
            f'<h1 id="name">{html.escape(product.name)}</h1>\n<p id="price">{product.price}</p>\n'
            f'<a id="add-to-cart" href="{self.base("shop")}/cart/add?sku={product.sku}">Add to cart</a>'
        )
        return 200, _page(product.name, body), {}

    def _stock(self, path: str, client: str) -> Response:
        if not path.startswith("/stock/"):
            return 404, _page("Not found", "<h1>Not found</h1>"), {}
        with self._lock:
            busy = client in self._busy
            self._busy.add(client)
        if busy:
            return 503, _page("Busy", "<h1>503: one lookup at a time, please</h1>"), {"Retry-After": "1"}
        try:
            time.sleep(self.scenario.stock_latency)
        finally:
            with self._lock:
                self._busy.discard(client)
        return 200, _page("Stock", '<p id="stock">in stock</p>'), {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: DemoSite) -> None:
        self.site = site
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Browsers drop connections mid-response (a navigation cut short by a timeout or the
        # next one); that is no error of the demo's.
        pass


class _Handler(BaseHTTPRequestHandler):
    server_version = "SitememoryDemo/1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        cookies = {name: morsel.value for name, morsel in jar.items()}
        host = (self.headers.get("Host") or "").split(":", 1)[0].lower()
        site = cast(_Server, self.server).site
        client = self.headers.get("User-Agent") or ""
        status, body, headers = site.route(host, parts.path or "/", parse_qs(parts.query), cookies, client)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
