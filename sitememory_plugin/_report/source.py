"""Reading what a report shows from a store: every site's profile and visit history.

Only reads: nothing here writes what the store knows (like every reader, a read moves a corrupt
document aside). :class:`StoreReader` reads again and again (what
``sitememory serve`` does) and re-reads a site's history only when its profile changed, the
costly part of a read; :func:`read` reads once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .._core.files import Layout
from .._core.history import VisitRecord
from .._core.models import SiteProfile
from .._memory import SiteMemory


class UnknownSite(LookupError):
    """The store knows no such site."""


class NoStore(LookupError):
    """There is no store (any more) where the memory looks: moved, deleted, a prefix emptied."""


def check_store(memory: SiteMemory) -> None:
    """Raise :class:`NoStore` unless the memory's store is there (checked without creating it:
    a store moved away must not read as an empty one)."""
    location = memory.storage_path
    if isinstance(location, str):
        from .._core.redisconn import RedisOptions, store_exists

        options = RedisOptions.parse(location)
        if not store_exists(options):
            raise NoStore(f"no store at {options.display}")
    elif Layout(location).read_marker() is None:
        raise NoStore(f"no store at {location}")


@dataclass(frozen=True)
class Snapshot:
    """The profiles (sorted by key) and histories read at one time, and their fingerprint: it
    changes whenever any site's document or history does."""

    profiles: tuple[SiteProfile, ...]
    histories: dict[str, list[VisitRecord]]
    fingerprint: str


def digest(profile: SiteProfile) -> str:
    """A digest of the profile's document: every visit and every update changes it."""
    text = json.dumps(profile.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StoreReader:
    """Snapshots of ``memory`` (or of its ``site`` alone, a key or URL), one per :meth:`read`.

    A site's history is read the first time, then again when its profile changed since the last
    read, and once more at the read after that: the store writes the history just after the
    document, so a read between the two sees the new document with the old history.
    """

    def __init__(self, memory: SiteMemory, site: str | None = None) -> None:
        self.memory, self.site = memory, site
        self._histories: dict[str, tuple[str, list[VisitRecord]]] = {}
        self._changed: set[str] = set()

    def profiles(self) -> list[SiteProfile]:
        """:raises UnknownSite: ``site`` is not in the store."""
        keys: Sequence[str] = self.memory.list_sites_sync() if self.site is None else [self.site]
        profiles = []
        for key in keys:
            profile = self.memory.get_profile_sync(key)
            if profile is None:
                if self.site is not None:
                    raise UnknownSite(f"no site {self.site!r} in {self.memory.location}")
                continue  # forgotten since it was listed
            profiles.append(profile)
        return sorted(profiles, key=lambda p: p.domain)

    def read(self) -> Snapshot:
        profiles = self.profiles()
        histories, changed, whole = {}, set(), hashlib.sha256()
        for profile in profiles:
            key, mine = profile.domain, digest(profile)
            cached = self._histories.get(key)
            if cached is None or cached[0] != mine or key in self._changed:
                self._histories[key] = (mine, self.memory.visit_history_sync(key))
                if cached is not None and cached[0] != mine:
                    changed.add(key)
            history = histories[key] = self._histories[key][1]
            whole.update(f"{key}\n{mine}\n{len(history)} {history[-1].at if history else None}\n".encode())
        for gone in self._histories.keys() - histories.keys():
            del self._histories[gone]
        self._changed = changed
        return Snapshot(tuple(profiles), histories, whole.hexdigest()[:16])


def read(memory: SiteMemory, site: str | None = None) -> Snapshot:
    """Every site of ``memory`` (or only ``site``, a key or URL) with its history, once.

    :raises UnknownSite: ``site`` is not in the store.
    """
    return StoreReader(memory, site).read()
