"""The TTL cache: expiry, revalidation by stat, and seeing other processes' writes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._core.cache import RACY_NS, TTLCache, is_fresh, is_racy, signature


def test_is_fresh() -> None:
    assert is_fresh(0.0, 1e9, None)
    assert not is_fresh(10.0, 10.0, 0)
    assert is_fresh(10.0, 10.5, 1.0)
    assert not is_fresh(10.0, 11.0, 1.0)


def test_racy_entries_are_never_confirmed_by_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    st = os.stat(path)
    assert is_racy(st, st.st_mtime_ns + RACY_NS - 1)
    assert not is_racy(st, st.st_mtime_ns + RACY_NS)
    cache: TTLCache[str] = TTLCache(0)
    cache.put("k", "v", signature(st), 0.0, is_racy(st, st.st_mtime_ns))
    entry = cache.get("k")
    assert entry is not None and not cache.confirm(entry, signature(st), 1.0)
    cache.put("k", "v", signature(st), 0.0, is_racy(st, st.st_mtime_ns + RACY_NS))
    entry = cache.get("k")
    assert entry is not None and cache.confirm(entry, signature(st), 1.0)


def test_cache_is_bounded() -> None:
    cache: TTLCache[int] = TTLCache(None, maxsize=3)
    for i in range(5):
        cache.put(str(i), i, None, 0.0)
    assert [k for k in "01234" if cache.get(k) is not None] == ["2", "3", "4"]


def _age(store: Path) -> None:
    """Make every site file look written long ago, so stat revalidation may trust it."""
    old = time.time() - 10
    for path in store.glob("sites/*/*.json"):
        os.utime(path, (old, old))


def test_ttl_none_never_rereads(store_path: Path) -> None:
    writer, reader = SiteMemory(store_path, durability="none"), SiteMemory(store_path, cache_ttl=None)
    writer.record_visit_sync("t.example", 1.0)
    assert reader.get_profile_sync("t.example").visit_count == 1
    writer.record_visit_sync("t.example", 1.0)
    assert reader.get_profile_sync("t.example").visit_count == 1  # never expires
    assert reader.stats_sync().reads == 1


def test_ttl_zero_revalidates_every_read_with_a_stat(store_path: Path) -> None:
    writer, reader = SiteMemory(store_path, durability="none"), SiteMemory(store_path, cache_ttl=0)
    writer.record_visit_sync("t.example", 1.0)
    _age(store_path)
    assert reader.get_profile_sync("t.example").visit_count == 1
    for _ in range(5):
        assert reader.get_profile_sync("t.example").visit_count == 1
    stats = reader.stats_sync()
    assert (stats.reads, stats.cache_revalidations, stats.cache_hits) == (1, 5, 0)
    writer.record_visit_sync("t.example", 1.0)
    assert reader.get_profile_sync("t.example").visit_count == 2
    assert reader.stats_sync().reads == 2


def test_ttl_expiry_sees_other_writers(store_path: Path) -> None:
    writer, reader = SiteMemory(store_path, durability="none"), SiteMemory(store_path, cache_ttl=0.2)
    writer.record_visit_sync("t.example", 1.0)
    assert reader.get_profile_sync("t.example").visit_count == 1
    writer.record_visit_sync("t.example", 1.0)
    assert reader.get_profile_sync("t.example").visit_count == 1  # still fresh
    deadline = time.monotonic() + 5
    while reader.get_profile_sync("t.example").visit_count != 2:
        assert time.monotonic() < deadline, "a read after the TTL must see the other writer"
        time.sleep(0.05)


def test_a_process_sees_its_own_writes_at_once(store_path: Path) -> None:
    memory = SiteMemory(store_path, cache_ttl=None, durability="none")
    for n in range(1, 4):
        memory.record_visit_sync("own.example", 1.0)
        assert memory.get_profile_sync("own.example").visit_count == n


def test_absent_site_is_cached_and_revalidated(store_path: Path) -> None:
    reader = SiteMemory(store_path, cache_ttl=0)
    assert reader.get_profile_sync("none.example") is None
    assert reader.get_profile_sync("none.example") is None
    assert reader.stats_sync().cache_revalidations == 1
    SiteMemory(store_path, durability="none").record_visit_sync("none.example", 1.0)
    assert reader.get_profile_sync("none.example") is not None


@pytest.mark.asyncio
async def test_async_cached_read_needs_no_thread(store_path: Path) -> None:
    memory = SiteMemory(store_path, cache_ttl=None, durability="none")
    await memory.record_visit("a.example", 1.0)
    await memory.get_profile("a.example")
    assert memory._executor is not None
    memory._shutdown_executor()
    assert (await memory.get_profile("a.example")).visit_count == 1
    assert memory._executor is None  # answered from the cache on the loop


def _open_fds() -> int:
    import gc

    # Memories kept alive only by reference cycles (e.g. a traceback's frames) close their
    # pinned descriptors when collected: count after a collection.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def test_update_after_own_write_skips_the_reread(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("pin.example", 1.0)
    reads = memory.stats_sync().reads
    for _ in range(5):
        memory.record_visit_sync("pin.example", 1.0)
    assert memory.stats_sync().reads == reads  # the pinned file is provably the current one
    SiteMemory(store_path, durability="none").record_visit_sync("pin.example", 1.0)
    memory.record_visit_sync("pin.example", 1.0)  # another writer: must re-read, not overwrite
    assert memory.stats_sync().reads == reads + 1
    assert SiteMemory(store_path).get_profile_sync("pin.example").visit_count == 8


def test_pins_are_bounded_and_released_by_close(store_path: Path) -> None:
    from sitememory_plugin._core.cache import MAX_PINS

    memory = SiteMemory(store_path, durability="none")
    memory.initialize_sync()
    before = _open_fds()
    for i in range(MAX_PINS + 40):
        memory.record_visit_sync(f"s{i}.example", 1.0)
    assert _open_fds() - before == MAX_PINS
    memory.close_sync()
    assert _open_fds() == before


def test_pins_of_a_dropped_memory_are_closed(store_path: Path) -> None:
    import gc

    SiteMemory(store_path, durability="none").initialize_sync()
    before = _open_fds()
    SiteMemory(store_path, durability="none").record_visit_sync("gc.example", 1.0)
    gc.collect()
    assert _open_fds() == before


def test_an_unlocked_read_never_replaces_a_newer_cached_state() -> None:
    cache: TTLCache[str] = TTLCache(None)
    seen = cache.get("k")  # a reader starts: nothing cached yet
    cache.put("k", "written by a writer meanwhile", None, 1.0)
    cache.put("k", "what the slow reader read", None, 2.0, unless_changed_from=seen)
    entry = cache.get("k")
    assert entry is not None and entry.value == "written by a writer meanwhile"
    cache.put("k", "newer", None, 3.0, unless_changed_from=entry)
    assert cache.get("k").value == "newer"


def test_pins_have_a_process_wide_budget(tmp_path: Path) -> None:
    from sitememory_plugin._core import cache

    before = _open_fds()
    memories = [SiteMemory(tmp_path / f"s{i}", durability="none") for i in range(6)]
    for memory in memories:
        memory.initialize_sync()
    opened = _open_fds()
    for memory in memories:
        for i in range(cache.MAX_PINS):
            memory.record_visit_sync(f"s{i}.example", 1.0)
    assert _open_fds() - opened <= cache.MAX_PINS_PER_PROCESS
    for memory in memories:
        memory.close_sync()
    assert _open_fds() == before
