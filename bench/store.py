"""Benchmark of the sitememory store against the seed's design, diskcache and sqlite3, in one run.

What it measures, on the machine it runs on:

1. cached reads: ``get_profile_sync`` and ``await get_profile`` served from the in-memory cache;
2. a revalidated read (``cache_ttl=0``, file unchanged: one ``stat``) and an uncached read (a new
   ``SiteMemory`` reading a site for the first time: open, read, parse), over a few thousand sites;
   plus the async uncached read (the library's worker thread) next to the same read with aiofiles;
3. ``record_visit_sync`` latency, durable (``durability="fsync"``) and not (``"none"``);
4. the floor: a bare write + fsync + rename + fsync of the directory of the same bytes (an actual
   site file written by the library), in the same directory layout;
5. the cost of one update in a 10-site store against a 100,000-site store, and the same for the
   seed's single-file design;
6. aggregate read-modify-write throughput with 1, 2 and 4 processes on 4 shared sites, write-through
   and write-behind, each run checked against the final ``visit_count`` on disk;
7. the same read-modify-write of the same JSON profile with (a) the seed's design (one JSON file
   ``{domain: profile}`` rewritten whole under one global flock), (b) diskcache
   (``cache.transact()``) and (c) sqlite3 in WAL mode (``BEGIN IMMEDIATE``, ``synchronous`` FULL
   and NORMAL);
8. lock waits under 4-process contention on one site, and the lock hand-off latency (a holder
   releases at ``t``, a waiter in another process holds it at ``t2``) of ``ReadWriteLock`` against
   ``portalocker.Lock(path, timeout=5)``, which polls.

Latencies are timed per call with ``time.perf_counter_ns`` after a warm-up and reported as median
and p99; systems compared with each other are measured in interleaved rounds so that the machine's
noise falls on all of them alike. Processes are started with the ``spawn`` method, once, and reused.

Run::

    python bench/store.py [--quick] [--dir DIR]

``--quick`` uses smaller counts (a smoke test, well under a minute); the default run takes a few
minutes. Everything is written under a temporary directory (in ``DIR`` if given), removed at the
end. The exit code is 0 whatever the results: this is a benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import functools
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import aiofiles
import diskcache
import portalocker
from _report import (
    US,
    Lat,
    arguments,
    fmt_rate,
    fmt_us,
    import_sites,
    interleave,
    load_time,
    machine,
    print_table,
    ratio,
    say,
    settle,
    url_of,
    visit_counts,
)

from sitememory_plugin import ReadWriteLock, SiteMemory, SiteProfile

T = TypeVar("T")
Doc = dict[str, Any]
Durability = Literal["fsync", "none"]

#: Load times a profile keeps (the library's window); the benchmark's documents are full.
LOAD_WINDOW = 100
#: The shared sites of the throughput runs.
SHARED_SITES = 4
PROC_COUNTS = (1, 2, 4)


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Sample counts and sizes of one run."""

    mode: str
    cached_reads: int  # timed calls of each cached read
    read_sites: int  # sites read uncached, then revalidated
    aio_sites: int  # sites read by the async library call and by aiofiles
    rounds: int  # interleaved rounds of single-process updates
    per_round: int  # timed calls per system per round
    big_sites: int  # the large store (ours and the seed's)
    seed_big_updates: int  # updates timed on the seed's large file (each rewrites all of it)
    duration: float  # seconds of each throughput run
    handoffs: int  # hand-offs timed for ReadWriteLock
    poll_handoffs: int  # hand-offs timed for portalocker (each waits up to its 0.25 s poll)


DEFAULT = Config("default", 20_000, 2_000, 400, 40, 25, 100_000, 3, 2.0, 200, 16)
QUICK = Config("quick", 5_000, 400, 100, 10, 12, 10_000, 2, 0.5, 40, 6)


# -- timing ------------------------------------------------------------------------------------


def time_each(fn: Callable[[T], object], items: Iterable[T]) -> list[int]:
    """Nanoseconds of ``fn(item)`` for each item, timed one call at a time."""
    out = []
    clock = time.perf_counter_ns
    for item in items:
        start = clock()
        fn(item)
        out.append(clock() - start)
    return out


# -- documents and stores -----------------------------------------------------------------------


def site_file(root: Path, key: str) -> Path:
    """The document of ``key`` in a store (``<root>/sites/XX/<key>.json``)."""
    return next((root / "sites").glob(f"*/{key}.json"))


def site_files(root: Path) -> dict[str, Path]:
    """Every site document of a store by key, from one scan of the shard directories."""
    found = {}
    for shard in os.scandir(root / "sites"):
        for entry in os.scandir(shard.path):
            if entry.name.endswith(".json") and not entry.name.startswith("."):
                found[entry.name.removesuffix(".json")] = Path(entry.path)
    return found


