"""Typed, immutable models of what the memory knows about a site, and their JSON form.

Every model keeps the fields it does not know in ``extra`` so that a document written by a newer
version, or edited by hand, loses nothing when this version rewrites it. Reading is lenient: a
value of the wrong type is read as its default (a count written as ``"57"`` is 57), and a time
from the future (a clock that was wrong) is read as the reader's "now".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from .bounds import MAX_CLOCK_SKEW, MAX_ORIGIN_NAME, MAX_PAUSE, shorten
from .errors import StoreFormatError, VersionTooNew
from .evidence import DEFAULT_HALF_LIFE, Evidence
from .frozen import EMPTY, FrozenDict, FrozenList
from .frozen import freeze as freeze
from .frozen import thaw as thaw
from .ledger import LOAD_WINDOW as LOAD_WINDOW
from .ledger import Ledger, OriginVisits, later, load_millis, outcomes, v1_origin
from .ledger import count as count
from .ledger import number as number
from .ledger import recency as recency

FORMAT = "sitememory.site"
#: Version 2 counts visits per store (:mod:`.ledger`); version 1 documents are read and upgraded.
FORMAT_VERSION = 2

JSON = Any
_EMPTY: Mapping[str, Any] = EMPTY
#: Fields of a version-1 document that version 2 derives from its ledger (and writes only for
#: readers).
_V1_ONLY = frozenset({"visit_count", "success_count", "failure_count", "first_visit",
                      "load_times_ms", "recent_outcomes"})
#: Fields no version keeps any more: the digests of imports, which the ledger replaced.
_OBSOLETE = frozenset({"jsonl_imports", "legacy_imports"})
_LEDGER_FIELDS = frozenset({"visits", "forgotten", "forgotten_at", "folded_origins"})
T = TypeVar("T")


def _known(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls) if f.name != "extra")


def _split(data: Mapping[str, Any], cls: type) -> tuple[dict[str, Any], Mapping[str, Any]]:
    known = _known(cls)
    mine = {k: v for k, v in data.items() if k in known}
    extra = {k: v for k, v in data.items() if k not in known}
    return mine, freeze(extra) if extra else _EMPTY


def to_millis(seconds: float) -> int:
    return round(seconds * 1000)


class Reader:
    """Lenient readers of a document's values, with times clamped to ``now`` + skew."""

    def __init__(self, now: float | None) -> None:
        self.latest = None if now is None else now + MAX_CLOCK_SKEW
        self.now = now
        self.clamped = False

    def time(self, value: Any) -> float | None:
        t = number(value)
        if t is not None and self.latest is not None and t > self.latest:
            self.clamped = True
            return self.now
        return t

    def until(self, value: Any) -> float | None:
        """A pause's end: one further ahead than any pause is set (:data:`~.bounds.MAX_PAUSE`,
        with the clock skew) is read as that bound from ``now``, not as ``now``, which would
        lift it."""
        t = number(value)
        if t is not None and self.now is not None and t > self.now + MAX_PAUSE + MAX_CLOCK_SKEW:
            self.clamped = True
            return self.now + MAX_PAUSE
        return t


_LENIENT = Reader(None)


def _origin(value: Any) -> str | None:
    return shorten(value, MAX_ORIGIN_NAME) if isinstance(value, str) and value else None


def _provenance(data: dict[str, Any], origin: str | None, imported: bool) -> dict[str, Any]:
    """``data`` with who reported the entry, written only when known (documents stay small)."""
    if origin is not None:
        data["origin"] = origin
    if imported:
        data["imported"] = True
    return data


