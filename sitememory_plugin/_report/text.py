"""Figures and stored text as the page shows them: every stored string escaped for HTML.

Stored text is hostile: :func:`esc` shows hidden characters as escapes (a bidi override cannot
reorder the page) and escapes ``& < > " '``, so it is safe in element content and in quoted
attributes. Nothing stored ever goes into a script or a style.
"""

from __future__ import annotations

import html
import string
from datetime import UTC, datetime

from .._core.text import visible

_ANCHOR_SAFE = frozenset(string.ascii_letters + string.digits + ".-")


def esc(text: str) -> str:
    """``text`` for HTML content or a quoted attribute."""
    return html.escape(visible(text), quote=True)


def anchor(key: str) -> str:
    """The id of a site's section: ASCII letters, digits, ``.`` and ``-`` as they are, anything
    else as ``_<hex>_`` (so two keys never share an id)."""
    return "site-" + "".join(c if c in _ANCHOR_SAFE else f"_{ord(c):x}_" for c in key)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def plural(count: int, noun: str) -> str:
    """``"1 visit"``, ``"2,000 visits"``."""
    return f"{count:,} {noun if count == 1 else noun + 's'}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def when(timestamp: float | None) -> str:
    """A time in UTC to the minute: ``2026-12-01 20:11Z``."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%MZ")


def span(first: float, last: float) -> tuple[str, str]:
    """A time axis's two ends: to the minute, or to the second when they are within an hour
    (to the minute both would often read the same)."""
    if last - first >= 3600:
        return when(first), when(last)
    stamp = "%Y-%m-%d %H:%M:%SZ"
    return (datetime.fromtimestamp(first, UTC).strftime(stamp),
            datetime.fromtimestamp(last, UTC).strftime("%H:%M:%SZ"))


def iso(timestamp: float) -> str:
    """A machine-readable time, for ``<time datetime=...>``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def number(value: float | None) -> str:
    """A sort key for a table cell's ``data-v``: empty for unknown (sorted last)."""
    return "" if value is None else repr(float(value))
