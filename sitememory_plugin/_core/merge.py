"""Merging two documents of one site (import, migrate): the same result in any order, any number
of times.

The merge is a join: commutative, associative and idempotent, as state-based CRDTs are, so that
importing an export again, an older export, or a copy that went round through another store
changes nothing. Visits merge per store (:mod:`.ledger`): exact. Everything else merges by
maximum and by recency: a selector candidate's successes and failures, a quirk's occurrences and
a pattern's times cached take the larger count (never counted twice, though counts two stores
made independently are not added), and texts, orders and actions come from the entry confirmed
last. Ties are broken by comparing the entries' JSON, so that neither side is favoured.
Knowledge older than a forget that either side knows of is dropped, entry by entry. (Two fine
points are not associative: the order of the fallbacks an entry gathered from older ones, and an
entry that gathered knowledge from before a forget it had not yet seen. Merged states agree on
everything else, and visits are exact.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from .bounds import MAX_CANDIDATES, MAX_PATTERNS, MAX_PURPOSES, MAX_QUIRKS
from .frozen import EMPTY, FrozenDict, freeze, thaw
from .ledger import earlier, later
from .models import (
    ActionPattern,
    CandidateStats,
    Quirk,
    Selector,
    SiteProfile,
    most_confident,
    recency,
)

T = TypeVar("T")


def merge(a: SiteProfile, b: SiteProfile) -> SiteProfile:
    """Both states' knowledge of one site."""
    ledger = a.visits_ledger().join(b.visits_ledger())
    cut = ledger.forgotten_at
    last = _later(a, b, lambda p: (p.last_visit, p.last_status, p.last_error, dict(p.last_timings)),
                  lambda p: p.last_visit)
    newer = _later(a, b, _document, _activity)
    # Each side's knowledge older than the forget goes before the join, so that nothing older
    # than it survives inside a newer entry.
    selectors = _union(_since(a.selectors, cut, _selector_time), _since(b.selectors, cut, _selector_time),
                       _selector)
    quirks = _union(_since({q.description: q for q in a.quirks}, cut, _quirk_time),
                    _since({q.description: q for q in b.quirks}, cut, _quirk_time), _quirk)
    patterns = _union(_since(a.patterns, cut, _pattern_time), _since(b.patterns, cut, _pattern_time),
                      _pattern)
    merged = SiteProfile(
        domain=a.domain,
        last_visit=last.last_visit,
        last_status=last.last_status,
        last_error=last.last_error,
        last_timings=last.last_timings,
        selectors=FrozenDict(most_confident(selectors, MAX_PURPOSES, _selector_time)),
        quirks=tuple(most_confident(quirks, MAX_QUIRKS, _quirk_time).values()),
        patterns=FrozenDict(most_confident(patterns, MAX_PATTERNS, _pattern_time)),
        extra=freeze({**thaw(_older(a, b, newer).extra), **thaw(newer.extra)}),
    ).with_ledger(ledger)
    if cut is not None and merged.last_visit is not None and merged.last_visit < cut:
        merged = replace(merged, last_visit=None, last_status=None, last_error=None,
                         last_timings=EMPTY)
    if (a.gone or b.gone) and not has_knowledge(merged):
        merged = replace(merged, gone=True, extra=EMPTY)
    return merged


def has_knowledge(p: SiteProfile) -> bool:
    """Whether a profile knows anything about its site."""
    return bool(p.visit_count or p.selectors or p.quirks or p.patterns)


def equivalent(a: SiteProfile, b: SiteProfile) -> bool:
    """Whether two profiles hold the same knowledge (in whatever order)."""
    return _canonical(_sorted(a.to_dict())) == _canonical(_sorted(b.to_dict()))


def _sorted(doc: dict[str, Any]) -> dict[str, Any]:
    doc["quirks"] = sorted(doc.get("quirks", []), key=lambda q: str(q.get("description")))
    return doc


