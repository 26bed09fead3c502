"""Importing the seed's single-file format (``{domain: profile}``) into a store.

The seed's field names varied; this reads the common spellings and keeps everything else in
``extra`` so nothing is dropped. An entry's visits are counted under an origin named by the entry's
digest and merged like an import (:mod:`.merge`), so importing the same file again, or retrying
an import that failed halfway, never counts anything twice.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .errors import InvalidInput
from .frozen import FrozenDict
from .keys import site_key
from .models import SiteProfile, mapping, to_millis
from .storage import Storage
from .transfer import ImportResult, merge_into

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


def import_file(store: Storage, file: str | Path | IO[str]) -> ImportResult:
    """Merge a seed-format file (a path, or a text file such as standard input) into ``store``
    under :meth:`Storage.maintenance`; the file is read whole and checked before anything is
    written (:func:`read_legacy`)."""
    incoming: list[SiteProfile] = []
    skipped: dict[str, str] = {}
    for domain, data in read_legacy(file).items():
        try:
            incoming.append(from_legacy(site_key(domain), data))
        except (TypeError, ValueError, AttributeError) as exc:
            skipped[domain] = str(exc)
    imported, already = merge_into(store, incoming)
    return ImportResult(tuple(imported), FrozenDict({**skipped, **already}))


def read_legacy(file: str | Path | IO[str]) -> dict[str, dict[str, Any]]:
    """The ``{domain: profile}`` mapping of a seed-format file; :class:`InvalidInput` if not."""
    source = str(file) if isinstance(file, str | Path) else str(getattr(file, "name", "<input>"))
    try:
        text = Path(file).read_bytes() if isinstance(file, str | Path) else file.read()
        data = json.loads(text)
    except ValueError as exc:  # UnicodeDecodeError too
        raise InvalidInput(f"{source} is not valid JSON: {exc}", source) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise InvalidInput(f"{source} is not a legacy site-memory file ({{domain: profile}})", source)
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
    profile = SiteProfile.from_dict(doc)
    # The entry names its origin: importing it again adds nothing, a changed entry counts anew.
    digest = hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=8)
    return profile.counted_as(f"seed-{digest.hexdigest()}")


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

