"""Self-healing selectors: promotion of fallbacks that work, demotion of failing primaries."""

from __future__ import annotations

from sitememory_plugin._core.models import CandidateStats
from sitememory_plugin._core.ranking import DEMOTE_AFTER, rank, record_result, with_candidates


def test_failing_primary_is_demoted_after_a_streak() -> None:
    sel = with_candidates(None, "search", "#q", ("input[name=q]",), 0.0)
    for i in range(DEMOTE_AFTER - 1):
        sel = record_result(sel, "search", "#q", False, float(i))
        assert sel.primary == "#q"
    sel = record_result(sel, "search", "#q", False, 9.0)
    assert sel.ranked() == ("input[name=q]", "#q")
    assert sel.failure_count == DEMOTE_AFTER


def test_fallback_that_keeps_working_is_promoted() -> None:
    sel = with_candidates(None, "p", "#a", ("#b",), 0.0)
    for i in range(2):
        sel = record_result(sel, "p", "#a", True, float(i))
    sel = record_result(sel, "p", "#a", False, 2.0)
    sel = record_result(sel, "p", "#b", True, 3.0)
    assert sel.primary == "#a"  # one success does not outrank 2 of 3
    sel = record_result(sel, "p", "#b", True, 4.0)
    assert sel.primary == "#b" and sel.fallbacks == ("#a",)


def test_one_failure_of_a_good_primary_does_not_demote_it() -> None:
    sel = with_candidates(None, "p", "#a", ("#b",), 0.0)
    for i in range(5):
        sel = record_result(sel, "p", "#a", True, float(i))
    sel = record_result(sel, "p", "#a", False, 9.0)
    assert sel.primary == "#a"


def test_unknown_selector_that_worked_is_added() -> None:
    sel = with_candidates(None, "p", "#a", (), 0.0)
    sel = record_result(sel, "p", "#new", True, 1.0)
    assert set(sel.ranked()) == {"#a", "#new"}
    assert sel.candidates["#new"] == CandidateStats(ok=1, failed=0, streak=0)


def test_result_for_unknown_purpose_creates_it() -> None:
    sel = record_result(None, "p", "#x", True, 1.0)
    assert sel.primary == "#x" and sel.success_count == 1


def test_caching_again_puts_new_primary_first_and_keeps_history() -> None:
    sel = with_candidates(None, "p", "#a", ("#b",), 0.0)
    sel = record_result(sel, "p", "#a", True, 1.0)
    sel = with_candidates(sel, "p", "#c", ("#a",), 2.0)
    assert sel.ranked() == ("#c", "#a", "#b")
    assert sel.candidates["#a"].ok == 1 and sel.success_count == 1


def test_rank_is_stable() -> None:
    assert rank(("#a", "#b", "#c"), {}) == ("#a", "#b", "#c")
