"""Built-in ``overlays`` plugin: a quirk whose workaround is to dismiss an overlay is handled for you.

A quirk recorded with a workaround like ``"click #accept-cookies"`` (or ``"dismiss: .modal .close"``)
becomes a Playwright locator handler on the page, so the overlay no longer blocks actions.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Awaitable
from typing import Any

from .._core.models import SiteProfile
from ..hookspecs import hookimpl
from ._api import is_async

_KEYWORD = re.compile(r"click|dismiss", re.IGNORECASE)


def overlay_selector(workaround: str | None) -> str | None:
    r"""The selector to click that a workaround names, or ``None`` if it names none.

    The workaround reads ``click`` or ``dismiss`` (any case), an optional colon, whitespace, then
    the selector on one line; surrounding whitespace is dropped. It is the language of
    ``^\s*(?:click|dismiss)\s*:?\s+(?P<selector>\S.*?)\s*$`` (re.IGNORECASE), parsed in linear
    time: that regex backtracks quadratically over long runs of whitespace, and this runs before
    every navigation and action. ``str.strip`` and ``\s`` agree on what whitespace is.
    """
    text = (workaround or "").lstrip()
    keyword = _KEYWORD.match(text)
    if keyword is None:
        return None
    rest = text[keyword.end():]
    after_space = rest.lstrip()
    spaced = len(after_space) < len(rest)
    if after_space.startswith(":"):
        after_colon = after_space[1:]
        selector = after_colon.lstrip()
        if len(selector) < len(after_colon):  # "click: #a", "click : #a"
            found = _one_line(selector)
            if found is not None:
                return found
        # Otherwise the colon starts the selector, as in "click :has-text('OK')".
    return _one_line(after_space) if spaced else None


def _one_line(text: str) -> str | None:
    """``text`` without trailing whitespace, if that leaves a non-empty single line."""
    selector = text.rstrip()
    return selector if selector and "\n" not in selector else None


def overlay_workaround(selector: str) -> str:
    """The workaround text :func:`overlay_selector` reads back."""
    return f"click {selector}"


class OverlayHandlers:
    def __init__(self) -> None:
        self._installed: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def wanted(self, page: Any, profile: SiteProfile | None) -> list[str]:
        """Overlay selectors of the site not yet handled on ``page`` (marked handled now)."""
        if profile is None:
            return []
        done = self._installed.setdefault(page, set())
        out = []
        for quirk in profile.quirks:
            selector = overlay_selector(quirk.workaround)
            if selector is not None and selector not in done:
                done.add(selector)
                out.append(selector)
        return out

    def install(self, page: Any, selectors: list[str]) -> Awaitable[None] | None:
        if not selectors:
            return None
        if is_async(page):
            return self._install_async(page, selectors)
        for selector in selectors:
            page.add_locator_handler(page.locator(selector).first, lambda loc: loc.click())
        return None

    async def _install_async(self, page: Any, selectors: list[str]) -> None:
        async def dismiss(locator: Any) -> None:
            await locator.click()

        for selector in selectors:
            await page.add_locator_handler(page.locator(selector).first, dismiss)

    def uninstall(self, page: Any) -> Awaitable[None] | None:
        """Remove the handlers this plugin installed on ``page`` (``detach()`` does)."""
        selectors = self._installed.pop(page, set())
        if not selectors or page.is_closed():
            return None
        if is_async(page):
            return self._uninstall_async(page, selectors)
        for selector in selectors:
            page.remove_locator_handler(page.locator(selector).first)
        return None

    async def _uninstall_async(self, page: Any, selectors: set[str]) -> None:
        for selector in selectors:
            await page.remove_locator_handler(page.locator(selector).first)

    @hookimpl
    def sitememory_before_navigation(self, page: Any, profile: SiteProfile | None) -> Awaitable[None] | None:
        return self.install(page, self.wanted(page, profile))

    @hookimpl
    def sitememory_before_action(self, page: Any, profile: SiteProfile | None) -> Awaitable[None] | None:
        return self.install(page, self.wanted(page, profile))
