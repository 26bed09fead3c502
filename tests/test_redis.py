"""The Redis backend against a real ``redis-server``: many processes, restarts, a server that is
down or full, cache coherence between clients, the store-wide lock, corrupt documents, URLs, the
browser hooks and the command line.

No mocks: every test talks to a real server, the session's (``redis_server``, a fresh key prefix
per test) or one of its own in ``tmp_path`` when it stops, fills or breaks it. Time bounds are
hang guards, never speed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pluggy
import pytest
import redis
from playwright.async_api import Browser

from sitememory_plugin import (
    BackendUnavailable,
    LockLost,
    LockTimeout,
    Quirk,
    SiteMemory,
    SiteMemoryError,
    StoreFormatError,
    VersionTooNew,
    attach,
    site_key,
)
from sitememory_plugin._cli import main
from sitememory_plugin._core.documents import encode
from sitememory_plugin._core.redisscripts import KEEP_OPS
from sitememory_plugin._core.redisstore import RedisStore
from sitememory_plugin._core.updates import Forget, VisitSeen

from ._net import free_port
from ._redis import RedisServer, prefix_of
from ._redis_workers import (
    CANDIDATES,
    HOT,
    HOT_QUIRK,
    PURPOSE,
    SCRIPT,
    own_site,
    stress_plan,
)
from ._site import TestSite
from ._workers import Child, start_waiting_update

#: Hang guard: far longer than anything here takes on a busy machine.
GUARD = 30.0
HOT_KEY = site_key(HOT)


# -- helpers ----------------------------------------------------------------------------------------


def raw_client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=5.0, socket_connect_timeout=2.0)


def raw_doc(client: redis.Redis, prefix: str, key: str) -> dict[str, Any] | None:
    """A site's document as stored, read without the library."""
    data = client.hget(f"{prefix}:site:{key}", "doc")
    return None if data is None else dict(json.loads(data))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.01)


def grew(count: Callable[[], int], target: int) -> bool:
    return count() >= target


def ensure_running(server: RedisServer) -> None:
    """The session's server is shared: whatever a test did to it, leave it running."""
    if server.process is None or server.process.poll() is not None:
        server.process = None
        server.start()


class Worker(Child):
    """A child running tests/_redis_workers.py (the protocol of tests/_workers.py's children)."""

    def __init__(self, command: str, args: dict[str, Any], log_dir: Path, number: int) -> None:
        self.command = command
        self.stderr_path = log_dir / f"redis-child-{number}-{command}.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), command, json.dumps(args)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )
        self._buffer = b""
        self._eof = False


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Starts :class:`Worker` processes; kills any still running at teardown."""
    started: list[Worker] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def spawn(command: str, **args: Any) -> Worker:
        worker = Worker(command, args, logs, len(started))
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.close()


def start_all(spawn: Callable[..., Worker], configs: list[dict[str, Any]], command: str) -> list[Worker]:
    children = [spawn(command, **config) for config in configs]
    for child in children:
        child.expect("ready")
    for child in children:
        child.send("go")
    return children


def finish_all(children: list[Worker]) -> list[dict[str, Any]]:
    reports = []
    for child in children:
        lines = child.finish(timeout=GUARD * 2)
        assert lines, child.stderr()
        reports.append(json.loads(lines[-1]))
    return reports


class DroppingProxy:
    """A TCP proxy to a Redis server that, once armed, forwards the next script call (EVALSHA)
    to the server, swallows the server's reply and then drops the client's connection: an
    update that committed, but whose caller never heard so."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.armed = threading.Event()
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, query: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?{query}"

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            swallow, swallowed = threading.Event(), threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, swallow, swallowed),
                             daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, swallow, swallowed),
                             daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket, swallow: threading.Event,
                  swallowed: threading.Event) -> None:
        try:
            while data := client.recv(1 << 16):
                if self.armed.is_set() and b"EVALSHA" in data.upper():
                    self.armed.clear()
                    swallow.set()
                    server.sendall(data)
                    # Once the server has answered, the script has run: the update committed.
                    swallowed.wait(GUARD)
                    self.dropped += 1
                    return
                server.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @staticmethod
    def _downstream(server: socket.socket, client: socket.socket, swallow: threading.Event,
                    swallowed: threading.Event) -> None:
        # redis-py waits for each reply before its next command: the first data after the
        # script call is its reply.
        try:
            while data := server.recv(1 << 16):
                if swallow.is_set():
                    swallowed.set()
                    continue
                client.sendall(data)
        except OSError:
            pass


# -- 1. many processes ------------------------------------------------------------------------------


N_STEPS = 300


