"""Lock timeouts and readers-writer semantics, across processes, threads and asyncio tasks.

Timing assertions are only generous bounds: the machine running the tests may be slow and busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sitememory_plugin import LockTimeout, ReadWriteLock, SiteMemory, site_key
from sitememory_plugin._core.files import Layout
from tests._workers import Child, Spawner, start_waiting_update

from .conftest import run_threads

URL = "https://locked.example/page"
KEY = site_key(URL)
TIMEOUT = 0.5
#: Upper bound for "about the timeout": a busy machine may add a lot, a bug adds far more.
SLACK = 10.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    SiteMemory(path).initialize_sync()
    return path


def lock_file(root: Path) -> Path:
    """The lock an update of ``URL`` waits for while a maintenance or another update holds it."""
    return Layout(root).stripe_path(Layout.stripe_for(KEY))


def block_updates(spawn: Spawner, root: Path, which: str) -> Child:
    """A process that keeps updates of ``URL`` waiting: one holding its stripe, or a maintenance
    (an ``import_legacy`` of another site, stalled while it holds every stripe)."""
    if which == "stripe":
        return hold(spawn, lock_file(root))
    child = spawn("stall_import", root=str(root), url="https://other.example/",
                  legacy=str(root.parent / "legacy.json"))
    child.expect("stalled")
    return child


def hold(spawn: Spawner, path: Path, mode: str = "exclusive") -> Child:
    child = spawn("hold", locks=[[str(path), mode]])
    child.expect("held")
    return child


class Ticker:
    """An asyncio task that counts ticks every 10 ms: proof that the loop is not blocked."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1


@contextlib.asynccontextmanager
async def ticking() -> AsyncIterator[Ticker]:
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(0)
    try:
        yield ticker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- SiteMemory updates time out on a lock held by another process -----------------------------------


@pytest.mark.parametrize("which", ["stripe", "maintenance"])
def test_update_times_out_then_succeeds_once_holder_dies(spawn: Spawner, root: Path, which: str) -> None:
    path = lock_file(root)
    holder = block_updates(spawn, root, which)
    memory = SiteMemory(root, lock_timeout=TIMEOUT, durability="none")
    started = time.monotonic()
    with pytest.raises(LockTimeout) as caught:
        memory.record_visit_sync(URL, 1.0)
    elapsed = time.monotonic() - started
    assert caught.value.name == str(path)
    assert caught.value.timeout == TIMEOUT
    assert isinstance(caught.value, TimeoutError)
    assert str(path) in str(caught.value)
    assert TIMEOUT * 0.9 <= elapsed < SLACK

    holder.kill()
    memory.record_visit_sync(URL, 2.0)
    profile = SiteMemory(root, cache_ttl=0).get_profile_sync(URL)
    # The update that timed out changed nothing.
    assert (profile.visit_count, profile.load_times) == (1, (2.0,))


@pytest.mark.asyncio
@pytest.mark.parametrize("which", ["stripe", "maintenance"])
async def test_async_update_times_out_without_blocking_the_loop(
    spawn: Spawner, root: Path, which: str
) -> None:
    path = lock_file(root)
    holder = block_updates(spawn, root, which)
    memory = SiteMemory(root, lock_timeout=TIMEOUT, durability="none")
    await memory.initialize()
    async with ticking() as ticker:
        before = ticker.ticks
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            await memory.record_visit(URL, 1.0)
        elapsed = time.monotonic() - started
        during = ticker.ticks - before
    assert caught.value.name == str(path)
    assert TIMEOUT * 0.9 <= elapsed < SLACK
    # About 50 ticks fit in the wait; a blocked loop would fit none.
    assert during >= 3, during

    holder.kill()
    await memory.record_visit(URL, 2.0)
    assert (await memory.get_profile(URL)).visit_count == 1
    await memory.close()


