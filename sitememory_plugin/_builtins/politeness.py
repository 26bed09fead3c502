"""Built-in ``politeness`` plugin: per-site spacing of navigations, on Scrapy's AutoThrottle idea,
and the pause a rate-limited site asked for."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Literal

from .._core.errors import NavigationRefused
from .._core.models import SiteProfile
from .._hooktypes import NavigationOptions
from ..hookspecs import hookimpl

log = logging.getLogger("sitememory.politeness")

#: What to do when a site's pause outlasts ``max_delay``.
LongPause = Literal["refuse", "wait_max"]

#: Where the plugin notes the slot it booked for a navigation (``NavigationOptions.notes``).
_BOOKED = "politeness.booked"


class AutoThrottle:
    """Space navigations to one site by its measured latency, more so when it is failing.

    Navigations that overlap (several pages or tasks on one site) start at least its p50 load
    time divided by ``target_concurrency`` apart: AutoThrottle's rule, about that many requests
    in flight. A navigation after the previous one finished is not held back for that: one agent
    going from page to page is already at a concurrency of one. A failing site adds, after every
    navigation, ``failure_penalty`` x its recent failure rate x that latency, plus
    ``failure_backoff`` seconds x the rate. Everything within ``[min_delay, max_delay]``.
    Spacing is kept per process (each agent process is polite on its own).

    A rate-limited site (a 429 or 503 with ``Retry-After``, stored as ``profile.paused_until``
    by whichever agent was told) gets no navigation before its pause is over, from any agent
    sharing the store: the navigation waits for it. A pause longer than ``max_delay`` is
    refused with :class:`NavigationRefused` saying until when (``long_pause="refuse"``, the
    default: an agent is not held for minutes, and a crawler can schedule the page for later),
    or waited for ``max_delay`` only, with a warning, before the navigation goes anyway
    (``long_pause="wait_max"``).
    """

    def __init__(
        self, target_concurrency: float = 1.0, min_delay: float = 0.0, max_delay: float = 60.0,
        failure_penalty: float = 4.0, failure_backoff: float = 1.0, long_pause: LongPause = "refuse",
    ) -> None:
        if target_concurrency <= 0 or not 0 <= min_delay <= max_delay:
            raise ValueError("need target_concurrency > 0 and 0 <= min_delay <= max_delay")
        if long_pause not in ("refuse", "wait_max"):
            raise ValueError(f"long_pause must be 'refuse' or 'wait_max', not {long_pause!r}")
        self.long_pause = long_pause
        self.target_concurrency = target_concurrency
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.failure_penalty = failure_penalty
        self.failure_backoff = failure_backoff
        self._started: dict[str, float] = {}
        self._finished: dict[str, float] = {}
        #: The slot each site had before its latest booking, to give it back if unused.
        self._before: dict[str, float | None] = {}
        self._lock = threading.Lock()

    def delay_for(self, profile: SiteProfile | None, overlapping: bool = True) -> float:
        """Seconds between the starts of two navigations to the site."""
        if profile is None:
            return self.min_delay
        latency = (profile.p50_load_time or 0.0) / self.target_concurrency
        rate = profile.recent_failure_rate or 0.0
        delay = latency * self.failure_penalty * rate + self.failure_backoff * rate
        if overlapping:
            delay += latency
        return min(self.max_delay, max(self.min_delay, delay))

    @staticmethod
    def pause_for(profile: SiteProfile | None, now: float | None = None) -> float:
        """Seconds left of the site's rate-limit pause at ``now`` (default: the clock's), 0 when
        it has none or it is over."""
        if profile is None or profile.paused_until is None:
            return 0.0
        return max(0.0, profile.paused_until - (time.time() if now is None else now))

    def reserve(self, key: str, profile: SiteProfile | None) -> float:
        """Book the next start slot for the site (after its pause, at most ``max_delay`` of
        it); returns how long to wait for it."""
        start, now = self._book(key, profile, min(self.pause_for(profile), self.max_delay))
        return start - now

    def _book(self, key: str, profile: SiteProfile | None, pause: float = 0.0) -> tuple[float, float]:
        """Book the next start slot for the site, ``pause`` seconds from now at the earliest;
        returns when it starts and when it was booked (``time.monotonic()``)."""
        now = time.monotonic()
        with self._lock:
            previous = self._started.get(key)
            start = now + pause
            if previous is not None:
                overlapping = self._finished.get(key, float("-inf")) < previous
                start = max(start, previous + self.delay_for(profile, overlapping))
            self._before[key] = previous
            self._started[key] = start
            if len(self._started) > 10_000:  # forget sites whose slot has long passed
                self._started = {k: t for k, t in self._started.items() if t > now - 3600}
                self._finished = {k: t for k, t in self._finished.items() if k in self._started}
                self._before = {k: t for k, t in self._before.items() if k in self._started}
        return start, now

    def release(self, key: str, start: float) -> None:
        """Give back the slot booked at ``start`` for the site if it is still the latest one: the
        navigation did not take place."""
        with self._lock:
            if self._started.get(key) != start or key not in self._before:
                # A later booking is spaced from this one already, or the one before this was
                # given back too (unknown now): keep the spacing rather than lose a booked slot.
                return
            previous = self._before.pop(key)
            if previous is None:
                del self._started[key]
            else:
                self._started[key] = previous

    @hookimpl(tryfirst=True)
    def sitememory_before_navigation(
        self, key: str, profile: SiteProfile | None, options: NavigationOptions
    ) -> None:
        pause = self.pause_for(profile)
        if pause > self.max_delay:
            # Refused before a slot is booked: nothing to give back.
            if self.long_pause == "refuse":
                raise NavigationRefused(
                    f"{key} is rate limited until {_utc(profile)} ({pause:.0f} s from now, more "
                    f"than max_delay {self.max_delay:g} s): navigate to it after that"
                )
            log.warning("sitememory: %s is rate limited until %s; going after max_delay %g s, "
                        "%.0f s early", key, _utc(profile), self.max_delay, pause - self.max_delay)
            pause = self.max_delay
        start, now = self._book(key, profile, pause)
        options.delay = max(options.delay, start - now)
        options.notes[_BOOKED] = start

    @hookimpl
    def sitememory_navigation_abandoned(self, key: str, options: NavigationOptions) -> None:
        booked = options.notes.get(_BOOKED)
        if isinstance(booked, float):
            self.release(key, booked)

    @hookimpl
    def sitememory_after_navigation(self, key: str) -> None:
        with self._lock:
            self._finished[key] = time.monotonic()

    @hookimpl
    def sitememory_prompt_context(self, profile: SiteProfile | None, lines: list[str]) -> None:
        limited = self.pause_for(profile)
        if limited > 0:
            lines.append(f"- rate limited (Retry-After): do not navigate to it before {_utc(profile)}, "
                         f"{limited:.0f} s from now")
        pause = self.delay_for(profile, overlapping=False)
        if profile is not None and pause >= 0.1:
            lines.append(f"- wait {pause:.1f} s between navigations to it")


def _utc(profile: SiteProfile | None) -> str:
    """When the site's pause ends, in UTC, to the second."""
    until = 0.0 if profile is None or profile.paused_until is None else profile.paused_until
    return datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
