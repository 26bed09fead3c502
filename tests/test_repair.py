"""Documents that reading repairs, on both backends: values JSON cannot store (NaN, Infinity, lone
surrogates, escaped or raw), values of the wrong type, hand-edited version-1 documents, times from
the future, and nesting deeper than a reader's own stack has room for.

Each document is planted as raw bytes (a file, or the ``doc`` field of a Redis hash), as a hand
edit or an older version would leave it. Reading must work, the next update must work (a value
JSON cannot store would otherwise fail every update of the site for ever), and a repaired
document is written back once.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from sitememory_plugin import SiteMemory

from ._redis import client_of, prefix_of

SITE = "repair.example"
URL = f"https://{SITE}/"
TEN_YEARS = 10 * 365 * 86_400.0


class Stored:
    """A site's stored document, read and planted without the library, on either backend."""

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self.client: redis.Redis | None = None
        if isinstance(location, str):
            self.prefix = prefix_of(location)
            self.client = client_of(location, socket_timeout=10.0)

    def _file(self, key: str) -> Path:
        assert isinstance(self.location, Path)
        (path,) = self.location.glob(f"sites/*/{key}.json")
        return path

    def get(self, key: str = SITE) -> bytes:
        if self.client is None:
            return self._file(key).read_bytes()
        data = self.client.hget(f"{self.prefix}:site:{key}", "doc")
        assert isinstance(data, bytes)
        return data

    def plant(self, data: bytes, key: str = SITE) -> None:
        """Replace the document of a site the library created (its shard, or its hash's version)."""
        if self.client is None:
            self._file(key).write_bytes(data)
        else:
            self.client.hset(f"{self.prefix}:site:{key}", "doc", data)

    def moved_aside(self) -> list[str]:
        if self.client is None:
            assert isinstance(self.location, Path)
            return [p.name for p in self.location.glob("sites/*/*.corrupt-*")]
        return [k.decode() for k in self.client.keys(f"{self.prefix}:corrupt:*")]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


@pytest.fixture
def stored(store_location: str | Path) -> Iterator[Stored]:
    raw = Stored(store_location)
    yield raw
    raw.close()


def learned_site(location: str | Path) -> None:
    """A site with a visit, a selector, a quirk and a pattern, written by the library."""
    with SiteMemory(location, durability="none") as memory:
        memory.record_visit_sync(URL, 1.2, status=200)
        memory.cache_selector_sync(URL, "search box", "#q", fallbacks=["input[name=q]"])
        memory.record_quirk_sync(URL, "banner covers the page", "click #accept")
        memory.cache_action_pattern_sync(URL, "checkout", [{"click": "#buy"}])


def storable(data: bytes) -> Any:
    """The document in ``data`` if JSON can carry every value in it: UTF-8 without surrogates,
    no NaN or Infinity; fails the test otherwise."""
    text = data.decode("utf-8")  # strict: raw surrogate bytes fail here

    def refuse(constant: str) -> None:
        raise AssertionError(f"stored document still holds {constant}")

    doc = json.loads(text, parse_constant=refuse)
    json.dumps(doc, ensure_ascii=False, allow_nan=False).encode()  # a lone surrogate fails here
    return doc


# -- values JSON cannot store --------------------------------------------------------------------


def _nan_in_unknown_field(doc: dict[str, Any]) -> None:
    doc["agent_notes"] = {"score": float("nan"), "kept": 1}


def _escaped_surrogate_in_selector(doc: dict[str, Any]) -> None:
    doc["selectors"]["search box"]["primary"] = "#q\ud800"


def _escaped_surrogate_in_quirk(doc: dict[str, Any]) -> None:
    doc["quirks"][0]["description"] = "banner \udc00 covers the page"


def _raw_surrogate_in_quirk(doc: dict[str, Any]) -> None:
    doc["quirks"][0]["description"] = "banner @RAW@ covers the page"


def _infinity_in_actions(doc: dict[str, Any]) -> None:
    doc["patterns"]["checkout"]["actions"] = [{"click": "#buy", "wait": float("inf")}, float("-inf")]


DEFECTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "nan-in-unknown-field": _nan_in_unknown_field,
    "escaped-surrogate-in-selector": _escaped_surrogate_in_selector,
    "escaped-surrogate-in-quirk": _escaped_surrogate_in_quirk,
    "raw-surrogate-bytes-in-quirk": _raw_surrogate_in_quirk,
    "infinity-in-actions": _infinity_in_actions,
}


def planted_defect(stored: Stored, defect: str) -> bytes:
    doc = json.loads(stored.get())
    DEFECTS[defect](doc)
    data = json.dumps(doc).encode()  # ensure_ascii: a lone surrogate becomes "\ud800"
    data = data.replace(b"@RAW@", b"\xed\xa0\x80")  # U+D800 as UTF-8 would encode it
    stored.plant(data)
    return data


