"""Built-in ``politeness`` plugin: per-site spacing of navigations, on Scrapy's AutoThrottle idea."""

from __future__ import annotations

import threading
import time

from .._core.models import SiteProfile
from .._playwright.navigation import NavigationOptions
from ..hookspecs import hookimpl


class AutoThrottle:
    """Space navigations to one site by its measured latency, more so when it is failing.

    The delay between the starts of two navigations to a site is its p50 load time divided by
    ``target_concurrency`` (AutoThrottle's rule: about that many requests in flight), times
    ``1 + failure_penalty x`` its recent failure rate, plus ``failure_backoff`` seconds x that
    rate, within ``[min_delay, max_delay]``. A healthy site visited one page after another is
    hardly delayed: each navigation already takes about as long as the delay (one faster than
    the site's median waits the difference). Spacing is kept per process (each agent process is
    polite on its own).
    """

    def __init__(
        self, target_concurrency: float = 1.0, min_delay: float = 0.0, max_delay: float = 60.0,
        failure_penalty: float = 4.0, failure_backoff: float = 1.0,
    ) -> None:
        if target_concurrency <= 0 or not 0 <= min_delay <= max_delay:
            raise ValueError("need target_concurrency > 0 and 0 <= min_delay <= max_delay")
        self.target_concurrency = target_concurrency
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.failure_penalty = failure_penalty
        self.failure_backoff = failure_backoff
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def delay_for(self, profile: SiteProfile | None) -> float:
        """Seconds between the starts of two navigations to the site."""
        if profile is None or not profile.load_times:
            return self.min_delay
        latency = profile.p50_load_time or 0.0
        rate = profile.recent_failure_rate or 0.0
        delay = latency / self.target_concurrency * (1 + self.failure_penalty * rate)
        delay += self.failure_backoff * rate
        return min(self.max_delay, max(self.min_delay, delay))

    def reserve(self, key: str, profile: SiteProfile | None) -> float:
        """Book the next start slot for the site; returns how long to wait for it."""
        now = time.monotonic()
        with self._lock:
            start = max(now, self._next.get(key, now))
            self._next[key] = start + self.delay_for(profile)
            if len(self._next) > 10_000:  # forget sites whose slot has passed
                self._next = {k: t for k, t in self._next.items() if t > now}
        return start - now

    @hookimpl(tryfirst=True)
    def sitememory_before_navigation(
        self, key: str, profile: SiteProfile | None, options: NavigationOptions
    ) -> None:
        options.delay = max(options.delay, self.reserve(key, profile))