@dataclass(frozen=True)
class CandidateStats:
    """How one selector candidate has fared: successes, failures (its contradictions), the current
    failing streak, their times, and when an agent last remembered it as the one that worked."""

    ok: int = 0
    failed: int = 0
    streak: int = 0
    first_seen: float | None = None
    last_ok: float | None = None
    last_failed: float | None = None
    remembered: float | None = None
    origin: str | None = None
    imported: bool = False
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def score(self) -> float:
        """Success rate shrunk by two imaginary failures: one lucky success (1/3) does not
        outrank a proven selector (e.g. 2 of 3, 2/5), two successes in a row (2/4) do. (The
        confidence of fresh evidence: :meth:`confidence` weighs the counts by age.)"""
        return self.ok / (self.ok + self.failed + 2)

    @property
    def evidence(self) -> Evidence:
        """Its successes confirm it; being remembered counts as one success until its results
        say more (the agent that remembered it saw it work, and usually reports that result)."""
        confirmations = max(self.ok, 1 if self.remembered is not None else 0)
        last = self.last_ok if self.remembered is None else later(self.last_ok, self.remembered)
        return Evidence(self.first_seen, last, self.last_failed, confirmations, self.failed,
                        self.origin, self.imported)

    def confidence(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> float:
        return self.evidence.confidence(now, half_life)

    def to_dict(self) -> dict[str, Any]:
        return _provenance({
            **thaw(self.extra), "ok": self.ok, "failed": self.failed, "streak": self.streak,
            "first_seen": self.first_seen, "last_ok": self.last_ok, "last_failed": self.last_failed,
            "remembered": self.remembered,
        }, self.origin, self.imported)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], read: Reader = _LENIENT) -> CandidateStats:
        mine, extra = _split(data, cls)
        return cls(
            count(mine.get("ok")), count(mine.get("failed")), count(mine.get("streak")),
            read.time(mine.get("first_seen")), read.time(mine.get("last_ok")),
            read.time(mine.get("last_failed")), read.time(mine.get("remembered")),
            _origin(mine.get("origin")),
            mine.get("imported") is True, extra,
        )


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
        """Every selector to try, best first: the primary, then the fallbacks (ranked by their
        confidence when the last result came in; see :mod:`.ranking`)."""
        return (self.primary, *self.fallbacks)

    def stats(self, candidate: str) -> CandidateStats:
        """What is known of ``candidate`` (nothing yet: all zero)."""
        return self.candidates.get(candidate) or CandidateStats()

    def confidence(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> float:
        """The confidence of the best candidate: how much the purpose's knowledge is worth."""
        return max((self.stats(c).confidence(now, half_life) for c in self.ranked()), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            **thaw(self.extra),
            "primary": self.primary,
            "fallbacks": list(self.fallbacks),
            "success_count": self.success_count,
            "failure_count": self.failure_count,
            "candidates": {s: c.to_dict() for s, c in self.candidates.items()},
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, purpose: str, data: Mapping[str, Any], read: Reader = _LENIENT) -> Selector:
        mine, extra = _split(data, cls)
        candidates = mine.get("candidates")
        primary = mine.get("primary")
        # An empty candidate is no selector: the next one is primary (none: no selector at all).
        order = tuple(dict.fromkeys(c for c in (primary if isinstance(primary, str) else "",
                                                *_strings(mine.get("fallbacks"))) if c))
        return cls(
            purpose=purpose,
            primary=order[0] if order else "",
            fallbacks=order[1:],
            success_count=count(mine.get("success_count")),
            failure_count=count(mine.get("failure_count")),
            candidates=FrozenDict({
                str(s): CandidateStats.from_dict(c, read)
                for s, c in (candidates.items() if isinstance(candidates, Mapping) else ())
                if isinstance(c, Mapping)
            }),
            updated_at=read.time(mine.get("updated_at")),
            extra=extra,
        )


@dataclass(frozen=True)
class Quirk:
    """Something odd about a site, how to work around it, and how often it was seen (each
    occurrence confirms it) or contradicted."""

    description: str
    workaround: str | None = None
    occurrences: int = 1
    first_seen: float | None = None
    last_seen: float | None = None
    contradictions: int = 0
    last_contradicted: float | None = None
    origin: str | None = None
    imported: bool = False
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.first_seen, self.last_seen, self.last_contradicted, self.occurrences,
                        self.contradictions, self.origin, self.imported)

    def confidence(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> float:
        return self.evidence.confidence(now, half_life)

    def to_dict(self) -> dict[str, Any]:
        return _provenance({
            **thaw(self.extra),
            "description": self.description,
            "workaround": self.workaround,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "contradictions": self.contradictions,
            "last_contradicted": self.last_contradicted,
        }, self.origin, self.imported)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], read: Reader = _LENIENT) -> Quirk:
        mine, extra = _split(data, cls)
        workaround = mine.get("workaround")
        return cls(
            description=str(mine.get("description", "")),
            workaround=None if workaround is None else str(workaround),
            occurrences=max(1, count(mine.get("occurrences"))),
            first_seen=read.time(mine.get("first_seen")),
            last_seen=read.time(mine.get("last_seen")),
            contradictions=count(mine.get("contradictions")),
            last_contradicted=read.time(mine.get("last_contradicted")),
            origin=_origin(mine.get("origin")),
            imported=mine.get("imported") is True,
            extra=extra,
        )


