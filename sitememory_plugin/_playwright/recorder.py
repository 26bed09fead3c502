"""Record a browser that another client drives, over the Chrome DevTools Protocol.

An LLM agent on Playwright MCP, browser-use or Stagehand drives Chromium through a connection of
its own; :class:`CdpRecorder` opens a second one (``connect_over_cdp``) and attaches every
context, so each main-frame navigation becomes a visit exactly as under ``attach()``. Pages of
contexts other clients create show up in the browser's default context on this connection, so
they are recorded too.

Overlays: a locator handler runs only before the actions of the Playwright client that
installed it, so one installed here would never fire for the agent's clicks. Instead, after
each load, the recorder waits briefly for the site's known overlays and clicks them away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pluggy
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from .._core.errors import PluginError
from .._core.redact import redact
from .._drive import Flow, run_async
from .._hookcall import report
from .._hooktypes import Visit
from .._memory import SiteMemory
from .._plugins import get_plugin_manager
from . import flows
from .async_site import AsyncSite

log = logging.getLogger("sitememory.recorder")

#: How long after a page's load the recorder waits for a known overlay to show, by default (s).
OVERLAY_WINDOW = 5.0
_RETRY = 0.5


class BrowserUnavailable(ConnectionError):
    """No browser answers at the CDP endpoint, or the one that did went away (and, with a
    reconnect window, did not come back within it)."""


@dataclass
class Tally:
    """What a recorder did so far."""

    #: Navigations recorded (loaded or failed), and how many of those failed.
    visits: int = 0
    failures: int = 0
    #: Overlays clicked away.
    dismissed: int = 0
    #: Visits that could not be written (each is logged).
    errors: int = 0
    #: Connections made to the browser (more than one after a reconnect).
    connections: int = 0


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` if it is a CDP endpoint URL (``http(s)://`` or ``ws(s)://`` with a host).

    :raises ValueError: it is not.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"the CDP endpoint must be a URL string, not {type(endpoint).__name__}")
    try:
        parts = urlsplit(endpoint)
        _ = parts.port  # a port that is no number raises here
    except ValueError as exc:
        raise ValueError(f"not a CDP endpoint URL: {endpoint!r} ({exc})") from None
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise ValueError(
            f"not a CDP endpoint URL: {endpoint!r}: expected e.g. http://127.0.0.1:9222 (Chromium "
            "started with --remote-debugging-port=9222) or its ws:// URL"
        )
    return endpoint


class RecordingSite(AsyncSite):
    """The handle of one recorded context: ``attach()``'s recording, plus a count of what it
    recorded and the overlay sweep after each load. It leaves the agent's dialogs to the agent."""

    def __init__(self, *args: Any, recorder: CdpRecorder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder
        #: Each page's running overlay sweep and the site it sweeps, cancelled when the page
        #: leaves that site or loads again.
        self._sweeps: dict[Any, tuple[str | None, asyncio.Task[None]]] = {}
        self._closing = False

    def subscribe(self) -> None:
        super().subscribe()
        # With no dialog listener, this connection's Playwright would dismiss every alert and
        # confirm at once, before the agent's own client could answer it.
        self.target.on("dialog", _leave_to_the_agent)

    def unsubscribe(self) -> None:
        # The dialog listener stays until the connection closes: removed now, a dialog opened
        # while the last visits are written would be dismissed.
        super().unsubscribe()
        for page in list(self._watched):
            page.remove_listener("framenavigated", self._on_navigated)

    def _watch(self, page: Any) -> None:
        super()._watch(page)
        page.on("framenavigated", self._on_navigated)

    def _on_navigated(self, frame: Any) -> None:
        # Also a same-document navigation (pushState, a hash): the sweep goes on while the page
        # stays on its site; a new document of the site starts its own at its load.
        if frame.parent_frame is not None:
            return
        sweep = self._sweeps.get(frame.page)
        if sweep is not None and self.web_key(frame.url) != sweep[0]:
            self._cancel_sweep(frame.page)

    def _on_load(self, page: Any) -> None:
        super()._on_load(page)
        self._start_sweep(page)

    def overlay_learned(self, page: Any, key: str, selector: str) -> Flow[None]:
        # A locator handler here would never fire for the agent's clicks: sweep the page again,
        # now that the site's profile names the overlay.
        yield from ()
        self._start_sweep(page)

    def _start_sweep(self, page: Any) -> None:
        if self._recorder.overlay_window > 0 and not self._closing:
            self._cancel_sweep(page)
            task = asyncio.ensure_future(self._sweep(page))
            self._sweeps[page] = (self.web_key(page.url), task)
            task.add_done_callback(lambda done: self._forget_sweep(page, done))

    def _record(self, page: Any, visit: Visit, counted: bool = False) -> Flow[None]:
        if (yield from flows.record(self, page, visit, counted)):
            self._recorder._recorded(visit)

    def keep_error(self, error: PluginError) -> None:
        # Nobody calls settle() on a recorder's handle: log and count instead of keeping, or a
        # store that keeps failing would grow the list for as long as the recorder runs.
        report(error)
        self._recorder.tally.errors += 1

    async def _sweep(self, page: Any) -> None:
        try:
            clicked = await run_async(
                flows.sweep_overlays(self, page, self._recorder.overlay_window * 1000)
            )
        except Exception:
            log.exception("sitememory: the overlay sweep of %s failed", redact(page.url))
            return
        if clicked:
            self._recorder.tally.dismissed += clicked
            log.info("sitememory: dismissed %d overlay(s) on %s", clicked, redact(page.url))

    def _cancel_sweep(self, page: Any) -> None:
        sweep = self._sweeps.pop(page, None)
        if sweep is not None:
            sweep[1].cancel()

    def _forget_sweep(self, page: Any, task: asyncio.Task[None]) -> None:
        sweep = self._sweeps.get(page)
        if sweep is not None and sweep[1] is task:
            del self._sweeps[page]

    async def detach(self) -> None:
        self._closing = True  # no new sweep from a load that arrives meanwhile
        sweeps = [task for _, task in self._sweeps.values()]
        for task in sweeps:
            task.cancel()
        await asyncio.gather(*sweeps, return_exceptions=True)
        await super().detach()


def _leave_to_the_agent(dialog: Any) -> None:
    """A listener that does nothing: the dialog is the agent's to answer."""


class CdpRecorder:
    """Record every main-frame navigation of a running Chromium into ``memory``.

    ``await recorder.run()`` connects to ``endpoint`` (e.g. ``http://127.0.0.1:9222``) and
    records all its contexts and pages, existing and future, until :meth:`stop`. The browser is
    never closed by the recorder.

    :param reconnect: seconds to keep trying when the browser cannot be reached (at the start)
        or goes away; 0 gives up at once, ``math.inf`` never.
    :param overlay_window: seconds after each load to wait for a known overlay to click away;
        0 turns the sweep off.
    :param on_visit: called with each recorded visit, after it is written.
    """

    def __init__(
        self, endpoint: str, memory: SiteMemory, *, plugins: pluggy.PluginManager | None = None,
        reconnect: float = 0.0, overlay_window: float = OVERLAY_WINDOW,
        on_visit: Callable[[Visit], None] | None = None,
    ) -> None:
        self.endpoint = check_endpoint(endpoint)
        if not reconnect >= 0 or not overlay_window >= 0:
            raise ValueError("reconnect and overlay_window must be >= 0 seconds")
        self.memory = memory
        self.plugins = plugins if plugins is not None else get_plugin_manager()
        self.reconnect = reconnect
        self.overlay_window = overlay_window
        self.on_visit = on_visit
        self.tally = Tally()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._attempted = asyncio.Event()

    def __repr__(self) -> str:
        return f"<CdpRecorder {redact(self.endpoint)} {self.tally}>"

    def stop(self) -> None:
        """Make :meth:`run` return, after the visits recorded so far are written (call it in the
        recorder's event loop)."""
        self._stopping.set()

    async def connected(self) -> None:
        """Wait until the recorder is connected and attached to the browser's contexts."""
        await self._connected.wait()

    async def attempted(self) -> None:
        """Wait until the first attempt to connect has succeeded or failed."""
        await self._attempted.wait()

    async def run(self) -> None:
        """Record until :meth:`stop`. Runs once per recorder.

        :raises BrowserUnavailable: no browser answered at the endpoint, or it went away, for
            longer than ``reconnect`` seconds.
        """
        shown = redact(self.endpoint)
        async with async_playwright() as playwright:
            down_since, warned = time.monotonic(), False
            while not self._stopping.is_set():
                try:
                    browser = await self._connect(playwright)
                except PlaywrightError as exc:
                    self._attempted.set()
                    waited = time.monotonic() - down_since
                    why = redact(flows.first_line(exc))
                    if waited >= self.reconnect:
                        what = "went away" if self.tally.connections else "does not answer"
                        after = f" (tried for {waited:.0f} s)" if self.reconnect else ""
                        raise BrowserUnavailable(f"the browser at {shown} {what}{after}: {why}") from None
                    if not warned:
                        log.warning("sitememory: no browser answers at %s (%s); trying again", shown, why)
                        warned = True
                    await self._pause(_RETRY)
                    continue
                if browser is None:
                    break  # stopped while connecting
                self.tally.connections += 1
                level = logging.WARNING if self.tally.connections > 1 else logging.INFO
                log.log(level, "sitememory: recording the browser at %s", shown)
                await self._record(browser)
                down_since, warned = time.monotonic(), False
                if not self._stopping.is_set():
                    log.warning("sitememory: the browser at %s went away", shown)

    async def _connect(self, playwright: Playwright) -> Browser | None:
        """A connection to the browser, or ``None`` if the recorder was stopped meanwhile."""
        # no_defaults: the browser is someone else's; Playwright's default overrides would send
        # the agent's downloads to this connection's temporary folder and emulate focus.
        connecting = asyncio.ensure_future(
            playwright.chromium.connect_over_cdp(self.endpoint, timeout=10_000, no_defaults=True)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not connecting.done():  # stopped, or this task was cancelled
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
        return None if connecting.cancelled() else connecting.result()

    async def _record(self, browser: Browser) -> None:
        """Attach every context of ``browser`` until it disconnects or the recorder stops."""
        gone = asyncio.Event()
        sites: list[RecordingSite] = []

        def add(context: BrowserContext) -> None:
            site = RecordingSite(
                context, self.memory, self.plugins, owns_memory=False, is_context=True, recorder=self,
            )
            site._open()
            sites.append(site)

        browser.on("disconnected", lambda _: gone.set())
        browser.on("context", add)
        for context in browser.contexts:
            add(context)
        self._connected.set()
        self._attempted.set()
        waiters = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._connected.clear()
            for site in sites:
                await site.detach()  # waits for the visits in flight to be written
        # The driver is stopped when run() ends, which drops the connection: browser.close()
        # would close the contexts of a browser that belongs to someone else.

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _recorded(self, visit: Visit) -> None:
        self.tally.visits += 1
        if not visit.ok:
            self.tally.failures += 1
        if self.on_visit is not None:
            try:
                self.on_visit(visit)
            except Exception:
                log.exception("sitememory: on_visit raised")
