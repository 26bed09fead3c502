"""A handle of ``attach()`` under either API: its target, memory and plugins, site keys,
per-page state, plugin errors kept for ``settle()``, and turning Playwright's events into visits.

A visit is built from events Playwright delivers anyway: the main frame's navigation response
(status, the request's timing) and the page's ``domcontentloaded`` and ``load`` events. Nothing
is injected into the page to record it, so recording costs no round trip to the browser (an
exposed binding called at the load event added 5-10% to a local navigation); looking for the
overlays the plugins name (``flows.detect_overlays``) is one ``evaluate`` after the load, off
the navigation's path, and none once the site's banner is known.
Nothing here waits on the browser or the store: the flows do (``flows``), through ``io``, the
one part that differs between the two APIs, chosen once by ``attach()``.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pluggy

from .._core.errors import PluginError, UnknownPurpose
from .._core.ratelimit import retry_after_of
from .._drive import Flow
from .._hookcall import report
from .._hooktypes import NavigationOptions, Visit
from .._memory import SiteMemory
from .._sitekeys import plugin_site_key
from . import flows
from .io import Io
from .navigation import failed_visit, is_aborted, loaded_visit, number

_KEY_CACHE = 4096


@dataclass
class PageState:
    """What a handle tracks per page."""

    #: Failed navigations recorded on this page; a ``goto`` that fails records its own failure
    #: only if no event recorded it first.
    failures: int = 0
    #: The navigation of a ``goto`` that timed out: its late load is the same visit, recorded
    #: already as a failure, not a new one. Its response if it had arrived, else its URL until
    #: the response arrives (or another ``goto`` starts, which cancels it).
    timed_out_response: Any = None
    timed_out_url: str | None = None
    #: The main frame's navigation response awaiting its load event, and when the document's
    #: DOMContentLoaded was reported (seconds since the epoch).
    response: Any = None
    dcl_at: float | None = None
    #: Visits recorded on this page (at its load, or its close before the load), so a navigation
    #: another client made is known to have loaded when a later step of that client fails.
    visits: int = 0
    #: Overlay selectors whose locator handler this handle installed on the page.
    overlays: set[str] = field(default_factory=set)


class Handle:
    """State and pure decisions of a handle returned by ``attach()``."""

    #: The I/O of the handle's API: blocking or asyncio (set by the subclass).
    _io: Io

    def __init__(
        self, target: Any, memory: SiteMemory, plugins: pluggy.PluginManager, *, owns_memory: bool,
        is_context: bool,
    ) -> None:
        self.target = target
        self.memory = memory
        self.plugins = plugins
        #: Plugin errors raised while recording navigations (which happens off the navigation's
        #: path); each is logged, and the next ``settle()`` raises the first one.
        self.errors: list[PluginError] = []
        self._unraised: list[PluginError] = []
        self._errors_lock = threading.Lock()
        self._owns_memory = owns_memory
        self._is_context = is_context
        self._attached = False
        self._detached = False
        self._watched: weakref.WeakSet[Any] = weakref.WeakSet()
        self._orphans: dict[str, Any] = {}
        self._keys: dict[str, str] = {}
        #: The page actions go to by default (see ``flows.page_of``).
        self._current: Any = None
        self._pages: weakref.WeakKeyDictionary[Any, PageState] = weakref.WeakKeyDictionary()
        #: Sites whose pages were looked at for overlays once with patience (see
        #: ``flows.detect_overlays``).
        self.probed: set[str] = set()

    def __repr__(self) -> str:
        state = "detached" if self._detached else "attached" if self._attached else "not attached"
        return f"<{type(self).__name__} {state} to {type(self.target).__name__} memory={self.memory!r}>"

    def key(self, url: str) -> str:
        """The site key of ``url``: the first ``sitememory_site_key`` answer, else the host.

        :raises ValueError: the URL names no web site.
        :raises PluginError: a plugin raised, or answered something that is not a site key.
        """
        cached = self._keys.get(url)
        if cached is not None:
            return cached
        key = plugin_site_key(self.plugins, url)
        if len(self._keys) >= _KEY_CACHE:
            self._keys.clear()
        self._keys[url] = key
        return key

    def web_key(self, url: str) -> str | None:
        """:meth:`key`, or ``None`` for a URL that is no web site (``about:blank``, ``data:``)."""
        try:
            return self.key(url)
        except PluginError:
            raise
        except ValueError:
            return None

    def pages_with_overlays(self) -> list[Any]:
        """Pages this handle installed overlay handlers on (watched or passed as ``page=``)."""
        return [page for page, state in list(self._pages.items()) if state.overlays]

    def state(self, page: Any) -> PageState:
        state = self._pages.get(page)
        if state is None:
            state = self._pages[page] = PageState()
        return state

    def options(
        self, timeout: float | None, wait_until: str | None, referer: str | None
    ) -> NavigationOptions:
        given = {"timeout": timeout, "wait_until": wait_until, "referer": referer}
        return NavigationOptions(
            timeout=timeout, wait_until=wait_until, referer=referer,
            explicit=frozenset(name for name, value in given.items() if value is not None),
        )

    def unknown(self, purpose: str, key: str) -> UnknownPurpose:
        return UnknownPurpose(
            f"no selector known for {purpose!r} on {key}: pass one, e.g. "
            f"site.click({purpose!r}, '#id'); it is remembered once it works"
        )

    # -- listeners (the same calls in both APIs: ``on`` and ``remove_listener`` do no I/O) ---

    def _open(self) -> None:
        """Check the handle is usable; listen to the target's events if not yet."""
        self.check_open()
        if not self._attached:
            self._attached = True
            self.subscribe()

    def subscribe(self) -> None:
        """Listen to the target's navigation events, and to every page's (new ones included)."""
        self.target.on("response", self.note_response)
        self.target.on("requestfailed", self._on_request_failed)
        if self._is_context:
            self.target.on("page", self._watch)
            for page in self.target.pages:
                self._watch(page)
        else:
            self._watch(self.target)

    def unsubscribe(self) -> None:
        """Stop listening to the target and its pages."""
        self.target.remove_listener("response", self.note_response)
        self.target.remove_listener("requestfailed", self._on_request_failed)
        if self._is_context:
            self.target.remove_listener("page", self._watch)
        for page in list(self._watched):
            page.remove_listener("domcontentloaded", self.note_dom_content_loaded)
            page.remove_listener("load", self._on_load)
            page.remove_listener("close", self._on_close)

    def _watch(self, page: Any) -> None:
        page.on("domcontentloaded", self.note_dom_content_loaded)
        page.on("load", self._on_load)
        page.on("close", self._on_close)
        self._watched.add(page)

    def _on_load(self, page: Any) -> None:
        visit = self.loaded(page)
        if visit is not None:
            self._io.spawn(self._record(page, visit))
        if not self._detached:
            self._io.spawn(flows.detect_overlays(self, page), recording=False)

    def _on_close(self, page: Any) -> None:
        visit = None if self._detached else self.unloaded(page)
        if visit is not None:
            self._io.spawn(self._record(page, visit))

    def _on_request_failed(self, request: Any) -> None:
        failed = self.failed(request)
        if failed is not None:
            self._io.spawn(self._record(*failed, counted=True))

    def overlay_learned(self, page: Any, key: str, selector: str) -> Flow[None]:
        """The flow that dismisses an overlay the handle has just recognised on ``page``: a
        locator handler, as ``site.remember_overlay`` installs."""
        return flows.install_overlay(self, page, key, selector)

    def _record(self, page: Any, visit: Visit, counted: bool = False) -> Flow[Any]:
        """The flow that records a visit the page's events made."""
        return flows.record(self, page, visit, counted)

    # -- events -> visits (Playwright calls these in order, for async and sync API alike) -------

    def note_response(self, response: Any) -> None:
        """A response arrived; keep it if it is a page's main-frame navigation."""
        if self._detached:
            return
        try:
            request = response.request
            if not request.is_navigation_request():
                return
        except Exception:
            return
        try:
            frame = response.frame
        except Exception:
            # A new page's first navigation starts before its frame exists (a popup): match it
            # to the page by URL at the load event.
            self._orphans[response.url] = response
            while len(self._orphans) > 32:
                del self._orphans[next(iter(self._orphans))]
            return
        page = frame.page
        if frame != page.main_frame:
            return
        state = self.state(page)  # a redirect's response is replaced by its target's, in turn
        state.response, state.dcl_at = response, None
        if state.timed_out_url is not None and same_url(_first(request).url, state.timed_out_url):
            state.timed_out_response, state.timed_out_url = response, None

    def note_dom_content_loaded(self, page: Any) -> None:
        state = self.state(page)
        if state.response is not None:
            state.dcl_at = time.time()

    def loaded(self, page: Any) -> Visit | None:
        """The visit a page's load event completes, or ``None`` (not ours, or a late load)."""
        load_at = time.time()
        if self._detached:
            return None
        state = self.state(page)
        response, state.response = state.response, None
        if response is None:
            response = self._orphans.pop(page.url, None)
        return self._visit(state, response, load_at)

    def unloaded(self, page: Any) -> Visit | None:
        """The visit of a page's navigation that had its response but no load event when the page
        closed or the handle detached (a crawler that went on at ``DOMContentLoaded``), or
        ``None``."""
        state = self._pages.get(page)
        if state is None or state.response is None:
            return None
        response, state.response = state.response, None
        return self._visit(state, response, None)

    def _visit(self, state: PageState, response: Any, load_at: float | None) -> Visit | None:
        if response is None:
            return None  # no navigation response: an error page, about:blank, a data: URL
        if response is state.timed_out_response:
            state.timed_out_response = None
            return None  # the late load of a goto that timed out: recorded already, as a failure
        request = response.request
        first, redirects = request, 0
        while first.redirected_from is not None:
            first, redirects = first.redirected_from, redirects + 1
        started = number(first.timing.get("startTime"))
        if started is None:
            return None
        final_start = number(request.timing.get("startTime"))
        response_start = number(request.timing.get("responseStart"))
        ttfb = None if final_start is None or response_start is None else final_start + response_start
        visit = loaded_visit(
            url=response.url, status=response.status, started_ms=started, ttfb_ms=ttfb,
            dcl_at=state.dcl_at, load_at=load_at,
            transfer_bytes=_content_length(response.headers), redirects=redirects,
            retry_after=_retry_after(response),
        )
        state.visits += 1
        return visit

    def failed(self, request: Any) -> tuple[Any, Visit] | None:
        """The page and failed visit of a request that failed, if it was a page's main-frame
        navigation, not cut short by another one; counted on the page at once, so a ``goto``
        failing meanwhile does not record it a second time."""
        if self._detached:
            return None
        try:
            if not request.is_navigation_request():
                return None
            frame = request.frame
            page = frame.page
            if frame != page.main_frame:
                return None
        except Exception:
            return None  # a service worker's request, or a popup's first: no frame
        error = request.failure or "navigation failed"
        if is_aborted(error):
            return None
        started = number(request.timing.get("startTime"))
        duration = time.time() - started / 1000 if started else 0.0
        self.state(page).failures += 1
        return page, failed_visit(request.url, duration, error)

    def timed_out(self, page: Any, url: str) -> None:
        """``goto(url)`` timed out on ``page``: its navigation's late load is no new visit."""
        state = self.state(page)
        if state.response is not None and same_url(_first(state.response.request).url, url):
            state.timed_out_response, state.timed_out_url = state.response, None
        else:
            state.timed_out_url = url

    # -- errors ------------------------------------------------------------------------------

    def keep_error(self, error: PluginError) -> None:
        """Log ``error`` and keep it for ``settle()`` (called from the write queue's thread too)."""
        report(error)
        with self._errors_lock:
            self.errors.append(error)
            self._unraised.append(error)

    def raise_kept(self) -> None:
        """Raise the first plugin error kept since the last call, if any."""
        with self._errors_lock:
            unraised, self._unraised = self._unraised, []
        if unraised:
            raise unraised[0]

    def check_open(self) -> None:
        if self._detached:
            raise RuntimeError("this handle was detached; attach() the target again")


