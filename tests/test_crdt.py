"""Merging stores never counts twice: imports again, older exports, round trips, forgets.

The merge laws are checked on states that real histories produce (several stores recording,
importing from each other and forgetting, with a shared clock); the import counts through the
API, on both backends.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitememory_plugin import SiteMemory, SiteProfile
from sitememory_plugin._core.merge import equivalent, merge
from sitememory_plugin._core.updates import (
    CachePattern,
    CacheSelector,
    Forget,
    QuirkSeen,
    SelectorResult,
    Update,
    VisitSeen,
    apply_all,
)

SITE = "s.example"


# -- the merge laws, on states real histories make -------------------------------------------------

def _update(kind: int, n: int, at: float) -> Update:
    if kind == 0:
        return VisitSeen(0.1 + n % 7, at, status=200 if n % 3 else 503)
    if kind == 1:
        return QuirkSeen(f"quirk {n % 4}", f"click #q{n % 2}", at)
    if kind == 2:
        return CacheSelector(f"purpose {n % 3}", f"#s{n % 5}", (f"#f{n % 2}",), at)
    if kind == 3:
        return SelectorResult(f"purpose {n % 3}", f"#s{n % 5}", n % 2 == 0, at)
    return CachePattern.create(f"task {n % 3}", [{"step": n}], at)


# One step of a history: (store, action, argument). Actions: 0-4 an update, 5 an import from
# another store, 6 a forget.
steps = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6), st.integers(0, 50)), max_size=40)


def _histories(plan: list[tuple[int, int, int]]) -> tuple[list[SiteProfile], int]:
    """Three stores' states after ``plan``, and how many visits were recorded in all."""
    origins = ["a" * 16, "b" * 16, "c" * 16]
    states = [SiteProfile(SITE) for _ in origins]
    visits = 0
    for t, (store, action, n) in enumerate(plan):
        at = 1_700_000_000.0 + t
        if action <= 4:
            states[store] = apply_all(states[store], [_update(action, n, at)], origins[store])
            visits += action == 0
        elif action == 5:
            states[store] = merge(states[store], states[n % 3])
        else:
            states[store] = apply_all(states[store], [Forget(at)], origins[store])
    return states, visits


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_merge_is_commutative_and_idempotent(plan: list[tuple[int, int, int]]) -> None:
    (a, b, c), _ = _histories(plan)
    assert equivalent(merge(a, b), merge(b, a))
    assert equivalent(merge(merge(a, b), b), merge(a, b))
    assert equivalent(merge(a, merge(a, b)), merge(a, b))
    # Visits are exact per store, so their merge is associative even across forgets.
    assert (merge(merge(a, b), c).ledger == merge(a, merge(b, c)).ledger)


no_forgets = steps.filter(lambda plan: all(action != 6 for _, action, _ in plan))


@settings(max_examples=300, deadline=None)
@given(no_forgets)
def test_the_merge_is_associative(plan: list[tuple[int, int, int]]) -> None:
    # With a forget, knowledge is dropped by entry (a selector, a quirk, a pattern) as old as the
    # forget: an entry merged before the forget reached it keeps what it gathered earlier. And the
    # fallbacks an entry gathered from older ones follow its own in an order that depends on the
    # grouping: the same candidates, stats and primary either way.
    (a, b, c), _ = _histories(plan)
    assert _unordered(merge(merge(a, b), c)) == _unordered(merge(a, merge(b, c)))


def _unordered(profile: SiteProfile) -> str:
    doc = profile.to_dict()
    for selector in doc["selectors"].values():
        selector["fallbacks"].sort()
    doc["quirks"].sort(key=lambda q: q["description"])
    return json.dumps(doc, sort_keys=True)


@settings(max_examples=300, deadline=None)
@given(no_forgets)
def test_merging_every_store_counts_each_visit_once(plan: list[tuple[int, int, int]]) -> None:
    (a, b, c), visits = _histories(plan)
    everything = merge(merge(a, b), c)
    assert everything.visit_count == visits
    # However often and in whatever order the stores' states are merged again.
    assert merge(merge(everything, a), merge(c, b)).visit_count == visits


