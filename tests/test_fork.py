"""Forked and multiprocessing workers: a child never keeps its parent's lock, and what a worker
queued with write-behind reaches the store however the worker ends.

Real processes under every start method; the parent checks the store afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._core import locks
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.writebehind import SIGTERM_GRACE

from . import _fork_workers as workers
from .conftest import file_store

METHODS = ["fork", "forkserver", "spawn"]
WORKERS = 4


def _other_process_updates(store: Path, url: str) -> subprocess.CompletedProcess[str]:
    code = (f"from sitememory_plugin import SiteMemory\n"
            f"SiteMemory({str(store)!r}, lock_timeout=3).record_visit_sync({url!r}, 1.0)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.fixture
def held_lock(store_path: Path) -> Iterator[tuple[threading.Event, threading.Thread]]:
    """A thread of this process holds a.example's lock until the event is set."""
    memory = SiteMemory(store_path, lock_timeout=5)
    memory.initialize_sync()
    stripe = file_store(memory)._stripes[Layout.stripe_for("a.example")]
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with stripe.exclusive():
            held.set()
            release.wait()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    yield release, thread
    release.set()
    thread.join()


def _fork_sleeper(how: str) -> Callable[[], None]:
    """Start a child that sleeps for a minute; return how to kill it."""
    if how == "os.fork":
        pid = os.fork()
        if pid == 0:  # the child: sleep, never run the rest of the test
            try:
                workers.sleep(60)
            finally:
                os._exit(0)

        def kill() -> None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)

        return kill
    process = multiprocessing.get_context("fork").Process(target=workers.sleep, args=(60,))
    process.start()

    def stop() -> None:
        process.kill()
        process.join()

    return stop


@pytest.mark.parametrize("how", ["os.fork", "multiprocessing"])
def test_a_forked_child_never_keeps_a_lock_its_parent_held(
    store_path: Path, held_lock: tuple[threading.Event, threading.Thread], how: str
) -> None:
    release, holder = held_lock
    kill = _fork_sleeper(how)  # forks while another thread holds the site's lock
    try:
        release.set()
        holder.join()
        # The parent let go; the child lives on and must not hold it for everyone.
        done = _other_process_updates(store_path, "https://a.example/")
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        kill()
    assert SiteMemory(store_path).get_profile_sync("a.example").visit_count == 1


def test_a_lock_wait_in_progress_at_the_fork_is_not_inherited(
    store_path: Path, held_lock: tuple[threading.Event, threading.Thread]
) -> None:
    """A thread waiting for the lock when the process forks wins it later in the parent; the
    child's copy of its descriptor must not keep it held once the parent is done."""
    release, holder = held_lock
    memory = SiteMemory(store_path, lock_timeout=30)
    waiting = threading.Thread(target=memory.record_visit_sync, args=("https://a.example/", 1.0))
    waiting.start()
    deadline = time.monotonic() + 30  # fork only once the wait is in the kernel, on its waiter
    while not any(isinstance(owner, locks._Waiter) for owner in list(locks._LIVE.values())):
        assert time.monotonic() < deadline, "the update never waited for the lock"
        time.sleep(0.001)
    kill = _fork_sleeper("os.fork")
    try:
        release.set()
        holder.join()
        waiting.join(30)
        assert not waiting.is_alive()
        done = _other_process_updates(store_path, "https://a.example/")
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        kill()
    assert SiteMemory(store_path).get_profile_sync("a.example").visit_count == 2


def _process(ctx: multiprocessing.context.BaseContext, jobs: list[tuple[str, int]]) -> None:
    processes = [ctx.Process(target=workers.record_and_return, args=(job,))  # type: ignore[attr-defined]
                 for job in jobs]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0


def _pool_with(ctx: multiprocessing.context.BaseContext, jobs: list[tuple[str, int]]) -> None:
    with ctx.Pool(2) as pool:  # leaving the block terminates the workers (SIGTERM)
        assert sorted(pool.map(workers.record_and_linger, jobs)) == list(range(WORKERS))


