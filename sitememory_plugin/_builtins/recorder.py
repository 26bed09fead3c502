"""Built-in ``recorder`` plugin: every navigation becomes a visit in the memory."""

from __future__ import annotations

from .._hooktypes import SiteUpdates, Visit
from ..hookspecs import hookimpl


class Recorder:
    """Adds each navigation's visit to the updates the handle writes (off the navigation's path)."""

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit, updates: SiteUpdates) -> None:
        updates.record_visit(visit.duration, status=visit.status, error=visit.error, timings=visit.timings)