def test_a_forget_travels_with_the_document_and_later_visits_stay() -> None:
    mine, theirs = "a" * 16, "b" * 16
    a = apply_all(SiteProfile(SITE), [VisitSeen(1.0, 1.0), VisitSeen(1.0, 2.0)], mine)
    b = merge(SiteProfile(SITE), a)  # b imports a's two visits
    b = apply_all(b, [VisitSeen(1.0, 3.0)], theirs)  # and records one of its own
    a = apply_all(a, [Forget(4.0), VisitSeen(1.0, 5.0)], mine)  # a forgets, then visits again
    merged = merge(a, b)
    # Everything counted before the forget is forgotten, in whichever store it was counted; what
    # came after it stays.
    assert merged.visit_count == 1 and merged.first_visit == merged.last_visit == 5.0
    assert merge(merged, b) == merged and merge(b, merged).visit_count == 1
    # b goes on counting without having heard of the forget: its entry is no longer one that
    # ended before it, and counts whole. Had it heard (merged a's document first), its visit
    # from before the forget would have stayed forgotten.
    unaware = apply_all(b, [VisitSeen(1.0, 6.0)], theirs)
    assert merge(merged, unaware).visit_count == 1 + 2
    aware = apply_all(merge(b, merged), [VisitSeen(1.0, 6.0)], theirs)
    assert aware.visit_count == merge(merged, aware).visit_count == 2


def test_updates_made_before_a_forget_are_skipped_wherever_they_wait() -> None:
    origin = "a" * 16
    gone = apply_all(SiteProfile(SITE), [VisitSeen(1.0, 10.0), Forget(20.0)], origin)
    waited: list[Update] = [VisitSeen(1.0, 15.0), QuirkSeen("old", None, 19.0), VisitSeen(1.0, 25.0)]
    late = apply_all(gone, waited, origin, waited=True)
    assert late.visit_count == 1 and late.quirks == () and not late.gone
    # Applied as it is made (write-through), an update is as new as the forget, whatever the
    # clocks of the two machines say.
    now = apply_all(gone, waited, origin)
    assert now.visit_count == 2 and [q.description for q in now.quirks] == ["old"]


# -- import and export through the API ---------------------------------------------------------------

def _visits(memory: SiteMemory, n: int, site: str = "https://shop.example/") -> None:
    for _ in range(n):
        memory.record_visit_sync(site, 0.5, status=200)


def _count(memory: SiteMemory, site: str = "shop.example") -> int:
    profile = memory.get_profile_sync(site)
    return 0 if profile is None else profile.visit_count


def _export(memory: SiteMemory) -> str:
    out = io.StringIO()
    memory.export_sync(out)
    return out.getvalue()


@pytest.fixture
def other(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str | Path]:
    """Another store of the same backend as ``store_location``."""
    def make(name: str) -> str | Path:
        if request.node.callspec.params["store_location"] == "file":
            return tmp_path / name
        url: str = request.getfixturevalue("redis_url")
        return f"{url}{name}"
    return make


def test_restoring_your_own_backup_after_one_more_visit(store_location: str | Path) -> None:
    with SiteMemory(store_location) as memory:
        _visits(memory, 100)
        backup = _export(memory)
        _visits(memory, 1)
        memory.import_jsonl_sync(io.StringIO(backup))
        assert _count(memory) == 101  # the old merge: 201
        memory.import_jsonl_sync(io.StringIO(backup))
        assert _count(memory) == 101


def test_three_nightly_exports_imported_elsewhere(
    store_location: str | Path, other: Callable[[str], str | Path]
) -> None:
    nights = []
    with SiteMemory(store_location) as memory:
        for _ in range(3):
            _visits(memory, 10)
            nights.append(_export(memory))
    with SiteMemory(other("nightly")) as copy:
        for export in nights:
            copy.import_jsonl_sync(io.StringIO(export))
        assert _count(copy) == 30  # the old merge: 60
        for export in reversed(nights):  # older ones after newer: nothing changes
            assert copy.import_jsonl_sync(io.StringIO(export)).imported == ()
        assert _count(copy) == 30