def read_as_repaired(profile: Any, defect: str, visits: int) -> None:
    """What reading makes of each defect: None for a number JSON cannot hold, U+FFFD for a
    surrogate; everything else as it was."""
    assert profile.visit_count == visits
    selector = profile.selectors["search box"]
    quirk = profile.quirks[0]
    actions = profile.patterns["checkout"].actions
    if defect == "nan-in-unknown-field":
        assert dict(profile.extra["agent_notes"]) == {"score": None, "kept": 1}
    elif defect == "escaped-surrogate-in-selector":
        assert selector.primary == "#q\ufffd"
    elif defect == "infinity-in-actions":
        assert (dict(actions[0]), actions[1]) == ({"click": "#buy", "wait": None}, None)
    else:
        assert quirk.description == "banner \ufffd covers the page"
    if defect != "escaped-surrogate-in-selector":
        assert selector.primary == "#q"
    if defect != "infinity-in-actions":
        assert [dict(a) for a in actions] == [{"click": "#buy"}]
    assert selector.fallbacks == ("input[name=q]",)


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_value_json_cannot_store_is_repaired_written_back_once_and_updates_work(
    store_location: str | Path, stored: Stored, defect: str
) -> None:
    learned_site(store_location)
    planted = planted_defect(stored, defect)
    with pytest.raises((ValueError, UnicodeError, AssertionError)):
        storable(planted)  # the plant is what it should be

    reader = SiteMemory(store_location, durability="none")
    first = reader.get_profile_sync(URL)
    reader.record_visit_sync(URL, 0.8, status=200)  # would fail for ever on what JSON cannot store
    read_as_repaired(first, defect, 1)
    assert reader.get_profile_sync(URL).visit_count == 2
    assert reader.stats_sync().repaired_files == 1
    storable(stored.get())

    later = SiteMemory(store_location, durability="none")
    read_as_repaired(later.get_profile_sync(URL), defect, 2)
    assert later.stats_sync().repaired_files == 0  # written back once: nothing left to repair
    later.record_quirk_sync(URL, "slow search")
    later.record_selector_result_sync(URL, "search box", "input[name=q]", True)
    later.cache_action_pattern_sync(URL, "login", [{"fill": "#user"}])
    profile = SiteMemory(store_location).get_profile_sync(URL)
    assert profile.visit_count == 2 and len(profile.quirks) == 2 and "login" in profile.patterns
    assert stored.moved_aside() == []
    storable(stored.get())


def test_a_document_repaired_on_a_redis_read_is_then_updated_without_a_conflict(redis_url: str) -> None:
    # The repaired document's new version is what the reader caches: its next update commits at
    # once instead of conflicting with its own write-back.
    learned_site(redis_url)
    raw = Stored(redis_url)
    try:
        planted_defect(raw, "nan-in-unknown-field")
    finally:
        raw.close()
    reader = SiteMemory(redis_url, durability="none")
    read_as_repaired(reader.get_profile_sync(URL), "nan-in-unknown-field", 1)
    reader.record_visit_sync(URL, 0.8, status=200)
    stats = reader.stats_sync()
    assert stats.repaired_files == 1
    assert stats.conflicts == 0
    assert reader.get_profile_sync(URL).visit_count == 2


# -- values of the wrong type ----------------------------------------------------------------------


def test_values_of_the_wrong_type_are_read_leniently_and_updates_work(
    store_location: str | Path, stored: Stored
) -> None:
    learned_site(store_location)
    doc = json.loads(stored.get())
    doc["quirks"] = {}
    doc["patterns"] = []
    doc["last_timings"] = []
    selector = doc["selectors"]["search box"]
    selector["candidates"] = {"#q": {"ok": "3", "failed": "1", "streak": 0}}
    selector["success_count"] = "3"
    stored.plant(json.dumps(doc).encode())

    memory = SiteMemory(store_location, durability="none")
    profile = memory.get_profile_sync(URL)
    assert (profile.quirks, dict(profile.patterns), dict(profile.last_timings)) == ((), {}, {})
    read = profile.selectors["search box"]
    assert (read.candidates["#q"].ok, read.candidates["#q"].failed, read.success_count) == (3, 1, 3)

    memory.record_selector_result_sync(URL, "search box", "#q", True)
    memory.record_quirk_sync(URL, "banner covers the page", "click #accept")
    memory.cache_action_pattern_sync(URL, "checkout", [{"click": "#buy"}])
    memory.record_visit_sync(URL, 0.5)
    profile = SiteMemory(store_location).get_profile_sync(URL)
    assert profile.selectors["search box"].candidates["#q"].ok == 4
    assert (profile.visit_count, len(profile.quirks), list(profile.patterns)) == (2, 1, ["checkout"])
    written = json.loads(stored.get())
    assert written["selectors"]["search box"]["candidates"]["#q"]["ok"] == 4
    assert isinstance(written["quirks"], list) and isinstance(written["patterns"], dict)
    assert stored.moved_aside() == []


