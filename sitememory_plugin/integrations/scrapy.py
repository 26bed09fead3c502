"""Scrapy and scrapy-playwright record into the memory and consult it (extra ``scrapy``).

:class:`SiteMemoryMiddleware` is a downloader middleware. A Playwright request
(``meta["playwright"]``) gets a ``playwright_page_init_callback`` that attaches its page
(``attach()``), so the browser's navigation is recorded as every attached navigation is (status,
timings, failures), and that sets ``playwright_page_goto_kwargs["timeout"]`` to what the plugins
choose for the site (the adaptive timeout, after the politeness delay), unless the request sets
one. A plain Scrapy request is recorded from its response (``download_latency``, the status) or
its exception. Each download is recorded once: a Playwright request's visit comes from its page.
The visit is written before the response (or the error) goes on, so a callback reading the
memory sees it.

:func:`click` and :func:`fill` are ``PageMethod`` s that act by purpose through the page's handle
(remembered selectors first, each outcome recorded)::

    meta={"playwright": True, "playwright_page_methods": [click("search button", "#go")]}
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pluggy

try:
    from playwright.async_api import Page
    from scrapy import signals
    from scrapy.crawler import Crawler
    from scrapy.exceptions import IgnoreRequest
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings
    from scrapy.utils.asyncio import is_asyncio_available
    from scrapy.utils.httpobj import urlparse_cached
    from scrapy.utils.misc import load_object
    from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
    from scrapy_playwright.page import PageMethod
except ImportError as exc:  # pragma: no cover - depends on the extras installed
    raise ImportError(
        "the Scrapy integration needs Scrapy and scrapy-playwright: pip install 'sitememory-plugin[scrapy]'"
    ) from exc

from .._core.errors import NavigationRefused, PluginError
from .._core.ratelimit import retry_after_of
from .._core.redact import redact
from .._hooktypes import SiteUpdates
from .._memory import SiteMemory
from .._playwright.async_site import AsyncSite
from .._playwright.attach import attach
from .._playwright.flows import Navigation
from .._plugins import get_plugin_manager
from .._sitekeys import site_updates

__all__ = ["MIDDLEWARE_PRIORITY", "SiteMemoryMiddleware", "click", "fill", "site_of"]

log = logging.getLogger("sitememory.scrapy")

#: Where the middleware goes in ``DOWNLOADER_MIDDLEWARES``: after the retry (550) and redirect
#: (600) middlewares, next to the download handler, so each download is seen once: every retry
#: is a visit of its own, and a redirect is followed before its target is recorded.
MIDDLEWARE_PRIORITY = 950

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: The request meta key that keeps a request's own init callback, which ours calls.
_THEIR_CALLBACK = "_sitememory_page_init_callback"
#: The request meta key that keeps the goto options the plugins chose (not the request).
_CHOSEN = "_sitememory_goto_kwargs"

#: The handle of each page the middleware attached, for the page methods.
_SITES: weakref.WeakKeyDictionary[Page, AsyncSite] = weakref.WeakKeyDictionary()


def site_of(page: Page) -> AsyncSite:
    """The handle :class:`SiteMemoryMiddleware` attached ``page`` to (in a callback that has the
    page through ``playwright_include_page``, or a page method).

    :raises RuntimeError: the middleware did not attach the page (it is not enabled, or the
        request is no Playwright request).
    """
    site = _SITES.get(page)
    if site is None:
        raise RuntimeError(
            "this page is not attached to a site memory: enable SiteMemoryMiddleware in "
            "DOWNLOADER_MIDDLEWARES for Playwright requests"
        )
    return site


async def _click(page: Page, purpose: str, *selectors: str, **kwargs: Any) -> str:
    return await site_of(page).click(purpose, *selectors, page=page, **kwargs)


async def _fill(page: Page, purpose: str, value: str, *selectors: str, **kwargs: Any) -> str:
    return await site_of(page).fill(purpose, value, *selectors, page=page, **kwargs)


def click(purpose: str, *selectors: str, timeout: float | None = None, **kwargs: Any) -> PageMethod:
    """A ``PageMethod`` that clicks the element for ``purpose`` (``site.click``): the remembered
    selector and its fallbacks first, then ``selectors``; its ``result`` is the selector used."""
    return PageMethod(_click, purpose, *selectors, timeout=timeout, **kwargs)


def fill(
    purpose: str, value: str, *selectors: str, timeout: float | None = None, **kwargs: Any
) -> PageMethod:
    """A ``PageMethod`` that fills the element for ``purpose`` with ``value`` (``site.fill``)."""
    return PageMethod(_fill, purpose, value, *selectors, timeout=timeout, **kwargs)


@dataclass(frozen=True)
class _Visit:
    """A plain download's visit, kept until Scrapy's engine tells whether it is one."""

    url: str
    duration: float
    status: int
    timings: dict[str, float]


def _playwright_schemes(settings: BaseSettings) -> frozenset[str]:
    """The URL schemes ``DOWNLOAD_HANDLERS`` gives to scrapy-playwright's handler."""
    schemes = set()
    for scheme, handler in settings.getwithbase("DOWNLOAD_HANDLERS").items():
        handler = load_object(handler) if isinstance(handler, str) else handler
        if isinstance(handler, type) and issubclass(handler, ScrapyPlaywrightDownloadHandler):
            schemes.add(scheme)
    return frozenset(schemes)


