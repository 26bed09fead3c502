"""Refuse to navigate to a site that has been failing: a circuit breaker on the shared memory.

Before ``site.goto(url)``, the site's recent outcomes (the memory keeps the last 20 visits,
recorded by every agent sharing the store) are checked. When more than ``threshold`` of them
failed, and there are at least ``min_visits`` of them, the navigation is refused with
:class:`SiteFailing`, a :class:`~sitememory_plugin.NavigationRefused`, before ``page.goto``
runs: the agent gets a clear error at once instead of a slow timeout, and the site is not
hammered while it is down.

A refused navigation records no visit, so a site's outcomes would never change again and the
refusal would last forever in a durable store. Hence, once ``retry_after`` seconds have passed
since the site's last recorded visit, one navigation is let through as a probe; its outcome
then decides (agents probing at the same moment may each get through).

Enable it with ``SITEMEMORY_PLUGINS=hooks/failure_guard.py``. Configure with, read at each
navigation:

* ``SITEMEMORY_GUARD_THRESHOLD``: refuse above this recent failure rate, 0 to 1 (default 0.5).
* ``SITEMEMORY_GUARD_MIN_VISITS``: judge a site only on at least this many recent outcomes, an
  integer >= 1 (default 5; above 20 the guard never refuses).
* ``SITEMEMORY_GUARD_RETRY_AFTER``: seconds after the last visit before a probe goes through,
  >= 0, ``inf`` for never (default 300).

Invalid values raise :class:`ValueError` (``site.goto`` raises it as the cause of a
``PluginError`` naming this plugin). In code (with ``hooks/`` on ``sys.path``, or this file
copied into your project), arguments override the environment::

    from failure_guard import FailureGuard, SiteFailing

    pm = sitememory_plugin.make_plugin_manager()
    pm.register(FailureGuard(threshold=0.8, min_visits=10), "failure_guard")
    site = sitememory_plugin.attach(context, memory, plugins=pm)
    try:
        site.goto(url)
    except SiteFailing as exc:
        ...  # exc.key, exc.rate, exc.outcomes: skip the site, try later

To go through anyway, raise the threshold, or unregister the plugin for that call
(``pm.unregister(name="failure_guard")``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

from sitememory_plugin import NavigationRefused, SiteProfile, hookimpl

__all__ = [
    "DEFAULT_MIN_VISITS",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_THRESHOLD",
    "ENV_MIN_VISITS",
    "ENV_RETRY_AFTER",
    "ENV_THRESHOLD",
    "FailureGuard",
    "SiteFailing",
    "sitememory_before_navigation",
]

ENV_THRESHOLD = "SITEMEMORY_GUARD_THRESHOLD"
ENV_MIN_VISITS = "SITEMEMORY_GUARD_MIN_VISITS"
ENV_RETRY_AFTER = "SITEMEMORY_GUARD_RETRY_AFTER"
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_VISITS = 5
DEFAULT_RETRY_AFTER = 300.0

T = TypeVar("T")


class SiteFailing(NavigationRefused):
    """The guard refused a navigation: the site failed too many of its recent visits."""

    def __init__(
        self, url: str, key: str, rate: float, failures: int, outcomes: int, visits: int,
        threshold: float, retry_in: float,
    ) -> None:
        retry = f"; a probe is let through in {retry_in:.0f} s" if math.isfinite(retry_in) else ""
        super().__init__(
            f"refusing to navigate to {url}: site {key} failed {failures} of its last {outcomes} "
            f"visits ({rate:.0%}, {visits} visits in all), above the failure guard's threshold of "
            f"{threshold:.0%}{retry}. To go anyway, raise ${ENV_THRESHOLD} (now {threshold:g}) "
            f"or ${ENV_MIN_VISITS}, or disable the failure_guard plugin"
        )
        self.url = url
        self.key = key
        self.rate = rate
        self.failures = failures
        self.outcomes = outcomes
        self.visits = visits
        self.threshold = threshold
        self.retry_in = retry_in


class FailureGuard:
    """A ``sitememory_before_navigation`` plugin raising :class:`SiteFailing` for failing sites.

    Each argument left ``None`` is read from its environment variable at each navigation.

    :param threshold: refuse when the recent failure rate is above this, in ``[0, 1]``.
    :param min_visits: the fewest recent outcomes a site is judged on, >= 1.
    :param retry_after: seconds after the site's last visit before one probe goes through.
    :raises ValueError: an argument is out of range.
    """

    def __init__(
        self, threshold: float | None = None, min_visits: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.threshold = None if threshold is None else _threshold(threshold, "threshold")
        self.min_visits = None if min_visits is None else _min_visits(min_visits, "min_visits")
        self.retry_after = None if retry_after is None else _retry_after(retry_after, "retry_after")

    def settings(self) -> tuple[float, int, float]:
        """``(threshold, min_visits, retry_after)`` now: the arguments, else the environment."""
        threshold = self.threshold
        if threshold is None:
            threshold = _env(ENV_THRESHOLD, DEFAULT_THRESHOLD, float, _threshold, _RATE)
        min_visits = self.min_visits
        if min_visits is None:
            min_visits = _env(ENV_MIN_VISITS, DEFAULT_MIN_VISITS, int, _min_visits, _COUNT)
        retry_after = self.retry_after
        if retry_after is None:
            retry_after = _env(ENV_RETRY_AFTER, DEFAULT_RETRY_AFTER, float, _retry_after, _SECONDS)
        return threshold, min_visits, retry_after

    def check(self, url: str, key: str, profile: SiteProfile | None) -> None:
        """Raise :class:`SiteFailing` if ``profile`` says the site is failing; else return."""
        threshold, min_visits, retry_after = self.settings()
        if profile is None:
            return
        outcomes = profile.recent_outcomes
        rate = profile.recent_failure_rate
        if rate is None or len(outcomes) < min_visits or rate <= threshold:
            return
        retry_in = math.inf
        if profile.last_visit is not None and math.isfinite(retry_after):
            retry_in = profile.last_visit + retry_after - time.time()
            if retry_in <= 0:
                return  # the probe: its outcome is recorded and decides what comes next
        raise SiteFailing(
            url, key, rate, outcomes.count(False), len(outcomes), profile.visit_count, threshold,
            max(0.0, retry_in),
        )

    @hookimpl
    def sitememory_before_navigation(self, url: str, key: str, profile: SiteProfile | None) -> None:
        self.check(url, key, profile)


_RATE = "a failure rate from 0 to 1"
_COUNT = "an integer >= 1"
_SECONDS = "a number of seconds >= 0 (or inf)"


def _threshold(value: float, name: str) -> float:
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be {_RATE}, not {value!r}")
    return float(value)


def _min_visits(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be {_COUNT}, not {value!r}")
    return value


def _retry_after(value: float, name: str) -> float:
    if not value >= 0.0:  # also refuses NaN
        raise ValueError(f"{name} must be {_SECONDS}, not {value!r}")
    return float(value)


def _env(
    name: str, default: T, parse: Callable[[str], T], check: Callable[[T, str], T], expected: str
) -> T:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return check(parse(raw), f"${name}")
    except ValueError:
        # The variable's own text, not the parsed value: that is what the user has to fix.
        raise ValueError(f"${name} must be {expected}, not {raw!r}") from None


_default = FailureGuard()


@hookimpl
def sitememory_before_navigation(url: str, key: str, profile: SiteProfile | None) -> None:
    """Module-level hook for ``SITEMEMORY_PLUGINS``: the default :class:`FailureGuard`."""
    _default.check(url, key, profile)