def test_four_processes_sync_async_write_through_and_behind_lose_nothing(
    workers: Callable[..., Worker], redis_url: str
) -> None:
    configs: list[dict[str, Any]] = [
        {"url": redis_url, "index": 0, "n": N_STEPS, "api": "sync"},
        {"url": redis_url, "index": 1, "n": N_STEPS, "api": "async", "tasks": 8},
        {"url": redis_url, "index": 2, "n": N_STEPS, "api": "sync", "flush_interval": 0.02},
        {"url": redis_url, "index": 3, "n": N_STEPS, "api": "async", "tasks": 8,
         "flush_interval": 0.02},
    ]
    reports = finish_all(start_all(workers, configs, "stress"))
    plans = {c["index"]: stress_plan(c["index"], N_STEPS) for c in configs}

    memory = SiteMemory(redis_url, cache_ttl=0)
    assert memory.list_sites_sync() == sorted([HOT_KEY, *(site_key(own_site(i)) for i in plans)])
    hot = memory.get_profile_sync(HOT)
    steps = [step for plan in plans.values() for step in plan]
    assert hot.visit_count == len(configs) * N_STEPS == 1200
    assert hot.failure_count == sum(step.status >= 400 for step in steps)
    assert hot.success_count == sum(step.status < 400 for step in steps)
    assert {q.description: q.occurrences for q in hot.quirks} == {
        HOT_QUIRK: sum(step.quirk for step in steps)}
    for index, plan in plans.items():
        selector = memory.get_profile_sync(own_site(index)).selectors[PURPOSE]
        results = [step.selector for step in plan if step.selector[0] == "result"]
        ok = Counter(candidate for _, candidate, passed in results if passed)
        failed = Counter(candidate for _, candidate, passed in results if not passed)
        assert (selector.success_count, selector.failure_count) == (
            sum(ok.values()), sum(failed.values())), index
        assert {c: (s.ok, s.failed) for c, s in selector.candidates.items()} == {
            c: (ok[c], failed[c]) for c in CANDIDATES}, index
        assert sorted(selector.ranked()) == sorted(CANDIDATES), index
    # They really raced on the hot document: some updates were re-applied after a conflict.
    assert sum(r["stats"]["conflicts"] for r in reports) > 0
    assert all(r["stats"]["pending_updates"] == 0 for r in reports)


# -- 2. a server restart while workers write ---------------------------------------------------------


def test_workers_survive_a_server_crash_and_restart_without_losing_or_doubling(
    workers: Callable[..., Worker], redis_server: RedisServer, redis_url: str
) -> None:
    url = f"{redis_url}&retries=10&backoff=0.05"
    prefix = prefix_of(url)
    before = SiteMemory(url)
    before.record_visit_sync("https://before.example/", 1.5, status=200)
    before.cache_selector_sync("https://before.example/", "login", "#login", ["button.login"])
    written = before.get_profile_sync("https://before.example/").to_dict()
    before.close_sync()

    configs: list[dict[str, Any]] = [
        {"url": url, "index": 0, "api": "sync"},
        {"url": url, "index": 1, "api": "async"},
        {"url": url, "index": 2, "api": "sync", "flush_interval": 0.02},
    ]

    def hot_visits() -> int:
        with raw_client(redis_server.port) as client:
            doc = raw_doc(client, prefix, HOT_KEY)
        return 0 if doc is None else int(doc["visit_count"])

    children = start_all(workers, configs, "loop")
    try:
        wait_until(lambda: hot_visits() >= 30, "the workers write")
        for _ in range(2):
            redis_server.restart(signal.SIGKILL, down_for=0.3)
            wait_until(functools.partial(grew, hot_visits, hot_visits() + 30),
                       "the workers write after the restart")
    finally:
        ensure_running(redis_server)
    for child in children:
        child.send("stop")
    reports = finish_all(children)

    counts = [r["count"] for r in reports]
    after = SiteMemory(url, cache_ttl=0)
    assert after.get_profile_sync(HOT).visit_count == sum(counts)
    for index, count in enumerate(counts):
        assert after.get_profile_sync(own_site(index)).visit_count == count, index
    assert sum(r["stats"]["backend_retries"] for r in reports) > 0
    assert after.get_profile_sync("https://before.example/").to_dict() == written
    with raw_client(redis_server.port) as client:
        assert not client.keys(f"{prefix}:corrupt:*")


