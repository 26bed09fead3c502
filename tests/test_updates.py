"""Updates are pure values; batching visits changes nothing but the cost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitememory_plugin import SiteProfile
from sitememory_plugin._core.updates import (
    CacheSelector,
    QuirkSeen,
    Update,
    VisitBatch,
    VisitSeen,
    apply_all,
    coalesce,
)

ORIGIN = "0123456789abcdef"

visits = st.builds(
    VisitSeen,
    duration=st.floats(0, 100, allow_nan=False),
    at=st.floats(0, 2e9, allow_nan=False),
    status=st.one_of(st.none(), st.integers(100, 599)),
    error=st.one_of(st.none(), st.text(max_size=5)),
    timings=st.one_of(st.none(), st.dictionaries(st.sampled_from(["ttfb", "load"]),
                                                 st.floats(0, 10, allow_nan=False), max_size=2)),
)
others = st.one_of(
    st.builds(QuirkSeen, st.sampled_from(["a", "b"]), st.none(), st.floats(0, 2e9)),
    st.builds(CacheSelector, st.just("p"), st.sampled_from(["#a", "#b"]), st.just(()), st.floats(0, 2e9)),
)


@given(st.lists(st.one_of(visits, others), max_size=150),
       st.lists(st.integers(0, 10**5).map(lambda ms: ms / 1000), max_size=100),
       st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False)))
def test_coalesced_updates_give_the_same_profile(
    updates: list[Update], window: list[float], first: float | None
) -> None:
    start = SiteProfile("a.example", visit_count=len(window), load_times=tuple(window),
                        first_visit=first, last_visit=first)
    assert apply_all(start, coalesce(updates), ORIGIN) == apply_all(start, updates, ORIGIN)


def test_coalesce_batches_runs_of_visits() -> None:
    v = VisitSeen(1.0, 0.0)
    q = QuirkSeen("x", None, 0.0)
    steps = coalesce([v, v, v, q, v, q, v, v])
    assert [type(s).__name__ for s in steps] == [
        "VisitBatch", "QuirkSeen", "VisitSeen", "QuirkSeen", "VisitBatch"]
    assert isinstance(steps[0], VisitBatch) and len(steps[0].visits) == 3


@pytest.mark.parametrize(
    ("status", "error", "measured"),
    [
        (200, None, True),
        (None, None, True),
        (None, "Page.goto: Timeout 1500ms exceeded.", True),
        (None, "net::ERR_TIMED_OUT at https://a.example/", True),
        (None, "net::ERR_CONNECTION_REFUSED at https://a.example/", False),
        (503, None, False),
        (504, "Gateway timeout", False),  # an error page came back: it says nothing of the load
    ],
)
def test_only_successes_and_timeouts_are_load_times(
    status: int | None, error: str | None, measured: bool
) -> None:
    visit = VisitSeen(2.5, 0.0, status=status, error=error)
    assert visit.measures_load is measured
    assert visit.apply(SiteProfile("a.example"), ORIGIN).load_times == ((2.5,) if measured else ())


def test_an_update_that_waited_never_makes_an_entry_look_older() -> None:
    """Write-behind may apply an update made before the last one: the entry keeps the newer time
    (what eviction goes by) and, for a pattern, the newer actions."""
    from sitememory_plugin._core.updates import CachePattern, SelectorResult

    newer = apply_all(SiteProfile("a.example"), [
        CacheSelector("p", "#a", (), 20.0), CachePattern.create("t", [{"new": 1}], 20.0)], ORIGIN)
    late = apply_all(newer, [SelectorResult("p", "#a", True, 10.0),
                             CacheSelector("p", "#b", (), 10.0),
                             CachePattern.create("t", [{"old": 1}], 10.0)], ORIGIN)
    assert late.selectors["p"].updated_at == 20.0
    assert late.patterns["t"].updated_at == 20.0 and late.patterns["t"].times_cached == 2
    assert [dict(a) for a in late.patterns["t"].actions] == [{"new": 1}]
