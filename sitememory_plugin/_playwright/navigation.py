"""The visit a navigation becomes, from what Playwright reports of it."""

from __future__ import annotations

import math
from typing import Any

from .._core.frozen import FrozenDict
from .._hooktypes import Visit

#: Playwright's error text for a navigation cut short by another one: not the site's fault.
ABORTED = ("net::ERR_ABORTED", "frame was detached", "Navigation interrupted")


def loaded_visit(
    url: str, status: int | None, started_ms: float, ttfb_ms: float | None, dcl_at: float | None,
    load_at: float | None, transfer_bytes: float | None, redirects: int,
) -> Visit:
    """A navigation that reached its load event, from what Playwright reports of it; with
    ``load_at`` ``None``, one whose page closed (or whose handle detached) before that: its
    duration is then to ``DOMContentLoaded``, else to its response's first byte.

    :param started_ms: when the first request of the navigation (before redirects) started, in
        ms since the epoch (Playwright's ``request.timing["startTime"]``).
    :param ttfb_ms: when the final response's first byte arrived, in ms since the epoch.
    :param dcl_at: when ``DOMContentLoaded`` was reported, seconds since the epoch.
    :param load_at: when the load event was reported, seconds since the epoch.
    """
    start = started_ms / 1000
    timings: dict[str, float] = {"redirects": float(redirects)}
    if load_at is not None:
        timings["load"] = max(0.0, load_at - start)
    if ttfb_ms is not None:
        timings["ttfb"] = max(0.0, ttfb_ms / 1000 - start)
    if dcl_at is not None:
        timings["dom_content_loaded"] = min(timings.get("load", math.inf), max(0.0, dcl_at - start))
    if transfer_bytes is not None:
        timings["transfer_bytes"] = transfer_bytes
    duration = timings.get("load", timings.get("dom_content_loaded", timings.get("ttfb", 0.0)))
    return Visit(
        url=url, duration=duration,
        status=status if type(status) is int and 100 <= status <= 999 else None,
        timings=FrozenDict(timings),
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
