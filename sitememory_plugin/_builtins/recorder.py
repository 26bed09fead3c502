"""Built-in ``recorder`` plugin: every navigation becomes a visit in the memory."""

from __future__ import annotations

from .._core.ratelimit import RATE_LIMIT_STATUSES
from .._hooktypes import SiteUpdates, Visit
from ..hookspecs import hookimpl


class Recorder:
    """Adds each navigation's visit to the updates the handle writes (off the navigation's path),
    and the rate limit of a 429 or 503 that said when to come back (``Retry-After``)."""

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit, updates: SiteUpdates) -> None:
        updates.record_visit(visit.duration, status=visit.status, error=visit.error, timings=visit.timings,
                             url=visit.url)
        if visit.retry_after is not None and visit.status in RATE_LIMIT_STATUSES:
            updates.record_rate_limit(visit.retry_after, status=visit.status)
