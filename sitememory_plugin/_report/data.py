"""What the report shows, computed from profiles and visit histories: pure, no store, no HTML.

:func:`report_data` takes the profiles, each site's history (oldest first, as the store returns
it) and the time to judge confidence at, and returns plain frozen summaries for the page to
render. The fleet table's figures are the profiles' own (:attr:`SiteProfile.p50_load_time` and
the rest); the charts and the recent failures come from the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .._core.history import VisitRecord
from .._core.ledger import LOAD_WINDOW, RECENT_WINDOW
from .._core.models import Selector, SiteProfile, percentile

#: How a visit ended, as the charts tell them apart (by shape as well as colour).
Kind = Literal["ok", "status", "failure", "timeout"]
KINDS: tuple[Kind, ...] = ("ok", "status", "failure", "timeout")

#: Most visits a site's scatter plots (the most recent): the page stays small at 1,000 sites.
MAX_SCATTER = 200
#: Load times a sparkline in the fleet table draws (the most recent).
SPARK_POINTS = 30
#: Points of the rolling success rate, sampled evenly over the history.
MAX_ROLLING = 60
#: Failures listed per site (the most recent).
MAX_FAILURES = 10


def kind_of(record: VisitRecord) -> Kind:
    """A timeout (its duration a lower bound of the load), another failure (the browser's
    error: no response), an error status (>= 400), or ok."""
    if record.error == "timeout":
        return "timeout"
    if record.error is not None:
        return "failure"
    if record.status is not None and record.status >= 400:
        return "status"
    return "ok"


def healed(selector: Selector) -> bool:
    """Whether the purpose healed: one of its candidates fails (its latest result is a failure),
    and another that has worked since that failure is now tried before it."""
    ranked = [selector.stats(c) for c in selector.ranked()]
    return any(
        broken.last_failed is not None
        and (broken.last_ok is None or broken.last_failed >= broken.last_ok)
        and working.last_ok is not None and working.last_ok > broken.last_failed
        for j, broken in enumerate(ranked) for working in ranked[:j]
    )


@dataclass(frozen=True)
class Candidate:
    selector: str
    ok: int
    failed: int
    streak: int
    confidence: float


@dataclass(frozen=True)
class Purpose:
    """A purpose's candidates, best first (:meth:`Selector.ranked`)."""

    purpose: str
    candidates: tuple[Candidate, ...]
    healed: bool


@dataclass(frozen=True)
class QuirkRow:
    description: str
    workaround: str | None
    occurrences: int
    contradictions: int
    confidence: float


@dataclass(frozen=True)
class PatternRow:
    task: str
    steps: int
    times_cached: int
    contradictions: int
    confidence: float


@dataclass(frozen=True)
class Point:
    """One visit of the scatter: when, how long (seconds), how it ended."""

    at: float
    duration: float
    kind: Kind


@dataclass(frozen=True)
class SiteReport:
    """One site: the fleet table's row, and its section's details."""

    key: str
    visits: int
    successes: int
    failures: int
    success_rate: float | None
    p50: float | None
    p95: float | None
    #: How many load times the percentiles are over (the profile's window).
    measured: int
    first_visit: float | None
    last_visit: float | None
    last_status: int | None
    last_error: str | None
    paused_until: float | None
    quirk_count: int
    healed_count: int
    #: The sparkline: the most recent load times, oldest first.
    spark: tuple[float, ...]
    purposes: tuple[Purpose, ...]
    quirks: tuple[QuirkRow, ...]
    patterns: tuple[PatternRow, ...]
    #: How many visits the history holds (of which :attr:`points` plots the latest).
    history_size: int
    points: tuple[Point, ...]
    #: How many of the plotted visits ended each way.
    kind_counts: Mapping[Kind, int]
    #: The histogram's load times: the latest :data:`~.ledger.LOAD_WINDOW` measured in the history.
    loads: tuple[float, ...]
    #: (time, success rate over the :data:`~.ledger.RECENT_WINDOW` visits up to it), sampled.
    rolling: tuple[tuple[float, float], ...]
    #: The most recent failures, newest first.
    recent_failures: tuple[VisitRecord, ...]


