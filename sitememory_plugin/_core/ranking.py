"""Self-healing selectors: record a candidate's outcome and re-rank primary and fallbacks.

A candidate whose failing streak reaches :data:`DEMOTE_AFTER` drops behind every candidate that is
not failing; among the rest the shrunk success rate (:attr:`CandidateStats.score`) decides, and
ties keep the current order, so a ranking only changes when the evidence does.
"""

from __future__ import annotations

from types import MappingProxyType

from .models import CandidateStats, Selector

#: Consecutive failures after which a candidate is demoted behind non-failing ones.
DEMOTE_AFTER = 2


def with_candidates(
    selector: Selector | None, purpose: str, primary: str, fallbacks: tuple[str, ...], at: float
) -> Selector:
    """``selector`` with ``primary`` first and ``fallbacks`` next, keeping every known candidate."""
    order = _unique((primary, *fallbacks, *(selector.ranked() if selector else ())))
    if selector is None:
        return Selector(purpose, order[0], order[1:], updated_at=at)
    return Selector(
        purpose, order[0], order[1:], selector.success_count, selector.failure_count,
        selector.candidates, at, selector.extra,
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
    order = rank(current, candidates)
    return Selector(
        purpose,
        order[0],
        order[1:],
        selector.success_count + (1 if ok else 0),
        selector.failure_count + (0 if ok else 1),
        MappingProxyType(candidates),
        at,
        selector.extra,
    )


def rank(current: tuple[str, ...], stats: dict[str, CandidateStats]) -> tuple[str, ...]:
    """Candidates best first; a stable sort, so ties keep the order of ``current``."""
    def key(item: tuple[int, str]) -> tuple[bool, float, int]:
        index, name = item
        s = stats.get(name, CandidateStats())
        return (s.streak >= DEMOTE_AFTER, -s.score, index)

    return tuple(name for _, name in sorted(enumerate(current), key=key))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
