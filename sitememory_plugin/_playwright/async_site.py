"""``AsyncSite``: the handle ``attach()`` returns for Playwright's async API (its flows: ``flows``)."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from types import TracebackType
from typing import Any

from playwright.async_api import Locator, Page, Response

from .._core.prompt import DEFAULT_MAX_CHARS
from .._core.steps import ReplayResult
from .._drive import run_async
from . import flows
from .handle import Handle
from .io import AsyncIo
from .replay import replay as replay_steps


class AsyncSite(Handle):
    """A Playwright ``BrowserContext`` or ``Page`` (async API) joined to a :class:`SiteMemory`.

    Every main-frame navigation of the target is recorded; ``goto``, ``click``, ``fill``,
    ``locator`` and ``replay`` consult the memory first. ``await attach(...)`` or
    ``async with attach(...)``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._io = AsyncIo(self.memory)

    def __await__(self) -> Generator[Any, None, AsyncSite]:
        return self._attach().__await__()

    async def __aenter__(self) -> AsyncSite:
        return await self._attach()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.detach()

    async def _attach(self) -> AsyncSite:
        self._open()
        return self

    async def detach(self) -> None:
        """Stop recording and consulting; waits for recordings in flight. Idempotent."""
        await run_async(flows.detach(self))

    async def settle(self) -> None:
        """Wait until the visits of navigations that already happened are recorded.

        Recording is off the navigation's path (``goto`` returns at the load event); call this
        before reading the memory for what the last navigations taught it.
        :raises PluginError: a plugin raised while recording, since the last ``settle()``.
        """
        await run_async(flows.settle(self))

    async def goto(
        self, url: str, *, page: Page | None = None, timeout: float | None = None,
        wait_until: Any = None, referer: str | None = None, **kwargs: Any,
    ) -> Response | None:
        """``page.goto(url)`` with the site's adapted timeout and politeness delay; records the visit.

        ``timeout`` is in milliseconds as in Playwright; one you pass is never adapted. Returns at
        the load event; the visit is recorded in a task of its own (``settle()`` waits for it).
        :raises NavigationRefused: a plugin refused the navigation.
        """
        options = self.options(timeout, wait_until, referer)
        response: Response | None = await run_async(flows.goto(self, url, page, options, kwargs))
        return response

    async def prepare_navigation(
        self, url: str, *, page: Page | None = None, timeout: float | None = None,
        wait_until: Any = None, referer: str | None = None,
    ) -> flows.Navigation:
        """Prepare a navigation to ``url`` that another client makes (a crawler's own ``page.goto``):
        what :meth:`goto` does before going, without going.

        The plugins choose its options (``navigation.goto_kwargs()``: the adapted timeout, unless
        you pass one) and the politeness delay is waited here. The handle records the navigation
        from the page's events as any other; if the client's ``goto`` raises, pass the error to
        :meth:`navigation_failed`, as a timeout fires no event.
        :raises NavigationRefused: a plugin refused the navigation.
        """
        options = self.options(timeout, wait_until, referer)
        navigation: flows.Navigation = await run_async(flows.prepare(self, url, page, options))
        return navigation

    async def navigation_failed(
        self, navigation: flows.Navigation, error: BaseException | str, *, timed_out: bool | None = None
    ) -> bool:
        """Record a prepared navigation as failed with ``error`` (the Playwright error or timeout
        of its ``goto``, or the text of a failure the client saw: a crawler's own timeout), unless
        the page's events recorded it, or it loaded and a later step failed; returns whether it
        was recorded here. ``timed_out`` (default: ``error`` is a timeout) makes its late load no
        new visit."""
        recorded: bool = await run_async(
            flows.navigation_failed(self, navigation, error, timed_out=timed_out)
        )
        return recorded

    async def click(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None,
        **kwargs: Any,
    ) -> str:
        """Click the element for ``purpose``: the remembered selector, its fallbacks, then ``selectors``.

        Returns the selector used; the outcome of each one tried is remembered.
        :raises UnknownPurpose: no selector is remembered or given.
        """
        def perform(loc: Locator) -> Any:
            return loc.click(timeout=timeout, **kwargs)

        return await run_async(flows.act(self, "click", purpose, selectors, page, timeout, perform))

    async def fill(
        self, purpose: str, value: str, *selectors: str, page: Page | None = None,
        timeout: float | None = None, **kwargs: Any,
    ) -> str:
        """Fill the element for ``purpose`` with ``value``; like :meth:`click` otherwise."""
        def perform(loc: Locator) -> Any:
            return loc.fill(value, timeout=timeout, **kwargs)

        return await run_async(flows.act(self, "fill", purpose, selectors, page, timeout, perform))

    async def locator(
        self, purpose: str, *selectors: str, page: Page | None = None, timeout: float | None = None
    ) -> Locator:
        """A locator for the first candidate for ``purpose`` that is visible (waits for one)."""
        found: Locator = await run_async(flows.locator(self, purpose, selectors, page, timeout))
        return found

    async def replay(
        self, task: str, *, values: Mapping[str, str | int | float] | None = None,
        page: Page | None = None, timeout: float | None = None,
    ) -> ReplayResult:
        """Perform the steps remembered for ``task`` on the page's site (see README, "Replaying
        steps"): each fill and click as :meth:`fill` and :meth:`click` do, remembered selectors
        first; ``{name}`` in a value is filled from ``values``. ``timeout`` (ms) bounds each step.

        A replay that works is recorded as a confirmation of the steps, one whose step fails on
        the page as a contradiction.
        :raises UnknownTask: no steps are remembered for ``task``.
        :raises UnreplayableStep: a step is not in the schema or lacks its value (nothing ran).
        :raises ReplayFailed: a step failed; ``.result`` says which, ``__cause__`` is its error.
        """
        result: ReplayResult = await run_async(replay_steps(self, task, values, page, timeout))
        return result

    async def remember_overlay(
        self, selector: str, description: str = "an overlay blocks actions", *, page: Page | None = None
    ) -> None:
        """Remember that ``selector`` dismisses an overlay on the page's site, and handle it now."""
        await run_async(flows.remember_overlay(self, selector, description, page))

    async def prompt_context(
        self, url: str | None = None, *, page: Page | None = None, max_chars: int = DEFAULT_MAX_CHARS,
        tasks: Iterable[str] = (),
    ) -> str:
        """What the memory knows of the site of ``url`` (default: the page's), for an LLM prompt,
        with the remembered steps of the task types ``tasks``."""
        return await run_async(flows.prompt_context(self, url, page, max_chars, tasks))