def _threaded_loop(settings: BaseSettings) -> bool:
    """Whether scrapy-playwright runs Playwright in a thread of its own (its rule)."""
    return platform.system() == "Windows" or settings.getbool("_PLAYWRIGHT_THREADED_LOOP", False)


class SiteMemoryMiddleware:
    """A downloader middleware that records every download in a :class:`SiteMemory` and gives
    Playwright requests the site's adapted navigation timeout.

    Settings: ``SITEMEMORY_STORE`` (a directory or ``redis://`` URL) or ``SITEMEMORY_PATH``
    names the store (default: :class:`SiteMemory`'s); enable it with
    ``DOWNLOADER_MIDDLEWARES = {"sitememory_plugin.integrations.scrapy.SiteMemoryMiddleware": 950}``.
    ``playwright_schemes``: the schemes scrapy-playwright downloads (``from_crawler`` reads them
    from ``DOWNLOAD_HANDLERS``); a ``meta["playwright"]`` request for another is a plain one.
    """

    def __init__(
        self, memory: SiteMemory, plugins: pluggy.PluginManager | None = None, *, owns_memory: bool = False,
        playwright_schemes: Collection[str] = ("http", "https"),
    ) -> None:
        self.memory = memory
        self.playwright_schemes = frozenset(playwright_schemes)
        self._warned_handler = False
        self.plugins = plugins if plugins is not None else get_plugin_manager()
        self._owns_memory = owns_memory
        self._sites: set[AsyncSite] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reached: weakref.WeakKeyDictionary[Request, float] = weakref.WeakKeyDictionary()
        self._navigations: weakref.WeakKeyDictionary[Request, tuple[AsyncSite, Navigation]] = (
            weakref.WeakKeyDictionary()
        )
        self._refused: weakref.WeakKeyDictionary[Request, NavigationRefused] = weakref.WeakKeyDictionary()
        self._hops: weakref.WeakKeyDictionary[Request, _Visit] = weakref.WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteMemoryMiddleware:
        """:raises RuntimeError: no asyncio event loop (``TWISTED_REACTOR`` is not the asyncio
            reactor), or scrapy-playwright runs Playwright in a thread of its own."""
        settings = crawler.settings
        if not is_asyncio_available():
            # The recordings are asyncio tasks awaited in process_response and spider_closed.
            raise RuntimeError(
                "SiteMemoryMiddleware needs the asyncio reactor: set TWISTED_REACTOR = "
                '"twisted.internet.asyncioreactor.AsyncioSelectorReactor"'
            )
        schemes = _playwright_schemes(settings)
        if schemes and _threaded_loop(settings):
            # The pages' recordings would run on the Playwright thread's loop, and the
            # middleware would await them from the reactor's.
            raise RuntimeError(
                "SiteMemoryMiddleware does not support scrapy-playwright's threaded loop (the "
                "_PLAYWRIGHT_THREADED_LOOP setting, always on under Windows)"
            )
        location = settings.get("SITEMEMORY_STORE") or settings.get("SITEMEMORY_PATH")
        middleware = cls(SiteMemory(location), owns_memory=True, playwright_schemes=schemes)
        crawler.signals.connect(
            middleware.request_reached_downloader, signal=signals.request_reached_downloader
        )
        crawler.signals.connect(middleware.response_received, signal=signals.response_received)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    # -- signals ------------------------------------------------------------------------------

    def request_reached_downloader(self, request: Request) -> None:
        self._reached[request] = time.monotonic()

    def response_received(self, request: Request) -> None:
        """A redirect's response reached the engine: RedirectMiddleware did not follow it."""
        hop = self._hops.pop(request, None)
        if hop is not None:  # a synchronous signal: the write is waited for when the spider closes
            self._spawn(self._record(hop.url, hop.duration, status=hop.status, timings=hop.timings))

    async def spider_closed(self) -> None:
        """Detach every page still attached, wait for the writes, close a memory it opened."""
        for site in list(self._sites):
            self._detach_later(site)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._owns_memory:
            await self.memory.close()

    # -- the middleware -----------------------------------------------------------------------

    def process_request(self, request: Request) -> None:
        meta = request.meta
        if not self._by_playwright(request):
            return
        theirs = meta.get("playwright_page_init_callback")
        if theirs is not None and getattr(theirs, "__self__", None) is self:
            return  # a retry's copy of a request this middleware prepared already
        if theirs is not None:
            meta[_THEIR_CALLBACK] = theirs
        meta["playwright_page_init_callback"] = self._init_page

    async def process_response(self, request: Request, response: Response) -> Response:
        if self._by_playwright(request):
            prepared = self._navigations.pop(request, None)
            if prepared is not None:  # its page recorded it: wait for the write
                await self._settle(prepared[0], request)
            return response
        started = self._reached.pop(request, None)
        if started is None:
            return response  # not downloaded here (a cache's)
        latency = request.meta.get("download_latency")
        duration = float(latency) if isinstance(latency, int | float) else time.monotonic() - started
        timings = {
            "ttfb": duration, "transfer_bytes": float(len(response.body)),
            "redirects": float(len(request.meta.get("redirect_urls", ()))),
        }
        if response.status in _REDIRECTS:
            # Only Scrapy's engine knows whether RedirectMiddleware (600, after this one) follows
            # it: a hop it follows is recorded at the chain's end, any other is a visit.
            self._hops[request] = _Visit(request.url, duration, response.status, timings)
            return response
        await self._record(request.url, duration, status=response.status, timings=timings,
                           retry_after=_retry_after(response))
        return response

    async def process_exception(self, request: Request, exception: BaseException) -> None:
        if self._by_playwright(request):
            refused = self._refused.pop(request, None)
            if refused is not None:
                raise IgnoreRequest(str(refused)) from refused
            prepared = self._navigations.pop(request, None)
            if prepared is not None:
                site, navigation = prepared
                try:
                    await site.navigation_failed(navigation, exception)
                except Exception as exc:  # the error goes on to the errback all the same
                    log.error("sitememory: could not record %s: %s", redact(request.url), exc)
                await self._settle(site, request)
            return None
        started = self._reached.pop(request, None)
        if started is None or isinstance(exception, IgnoreRequest):
            return None  # it never reached the download handler: no visit
        line = (str(exception).strip().splitlines() or [""])[0]
        error = f"{type(exception).__name__}: {line}" if line else type(exception).__name__
        await self._record(request.url, time.monotonic() - started, error=error[:500])
        return None

    # -- Playwright requests ------------------------------------------------------------------

    def _by_playwright(self, request: Request) -> bool:
        """Whether scrapy-playwright downloads the request (its page records it)."""
        if not request.meta.get("playwright"):
            return False
        scheme = urlparse_cached(request).scheme
        if scheme in self.playwright_schemes:
            return True
        if not self._warned_handler:
            self._warned_handler = True
            log.warning(
                "sitememory: meta['playwright'] requests for %s:// are downloaded by Scrapy's own "
                "handler (DOWNLOAD_HANDLERS does not name scrapy-playwright's for it): recorded as "
                "plain requests", scheme,
            )
        return False

    async def _init_page(self, page: Page, request: Request) -> None:
        """scrapy-playwright's page init callback: attach the page, call the request's own
        callback, then let the plugins prepare the navigation the handler is about to make."""
        site = _SITES.get(page)
        if site is None:
            site = await attach(page, self.memory, plugins=self.plugins)
            _SITES[page] = site
            self._sites.add(site)
            page.once("close", lambda _: self._detach_later(site))
        try:
            theirs = request.meta.get(_THEIR_CALLBACK)
            if theirs is not None:
                await load_object(theirs)(page, request)
        finally:
            await self._prepare(site, page, request)

    async def _prepare(self, site: AsyncSite, page: Page, request: Request) -> None:
        given = dict(request.meta.get("playwright_page_goto_kwargs") or {})
        # A retry is a copy of the request, with what the plugins chose for the first attempt:
        # that is no choice of the request's, and is chosen again.
        for name, value in request.meta.get(_CHOSEN, {}).items():
            if given.get(name) == value:
                del given[name]
        try:
            navigation = await site.prepare_navigation(
                request.url, page=page, timeout=given.get("timeout"), wait_until=given.get("wait_until"),
                referer=given.get("referer"),
            )
        except NavigationRefused as refusal:
            # scrapy-playwright goes on after an init callback raises: nothing is recorded, the
            # navigation is aborted, and process_exception turns it into IgnoreRequest.
            self._refused[request] = refusal
            self._forget(site)
            await site.detach()
            await page.route("**", lambda route: route.abort("blockedbyclient"))
            return
        chosen = {k: v for k, v in navigation.goto_kwargs().items() if k not in given}
        request.meta["playwright_page_goto_kwargs"] = {**given, **chosen}
        request.meta[_CHOSEN] = chosen
        self._navigations[request] = (site, navigation)

    def _detach_later(self, site: AsyncSite) -> None:
        if site not in self._sites:
            return
        self._forget(site)
        self._spawn(site.detach())

    def _forget(self, site: AsyncSite) -> None:
        # The handle holds its page (site.target), so the weak key would never die on its own; a
        # detached handle left in _SITES would also be reused for a page scrapy-playwright reuses.
        self._sites.discard(site)
        if _SITES.get(site.target) is site:
            del _SITES[site.target]

    # -- plain requests -----------------------------------------------------------------------

    async def _record(
        self, url: str, duration: float, *, status: int | None = None, error: str | None = None,
        timings: dict[str, float] | None = None, retry_after: float | None = None,
    ) -> None:
        """Write the visit of a plain request, under the plugins' site key as a page's visits
        are, and its rate limit (a 429 or 503's ``Retry-After``, in seconds) if it had one."""
        def add(updates: SiteUpdates) -> None:
            updates.record_visit(max(0.0, duration), status=status, error=error, timings=timings,
                                 url=url)
            if retry_after is not None and status is not None:
                updates.record_rate_limit(retry_after, status=status)

        try:
            updates = site_updates(self.plugins, url, add)
        except (ValueError, PluginError) as exc:
            log.warning("sitememory: not recording %s: %s", redact(url), exc)
            return
        try:
            await self.memory._apply(updates.key, tuple(updates))
        except Exception:
            log.exception("sitememory: could not record a visit to %s", redact(url))

    @staticmethod
    async def _settle(site: AsyncSite, request: Request) -> None:
        try:
            await site.settle()
        except PluginError as exc:  # logged when it was kept; the crawl goes on
            log.debug("sitememory: a plugin failed recording %s: %s", redact(request.url), exc)
        except Exception:  # a store's failure: the response still goes to the spider
            log.exception("sitememory: could not record %s", redact(request.url))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sitememory: a write failed: %s", task.exception(), exc_info=task.exception())


def _retry_after(response: Response) -> float | None:
    """The seconds a plain 429 or 503 response asks to wait (its ``Retry-After``), else ``None``."""
    value, date = response.headers.get(b"Retry-After"), response.headers.get(b"Date")
    return retry_after_of(response.status, None if value is None else value.decode("latin-1"),
                          None if date is None else date.decode("latin-1"), time.time())