@pytest.mark.asyncio
async def test_async_lock_times_out_without_blocking_the_loop(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = hold(spawn, path, "shared")
    lock = ReadWriteLock(path, timeout=TIMEOUT)
    async with ticking() as ticker:
        before = ticker.ticks
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            async with lock.exclusive():
                pytest.fail("took the lock exclusively while another process holds it shared")
        elapsed = time.monotonic() - started
        during = ticker.ticks - before
    assert caught.value.name == str(path)
    assert caught.value.timeout == TIMEOUT
    assert TIMEOUT * 0.9 <= elapsed < SLACK
    assert during >= 3, during
    # Shared with shared is fine, even from the event loop.
    async with lock.shared(timeout=0):
        pass
    holder.kill()
    async with lock.exclusive(timeout=SLACK):
        pass


def test_waiting_update_proceeds_when_the_holder_releases(spawn: Spawner, root: Path) -> None:
    holder = hold(spawn, lock_file(root))
    memory = SiteMemory(root, lock_timeout=60.0, durability="none")
    waiter, errors = start_waiting_update(memory, URL)
    holder.send("release")
    holder.expect("released")
    waiter.join(30)
    assert not waiter.is_alive() and not errors, errors
    assert memory.get_profile_sync(URL).visit_count == 1
    holder.finish()


# -- ReadWriteLock across processes -----------------------------------------------------------------


def test_two_processes_hold_shared_at_once(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "rw.lock"
    first = hold(spawn, path, "shared")
    second = spawn("acquire", path=str(path), mode="shared", timeout=30.0)
    second.expect("waiting")
    second.expect("got")  # while the first still holds it
    # And a third, this process, without waiting at all.
    with ReadWriteLock(path).shared(timeout=0):
        pass
    for child in (first, second):
        child.send("release")
        child.expect("released")
        child.finish()


def test_exclusive_excludes_shared_across_processes(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "rw.lock"
    lock = ReadWriteLock(path)
    reader = hold(spawn, path, "shared")
    with pytest.raises(LockTimeout) as caught:
        lock.exclusive(timeout=0.2).acquire()
    assert caught.value.name == str(path)
    assert caught.value.timeout == 0.2
    with pytest.raises(LockTimeout):
        lock.exclusive(timeout=0).acquire()
    reader.send("release")
    reader.expect("released")
    # Not timeout=0: the waiter the timed-out attempt above left behind may win the lock for a
    # moment as it is released, then drops it; "free" means taken without waiting out a timeout.
    with lock.exclusive(timeout=5):
        # Now the other way round: a shared acquirer in another process waits for us.
        other = spawn("acquire", path=str(path), mode="shared", timeout=0.2)
        other.expect("waiting")
        other.expect("timeout")
    reader.finish()
    other.finish()


def test_exclusive_waits_for_shared_holders_then_gets_the_lock(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "rw.lock"
    readers = [hold(spawn, path, "shared") for _ in range(2)]
    writer = spawn("acquire", path=str(path), mode="exclusive", timeout=60.0)
    writer.expect("waiting")
    assert writer.poll_line(0.3) is None, "took the lock exclusively while two processes hold it shared"
    readers[0].send("release")
    readers[0].expect("released")
    assert writer.poll_line(0.3) is None, "took the lock exclusively while a process holds it shared"
    readers[1].send("release")
    readers[1].expect("released")
    writer.expect("got", timeout=30)
    # While it holds the lock exclusively, nobody else gets it in any mode.
    with pytest.raises(LockTimeout):
        ReadWriteLock(path).shared(timeout=0.2).acquire()
    writer.send("release")
    writer.expect("released")
    with ReadWriteLock(path).exclusive(timeout=5):  # not 0: see the test above
        pass
    for child in (*readers, writer):
        child.finish()


def test_killed_holder_releases_at_once(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "rw.lock"
    holder = hold(spawn, path, "exclusive")
    with pytest.raises(LockTimeout):
        ReadWriteLock(path).shared(timeout=0).acquire()
    holder.kill()
    with ReadWriteLock(path).exclusive(timeout=0):
        pass


# -- ReadWriteLock within one process ---------------------------------------------------------------


class Occupancy:
    """How many holders are inside at once, and the most ever seen."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self.inside = 0
        self.most = 0
        self.entries = 0

    def enter(self) -> None:
        with self._mutex:
            self.inside += 1
            self.entries += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self._mutex:
            self.inside -= 1


def test_threads_exclude_each_other(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "t.lock", timeout=60.0)
    seen = Occupancy()
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(100):
            with lock.exclusive():
                seen.enter()
                time.sleep(0.0002)  # widen the window a second holder would slip into
                seen.leave()

    run_threads(work, 4)
    assert (seen.most, seen.entries) == (1, 400)


def test_threads_share_a_shared_lock(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "t.lock", timeout=10.0)
    together = threading.Barrier(3, timeout=20)  # passed only if all three hold it at once

    def work() -> None:
        with lock.shared():
            together.wait()

    run_threads(work, 3)


def test_thread_that_timed_out_leaves_the_lock_free(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "t.lock")
    with lock.exclusive(timeout=0):
        with pytest.raises(LockTimeout):
            lock.exclusive(timeout=0.1).acquire()
        with pytest.raises(LockTimeout):
            lock.shared(timeout=0.1).acquire()
    # The abandoned waiters win the lock once it is free and must drop it straight away.
    with lock.exclusive(timeout=SLACK):
        pass


@pytest.mark.asyncio
async def test_tasks_exclude_each_other(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "a.lock", timeout=60.0)
    seen = Occupancy()

    async def work() -> None:
        for _ in range(50):
            async with lock.exclusive():
                seen.enter()
                await asyncio.sleep(0)  # let every other task try to get in
                await asyncio.sleep(0.0005)
                seen.leave()

    await asyncio.wait_for(asyncio.gather(*(work() for _ in range(4))), 120)
    assert (seen.most, seen.entries) == (1, 200)


@pytest.mark.asyncio
async def test_cancelled_waiter_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = ReadWriteLock(tmp_path / "a.lock", timeout=60.0)
    for attempt in range(20):
        holder = lock.exclusive()
        await holder.acquire_async()

        async def wait_for_it() -> None:
            async with lock.exclusive():
                pytest.fail("got a lock that was held")

        waiter = asyncio.create_task(wait_for_it())
        for _ in range(5):
            await asyncio.sleep(0)  # let it start waiting
        assert not waiter.done()
        if attempt % 2:
            # Cancelled while the lock is still held.
            waiter.cancel()
            holder.release()
        else:
            # Cancelled just as the lock comes free: its waiter thread may win it meanwhile.
            holder.release()
            waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # Nobody holds it: another acquirer gets it (after the abandoned waiter let go of it).
        async with lock.exclusive(timeout=5.0):
            pass
    async with lock.exclusive(timeout=5.0):
        pass


@pytest.mark.asyncio
async def test_cancel_is_not_lost_when_the_lock_comes_free_meanwhile(tmp_path: Path) -> None:
    """``task.cancel()`` on a task still waiting for a lock must cancel it, even when the lock came
    free an instant earlier: the task must not go on to run its critical section.

    Deterministic: the lock is released and its helper thread allowed to take it while the event
    loop is blocked; then the loop runs ``spins`` rounds of callbacks (not enough for the task to
    resume) before the cancel.
    """
    lock = ReadWriteLock(tmp_path / "a.lock", timeout=60.0)
    outcomes: dict[int, str] = {}
    for spins in range(4):
        holder = lock.exclusive()
        await holder.acquire_async()
        threads_before = set(threading.enumerate())
        ran: list[str] = []

        async def critical_section(ran: list[str] = ran) -> None:
            async with lock.exclusive():
                ran.append("critical section")

        task = asyncio.create_task(critical_section())
        for _ in range(5):
            await asyncio.sleep(0)  # let it start waiting
        assert not task.done()
        holder.release()
        # Let whatever waits for the lock on the task's behalf (a helper thread) take it, without
        # letting the event loop run...
        deadline = time.monotonic() + SLACK
        while any(t.is_alive() for t in set(threading.enumerate()) - threads_before):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        # ...then let the loop run a few callbacks.
        for _ in range(spins):
            await asyncio.sleep(0)
        if task.done():
            outcomes[spins] = "finished before the cancel"  # legitimate: it won the lock first
        else:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                outcomes[spins] = "cancelled"
            else:
                outcomes[spins] = f"cancel lost, ran: {ran}"
        async with lock.exclusive(timeout=5.0):
            pass
    assert "cancelled" in outcomes.values(), outcomes
    assert not [o for o in outcomes.values() if o.startswith("cancel lost")], outcomes


@pytest.mark.asyncio
async def test_cancelled_waiter_on_a_lock_held_by_another_process(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "a.lock"
    holder = hold(spawn, path)
    lock = ReadWriteLock(path, timeout=60.0)
    waiter = asyncio.create_task(lock.exclusive().acquire_async())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    holder.send("release")
    holder.expect("released")
    async with lock.exclusive(timeout=5.0):
        pass
    # The other process can have it back too: nothing in this process kept it.
    again = spawn("acquire", path=str(path), mode="exclusive", timeout=5.0)
    again.expect("waiting")
    again.expect("got")
    again.send("release")
    again.expect("released")
    holder.finish()
    again.finish()


def test_a_lock_in_a_linked_directory_works_unless_confined(tmp_path: Path) -> None:
    """A public lock may live under a link (Debian's /var/lock is one); a store's own are confined:
    their directory must be the store's, never a link out of it."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with ReadWriteLock(tmp_path / "link" / "a.lock").exclusive(timeout=1):
        assert (real / "a.lock").exists()
    with pytest.raises(OSError, match="symbolic link"):
        ReadWriteLock(tmp_path / "link" / "b.lock", confined=True).exclusive(timeout=1).acquire()
    assert not (real / "b.lock").exists()
