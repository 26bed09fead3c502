"""Built-in ``selectors`` plugin: remembered selectors first, and every outcome recorded."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from .._core.models import SiteProfile
from .._memory import SiteMemory
from .._playwright.selectors import Attempt, unique
from ..hookspecs import hookimpl
from ._api import is_async


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
        self, page: Any, purpose: str, key: str, profile: SiteProfile | None,
        candidates: list[str], attempts: list[Attempt], memory: SiteMemory,
    ) -> Awaitable[None] | None:
        if not attempts:
            return None
        # A purpose new to the site: remember the caller's candidates in their order first,
        # so the ones not tried yet are kept as fallbacks.
        new = profile is None or purpose not in profile.selectors
        if is_async(page):
            return self._record(memory, key, purpose, candidates if new else [], attempts)
        if new:
            memory.cache_selector_sync(key, purpose, candidates[0], candidates[1:])
        for attempt in attempts:
            memory.record_selector_result_sync(key, purpose, attempt.selector, attempt.ok)
        return None

    async def _record(
        self, memory: SiteMemory, key: str, purpose: str, cache: list[str], attempts: list[Attempt]
    ) -> None:
        if cache:
            await memory.cache_selector(key, purpose, cache[0], cache[1:])
        for attempt in attempts:
            await memory.record_selector_result(key, purpose, attempt.selector, attempt.ok)
