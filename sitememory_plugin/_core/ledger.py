"""Visit counts per store, so that knowledge merged between stores never counts a visit twice.

Every store has an *origin* id (kept with its format marker). A store counts the visits it
records under its own origin in the site's ledger: visits, successes, failures, measured load
times, the last load times and outcomes, and when its first and last visits were. Only that store
changes its own entry, one update at a time, so of two copies of an entry the one that counted
more is the later one. Merging two documents takes the later entry per origin: a state-based
CRDT (a grow-only counter per replica). Importing an export again, an older one, or one that went
round through another store changes nothing.

Forgetting a site cannot lower a counter (the merge would undo it): it records, per origin, what
had been counted when it happened (``forgotten``), and what is visible is the difference; an
entry that ended before the forget is hidden whole, whichever store it comes from, until that
store counts again (then only what it counted since shows, if it knew of the forget). So a
forget travels with the document, and the merge stays a join.

A ledger keeps at most :data:`~.bounds.MAX_ORIGINS` origins; merging more folds the least recently
active ones into one entry, ``*``, and records what each had counted then (``folded``), like a
forget: a folded store's entry, coming back from another document or counting again, shows only
what it counted since. ``*`` entries of two documents merge by maximum (never counted twice, but
two documents' different folds are not added).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from .bounds import MAX_ORIGINS
from .frozen import FrozenDict

#: How many recent load times a profile keeps for its mean and percentiles.
LOAD_WINDOW = 100
#: How many recent visit outcomes a profile keeps for its recent failure rate.
RECENT_WINDOW = 20
#: The entry that folded origins are counted in.
FOLDED = "*"
#: Most origins remembered as folded.
MAX_FOLDED = 256
#: Longest origin id kept (ours are 16 to 21 characters).
MAX_ORIGIN_ID = 32

_EMPTY: Mapping[str, Any] = FrozenDict({})
_NUMBERS = (int, float)  # exact types: bool is not a number here


def number(value: Any, default: float | None = None) -> float | None:
    """A finite number from a document: a number, or a number written as a string."""
    if type(value) is str and len(value) < 40:
        try:
            value = float(value)
        except ValueError:
            return default
    if type(value) not in _NUMBERS or not math.isfinite(value):
        return default
    return float(value)


def count(value: Any) -> int:
    """A count (an integer >= 0) from a document: also ``57.0`` or ``"57"``; 0 for junk."""
    if type(value) is int:
        return value if value >= 0 else 0
    n = number(value)
    return int(n) if n is not None and n >= 0 and n.is_integer() else 0


def load_millis(values: Iterable[Any]) -> tuple[int, ...]:
    """Load times in whole milliseconds from a document's values, skipping junk."""
    return tuple(round(n) for v in values if (n := number(v)) is not None and n >= 0)


def recency(at: float | None) -> float:
    """A time to order by, an unknown one oldest."""
    return float("-inf") if at is None else at


def later(a: float | None, b: float | None) -> float | None:
    """The later of two times, an unknown one ignored."""
    return b if a is None else a if b is None else max(a, b)


def earlier(a: float | None, b: float | None) -> float | None:
    """The earlier of two times, an unknown one ignored."""
    return b if a is None else a if b is None else min(a, b)


def v1_origin(domain: str, first_visit: float | None) -> str:
    """The origin of counts from a version-1 document or the seed's format, which name no store.

    A site's first visit stays the same in every copy of one store's document, so copies of it
    (an old export, the same store upgraded) share the origin and are not counted twice."""
    digest = hashlib.blake2b(f"{domain} {first_visit!r}".encode(), digest_size=8).hexdigest()
    return f"v1-{digest}"


@dataclass(frozen=True)
class Counts:
    """What an origin had counted of a site when it was forgotten."""

    visits: int = 0
    succeeded: int = 0
    failed: int = 0
    measured: int = 0

    def join(self, other: Counts) -> Counts:
        return Counts(max(self.visits, other.visits), max(self.succeeded, other.succeeded),
                      max(self.failed, other.failed), max(self.measured, other.measured))


_NONE = Counts()


