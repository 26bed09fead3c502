"""``AsyncSite``: the handle ``attach()`` returns for Playwright's async API."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, Request, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from .._builtins.overlays import OverlayHandlers, overlay_workaround
from .._core.errors import PluginError
from .._core.prompt import DEFAULT_MAX_CHARS, bounded
from .._core.redact import redact
from .._hookcall import call_async
from .base import SiteBase, log
from .navigation import Visit, failed_visit, is_aborted
from .selectors import unique


class AsyncSite(SiteBase):
    """A Playwright ``BrowserContext`` or ``Page`` (async API) joined to a :class:`SiteMemory`.

    Every main-frame navigation of the target is recorded; ``goto``, ``click``, ``fill`` and
    ``locator`` consult the memory first. ``await attach(...)`` or ``async with attach(...)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Task[Any]] = set()

    def __await__(self) -> Generator[Any, None, AsyncSite]:
        return self._attach().__await__()

    async def __aenter__(self) -> AsyncSite:
        return await self._attach()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.detach()

    async def _attach(self) -> AsyncSite:
        self.check_open()
        if not self._attached:
            self._attached = True
            self.subscribe()
        return self

    async def detach(self) -> None:
        """Stop recording and consulting; waits for recordings in flight. Idempotent."""
        if self._detached:
            return
        self._detached = True
        if self._attached:
            overlays = self.plugins.get_plugin("overlays")
            for page in self.unsubscribe():
                if isinstance(overlays, OverlayHandlers):
                    with contextlib.suppress(PlaywrightError):  # closed meanwhile: nothing to remove
                        removed = overlays.uninstall(page)
                        if removed is not None:
                            await removed
            await self._drain()  # errors are logged and kept in .errors already
        if self._owns_memory:
            await self.memory.close()

    async def settle(self) -> None:
        """Wait until the visits of navigations that already happened are recorded.

        Recording is off the navigation's path (``goto`` returns at the load event); call this
        before reading the memory for what the last navigations taught it.
        :raises PluginError: a plugin raised while recording, since the last ``settle()``.
        """
        await self._drain()
        self.raise_kept()

    async def _drain(self) -> None:
        while pending := self._tasks - {asyncio.current_task()}:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- navigation ------------------------------------------------------------------------

    async def goto(
        self, url: str, *, page: Page | None = None, timeout: float | None = None,
        wait_until: Any = None, referer: str | None = None, **kwargs: Any,
    ) -> Response | None:
        """``page.goto(url)`` with the site's adapted timeout and politeness delay; records the visit.

        ``timeout`` is in milliseconds as in Playwright; one you pass is never adapted.
        :raises NavigationRefused: a plugin refused the navigation.
        """
        await self._attach()
        page = await self._page(page)
        key = self.web_key(url)
        options = self.options(timeout, wait_until, referer)
        if key is None:  # about:blank and the like: nothing to consult or record
            return await page.goto(url, **options.goto_kwargs(), **kwargs)
        profile = await self.memory.get_profile(key)
        await call_async(
            self.plugins, "sitememory_before_navigation", page=page, url=url, key=key,
            profile=profile, options=options, memory=self.memory,
        )
        if options.delay > 0:
            await asyncio.sleep(options.delay)
        state = self.state(page)
        state.timed_out_url = None  # a new navigation cancels one still waiting for its response
        failures = state.failures
        started = time.monotonic()
        try:
            return await page.goto(url, **options.goto_kwargs(), **kwargs)
        except PlaywrightError as exc:
            await self._drain()  # a failure event may have recorded it already
            if state.failures == failures and not is_aborted(str(exc)):
                if isinstance(exc, PlaywrightTimeoutError):
                    self.timed_out(page, url)
                await self._record(page, failed_visit(url, time.monotonic() - started, str(exc)))
            raise

    def _on_load(self, page: Page) -> None:
        visit = self.loaded(page)
        if visit is not None:
            self._spawn(self._record(page, visit))

    def _on_request_failed(self, request: Request) -> None:
        failed = self.failed(request)
        if failed is not None:
            self._spawn(self._record(*failed, counted=True))

    def _spawn(self, recording: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(recording)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, page: Page, visit: Visit, counted: bool = False) -> None:
        try:
            key = self.web_key(visit.url)
            if key is None:
                return
            if not visit.ok and not counted:
                self.state(page).failures += 1
            profile = await self.memory.get_profile(key)
            await call_async(
                self.plugins, "sitememory_after_navigation", page=page, url=visit.url, key=key,
                visit=visit, profile=profile, memory=self.memory,
            )
        except PluginError as exc:
            self.keep_error(exc)
        except Exception:
            log.exception("sitememory: could not record a visit to %s", redact(visit.url))

    # -- actions ---------------------------------------------------------------------------

    async def click(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> str:
        """Click the element for ``purpose``: the remembered selector, its fallbacks, then ``selectors``.

        Returns the selector used; the outcome of each one tried is remembered.
        :raises UnknownPurpose: no selector is remembered or given.
        """
        return await self._act(
            "click", purpose, selectors, page, timeout,
            lambda loc: loc.click(timeout=timeout, **kwargs),
        )

    async def fill(
        self, purpose: str, value: str, *selectors: str, page: Page | None = None,
        timeout: float | None = None, **kwargs: Any,
    ) -> str:
        """Fill the element for ``purpose`` with ``value``; like :meth:`click` otherwise."""
        return await self._act(
            "fill", purpose, selectors, page, timeout,
            lambda loc: loc.fill(value, timeout=timeout, **kwargs),
        )

    async def locator(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None
    ) -> Locator:
        """A locator for the first candidate for ``purpose`` that is visible (waits for one)."""
        page = await self._page(page)
        chosen = await self._act("locator", purpose, selectors, page, timeout, None)
        return page.locator(chosen).first

    async def _act(
        self, action: str, purpose: str, selectors: tuple[str, ...], page: Page | None,
        timeout: float | None, perform: Callable[[Locator], Awaitable[None]] | None,
    ) -> str:
        await self._attach()
        page = await self._page(page)
        key = self.key(page.url)
        profile = await self.memory.get_profile(key)
        candidates = unique(selectors)
        await call_async(
            self.plugins, "sitememory_before_action", page=page, action=action, purpose=purpose,
            key=key, profile=profile, candidates=candidates, memory=self.memory,
        )
        candidates[:] = unique(candidates)
        if not candidates:
            raise self.unknown(purpose, key)
        chosen: str | None = None
        error: BaseException | None = None
        try:
            chosen = await self._pick(page, candidates, timeout)
            if perform is not None:
                await perform(page.locator(chosen).first)
        except PlaywrightError as exc:
            error = exc
            exc.add_note(f"sitememory: {action} {purpose!r} on {key}, candidates {candidates}")
        report = self.action_report(page, action, purpose, key, profile, candidates, chosen, error)
        try:
            await call_async(self.plugins, "sitememory_after_action", **report)
        except PluginError as exc:
            return self.action_result(chosen, error, exc)
        return self.action_result(chosen, error)

    async def _pick(self, page: Page, candidates: list[str], timeout: float | None) -> str:
        """The best-ranked candidate that is visible now, else the first to become visible."""
        valid: list[str] = []
        for selector in candidates:
            try:
                if await page.locator(selector).first.is_visible():
                    return selector
            except PlaywrightError:
                continue  # not a valid selector: it never matches, and counts as a failure
            valid.append(selector)
        if not valid:
            raise PlaywrightError(f"no valid selector among {candidates}")
        combined = page.locator(valid[0])
        for selector in valid[1:]:
            combined = combined.or_(page.locator(selector))
        await combined.first.wait_for(state="visible", timeout=timeout)
        for selector in valid:
            if await page.locator(selector).first.is_visible():
                return selector
        return valid[0]  # it went away again in between; the action will say so

    # -- knowledge -------------------------------------------------------------------------

    async def remember_overlay(
        self, selector: str, description: str = "an overlay blocks actions", *, page: Page | None = None
    ) -> None:
        """Remember that ``selector`` dismisses an overlay on the page's site, and handle it now."""
        page = await self._page(page)
        key = self.key(page.url)
        await self.memory.record_quirk(key, description, overlay_workaround(selector))
        overlays = self.plugins.get_plugin("overlays")
        if isinstance(overlays, OverlayHandlers):
            installed = overlays.install(page, overlays.wanted(page, await self.memory.get_profile(key)))
            if inspect.isawaitable(installed):
                await installed

    async def prompt_context(
        self, url: str | None = None, *, page: Page | None = None, max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        """What the memory knows of the site of ``url`` (default: the page's), for an LLM prompt."""
        if url is None:
            url = (await self._page(page)).url
        await self.settle()
        key = self.key(url)
        lines: list[str] = []
        await call_async(
            self.plugins, "sitememory_prompt_context", key=key,
            profile=await self.memory.get_profile(key), lines=lines,
        )
        return bounded(lines, max_chars)

    async def _page(self, page: Page | None) -> Page:
        # A context's default page is the one last passed in, else its first open page: a popup
        # opening must not move the agent's actions to it behind its back.
        if page is not None:
            self._current = page
            return page
        if not self._is_context:
            target: Page = self.target
            return target
        current: Page | None = self._current
        if current is not None and not current.is_closed():
            return current
        open_pages: list[Page] = [p for p in self.target.pages if not p.is_closed()]
        chosen: Page = open_pages[0] if open_pages else await self.target.new_page()
        self._current = chosen
        return chosen
