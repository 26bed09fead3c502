"""Bounds: every value is checked at the call, collections are kept bounded by eviction, and a site's
document stays within 256 KiB whatever agents record. Both backends; write-through and write-behind.

Counts are read from the stored document itself (the file, the Redis value), not through a read,
which would cut an over-long collection on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from sitememory_plugin import SiteMemory, SiteProfile, site_key
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.updates import CachePattern

from ._redis import client_of, prefix_of
from ._stores import fresh_profile
from .conftest import Api

URL = "https://bounds.example/page"
KEY = site_key(URL)
WRITE_THROUGH, WRITE_BEHIND = "write-through", "write-behind"
#: The README's bound on a site's stored document.
DOC_BYTES = 256 * 1024
#: The checkout under test, for child interpreters.
ROOT = Path(__file__).resolve().parents[1]


# -- helpers ----------------------------------------------------------------------------------------


def raw_bytes(location: str | Path) -> bytes:
    """The site's document as stored: the file's bytes, or the Redis hash's ``doc`` value."""
    if isinstance(location, Path):
        return Layout(location).site_path(KEY).read_bytes()
    with client_of(location) as client:
        data = client.hget(f"{prefix_of(location)}:site:{KEY}", "doc")
    assert data is not None, "the site has no stored document"
    return bytes(data)


def raw_doc(location: str | Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw_bytes(location))
    return doc


def stored(location: str | Path) -> SiteProfile:
    """The site as a fresh reader of the store sees it."""
    profile = fresh_profile(location, URL)
    assert profile is not None
    return profile


def text(tag: str, length: int) -> str:
    """A distinct text of exactly ``length`` characters, starting with ``tag``."""
    return (tag + "-" + "x" * length)[:length]


def open_memory(location: str | Path, mode: str, max_pending: int = 10_000) -> SiteMemory:
    return SiteMemory(location, durability="none", max_pending=max_pending,
                      flush_interval=3600 if mode == WRITE_BEHIND else None)


@pytest.fixture(params=[WRITE_THROUGH, WRITE_BEHIND])
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest_asyncio.fixture
async def memory(store_location: str | Path, mode: str) -> AsyncIterator[SiteMemory]:
    opened = open_memory(store_location, mode)
    yield opened
    await opened.close()


# -- (1) every value is checked at the call ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A call with one bad value: the exception it must raise, and the field its message names."""

    method: str
    args: tuple[Any, ...]
    error: type[Exception]
    names: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: The limit the message must state, for a text too long.
    limit: int | None = None


Build = Callable[[str], Case]

#: Each text field of each method: (its limit, a call with ``value`` in that field).
TEXT_FIELDS: dict[str, tuple[int, Build]] = {
    "visit-timing-name": (64, lambda v: Case(
        "record_visit", (URL, 1.0), ValueError, "timing name", {"timings": {v: 0.1}})),
    "cache_selector-purpose": (200, lambda v: Case(
        "cache_selector", (URL, v, "#ok"), ValueError, "purpose")),
    "cache_selector-selector": (1000, lambda v: Case(
        "cache_selector", (URL, "search box", v), ValueError, "selector")),
    "cache_selector-fallback": (1000, lambda v: Case(
        "cache_selector", (URL, "search box", "#ok"), ValueError, "fallback",
        {"fallbacks": ["#f", v]})),
    "selector_result-purpose": (200, lambda v: Case(
        "record_selector_result", (URL, v, "#ok", True), ValueError, "purpose")),
    "selector_result-selector": (1000, lambda v: Case(
        "record_selector_result", (URL, "search box", v, True), ValueError, "selector")),
    "quirk-description": (500, lambda v: Case(
        "record_quirk", (URL, v, "click #ok"), ValueError, "description")),
    "quirk-workaround": (500, lambda v: Case(
        "record_quirk", (URL, "a banner", v), ValueError, "workaround")),
    "pattern-task_type": (200, lambda v: Case(
        "cache_action_pattern", (URL, v, [{"type": "click"}]), ValueError, "task_type")),
}

