"""Write-behind under faults: backpressure against a held lock, an update that cannot be written, an
interrupted flush, thousands of dropped memories, a stuck site under the async API, and a process
that ends while its flusher thread is writing.

An update is accepted (and then written exactly once) or refused with an error and not queued.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sitememory_plugin import LockTimeout, SiteMemory, SiteProfile, site_key
from sitememory_plugin._core import writebehind
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.redisstore import RedisStore

from ._stores import fresh_profile, fresh_visits
from ._workers import Spawner
from .conftest import Api

#: Hang guard: far longer than anything here takes on a busy machine.
GUARD = 30.0
#: The checkout under test, for child interpreters.
ROOT = Path(__file__).resolve().parents[1]


def stored(location: str | Path, url: str) -> SiteProfile:
    profile = fresh_profile(location, url)
    assert profile is not None
    return profile


@contextmanager
def site_blocked(location: str | Path, url: str, spawn: Spawner) -> Iterator[None]:
    """Updates of ``url``'s site wait meanwhile: another process holds its lock stripe (file
    store), or another client holds the store-wide maintenance lock (Redis, where updates take
    no lock of their own)."""
    if isinstance(location, Path):
        SiteMemory(location).initialize_sync()  # the lock files exist
        stripe = Layout(location).stripe_path(Layout.stripe_for(site_key(url)))
        holder = spawn("hold", locks=[[str(stripe), "exclusive"]])
        holder.expect("held")
        try:
            yield
        finally:
            holder.send("release")
            holder.expect("released")
        return
    with SiteMemory(location) as other, other._store.maintenance():
        yield


class Unwritable:
    """A test-only update that can never be written: its apply raises, as a bug would."""

    def __init__(self) -> None:
        self.at = time.time()

    def apply(self, profile: SiteProfile, origin: str = "") -> SiteProfile:
        raise ValueError("this update cannot be written")


class InterruptOnce:
    """A test-only update whose first apply is interrupted (Ctrl-C in the middle of a flush)."""

    def __init__(self) -> None:
        self.at = time.time()
        self.interrupted = False

    def apply(self, profile: SiteProfile, origin: str = "") -> SiteProfile:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        return profile


# -- (a) backpressure against a held lock -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_an_update_that_finds_no_room_is_refused_not_queued(
    store_location: str | Path, spawn: Spawner, flavor: str
) -> None:
    url = "https://held.example/"
    memory = SiteMemory(store_location, flush_interval=3600, max_pending=3, lock_timeout=0.2,
                        durability="none")
    call = Api(memory, flavor)
    with site_blocked(store_location, url, spawn):
        for _ in range(3):
            await call.record_visit(url, 1.0)
        assert memory.stats_sync().pending_updates == 3
        for _ in range(3):  # a caller that retries its refused update
            with pytest.raises(LockTimeout):
                await call.record_visit(url, 1.0)
            assert memory.stats_sync().pending_updates == 3, "a refused update was queued"
    assert await memory.flush() == 3
    assert fresh_visits(store_location, url) == 3
    await memory.close()


# -- (b) an update that cannot be written is dropped alone ------------------------------------------


def test_an_unwritable_update_is_dropped_and_the_rest_of_its_batch_written(
    store_location: str | Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "https://batch.example/"
    memory = SiteMemory(store_location, flush_interval=3600, durability="none")
    behind = memory._behind
    assert behind is not None
    memory.record_visit_sync(url, 1.0)
    memory.record_quirk_sync(url, "cookie banner", "click #accept")
    behind.add(site_key(url), Unwritable())
    memory.cache_selector_sync(url, "search box", "#q")
    memory.record_visit_sync(url, 2.0)
    memory.record_visit_sync("https://other.example/", 1.0)
    with caplog.at_level(logging.ERROR, logger="sitememory"), \
            pytest.raises(ValueError, match="cannot be written"):
        memory.flush_sync()
    assert memory.stats_sync().pending_updates == 0
    assert memory.flush_sync() == 0  # dropped, not retried
    memory.close_sync()
    profile = stored(store_location, url)
    assert profile.visit_count == 2
    assert [(q.description, q.workaround) for q in profile.quirks] == [("cookie banner", "click #accept")]
    assert profile.selectors["search box"].primary == "#q"
    assert fresh_visits(store_location, "https://other.example/") == 1
    dropped = [r for r in caplog.records if "Unwritable" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.ERROR


# -- (c) one flusher thread for every memory --------------------------------------------------------


def test_2000_memories_dropped_without_close_take_no_thread_each_and_are_flushed(store_path: Path) -> None:
    SiteMemory(store_path).initialize_sync()
    before = threading.active_count()
    for _ in range(2000):
        memory = SiteMemory(store_path, flush_interval=3600, durability="none")
        memory.record_visit_sync("https://dropped.example/", 1.0)
        del memory
    gc.collect()
    assert threading.active_count() <= before + 3
    writebehind.flush_all("in a test")
    assert fresh_visits(store_path, "https://dropped.example/") == 2000


# -- (d) a stuck site does not stall the others under the async API ---------------------------------


def other_stripe(key: str) -> str:
    """A site whose lock stripe is not ``key``'s."""
    return next(f"https://unrelated{i}.example/" for i in range(1000)
                if Layout.stripe_for(site_key(f"https://unrelated{i}.example/")) != Layout.stripe_for(key))


