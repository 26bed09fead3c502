"""A site's recent visits, one record each: what ``sitememory visits`` prints and the report plots.

The store keeps the last :data:`~.bounds.MAX_HISTORY` records of each site beside its document,
not in it (``bench/history.py`` measures both): a visit appends one short line instead of
rewriting a document grown by a hundred kilobytes, and every other update and read stays as cheap
as before. The history is a log of acknowledged visits, written after the visit counted: the
counts in the document are the truth, the history their recent detail.

Records are read leniently: a line that is not one (junk, a torn write, something planted) is
skipped, never an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .bounds import MAX_HISTORY_LINE, shorten
from .frozen import EMPTY, FrozenDict
from .ledger import number

#: Longest URL path kept, in characters.
MAX_PATH = 200
#: Longest error class kept, in characters.
MAX_ERROR_CLASS = 80
#: The timings a record keeps, of those a visit reports.
MAIN_TIMINGS = ("ttfb", "dom_content_loaded", "load")

#: The latest time a record may have: the end of year 9999, the last a date can show (a planted
#: 1e300 would make every reader that prints it fail).
_LATEST = 253_402_300_799.0
#: The longest duration a record may have, as a visit's (about 30 years).
_LONGEST = 1e9

_TIMEOUT = re.compile(r"time(?:d)?[ _-]?out", re.IGNORECASE)
_NET_ERROR = re.compile(r"\b(?:net|NS)::?[A-Z_]+|\bNS_ERROR_[A-Z_]+")
_EXCEPTION = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Refused))\b")


def error_class(error: str | None) -> str | None:
    """What kind of failure an error text is, short enough to group by: ``timeout``, a browser
    network code (``net::ERR_CONNECTION_REFUSED``), an exception's name, else its first words."""
    if error is None:
        return None
    if _TIMEOUT.search(error):
        return "timeout"
    if m := _NET_ERROR.search(error):
        return m.group(0)
    if m := _EXCEPTION.match(error):
        return m.group(1).rsplit(".", 1)[-1]
    first = error.strip().splitlines()[0] if error.strip() else "error"
    return shorten(first, MAX_ERROR_CLASS)


def url_path(url: str) -> str:
    """The path of ``url`` as a record keeps it: no query or fragment (they may hold tokens),
    ``/`` when there is none, at most :data:`MAX_PATH` characters."""
    try:
        path = urlsplit(url).path if "://" in url else ""
    except ValueError:
        path = ""
    return shorten(path or "/", MAX_PATH)


@dataclass(frozen=True)
class VisitRecord:
    """One visit: when (epoch seconds), which path, its status, its error's class, how long it
    took (seconds), and its main timings (seconds from the navigation's start)."""

    at: float
    path: str
    duration: float
    status: int | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=lambda: EMPTY)

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status is None or self.status < 400)

    @property
    def measures_load(self) -> bool:
        """Whether the duration is a load time (a success, or a timeout's lower bound of one)."""
        return self.ok or (self.status is None and self.error == "timeout")

    @classmethod
    def create(
        cls, at: float, path: str, duration: float, status: int | None, error: str | None,
        timings: Mapping[str, float] | None,
    ) -> VisitRecord:
        """A record of a visit as an update carries it (its values already checked; ``error``
        the error's text, kept as its class)."""
        kept = FrozenDict({k: round(float(timings[k]), 4) for k in MAIN_TIMINGS
                           if timings and k in timings}) if timings else EMPTY
        return cls(at, shorten(path or "/", MAX_PATH), round(duration, 4), status, error_class(error), kept)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": self.at, "path": self.path, "duration": self.duration}
        if self.status is not None:
            data["status"] = self.status
        if self.error is not None:
            data["error"] = self.error
        if self.timings:
            data["timings"] = dict(self.timings)
        return data

    def to_line(self) -> bytes:
        """One line of JSON, at most :data:`~.bounds.MAX_HISTORY_LINE` bytes with its newline."""
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_dict(cls, data: Any) -> VisitRecord | None:
        """The record ``data`` holds, or ``None`` if it is not one."""
        if not isinstance(data, dict):
            return None
        at, duration = _number(data.get("at")), _number(data.get("duration"))
        path, status, error = data.get("path"), data.get("status"), data.get("error")
        if (at is None or not 0 <= at <= _LATEST or duration is None or not 0 <= duration <= _LONGEST
                or not isinstance(path, str)):
            return None
        if status is not None and (type(status) is not int or not 0 <= status <= 999):
            return None
        if error is not None and not isinstance(error, str):
            return None
        raw = data.get("timings")
        timings = {k: t for k, v in raw.items()
                   if k in MAIN_TIMINGS and (t := _number(v)) is not None} if type(raw) is dict else {}
        return cls(at, shorten(path, MAX_PATH), duration, status,
                   None if error is None else shorten(error, MAX_ERROR_CLASS),
                   FrozenDict(timings) if timings else EMPTY)

    @classmethod
    def from_line(cls, line: bytes | str) -> VisitRecord | None:
        if len(line) > MAX_HISTORY_LINE:
            return None
        try:
            return cls.from_dict(json.loads(line))
        except (ValueError, RecursionError):
            return None


def _number(value: Any) -> float | None:
    # Most values are floats already: skip number()'s conversions for them.
    if type(value) is float:
        return value if math.isfinite(value) else None
    return number(value)


def parse_lines(data: bytes) -> list[VisitRecord]:
    """The records in a history file's bytes, in file order; junk lines skipped."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    if all(len(line) <= MAX_HISTORY_LINE for line in lines):
        try:
            # One parse of the whole file as an array: several times faster than line by line.
            values = json.loads(b"[" + b",".join(lines) + b"]")
        except (ValueError, RecursionError):
            pass  # some line is junk: find it below
        else:
            if len(values) == len(lines):  # else a line held "1, 2": read them one by one
                return [r for v in values if (r := VisitRecord.from_dict(v))]
    return [r for line in lines if (r := VisitRecord.from_line(line))]


def newest(records: Iterable[VisitRecord], limit: int | None) -> list[VisitRecord]:
    """The ``limit`` most recent of ``records`` (all for ``None``), oldest first."""
    ordered = sorted(records, key=lambda r: r.at)
    return ordered if limit is None else ordered[-limit:] if limit > 0 else []


def check_limit(limit: int | None) -> int | None:
    """``limit`` if it is ``None`` or a count >= 0, else a clear error."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, not {limit}")
    return limit
