"""Crawlee's ``PlaywrightCrawler`` joined to a site memory (extra ``crawlee``).

:func:`use_site_memory` adds a pre-navigation hook that attaches each request's page with
``attach()``, so every navigation the crawler (or a handler) makes is a visit, and consults the
memory before Crawlee's own ``page.goto``: the plugins' politeness delay is waited and the
site's known overlays are handled on the page (``AsyncSite.prepare_navigation``). The page is
detached through Crawlee's deferred cleanup, after the error handlers and before Crawlee closes
the page. Handlers reach the handle with :func:`site_of`.

Crawlee owns the navigation timeout: one ``navigation_timeout`` budget per request, shared by
the pre-navigation hooks, its ``page.goto`` and the post-navigation hooks, which it passes to
``goto`` itself (``goto_options`` refuses a ``timeout``). The learned per-site timeout is
therefore not applied; a navigation that Crawlee's budget cuts short is recorded as a timeout.
A ``goto`` that raises before the budget is spent with no browser event (a download, a 204, a
navigation interrupted by another, the page or browser closed) is no failure of the site:
nothing is recorded.
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pluggy
from playwright.async_api import Page, Request

try:
    from crawlee.crawlers import (
        PlaywrightCrawler,
        PlaywrightPostNavCrawlingContext,
        PlaywrightPreNavCrawlingContext,
    )
except ImportError as exc:  # pragma: no cover - depends on the extras installed
    raise ImportError(
        "the Crawlee integration needs Crawlee: pip install 'sitememory-plugin[crawlee]'"
    ) from exc

from .._core.errors import NavigationRefused
from .._core.redact import redact
from .._memory import SiteMemory
from .._playwright.async_site import AsyncSite
from .._playwright.attach import attach
from .._playwright.flows import Navigation

__all__ = ["TIMED_OUT", "site_of", "use_site_memory"]

log = logging.getLogger("sitememory.crawlee")

#: The error recorded for a navigation that Crawlee's ``navigation_timeout`` cut short (Crawlee
#: cancels its ``page.goto``, so no browser event reports it).
TIMED_OUT = "Timeout: the navigation did not finish within the crawler's navigation_timeout"

#: Seconds of slack when telling a spent budget from an early error (the clocks are both monotonic).
_MARGIN = 0.05


@dataclass(eq=False)
class _Attached:
    """One request's page joined to the memory, from the pre-navigation hook to the cleanup."""

    site: AsyncSite
    page: Page
    #: When our pre-navigation hook began, and the seconds of Crawlee's budget left then.
    began: float
    budget: float
    #: Crawlee's ``SharedTimeout`` of the request (its budget), if found where Crawlee 1.x keeps it.
    shared: object | None = None
    #: When the page closed or crashed (goto then fails for that, not for the site).
    lost_at: float | None = None
    navigation: Navigation | None = None
    #: The page's main-frame navigation request went out (Crawlee's goto began).
    started: bool = False
    #: Crawlee's goto returned a response (the post-navigation hooks ran).
    navigated: bool = False

    def note_request(self, request: Request) -> None:
        try:
            if request.is_navigation_request() and request.frame == self.page.main_frame:
                self.started = True
                self.page.remove_listener("request", self.note_request)
        except Exception:
            return  # a service worker's request: no frame

    def note_lost(self, _: object = None) -> None:
        if self.lost_at is None:
            self.lost_at = time.monotonic()

    def spent(self) -> bool:
        """Whether Crawlee's budget ran out (its goto was cut short), not an earlier error."""
        if self.lost_at is not None and self.lost_at - self.began < self.budget - _MARGIN:
            return False  # the page closed or crashed first: its goto failed for that
        if self.shared is not None and hasattr(self.shared, "_active_timeout"):
            # A SharedTimeout left active is one whose async_timeout expired: Crawlee's exit from
            # it raised TimeoutError before clearing it. Exact, however long the error handlers took.
            active = self.shared._active_timeout
            return active is not None and bool(getattr(active, "expired", True))
        # Else wall time: the budget only runs inside Crawlee's hooks and goto, so less means it is left.
        return time.monotonic() - self.began >= self.budget - _MARGIN

    async def cleanup(self) -> None:
        try:
            if self.navigation is not None and self.started and not self.navigated and self.spent():
                # Crawlee raised out of its goto with no response once its budget was spent: its
                # navigation_timeout (a network error is recorded by its browser event already, and
                # navigation_failed then does nothing). Crawlee keeps its error from us, so an
                # earlier one (a download, net::ERR_ABORTED) is not recorded.
                await self.site.navigation_failed(self.navigation, TIMED_OUT, timed_out=True)
        finally:
            self.page.remove_listener("request", self.note_request)
            self.page.remove_listener("close", self.note_lost)
            self.page.remove_listener("crash", self.note_lost)
            if _SITES.get(self.page) is self:
                del _SITES[self.page]
            await self.site.detach()