@pytest.mark.asyncio
async def test_16_tasks_on_a_locked_site_leave_workers_for_another(store_path: Path, spawn: Spawner) -> None:
    stuck = "https://stuck.example/"
    free = other_stripe(site_key(stuck))
    memory = SiteMemory(store_path, lock_timeout=20.0, durability="none")  # 8 worker threads
    await memory.initialize()
    with site_blocked(store_path, stuck, spawn):
        waiting = [asyncio.create_task(memory.record_visit(stuck, 1.0)) for _ in range(16)]
        await asyncio.sleep(0.2)  # let them all start waiting
        # Shorter than lock_timeout: waiting for the stuck site's updates to time out fails here.
        await asyncio.wait_for(memory.record_visit(free, 1.0), 10.0)
        assert not any(task.done() for task in waiting), "the stuck site's lock was free"
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
    await memory.close()
    assert (fresh_visits(store_path, stuck), fresh_visits(store_path, free)) == (16, 1)


@pytest.mark.asyncio
async def test_16_tasks_flushing_a_full_buffer_leave_workers_for_a_read(
    store_path: Path, spawn: Spawner
) -> None:
    stuck, other = "https://stuck.example/", other_stripe(site_key("https://stuck.example/"))
    SiteMemory(store_path).record_visit_sync(other, 1.0)
    memory = SiteMemory(store_path, flush_interval=3600, max_pending=1, lock_timeout=20.0, cache_ttl=0)
    await memory.initialize()
    with site_blocked(store_path, stuck, spawn):
        await memory.record_visit(stuck, 1.0)  # the buffer is full: the next update flushes first
        waiting = [asyncio.create_task(memory.record_visit(f"https://new{i}.example/", 1.0))
                   for i in range(16)]
        await asyncio.sleep(0.2)  # let them all start flushing
        profile = await asyncio.wait_for(memory.get_profile(other), 10.0)  # a read needs a worker
        assert profile.visit_count == 1
        assert not any(task.done() for task in waiting), "the stuck site's lock was free"
    await asyncio.wait_for(asyncio.gather(*waiting), GUARD)
    await memory.close()
    assert [fresh_visits(store_path, f"https://new{i}.example/") for i in range(16)] == [1] * 16
    assert fresh_visits(store_path, stuck) == 1


# -- (e) an interrupted flush keeps what it did not write -------------------------------------------


def test_an_interrupted_flush_keeps_the_rest_pending_and_writes_it_once(store_location: str | Path) -> None:
    first, interrupted, last = "https://first.example/", "https://interrupted.example/", "https://last.example/"
    memory = SiteMemory(store_location, flush_interval=3600, durability="none")
    behind = memory._behind
    assert behind is not None
    memory.record_visit_sync(first, 1.0)
    memory.record_visit_sync(interrupted, 1.0)
    behind.add(site_key(interrupted), InterruptOnce())
    memory.record_visit_sync(interrupted, 1.0)
    memory.record_visit_sync(last, 1.0)
    memory.record_visit_sync(last, 1.0)
    with pytest.raises(KeyboardInterrupt):
        memory.flush_sync()
    assert [fresh_visits(store_location, u) for u in (first, interrupted, last)] == [1, 0, 0]
    assert memory.stats_sync().pending_updates == 5
    assert memory.get_profile_sync(interrupted).visit_count == 2  # still seen by this process
    assert memory.flush_sync() == 5
    assert memory.flush_sync() == 0
    memory.close_sync()
    assert [fresh_visits(store_location, u) for u in (first, interrupted, last)] == [1, 2, 2]


# -- (f) the process ends while the flusher thread is writing ---------------------------------------

EXIT_DURING_FLUSH = """
import sys, time
from sitememory_plugin import SiteMemory
memory = SiteMemory(sys.argv[1], flush_interval=0.01, lock_timeout=60)
memory.record_visit_sync("https://x.example/", 1.0)
memory.record_visit_sync("https://y.example/", 1.0)
deadline = time.monotonic() + 30
while "x.example" not in memory._behind._inflight:  # the flusher waits for x's lock
    assert time.monotonic() < deadline, "the flusher never started"
    time.sleep(0.005)
print("flushing", flush=True)
"""  # then the main thread ends: what the flusher was writing must still be written, and the rest


