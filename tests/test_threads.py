"""The sync API inside a running event loop and from many threads; locks in one process."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sitememory_plugin import ReadWriteLock, SiteMemory

from .conftest import run_threads


@pytest.mark.asyncio
async def test_sync_api_inside_a_running_loop(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("loop.example", 1.0)
    memory.cache_selector_sync("loop.example", "p", "#a")
    assert memory.get_profile_sync("loop.example").visit_count == 1
    assert memory.flush_sync() == 0
    memory.close_sync()


def test_sync_api_from_eight_threads(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(50):
            memory.record_visit_sync(f"t{i % 3}.example", 0.1, status=200 if n % 2 else 500)
            memory.record_quirk_sync("t0.example", "shared quirk")
            memory.get_profile_sync("t1.example")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    counts = [SiteMemory(store_path).get_profile_sync(f"t{i}.example").visit_count for i in range(3)]
    assert sum(counts) == 8 * 50 and counts == [136, 136, 128]
    assert SiteMemory(store_path).get_quirks_sync("t0.example")[0].occurrences == 400


def test_sync_api_from_threads_that_each_run_a_loop(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")

    def in_thread() -> None:
        async def main() -> None:
            for _ in range(20):
                memory.record_visit_sync("tl.example", 0.1)  # sync, inside this thread's loop
                await memory.record_visit("tl.example", 0.1)  # async, on the same memory
            await memory.close()

        asyncio.run(main())

    run_threads(in_thread, 8)
    assert SiteMemory(store_path).get_profile_sync("tl.example").visit_count == 8 * 40


@pytest.mark.asyncio
async def test_many_tasks_exact_counts(store_path: Path) -> None:
    async with SiteMemory(store_path, durability="none") as memory:
        await asyncio.gather(*(memory.record_visit("g.example", 0.1) for _ in range(200)))
        assert (await memory.get_profile("g.example")).visit_count == 200


def test_read_write_lock_in_one_process(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "l.lock", timeout=0.2)
    with lock.shared(), lock.shared():
        with pytest.raises(TimeoutError) as info:
            lock.exclusive().acquire()
        assert str(tmp_path / "l.lock") in str(info.value)
    with lock.exclusive(), pytest.raises(TimeoutError):
        lock.shared(timeout=0).acquire()
    with lock.exclusive():
        pass


@pytest.mark.asyncio
async def test_event_loop_keeps_running_during_a_lock_wait(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "l.lock", timeout=5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    held = lock.exclusive()
    held.acquire()
    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, held.release)
    async with lock.exclusive():
        assert ticks >= 10
    task.cancel()


def test_repeated_timeouts_leave_one_waiter_not_one_each(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "l.lock", timeout=0.01)
    holder = lock.exclusive()
    holder.acquire()
    before = threading.active_count()
    for _ in range(50):
        with pytest.raises(TimeoutError):
            lock.exclusive().acquire()
    assert threading.active_count() - before <= 1
    holder.release()
    with lock.exclusive(timeout=5):  # the lingering waiter let go of what it won
        pass


def test_an_interrupted_wait_does_not_keep_the_lock(tmp_path: Path) -> None:
    import os
    import signal

    lock = ReadWriteLock(tmp_path / "l.lock", timeout=5)
    holder = lock.exclusive()
    holder.acquire()
    threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        lock.exclusive().acquire()
    holder.release()
    with lock.exclusive(timeout=5):
        pass
