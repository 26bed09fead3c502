"""Reading what a report shows from a store: every site's profile and visit history.

Only reads: nothing here writes to the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .._core.history import VisitRecord
from .._core.models import SiteProfile
from .._memory import SiteMemory


class UnknownSite(LookupError):
    """The store knows no such site."""


@dataclass(frozen=True)
class Snapshot:
    """The profiles (sorted by key) and histories read at one time, and their fingerprint."""

    profiles: tuple[SiteProfile, ...]
    histories: dict[str, list[VisitRecord]]

    @property
    def fingerprint(self) -> str:
        """Changes whenever any site's document does (every visit changes its counts)."""
        digest = hashlib.sha256()
        for profile in self.profiles:
            digest.update(json.dumps(profile.to_dict(), sort_keys=True, default=str).encode())
            digest.update(b"\n")
        return digest.hexdigest()[:16]


def history(memory: SiteMemory, key: str) -> list[VisitRecord]:
    """``key``'s visit history, oldest first.

    TEMPORARY: until ``SiteMemory.visit_history_sync`` is on main, a store without it has no
    history to show; this shim goes once it lands.
    """
    method = getattr(memory, "visit_history_sync", None)
    return [] if method is None else list(method(key))


def read(memory: SiteMemory, site: str | None = None) -> Snapshot:
    """Every site of ``memory`` (or only ``site``, a key or URL) with its history.

    :raises UnknownSite: ``site`` is not in the store.
    """
    keys: Sequence[str] = memory.list_sites_sync() if site is None else [site]
    profiles = []
    for key in keys:
        profile = memory.get_profile_sync(key)
        if profile is None:
            if site is not None:
                raise UnknownSite(f"no site {site!r} in {memory.location}")
            continue  # forgotten since it was listed
        profiles.append(profile)
    profiles.sort(key=lambda p: p.domain)
    return Snapshot(tuple(profiles), {p.domain: history(memory, p.domain) for p in profiles})
