"""Typed, immutable models of what the memory knows about a site, and their JSON form.

Every model keeps the fields it does not know in ``extra`` so that a document written by a newer
version, or edited by hand, loses nothing when this version rewrites it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from .errors import StoreFormatError, VersionTooNew

FORMAT = "sitememory.site"
FORMAT_VERSION = 1
#: How many recent load times a profile keeps for its mean and percentiles.
LOAD_WINDOW = 100
#: How many recent visit outcomes a profile keeps for its recent failure rate.
RECENT_WINDOW = 20

JSON = Any
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def freeze(value: JSON) -> JSON:
    """Deep read-only copy of a JSON value: dicts become mapping proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: JSON) -> JSON:
    """Inverse of :func:`freeze`: plain dicts and lists, ready for :mod:`json`."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


def _known(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls) if f.name != "extra")


def _split(data: Mapping[str, Any], cls: type) -> tuple[dict[str, Any], Mapping[str, Any]]:
    known = _known(cls)
    mine = {k: v for k, v in data.items() if k in known}
    extra = {k: v for k, v in data.items() if k not in known}
    return mine, freeze(extra) if extra else _EMPTY


_NUMBERS = (int, float)  # exact types: bool is not a number here


def _num(value: Any, default: float | None = None) -> float | None:
    if type(value) not in _NUMBERS or not math.isfinite(value):
        return default
    return float(value)


def to_millis(seconds: float) -> int:
    return round(seconds * 1000)


def quantize(seconds: float) -> float:
    """``seconds`` at the millisecond resolution load times are kept at."""
    return round(seconds * 1000) / 1000


def _seconds(millis: Any) -> tuple[float, ...]:
    """Seconds from a JSON list of milliseconds, skipping junk (a hot path: every update)."""
    if not isinstance(millis, list | tuple):
        return ()
    isfinite = math.isfinite
    return tuple(round(v) / 1000 for v in millis if type(v) in _NUMBERS and isfinite(v) and v >= 0)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class CandidateStats:
    """How one selector candidate has fared: successes, failures and the current failing streak."""

    ok: int = 0
    failed: int = 0
    streak: int = 0

    @property
    def score(self) -> float:
        """Success rate shrunk by two imaginary failures: one lucky success (1/3) does not
        outrank a proven selector (e.g. 2 of 3, 2/5), two successes in a row (2/4) do."""
        return self.ok / (self.ok + self.failed + 2)


@dataclass(frozen=True)
class Selector:
    """A selector remembered for a purpose ("search box"), with fallbacks ranked by success."""

    purpose: str
    primary: str
    fallbacks: tuple[str, ...] = ()
    success_count: int = 0
    failure_count: int = 0
    candidates: Mapping[str, CandidateStats] = field(default_factory=lambda: _EMPTY)
    updated_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def ranked(self) -> tuple[str, ...]:
        """Every selector to try, best first: the primary, then the fallbacks."""
        return (self.primary, *self.fallbacks)

    def to_dict(self) -> dict[str, Any]:
        return {
            **thaw(self.extra),
            "primary": self.primary,
            "fallbacks": list(self.fallbacks),
            "success_count": self.success_count,
            "failure_count": self.failure_count,
            "candidates": {
                s: {"ok": c.ok, "failed": c.failed, "streak": c.streak}
                for s, c in self.candidates.items()
            },
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, purpose: str, data: Mapping[str, Any]) -> Selector:
        mine, extra = _split(data, cls)
        candidates = mine.get("candidates")
        return cls(
            purpose=purpose,
            primary=str(mine.get("primary", "")),
            fallbacks=_strings(mine.get("fallbacks")),
            success_count=_count(mine.get("success_count")),
            failure_count=_count(mine.get("failure_count")),
            candidates=MappingProxyType({
                str(s): CandidateStats(_count(c.get("ok")), _count(c.get("failed")),
                                       _count(c.get("streak")))
                for s, c in (candidates.items() if isinstance(candidates, Mapping) else ())
                if isinstance(c, Mapping)
            }),
            updated_at=_num(mine.get("updated_at")),
            extra=extra,
        )


@dataclass(frozen=True)
class Quirk:
    """Something odd about a site, how to work around it, and how often it was seen."""

    description: str
    workaround: str | None = None
    occurrences: int = 1
    first_seen: float | None = None
    last_seen: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def to_dict(self) -> dict[str, Any]:
        return {
            **thaw(self.extra),
            "description": self.description,
            "workaround": self.workaround,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Quirk:
        mine, extra = _split(data, cls)
        workaround = mine.get("workaround")
        return cls(
            description=str(mine.get("description", "")),
            workaround=None if workaround is None else str(workaround),
            occurrences=max(1, _count(mine.get("occurrences"))),
            first_seen=_num(mine.get("first_seen")),
            last_seen=_num(mine.get("last_seen")),
            extra=extra,
        )


@dataclass(frozen=True)
class ActionPattern:
    """A sequence of actions that accomplished a task type on a site (JSON values, read-only)."""

    task_type: str
    actions: tuple[Any, ...] = ()
    times_cached: int = 1
    created_at: float | None = None
    updated_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def to_dict(self) -> dict[str, Any]:
        return {
            **thaw(self.extra),
            "actions": thaw(self.actions),
            "times_cached": self.times_cached,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, task_type: str, data: Mapping[str, Any]) -> ActionPattern:
        mine, extra = _split(data, cls)
        actions = mine.get("actions")
        return cls(
            task_type=task_type,
            actions=freeze(actions) if isinstance(actions, list | tuple) else (),
            times_cached=max(1, _count(mine.get("times_cached"))),
            created_at=_num(mine.get("created_at")),
            updated_at=_num(mine.get("updated_at")),
            extra=extra,
        )


@dataclass(frozen=True)
class SiteProfile:
    """Everything the memory knows about one site. Immutable: update it through ``SiteMemory``."""

    domain: str
    visit_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    first_visit: float | None = None
    last_visit: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    #: Load times of recent visits that succeeded or timed out, in seconds, oldest first, at
    #: millisecond resolution (stored as ``load_times_ms``: integers encode faster than floats).
    load_times: tuple[float, ...] = ()
    last_timings: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    #: Outcomes of the most recent visits, oldest first (stored as ``recent_outcomes``, "1" for a
    #: success and "0" for a failure: readable, and a guard needs only the last few).
    recent_outcomes: tuple[bool, ...] = ()
    selectors: Mapping[str, Selector] = field(default_factory=lambda: _EMPTY)
    quirks: tuple[Quirk, ...] = ()
    patterns: Mapping[str, ActionPattern] = field(default_factory=lambda: _EMPTY)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def mean_load_time(self) -> float | None:
        """Mean load time in seconds over the recent window, ``None`` before any visit."""
        return sum(self.load_times) / len(self.load_times) if self.load_times else None

    @property
    def p50_load_time(self) -> float | None:
        return percentile(self.load_times, 50)

    @property
    def p95_load_time(self) -> float | None:
        return percentile(self.load_times, 95)

    @property
    def recent_failure_rate(self) -> float | None:
        """Share of failures among the last :data:`RECENT_WINDOW` visits; ``None`` before any."""
        outcomes = self.recent_outcomes
        return outcomes.count(False) / len(outcomes) if outcomes else None

    @property
    def success_rate(self) -> float | None:
        done = self.success_count + self.failure_count
        return self.success_count / done if done else None

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document of this profile."""
        return {
            **thaw(self.extra),
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "domain": self.domain,
            "visit_count": self.visit_count,
            "success_count": self.success_count,
            "failure_count": self.failure_count,
            "first_visit": self.first_visit,
            "last_visit": self.last_visit,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "load_times_ms": [to_millis(t) for t in self.load_times],
            "last_timings": dict(self.last_timings),
            "recent_outcomes": "".join("1" if ok else "0" for ok in self.recent_outcomes),
            "selectors": {p: s.to_dict() for p, s in self.selectors.items()},
            "quirks": [q.to_dict() for q in self.quirks],
            "patterns": {t: a.to_dict() for t, a in self.patterns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SiteProfile:
        """Read a document; raises :class:`StoreFormatError` if it is not one this version knows."""
        if not isinstance(data, Mapping):
            raise StoreFormatError(f"a site document is a JSON object, not {type(data).__name__}")
        version = data.get("version", FORMAT_VERSION)
        if data.get("format", FORMAT) != FORMAT or type(version) is not int:
            raise StoreFormatError(f"not a {FORMAT} document")
        if version > FORMAT_VERSION:
            raise VersionTooNew(
                f"document version {version} is newer than this library ({FORMAT_VERSION}); upgrade"
            )
        rest = {k: v for k, v in data.items() if k not in ("format", "version", "load_times_ms")}
        mine, extra = _split(rest, cls)
        domain = mine.get("domain")
        if not isinstance(domain, str) or not domain:
            raise StoreFormatError("a site document needs a domain")
        selectors = mapping(mine.get("selectors"))
        patterns = mapping(mine.get("patterns"))
        quirks = mine.get("quirks")
        status = mine.get("last_status")
        error = mine.get("last_error")
        return cls(
            domain=domain,
            visit_count=_count(mine.get("visit_count")),
            success_count=_count(mine.get("success_count")),
            failure_count=_count(mine.get("failure_count")),
            first_visit=_num(mine.get("first_visit")),
            last_visit=_num(mine.get("last_visit")),
            last_status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            last_error=None if error is None else str(error),
            load_times=_seconds(data.get("load_times_ms"))[-LOAD_WINDOW:],
            last_timings=MappingProxyType({
                str(k): n for k, v in mapping(mine.get("last_timings")).items()
                if (n := _num(v)) is not None
            }),
            recent_outcomes=_outcomes(mine.get("recent_outcomes")),
            selectors=MappingProxyType({
                str(p): Selector.from_dict(str(p), s) for p, s in selectors.items()
                if isinstance(s, Mapping)
            }),
            quirks=tuple(
                Quirk.from_dict(q) for q in (quirks if isinstance(quirks, list) else ())
                if isinstance(q, Mapping)
            ),
            patterns=MappingProxyType({
                str(t): ActionPattern.from_dict(str(t), a) for t, a in patterns.items()
                if isinstance(a, Mapping)
            }),
            extra=extra,
        )


def _outcomes(value: Any) -> tuple[bool, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(ch == "1" for ch in value if ch in "01")[-RECENT_WINDOW:]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def percentile(values: tuple[float, ...], pct: float) -> float | None:
    """Nearest-rank percentile of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
