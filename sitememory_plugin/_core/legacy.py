"""Importing the seed's single-file format (``{domain: profile}``) into a store.

The seed's field names varied; this reads the common spellings and keeps everything else in
``extra`` so nothing is dropped. Each imported entry's digest is recorded in the site's document
(``legacy_imports``), so importing the same file again, or retrying an import that failed
halfway, never counts anything twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import StoreFormatError
from .keys import site_key
from .models import LOAD_WINDOW, SiteProfile, freeze, mapping, thaw, to_millis
from .storage import Storage

_ALIASES = {
    "visits": "visit_count",
    "total_visits": "visit_count",
    "successful_visits": "success_count",
    "failed_visits": "failure_count",
    "error_count": "failure_count",
    "errors": "failure_count",
    "action_patterns": "patterns",
    "last_visited": "last_visit",
    "first_visited": "first_visit",
}


#: Field of a site document listing the digests of the legacy entries merged into it.
IMPORTED = "legacy_imports"


@dataclass(frozen=True)
class ImportResult:
    """What an import did: sites written, and entries skipped with the reason."""

    imported: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def import_file(store: Storage, path: str | Path) -> ImportResult:
    """Merge a seed-format file into ``store`` under :meth:`Storage.maintenance`."""
    incoming: dict[str, list[tuple[str, SiteProfile]]] = {}
    skipped: dict[str, str] = {}
    for domain, data in read_legacy(path).items():
        try:
            key = site_key(domain)
            profile = from_legacy(key, data)
        except (TypeError, ValueError, AttributeError) as exc:
            skipped[domain] = str(exc)
            continue
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        incoming.setdefault(key, []).append((digest, profile))
    imported: list[str] = []
    with store.maintenance():
        for key, entries in incoming.items():
            current = store.read_locked(key)
            done = set(current.extra.get(IMPORTED, ())) if current is not None else set()
            new = [(digest, profile) for digest, profile in entries if digest not in done]
            if not new:
                skipped[key] = "already imported"
                continue
            merged = current
            for _, profile in new:
                merged = merge(merged, profile)
            assert merged is not None
            digests = sorted(done | {digest for digest, _ in new})
            store.put(key, replace(merged, extra=freeze({**thaw(merged.extra), IMPORTED: digests})))
            imported.append(key)
    return ImportResult(tuple(imported), MappingProxyType(skipped))


def read_legacy(path: str | Path) -> dict[str, dict[str, Any]]:
    """The ``{domain: profile}`` mapping of a seed-format file; :class:`StoreFormatError` if not."""
    try:
        data = json.loads(Path(path).read_bytes())
    except ValueError as exc:
        raise StoreFormatError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise StoreFormatError(f"{path} is not a legacy site-memory file ({{domain: profile}})")
    return data


def from_legacy(key: str, data: Mapping[str, Any]) -> SiteProfile:
    """A :class:`SiteProfile` for site ``key`` from a seed-format profile."""
    doc: dict[str, Any] = {}
    for name, value in data.items():
        doc[_ALIASES.get(name, name)] = value
    for name in ("first_visit", "last_visit"):
        doc[name] = _timestamp(doc.get(name))
    seconds = doc.pop("load_times", None)
    average = doc.pop("avg_load_time", doc.pop("average_load_time", None))
    if not isinstance(seconds, list) and isinstance(average, int | float):
        # The seed kept only a running average: keep it as the one sample we have.
        seconds = [average]
    if isinstance(seconds, list):
        doc["load_times_ms"] = [
            to_millis(t) for t in seconds if isinstance(t, int | float) and math.isfinite(t)
        ]
    doc["selectors"] = {
        str(p): _selector(s) for p, s in mapping(doc.get("selectors")).items()
    }
    quirks = doc.get("quirks")
    doc["quirks"] = [_quirk(q) for q in (quirks if isinstance(quirks, list) else [])
                     if isinstance(q, str | dict)]
    doc["patterns"] = {str(t): _pattern(a) for t, a in mapping(doc.get("patterns")).items()}
    doc["domain"] = key
    doc.pop("format", None)
    doc.pop("version", None)
    return SiteProfile.from_dict(doc)


def merge(current: SiteProfile | None, incoming: SiteProfile) -> SiteProfile:
    """Both profiles' knowledge: counts added, lists joined; ``current`` wins where both know."""
    if current is None:
        return incoming
    quirks = {q.description: q for q in current.quirks}
    for q in incoming.quirks:
        old = quirks.get(q.description)
        quirks[q.description] = q if old is None else replace(
            old, occurrences=old.occurrences + q.occurrences, workaround=old.workaround or q.workaround
        )
    return replace(
        current,
        visit_count=current.visit_count + incoming.visit_count,
        success_count=current.success_count + incoming.success_count,
        failure_count=current.failure_count + incoming.failure_count,
        first_visit=_pick(min, current.first_visit, incoming.first_visit),
        last_visit=_pick(max, current.last_visit, incoming.last_visit),
        load_times=(*incoming.load_times, *current.load_times)[-LOAD_WINDOW:],
        selectors=MappingProxyType({**incoming.selectors, **current.selectors}),
        quirks=tuple(quirks.values()),
        patterns=MappingProxyType({**incoming.patterns, **current.patterns}),
        extra=MappingProxyType({**incoming.extra, **current.extra}),
    )


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return choose(values) if values else None


def _timestamp(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _selector(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"primary": value}
    data = dict(mapping(value))
    if "primary" not in data:
        data["primary"] = data.pop("selector", "")
    for old, new in (("successes", "success_count"), ("failures", "failure_count"),
                     ("fail_count", "failure_count")):
        if old in data:
            data.setdefault(new, data.pop(old))
    return data


def _quirk(value: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, str):
        return {"description": value}
    data = dict(value)
    for name in ("first_seen", "last_seen"):
        if name in data:
            data[name] = _timestamp(data[name])
    if "count" in data:
        data.setdefault("occurrences", data.pop("count"))
    return data


def _pattern(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"actions": value}
    return dict(mapping(value))

