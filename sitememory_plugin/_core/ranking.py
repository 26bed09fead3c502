"""Self-healing selectors: record a candidate's outcome and re-rank primary and fallbacks.

A candidate whose failing streak reaches :data:`DEMOTE_AFTER` drops behind every candidate that is
not failing; among the rest the confidence as the result comes in decides (the shrunk success rate
with its counts weighed by age, :mod:`.evidence`: a selector that worked yesterday outranks one
that worked often a year ago), and ties keep the current order, so a ranking only changes when the
evidence does. Remembering a selector puts it first, and it counts as one success until its own
results say more. A purpose keeps
at most :data:`~.bounds.MAX_CANDIDATES` candidates (the lowest-ranked goes) and a site at most
:data:`~.bounds.MAX_PURPOSES` purposes (the least confident goes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from .bounds import MAX_CANDIDATES, MAX_PURPOSES
from .evidence import DEFAULT_HALF_LIFE
from .frozen import FrozenDict
from .ledger import earlier, later
from .models import CandidateStats, Selector, SiteProfile, recency

#: Consecutive failures after which a candidate is demoted behind non-failing ones.
DEMOTE_AFTER = 2


def with_candidates(
    selector: Selector | None, purpose: str, primary: str, fallbacks: tuple[str, ...], at: float,
    *, confirm: bool = True, by: str | None = None,
) -> Selector:
    """``selector`` with ``primary`` first and ``fallbacks`` next, keeping every known candidate;
    given later than what is known (a write-behind update that waited), they come after it.
    ``confirm``: the primary worked (an agent remembering it says so); every candidate given is
    seen, first by ``by``."""
    given = (primary, *fallbacks)
    known = selector.ranked() if selector else ()
    stale = selector is not None and selector.updated_at is not None and at < selector.updated_at
    order = _unique((*known, *given) if stale else (*given, *known))[:MAX_CANDIDATES]
    stats = dict(selector.candidates) if selector else {}
    for name in given:
        if name in order:
            stats[name] = _seen(stats.get(name), at, by)
    if confirm and primary in order:
        old = stats[primary]
        stats[primary] = replace(old, remembered=later(old.remembered, at), imported=False)
    if selector is None:
        return Selector(purpose, order[0], order[1:], candidates=FrozenDict(stats), updated_at=at)
    return Selector(
        purpose, order[0], order[1:], selector.success_count, selector.failure_count,
        # An update that waited (write-behind) may be older than the last one applied.
        _kept(stats, order), later(selector.updated_at, at), selector.extra,
    )


def _seen(stats: CandidateStats | None, at: float, by: str | None) -> CandidateStats:
    if stats is None:
        return CandidateStats(first_seen=at, origin=by)
    if stats.first_seen is not None and stats.first_seen <= at:
        return stats
    return replace(stats, first_seen=earlier(stats.first_seen, at),
                   origin=by if by is not None else stats.origin)


def record_result(
    selector: Selector | None, purpose: str, candidate: str, ok: bool, at: float,
    *, by: str | None = None, half_life: float = DEFAULT_HALF_LIFE,
) -> Selector:
    """``selector`` after ``candidate`` succeeded or failed at ``at``, re-ranked as the evidence
    stands then."""
    if selector is None:
        selector = Selector(purpose, candidate, updated_at=at)
    old = _seen(selector.candidates.get(candidate), at, by)
    new = (
        replace(old, ok=old.ok + 1, streak=0, last_ok=later(old.last_ok, at), imported=False) if ok
        else replace(old, failed=old.failed + 1, streak=old.streak + 1,
                     last_failed=later(old.last_failed, at))
    )
    candidates = {**selector.candidates, candidate: new}
    current = _unique((*selector.ranked(), candidate))
    order = rank(current, candidates, max(selector.updated_at or at, at), half_life)[:MAX_CANDIDATES]
    return Selector(
        purpose,
        order[0],
        order[1:],
        selector.success_count + (1 if ok else 0),
        selector.failure_count + (0 if ok else 1),
        _kept(candidates, order),
        later(selector.updated_at, at),
        selector.extra,
    )


def with_selector(
    profile: SiteProfile, selector: Selector, at: float, half_life: float = DEFAULT_HALF_LIFE,
) -> SiteProfile:
    """``profile`` with ``selector`` for its purpose, the least confident other purpose (at
    ``at``; ties: the least recently updated) evicted when there are more than
    :data:`MAX_PURPOSES`."""
    selectors = {**profile.selectors, selector.purpose: selector}
    if len(selectors) > MAX_PURPOSES:  # of the others: the purpose just updated gets its chance
        del selectors[min((p for p in selectors if p != selector.purpose),
                          key=lambda p: (selectors[p].confidence(at, half_life),
                                         recency(selectors[p].updated_at)))]
    return replace(profile, selectors=FrozenDict(selectors))


def _kept(stats: Mapping[str, CandidateStats], order: tuple[str, ...]) -> Mapping[str, CandidateStats]:
    """The stats of the candidates still ranked (an evicted candidate's go with it)."""
    if all(name in order for name in stats):
        return stats if isinstance(stats, FrozenDict) else FrozenDict(stats)
    return FrozenDict({name: s for name, s in stats.items() if name in order})


def rank(
    current: tuple[str, ...], stats: Mapping[str, CandidateStats], now: float | None = None,
    half_life: float = DEFAULT_HALF_LIFE,
) -> tuple[str, ...]:
    """Candidates best first as the evidence stands at ``now`` (without: as if all of it were
    fresh); a stable sort, so ties keep the order of ``current``."""
    def key(item: tuple[int, str]) -> tuple[bool, float, int]:
        index, name = item
        s = stats.get(name) or CandidateStats()
        value = s.score if now is None else s.confidence(now, half_life)
        return (s.streak >= DEMOTE_AFTER, -value, index)

    return tuple(name for _, name in sorted(enumerate(current), key=key))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