_SITES: weakref.WeakKeyDictionary[Page, _Attached] = weakref.WeakKeyDictionary()
#: The crawlers joined to a memory: a second pair of hooks would record every visit twice.
_JOINED: weakref.WeakSet[PlaywrightCrawler[Any, Any, Any]] = weakref.WeakSet()


def _budget(crawler: PlaywrightCrawler[Any, Any, Any], request: object) -> tuple[object | None, float]:
    """The request's navigation budget where Crawlee 1.x keeps it (its ``SharedTimeout``, or
    ``None``) and the seconds left of it, else the crawler's ``navigation_timeout`` (one minute)."""
    shared = getattr(crawler, "_shared_navigation_timeouts", {}).get(id(request))
    left = getattr(shared, "_remaining_timeout", None)
    if not isinstance(left, timedelta):
        left = getattr(crawler, "_navigation_timeout", None)
    return shared, left.total_seconds() if isinstance(left, timedelta) else 60.0


def use_site_memory(
    crawler: PlaywrightCrawler[Any, Any, Any], memory: SiteMemory, *,
    plugins: pluggy.PluginManager | None = None,
) -> None:
    """Record every navigation of ``crawler``'s pages in ``memory`` and consult it first.

    Call once, before ``crawler.run()``. Before each request's navigation the page is attached
    and the plugins' politeness delay waited (inside Crawlee's ``navigation_timeout``, as every
    pre-navigation hook is), the site's overlays handled on the page; a ``wait_until`` or
    ``referer`` a plugin sets goes to Crawlee's ``goto_options``. A navigation a plugin refuses
    fails the request without retries. ``memory`` stays open: close it after the crawl.

    :param plugins: the plugin manager; default ``get_plugin_manager()`` (one per process, so
        its politeness spans all the crawler's pages).
    :raises ValueError: ``crawler`` is joined to a memory already.
    """
    if crawler in _JOINED:
        raise ValueError("use_site_memory was called on this crawler already: call it once per crawler")
    _JOINED.add(crawler)

    logged: set[type[BaseException]] = set()

    def carry_on(error: Exception, url: str) -> None:
        # The memory is an aid to the crawl: a broken plugin or a dead store must not fail every
        # request (and its retries). Logged once per kind of error, so a crawl's log stays readable.
        level = logging.DEBUG if type(error) in logged else logging.WARNING
        logged.add(type(error))
        log.log(level, "sitememory: the memory could not prepare the navigation to %s, crawling on "
                "without it: %r", redact(url), error, exc_info=level == logging.WARNING)

    async def before_navigation(context: PlaywrightPreNavCrawlingContext) -> None:
        page, url = context.page, context.request.url
        began, (shared, budget) = time.monotonic(), _budget(crawler, context.request)
        try:
            site = await attach(page, memory, plugins=plugins)
        except Exception as exc:
            carry_on(exc, url)
            return  # no handle: nothing is recorded for this navigation
        attached = _Attached(site, page, began, budget, shared)
        _SITES[page] = attached
        context.register_deferred_cleanup(attached.cleanup)
        page.on("request", attached.note_request)
        page.on("close", attached.note_lost)
        page.on("crash", attached.note_lost)
        goto = context.goto_options
        try:
            attached.navigation = await site.prepare_navigation(
                url, page=page, wait_until=goto.get("wait_until"), referer=goto.get("referer")
            )
        except NavigationRefused:
            context.request.no_retry = True  # a retry would only be refused again
            raise
        except Exception as exc:
            carry_on(exc, url)  # the page stays attached: its events still record the visit
            return
        options = attached.navigation.options
        if options.wait_until is not None:
            goto["wait_until"] = options.wait_until  # type: ignore[typeddict-item]
        if options.referer is not None:
            goto["referer"] = options.referer

    async def after_navigation(context: PlaywrightPostNavCrawlingContext) -> None:
        attached = _SITES.get(context.page)
        if attached is not None:
            attached.navigated = True

    crawler.pre_navigation_hook(before_navigation)
    crawler.post_navigation_hook(after_navigation)


def site_of(context: PlaywrightPreNavCrawlingContext) -> AsyncSite:
    """The handle of the request's page, for ``site.click(purpose, ...)``, ``site.fill``,
    ``site.locator`` and ``site.prompt_context()`` in a request handler (or a hook after ours).

    :raises LookupError: the page is not attached (``use_site_memory`` was not called on its
        crawler, or the request is done).
    """
    attached = _SITES.get(context.page)
    if attached is None:
        raise LookupError("this page is not joined to a site memory: call use_site_memory(crawler, memory)")
    return attached.site
