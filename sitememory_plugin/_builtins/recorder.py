"""Built-in ``recorder`` plugin: every navigation becomes a visit in the memory."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from .._memory import SiteMemory
from .._playwright.navigation import Visit
from ..hookspecs import hookimpl
from ._api import is_async


class Recorder:
    @hookimpl
    def sitememory_after_navigation(
        self, page: Any, key: str, visit: Visit, memory: SiteMemory
    ) -> Awaitable[None] | None:
        if is_async(page):
            return memory.record_visit(
                key, visit.duration, status=visit.status, error=visit.error, timings=visit.timings
            )
        memory.record_visit_sync(
            key, visit.duration, status=visit.status, error=visit.error, timings=visit.timings
        )
        return None
