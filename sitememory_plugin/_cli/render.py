"""How the command line shows sites: rows for tables and scripts, durations and times."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len
from rich.table import Table

from .._core.models import SiteProfile

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdwy]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}

#: ``list --sort`` keys: what each sorts by, and whether its natural order is descending.
SORTS: dict[str, tuple[str, bool]] = {
    "site": ("site", False),
    "visits": ("visits", True),
    "success": ("success_rate", True),
    "p50": ("p50_load_s", True),
    "p95": ("p95_load_s", True),
    "last": ("last_visit", True),
}


def parse_duration(text: str) -> float:
    """Seconds in ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, ``"1y"`` (365 days) or
    plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 30d, 12h, 90m, 45s, 2w, 1y)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def count_arg(text: str) -> int:
    """An option's whole number >= 0 (``--limit``), or argparse's error naming what was given."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number >= 0: {text!r}")
    return value


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 site"``, ``"2 sites"``, ``"0 sites"``; ``nouns`` for a plural not made with ``s``."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def either(items: list[str]) -> str:
    """``"a"``, ``"a or b"``, ``"a, b or c"``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def known(value: object) -> str:
    """A value for people: ``"-"`` when it is unknown (``None`` or empty), never ``"None"``."""
    return "-" if value is None or value == "" else str(value)


def days(seconds: float) -> str:
    """A half-life for people: ``"30 d"``, ``"12 h"``."""
    if seconds >= 86400:
        return f"{seconds / 86400:g} d"
    return f"{seconds / 3600:g} h"


def row(profile: SiteProfile) -> dict[str, Any]:
    """One site as the fields ``list`` shows and ``list --json`` prints."""
    return {
        "site": profile.domain,
        "visits": profile.visit_count,
        "success_rate": profile.success_rate,
        "p50_load_s": profile.p50_load_time,
        "p95_load_s": profile.p95_load_time,
        "last_visit": profile.last_visit,
        "selectors": len(profile.selectors),
        "quirks": len(profile.quirks),
    }


def site_column(table: Table, keys: list[str], header: str = "site") -> None:
    """Add the column of site keys: never wrapped, as wide as the longest key, so that a narrow
    terminal cuts the other columns first (a key cut in two is no key to copy)."""
    table.add_column(header, no_wrap=True, min_width=max(map(cell_len, [header, *keys])))


def sort_rows(rows: list[dict[str, Any]], by: str, reverse: bool = False) -> list[dict[str, Any]]:
    """Rows sorted by a :data:`SORTS` key; unknown values (``None``) always last."""
    field, descending = SORTS[by]
    known = [r for r in rows if r[field] is not None]
    unknown = [r for r in rows if r[field] is None]
    known.sort(key=lambda r: r[field], reverse=descending != reverse)
    return known + unknown


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def when(timestamp: float | None, now: float | None = None) -> str:
    """A timestamp as "5 min ago" (recent) or a UTC date."""
    if timestamp is None:
        return "-"
    ago = (time.time() if now is None else now) - timestamp
    if ago < 0:
        return str(iso(timestamp))
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if ago < limit:
            return f"{ago / size:.0f} {unit} ago"
    if ago < 30 * 86400:
        return f"{ago / 86400:.0f} days ago"
    return str(iso(timestamp))[:10]


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    stamp = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")