def test_a_round_trip_through_another_store(
    store_location: str | Path, other: Callable[[str], str | Path]
) -> None:
    with SiteMemory(store_location) as a, SiteMemory(other("b")) as b:
        _visits(a, 10)
        b.import_jsonl_sync(io.StringIO(_export(a)))
        _visits(b, 5)
        _visits(a, 2)
        for _ in range(2):  # A -> B -> A, twice
            a.import_jsonl_sync(io.StringIO(_export(b)))
            b.import_jsonl_sync(io.StringIO(_export(a)))
        assert _count(a) == _count(b) == 17  # 10 + 5 + 2, each once


def test_a_forget_survives_an_import_of_an_older_export(store_location: str | Path) -> None:
    with SiteMemory(store_location) as memory:
        _visits(memory, 4)
        memory.cache_selector_sync("https://shop.example/", "search box", "#q")
        old = _export(memory)
        assert memory.forget_sync("https://shop.example/")
        _visits(memory, 1)
        memory.import_jsonl_sync(io.StringIO(old))
        profile = memory.get_profile_sync("shop.example")
        assert profile.visit_count == 1 and not profile.selectors


def test_forgotten_sites_are_gone_from_every_view(store_location: str | Path) -> None:
    with SiteMemory(store_location) as memory:
        _visits(memory, 2)
        _visits(memory, 1, "https://kept.example/")
        assert memory.forget_sync("shop.example")
        assert not memory.forget_sync("shop.example")  # nothing left to forget
        assert not memory.forget_sync("never.example")
        assert memory.get_profile_sync("shop.example") is None
        assert memory.list_sites_sync() == ["kept.example"]
        assert [json.loads(line)["domain"] for line in _export(memory).splitlines()] == ["kept.example"]
        created = memory.get_or_create_profile_sync("shop.example")  # a site again, empty
        assert created.visit_count == 0 and memory.list_sites_sync() == ["kept.example", "shop.example"]


def test_prune_removes_the_tombstones_of_sites_forgotten_long_ago(store_location: str | Path) -> None:
    with SiteMemory(store_location) as memory:
        _visits(memory, 1)
        memory.forget_sync("shop.example")
        store = memory._store
        with store.maintenance():
            assert store.tombstones() == ["shop.example"]
        assert memory.prune_sync(3600) == []  # forgotten just now: the tombstone stays
        with store.maintenance():
            assert store.tombstones() == ["shop.example"]
        assert memory.prune_sync(0) == []  # no site, and the tombstone goes
        with store.maintenance():
            assert store.tombstones() == []


# -- forget against another process's write-behind ---------------------------------------------------

AGENT = """
import sys
from sitememory_plugin import SiteMemory
memory = SiteMemory(sys.argv[1], flush_interval=3600)
for line in sys.stdin:
    command = line.strip()
    if command == "visit":
        memory.record_visit_sync("https://shop.example/", 0.5, status=200)
    elif command == "flush":
        memory.flush_sync()
    print("done", flush=True)
"""


def test_a_forget_wins_over_updates_pending_in_another_process(store_location: str | Path) -> None:
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(store_location)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert agent.stdin is not None and agent.stdout is not None

    def tell(command: str) -> None:
        assert agent.stdin is not None and agent.stdout is not None
        agent.stdin.write(command + "\n")
        agent.stdin.flush()
        assert agent.stdout.readline().strip() == "done"

    try:
        with SiteMemory(store_location) as memory:
            _visits(memory, 3)
            for _ in range(5):
                tell("visit")  # pending in the agent, made before the forget
            assert memory.forget_sync("https://shop.example/")
            tell("visit")  # made after it: counts
            tell("flush")
            assert _count(SiteMemory(store_location, cache_ttl=0)) == 1
    finally:
        agent.stdin.close()
        agent.wait(60)


