"""Moving a store's knowledge in and out: JSON Lines export and import, and pruning old sites.

An export is one site document per line, exactly as stored. Importing it into a store that does
not know a site writes the document as it is; a site the store knows is merged (counts added,
lists joined, the store's own values kept where both know). Either way the imported line's
digest is recorded in the document (``jsonl_imports``), so importing the same file again, even
after more visits, counts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from types import MappingProxyType

from .errors import StoreFormatError
from .keys import site_key
from .legacy import ImportResult, merge
from .models import SiteProfile, freeze, thaw
from .storage import Storage

#: Field of a site document listing the digests of the exported documents merged into it.
IMPORTED = "jsonl_imports"


def export_lines(store: Storage) -> Iterator[str]:
    """Each site's document as one line of JSON (no newline), in site-key order."""
    sites = store.keys()
    for key in sites:
        profile = store.read(key)
        if profile is not None:
            yield json.dumps(
                profile.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )


def import_lines(store: Storage, lines: Iterable[str], source: str = "<input>") -> ImportResult:
    """Merge JSON Lines of site documents into ``store`` under :meth:`Storage.maintenance`.

    A line that is not a site document of a valid site is skipped with the reason; nothing is
    written until every line is read.
    """
    incoming: list[tuple[str, str, SiteProfile]] = []
    skipped: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            profile = SiteProfile.from_dict(json.loads(line))
            if site_key(profile.domain) != profile.domain:
                raise StoreFormatError(f"{profile.domain!r} is not a site key")
        except (ValueError, TypeError, RecursionError) as exc:
            skipped[where] = str(exc)
            continue
        digest = hashlib.sha256(line.strip().encode()).hexdigest()
        incoming.append((profile.domain, digest, profile))
    imported: list[str] = []
    with store.maintenance():
        for key, digest, profile in incoming:
            current = store.read_locked(key)
            done = set(current.extra.get(IMPORTED, ())) if current is not None else set()
            if digest in done:
                skipped[key] = "already imported"
                continue
            if current is not None and _without_imports(current) == _without_imports(profile):
                skipped[key] = "identical"
                continue
            merged = profile if current is None else merge(current, profile)
            extra = {**thaw(merged.extra), IMPORTED: sorted(done | {digest})}
            store.put(key, replace(merged, extra=freeze(extra)))
            imported.append(key)
    return ImportResult(tuple(imported), MappingProxyType(skipped))


def _without_imports(profile: SiteProfile) -> dict[str, object]:
    doc = profile.to_dict()
    doc.pop(IMPORTED, None)
    return doc


def last_activity(profile: SiteProfile) -> float | None:
    """When anything was last learned about the site: a visit, a selector, a quirk, a pattern."""
    times = [profile.last_visit, profile.first_visit]
    times += [s.updated_at for s in profile.selectors.values()]
    times += [q.last_seen for q in profile.quirks]
    times += [p.updated_at for p in profile.patterns.values()]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def prune(store: Storage, older_than: float, *, dry_run: bool = False) -> list[str]:
    """Forget every site with no activity in the last ``older_than`` seconds; the keys forgotten.

    A site with no timestamp at all is kept: nothing says it is old. Runs under
    :meth:`Storage.maintenance`, so no update is lost to a concurrent write.
    """
    if older_than < 0:
        raise ValueError("older_than must be >= 0 seconds")
    cutoff = time.time() - older_than
    gone: list[str] = []
    with store.maintenance():
        sites = store.keys()
        for key in sites:
            profile = store.read_locked(key)
            seen = None if profile is None else last_activity(profile)
            if seen is not None and seen < cutoff:
                if not dry_run:
                    store.remove_locked(key)
                gone.append(key)
    return gone


def copy_store(src: Storage, dst: Storage, *, replace: bool = False) -> ImportResult:
    """Copy every site document from ``src`` to ``dst`` as it is (any backend to any other).

    Both stores are held (:meth:`Storage.maintenance`), so no update lands in either meanwhile.
    A site ``dst`` already has with the same document is skipped as "identical"; with a different
    one it is skipped as "differs" unless ``replace``. Nothing is merged: a copy is lossless.
    """
    if src.identity() == dst.identity():
        raise ValueError(f"source and destination are the same store: {src.location}")
    copied: list[str] = []
    skipped: dict[str, str] = {}
    with src.maintenance(), dst.maintenance():
        sites = src.keys()
        for key in sites:
            profile = src.read_locked(key)
            if profile is None:
                continue
            existing = dst.read_locked(key)
            if existing is not None and existing.to_dict() == profile.to_dict():
                skipped[key] = "identical"
                continue
            if existing is not None and not replace:
                skipped[key] = "differs in the destination (replace to overwrite)"
                continue
            dst.put(key, profile)
            copied.append(key)
    return ImportResult(tuple(copied), MappingProxyType(skipped))
