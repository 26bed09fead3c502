"""What a navigation is: the options a plugin may adjust, and the visit it becomes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Runs in every main frame of an http(s) page; at the load event it reports the browser's
#: Navigation Timing figures through a binding. It reports synchronously inside the load handler:
#: a report deferred with setTimeout is lost when the agent navigates on at once, and the
#: binding's message then reaches Playwright before the load event that ends ``goto``.
INIT_SCRIPT = """
(() => {
  const name = %(name)s;
  if (window !== window.top || !/^https?:$/.test(location.protocol)) return;
  addEventListener('load', () => {
    const entry = performance.getEntriesByType('navigation')[0];
    const report = {
      url: location.href,
      now: performance.now(),
      status: entry && entry.responseStatus ? entry.responseStatus : 0,
      ttfb: entry ? entry.responseStart : -1,
      dcl: entry ? entry.domContentLoadedEventEnd : -1,
      transfer: entry ? entry.transferSize : -1,
      redirects: entry ? entry.redirectCount : 0,
    };
    try {
      const sent = window[name](report);
      if (sent && sent.catch) sent.catch(() => {});
    } catch (e) {}
  }, {once: true});
})();
"""

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

    ``duration`` is seconds from the start of the navigation to the load event (or to the
    failure); ``timings`` holds the browser's Navigation Timing figures in seconds (``ttfb``,
    ``dom_content_loaded``, ``load``) and ``transfer_bytes``, ``redirects``.
    """

    url: str
    duration: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)


def visit_from_report(report: Any) -> Visit | None:
    """The visit a page's load report describes; ``None`` when the report is not one of ours."""
    if not isinstance(report, Mapping) or not isinstance(report.get("url"), str):
        return None
    now = _millis(report.get("now"))
    if now is None:
        return None
    timings: dict[str, float] = {"load": now / 1000}
    for name, source in (("ttfb", "ttfb"), ("dom_content_loaded", "dcl")):
        value = _millis(report.get(source))
        if value is not None:
            timings[name] = value / 1000
    for name, source in (("transfer_bytes", "transfer"), ("redirects", "redirects")):
        value = _millis(report.get(source))
        if value is not None:
            timings[name] = value
    status = report.get("status")
    return Visit(
        url=report["url"],
        duration=now / 1000,
        status=status if type(status) is int and 100 <= status <= 999 else None,
        timings=MappingProxyType(timings),
    )


def failed_visit(url: str, duration: float, error: str) -> Visit:
    """A navigation that failed before its page loaded (network error or timeout)."""
    first_line = error.strip().splitlines()[0] if error.strip() else "navigation failed"
    return Visit(url=url, duration=max(0.0, duration), error=first_line[:500])


def is_aborted(error: str) -> bool:
    return any(marker in error for marker in ABORTED)


def _millis(value: Any) -> float | None:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)