def _content_length(headers: Any) -> float | None:
    try:
        value = int(headers.get("content-length", ""))
    except (TypeError, ValueError, AttributeError):
        return None
    return float(value) if value >= 0 else None


def _retry_after(response: Any) -> float | None:
    """The seconds a rate-limited response (429, 503) asks to wait (its ``Retry-After``), or
    ``None``: another status, no such header, or one that is junk."""
    try:
        status = response.status
        headers = response.headers  # lower-cased names; the response's own, as received
        value, date = headers.get("retry-after"), headers.get("date")
    except Exception:
        return None
    return retry_after_of(status, value if isinstance(value, str) else None,
                          date if isinstance(date, str) else None, time.time())


def same_url(requested: str, given: str) -> bool:
    """Whether the browser's request URL is the one a caller passed to ``goto``, as Chromium
    normalises it: scheme and host in lower case, an empty path as ``/``, no fragment."""
    if requested == given:
        return True
    try:
        a, b = urlsplit(requested), urlsplit(given)
        return (a.scheme.lower(), a.netloc.lower(), a.path or "/", a.query) == (
            b.scheme.lower(), b.netloc.lower(), b.path or "/", b.query
        )
    except ValueError:
        return False


def _first(request: Any) -> Any:
    """The first request of a redirect chain."""
    while request.redirected_from is not None:
        request = request.redirected_from
    return request