def test_folding_many_stores_never_loses_a_stores_own_visits_nor_counts_twice() -> None:
    """Past MAX_ORIGINS stores, the least recently active are folded into one entry: a store
    whose counts another document folded away still counts them once, and goes on counting."""
    from sitememory_plugin._core.bounds import MAX_ORIGINS
    from sitememory_plugin._core.ledger import Ledger

    t = 1000.0
    x = Ledger().record("X", [(t, True, 100)] * 5)
    y = Ledger().join(x)  # Y imports X, then many busier stores: X gets folded
    for i in range(MAX_ORIGINS):
        y = y.join(Ledger().record(f"S{i:02d}", [(t + 100 + i, True, 100)]))
    assert "X" not in y.origins and y.totals.visits == 5 + MAX_ORIGINS
    x2 = x.record("X", [(t + 500, True, 100)] * 5)  # X goes on counting meanwhile
    merged = x2.join(y)
    assert merged.totals.visits == 10 + MAX_ORIGINS  # X's 10, the others' 16: each once
    more = merged.record("X", [(t + 600, True, 100)])
    assert more.totals.visits == 11 + MAX_ORIGINS
    assert more.join(x2).totals.visits == more.totals.visits  # X's own older state: nothing new
    assert more.join(y).totals.visits == more.totals.visits
    assert len(more.origins) <= MAX_ORIGINS


def test_a_forget_stamped_by_a_fast_clock_never_discards_updates_made_as_they_come(
    store_location: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Machine A's clock runs an hour ahead and A forgets a site; machine B goes on recording.
    B's updates are written as it makes them: they count, whatever the two clocks say. Only
    updates that waited (write-behind) and were made before the forget are discarded, and
    counted as such."""
    import time as clock

    with SiteMemory(store_location) as b, SiteMemory(store_location) as a:
        _visits(b, 1)
        behind = SiteMemory(store_location, flush_interval=3600)
        _visits(behind, 2)  # pending, made before the forget
        real = clock.time
        monkeypatch.setattr(clock, "time", lambda: real() + 3600)  # machine A's clock
        assert a.forget_sync("https://shop.example/")
        monkeypatch.setattr(clock, "time", real)
        _visits(b, 3)
        b.cache_selector_sync("https://shop.example/", "search", "#q")
        profile = b.get_profile_sync("shop.example")
        assert profile is not None and profile.visit_count == 3 and "search" in profile.selectors
        assert behind.flush_sync() == 2
        assert behind.stats_sync().forgotten_updates == 2
        assert SiteMemory(store_location, cache_ttl=0).get_profile_sync("shop.example").visit_count == 3
        behind.close_sync()


def test_pending_updates_read_as_they_will_be_written_after_a_forget(store_location: str | Path) -> None:
    with SiteMemory(store_location, flush_interval=3600) as mine, SiteMemory(store_location) as other:
        _visits(mine, 3)
        assert other.forget_sync("https://shop.example/") is False  # nothing stored yet
        assert mine.get_profile_sync("shop.example") is None  # what a flush will do to them
        _visits(mine, 1)
        assert mine.get_profile_sync("shop.example").visit_count == 1
        mine.flush_sync()
        assert _count(SiteMemory(store_location, cache_ttl=0)) == 1


def test_a_version_1_document_from_a_fast_clock_is_never_counted_twice(tmp_path: Path) -> None:
    """Its counts' origin is named by its first visit as written, not as the reader clamps it."""
    import time as clock

    future = clock.time() + 10 * 365 * 86400
    line = json.dumps({"format": "sitememory.site", "version": 1, "domain": "shop.example",
                       "visit_count": 40, "success_count": 40, "failure_count": 0,
                       "first_visit": future, "last_visit": future}) + "\n"
    with SiteMemory(tmp_path / "s") as memory:
        memory.import_jsonl_sync(io.StringIO(line))
        assert _count(memory) == 40
        clock.sleep(0.01)  # another "now" for the clamp
        memory.import_jsonl_sync(io.StringIO(line))
        assert _count(memory) == 40