@dataclass(frozen=True)
class ActionPattern:
    """A sequence of actions that accomplished a task type on a site (JSON values, read-only).

    Caching it again, or a replay that worked, confirms it (``times_cached``, ``updated_at``); a
    replay that failed contradicts it."""

    task_type: str
    actions: Sequence[Any] = field(default_factory=lambda: _NO_ACTIONS)
    times_cached: int = 1
    created_at: float | None = None
    updated_at: float | None = None
    contradictions: int = 0
    last_contradicted: float | None = None
    origin: str | None = None
    imported: bool = False
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.created_at, self.updated_at, self.last_contradicted, self.times_cached,
                        self.contradictions, self.origin, self.imported)

    def confidence(self, now: float, half_life: float = DEFAULT_HALF_LIFE) -> float:
        return self.evidence.confidence(now, half_life)

    def to_dict(self) -> dict[str, Any]:
        return _provenance({
            **thaw(self.extra),
            "actions": thaw(self.actions),
            "times_cached": self.times_cached,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "contradictions": self.contradictions,
            "last_contradicted": self.last_contradicted,
        }, self.origin, self.imported)

    @classmethod
    def from_dict(cls, task_type: str, data: Mapping[str, Any], read: Reader = _LENIENT) -> ActionPattern:
        mine, extra = _split(data, cls)
        actions = mine.get("actions")
        return cls(
            task_type=task_type,
            actions=freeze(actions) if isinstance(actions, list | tuple) else _NO_ACTIONS,
            times_cached=max(1, count(mine.get("times_cached"))),
            created_at=read.time(mine.get("created_at")),
            updated_at=read.time(mine.get("updated_at")),
            contradictions=count(mine.get("contradictions")),
            last_contradicted=read.time(mine.get("last_contradicted")),
            origin=_origin(mine.get("origin")),
            imported=mine.get("imported") is True,
            extra=extra,
        )


_NO_ACTIONS: FrozenList[Any] = FrozenList()