@dataclass(frozen=True)
class OriginVisits:
    """One origin's count of a site's visits, with its recent load times (ms) and outcomes."""

    visits: int = 0
    succeeded: int = 0
    failed: int = 0
    #: Visits whose duration is a load time (successes and timeouts).
    measured: int = 0
    first_visit: float | None = None
    last_visit: float | None = None
    load_times_ms: tuple[int, ...] = ()
    recent_outcomes: tuple[bool, ...] = ()

    def counts(self) -> Counts:
        return Counts(self.visits, self.succeeded, self.failed, self.measured)

    def order(self) -> tuple[Any, ...]:
        """A total order in which, for one origin's history, later states come later."""
        return (self.visits, self.measured, self.succeeded, self.failed,
                recency(self.last_visit), -(0.0 if self.first_visit is None else self.first_visit),
                self.load_times_ms, self.recent_outcomes)

    def record(self, visits: Iterable[tuple[float, bool, int | None]], seen: Counts) -> OriginVisits:
        """This entry after ``visits`` (time, ok, load time in ms or ``None``); ``seen`` is what
        was forgotten of it, so the first visit after a forget starts ``first_visit`` anew."""
        count, ok, measured = self.visits, self.succeeded, self.measured
        first, last = self.first_visit, self.last_visit
        loads = list(self.load_times_ms)
        outcomes = list(self.recent_outcomes)
        for at, success, millis in visits:
            first = at if count <= seen.visits else earlier(first, at)
            last = later(last, at)
            count += 1
            ok += success
            outcomes.append(success)
            if millis is not None:
                measured += 1
                loads.append(millis)
        return OriginVisits(count, ok, self.failed + (count - self.visits) - (ok - self.succeeded),
                            measured, first, last, tuple(loads[-LOAD_WINDOW:]),
                            tuple(outcomes[-RECENT_WINDOW:]))

    def visible(self, seen: Counts) -> OriginVisits:
        """What is left of this entry once ``seen`` is forgotten."""
        if seen == _NONE:
            return self
        visits = max(0, self.visits - seen.visits)
        measured = max(0, self.measured - seen.measured)
        return OriginVisits(
            visits, max(0, self.succeeded - seen.succeeded), max(0, self.failed - seen.failed),
            measured, self.first_visit if visits else None, self.last_visit if visits else None,
            self.load_times_ms[max(0, len(self.load_times_ms) - measured):] if measured else (),
            self.recent_outcomes[max(0, len(self.recent_outcomes) - visits):] if visits else (),
        )


