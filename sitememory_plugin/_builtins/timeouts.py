"""Built-in ``timeouts`` plugin: a navigation timeout adapted to the site's measured load times."""

from __future__ import annotations

from .._core.models import SiteProfile
from .._hooktypes import NavigationOptions
from ..hookspecs import hookimpl


class AdaptiveTimeouts:
    """Navigation timeout = ``multiplier`` x the site's p95 load time, within bounds.

    A fast site fails fast instead of holding an agent for Playwright's default 30 s; a slow one
    gets the time it is known to need. Applies once the site has ``min_visits`` measured visits,
    and never overrides a timeout the caller passed.

    :param multiplier: times the p95 load time.
    :param minimum: lower bound, seconds.
    :param maximum: upper bound, seconds.
    :param min_visits: measured visits needed before the timeout adapts.
    """

    def __init__(
        self, multiplier: float = 4.0, minimum: float = 5.0, maximum: float = 120.0, min_visits: int = 3
    ) -> None:
        if not 0 < minimum <= maximum or multiplier <= 0 or min_visits < 1:
            raise ValueError("need 0 < minimum <= maximum, multiplier > 0 and min_visits >= 1")
        self.multiplier = multiplier
        self.minimum = minimum
        self.maximum = maximum
        self.min_visits = min_visits

    def timeout_for(self, profile: SiteProfile | None) -> float | None:
        """The timeout in seconds for the site, or ``None`` while too little is known."""
        if profile is None or len(profile.load_times) < self.min_visits:
            return None
        p95 = profile.p95_load_time or 0.0
        return min(self.maximum, max(self.minimum, p95 * self.multiplier))

    @hookimpl(tryfirst=True)
    def sitememory_before_navigation(self, profile: SiteProfile | None, options: NavigationOptions) -> None:
        if "timeout" in options.explicit:
            return
        timeout = self.timeout_for(profile)
        if timeout is not None:
            options.timeout = timeout * 1000

    @hookimpl
    def sitememory_prompt_context(self, profile: SiteProfile | None, lines: list[str]) -> None:
        # An agent that navigates by other means (an MCP browser tool) can still use the timeout.
        timeout = self.timeout_for(profile)
        if timeout is not None:
            lines.append(f"- navigation timeout: {timeout:.0f} s (adapted to its load times)")