def make_template(work: Path) -> bytes:
    """Write one realistic, full site through the library and return its document's bytes."""
    root = work / "template"
    mem = SiteMemory(root, durability="none")
    url = url_of("template.example")
    timings = {"ttfb": 0.08, "dom_content_loaded": 0.6, "load": 1.1}
    for i in range(LOAD_WINDOW):
        mem.record_visit_sync(url, load_time(i), status=200, timings=timings)
    mem.cache_selector_sync(url, "search box", "input[name=q]", ["#search", "form[role=search] input"])
    mem.record_selector_result_sync(url, "search box", "input[name=q]", True)
    mem.record_quirk_sync(url, "cookie banner covers the search box", "click #accept-cookies first")
    mem.cache_action_pattern_sync(url, "search", [
        {"action": "click", "selector": "#accept-cookies"},
        {"action": "type", "selector": "input[name=q]", "text": "{query}"},
        {"action": "press", "key": "Enter"},
    ])
    mem.close_sync()
    return site_file(root, "template.example").read_bytes()


def rich_doc(template: Doc, key: str) -> Doc:
    return {**copy.deepcopy(template), "domain": key}


def small_doc(template: Doc, key: str) -> Doc:
    """A site seen once: what most of a large store holds."""
    ((origin, entry),) = copy.deepcopy(template["visits"]).items()
    once = {**entry, "visits": 1, "succeeded": 1, "failed": 0, "measured": 1, "load_times_ms": [250],
            "recent_outcomes": "1"}
    return {**template, "domain": key, "visit_count": 1, "success_count": 1, "visits": {origin: once},
            "selectors": {}, "quirks": [], "patterns": {}}


def bump(doc: Doc, duration: float) -> None:
    """The comparators' read-modify-write of a profile: what ``record_visit`` does to it (the
    totals, and the one store's entry of the ledger)."""
    doc["visit_count"] += 1
    doc["success_count"] += 1
    doc["last_visit"] = time.time()
    doc["last_status"] = 200
    (entry,) = doc["visits"].values()
    entry["visits"] += 1
    entry["succeeded"] += 1
    entry["measured"] += 1
    entry["last_visit"] = doc["last_visit"]
    entry["load_times_ms"] = [*entry["load_times_ms"], round(duration * 1000)][-LOAD_WINDOW:]
    entry["recent_outcomes"] = (entry["recent_outcomes"] + "1")[-20:]


def bare_write(path: Path, data: bytes) -> None:
    """The floor: the library's durable write sequence with nothing around it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- the systems compared -----------------------------------------------------------------------


@dataclass(frozen=True)
class LockStats:
    waits: int
    p50: float | None
    p99: float | None
    max: float | None


class Updater(Protocol):
    def update(self, key: str, duration: float) -> None: ...

    def close(self) -> LockStats | None: ...


class Backend(Protocol):
    """A store under test: set it up, open it (in any process), and read back its counts."""

    @property
    def label(self) -> str: ...

    def create(self, root: Path, docs: Mapping[str, Doc]) -> None: ...

    def open(self, root: Path) -> Updater: ...

    def counts(self, root: Path, keys: Sequence[str]) -> dict[str, int]: ...


class OursUpdater:
    def __init__(self, mem: SiteMemory) -> None:
        self.mem = mem

    def update(self, key: str, duration: float) -> None:
        self.mem.record_visit_sync(url_of(key), duration, status=200)

    def close(self) -> LockStats:
        self.mem.close_sync()
        s = self.mem.stats_sync()
        return LockStats(s.lock_waits, s.lock_wait_p50, s.lock_wait_p99, s.lock_wait_max)


@dataclass(frozen=True)
class Ours:
    label: str
    durability: Durability = "fsync"
    flush_interval: float | None = None

    def create(self, root: Path, docs: Mapping[str, Doc]) -> None:
        """Write the documents through the library's import of an export (JSON Lines)."""
        root.parent.mkdir(parents=True, exist_ok=True)
        import_sites(root, docs.values(), root.with_name(root.name + "-import.jsonl"))

    def open(self, root: Path) -> OursUpdater:
        mem = SiteMemory(root, durability=self.durability, flush_interval=self.flush_interval)
        mem.initialize_sync()
        return OursUpdater(mem)

    def counts(self, root: Path, keys: Sequence[str]) -> dict[str, int]:
        return visit_counts(root, keys)