@dataclass(frozen=True)
class Totals:
    """A ledger summed over its origins: what a profile shows."""

    visits: int = 0
    succeeded: int = 0
    failed: int = 0
    first_visit: float | None = None
    load_times: tuple[float, ...] = ()
    recent_outcomes: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Ledger:
    """A site's visits per origin; what was forgotten of them, and when; what was folded."""

    origins: Mapping[str, OriginVisits] = field(default_factory=lambda: _EMPTY)
    forgotten: Mapping[str, Counts] = field(default_factory=lambda: _EMPTY)
    forgotten_at: float | None = None
    #: Per folded origin, what it had counted when its visits moved into ``*``: like a forget,
    #: a snapshot that its entry, if it comes back, is counted beyond.
    folded: Mapping[str, Counts] = field(default_factory=lambda: _EMPTY)

    def hidden(self, origin: str) -> Counts:
        """What an origin's own entry no longer shows: forgotten, or moved into ``*``; all of it
        when the entry ended before the forget (what a store counted before it is forgotten,
        whichever store it was)."""
        entry = self.origins.get(origin)
        if entry is not None and self._before_cut(entry):
            return entry.counts()
        return self.forgotten.get(origin, _NONE).join(self.folded.get(origin, _NONE))

    def _before_cut(self, entry: OriginVisits) -> bool:
        cut = self.forgotten_at
        return cut is not None and bool(entry.visits) and recency(entry.last_visit) < cut

    def record(self, origin: str, visits: Iterable[tuple[float, bool, int | None]]) -> Ledger:
        entry = self.origins.get(origin)
        forgotten = self.forgotten
        if entry is None:  # a store folded away goes on from the counts it had
            c = self.folded.get(origin, _NONE)
            entry = OriginVisits(c.visits, c.succeeded, c.failed, c.measured)
        elif self._before_cut(entry):
            # Its first visit since a forget it knows of: what it counted before stays forgotten.
            seen = forgotten.get(origin, _NONE).join(entry.counts())
            forgotten = FrozenDict({**forgotten, origin: seen})
        ledger = replace(self, forgotten=forgotten)
        entry = entry.record(visits, ledger.hidden(origin))
        if ledger._before_cut(entry):
            # Counted after the forget, whatever the clock that stamped it said (see apply_all).
            entry = replace(entry, last_visit=ledger.forgotten_at)
        return replace(ledger, origins=FrozenDict({**self.origins, origin: entry}))

    def forget(self, at: float) -> Ledger:
        """Everything counted so far forgotten, at ``at``."""
        forgotten = dict(self.forgotten)
        for origin, entry in self.origins.items():
            forgotten[origin] = forgotten.get(origin, _NONE).join(entry.counts())
        return replace(self, forgotten=FrozenDict(forgotten),
                       forgotten_at=later(at, self.forgotten_at))

    def join(self, other: Ledger) -> Ledger:
        """Both ledgers' knowledge: per origin the later entry, the later forget; a join
        (commutative, associative, idempotent)."""
        origins: dict[str, OriginVisits] = {}
        for name in sorted(self.origins.keys() | other.origins.keys()):
            a, b = self.origins.get(name), other.origins.get(name)
            if a is None or b is None:
                origins[name] = a or b  # type: ignore[assignment]
            elif name == FOLDED:
                origins[name] = _joined_fold(a, b)
            else:
                origins[name] = a if a.order() >= b.order() else b
        return Ledger(FrozenDict(origins), FrozenDict(_joined(self.forgotten, other.forgotten)),
                      later(self.forgotten_at, other.forgotten_at),
                      FrozenDict(_joined(self.folded, other.folded))).bounded()

    def bounded(self) -> Ledger:
        """At most :data:`MAX_ORIGINS` origins: the least recently active folded into ``*``."""
        if len(self.origins) <= MAX_ORIGINS:
            return self
        named = sorted((o for o in self.origins if o != FOLDED),
                       key=lambda o: (recency(self.origins[o].last_visit), o))
        fold = named[: len(self.origins) - MAX_ORIGINS + (FOLDED not in self.origins)]
        total = self.origins.get(FOLDED, OriginVisits())
        folded = dict(self.folded)
        for name in fold:
            entry = self.origins[name]
            total = _added(total, entry.visible(self.hidden(name)))
            folded[name] = folded.get(name, _NONE).join(entry.counts())
        if len(folded) > MAX_FOLDED:  # the least counted go: re-counting one would cost least
            folded = dict(sorted(folded.items(), key=lambda item: (-item[1].visits, item[0]))[:MAX_FOLDED])
        origins = {o: e for o, e in self.origins.items() if o not in fold}
        origins[FOLDED] = total
        return Ledger(FrozenDict(origins), self.forgotten, self.forgotten_at,
                      FrozenDict(folded))

    @cached_property
    def totals(self) -> Totals:
        """The visible sums; windows joined oldest origin first and cut to their lengths."""
        parts = sorted(
            ((o, e.visible(self.hidden(o))) for o, e in self.origins.items()),
            key=lambda item: (recency(item[1].last_visit), item[0]),
        )
        live = [e for _, e in parts]
        firsts = [e.first_visit for e in live if e.first_visit is not None]
        first = min(firsts) if firsts else None
        if first is not None and self.forgotten_at is not None:
            first = max(first, self.forgotten_at)
        loads = [ms for e in live for ms in e.load_times_ms][-LOAD_WINDOW:]
        return Totals(
            visits=sum(e.visits for e in live),
            succeeded=sum(e.succeeded for e in live),
            failed=sum(e.failed for e in live),
            first_visit=first,
            load_times=tuple(ms / 1000 for ms in loads),
            recent_outcomes=tuple(ok for e in live for ok in e.recent_outcomes)[-RECENT_WINDOW:],
        )

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The document fields of this ledger (``visits``, and ``forgotten`` ones if any)."""
        doc: dict[str, Any] = {"visits": {o: _entry_json(e) for o, e in self.origins.items()}}
        if self.forgotten or self.forgotten_at is not None:
            doc["forgotten"] = {o: _counts_json(c) for o, c in self.forgotten.items()}
            doc["forgotten_at"] = self.forgotten_at
        if self.folded:
            doc["folded_origins"] = {o: _counts_json(c) for o, c in sorted(self.folded.items())}
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], time: Any) -> Ledger:
        """The ledger of a document's fields, lenient as all reading is: junk is skipped.

        ``time`` reads a timestamp (or ``None``).
        """
        visits = doc.get("visits")
        origins = {
            str(o): _entry(e, time)
            for o, e in (visits.items() if isinstance(visits, Mapping) else ())
            if isinstance(e, Mapping) and len(str(o)) <= MAX_ORIGIN_ID
        }
        return cls(
            FrozenDict(origins), FrozenDict(_counts_of(doc.get("forgotten"))),
            time(doc.get("forgotten_at")), FrozenDict(_counts_of(doc.get("folded_origins"))),
        ).bounded()


def _counts_of(value: Any) -> dict[str, Counts]:
    return {
        str(o): Counts(count(c.get("visits")), count(c.get("succeeded")), count(c.get("failed")),
                       count(c.get("measured")))
        for o, c in (value.items() if isinstance(value, Mapping) else ())
        if isinstance(c, Mapping) and len(str(o)) <= MAX_ORIGIN_ID
    }


def _joined(a: Mapping[str, Counts], b: Mapping[str, Counts]) -> dict[str, Counts]:
    return {name: a.get(name, _NONE).join(b.get(name, _NONE)) for name in sorted(a.keys() | b.keys())}


def _joined_fold(a: OriginVisits, b: OriginVisits) -> OriginVisits:
    """Folded entries come from different histories: the field-wise maximum never counts twice."""
    window = a if a.order() >= b.order() else b
    return OriginVisits(max(a.visits, b.visits), max(a.succeeded, b.succeeded), max(a.failed, b.failed),
                        max(a.measured, b.measured), earlier(a.first_visit, b.first_visit),
                        later(a.last_visit, b.last_visit), window.load_times_ms, window.recent_outcomes)


def _added(a: OriginVisits, b: OriginVisits) -> OriginVisits:
    return OriginVisits(a.visits + b.visits, a.succeeded + b.succeeded, a.failed + b.failed,
                        a.measured + b.measured, earlier(a.first_visit, b.first_visit),
                        later(a.last_visit, b.last_visit), (a.load_times_ms + b.load_times_ms)[-LOAD_WINDOW:],
                        (a.recent_outcomes + b.recent_outcomes)[-RECENT_WINDOW:])


def _entry_json(e: OriginVisits) -> dict[str, Any]:
    return {
        "visits": e.visits, "succeeded": e.succeeded, "failed": e.failed, "measured": e.measured,
        "first_visit": e.first_visit, "last_visit": e.last_visit,
        "load_times_ms": list(e.load_times_ms),
        "recent_outcomes": "".join("1" if ok else "0" for ok in e.recent_outcomes),
    }


def _counts_json(c: Counts) -> dict[str, int]:
    return {"visits": c.visits, "succeeded": c.succeeded, "failed": c.failed, "measured": c.measured}


def _entry(e: Mapping[str, Any], time: Any) -> OriginVisits:
    loads = e.get("load_times_ms")
    millis = load_millis(loads if isinstance(loads, list) else ())[-LOAD_WINDOW:]
    return OriginVisits(
        count(e.get("visits")), count(e.get("succeeded")), count(e.get("failed")),
        count(e.get("measured")), time(e.get("first_visit")), time(e.get("last_visit")), millis,
        outcomes(e.get("recent_outcomes")),
    )


def outcomes(value: Any) -> tuple[bool, ...]:
    """Outcomes from their stored form, ``"1"`` a success and ``"0"`` a failure, oldest first."""
    if not isinstance(value, str):
        return ()
    return tuple(ch == "1" for ch in value if ch in "01")[-RECENT_WINDOW:]