def _selector(a: Selector, b: Selector) -> Selector:
    newer = _later(a, b, lambda s: s.to_dict(), lambda s: s.updated_at)
    older = _older(a, b, newer)
    order = [*newer.ranked(), *sorted(set(older.ranked()) - set(newer.ranked()))][:MAX_CANDIDATES]
    stats: dict[str, CandidateStats] = {}
    for name in order:
        x, y = newer.candidates.get(name), older.candidates.get(name)
        if x is None or y is None:
            found = x or y
            if found is not None:
                stats[name] = found
        else:
            # The failing streak of the side that saw more of it: an order, so any grouping agrees.
            streak = max((x.ok + x.failed, x.streak), (y.ok + y.failed, y.streak))[1]
            stats[name] = CandidateStats(
                max(x.ok, y.ok), max(x.failed, y.failed), streak, earlier(x.first_seen, y.first_seen),
                later(x.last_ok, y.last_ok), later(x.last_failed, y.last_failed),
                later(x.remembered, y.remembered),
                _first_origin(x.first_seen, x.origin, y.first_seen, y.origin), x.imported and y.imported,
                freeze({**thaw(y.extra), **thaw(x.extra)}),
            )
    return Selector(
        newer.purpose, order[0], tuple(order[1:]),
        max(a.success_count, b.success_count), max(a.failure_count, b.failure_count),
        FrozenDict(stats), later(a.updated_at, b.updated_at),
        freeze({**thaw(older.extra), **thaw(newer.extra)}),
    )


def _quirk(a: Quirk, b: Quirk) -> Quirk:
    newer = _later(a, b, lambda q: q.to_dict(), lambda q: q.last_seen)
    older = _older(a, b, newer)
    return Quirk(
        newer.description,
        newer.workaround if newer.workaround is not None else older.workaround,
        max(a.occurrences, b.occurrences),
        earlier(a.first_seen, b.first_seen),
        later(a.last_seen, b.last_seen),
        max(a.contradictions, b.contradictions),
        later(a.last_contradicted, b.last_contradicted),
        _first_origin(a.first_seen, a.origin, b.first_seen, b.origin),
        a.imported and b.imported,
        freeze({**thaw(older.extra), **thaw(newer.extra)}),
    )


def _pattern(a: ActionPattern, b: ActionPattern) -> ActionPattern:
    newer = _later(a, b, lambda p: p.to_dict(), lambda p: p.updated_at)
    older = _older(a, b, newer)
    return ActionPattern(
        newer.task_type, newer.actions, max(a.times_cached, b.times_cached),
        earlier(a.created_at, b.created_at), later(a.updated_at, b.updated_at),
        max(a.contradictions, b.contradictions), later(a.last_contradicted, b.last_contradicted),
        _first_origin(a.created_at, a.origin, b.created_at, b.origin), a.imported and b.imported,
        freeze({**thaw(older.extra), **thaw(newer.extra)}),
    )


def _first_origin(
    a_first: float | None, a_origin: str | None, b_first: float | None, b_origin: str | None
) -> str | None:
    """Who reported an entry first: the origin of the earlier first sighting (ties: the smaller
    name), so that any order of merges agrees."""
    def key(first: float | None, origin: str | None) -> tuple[float, bool, str]:
        return (float("inf") if first is None else first, origin is None, origin or "")

    return a_origin if key(a_first, a_origin) <= key(b_first, b_origin) else b_origin


def _union(a: dict[str, T], b: dict[str, T], join: Any) -> dict[str, T]:
    out: dict[str, T] = {}
    for name in sorted(a.keys() | b.keys()):
        x, y = a.get(name), b.get(name)
        out[name] = join(x, y) if x is not None and y is not None else x or y  # type: ignore[assignment]
    return out


def _since(entries: Mapping[str, T], cut: float | None, when: Any) -> dict[str, T]:
    """The entries confirmed at or after a forget at ``cut`` (an entry of unknown time is older)."""
    if cut is None:
        return dict(entries)
    return {k: v for k, v in entries.items() if when(v) is not None and when(v) >= cut}


def _selector_time(s: Selector) -> float | None:
    return s.updated_at


def _quirk_time(q: Quirk) -> float | None:
    return q.last_seen


def _pattern_time(p: ActionPattern) -> float | None:
    return p.updated_at


def _later(a: T, b: T, content: Any, when: Any) -> T:
    """The one of ``a`` and ``b`` confirmed last; a tie goes to the larger JSON, on either side."""
    ka, kb = recency(when(a)), recency(when(b))
    if ka != kb:
        return a if ka > kb else b
    ja, jb = _canonical(content(a)), _canonical(content(b))
    return a if ja >= jb else b


def _older(a: T, b: T, newer: T) -> T:
    return b if newer is a else a


def _document(p: SiteProfile) -> dict[str, Any]:
    return thaw(p.extra)  # type: ignore[no-any-return]


def _activity(p: SiteProfile) -> float | None:
    times = [p.last_visit, *(s.updated_at for s in p.selectors.values()),
             *(q.last_seen for q in p.quirks), *(t.updated_at for t in p.patterns.values())]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)