def test_an_update_whose_reply_is_lost_is_retried_but_applied_once(redis_server: RedisServer,
                                                                   redis_url: str) -> None:
    """The commit happened, the connection dropped before the reply: the retry answers "done"."""
    proxy = DroppingProxy(redis_server.port)
    try:
        SiteMemory(redis_url).record_visit_sync("https://scripts.example/", 1.0)  # loads them
        memory = SiteMemory(proxy.url(f"prefix={prefix_of(redis_url)}&retries=3&backoff=0.01"))
        memory.record_visit_sync("https://lost.example/", 1.0)
        proxy.armed.set()
        memory.record_visit_sync("https://lost.example/", 2.0)
        assert proxy.dropped == 1
        stats = memory.stats_sync()
        assert stats.backend_retries >= 1
        assert stats.reads == 1  # the retry found it done, and read what it had committed
        truth = SiteMemory(redis_url, cache_ttl=0).get_profile_sync("https://lost.example/")
        assert (truth.visit_count, truth.load_times) == (2, (1.0, 2.0))
        # The history is written by the same script: once, like the count.
        assert [r.duration for r in SiteMemory(redis_url).visit_history_sync("lost.example")] == [1.0, 2.0]
        assert memory.get_profile_sync("https://lost.example/").visit_count == 2
    finally:
        proxy.close()


