"""Reading the seed's single-file format (``{domain: profile}``) and merging profiles.

The seed's field names varied; this reads the common spellings and keeps everything else in
``extra`` so nothing is dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import StoreFormatError
from .models import LOAD_WINDOW, SiteProfile, to_millis

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
        str(p): _selector(s) for p, s in _mapping(doc.get("selectors")).items()
    }
    doc["quirks"] = [_quirk(q) for q in (doc.get("quirks") or []) if isinstance(q, str | dict)]
    doc["patterns"] = {str(t): _pattern(a) for t, a in _mapping(doc.get("patterns")).items()}
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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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
    data = dict(_mapping(value))
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
    return dict(_mapping(value))

