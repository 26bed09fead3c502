"""A store as a fresh reader sees it: no cache of the writer's, nothing pending."""

from __future__ import annotations

from pathlib import Path

from sitememory_plugin import SiteMemory, SiteProfile


def fresh_profile(location: str | Path, url: str) -> SiteProfile | None:
    """What the store holds about ``url``'s site, read by a new memory that caches nothing."""
    with SiteMemory(location, cache_ttl=0) as reader:
        return reader.get_profile_sync(url)


def fresh_visits(location: str | Path, url: str) -> int:
    """Visits of ``url``'s site in the store, as a fresh reader sees them (0 for none)."""
    profile = fresh_profile(location, url)
    return 0 if profile is None else profile.visit_count
