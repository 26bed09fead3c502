"""``sitememory explain SITE PURPOSE``: why a purpose's selectors rank as they do.

Each candidate's counts, the age of its latest success and failure, the weights the half-life
gives them, and the confidence they make (:mod:`.._core.evidence`), in the stored order.
"""

from __future__ import annotations

import time
from typing import Any

from .._core.evidence import Evidence, age
from .._core.models import Selector
from .._core.ranking import DEMOTE_AFTER, rank


def explanation(selector: Selector, now: float, half_life: float) -> dict[str, Any]:
    """The figures behind the ranking of ``selector``, as JSON-ready data."""
    rows = []
    for position, candidate in enumerate(selector.ranked(), start=1):
        stats = selector.stats(candidate)
        evidence = stats.evidence
        weight_ok, weight_failed = evidence.weights(now, half_life)
        rows.append({
            "rank": position,
            "selector": candidate,
            "ok": stats.ok,
            "failed": stats.failed,
            "streak": stats.streak,
            "remembered": stats.remembered,
            "last_ok": stats.last_ok,
            "last_confirmed": evidence.last_confirmed,
            "last_failed": stats.last_failed,
            "first_seen": stats.first_seen,
            "origin": stats.origin,
            "imported": stats.imported,
            "weight_ok": round(weight_ok, 3),
            "weight_failed": round(weight_failed, 3),
            "confidence": round(evidence.confidence(now, half_life), 4),
            "why": _why(stats.streak, evidence, now, half_life),
        })
    order_now = rank(selector.ranked(), selector.candidates, now, half_life)
    return {
        "purpose": selector.purpose,
        "half_life_days": round(half_life / 86400, 3),
        "now": now,
        "candidates": rows,
        "order_now": list(order_now),
        "rule": (f"A candidate that failed {DEMOTE_AFTER} times in a row drops behind every one that "
                 "is not failing; otherwise confidence decides, and ties keep the order. confidence "
                 "= c / (c + x + 2), c = successes x 0.5^(age of the last success / half-life), "
                 "x = failures x 0.5^(age of the last failure / half-life); remembering a selector "
                 "counts as one success until its results say more; an imported candidate counts "
                 "no success until one here."),
    }


def _why(streak: int, evidence: Evidence, now: float, half_life: float) -> str:
    parts = []
    if streak >= DEMOTE_AFTER:
        parts.append(f"failing: {streak} failures in a row")
    if evidence.imported:
        parts.append("imported, not confirmed here")
    elif evidence.last_confirmed is None:
        parts.append("never worked here yet")
    elif now - evidence.last_confirmed > half_life:
        parts.append(f"stale: last worked {age(now - evidence.last_confirmed)} ago")
    return "; ".join(parts)


def ago(at: float | None, now: float | None = None) -> str:
    """``"3 d ago"``, or ``"-"`` for an unknown time."""
    if at is None:
        return "-"
    return f"{age((time.time() if now is None else now) - at)} ago"