def test_write_behind_does_not_reapply_an_update_committed_before_its_reply_was_lost(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Write-behind keeps updates whose flush failed on a connection error and flushes them
    again; one whose commit was only unconfirmed must not be applied a second time."""
    proxy = DroppingProxy(redis_server.port)
    try:
        SiteMemory(redis_url).record_visit_sync("https://scripts.example/", 1.0)  # loads them
        memory = SiteMemory(proxy.url(f"prefix={prefix_of(redis_url)}&retries=0"),
                            flush_interval=60)
        memory.record_visit_sync("https://behind.example/", 1.0)
        memory.initialize_sync()
        proxy.armed.set()
        with pytest.raises(BackendUnavailable):
            memory.flush_sync()
        assert proxy.dropped == 1
        memory.close_sync()  # flushes what is still pending
        truth = SiteMemory(redis_url, cache_ttl=0).get_profile_sync("https://behind.example/")
        assert truth.visit_count == 1
        assert len(SiteMemory(redis_url).visit_history_sync("behind.example")) == 1
    finally:
        proxy.close()


# -- 3. the server is down ---------------------------------------------------------------------------


def test_no_server_raises_backend_unavailable_without_the_password() -> None:
    port = free_port()
    url = f"redis://:hunter2@127.0.0.1:{port}/0?prefix=down&retries=2&backoff=0.01"
    memory = SiteMemory(url)
    calls: list[Callable[[], object]] = [
        lambda: memory.record_visit_sync("https://down.example/", 1.0),
        lambda: memory.get_profile_sync("https://down.example/"),
        lambda: asyncio.run(memory.record_visit("https://down.example/", 1.0)),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert time.monotonic() - started < GUARD
        assert isinstance(caught.value, ConnectionError)
        assert isinstance(caught.value, SiteMemoryError)
        message = str(caught.value)
        assert f"redis://:***@127.0.0.1:{port}/0?prefix=down" in message
        assert "hunter2" not in message and "hunter2" not in repr(caught.value)
        assert "3 attempts" in message
    assert memory.stats_sync().backend_retries >= 6


def test_server_killed_mid_run_leaves_old_or_new_document_and_the_memory_recovers(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        memory = SiteMemory(f"{server.url}?retries=2&backoff=0.01")
        done: list[int] = []
        failure: list[BaseException] = []

        def write() -> None:
            try:
                while True:
                    memory.record_visit_sync("https://killed.example/", 1.0)
                    done.append(1)
            except BaseException as exc:
                failure.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        wait_until(lambda: len(done) >= 20, "the writer writes")
        server.stop(signal.SIGKILL)
        writer.join(GUARD)
        assert not writer.is_alive()
        assert len(failure) == 1 and isinstance(failure[0], BackendUnavailable), failure
        server.start()
        profile = SiteMemory(server.url, cache_ttl=0).get_profile_sync("https://killed.example/")
        assert profile.visit_count in (len(done), len(done) + 1)  # the last one whole, or not at all
        assert profile.success_count == profile.visit_count
        # The same memory works again once the server is back.
        memory.record_visit_sync("https://killed.example/", 1.0)
        assert memory.get_profile_sync("https://killed.example/").visit_count == profile.visit_count + 1
        with raw_client(server.port) as client:
            assert not client.keys("sitememory:corrupt:*")
    finally:
        server.stop()


def test_write_behind_keeps_updates_while_the_server_is_down(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        memory = SiteMemory(f"{server.url}?retries=1&backoff=0.01", flush_interval=60)
        memory.initialize_sync()
        for _ in range(3):
            memory.record_visit_sync("https://pending.example/", 1.0)
        server.stop()
        with pytest.raises(BackendUnavailable):
            memory.flush_sync()
        assert memory.stats_sync().pending_updates == 3
        server.start()
        assert memory.flush_sync() == 3
        truth = SiteMemory(server.url, cache_ttl=0).get_profile_sync("https://pending.example/")
        assert truth.visit_count == 3
        memory.close_sync()
    finally:
        server.stop()


# -- 4. out of memory --------------------------------------------------------------------------------


def fill_memory(client: redis.Redis) -> None:
    """Fill the server with junk, then cap ``maxmemory`` (noeviction) below what it uses: every
    write that may allocate is refused from then on, and nothing is evicted to make room."""
    client.config_set("maxmemory-policy", "noeviction")
    for i in range(64):
        client.set(f"junk:{i}", b"x" * 16_384)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used - 256 * 1024)
    with pytest.raises(redis.ResponseError, match="maxmemory"):
        client.set("junk:one-more", b"x")


def test_out_of_memory_refuses_the_update_whole_and_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        memory = SiteMemory(f"{server.url}?retries=1&backoff=0.01")
        memory.record_visit_sync("https://full.example/", 1.0, status=200)
        memory.cache_selector_sync("https://full.example/", "search", "#q")
        with raw_client(server.port) as client:
            before = client.hgetall("sitememory:site:full.example")
            fill_memory(client)
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as caught:
                memory.record_visit_sync("https://full.example/", 2.0, status=200)
            assert time.monotonic() - started < GUARD
            assert "refused" in str(caught.value)
            assert client.hgetall("sitememory:site:full.example") == before
            client.config_set("maxmemory", 0)
        memory.record_visit_sync("https://full.example/", 3.0, status=200)
        profile = SiteMemory(server.url, cache_ttl=0).get_profile_sync("https://full.example/")
        assert (profile.visit_count, profile.load_times) == (2, (1.0, 3.0))
    finally:
        server.stop()


def test_reads_still_work_while_the_server_refuses_writes(tmp_path: Path) -> None:
    """A full server refuses writes, not reads: a reader that opens the store then still sees
    what it holds (FETCH is a no-writes script for that reason)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        SiteMemory(server.url).record_visit_sync("https://full.example/", 1.0)
        with raw_client(server.port) as client:
            fill_memory(client)
        reader = SiteMemory(f"{server.url}?retries=1&backoff=0.01")
        assert reader.get_profile_sync("https://full.example/").visit_count == 1
        assert reader.list_sites_sync() == ["full.example"]
    finally:
        server.stop()


# -- 5. cache coherence between clients --------------------------------------------------------------


def test_cached_reads_see_another_clients_update_after_the_ttl(redis_url: str) -> None:
    ttl = 0.2
    a = SiteMemory(redis_url, cache_ttl=ttl)
    b = SiteMemory(redis_url, cache_ttl=ttl)
    b.record_visit_sync("https://coherent.example/", 1.0)
    read_at = time.monotonic()
    assert a.get_profile_sync("https://coherent.example/").visit_count == 1
    assert a.stats_sync().reads == 1
    b.record_visit_sync("https://coherent.example/", 1.0)
    cached = a.get_profile_sync("https://coherent.example/")
    if time.monotonic() - read_at < ttl:  # a stalled machine may have let the entry expire
        assert cached.visit_count == 1
        assert a.stats_sync().cache_hits == 1
    time.sleep(ttl + 0.05)
    assert a.get_profile_sync("https://coherent.example/").visit_count == 2
    reads = a.stats_sync().reads
    assert reads == 2
    time.sleep(ttl + 0.05)
    assert a.get_profile_sync("https://coherent.example/").visit_count == 2
    stats = a.stats_sync()
    assert stats.cache_revalidations == 1 and stats.reads == reads  # one version check, no re-read


def test_cache_ttl_zero_revalidates_every_read(redis_url: str) -> None:
    writer = SiteMemory(redis_url)
    reader = SiteMemory(redis_url, cache_ttl=0)
    writer.record_visit_sync("https://zero.example/", 1.0)
    for _ in range(3):
        assert reader.get_profile_sync("https://zero.example/").visit_count == 1
    stats = reader.stats_sync()
    assert (stats.reads, stats.cache_revalidations, stats.cache_hits) == (1, 2, 0)
    writer.record_visit_sync("https://zero.example/", 1.0)
    assert reader.get_profile_sync("https://zero.example/").visit_count == 2
    assert reader.stats_sync().reads == 2
    writer.forget_sync("https://zero.example/")
    assert reader.get_profile_sync("https://zero.example/") is None
    assert reader.get_profile_sync("https://zero.example/") is None
    assert reader.stats_sync().cache_revalidations == 3  # "still absent" is a version check too


# -- 6. the store-wide lock --------------------------------------------------------------------------


def test_update_times_out_on_a_held_lock_then_succeeds_once_the_dead_holders_lock_expires(
    workers: Callable[..., Worker], redis_url: str
) -> None:
    url = "https://locked.example/"
    holder = workers("hold", url=f"{redis_url}&lock_ttl=1")
    holder.expect("held")
    memory = SiteMemory(redis_url, lock_timeout=0.3)
    with pytest.raises(LockTimeout) as caught:
        memory.record_visit_sync(url, 1.0)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.site == site_key(url) and caught.value.timeout == 0.3
    assert caught.value.name == f"{prefix_of(redis_url)}:lock"
    assert repr(site_key(url)) in str(caught.value)
    # The live holder keeps renewing its one-second lock: still held well after a second.
    time.sleep(1.2)
    with pytest.raises(LockTimeout):
        memory.record_visit_sync(url, 1.0)

    holder.kill()  # dies holding the lock: it expires on its own within lock_ttl
    patient = SiteMemory(redis_url, lock_timeout=GUARD)
    started = time.monotonic()
    patient.record_visit_sync(url, 2.0)
    assert time.monotonic() - started < GUARD
    profile = SiteMemory(redis_url, cache_ttl=0).get_profile_sync(url)
    assert (profile.visit_count, profile.load_times) == (1, (2.0,))  # the timed-out ones: nothing


def test_a_live_holder_keeps_the_lock_past_its_ttl_and_updates_wait(redis_url: str) -> None:
    url = "https://renewed.example/"
    SiteMemory(redis_url).record_visit_sync(url, 1.0)
    holder = SiteMemory(f"{redis_url}&lock_ttl=0.4")
    waiter_memory = SiteMemory(redis_url, lock_timeout=GUARD)
    store = holder._store
    assert isinstance(store, RedisStore)
    with store.maintenance():
        waiter, errors = start_waiting_update(waiter_memory, url)
        time.sleep(1.2)  # three TTLs
        assert waiter.is_alive(), "the update went through a lock that was still held"
        current = store.read_locked(site_key(url))
        assert current is not None
        store.put(site_key(url), replace(current, quirks=(Quirk("put while held"),)))
    waiter.join(GUARD)
    assert not waiter.is_alive() and not errors, errors
    profile = SiteMemory(redis_url, cache_ttl=0).get_profile_sync(url)
    # The put under the lock, then the waiting update on top of it.
    assert [q.description for q in profile.quirks] == ["put while held"]
    assert profile.visit_count == 2


def test_a_holder_whose_lock_expired_cannot_write(redis_server: RedisServer, redis_url: str) -> None:
    url, key = "https://lost-lock.example/", "lost-lock.example"
    holder, other = SiteMemory(redis_url), SiteMemory(redis_url, lock_timeout=GUARD)
    other.record_visit_sync(url, 1.0)
    store, other_store = holder._store, other._store
    assert isinstance(store, RedisStore) and isinstance(other_store, RedisStore)
    with store.maintenance():
        current = store.read_locked(key)
        assert current is not None
        with raw_client(redis_server.port) as client:
            client.delete(f"{prefix_of(redis_url)}:lock")  # as if it had expired
        other.record_visit_sync(url, 1.0)  # nothing holds the store any more
        with other_store.maintenance():  # someone else takes it
            with pytest.raises(LockLost):
                store.put(key, replace(current, visit_count=99))
            with pytest.raises(LockLost):
                store.remove_locked(key)
    profile = SiteMemory(redis_url, cache_ttl=0).get_profile_sync(url)
    assert profile.visit_count == 2


# -- 7. corrupt and newer documents ------------------------------------------------------------------


@pytest.mark.parametrize("found_by", ["read", "update"])
@pytest.mark.parametrize("garbage", [b"{not json", b"", b"[1, 2]",
                                     b'{"domain": "other.example", "visit_count": 3}'],
                         ids=["bad-json", "empty", "not-an-object", "other-site"])
def test_a_corrupt_document_is_moved_aside_and_the_site_starts_fresh(
    redis_server: RedisServer, redis_url: str, garbage: bytes, found_by: str
) -> None:
    url, key, prefix = "https://corrupt.example/", "corrupt.example", prefix_of(redis_url)
    SiteMemory(redis_url).record_visit_sync(url, 1.0)
    with raw_client(redis_server.port) as client:
        client.hset(f"{prefix}:site:{key}", "doc", garbage)
        memory = SiteMemory(redis_url, cache_ttl=0)
        if found_by == "read":
            assert memory.get_profile_sync(url) is None
            assert memory.list_sites_sync() == []
        memory.record_visit_sync(url, 2.0)
        assert memory.stats_sync().corrupt_files == 1
        (aside,) = client.keys(f"{prefix}:corrupt:*")
        assert aside.decode().startswith(f"{prefix}:corrupt:{key}:")
        assert client.hget(aside, "doc") == garbage
    profile = memory.get_profile_sync(url)
    assert (profile.visit_count, profile.load_times) == (1, (2.0,))
    assert memory.list_sites_sync() == [key]


def test_every_corrupt_document_is_kept_even_two_in_the_same_second(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Like the file store's ``.corrupt-<time>-<ns>`` files: a second corrupt document of a site
    must not replace the first one moved aside (RENAME overwrites its target)."""
    url, key, prefix = "https://twice.example/", "twice.example", prefix_of(redis_url)
    garbage = [b"{the first", b"{the second"]
    with raw_client(redis_server.port) as client:
        for junk in garbage:
            SiteMemory(redis_url).record_visit_sync(url, 1.0)
            client.hset(f"{prefix}:site:{key}", "doc", junk)
            reader = SiteMemory(redis_url)
            assert reader.get_profile_sync(url) is None
            assert reader.stats_sync().corrupt_files == 1
        kept = sorted(client.hget(k, "doc") or b"" for k in client.keys(f"{prefix}:corrupt:*"))
    assert kept == sorted(garbage)


def test_doctor_reports_documents_moved_aside(
    redis_server: RedisServer, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SiteMemory(redis_url).record_visit_sync("https://doc.example/", 1.0)
    with raw_client(redis_server.port) as client:
        client.hset(f"{prefix_of(redis_url)}:site:doc.example", "doc", b"\x00garbage")
    assert SiteMemory(redis_url).get_profile_sync("doc.example") is None
    main(["--store", redis_url, "doctor", "--json"])
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)}
    assert not checks["corrupt documents"]["ok"]
    assert f"{prefix_of(redis_url)}:corrupt:*" in checks["corrupt documents"]["detail"]


def test_a_newer_document_is_refused_and_left_untouched(redis_server: RedisServer,
                                                        redis_url: str) -> None:
    url, key, prefix = "https://newer.example/", "newer.example", prefix_of(redis_url)
    SiteMemory(redis_url).record_visit_sync(url, 1.0)
    with raw_client(redis_server.port) as client:
        doc = json.loads(client.hget(f"{prefix}:site:{key}", "doc"))
        doc["version"] = 999
        client.hset(f"{prefix}:site:{key}", "doc", json.dumps(doc))
        stored = client.hgetall(f"{prefix}:site:{key}")
        memory = SiteMemory(redis_url, cache_ttl=0)
        with pytest.raises(VersionTooNew):
            memory.get_profile_sync(url)
        with pytest.raises(VersionTooNew):
            memory.record_visit_sync(url, 1.0)
        assert client.hgetall(f"{prefix}:site:{key}") == stored
        assert not client.keys(f"{prefix}:corrupt:*")
    assert memory.stats_sync().corrupt_files == 0


def test_a_newer_or_foreign_store_is_refused_on_first_use(redis_server: RedisServer,
                                                          redis_url: str) -> None:
    prefix = prefix_of(redis_url)
    with raw_client(redis_server.port) as client:
        client.hset(f"{prefix}:meta", mapping={"format": "sitememory-redis", "version": "999"})
        with pytest.raises(VersionTooNew, match="999"):
            SiteMemory(redis_url).record_visit_sync("https://a.example/", 1.0)
        with pytest.raises(VersionTooNew):
            SiteMemory(redis_url).get_profile_sync("https://a.example/")
        client.hset(f"{prefix}:meta", mapping={"format": "something-else", "version": "1"})
        with pytest.raises(StoreFormatError, match="something-else"):
            SiteMemory(redis_url).list_sites_sync()
        assert client.scard(f"{prefix}:sites") == 0


# -- 8. URLs -----------------------------------------------------------------------------------------


def test_the_password_never_shows(redis_server: RedisServer) -> None:
    memory = SiteMemory(f"redis://:secret@127.0.0.1:{redis_server.port}/0")
    assert "secret" not in repr(memory) and "secret" not in memory.location
    assert memory.location == f"redis://:***@127.0.0.1:{redis_server.port}/0"
    user = SiteMemory(f"redis://alice:secret@127.0.0.1:{redis_server.port}/0?prefix=p&lock_ttl=3")
    assert user.location == f"redis://alice:***@127.0.0.1:{redis_server.port}/0?prefix=p"


@pytest.mark.parametrize("query", ["lock_ttl=abc", "prefix=", "retries=x", "retries=-1",
                                   "lock_ttl=0", "backoff=soon", "prefix=a%20b", "prefix=a*"])
def test_bad_url_options_raise_value_error(query: str) -> None:
    with pytest.raises(ValueError):
        SiteMemory(f"redis://127.0.0.1:{free_port()}/0?{query}")


def test_two_prefixes_in_one_database_are_independent(redis_server: RedisServer) -> None:
    a = SiteMemory(f"{redis_server.url}?prefix=indep-a-{time.time_ns()}", lock_timeout=0.3)
    b = SiteMemory(f"{redis_server.url}?prefix=indep-b-{time.time_ns()}", lock_timeout=0.3)
    a.record_visit_sync("https://shared.example/", 1.0)
    a.record_visit_sync("https://only-a.example/", 1.0)
    b.record_visit_sync("https://shared.example/", 1.0)
    b.record_visit_sync("https://shared.example/", 1.0)
    assert a.list_sites_sync() == ["only-a.example", "shared.example"]
    assert b.list_sites_sync() == ["shared.example"]
    assert a.get_profile_sync("https://shared.example/").visit_count == 1
    assert b.get_profile_sync("https://shared.example/").visit_count == 2
    assert b.forget_sync("https://shared.example/")
    assert SiteMemory(a.storage_path, cache_ttl=0).get_profile_sync("shared.example").visit_count == 1
    store = a._store
    assert isinstance(store, RedisStore)
    with store.maintenance():  # a's lock does not hold b
        b.record_visit_sync("https://shared.example/", 1.0)
    assert a.location != b.location


def test_sitememory_path_may_be_a_redis_url(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setenv("SITEMEMORY_PATH", redis_url)
    memory = SiteMemory()
    assert isinstance(memory._store, RedisStore)
    assert memory.storage_path == redis_url
    memory.record_visit_sync("https://env.example/", 1.0)
    assert SiteMemory(redis_url, cache_ttl=0).get_profile_sync("env.example").visit_count == 1


# -- 9. the browser hooks write to Redis -------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_attached_context_records_visits_in_redis(
    browser: Browser, site_server: TestSite, redis_server: RedisServer, redis_url: str,
    plugins: pluggy.PluginManager,
) -> None:
    context = await browser.new_context()
    try:
        async with SiteMemory(redis_url) as memory, attach(context, memory, plugins=plugins) as site:
            await site.goto(site_server.url("/page/a"))
            await site.goto(site_server.url("/page/b"))
            await site.settle()
    finally:
        await context.close()
    key = site_key(site_server.url())
    profile = SiteMemory(redis_url, cache_ttl=0).get_profile_sync(site_server.url())
    assert (profile.visit_count, profile.success_count, profile.last_status) == (2, 2, 200)
    with raw_client(redis_server.port) as client:
        assert (raw_doc(client, prefix_of(redis_url), key) or {}).get("visit_count") == 2


# -- 10. the command line ----------------------------------------------------------------------------


def test_cli_lists_shows_and_checks_a_redis_store(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SiteMemory(redis_url) as memory:
        memory.record_visit_sync("https://shop.example/", 0.5, status=200)
        memory.record_visit_sync("https://shop.example/", 0.7, status=503)
        memory.cache_selector_sync("https://shop.example/", "search box", "#q", ["input[name=q]"])
        memory.record_visit_sync("https://slow.example/", 3.0, status=200)
    assert main(["--store", redis_url, "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["site"], r["visits"]) for r in rows] == [("shop.example", 2), ("slow.example", 1)]
    assert main(["--store", redis_url, "show", "shop.example", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["visit_count"] == 2 and doc["selectors"]["search box"]["fallbacks"] == ["input[name=q]"]
    assert main(["--store", redis_url, "show", "https://www.shop.example/x"]) == 0
    assert "input[name=q]" in capsys.readouterr().out
    assert main(["--store", redis_url, "show", "unknown.example"]) == 1
    assert "unknown.example" in capsys.readouterr().err
    main(["--store", redis_url, "doctor", "--json"])
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)}
    for name in ("store", "persistence", "sites", "locks and writes"):
        assert checks[name]["ok"], checks[name]
    assert checks["sites"]["detail"].startswith("2 ")
    # The doctor's probe left nothing behind.
    assert SiteMemory(redis_url, cache_ttl=0).list_sites_sync() == ["shop.example", "slow.example"]


def test_cli_reports_a_redis_that_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://:pw@127.0.0.1:{free_port()}/0?retries=1&backoff=0.01"
    assert main(["--store", url, "list"]) == 3
    err = capsys.readouterr().err
    assert "BackendUnavailable" in err and "pw@" not in err


def test_versions_are_never_reused_after_the_server_lost_data(
    redis_url: str, redis_server: RedisServer
) -> None:
    """A counter restored from an older snapshot must not hand out a version a client cached:
    that client would then trust a different document as "unchanged"."""
    prefix = prefix_of(redis_url)
    reader = SiteMemory(redis_url, cache_ttl=0)
    writer = SiteMemory(redis_url)
    writer.record_visit_sync("lost.example", 1.0)
    assert reader.get_profile_sync("lost.example").visit_count == 1
    with raw_client(redis_server.port) as client:
        cached = int(client.hget(f"{prefix}:site:lost.example", "ver"))
        # What a restore from an older snapshot looks like: the counter went back, the site too.
        client.set(f"{prefix}:clock", cached - 10)
        client.delete(f"{prefix}:site:lost.example")
    fresh = SiteMemory(redis_url)
    fresh.record_visit_sync("lost.example", 9.0)
    fresh.record_visit_sync("lost.example", 9.0)
    with raw_client(redis_server.port) as client:
        assert int(client.hget(f"{prefix}:site:lost.example", "ver")) > cached
    assert reader.get_profile_sync("lost.example").visit_count == 2  # not the cached document
    for memory in (reader, writer, fresh):
        memory.close_sync()


def test_migrating_from_a_redis_prefix_that_holds_no_store_is_refused(
    redis_url: str, redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", redis_url, str(tmp_path / "copy")]) == 2
    assert "no store at" in capsys.readouterr().err
    prefix = prefix_of(redis_url)
    with raw_client(redis_server.port) as client:
        assert not client.exists(f"{prefix}:meta")  # the typo created nothing


def test_url_options_that_would_change_replies_are_refused(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        SiteMemory(f"{redis_server.url}?decode_responses=true")


def test_a_forget_whose_reply_was_lost_still_reports_the_site_was_there(redis_url: str) -> None:
    """A forget is an update: sent again after a lost reply, it answers "done" (the site was
    there) and forgets nothing learned since."""
    memory = SiteMemory(redis_url)
    memory.record_visit_sync("gone.example", 1.0)
    store = memory._store
    assert isinstance(store, RedisStore)
    entry = store.cache.get("gone.example")
    assert entry is not None and entry.value is not None
    _, data = encode(Forget(time.time()).apply(entry.value, store.origin))
    once = store._commit("gone.example", str(entry.signature), data, "retry" * 6, None, False)
    assert once[0] == b"ok"
    store.cache.drop("gone.example")
    memory.record_visit_sync("gone.example", 1.0)
    again = store._commit("gone.example", str(entry.signature), data, "retry" * 6, None, False)
    assert again == [b"done"]  # the same call, as a retry sends it
    assert memory.get_profile_sync("gone.example").visit_count == 1
    memory.close_sync()


def test_a_state_cached_after_a_forget_by_another_thread_never_revives_the_site(
    redis_url: str,
) -> None:
    """Thread B commits version V, thread A forgets the site (version D > V), then B caches V:
    the cache must keep "absent"."""
    memory = SiteMemory(redis_url, cache_ttl=60)
    memory.record_visit_sync("race.example", 1.0)
    store = memory._store
    assert isinstance(store, RedisStore)
    old = memory.get_profile_sync("race.example")
    entry = store.cache.get("race.example")
    assert old is not None and entry is not None and isinstance(entry.signature, int)
    assert memory.forget_sync("race.example")
    store._remember("race.example", old, entry.signature)  # the late cache write of thread B
    assert memory.get_profile_sync("race.example") is None
    memory.close_sync()


def test_learning_a_site_again_after_forgetting_it_takes_one_round_trip(redis_url: str) -> None:
    """After our own forget, the cache knows the site is absent: the next update commits at
    once instead of conflicting with a state it guessed wrong."""
    memory = SiteMemory(redis_url)
    memory.record_visit_sync("again.example", 1.0)
    assert memory.forget_sync("again.example")
    memory.record_visit_sync("again.example", 2.0)
    assert memory.stats_sync().conflicts == 0
    assert memory.get_profile_sync("again.example").visit_count == 1
    memory.close_sync()


def test_a_site_remembers_the_ids_of_its_last_32_updates(redis_url: str) -> None:
    """README: a site keeps the ids of its last 32 updates; an older id is not recognised."""
    memory = SiteMemory(redis_url)
    memory.record_visit_sync("ops.example", 1.0)
    store = memory._store
    assert isinstance(store, RedisStore)
    ops = [f"{n:032x}" for n in range(KEEP_OPS + 1)]
    sent = []
    for op in ops:
        entry = store.cache.get("ops.example")
        assert entry is not None and entry.value is not None
        _, data = encode(VisitSeen(1.0, time.time()).apply(entry.value, store.origin))
        reply = store._commit("ops.example", str(entry.signature), data, op, None, True)
        assert reply[0] == b"ok", reply
        sent.append((str(entry.signature), data))
        store.cache.drop("ops.example")
        memory.get_profile_sync("ops.example")  # caches the version just committed
    assert KEEP_OPS == 32
    # The oldest id has been dropped: its retry is not recognised (its version is stale: conflict).
    assert store._commit("ops.example", *sent[0], ops[0], None, True)[0] == b"conflict"
    assert store._commit("ops.example", *sent[1], ops[1], None, True) == [b"done"]
    assert memory.get_profile_sync("ops.example").visit_count == 1 + KEEP_OPS + 1
    memory.close_sync()
