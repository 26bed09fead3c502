"""Write-behind: batched updates, merged under the lock at flush, visible to their process at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory

from ._stores import fresh_visits
from .conftest import file_store


def _wait_on_disk(store: Path, url: str, visits: int, why: str) -> None:
    deadline = time.monotonic() + 10
    while fresh_visits(store, url) != visits:
        assert time.monotonic() < deadline, why
        time.sleep(0.02)


def test_updates_wait_in_memory_until_flush(store_path: Path) -> None:
    memory = SiteMemory(store_path, flush_interval=3600)
    for _ in range(5):
        memory.record_visit_sync("wb.example", 1.0)
    assert memory.get_profile_sync("wb.example").visit_count == 5  # own writes, at once
    assert memory.stats_sync().pending_updates == 5
    assert memory.list_sites_sync() == ["wb.example"]
    assert fresh_visits(store_path, "wb.example") == 0
    assert memory.flush_sync() == 5
    assert fresh_visits(store_path, "wb.example") == 5
    assert memory.stats_sync().writes == 1  # five updates, one locked write


def test_flush_merges_with_other_writers_instead_of_overwriting(store_path: Path) -> None:
    batched = SiteMemory(store_path, flush_interval=3600, cache_ttl=None)
    direct = SiteMemory(store_path)
    batched.record_visit_sync("m.example", 1.0)
    batched.get_profile_sync("m.example")  # a stale copy in its cache
    for _ in range(3):
        direct.record_visit_sync("m.example", 1.0)
    batched.record_quirk_sync("m.example", "popup")
    batched.close_sync()
    profile = SiteMemory(store_path).get_profile_sync("m.example")
    assert profile.visit_count == 4 and profile.quirks[0].occurrences == 1


def test_background_flush(store_path: Path) -> None:
    memory = SiteMemory(store_path, flush_interval=0.05)
    memory.record_visit_sync("bg.example", 1.0)
    _wait_on_disk(store_path, "bg.example", 1, "the flusher thread never wrote")
    memory.close_sync()


@pytest.mark.asyncio
async def test_async_write_behind_and_close(store_path: Path) -> None:
    async with SiteMemory(store_path, flush_interval=3600) as memory:
        for _ in range(10):
            await memory.record_visit("aw.example", 0.5)
        assert (await memory.get_profile("aw.example")).visit_count == 10
        assert fresh_visits(store_path, "aw.example") == 0
    assert fresh_visits(store_path, "aw.example") == 10


def test_background_flush_resumes_after_close(store_path: Path) -> None:
    memory = SiteMemory(store_path, flush_interval=0.05)
    memory.record_visit_sync("again.example", 1.0)
    memory.close_sync()
    memory.record_visit_sync("again.example", 1.0)
    _wait_on_disk(store_path, "again.example", 2, "no background flush after close()")
    memory.close_sync()


def test_forget_drops_pending_updates(store_path: Path) -> None:
    memory = SiteMemory(store_path, flush_interval=3600)
    memory.record_visit_sync("f.example", 1.0)
    assert memory.forget_sync("f.example") is True
    assert memory.get_profile_sync("f.example") is None
    assert memory.flush_sync() == 0


def test_pending_updates_are_flushed_at_interpreter_exit(store_path: Path) -> None:
    code = f"""
from sitememory_plugin import SiteMemory
m = SiteMemory({str(store_path)!r}, flush_interval=3600)
for _ in range(7):
    m.record_visit_sync("exit.example", 1.0)
