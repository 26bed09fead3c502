"""Self-healing selectors: the ranking rule the README documents, pinned from the rule itself.

"A candidate that failed twice in a row drops behind every candidate that is not failing;
otherwise the success rate, shrunk by two imaginary failures, decides (one lucky success does not
outrank a proven selector, two do; a remembered selector counts as one success until its own
results say more), and ties keep the current order."

(Evidence of one moment: the weighing of counts by age is pinned in ``test_evidence.py``.)

The expected orders here are computed from that sentence, not from the code's constants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitememory_plugin import SiteMemory
from sitememory_plugin._core.models import CandidateStats
from sitememory_plugin._core.ranking import rank, record_result, with_candidates

URL = "https://shop.example/search"
PURPOSE = "search box"
POOL = ("#a", "#b", "#c", "#d", "#e")


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    in_a_row: int = 0  # failures since the last success
    remembered: bool = False  # "counts as one success until its own results say more"


class Documented:
    """The ranking as the README states it, kept independently of the implementation."""

    def __init__(self, cached: list[str]) -> None:
        self.order = list(cached)
        self.tallies = {c: Tally() for c in cached}
        self.tallies[cached[0]].remembered = True

    def record(self, candidate: str, ok: bool) -> tuple[str, ...]:
        if candidate not in self.tallies:
            self.tallies[candidate] = Tally()
            self.order.append(candidate)  # new to the ranking: behind everything it already had
        t = self.tallies[candidate]
        if ok:
            t.ok, t.in_a_row = t.ok + 1, 0
        else:
            t.failed, t.in_a_row = t.failed + 1, t.in_a_row + 1

        def failing(c: str) -> bool:
            return self.tallies[c].in_a_row >= 2

        def shrunk_rate(c: str) -> Fraction:  # exact, so that ties are ties
            t = self.tallies[c]
            ok = max(t.ok, 1 if t.remembered else 0)
            return Fraction(ok, ok + t.failed + 2)

        # sorted() is stable: equal keys keep the current order.
        self.order = sorted(self.order, key=lambda c: (failing(c), -shrunk_rate(c)))
        return tuple(self.order)


cached_lists = st.lists(st.sampled_from(POOL[:4]), min_size=1, max_size=4, unique=True)
histories = st.lists(st.tuples(st.sampled_from(POOL), st.booleans()), max_size=40)


@settings(max_examples=300, deadline=None)
@given(cached=cached_lists, history=histories)
def test_every_history_ranks_as_documented(cached: list[str], history: list[tuple[str, bool]]) -> None:
    model = Documented(cached)
    sel = with_candidates(None, PURPOSE, cached[0], tuple(cached[1:]), 0.0)
    for at, (candidate, ok) in enumerate(history):
        sel = record_result(sel, PURPOSE, candidate, ok, float(at))
        assert sel.ranked() == model.record(candidate, ok), (candidate, ok, model.tallies)
        t = model.tallies[candidate]
        s = sel.candidates[candidate]
        assert (s.ok, s.failed, s.streak) == (t.ok, t.failed, t.in_a_row)


@settings(max_examples=25, deadline=None)
@given(cached=cached_lists, history=histories)
def test_every_history_ranks_as_documented_through_a_store(
    tmp_path_factory: pytest.TempPathFactory, cached: list[str], history: list[tuple[str, bool]]
) -> None:
    model = Documented(cached)
    with SiteMemory(tmp_path_factory.mktemp("store"), durability="none") as memory:
        memory.cache_selector_sync(URL, PURPOSE, cached[0], cached[1:])
        for candidate, ok in history:
            memory.record_selector_result_sync(URL, PURPOSE, candidate, ok)
            assert memory.get_selector_sync(URL, PURPOSE).ranked() == model.record(candidate, ok)


# -- the README's examples, through the public API -----------------------------------------------


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[SiteMemory]:
    with SiteMemory(tmp_path / "store", durability="none") as memory:
        yield memory


def ranked(memory: SiteMemory) -> tuple[str, ...]:
    return memory.get_selector_sync(URL, PURPOSE).ranked()


def results(memory: SiteMemory, candidate: str, *outcomes: bool) -> None:
    for ok in outcomes:
        memory.record_selector_result_sync(URL, PURPOSE, candidate, ok)


def test_two_failures_in_a_row_drop_even_a_proven_primary_behind_every_candidate_not_failing(
    memory: SiteMemory,
) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#proven", ["#untried", "#lucky"])
    results(memory, "#proven", *[True] * 10)
    results(memory, "#lucky", True)
    assert ranked(memory) == ("#proven", "#lucky", "#untried")
    results(memory, "#proven", False)
    assert ranked(memory) == ("#proven", "#lucky", "#untried")  # one failure: 10 of 11 still leads
    results(memory, "#proven", False)
    assert ranked(memory) == ("#lucky", "#untried", "#proven")  # behind even one never tried
    results(memory, "#proven", True)
    assert ranked(memory) == ("#proven", "#lucky", "#untried")  # no longer failing: 11 of 13 leads


def test_failures_that_are_not_in_a_row_do_not_demote(memory: SiteMemory) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#a", ["#b"])
    results(memory, "#a", True, False, True, False, True, False)
    assert ranked(memory) == ("#a", "#b")  # 3 of 6 (3/8) against nothing known (0/2)


def test_two_demoted_candidates_keep_their_rates_order_behind_the_rest(memory: SiteMemory) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#weak", ["#strong", "#untried"])
    results(memory, "#strong", True, True, True, False, False)  # 3/7, failing
    results(memory, "#weak", True, False, False)  # 1/5, failing
    assert ranked(memory) == ("#untried", "#strong", "#weak")


def test_one_lucky_success_does_not_outrank_a_proven_selector_two_do(memory: SiteMemory) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#proven", [])
    results(memory, "#proven", False, True, True)  # 2 of 3, not failing now
    # A newly cached primary goes first, and stays first only if its record earns it.
    memory.cache_selector_sync(URL, PURPOSE, "#lucky", ["#proven"])
    assert ranked(memory) == ("#lucky", "#proven")
    results(memory, "#lucky", True)
    assert ranked(memory) == ("#proven", "#lucky")  # 1 of 1 (1/3) does not beat 2 of 3 (2/5)
    results(memory, "#lucky", True)
    assert ranked(memory) == ("#lucky", "#proven")  # 2 of 2 (2/4) does


def test_a_fallback_that_keeps_working_is_promoted(memory: SiteMemory) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#a", ["#b"])
    results(memory, "#a", True, True, False)
    results(memory, "#b", True)
    assert ranked(memory) == ("#a", "#b")  # one success does not outrank 2 of 3
    results(memory, "#b", True)
    assert ranked(memory) == ("#b", "#a")


def test_ties_keep_the_current_order(memory: SiteMemory) -> None:
    memory.cache_selector_sync(URL, PURPOSE, "#a", ["#b", "#c"])
    results(memory, "#a", False)
    assert ranked(memory) == ("#a", "#b", "#c")  # 0 of 1 ties with nothing known: no change
    results(memory, "#c", True)
    assert ranked(memory) == ("#c", "#a", "#b")
    results(memory, "#b", True)
    assert ranked(memory) == ("#c", "#b", "#a")  # #b ties #c at 1 of 1 and stays behind it
    results(memory, "#d", True)
    assert ranked(memory) == ("#c", "#b", "#d", "#a")  # new and tied: after those already there


def test_one_failure_of_a_good_primary_does_not_demote_it() -> None:
    sel = with_candidates(None, "p", "#a", ("#b",), 0.0)
    for i in range(5):
        sel = record_result(sel, "p", "#a", True, float(i))
    sel = record_result(sel, "p", "#a", False, 9.0)
    assert sel.primary == "#a"


def test_unknown_selector_that_worked_is_added() -> None:
    sel = with_candidates(None, "p", "#a", (), 0.0)
    sel = record_result(sel, "p", "#new", True, 1.0)
    assert sel.ranked() == ("#a", "#new")  # a tie with the remembered one: behind it
    sel = record_result(sel, "p", "#new", True, 2.0)
    assert sel.ranked() == ("#new", "#a")
    assert sel.candidates["#new"] == CandidateStats(ok=2, failed=0, streak=0, first_seen=1.0, last_ok=2.0)


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