#: Values that are not text fields: counts, types and sizes.
OTHER_CASES: dict[str, Case] = {
    "visit-17-timings": Case("record_visit", (URL, 1.0), ValueError, "timings",
                             {"timings": {f"t{i}": 0.1 for i in range(17)}}),
    "cache_selector-17-fallbacks": Case("cache_selector", (URL, "search box", "#ok"), ValueError,
                                        "fallbacks", {"fallbacks": [f"#f{i}" for i in range(17)]}),
    "selector_result-ok-not-bool": Case("record_selector_result", (URL, "search box", "#ok", 1),
                                        TypeError, "ok"),
    "pattern-201-actions": Case("cache_action_pattern", (URL, "search", [{"i": i} for i in range(201)]),
                                ValueError, "actions"),
    "pattern-17-kib-of-actions": Case("cache_action_pattern", (URL, "search", ["x" * 17_000]),
                                      ValueError, "actions"),
}


async def assert_refused(
    location: str | Path, memory: SiteMemory, mode: str, flavor: str, cases: list[Case]
) -> None:
    """Each case raises at the call, naming its field, with nothing queued or written; a good
    update made just before (in write-behind: waiting in the same batch) is written."""
    call = Api(memory, flavor)
    await call.record_quirk(URL, "good quirk", "click #ok")
    for case in cases:
        before = memory.stats_sync()
        with pytest.raises(case.error) as caught:
            await getattr(call, case.method)(*case.args, **case.kwargs)
        assert case.names in str(caught.value)
        if case.limit is not None:
            assert f"at most {case.limit}" in str(caught.value)
        after = memory.stats_sync()
        assert (after.pending_updates, after.writes) == (before.pending_updates, before.writes), \
            "the refused update was queued or written"
    assert await memory.flush() == (1 if mode == WRITE_BEHIND else 0)
    profile = stored(location)
    assert [(q.description, q.workaround) for q in profile.quirks] == [("good quirk", "click #ok")]
    assert (profile.visit_count, dict(profile.selectors), dict(profile.patterns)) == (0, {}, {})


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(TEXT_FIELDS))
async def test_a_text_too_long_or_with_a_lone_surrogate_is_refused_at_the_call(
    name: str, store_location: str | Path, memory: SiteMemory, mode: str, flavor: str
) -> None:
    limit, build = TEXT_FIELDS[name]
    too_long = replace(build("x" * (limit + 1)), limit=limit)
    await assert_refused(store_location, memory, mode, flavor, [too_long, build("ok\ud800")])
    longest = build("y" * limit)  # the limit itself is accepted
    await getattr(Api(memory, flavor), longest.method)(*longest.args, **longest.kwargs)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(OTHER_CASES))
async def test_a_bad_count_type_or_size_is_refused_at_the_call(
    name: str, store_location: str | Path, memory: SiteMemory, mode: str, flavor: str
) -> None:
    await assert_refused(store_location, memory, mode, flavor, [OTHER_CASES[name]])


# -- (2) collections are bounded by eviction --------------------------------------------------------


def test_5000_quirks_keep_the_64_most_recently_seen(store_location: str | Path, mode: str) -> None:
    memory = open_memory(store_location, mode, max_pending=100)
    memory.record_quirk_sync(URL, "keeper", "click #keep")
    seen_again = 0
    for i in range(5000):
        memory.record_quirk_sync(URL, f"flood {i}")
        if i % 32 == 0:  # seen again before 64 newer quirks could push it out
            memory.record_quirk_sync(URL, "keeper")
            seen_again += 1
    memory.close_sync()
    quirks = raw_doc(store_location)["quirks"]
    assert len(quirks) == 64
    assert {q["description"] for q in quirks} == {"keeper"} | {f"flood {i}" for i in range(5000 - 63, 5000)}
    keeper = next(q for q in quirks if q["description"] == "keeper")
    assert (keeper["occurrences"], keeper["workaround"]) == (1 + seen_again, "click #keep")


def test_100_purposes_keep_the_64_most_recently_updated(store_location: str | Path, mode: str) -> None:
    memory = open_memory(store_location, mode, max_pending=10)
    confirmed = 0
    for i in range(100):
        memory.cache_selector_sync(URL, f"purpose {i}", f"#p{i}")
        if i % 20 == 0:  # a purpose in use stays
            memory.record_selector_result_sync(URL, "purpose 0", "#p0", True)
            confirmed += 1
    memory.close_sync()
    selectors = raw_doc(store_location)["selectors"]
    assert set(selectors) == {"purpose 0"} | {f"purpose {i}" for i in range(100 - 63, 100)}
    assert selectors["purpose 0"]["candidates"]["#p0"]["ok"] == confirmed


