"""What a navigation is: the options a plugin may adjust, and the visit it becomes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Playwright's error text for a navigation cut short by another one: not the site's fault.
ABORTED = ("net::ERR_ABORTED", "frame was detached", "Navigation interrupted")


@dataclass
class NavigationOptions:
    """Options of one navigation; ``sitememory_before_navigation`` hooks change them in place.

    ``timeout`` is in milliseconds like Playwright's; ``delay`` is seconds to wait before going.
    ``explicit`` names the options the caller set, which plugins should not override.
    """

    timeout: float | None = None
    wait_until: str | None = None
    referer: str | None = None
    delay: float = 0.0
    explicit: frozenset[str] = frozenset()

    def goto_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.wait_until is not None:
            kwargs["wait_until"] = self.wait_until
        if self.referer is not None:
            kwargs["referer"] = self.referer
        return kwargs


@dataclass(frozen=True)
class Visit:
    """A finished or failed main-frame navigation, as ``sitememory_after_navigation`` sees it.

    ``duration`` is seconds from the start of the navigation (its first request, before any
    redirect) to the load event, or to the failure; ``timings`` holds the browser's timings of
    the navigation in seconds since its start (``ttfb``: first byte of the final response,
    ``dom_content_loaded``, ``load``) and ``transfer_bytes`` (the response's Content-Length, when
    it sends one), ``redirects``.
    """

    url: str
    duration: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)


def loaded_visit(
    url: str, status: int | None, started_ms: float, ttfb_ms: float | None, dcl_at: float | None,
    load_at: float, transfer_bytes: float | None, redirects: int,
) -> Visit:
    """A navigation that reached its load event, from what Playwright reports of it.

    :param started_ms: when the first request of the navigation (before redirects) started, in
        ms since the epoch (Playwright's ``request.timing["startTime"]``).
    :param ttfb_ms: when the final response's first byte arrived, in ms since the epoch.
    :param dcl_at: when ``DOMContentLoaded`` was reported, seconds since the epoch.
    :param load_at: when the load event was reported, seconds since the epoch.
    """
    start = started_ms / 1000
    timings: dict[str, float] = {"load": max(0.0, load_at - start), "redirects": float(redirects)}
    if ttfb_ms is not None:
        timings["ttfb"] = max(0.0, ttfb_ms / 1000 - start)
    if dcl_at is not None:
        timings["dom_content_loaded"] = min(timings["load"], max(0.0, dcl_at - start))
    if transfer_bytes is not None:
        timings["transfer_bytes"] = transfer_bytes
    return Visit(
        url=url, duration=timings["load"],
        status=status if type(status) is int and 100 <= status <= 999 else None,
        timings=MappingProxyType(timings),
    )


def failed_visit(url: str, duration: float, error: str) -> Visit:
    """A navigation that failed before its page loaded (network error or timeout)."""
    first_line = error.strip().splitlines()[0] if error.strip() else "navigation failed"
    return Visit(url=url, duration=max(0.0, duration), error=first_line[:500])


def is_aborted(error: str) -> bool:
    return any(marker in error for marker in ABORTED)


def number(value: Any) -> float | None:
    """``value`` as a finite, non-negative float, else ``None``."""
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)
