"""Built-in ``overlays`` plugin: a quirk whose workaround is to dismiss an overlay is handled for you.

A quirk recorded with a workaround like ``"click #accept-cookies"`` (or ``"dismiss: .modal .close"``)
becomes a Playwright locator handler on the page (installed by the handle, through the
``sitememory_overlays`` hook), so the overlay no longer blocks actions.
"""

from __future__ import annotations

import re

from .._core.models import SiteProfile
from ..hookspecs import hookimpl

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
    """Names the site's overlay quirks; the handle installs a locator handler for each."""

    @hookimpl
    def sitememory_overlays(self, profile: SiteProfile | None, selectors: list[str]) -> None:
        if profile is None:
            return
        for quirk in profile.quirks:
            selector = overlay_selector(quirk.workaround)
            if selector is not None:
                selectors.append(selector)