def _pool_close(ctx: multiprocessing.context.BaseContext, jobs: list[tuple[str, int]]) -> None:
    pool = ctx.Pool(2)
    assert sorted(pool.map(workers.record_and_return, jobs)) == list(range(WORKERS))
    pool.close()
    pool.join()


def _executor(ctx: multiprocessing.context.BaseContext, jobs: list[tuple[str, int]]) -> None:
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        assert sorted(pool.map(workers.record_and_linger, jobs)) == list(range(WORKERS))


WAYS: dict[str, Callable[[multiprocessing.context.BaseContext, list[tuple[str, int]]], None]] = {
    "Process": _process, "Pool-with": _pool_with, "Pool-close": _pool_close,
    "ProcessPoolExecutor": _executor,
}


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("method", METHODS)
def test_write_behind_in_workers_reaches_the_store(store_path: Path, method: str, way: str) -> None:
    """Workers queue visits with write-behind and never close their memory."""
    ctx = multiprocessing.get_context(method)
    WAYS[way](ctx, [(str(store_path), i) for i in range(WORKERS)])
    memory = SiteMemory(store_path)
    counts = {key: memory.get_profile_sync(key).visit_count for key in memory.list_sites_sync()}
    assert counts == {f"w{i}.example": workers.VISITS for i in range(WORKERS)}


def _terminated(store: Path, visits: int, handler: str = "", options: str = "") -> int:
    """A child queues ``visits`` with write-behind, then gets SIGTERM; its exit status."""
    code = (
        f"import signal, sys\n{handler}\n"
        "from sitememory_plugin import SiteMemory\n"
        f"m = SiteMemory({str(store)!r}, flush_interval=3600, {options})\n"
        f"for _ in range({visits}):\n"
        "    m.record_visit_sync('https://term.example/', 0.1)\n"
        "print('queued', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "queued"
    child.send_signal(signal.SIGTERM)
    try:
        return child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_sigterm_flushes_pending_updates_and_still_kills(store_path: Path) -> None:
    """A process killed by SIGTERM writes what it queued, then dies of the signal as before."""
    assert _terminated(store_path, 50) == -signal.SIGTERM
    assert SiteMemory(store_path).get_profile_sync("term.example").visit_count == 50


def test_a_flush_stuck_on_a_lock_at_sigterm_lasts_the_grace_at_most(store_path: Path) -> None:
    """README: on SIGTERM the flush gets at most SIGTERM_GRACE (10 s), then the process dies of
    the signal, even while another process holds the site's lock for longer."""
    assert SIGTERM_GRACE == 10.0
    blocker = SiteMemory(store_path)
    blocker.initialize_sync()
    with blocker._store.maintenance():  # every lock held, for longer than the grace
        assert _terminated(store_path, 5, options="lock_timeout=120") == -signal.SIGTERM
    assert SiteMemory(store_path).get_profile_sync("term.example") is None  # it died unflushed
    blocker.close_sync()


def test_a_program_that_handles_sigterm_keeps_its_handler(store_path: Path) -> None:
    own = "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))"
    assert _terminated(store_path, 1, own) == 3  # its own handler ran; sys.exit runs atexit: flushed
    assert SiteMemory(store_path).get_profile_sync("term.example").visit_count == 1


def test_a_forked_child_never_waits_for_a_lock_of_the_parents_cache(store_path: Path) -> None:
    """The cache's count of pinned files is guarded by a lock another thread may hold at the
    fork: the child gets a fresh one, and its first write goes through."""
    from sitememory_plugin._core import cache

    SiteMemory(store_path).record_visit_sync("https://a.example/", 1.0)
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with cache._pins_lock:
            held.set()
            done.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        try:
            SiteMemory(store_path).record_visit_sync("https://b.example/", 1.0)
        finally:
            os._exit(0)
    done.set()
    holder.join()
    deadline = time.monotonic() + 30
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the child hung in its first write")
        time.sleep(0.01)
    assert SiteMemory(store_path).get_profile_sync("b.example").visit_count == 1