"""  # no close(): atexit must flush
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert fresh_visits(store_path, "exit.example") == 7


def test_failed_flush_keeps_updates_pending(store_path: Path) -> None:
    memory = SiteMemory(store_path, flush_interval=3600, lock_timeout=0.2)
    memory.record_visit_sync("lock.example", 1.0)
    with memory._store.maintenance(), pytest.raises(TimeoutError):
        memory.flush_sync()
    memory.record_visit_sync("lock.example", 1.0)
    assert memory.get_profile_sync("lock.example").visit_count == 2
    assert memory.flush_sync() == 2
    assert fresh_visits(store_path, "lock.example") == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_backpressure_flushes_at_max_pending(store_path: Path, flavor: str) -> None:
    memory = SiteMemory(store_path, flush_interval=3600, max_pending=5)
    for i in range(12):
        if flavor == "sync":
            memory.record_visit_sync("bp.example", 1.0)
        else:
            await memory.record_visit("bp.example", 1.0)
        # An update that finds max_pending waiting flushes them first: never more than 5 wait.
        assert memory.stats_sync().pending_updates == i % 5 + 1
    assert fresh_visits(store_path, "bp.example") == 10
    await memory.close()
    assert fresh_visits(store_path, "bp.example") == 12


def test_a_failing_site_does_not_hold_back_the_others(store_path: Path) -> None:
    from sitememory_plugin._core.files import Layout

    memory = SiteMemory(store_path, flush_interval=3600, lock_timeout=0.1)
    for site in ("stuck.example", "a.example", "b.example"):
        memory.record_visit_sync(site, 1.0)
    stripe = file_store(memory)._stripes[Layout.stripe_for("stuck.example")]
    with stripe.exclusive(), pytest.raises(TimeoutError):
        memory.flush_sync()
    assert (fresh_visits(store_path, "a.example"), fresh_visits(store_path, "b.example")) == (1, 1)
    assert memory.stats_sync().pending_updates == 1  # the stuck site is retried later
    assert memory.flush_sync() == 1
    assert fresh_visits(store_path, "stuck.example") == 1


def test_a_read_during_a_flush_sees_the_updates_being_written(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    memory = SiteMemory(store_path, flush_interval=3600, cache_ttl=None)
    memory.record_visit_sync("f.example", 1.0)
    memory.flush_sync()
    memory.record_visit_sync("f.example", 1.0)
    entered, go = threading.Event(), threading.Event()
    update = memory._store.update

    def slow_update(*args: object) -> object:
        entered.set()
        assert go.wait(10)
        return update(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(memory._store, "update", slow_update)
    flusher = threading.Thread(target=memory.flush_sync)
    flusher.start()
    assert entered.wait(10)
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(memory.get_profile_sync("f.example").visit_count))
    reader.start()
    reader.join(0.2)
    go.set()
    flusher.join(10)
    reader.join(10)
    assert seen == [2]


def test_a_memory_dropped_without_close_is_still_flushed_at_exit(store_path: Path) -> None:
    code = f"""
import asyncio, gc
from sitememory_plugin import SiteMemory
async def agent():
    memory = SiteMemory({str(store_path)!r}, flush_interval=3600)
    await memory.record_visit("dropped.example", 1.0)
asyncio.run(agent())
gc.collect()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert fresh_visits(store_path, "dropped.example") == 1


def test_a_forked_child_neither_repeats_the_parents_updates_nor_stops_flushing(
    store_path: Path,
) -> None:
    import os

    memory = SiteMemory(store_path, flush_interval=0.05)
    memory.record_visit_sync("parent.example", 1.0)  # pending in the parent at the fork
    pid = os.fork()
    if pid == 0:  # the child: its own update must reach disk through its own flusher
        code = 1
        try:
            memory.record_visit_sync("child.example", 1.0)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if fresh_visits(store_path, "child.example") == 1:
                    code = 0
                    break
                time.sleep(0.02)
            memory.close_sync()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child's update was never flushed"
    memory.close_sync()
    assert fresh_visits(store_path, "parent.example") == 1  # not written twice
    assert fresh_visits(store_path, "child.example") == 1


def test_a_memory_flushed_empty_is_not_kept_alive_until_its_next_interval(store_path: Path) -> None:
    import gc
    import weakref

    memory = SiteMemory(store_path, flush_interval=3600)
    memory.record_visit_sync("kept.example", 1.0)
    buffer = weakref.ref(memory._behind)
    memory.close_sync()  # flushed: nothing pending
    del memory
    gc.collect()
    assert buffer() is None
    assert fresh_visits(store_path, "kept.example") == 1