@dataclass(frozen=True)
class SiteProfile:
    """Everything the memory knows about one site. Immutable: update it through ``SiteMemory``.

    The visit counts, first visit, load times and outcomes are the sums of :attr:`ledger` (per
    store, see :mod:`.ledger`) whenever it is set; a profile made by hand, or read from a
    version-1 document, has none, and then these fields are the record.
    """

    domain: str
    visit_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    first_visit: float | None = None
    last_visit: float | None = None
    last_status: int | None = None
    last_error: str | None = None
    #: Load times of recent visits that succeeded or timed out, in seconds, oldest first, at
    #: millisecond resolution.
    load_times: tuple[float, ...] = ()
    last_timings: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    #: Outcomes of the most recent visits, oldest first.
    recent_outcomes: tuple[bool, ...] = ()
    selectors: Mapping[str, Selector] = field(default_factory=lambda: _EMPTY)
    quirks: tuple[Quirk, ...] = ()
    patterns: Mapping[str, ActionPattern] = field(default_factory=lambda: _EMPTY)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    #: Visits per store that recorded them: what merges between stores without counting twice.
    ledger: Ledger | None = None
    #: A forgotten site: what remains is its ledger, so that updates made before the forget,
    #: wherever they wait, are recognised (a tombstone; never returned by reads).
    gone: bool = False
    #: Until when (seconds since the epoch) the site asked every client to wait: the
    #: ``Retry-After`` of its latest 429 or 503 that had one (:mod:`.ratelimit`), else ``None``.
    paused_until: float | None = None
    #: When the response that set :attr:`paused_until` was received: a later one replaces it.
    paused_at: float | None = None

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
        """Share of failures among the last :data:`~.ledger.RECENT_WINDOW` visits; ``None`` before any."""
        outcomes = self.recent_outcomes
        return outcomes.count(False) / len(outcomes) if outcomes else None

    @property
    def success_rate(self) -> float | None:
        done = self.success_count + self.failure_count
        return self.success_count / done if done else None

    @property
    def forgotten_at(self) -> float | None:
        """When the site was last forgotten: nothing made before then counts."""
        return None if self.ledger is None else self.ledger.forgotten_at

    def __post_init__(self) -> None:
        # The ledger is the record: the totals are its sums, whatever replace() was given.
        if self.ledger is not None:
            t = self.ledger.totals
            for name, value in (("visit_count", t.visits), ("success_count", t.succeeded),
                                ("failure_count", t.failed), ("first_visit", t.first_visit),
                                ("load_times", t.load_times), ("recent_outcomes", t.recent_outcomes)):
                object.__setattr__(self, name, value)

    def visits_ledger(self) -> Ledger:
        """:attr:`ledger`, or for a profile without one, its totals as the entry of the origin a
        version-1 document's counts have (:func:`~.ledger.v1_origin`)."""
        if self.ledger is not None:
            return self.ledger
        return self.counted_as(v1_origin(self.domain, self.first_visit)).visits_ledger()

    def counted_as(self, origin: str) -> SiteProfile:
        """This profile with its totals (not its ledger) as ``origin``'s entry."""
        if not (self.visit_count or self.success_count or self.failure_count or self.load_times
                or self.recent_outcomes or self.first_visit is not None):
            return self.with_ledger(Ledger())
        entry = OriginVisits(
            self.visit_count, self.success_count, self.failure_count, len(self.load_times),
            self.first_visit, self.last_visit, tuple(to_millis(t) for t in self.load_times),
            self.recent_outcomes,
        )
        return self.with_ledger(Ledger(FrozenDict({origin: entry})))

    def with_ledger(self, ledger: Ledger) -> SiteProfile:
        """This profile counting ``ledger``'s visits."""
        return replace(self, ledger=ledger)

    def to_dict(self, *, entries: bool = True) -> dict[str, Any]:
        """The versioned JSON document of this profile (without selectors, quirks and patterns
        unless ``entries``: the encoder writes those from each entry's own cached JSON)."""
        doc = {
            **thaw(self.extra),
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "domain": self.domain,
            # Derived from the ledger below, for people and scripts that read documents.
            "visit_count": self.visit_count,
            "success_count": self.success_count,
            "failure_count": self.failure_count,
            "first_visit": self.first_visit,
            **self.visits_ledger().to_json(),
            "last_visit": self.last_visit,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_timings": dict(self.last_timings),
        }
        if entries:
            doc["selectors"] = {p: s.to_dict() for p, s in self.selectors.items()}
            doc["quirks"] = [q.to_dict() for q in self.quirks]
            doc["patterns"] = {t: a.to_dict() for t, a in self.patterns.items()}
        if self.paused_until is not None:
            doc["paused_until"] = self.paused_until
            doc["paused_at"] = self.paused_at
        if self.gone:
            doc["gone"] = True
        return doc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], now: float | None = None) -> SiteProfile:
        """Read a document of version 1 or 2; :class:`StoreFormatError` if it is not one.

        With ``now`` (seconds since the epoch), times more than a day later are read as ``now``.
        """
        return read_document(data, Reader(now))[0]


def document_version(doc: Mapping[str, Any]) -> int | None:
    """A document's version as written (1 if it names none), ``None`` if it is not an integer."""
    version = doc.get("version", 1)
    if type(version) is float and version.is_integer():
        version = int(version)
    return version if type(version) is int else None