def test_1000_fallbacks_keep_16_candidates_and_only_their_stats(
    store_location: str | Path, mode: str
) -> None:
    memory = open_memory(store_location, mode, max_pending=10)
    memory.cache_selector_sync(URL, "search box", "#old")
    for _ in range(3):
        memory.record_selector_result_sync(URL, "search box", "#old", True)
    calls = 67  # 67 calls of 15 fallbacks: 1,005 fallbacks
    for j in range(calls):
        memory.cache_selector_sync(URL, "search box", f"#c{j}", [f"#c{j}-f{k}" for k in range(15)])
    memory.close_sync()
    selector = raw_doc(store_location)["selectors"]["search box"]
    last = calls - 1
    newest = [f"#c{last}", *(f"#c{last}-f{k}" for k in range(15))]
    assert [selector["primary"], *selector["fallbacks"]] == newest
    assert set(selector["candidates"]) == set(newest), "an evicted candidate's stats stayed"
    assert selector["success_count"] == 3  # the purpose's own counts are kept


def test_thousands_of_failed_candidates_keep_16_and_the_proven_one(
    store_location: str | Path, mode: str
) -> None:
    memory = open_memory(store_location, mode, max_pending=200)
    memory.cache_selector_sync(URL, "login", "#good")
    for _ in range(3):
        memory.record_selector_result_sync(URL, "login", "#good", True)
    for i in range(3000):
        memory.record_selector_result_sync(URL, "login", f"#bad{i}", False)
    memory.close_sync()
    selector = raw_doc(store_location)["selectors"]["login"]
    ranked = [selector["primary"], *selector["fallbacks"]]
    assert len(ranked) == 16 and selector["primary"] == "#good"
    assert set(selector["candidates"]) <= set(ranked)
    good = selector["candidates"]["#good"]
    assert (good["ok"], good["failed"], good["streak"]) == (3, 0, 0)
    assert (selector["success_count"], selector["failure_count"]) == (3, 3000)


def test_100_patterns_keep_the_32_most_recently_updated(store_location: str | Path, mode: str) -> None:
    memory = open_memory(store_location, mode, max_pending=10)
    for i in range(100):
        memory.cache_action_pattern_sync(URL, f"task {i}", [{"step": i}])
        if i % 20 == 0:
            memory.cache_action_pattern_sync(URL, "task 0", [{"step": "again", "at": i}])
    memory.close_sync()
    patterns = raw_doc(store_location)["patterns"]
    assert set(patterns) == {"task 0"} | {f"task {i}" for i in range(100 - 31, 100)}
    assert patterns["task 0"]["actions"] == [{"step": "again", "at": 80}]


def test_many_distinct_timing_names_keep_the_last_visits_16(store_location: str | Path, mode: str) -> None:
    memory = open_memory(store_location, mode, max_pending=10)
    for i in range(50):
        memory.record_visit_sync(URL, 1.0, timings={f"v{i}-t{k}": k / 10 for k in range(16)})
    with pytest.raises(ValueError, match="timings"):
        memory.record_visit_sync(URL, 1.0, timings={f"huge-t{k}": 0.1 for k in range(1000)})
    memory.close_sync()
    doc = raw_doc(store_location)
    assert doc["last_timings"] == {f"v49-t{k}": k / 10 for k in range(16)}
    assert doc["visit_count"] == 50


# -- (3) whatever is recorded, a document stays within 256 KiB --------------------------------------