def test_updates_the_flusher_thread_is_writing_at_exit_are_written(store_path: Path, spawn: Spawner) -> None:
    child = None
    try:
        with site_blocked(store_path, "https://x.example/", spawn):
            child = subprocess.Popen(
                [sys.executable, "-c", EXIT_DURING_FLUSH, str(store_path)], stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            assert child.stdout is not None
            assert child.stdout.readline() == b"flushing\n"
        assert child.wait(GUARD) == 0
    finally:
        if child is not None:
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
    assert [fresh_visits(store_path, f"https://{s}.example/") for s in "xy"] == [1, 1]


def updates_sent(memory: SiteMemory, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The site of every update the memory's write-behind sends its store, from now on."""
    store = memory._store
    sent: list[str] = []
    real_update = store.update

    def update(key: str, *args: object, **kwargs: object) -> object:
        sent.append(key)
        return real_update(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "update", update)
    return sent


# -- failures after a write is in place: never written twice --------------------------------------


def test_a_tombstone_that_cannot_be_removed_does_not_write_a_batch_twice(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After a forget, the first write puts the document in place, then removes the tombstone: a
    failure there (EMFILE, EIO) comes after the write happened."""
    import errno

    from sitememory_plugin._core import files

    url = "https://shop.example/"
    SiteMemory(store_path).record_visit_sync(url, 1.0)
    SiteMemory(store_path).forget_sync(url)
    memory = SiteMemory(store_path, flush_interval=3600)
    for _ in range(10):
        memory.record_visit_sync(url, 1.0)
    real = files.remove

    def remove(path: Path, *, durable: bool) -> bool:
        if path.suffix == ".gone":
            raise OSError(errno.EMFILE, "Too many open files")
        return real(path, durable=durable)

    monkeypatch.setattr(files, "remove", remove)
    with caplog.at_level(logging.ERROR, logger="sitememory"):
        assert memory.flush_sync() == 10  # written, and said so
    assert "could not remove its tombstone" in caplog.text
    monkeypatch.setattr(files, "remove", real)
    memory.record_visit_sync(url, 1.0)  # the tombstone left beside it is joined in, once
    memory.close_sync()
    assert fresh_visits(store_path, url) == 11
    assert not list(store_path.glob("sites/*/*.gone"))


def test_an_interrupt_after_the_rename_never_writes_a_batch_twice(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the directory is fsynced: the document is in place, the flush is interrupted,
    the batch stays pending; sent again, it is recognised and not applied twice."""
    from sitememory_plugin._core import files

    url = "https://shop.example/"
    memory = SiteMemory(store_path, flush_interval=3600)
    for _ in range(10):
        memory.record_visit_sync(url, 1.0)
    real = files.fsync_dir
    calls: list[int] = []

    def fsync_dir(fd: int) -> None:
        real(fd)
        calls.append(fd)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as a signal handler would, after os.replace

    monkeypatch.setattr(files, "fsync_dir", fsync_dir)
    with pytest.raises(KeyboardInterrupt):
        memory.flush_sync()
    assert memory.stats_sync().pending_updates == 10  # kept: the flush cannot know whether it counted
    memory.close_sync()
    assert fresh_visits(store_path, url) == 10


# -- a flush does not wait for one stuck lock once per site -----------------------------------------


def test_a_flush_waits_for_a_stuck_lock_once_not_once_per_site(
    store_path: Path, spawn: Spawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight sites behind one held stripe, one behind another: the flush tries the stuck stripe
    once, writes the free site, and leaves the seven others pending untried."""
    stripe = Layout.stripe_for("s0.example")
    same = [k for k in (f"s{i}.example" for i in range(5000)) if Layout.stripe_for(k) == stripe][:8]
    free = next(k for k in (f"o{i}.example" for i in range(100)) if Layout.stripe_for(k) != stripe)
    memory = SiteMemory(store_path, flush_interval=3600, lock_timeout=0.3, durability="none")
    for key in [*same, free]:
        memory.record_visit_sync(f"https://{key}/", 1.0)
    tried = updates_sent(memory, monkeypatch)
    with site_blocked(store_path, f"https://{same[0]}/", spawn), pytest.raises(LockTimeout):
        memory.flush_sync()
    assert sorted(tried) == sorted([same[0], free])
    assert fresh_visits(store_path, f"https://{free}/") == 1
    assert memory.stats_sync().pending_updates == 8
    memory.close_sync()
    assert all(fresh_visits(store_path, f"https://{key}/") == 1 for key in same)


def test_updates_of_a_document_this_version_cannot_write_are_dropped_at_once(
    store_location: str | Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer version's document refuses every update: they go in one step, with one error,
    not one attempt (and one error) each."""
    import json

    url = "https://newer.example/"
    SiteMemory(store_location).record_visit_sync(url, 1.0)
    memory = SiteMemory(store_location, flush_interval=3600, cache_ttl=0)
    for _ in range(500):
        memory.record_visit_sync(url, 1.0)
    if isinstance(store_location, Path):
        (path,) = store_location.glob("sites/*/newer.example.json")
        path.write_text(json.dumps({**json.loads(path.read_text()), "version": 99}))
    else:
        with SiteMemory(store_location) as other:
            redis_store = other._store
            assert isinstance(redis_store, RedisStore)
            site = redis_store._site("newer.example")
            doc = json.loads(redis_store._client.hget(site, "doc"))
            redis_store._client.hset(site, "doc", json.dumps({**doc, "version": 99}))
    calls = updates_sent(memory, monkeypatch)
    with caplog.at_level(logging.ERROR, logger="sitememory"), pytest.raises(ValueError):
        memory.flush_sync()
    assert len(calls) == 1 and memory.stats_sync().pending_updates == 0
    errors = [r.message for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("dropping 500")