class SeedUpdater:
    def __init__(self, root: Path) -> None:
        self.path = root / "memory.json"
        self.lock_fd = os.open(root / "memory.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def update(self, key: str, duration: float) -> None:
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            data: dict[str, Doc] = json.loads(self.path.read_bytes())
            bump(data[key], duration)
            tmp = self.path.with_name("memory.json.tmp")
            with open(tmp, "wb") as f:
                f.write(json.dumps(data).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.lock_fd)


@dataclass(frozen=True)
class Seed:
    """(a) The seed's design: one JSON file ``{domain: profile}``, rewritten whole per update."""

    label: str = "seed (a)"

    def create(self, root: Path, docs: Mapping[str, Doc]) -> None:
        root.mkdir(parents=True)
        (root / "memory.json").write_text(json.dumps(docs))

    def open(self, root: Path) -> SeedUpdater:
        return SeedUpdater(root)

    def counts(self, root: Path, keys: Sequence[str]) -> dict[str, int]:
        data = json.loads((root / "memory.json").read_bytes())
        return {key: int(data[key]["visit_count"]) for key in keys}


class CacheUpdater:
    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def update(self, key: str, duration: float) -> None:
        with self.cache.transact():
            doc = self.cache.get(key)
            bump(doc, duration)
            self.cache.set(key, doc)

    def close(self) -> None:
        self.cache.close()


@dataclass(frozen=True)
class DiskCache:
    """(b) diskcache: the profile dict as a value, read-modify-write inside ``transact()``."""

    label: str
    synchronous: int = 1  # diskcache's default sqlite_synchronous (NORMAL)

    def _cache(self, root: Path) -> Any:
        return diskcache.Cache(str(root), sqlite_synchronous=self.synchronous)

    def create(self, root: Path, docs: Mapping[str, Doc]) -> None:
        cache = self._cache(root)
        for key, doc in docs.items():
            cache.set(key, doc)
        cache.close()

    def open(self, root: Path) -> CacheUpdater:
        return CacheUpdater(self._cache(root))

    def counts(self, root: Path, keys: Sequence[str]) -> dict[str, int]:
        cache = self._cache(root)
        out = {key: int(cache.get(key)["visit_count"]) for key in keys}
        cache.close()
        return out


class SqliteUpdater:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def update(self, key: str, duration: float) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            (text,) = db.execute("SELECT doc FROM sites WHERE key = ?", (key,)).fetchone()
            doc: Doc = json.loads(text)
            bump(doc, duration)
            db.execute("UPDATE sites SET doc = ? WHERE key = ?", (json.dumps(doc), key))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()


@dataclass(frozen=True)
class Sqlite:
    """(c) sqlite3, WAL mode, one row per site (key, JSON text), ``BEGIN IMMEDIATE`` updates."""

    label: str
    synchronous: Literal["FULL", "NORMAL"] = "FULL"

    def _connect(self, root: Path) -> sqlite3.Connection:
        db = sqlite3.connect(root / "store.db", timeout=60, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        return db

    def create(self, root: Path, docs: Mapping[str, Doc]) -> None:
        root.mkdir(parents=True)
        db = self._connect(root)
        db.execute("CREATE TABLE sites (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        db.executemany("INSERT INTO sites VALUES (?, ?)", [(k, json.dumps(d)) for k, d in docs.items()])
        db.close()

    def open(self, root: Path) -> SqliteUpdater:
        return SqliteUpdater(self._connect(root))

    def counts(self, root: Path, keys: Sequence[str]) -> dict[str, int]:
        db = self._connect(root)
        out = {k: int(json.loads(db.execute("SELECT doc FROM sites WHERE key = ?", (k,)).fetchone()[0])
                      ["visit_count"]) for k in keys}
        db.close()
        return out


OURS_WT = Ours("ours write-through")
OURS_WB = Ours("ours write-behind 0.05 s", flush_interval=0.05)
OURS_NONE = Ours("ours durability=none", durability="none")
SEED = Seed()
DISKCACHE = DiskCache("diskcache (b)")
DISKCACHE_FULL = DiskCache("diskcache FULL", synchronous=2)
SQLITE_FULL = Sqlite("sqlite FULL (c)", "FULL")
SQLITE_NORMAL = Sqlite("sqlite NORMAL (c)", "NORMAL")
PARALLEL: tuple[Backend, ...] = (OURS_WT, OURS_WB, SEED, DISKCACHE, SQLITE_FULL, SQLITE_NORMAL)


# -- worker processes ---------------------------------------------------------------------------


class Job(Protocol):
    def run(self, conn: Connection) -> object: ...


def serve(conn: Connection) -> None:
    """A worker process: run the jobs the parent sends until it sends ``None``."""
    conn.send(("up", os.getpid()))
    while (job := conn.recv()) is not None:
        try:
            result = job.run(conn)
        except BaseException:
            conn.send(("error", traceback.format_exc()))
        else:
            conn.send(("done", result))


def expect(conn: Connection, tag: str) -> Any:
    kind, payload = conn.recv()
    if kind != tag:
        raise RuntimeError(f"worker sent {kind!r} instead of {tag!r}:\n{payload}")
    return payload


def wait_until(deadline_ns: int) -> None:
    while (left := deadline_ns - time.monotonic_ns()) > 0:
        time.sleep(left / 1e9)


@dataclass(frozen=True)
class WorkerResult:
    counts: dict[str, int]
    start_ns: int
    stop_ns: int  # the last update returned
    end_ns: int  # close returned (write-behind: everything flushed)
    stats: LockStats | None


@dataclass(frozen=True)
class ThroughputJob:
    """Update ``keys`` round-robin for ``duration`` seconds from a common start, then close."""

    backend: Backend
    root: str
    keys: tuple[str, ...]
    duration: float
    index: int

    def run(self, conn: Connection) -> WorkerResult:
        updater = self.backend.open(Path(self.root))
        conn.send(("ready", None))
        start: int = conn.recv()
        wait_until(start)
        deadline = start + int(self.duration * 1e9)
        counts = [0] * len(self.keys)
        i = self.index
        n = len(self.keys)
        clock = time.monotonic_ns
        try:
            while clock() < deadline:
                k = i % n
                updater.update(self.keys[k], load_time(i))
                counts[k] += 1
                i += 1
        finally:
            stop = clock()
            stats = updater.close()  # write-behind: flushes; counted in the time
        return WorkerResult(dict(zip(self.keys, counts, strict=True)), start, stop, clock(), stats)


@dataclass(frozen=True)
class BuildJob:
    """Create sites ``site-<i>.example`` for ``i`` in ``range(lo, hi)`` (one visit each, no fsync)."""

    root: str
    lo: int
    hi: int

    def run(self, conn: Connection) -> int:
        mem = SiteMemory(self.root, durability="none")
        for i in range(self.lo, self.hi):
            mem.record_visit_sync(url_of(big_key(i)), 0.25, status=200)
        mem.close_sync()
        return self.hi - self.lo


def big_key(i: int) -> str:
    return f"site-{i:06d}.example"


class Holder(Protocol):
    def acquire(self) -> object: ...

    def release(self) -> object: ...


def make_lock(kind: str, path: str) -> Holder:
    """An exclusive lock on ``path``: ours, or portalocker's polling ``Lock`` with its defaults."""
    if kind == "ours":
        return ReadWriteLock(path, timeout=5).exclusive()
    return portalocker.Lock(path, timeout=5)


@dataclass(frozen=True)
class HandoffJob:
    """The waiting side of the hand-off: on each "go", acquire, note the times, release."""

    kind: str
    path: str

    def run(self, conn: Connection) -> int:
        conn.send(("ready", None))
        done = 0
        while conn.recv() == "go":
            lock = make_lock(self.kind, self.path)
            asked = time.monotonic_ns()
            lock.acquire()
            got = time.monotonic_ns()
            lock.release()
            conn.send((asked, got))
            done += 1
        return done


class Pool:
    """Worker processes started once with ``spawn`` and reused by every multi-process figure."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for _ in range(size):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(child,), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        for conn in self.conns:
            expect(conn, "up")

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()

    def run_all(self, jobs: Sequence[Job]) -> list[Any]:
        """Run one job per worker (no handshake) and return their results."""
        conns = self.conns[: len(jobs)]
        for conn, job in zip(conns, jobs, strict=True):
            conn.send(job)
        return [expect(conn, "done") for conn in conns]

    def throughput(self, backend: Backend, root: Path, keys: Sequence[str], procs: int,
                   duration: float) -> list[WorkerResult]:
        """Run ``procs`` updaters from one common start time; raise if any of them failed."""
        conns = self.conns[:procs]
        for i, conn in enumerate(conns):
            conn.send(ThroughputJob(backend, str(root), tuple(keys), duration, i))
        replies = [conn.recv() for conn in conns]
        start = time.monotonic_ns() + 20_000_000
        ready = [c for c, (kind, _) in zip(conns, replies, strict=True) if kind == "ready"]
        for conn in ready:
            conn.send(start)
        results = [conn.recv() for conn in ready]
        errors = [p for k, p in [*replies, *results] if k == "error"]
        if errors:
            raise RuntimeError(f"{backend.label}: worker failed:\n{errors[0]}")
        return [payload for _, payload in results]


# -- 1, 2: reads --------------------------------------------------------------------------------


@dataclass
class Results:
    """Every figure of the run, filled in section by section."""

    doc_bytes: int = 0
    cached_sync: Lat | None = None
    cached_async: Lat | None = None
    revalidated: Lat | None = None
    uncached: Lat | None = None
    read_check: str = ""
    async_uncached: Lat | None = None
    aiofiles_read: Lat | None = None
    updates: dict[str, Lat] = field(default_factory=dict)
    floor: Lat | None = None
    scale: dict[str, Lat] = field(default_factory=dict)
    scale_build_s: float = 0.0
    big_open_ms: float = 0.0
    seed_big: Lat | None = None
    throughput: dict[tuple[str, int], float] = field(default_factory=dict)
    verified: dict[tuple[str, int], bool] = field(default_factory=dict)
    contention: list[LockStats] = field(default_factory=list)
    contention_rate: float = 0.0
    contention_ok: bool = False
    handoff: dict[str, Lat] = field(default_factory=dict)
    handoff_skipped: dict[str, int] = field(default_factory=dict)
    diskcache_settings: str = ""


def bench_reads(cfg: Config, work: Path, template: Doc, res: Results) -> None:
    root = work / "reads"
    keys = [f"rich-{i:05d}.example" for i in range(cfg.read_sites)]
    OURS_WT.create(root, {k: rich_doc(template, k) for k in keys})
    settle()
    time.sleep(0.2)  # files written < 100 ms before a read are "racy": never trusted on stat alone
    urls = [url_of(k) for k in keys]

    mem = SiteMemory(root, cache_ttl=0)
    mem.initialize_sync()
    res.uncached = Lat.of(time_each(mem.get_profile_sync, urls))
    res.revalidated = Lat.of(time_each(mem.get_profile_sync, urls))
    s = mem.stats_sync()
    res.read_check = (f"misses={s.cache_misses} revalidations={s.cache_revalidations} "
                      f"(expected {len(urls)} each)")
    mem.close_sync()
    say(f"  uncached read (new SiteMemory, open+read+parse), {len(urls)} sites: {res.uncached}")
    say(f"  revalidated read (cache_ttl=0, unchanged file: stat), same sites: {res.revalidated}")
    say(f"  stats check: {res.read_check}")

    mem = SiteMemory(root)
    hot = urls[:10]
    for u in hot * 200:
        mem.get_profile_sync(u)
    cycle = itertools.islice(itertools.cycle(hot), cfg.cached_reads)
    res.cached_sync = Lat.of(time_each(mem.get_profile_sync, cycle))
    res.cached_async = Lat.of(asyncio.run(cached_async(mem, hot, cfg.cached_reads)))
    mem.close_sync()
    say(f"  cached read, get_profile_sync (10 hot sites, {cfg.cached_reads} calls): {res.cached_sync}")
    say(f"  cached read, await get_profile: {res.cached_async}")

    paths = site_files(root)
    items = [(url_of(k), paths[k]) for k in keys[: cfg.aio_sites + 1]]
    lib, aio = asyncio.run(async_uncached(SiteMemory(root), items))
    res.async_uncached, res.aiofiles_read = Lat.of(lib), Lat.of(aio)
    say(f"  async uncached read, library (one worker-thread hop), {len(lib)} sites: {res.async_uncached}")
    say(f"  async uncached read, aiofiles open+read (+ same parse): {res.aiofiles_read}")


async def cached_async(mem: SiteMemory, urls: Sequence[str], n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for i in range(n + 1000):
        url = urls[i % len(urls)]
        start = clock()
        await mem.get_profile(url)
        out.append(clock() - start)
    return out[1000:]


async def async_uncached(mem: SiteMemory, items: Sequence[tuple[str, Path]]) -> tuple[list[int], list[int]]:
    """Each site read for the first time by the library (worker thread) and with aiofiles."""
    clock = time.perf_counter_ns
    lib, aio = [], []
    await mem.get_profile(items[0][0])  # starts the worker threads; not timed
    for url, path in items[1:]:
        start = clock()
        await mem.get_profile(url)
        lib.append(clock() - start)
        start = clock()
        async with aiofiles.open(path, "rb") as f:
            data = await f.read()
        SiteProfile.from_dict(json.loads(data))
        aio.append(clock() - start)
    await mem.close()
    return lib, aio


# -- 3, 4, 7: single-process updates ------------------------------------------------------------


def bench_updates(cfg: Config, work: Path, template: Doc, res: Results) -> None:
    keys = [f"rich-{i:05d}.example" for i in range(10)]
    key = keys[0]
    docs = {k: rich_doc(template, k) for k in keys}
    others: list[Backend] = [SEED, DISKCACHE, DISKCACHE_FULL, SQLITE_FULL, SQLITE_NORMAL]
    roots = {b.label: work / "single" / b.label.replace(" ", "_") for b in [OURS_WT, *others]}
    for backend in [OURS_WT, *others]:
        backend.create(roots[backend.label], docs)
    ours = roots[OURS_WT.label]
    updaters: dict[str, Updater] = {
        "ours fsync": OURS_WT.open(ours),
        "ours none": OURS_NONE.open(ours),
        **{b.label: b.open(roots[b.label]) for b in others},
    }
    updaters["ours fsync"].update(key, 0.5)
    data = site_file(ours, key).read_bytes()
    res.doc_bytes = len(data)
    floor = work / "floor" / site_file(ours, key).relative_to(ours)
    floor.parent.mkdir(parents=True)
    floor.write_bytes(data)
    cache = updaters[DISKCACHE.label]
    assert isinstance(cache, CacheUpdater)
    res.diskcache_settings = (f"diskcache {diskcache.__version__} Cache defaults: sqlite_journal_mode="
                              f"{cache.cache.sqlite_journal_mode}, sqlite_synchronous="
                              f"{cache.cache.sqlite_synchronous} (1 = NORMAL), values pickled")
    counter = itertools.count()

    def op(updater: Updater) -> Callable[[], object]:
        return lambda: updater.update(key, load_time(next(counter)))

    settle()
    ops: dict[str, Callable[[], object]] = {name: op(u) for name, u in updaters.items()}
    ops["floor"] = functools.partial(bare_write, floor, data)
    samples = interleave(ops, cfg.rounds, cfg.per_round)
    for updater in updaters.values():
        updater.close()
    res.floor = Lat.of(samples.pop("floor"))
    res.updates = {name: Lat.of(ns) for name, ns in samples.items()}
    say(f"  site document: {res.doc_bytes} bytes; {cfg.rounds} interleaved rounds x {cfg.per_round} calls")
    say(f"  {res.diskcache_settings}")
    for name, lat in [("floor: write+fsync+rename+fsync dir", res.floor), *res.updates.items()]:
        say(f"  {name:<40} {lat}")


# -- 6, 8: processes ----------------------------------------------------------------------------


def bench_throughput(cfg: Config, pool: Pool, work: Path, template: Doc, res: Results) -> None:
    keys = [f"shared-{i}.example" for i in range(SHARED_SITES)]
    docs = {k: rich_doc(template, k) for k in keys}
    initial = int(template["visit_count"])
    for procs in PROC_COUNTS:
        for number, backend in enumerate(PARALLEL):
            root = work / "tp" / f"{number}-{procs}"
            backend.create(root, docs)
            settle()
            results = pool.throughput(backend, root, keys, procs, cfg.duration)
            rate, ok, detail = summarize(backend, root, keys, initial, results)
            res.throughput[backend.label, procs] = rate
            res.verified[backend.label, procs] = ok
            say(f"  {backend.label:<26} {procs} proc: {fmt_rate(rate):>12}  {detail}")
            shutil.rmtree(root)


def summarize(backend: Backend, root: Path, keys: Sequence[str], initial: int,
              results: Sequence[WorkerResult]) -> tuple[float, bool, str]:
    """Aggregate updates/s over the common window, and whether the counts on disk add up."""
    done = {k: sum(r.counts[k] for r in results) for k in keys}
    total = sum(done.values())
    window = (max(r.end_ns for r in results) - min(r.start_ns for r in results)) / 1e9
    final = backend.counts(root, keys)
    ok = all(final[k] == initial + done[k] for k in keys)
    close = max((r.end_ns - r.stop_ns) / 1e9 for r in results)
    detail = f"{total:>8} updates in {window:.2f} s (close: {close:.2f} s), final visit_count " + (
        "OK" if ok else f"MISMATCH: {final} != {{k: {initial} + {done}}}")
    return total / window, ok, detail


def bench_locks(cfg: Config, pool: Pool, work: Path, template: Doc, res: Results) -> None:
    key = "contended.example"
    root = work / "contended"
    OURS_WT.create(root, {key: rich_doc(template, key)})
    settle()
    results = pool.throughput(OURS_WT, root, [key], 4, cfg.duration)
    rate, ok, detail = summarize(OURS_WT, root, [key], int(template["visit_count"]), results)
    res.contention_rate, res.contention_ok = rate, ok
    res.contention = [r.stats for r in results if r.stats is not None]
    say(f"  4 procs, write-through, ONE site: {fmt_rate(rate)}  {detail}")
    for i, s in enumerate(res.contention):
        say(f"    proc {i}: {s.waits} contended acquisitions, wait p50 {ms(s.p50)} p99 {ms(s.p99)} "
            f"max {ms(s.max)}")
    for kind, count, hold in (("ours", cfg.handoffs, (0.003, 0.008)),
                              ("portalocker", cfg.poll_handoffs, (0.003, 0.253))):
        lat, skipped = handoff(pool, kind, work / f"handoff-{kind}.lock", count, hold)
        res.handoff[kind], res.handoff_skipped[kind] = Lat.of(lat), skipped
        say(f"  hand-off {kind:<12} ({len(lat)} samples, holder releases after a random "
            f"{hold[0] * 1000:.0f}-{hold[1] * 1000:.0f} ms hold): {res.handoff[kind]}"
            + (f" ({skipped} skipped: waiter arrived after the release)" if skipped else ""))


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.2f} ms"


def handoff(pool: Pool, kind: str, path: Path, samples: int,
            hold: tuple[float, float]) -> tuple[list[int], int]:
    """Release-to-acquire latency across processes, on the system-wide monotonic clock."""
    conn = pool.conns[0]
    conn.send(HandoffJob(kind, str(path)))
    expect(conn, "ready")
    out, skipped = [], 0
    for _ in range(samples):
        lock = make_lock(kind, str(path))
        lock.acquire()
        conn.send("go")
        time.sleep(random.uniform(*hold))
        released = time.monotonic_ns()
        lock.release()
        asked, got = conn.recv()
        if asked < released:
            out.append(got - released)
        else:
            skipped += 1
    conn.send("stop")
    expect(conn, "done")
    return out, skipped


# -- 5: store size ------------------------------------------------------------------------------


def bench_scale(cfg: Config, pool: Pool, work: Path, template: Doc, res: Results) -> None:
    """One update in a 10-site store against a big one (ours), then the seed's single file."""
    key = "rich-00000.example"
    small, big = work / "scale-10", work / "scale-big"
    OURS_WT.create(small, {k: rich_doc(template, k) for k in [f"rich-{i:05d}.example" for i in range(10)]})
    OURS_WT.create(big, {key: rich_doc(template, key)})
    build_big(cfg, pool, big, res)
    updaters = {f"{b.durability} {label}": b.open(root) for b in (OURS_WT, OURS_NONE)
                for label, root in (("10", small), ("big", big))}
    counter = itertools.count()

    def op(updater: Updater) -> Callable[[], object]:
        return lambda: updater.update(key, load_time(next(counter)))

    samples = interleave({name: op(u) for name, u in updaters.items()}, cfg.rounds // 2, cfg.per_round)
    for updater in updaters.values():
        updater.close()
    res.scale = {name: Lat.of(ns) for name, ns in samples.items()}
    for name, lat in res.scale.items():
        say(f"  record_visit_sync {name.replace('big', f'{cfg.big_sites:,}'):<16} sites: {lat}")
    shutil.rmtree(big)
    seed_growth(cfg, work, template, key, res)


def build_big(cfg: Config, pool: Pool, big: Path, res: Results) -> None:
    """Fill ``big`` up to ``cfg.big_sites`` sites from two processes, and time a first open."""
    started = time.perf_counter()
    n = cfg.big_sites - 1
    pool.run_all([BuildJob(str(big), 0, n // 2), BuildJob(str(big), n // 2, n)])
    res.scale_build_s = time.perf_counter() - started
    settle()
    files = len(site_files(big))
    say(f"  built {files:,} sites in {res.scale_build_s:.1f} s (2 processes, durability='none')")
    mem = SiteMemory(big)
    started = time.perf_counter()
    mem.initialize_sync()
    res.big_open_ms = (time.perf_counter() - started) * 1000
    mem.close_sync()
    say(f"  first call on a new SiteMemory of the big store (open: scan for temp files): "
        f"{res.big_open_ms:.1f} ms")


def seed_growth(cfg: Config, work: Path, template: Doc, key: str, res: Results) -> None:
    """A few updates of one site in the seed's single file holding ``cfg.big_sites`` sites."""
    seed_root = work / "seed-big"
    docs = {big_key(i): small_doc(template, big_key(i)) for i in range(cfg.big_sites - 1)}
    docs[key] = rich_doc(template, key)
    SEED.create(seed_root, docs)
    del docs
    size = (seed_root / "memory.json").stat().st_size
    settle()
    seed = SEED.open(seed_root)
    res.seed_big = Lat.of(time_each(lambda i: seed.update(key, load_time(i)), range(cfg.seed_big_updates)))
    seed.close()
    say(f"  seed (a) update at {cfg.big_sites:,} sites ({size / 1e6:.0f} MB file, "
        f"{cfg.seed_big_updates} updates): {res.seed_big}")
    shutil.rmtree(seed_root)


# -- report -------------------------------------------------------------------------------------


class Verdicts:
    """The targets checked, in order; ``check`` returns the table's result cell."""

    def __init__(self) -> None:
        self.checked: list[tuple[str, bool]] = []

    def check(self, text: str, passed: bool) -> str:
        self.checked.append((text, passed))
        return "PASS" if passed else "FAIL"


Row = list[str]


def read_rows(res: Results, v: Verdicts) -> list[Row]:
    assert res.cached_sync and res.cached_async and res.revalidated and res.uncached
    assert res.async_uncached and res.aiofiles_read
    cached = res.cached_sync.median_us
    return [
        ["1 cached read, get_profile_sync", str(res.cached_sync), "-", "-", f"median <= 5 {US}",
         v.check(f"sync cached read median {fmt_us(cached)} <= 5 {US}", cached <= 5)],
        ["1 cached read, await get_profile", str(res.cached_async), "-", "-", "-", "info"],
        ["2 revalidated read (ttl=0: stat)", str(res.revalidated), "-", "-", "-", "info"],
        ["2 uncached read (open+read+parse)", str(res.uncached), "-", "-", "-", "info"],
        ["2 async uncached read (worker thread)", str(res.async_uncached), f"aiofiles: {res.aiofiles_read}",
         ratio(res.async_uncached.median_us, res.aiofiles_read.median_us), "-", "info"],
    ]


def update_rows(cfg: Config, res: Results, v: Verdicts) -> list[Row]:
    assert res.floor and res.seed_big
    durable, none, floor = res.updates["ours fsync"], res.updates["ours none"], res.floor
    over_floor = ratio(durable.median_us, floor.median_us)
    big = f"{cfg.big_sites:,}"
    s10, sbig, n10, nbig = (res.scale[k] for k in ("fsync 10", "fsync big", "none 10", "none big"))
    seed10 = res.updates[SEED.label]
    growth = ratio(sbig.median_us, s10.median_us)
    return [
        ["3-4 record_visit_sync durable vs floor", str(durable), f"floor: {floor}", over_floor,
         "<= 1.5x floor",
         v.check(f"durable update median {fmt_us(durable.median_us)} <= 1.5 x floor "
                 f"{fmt_us(floor.median_us)} ({over_floor})", durable.median_us <= 1.5 * floor.median_us)],
        ["3 record_visit_sync, durability=none", str(none), f"floor: {floor}",
         ratio(none.median_us, floor.median_us), "-", "info"],
        [f"5 durable update, {big} vs 10 sites", str(sbig), f"10 sites: {s10}", growth, "<= 1.5",
         v.check(f"durable update at {big} sites / at 10 sites = {growth} <= 1.5",
                 sbig.median_us <= 1.5 * s10.median_us)],
        [f"5 none update, {big} vs 10 sites", str(nbig), f"10 sites: {n10}",
         ratio(nbig.median_us, n10.median_us), "-", "info"],
        [f"5 seed (a) update, {big} vs 10 sites", "-", f"{big}: {res.seed_big}; 10: {seed10}",
         ratio(res.seed_big.median_us, seed10.median_us), "(grows)", "info"],
    ]


def process_rows(res: Results, v: Verdicts) -> list[Row]:
    rows = []
    for procs in PROC_COUNTS:
        wb, dc = res.throughput[OURS_WB.label, procs], res.throughput[DISKCACHE.label, procs]
        passed = v.check(f"write-behind {procs} proc {fmt_rate(wb)} >= diskcache {fmt_rate(dc)}", wb >= dc)
        rows.append([f"6 write-behind throughput, {procs} proc", fmt_rate(wb), f"diskcache: {fmt_rate(dc)}",
                     ratio(wb, dc), ">= diskcache", passed])
    for procs in PROC_COUNTS:
        wt, sq = res.throughput[OURS_WT.label, procs], res.throughput[SQLITE_FULL.label, procs]
        rows.append([f"6 write-through throughput, {procs} proc", fmt_rate(wt),
                     f"sqlite FULL: {fmt_rate(sq)}", ratio(wt, sq), "-", "info"])
    verified, runs = sum(res.verified.values()) + res.contention_ok, len(res.verified) + 1
    rows.append(["6 runs verified (visit_count == updates)", f"{verified}/{runs} OK", "-", "-", "all OK",
                 v.check(f"{verified}/{runs} multi-process runs verified", verified == runs)])
    p50 = statistics.median([s.p50 for s in res.contention if s.p50 is not None] or [math.nan])
    p99 = max([s.p99 for s in res.contention if s.p99 is not None] or [math.nan])
    rows.append(["8 lock wait, 4 procs on 1 site: p50, p99", f"{fmt_us(p50 * 1e6)} / {fmt_us(p99 * 1e6)}",
                 f"(median of procs' p50, max of p99s); {fmt_rate(res.contention_rate)}", "-", "-", "info"])
    ours, poll = res.handoff["ours"], res.handoff["portalocker"]
    rows.append(["8 lock hand-off (release -> acquired)", str(ours), f"portalocker.Lock: {poll}",
                 ratio(ours.median_us, poll.median_us), "median <= 5 ms",
                 v.check(f"lock hand-off median {fmt_us(ours.median_us)} <= 5 ms (portalocker "
                         f"{fmt_us(poll.median_us)})", ours.median_us <= 5000)])
    return rows


def report(cfg: Config, res: Results) -> None:
    v = Verdicts()
    rows = [*read_rows(res, v), *update_rows(cfg, res, v), *process_rows(res, v)]
    say("\nRESULTS (latency cells: median / p99)")
    print_table(["figure", "ours", "comparator", "ratio", "target", "result"], rows)
    side_by_side(res)
    say("\nTARGETS")
    for text, passed in v.checked:
        say(f"  {'PASS' if passed else 'FAIL'}  {text}")
    say(f"\n{sum(p for _, p in v.checked)}/{len(v.checked)} targets met")


def side_by_side(res: Results) -> None:
    """Update latency and throughput of every system, one row each."""
    def lat_cells(name: str) -> list[str]:
        lat = res.floor if name == "floor" else res.updates.get(name)
        return ["-", "-"] if lat is None else [fmt_us(lat.median_us), fmt_us(lat.p99_us)]

    def rates(label: str) -> list[str]:
        return [fmt_rate(res.throughput[label, p]) + ("" if res.verified[label, p] else " MISMATCH")
                if (label, p) in res.throughput else "-" for p in PROC_COUNTS]

    systems = [
        ("ours write-through (fsync)", "ours fsync", OURS_WT.label, "fsync file + dir per update"),
        ("ours write-behind 0.05 s (fsync)", "-", OURS_WB.label, "fsync per site per flush"),
        ("ours durability=none", "ours none", "-", "no fsync"),
        ("floor (bare write+rename)", "floor", "-", "fsync file + dir"),
        ("seed (a) 1 JSON file", SEED.label, SEED.label, "fsync file, no dir fsync"),
        ("diskcache (b) defaults", DISKCACHE.label, DISKCACHE.label, "WAL, synchronous=NORMAL: none"),
        ("diskcache synchronous=FULL", DISKCACHE_FULL.label, "-", "WAL fsync per commit"),
        ("sqlite3 WAL FULL (c)", SQLITE_FULL.label, SQLITE_FULL.label, "WAL fsync per commit"),
        ("sqlite3 WAL NORMAL (c)", SQLITE_NORMAL.label, SQLITE_NORMAL.label, "none (at checkpoint)"),
    ]
    rows = [[title, *lat_cells(single), *rates(multi), fsync] for title, single, multi, fsync in systems]
    say(f"\nSIDE BY SIDE: the same read-modify-write of one profile ({res.doc_bytes} bytes of JSON); "
        f"throughput on {SHARED_SITES} shared sites")
    print_table(["system", "1-proc p50", "1-proc p99", *[f"{p} proc" for p in PROC_COUNTS], "fsync"], rows)


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    args = arguments(__doc__, "smaller counts: a smoke test under a minute")
    cfg = QUICK if args.quick else DEFAULT
    work = Path(tempfile.mkdtemp(prefix="sitememory-bench-", dir=args.dir))
    began = time.perf_counter()
    say(f"sitememory store benchmark ({cfg.mode} mode): {machine(load=False)}, "
        f"sqlite {sqlite3.sqlite_version}, portalocker {portalocker.__version__}; work dir {work}")
    pool = Pool(max(PROC_COUNTS))
    try:
        template: Doc = json.loads(make_template(work))
        res = Results()
        sections: list[tuple[str, Callable[[], None]]] = [
            ("1-2 reads", lambda: bench_reads(cfg, work, template, res)),
            ("3-4, 7 single-process updates", lambda: bench_updates(cfg, work, template, res)),
            ("6-7 throughput, processes", lambda: bench_throughput(cfg, pool, work, template, res)),
            ("8 lock contention and hand-off", lambda: bench_locks(cfg, pool, work, template, res)),
            ("5 store size", lambda: bench_scale(cfg, pool, work, template, res)),
        ]
        for title, run in sections:
            say(f"\n[{time.perf_counter() - began:6.1f} s] {title}")
            run()
    finally:
        pool.close()
        shutil.rmtree(work, ignore_errors=True)
    report(cfg, res)
    say(f"total time {time.perf_counter() - began:.1f} s ({cfg.mode} mode)")


if __name__ == "__main__":
    main()
    sys.exit(0)
