"""Built-in ``selectors`` plugin: remembered selectors first, and every outcome recorded."""

from __future__ import annotations

from .._core.models import SiteProfile
from .._hooktypes import Attempt, SiteUpdates, unique
from ..hookspecs import hookimpl


class SelectorResolver:
    """Puts the remembered selector and its fallbacks, best first, ahead of the caller's; after
    the action, records each attempt, so a fallback that works is promoted for every agent."""

    @hookimpl(tryfirst=True)
    def sitememory_before_action(
        self, purpose: str, profile: SiteProfile | None, candidates: list[str]
    ) -> None:
        remembered = profile.selectors.get(purpose) if profile is not None else None
        if remembered is not None:
            candidates[:] = unique([*remembered.ranked(), *candidates])

    @hookimpl
    def sitememory_after_action(
        self, purpose: str, profile: SiteProfile | None, candidates: list[str],
        attempts: list[Attempt], updates: SiteUpdates,
    ) -> None:
        if not attempts:
            return
        if profile is None or purpose not in profile.selectors:
            # A purpose new to the site: the caller's candidates in their order first, so the
            # ones not tried yet are kept as fallbacks.
            updates.cache_selector(purpose, candidates[0], candidates[1:], confirm=False)
        for attempt in attempts:
            updates.record_selector_result(purpose, attempt.selector, attempt.ok)
