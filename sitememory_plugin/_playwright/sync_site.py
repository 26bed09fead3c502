"""``SyncSite``: the handle ``attach()`` returns for Playwright's sync API.

The same steps as ``AsyncSite``, blocking: Playwright's sync API runs event handlers inside the
calling thread's own Playwright calls, so hooks run there; the built-in recorder hands the write
to a worker thread. Nothing here touches an event loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, Request, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .._builtins.overlays import OverlayHandlers, overlay_workaround
from .._core.errors import PluginError
from .._core.prompt import DEFAULT_MAX_CHARS, bounded
from .._core.redact import redact
from .._hookcall import call_sync
from .base import SiteBase, log
from .navigation import Visit, failed_visit, is_aborted
from .selectors import unique


class SyncSite(SiteBase):
    """A Playwright ``BrowserContext`` or ``Page`` (sync API) joined to a :class:`SiteMemory`.

    Every main-frame navigation of the target is recorded; ``goto``, ``click``, ``fill`` and
    ``locator`` consult the memory first. Use as ``site = attach(...)`` or ``with attach(...)``.
    """

    def __enter__(self) -> SyncSite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.detach()

    def _attach_now(self) -> SyncSite:
        self.check_open()
        if not self._attached:
            self._attached = True
            self.subscribe()
        return self

    def detach(self) -> None:
        """Stop recording and consulting; waits for recordings in flight. Idempotent."""
        if self._detached:
            return
        self._detached = True
        if self._attached:
            overlays = self.plugins.get_plugin("overlays")
            for page in self.unsubscribe():
                if isinstance(overlays, OverlayHandlers):
                    with contextlib.suppress(PlaywrightError):  # closed meanwhile: nothing to remove
                        overlays.uninstall(page)
            self._drain()  # errors are logged and kept in .errors already
        if self._owns_memory:
            self.memory.close_sync()

    def settle(self) -> None:
        """Wait until the visits of navigations that already happened are recorded.

        Recording is off the navigation's path (the built-in recorder writes on a worker
        thread); call this before reading the memory for what the last navigations taught it.
        :raises PluginError: a plugin raised while recording, since the last ``settle()``.
        """
        self._drain()
        self.raise_kept()

    def _drain(self) -> None:
        recorder = self.plugins.get_plugin("recorder")
        if recorder is not None and callable(getattr(recorder, "wait", None)):
            try:
                recorder.wait()
            except Exception as exc:
                error = PluginError(
                    f"plugin 'recorder' failed to write a visit: {type(exc).__name__}: {exc}",
                    "recorder", "sitememory_after_navigation",
                )
                error.__cause__ = exc
                self.errors.append(error)  # logged by the recorder when it failed
                self._unraised.append(error)

    # -- navigation ------------------------------------------------------------------------

    def goto(
        self, url: str, *, page: Page | None = None, timeout: float | None = None,
        wait_until: Any = None, referer: str | None = None, **kwargs: Any,
    ) -> Response | None:
        """``page.goto(url)`` with the site's adapted timeout and politeness delay; records the visit.

        ``timeout`` is in milliseconds as in Playwright; one you pass is never adapted.
        :raises NavigationRefused: a plugin refused the navigation.
        """
        self.check_open()
        page = self._page(page)
        key = self.web_key(url)
        options = self.options(timeout, wait_until, referer)
        if key is None:  # about:blank and the like: nothing to consult or record
            return page.goto(url, **options.goto_kwargs(), **kwargs)
        profile = self.memory.get_profile_sync(key)
        call_sync(
            self.plugins, "sitememory_before_navigation", page=page, url=url, key=key,
            profile=profile, options=options, memory=self.memory,
        )
        if options.delay > 0:
            time.sleep(options.delay)
        state = self.state(page)
        state.timed_out_url = None  # a new navigation cancels one still waiting for its response
        failures = state.failures
        started = time.monotonic()
        try:
            return page.goto(url, **options.goto_kwargs(), **kwargs)
        except PlaywrightError as exc:
            if state.failures == failures and not is_aborted(str(exc)):
                if isinstance(exc, PlaywrightTimeoutError):
                    self.timed_out(page, url)
                self._record(page, failed_visit(url, time.monotonic() - started, str(exc)))
            raise

    def _on_load(self, page: Page) -> None:
        visit = self.loaded(page)
        if visit is not None:
            self._record(page, visit)

    def _on_request_failed(self, request: Request) -> None:
        failed = self.failed(request)
        if failed is not None:
            self._record(*failed, counted=True)

    def _record(self, page: Page, visit: Visit, counted: bool = False) -> None:
        try:
            key = self.web_key(visit.url)
            if key is None:
                return
            if not visit.ok and not counted:
                self.state(page).failures += 1
            profile = self.memory.get_profile_sync(key)
            call_sync(
                self.plugins, "sitememory_after_navigation", page=page, url=visit.url, key=key,
                visit=visit, profile=profile, memory=self.memory,
            )
        except PluginError as exc:
            self.keep_error(exc)
        except Exception:
            log.exception("sitememory: could not record a visit to %s", redact(visit.url))

    # -- actions ---------------------------------------------------------------------------

    def click(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> str:
        """Click the element for ``purpose``: the remembered selector, its fallbacks, then ``selectors``.

        Returns the selector used; the outcome of each one tried is remembered.
        :raises UnknownPurpose: no selector is remembered or given.
        """
        return self._act(
            "click", purpose, selectors, page, timeout, lambda loc: loc.click(timeout=timeout, **kwargs)
        )

    def fill(
        self, purpose: str, value: str, *selectors: str, page: Page | None = None,
        timeout: float | None = None, **kwargs: Any,
    ) -> str:
        """Fill the element for ``purpose`` with ``value``; like :meth:`click` otherwise."""
        return self._act(
            "fill", purpose, selectors, page, timeout,
            lambda loc: loc.fill(value, timeout=timeout, **kwargs),
        )

    def locator(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None
    ) -> Locator:
        """A locator for the first candidate for ``purpose`` that is visible (waits for one)."""
        page = self._page(page)
        return page.locator(self._act("locator", purpose, selectors, page, timeout, None)).first

    def _act(
        self, action: str, purpose: str, selectors: tuple[str, ...], page: Page | None,
        timeout: float | None, perform: Callable[[Locator], None] | None,
    ) -> str:
        self.check_open()
        page = self._page(page)
        key = self.key(page.url)
        profile = self.memory.get_profile_sync(key)
        candidates = unique(selectors)
        call_sync(
            self.plugins, "sitememory_before_action", page=page, action=action, purpose=purpose,
            key=key, profile=profile, candidates=candidates, memory=self.memory,
        )
        candidates[:] = unique(candidates)
        if not candidates:
            raise self.unknown(purpose, key)
        chosen: str | None = None
        error: BaseException | None = None
        try:
            chosen = self._pick(page, candidates, timeout)
            if perform is not None:
                perform(page.locator(chosen).first)
        except PlaywrightError as exc:
            error = exc
            exc.add_note(f"sitememory: {action} {purpose!r} on {key}, candidates {candidates}")
        report = self.action_report(page, action, purpose, key, profile, candidates, chosen, error)
        try:
            call_sync(self.plugins, "sitememory_after_action", **report)
        except PluginError as exc:
            return self.action_result(chosen, error, exc)
        return self.action_result(chosen, error)

    def _pick(self, page: Page, candidates: list[str], timeout: float | None) -> str:
        """The best-ranked candidate that is visible now, else the first to become visible."""
        valid: list[str] = []
        for selector in candidates:
            try:
                if page.locator(selector).first.is_visible():
                    return selector
            except PlaywrightError:
                continue  # not a valid selector: it never matches, and counts as a failure
            valid.append(selector)
        if not valid:
            raise PlaywrightError(f"no valid selector among {candidates}")
        combined = page.locator(valid[0])
        for selector in valid[1:]:
            combined = combined.or_(page.locator(selector))
        combined.first.wait_for(state="visible", timeout=timeout)
        for selector in valid:
            if page.locator(selector).first.is_visible():
                return selector
        return valid[0]  # it went away again in between; the action will say so

    # -- knowledge -------------------------------------------------------------------------

    def remember_overlay(
        self, selector: str, description: str = "an overlay blocks actions", *, page: Page | None = None
    ) -> None:
        """Remember that ``selector`` dismisses an overlay on the page's site, and handle it now."""
        page = self._page(page)
        key = self.key(page.url)
        self.memory.record_quirk_sync(key, description, overlay_workaround(selector))
        overlays = self.plugins.get_plugin("overlays")
        if isinstance(overlays, OverlayHandlers):
            overlays.install(page, overlays.wanted(page, self.memory.get_profile_sync(key)))

    def prompt_context(
        self, url: str | None = None, *, page: Page | None = None, max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        """What the memory knows of the site of ``url`` (default: the page's), for an LLM prompt."""
        key = self.key(url if url is not None else self._page(page).url)
        self.settle()
        lines: list[str] = []
        call_sync(
            self.plugins, "sitememory_prompt_context", key=key,
            profile=self.memory.get_profile_sync(key), lines=lines,
        )
        return bounded(lines, max_chars)

    def _page(self, page: Page | None) -> Page:
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
        chosen: Page = open_pages[0] if open_pages else self.target.new_page()
        self._current = chosen
        return chosen