# -- hand-edited version-1 documents ---------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 1.0], ids=["version-1", "version-1.0"])
def test_a_hand_edited_version_1_document_is_read_and_counts_on(
    store_location: str | Path, stored: Stored, version: float
) -> None:
    learned_site(store_location)
    now = time.time()
    stored.plant(json.dumps({
        "format": "sitememory.site", "version": version, "domain": SITE,
        "visit_count": "57", "success_count": "57", "failure_count": 0,
        "first_visit": now - 5000, "last_visit": now - 100, "load_times_ms": [1200, 900],
        "selectors": [], "quirks": {},
    }).encode())

    memory = SiteMemory(store_location, durability="none")
    profile = memory.get_profile_sync(URL)
    assert (profile.visit_count, profile.success_count, profile.load_times) == (57, 57, (1.2, 0.9))
    memory.record_visit_sync(URL, 1.0, status=200)
    profile = SiteMemory(store_location).get_profile_sync(URL)
    assert (profile.visit_count, profile.success_count, profile.failure_count) == (58, 58, 0)
    assert profile.first_visit == pytest.approx(now - 5000)
    assert stored.moved_aside() == []


# -- times from the future -------------------------------------------------------------------------


def _to_the_future(value: Any, now: float) -> Any:
    """``value`` with every time near ``now`` moved ten years ahead."""
    if isinstance(value, dict):
        return {k: _to_the_future(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_the_future(v, now) for v in value]
    if isinstance(value, float) and abs(value - now) < 3600:
        return value + TEN_YEARS
    return value


def _times(value: Any) -> Iterator[float]:
    """Every number in a document that looks like a time (seconds since the epoch)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _times(v)
    elif isinstance(value, list):
        for v in value:
            yield from _times(v)
    elif isinstance(value, int | float) and not isinstance(value, bool) and value > 1e9:
        yield float(value)


def test_a_visit_from_the_future_is_read_as_now_and_the_site_can_be_pruned(
    store_location: str | Path, stored: Stored
) -> None:
    with SiteMemory(store_location, durability="none") as writer:
        writer.record_visit_sync(URL, 1.0)
    now = time.time()
    planted = _to_the_future(json.loads(stored.get()), now)
    assert max(_times(planted)) > now + TEN_YEARS - 3600
    stored.plant(json.dumps(planted).encode())

    memory = SiteMemory(store_location, durability="none")
    before = time.time()
    profile = memory.get_profile_sync(URL)
    after = time.time()
    assert profile.last_visit is not None and profile.first_visit is not None
    assert before <= profile.last_visit <= after
    assert before <= profile.first_visit <= after
    assert profile.visit_count == 1
    assert max(_times(json.loads(stored.get()))) <= after  # the clamp was written back

    # The site looks idle from now on: once the clock has passed its last activity by more than
    # older_than, prune forgets it (a time left in the future would keep it for ten years).
    older_than = 0.01
    while time.time() <= after + older_than:
        time.sleep(0.005)
    assert memory.prune_sync(older_than, dry_run=True) == [SITE]
    assert memory.prune_sync(older_than) == [SITE]
    assert memory.list_sites_sync() == []
    assert SiteMemory(store_location).get_profile_sync(URL) is None
    assert stored.moved_aside() == []


# -- nesting deeper than the reader's stack --------------------------------------------------------


@pytest.mark.parametrize("depth", [480, 900])
def test_a_deep_document_read_from_deep_in_the_callers_stack_is_not_moved_aside(
    store_location: str | Path, stored: Stored, depth: int
) -> None:
    """Actions nested ``depth`` deep (the version before the bounds wrote ~490), read by a caller
    ~850 frames deep in its own recursion: the reader's stack is no reason to lose the site."""
    with SiteMemory(store_location, durability="none") as writer:
        writer.record_visit_sync(URL, 1.0)
        writer.cache_action_pattern_sync(URL, "login", [{"fill": "#user"}])
        writer.cache_action_pattern_sync(URL, "deep", [])
    doc = json.loads(stored.get())
    doc["patterns"]["deep"]["actions"] = "@DEEP@"
    raw = json.dumps(doc).replace('"@DEEP@"', "[" * depth + "]" * depth)
    stored.plant(raw.encode())

    memory = SiteMemory(store_location, durability="none")
    frames = sys.getrecursionlimit() - 100 - len(_stack())

    def recurse(n: int) -> Any:
        return memory.get_profile_sync(URL) if n == 0 else recurse(n - 1)

    assert frames > 800
    profile = recurse(frames)

    assert profile is not None and profile.visit_count == 1
    assert [dict(a) for a in profile.patterns["login"].actions] == [{"fill": "#user"}]
    assert stored.moved_aside() == []
    assert _depth(json.loads(stored.get())) < 50  # the deep actions cut, and written back
    memory.record_visit_sync(URL, 1.0)
    assert SiteMemory(store_location).get_profile_sync(URL).visit_count == 2


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _stack() -> list[object]:
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames

