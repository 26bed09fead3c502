"""Self-healing selectors: record a candidate's outcome and re-rank primary and fallbacks.

A candidate whose failing streak reaches :data:`DEMOTE_AFTER` drops behind every candidate that is
not failing; among the rest the shrunk success rate (:attr:`CandidateStats.score`) decides, and
ties keep the current order, so a ranking only changes when the evidence does. A purpose keeps at
most :data:`~.bounds.MAX_CANDIDATES` candidates (the lowest-ranked goes) and a site at most
:data:`~.bounds.MAX_PURPOSES` purposes (the least recently updated goes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from .bounds import MAX_CANDIDATES, MAX_PURPOSES
from .ledger import later
from .models import CandidateStats, Selector, SiteProfile, recency

#: Consecutive failures after which a candidate is demoted behind non-failing ones.
DEMOTE_AFTER = 2


def with_candidates(
    selector: Selector | None, purpose: str, primary: str, fallbacks: tuple[str, ...], at: float
) -> Selector:
    """``selector`` with ``primary`` first and ``fallbacks`` next, keeping every known candidate;
    given later than what is known (a write-behind update that waited), they come after it."""
    given = (primary, *fallbacks)
    known = selector.ranked() if selector else ()
    stale = selector is not None and selector.updated_at is not None and at < selector.updated_at
    order = _unique((*known, *given) if stale else (*given, *known))[:MAX_CANDIDATES]
    if selector is None:
        return Selector(purpose, order[0], order[1:], updated_at=at)
    return Selector(
        purpose, order[0], order[1:], selector.success_count, selector.failure_count,
        # An update that waited (write-behind) may be older than the last one applied.
        _kept(selector.candidates, order), later(selector.updated_at, at), selector.extra,
    )


def record_result(
    selector: Selector | None, purpose: str, candidate: str, ok: bool, at: float
) -> Selector:
    """``selector`` after ``candidate`` succeeded or failed, re-ranked."""
    if selector is None:
        selector = Selector(purpose, candidate, updated_at=at)
    old = selector.candidates.get(candidate, CandidateStats())
    new = (
        CandidateStats(old.ok + 1, old.failed, 0) if ok
        else CandidateStats(old.ok, old.failed + 1, old.streak + 1)
    )
    candidates = {**selector.candidates, candidate: new}
    current = _unique((*selector.ranked(), candidate))
    order = rank(current, candidates)[:MAX_CANDIDATES]
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


def with_selector(profile: SiteProfile, selector: Selector) -> SiteProfile:
    """``profile`` with ``selector`` for its purpose, the least recently updated purpose evicted
    when there are more than :data:`MAX_PURPOSES`."""
    selectors = {**profile.selectors, selector.purpose: selector}
    if len(selectors) > MAX_PURPOSES:
        del selectors[min(selectors, key=lambda p: recency(selectors[p].updated_at))]
    return replace(profile, selectors=MappingProxyType(selectors))


def _kept(stats: Mapping[str, CandidateStats], order: tuple[str, ...]) -> Mapping[str, CandidateStats]:
    """The stats of the candidates still ranked (an evicted candidate's go with it)."""
    if all(name in order for name in stats):
        return stats if isinstance(stats, MappingProxyType) else MappingProxyType(dict(stats))
    return MappingProxyType({name: s for name, s in stats.items() if name in order})


def rank(current: tuple[str, ...], stats: dict[str, CandidateStats]) -> tuple[str, ...]:
    """Candidates best first; a stable sort, so ties keep the order of ``current``."""
    def key(item: tuple[int, str]) -> tuple[bool, float, int]:
        index, name = item
        s = stats.get(name, CandidateStats())
        return (s.streak >= DEMOTE_AFTER, -s.score, index)

    return tuple(name for _, name in sorted(enumerate(current), key=key))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