@dataclass(frozen=True)
class Totals:
    sites: int
    visits: int
    successes: int
    failures: int
    success_rate: float | None
    #: Percentiles over every site's load times taken together.
    p50: float | None
    p95: float | None
    quirks: int
    purposes: int
    healed: int


@dataclass(frozen=True)
class Report:
    now: float
    half_life: float
    sites: tuple[SiteReport, ...]
    totals: Totals


def rolling_success(history: Sequence[VisitRecord], window: int = RECENT_WINDOW,
                    points: int = MAX_ROLLING) -> tuple[tuple[float, float], ...]:
    """The success rate over the ``window`` visits up to each visit, at most ``points`` of them
    (evenly spaced, the last always included)."""
    if not history:
        return ()
    oks = [1 if r.ok else 0 for r in history]
    running, rates = 0, []
    for i, ok in enumerate(oks):
        running += ok - (oks[i - window] if i >= window else 0)
        rates.append(running / min(i + 1, window))
    n = len(history)
    picked = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)} if n > points else range(n))
    return tuple((history[i].at, rates[i]) for i in picked)


def site_report(profile: SiteProfile, history: Sequence[VisitRecord], now: float,
                half_life: float) -> SiteReport:
    """One site's summary: ``history`` is its visit records, oldest first."""
    purposes = tuple(
        Purpose(purpose, tuple(
            Candidate(c, (s := selector.stats(c)).ok, s.failed, s.streak, s.confidence(now, half_life))
            for c in selector.ranked()
        ), healed(selector))
        for purpose, selector in profile.selectors.items()
    )
    measured = [r.duration for r in history if r.measures_load]
    spark = tuple(measured[-SPARK_POINTS:]) if history else profile.load_times[-SPARK_POINTS:]
    points = tuple(Point(r.at, r.duration, kind_of(r)) for r in history[-MAX_SCATTER:])
    counts = {k: 0 for k in KINDS}
    for p in points:
        counts[p.kind] += 1
    failures = tuple(r for r in reversed(history) if not r.ok)[:MAX_FAILURES]
    return SiteReport(
        key=profile.domain, visits=profile.visit_count, successes=profile.success_count,
        failures=profile.failure_count, success_rate=profile.success_rate,
        p50=profile.p50_load_time, p95=profile.p95_load_time, measured=len(profile.load_times),
        first_visit=profile.first_visit, last_visit=profile.last_visit,
        last_status=profile.last_status, last_error=profile.last_error,
        paused_until=profile.paused_until if profile.paused_until and profile.paused_until > now else None,
        quirk_count=len(profile.quirks), healed_count=sum(p.healed for p in purposes), spark=spark,
        purposes=purposes,
        quirks=tuple(QuirkRow(q.description, q.workaround, q.occurrences, q.contradictions,
                              q.confidence(now, half_life)) for q in profile.quirks),
        patterns=tuple(PatternRow(task, len(p.actions), p.times_cached, p.contradictions,
                                  p.confidence(now, half_life)) for task, p in profile.patterns.items()),
        history_size=len(history), points=points, kind_counts=counts,
        loads=tuple(measured[-LOAD_WINDOW:]), rolling=rolling_success(history),
        recent_failures=failures,
    )


def report_data(profiles: Sequence[SiteProfile], histories: Mapping[str, Sequence[VisitRecord]],
                now: float, half_life: float) -> Report:
    """The report of ``profiles`` (in the order given), each with ``histories[profile.domain]``
    (none: an empty history), confidence judged at ``now`` with ``half_life`` (seconds)."""
    sites = tuple(site_report(p, histories.get(p.domain, ()), now, half_life) for p in profiles)
    visits = sum(s.visits for s in sites)
    successes = sum(s.successes for s in sites)
    failures = sum(s.failures for s in sites)
    pooled = tuple(t for p in profiles for t in p.load_times)
    totals = Totals(
        sites=len(sites), visits=visits, successes=successes, failures=failures,
        success_rate=successes / (successes + failures) if successes + failures else None,
        p50=percentile(pooled, 50), p95=percentile(pooled, 95),
        quirks=sum(s.quirk_count for s in sites), purposes=sum(len(s.purposes) for s in sites),
        healed=sum(s.healed_count for s in sites),
    )
    return Report(now, half_life, sites, totals)