def read_document(data: Mapping[str, Any], read: Reader) -> tuple[SiteProfile, bool]:
    """The profile of a document, and whether a time from the future was clamped."""
    if not isinstance(data, Mapping):
        raise StoreFormatError(f"a site document is a JSON object, not {type(data).__name__}")
    version = document_version(data)
    if data.get("format", FORMAT) != FORMAT or version is None or version < 1:
        raise StoreFormatError(f"not a {FORMAT} document")
    if version > FORMAT_VERSION:
        raise VersionTooNew(
            f"document version {version} is newer than this library ({FORMAT_VERSION}); upgrade"
        )
    skip = {"format", "version", "gone", "load_times_ms", *_OBSOLETE, *_LEDGER_FIELDS,
            *(_V1_ONLY if version > 1 else ())}
    rest = {k: v for k, v in data.items() if k not in skip}
    mine, extra = _split(rest, SiteProfile)
    domain = mine.get("domain")
    if not isinstance(domain, str) or not domain:
        raise StoreFormatError("a site document needs a domain")
    selectors = mapping(mine.get("selectors"))
    patterns = mapping(mine.get("patterns"))
    quirks = mine.get("quirks")
    status = number(mine.get("last_status"))
    error = mine.get("last_error")
    profile = SiteProfile(
        domain=domain,
        visit_count=count(mine.get("visit_count")),
        success_count=count(mine.get("success_count")),
        failure_count=count(mine.get("failure_count")),
        first_visit=read.time(mine.get("first_visit")),
        last_visit=read.time(mine.get("last_visit")),
        last_status=int(status) if status is not None and status.is_integer() and 0 <= status <= 999
        else None,
        last_error=None if error is None else str(error),
        load_times=_seconds(data.get("load_times_ms"))[-LOAD_WINDOW:] if version == 1 else (),
        last_timings=FrozenDict({
            str(k): n for k, v in mapping(mine.get("last_timings")).items()
            if (n := number(v)) is not None
        }),
        recent_outcomes=outcomes(mine.get("recent_outcomes")) if version == 1 else (),
        selectors=FrozenDict({
            str(p): selector for p, s in selectors.items()
            if isinstance(s, Mapping) and str(p).strip()
            and (selector := Selector.from_dict(str(p), s, read)).primary
        }),
        quirks=tuple(  # a quirk with no description says nothing
            quirk for q in (quirks if isinstance(quirks, list) else ())
            if isinstance(q, Mapping) and (quirk := Quirk.from_dict(q, read)).description.strip()
        ),
        patterns=FrozenDict({
            str(t): ActionPattern.from_dict(str(t), a, read) for t, a in patterns.items()
            if isinstance(a, Mapping) and str(t).strip()
        }),
        extra=extra,
        gone=data.get("gone") is True,
        paused_until=read.until(mine.get("paused_until")),
        paused_at=read.time(mine.get("paused_at")),
    )
    if version > 1:
        profile = profile.with_ledger(Ledger.from_json(data, read.time))
    else:  # the counts' origin is named by the first visit as written, not as clamped
        profile = profile.counted_as(v1_origin(domain, number(mine.get("first_visit"))))
    return profile, read.clamped


def _seconds(millis: Any) -> tuple[float, ...]:
    """Seconds from a JSON list of milliseconds, skipping junk."""
    if not isinstance(millis, list | tuple):
        return ()
    return tuple(ms / 1000 for ms in load_millis(millis))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def most_confident(
    entries: Mapping[str, T], limit: int, when: Callable[[T], float | None],
    half_life: float = DEFAULT_HALF_LIFE,
) -> dict[str, T]:
    """At most ``limit`` of ``entries``, the most confident (each has ``confidence(now, h)``) as of
    the latest of their times (ties: the more recently confirmed by ``when``), in their order.
    The reference time comes from the entries, so any reader cuts them the same way."""
    if len(entries) <= limit:
        return dict(entries)
    now = max((recency(when(e)) for e in entries.values()), default=0.0)
    now = 0.0 if now == float("-inf") else now

    def key(k: str) -> tuple[float, float]:
        entry: Any = entries[k]
        return (entry.confidence(now, half_life), recency(when(entries[k])))

    keep = set(sorted(entries, key=key)[-limit:])
    return {k: v for k, v in entries.items() if k in keep}


def percentile(values: tuple[float, ...], pct: float) -> float | None:
    """Nearest-rank percentile of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]