def test_a_flood_at_maximal_lengths_keeps_the_document_within_256_kib(
    store_location: str | Path, mode: str
) -> None:
    memory = open_memory(store_location, mode, max_pending=25)
    for i in range(100):
        memory.cache_selector_sync(URL, text(f"purpose {i}", 200), text(f"#p{i}", 1000),
                                   [text(f"#p{i}-f{k}", 1000) for k in range(15)])
        memory.record_quirk_sync(URL, text(f"quirk {i}", 500), text(f"click #q{i}", 500))
        if i % 2 == 0:  # 8 actions of 1,900 characters: just under 16 KiB as JSON
            memory.cache_action_pattern_sync(URL, text(f"task {i}", 200),
                                             [{"s": text(f"a{i}-{k}", 1900)} for k in range(8)])
        memory.record_visit_sync(URL, 1.0, error="net::ERR_FAILED " + "x" * 100_000,
                                 timings={text(f"t{k}", 64): 0.1 for k in range(16)})
    memory.flush_sync()
    assert len(raw_bytes(store_location)) <= DOC_BYTES
    # Still readable and updatable, and the newest entries are the ones kept.
    assert memory.get_profile_sync(URL).visit_count == 100
    memory.cache_selector_sync(URL, "fresh purpose", "#fresh")
    memory.record_visit_sync(URL, 0.5, status=200)
    memory.close_sync()
    assert len(raw_bytes(store_location)) <= DOC_BYTES
    profile = stored(store_location)
    assert profile.visit_count == 101 and profile.last_status == 200
    assert profile.selectors["fresh purpose"].primary == "#fresh"
    assert text("purpose 99", 200) in profile.selectors
    assert text("quirk 99", 500) in {q.description for q in profile.quirks}
    assert text("task 98", 200) in profile.patterns


# -- (4) an error text is shortened and kept without credentials ------------------------------------


@pytest.mark.asyncio
async def test_a_100_kb_error_is_stored_shortened(
    store_location: str | Path, memory: SiteMemory, flavor: str
) -> None:
    await Api(memory, flavor).record_visit(URL, 2.0, error="net::ERR_FAILED " + "x" * 100_000)
    await memory.flush()
    profile = stored(store_location)
    assert profile.last_error is not None and profile.last_error.startswith("net::ERR_FAILED xxx")
    assert len(profile.last_error) <= 500
    assert (profile.visit_count, profile.failure_count) == (1, 1)
    assert len(raw_bytes(store_location)) < 10_000


@pytest.mark.asyncio
async def test_credentials_in_an_error_are_not_stored(
    store_location: str | Path, memory: SiteMemory, flavor: str
) -> None:
    error = "net::ERR_FAILED at https://bob:hunter2@shop.example/?token=abc"
    await Api(memory, flavor).record_visit(URL, 2.0, error=error)
    await memory.flush()
    assert stored(store_location).last_error == "net::ERR_FAILED at https://***@shop.example/?token=***"
    data = raw_bytes(store_location)
    assert b"hunter2" not in data and b"token=abc" not in data


#: A browser error quoting a hostile URL: a megabyte of scheme-like text after a credential.
HOSTILE_ERROR = """
import sys
from sitememory_plugin import SiteMemory
with SiteMemory(sys.argv[1], durability="none") as memory:
    error = "net::ERR_FAILED at https://bob:hunter2@shop.example/" + "a." * 500_000 + "@"
    memory.record_visit_sync(sys.argv[2], 1.0, error=error)
"""


def test_a_hostile_1_mb_error_is_redacted_and_shortened_in_linear_time(store_path: Path) -> None:
    # A hang guard, not a speed limit: linear work takes well under a second, quadratic an hour.
    subprocess.run([sys.executable, "-c", HOSTILE_ERROR, str(store_path), URL], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    error = stored(store_path).last_error
    assert error is not None and error.startswith("net::ERR_FAILED at https://***@shop.example/a.a.")
    assert len(error) <= 500
    assert b"hunter2" not in raw_bytes(store_path)


# -- (5) nested action payloads ---------------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    """An action list nested ``depth`` deep (``[]`` is 1 deep)."""
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return [value]


@pytest.mark.asyncio
async def test_actions_nested_480_deep_are_refused_at_the_call_16_deep_kept(
    store_location: str | Path, memory: SiteMemory, flavor: str
) -> None:
    call = Api(memory, flavor)
    for depth in (480, 17):
        with pytest.raises(ValueError, match="nested"):
            await call.cache_action_pattern(URL, "deep", nested(depth))
    assert memory.stats_sync().pending_updates == 0
    await call.cache_action_pattern(URL, "deep", nested(16))
    await memory.flush()
    assert raw_doc(store_location)["patterns"]["deep"]["actions"] == nested(16)


def test_a_payload_that_hides_its_depth_from_the_walk_is_refused_by_what_json_made_of_it() -> None:
    class Sly(dict[str, Any]):
        def values(self) -> Any:  # what the depth walk reads; the JSON encoder reads the dict
            return []

    value: Any = "leaf"
    for _ in range(40):
        value = Sly(a=value)
    with pytest.raises(ValueError, match="nested 41 deep"):
        CachePattern.create("sly", [value], 0.0)
