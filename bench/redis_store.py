"""Benchmark of the two storage backends side by side: a directory (file store) against Redis.

What it measures, in one run, with the same site documents in both:

1. cached read: ``get_profile_sync`` answered from the in-memory cache (default ``cache_ttl``);
2. revalidated read (``cache_ttl=0``): every read checks its entry, with one ``stat`` (file) or
   one round trip (Redis, the FETCH script answers "unchanged" without the document); next to
   the floors of each, a bare ``os.stat`` and a bare ``PING``;
3. ``record_visit_sync`` write-through latency, median and p99: durable (``durability="fsync"``
   against a server with ``appendfsync always``) and not fsynced per write
   (``durability="none"`` against ``appendfsync everysec``);
4. aggregate update throughput of 1, 2 and 4 processes (fork; a barrier starts them together;
   each process has its own ``SiteMemory`` and its own sites), and of 4 processes all updating
   ONE site (the file store's lock waits against Redis' optimistic conflicts, ``stats().conflicts``):
   durable variants (file fsync, ``appendfsync always``), then the same not fsynced per write.
   Each run is verified afterwards: every site's ``visit_count`` must have grown by exactly the
   updates made to it (N processes x M updates in all).

Two private ``redis-server`` processes (one per ``appendfsync`` mode) are started on free loopback
ports with ``tests/_redis.RedisServer``, their data, AOF and the file stores all in one temporary
directory (one file system, so the fsyncs are comparable). Latencies are timed per call with
``time.perf_counter_ns`` after a warm-up; the variants compared are measured in interleaved
rounds so that the machine's noise falls on all of them alike.

The file is not named ``redis.py``: next to ``bench/store.py`` that name would shadow the
``redis`` package, both at run time (the script's directory comes first on ``sys.path``) and for
mypy (``bench`` is in its ``files`` and has no ``__init__.py``, so the file *is* module ``redis``).

Run::

    python bench/redis_store.py [--quick] [--updates N] [--dir DIR]

``--quick`` is a smoke test (about 15 s), the default run takes under two minutes (most of it the
file store's hot-site runs). ``--updates`` sets the updates per process of each throughput run.
The exit code is 1 if any check failed (a wrong ``visit_count``, a cache statistic showing the
reads were not the kind measured, a server not configured as labelled), else 0.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import ForkContext
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import redis
from _report import (
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

from sitememory_plugin import SiteMemory

if TYPE_CHECKING:
    from tests._redis import RedisServer

T = TypeVar("T")
Doc = dict[str, Any]
Durability = Literal["fsync", "none"]

ROOT = Path(__file__).resolve().parent.parent
#: Load times a profile keeps (the library's window); the benchmark's documents are full.
LOAD_WINDOW = 100
PROC_COUNTS = (1, 2, 4)
HOT_PROCS = 4
#: Sites of each process in the throughput runs (its own: no two processes share one).
SITES_PER_PROC = 4
HOT_KEY = "hot.example"


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Sample counts of one run."""

    mode: str
    cached_reads: int  # timed cached reads per backend
    reval_sites: int  # sites read with cache_ttl=0
    reval_reads: int  # timed revalidated reads per backend (cycling over the sites)
    read_rounds: int  # interleaved rounds of the reads
    rounds: int  # interleaved rounds of single-process updates
    per_round: int  # timed updates per variant per round
    updates: int  # updates per process in each throughput run


DEFAULT = Config("default", 20_000, 200, 5_000, 20, 40, 25, 2_000)
QUICK = Config("quick", 4_000, 100, 1_000, 10, 10, 10, 300)


# -- timing ------------------------------------------------------------------------------------


def cycling(items: Sequence[T]) -> Callable[[], T]:
    """A function returning the items in turn, forever."""
    it = itertools.cycle(items)
    return lambda: next(it)


def reader(mem: SiteMemory, urls: Sequence[str]) -> Callable[[], object]:
    """``get_profile_sync`` of each URL in turn."""
    next_url = cycling(urls)
    return lambda: mem.get_profile_sync(next_url())


# -- the backends -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One store configuration: a backend, where its stores live, and its durability."""

    label: str
    backend: Literal["file", "redis"]
    base: str  # the file stores' parent directory, or the server's URL
    durability: Durability
    persistence: str  # what is fsynced, for the reader

    def at(self, tag: str) -> str:
        """A store of its own for ``tag``: a directory, or a key prefix on the server."""
        if self.backend == "file":
            return str(Path(self.base) / tag)
        return f"{self.base}?prefix={tag}"

    def memory(self, tag: str, **options: Any) -> SiteMemory:
        return SiteMemory(self.at(tag), durability=self.durability, **options)


def make_template(work: Path) -> Doc:
    """One realistic, full site written through the library: its document, as a dict."""
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
    doc: Doc = json.loads(next((root / "sites").glob("*/template.example.json")).read_bytes())
    shutil.rmtree(root)
    return doc


def populate(variant: Variant, tag: str, template: Doc, keys: Iterable[str], work: Path) -> None:
    """Write the same full document for each key, through the library's import of an export
    (both backends)."""
    import_sites(variant.at(tag), [{**template, "domain": key} for key in keys],
                 work / f"import-{variant.backend}-{tag}.jsonl")


def server_persistence(server: RedisServer) -> tuple[str, str]:
    """The server's ``appendonly`` and ``appendfsync`` settings, as it reports them."""
    with redis.Redis(port=server.port, decode_responses=True) as client:
        config: dict[str, str] = client.config_get("append*")
    return config.get("appendonly", "?"), config.get("appendfsync", "?")


# -- results and checks -------------------------------------------------------------------------


@dataclass
class Results:
    """Every figure of the run, filled in section by section."""

    checks: list[tuple[str, bool]] = field(default_factory=list)
    cached: dict[str, Lat] = field(default_factory=dict)
    revalidated: dict[str, Lat] = field(default_factory=dict)
    floors: dict[str, Lat] = field(default_factory=dict)
    updates: dict[str, Lat] = field(default_factory=dict)
    throughput: dict[tuple[str, str, str], Run] = field(default_factory=dict)

    def check(self, text: str, passed: bool) -> bool:
        self.checks.append((text, passed))
        say(f"  {'checked' if passed else 'FAILED'}: {text}")
        return passed


# -- 1, 2: reads --------------------------------------------------------------------------------


def bench_reads(cfg: Config, work: Path, template: Doc, file: Variant, red: Variant,
                res: Results) -> None:
    keys = [f"read-{i:04d}.example" for i in range(cfg.reval_sites)]
    urls = [url_of(k) for k in keys]
    for variant in (file, red):
        populate(variant, "reads", template, keys, work)
    settle()
    time.sleep(0.2)  # files written < 100 ms before a read are "racy": never trusted on stat alone
    expected = int(template["visit_count"])
    variants = {"file": file, "redis": red}

    # 1: cached reads (default cache_ttl), 10 hot sites.
    mems = {name: v.memory("reads") for name, v in variants.items()}
    hot = urls[:10]
    for mem in mems.values():
        for url in hot * 100:
            profile = mem.get_profile_sync(url)
            assert profile is not None and profile.visit_count == expected, profile
    before = {name: mem.stats_sync() for name, mem in mems.items()}
    per_round = cfg.cached_reads // cfg.read_rounds
    samples = interleave({name: reader(mem, hot) for name, mem in mems.items()}, cfg.read_rounds,
                         per_round, warmup=1000)
    for name, mem in mems.items():
        res.cached[name] = Lat.of(samples[name])
        s, b = mem.stats_sync(), before[name]
        hits, reads = s.cache_hits - b.cache_hits, s.reads - b.reads
        calls = len(samples[name]) + 1000
        say(f"  cached read {name:<5} ({len(samples[name])} calls, 10 sites): {res.cached[name]}")
        res.check(f"{name} cached reads: {hits} cache hits for {calls} calls, {reads} store reads",
                  hits == calls and reads == 0)
        mem.close_sync()

    # 2: revalidated reads (cache_ttl=0), every site cached first.
    mems = {name: v.memory("reads", cache_ttl=0) for name, v in variants.items()}
    for mem in mems.values():
        for url in urls:
            mem.get_profile_sync(url)
    before = {name: mem.stats_sync() for name, mem in mems.items()}
    per_round = cfg.reval_reads // cfg.read_rounds
    samples = interleave({name: reader(mem, urls) for name, mem in mems.items()}, cfg.read_rounds,
                         per_round, warmup=len(urls))
    for name, mem in mems.items():
        res.revalidated[name] = Lat.of(samples[name])
        s, b = mem.stats_sync(), before[name]
        calls = len(samples[name]) + len(urls)
        reval, misses = s.cache_revalidations - b.cache_revalidations, s.cache_misses - b.cache_misses
        say(f"  revalidated read {name:<5} (cache_ttl=0, {len(samples[name])} calls over {len(urls)} "
            f"sites): {res.revalidated[name]}")
        res.check(f"{name} revalidated reads: {reval} revalidations for {calls} calls, {misses} misses "
                  f"(re-reads)", reval == calls and misses == 0)
        mem.close_sync()

    # The floors: a bare stat of a site file, a bare PING to the same server.
    paths = [next((Path(file.at("reads")) / "sites").glob(f"*/{k}.json")) for k in keys]
    client = redis.Redis.from_url(red.base)
    next_path = cycling(paths)
    floors = interleave({"file": lambda: os.stat(next_path()), "redis": client.ping}, cfg.read_rounds,
                        per_round, warmup=len(urls))
    client.close()
    for name, ns in floors.items():
        res.floors[name] = Lat.of(ns)
    say(f"  floor: os.stat of a site file {res.floors['file']}; redis PING round trip "
        f"{res.floors['redis']}")


# -- 3: single-process update latency -----------------------------------------------------------


def bench_updates(cfg: Config, work: Path, template: Doc, variants: Sequence[Variant],
                  res: Results) -> None:
    keys = [f"update-{i}.example" for i in range(SITES_PER_PROC)]
    tags = {v.label: f"updates-{v.durability}" for v in variants}  # file fsync and none: 2 dirs
    for variant in variants:
        populate(variant, tags[variant.label], template, keys, work)
    settle()
    mems = {v.label: v.memory(tags[v.label]) for v in variants}
    made = dict.fromkeys(mems, 0)

    def op(label: str) -> Callable[[], object]:
        mem, nxt = mems[label], cycling([url_of(k) for k in keys])

        def update() -> None:
            made[label] += 1
            mem.record_visit_sync(nxt(), load_time(made[label]), status=200)
        return update

    samples = interleave({label: op(label) for label in mems}, cfg.rounds, cfg.per_round)
    for variant in variants:
        mems[variant.label].close_sync()
        lat = res.updates[variant.label] = Lat.of(samples[variant.label])
        say(f"  {variant.label:<22} ({variant.persistence}): {lat}")
    for variant in variants:
        counts = visit_counts(variant.at(tags[variant.label]), keys)
        added = sum(counts.values()) - len(keys) * int(template["visit_count"])
        res.check(f"{variant.label}: visit_count grew by {added} for {made[variant.label]} updates",
                  added == made[variant.label])


# -- 4: processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One process' share of a throughput run."""

    location: str
    durability: Durability
    keys: tuple[str, ...]
    updates: int
    index: int


@dataclass(frozen=True)
class WorkerResult:
    index: int
    start_ns: int
    stop_ns: int
    per_key: dict[str, int]
    conflicts: int
    lock_waits: int
    lock_wait_p50: float | None
    lock_wait_p99: float | None


def worker(job: Job, barrier: Barrier, out: Queue[tuple[str, Any]]) -> None:
    """Open its own memory, warm its cache, wait for the others, then update its sites."""
    try:
        mem = SiteMemory(job.location, durability=job.durability, lock_timeout=120)
        urls = [url_of(k) for k in job.keys]
        for url in urls:  # cached: the first update need not read (file) nor conflict (Redis)
            mem.get_profile_sync(url)
        per_key = dict.fromkeys(job.keys, 0)
        n = len(urls)
        barrier.wait(timeout=120)
        start = time.monotonic_ns()
        for i in range(job.updates):
            mem.record_visit_sync(urls[i % n], load_time(job.index * job.updates + i), status=200)
            per_key[job.keys[i % n]] += 1
        stop = time.monotonic_ns()
        s = mem.stats_sync()
        mem.close_sync()
        out.put(("done", WorkerResult(job.index, start, stop, per_key, s.conflicts, s.lock_waits,
                                      s.lock_wait_p50, s.lock_wait_p99)))
    except BaseException:
        out.put(("error", traceback.format_exc()))


@dataclass(frozen=True)
class Run:
    """One throughput run, checked."""

    procs: int
    updates: int  # made, in all
    seconds: float
    added: int  # sum of the visit_count increments found afterwards
    ok: bool  # every site grew by exactly its updates
    conflicts: int
    lock_waits: int
    wait_p50: float  # median of the processes' p50 lock waits (s), nan if none
    wait_p99: float  # max of their p99s

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


def throughput(ctx: ForkContext, variant: Variant, tag: str, key_sets: Sequence[tuple[str, ...]],
               updates: int, template: Doc, work: Path) -> Run:
    """``len(key_sets)`` processes started together, each updating its keys ``updates`` times."""
    keys = sorted(set(itertools.chain.from_iterable(key_sets)))
    populate(variant, tag, template, keys, work)
    settle()
    procs = len(key_sets)
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    jobs = [Job(variant.at(tag), variant.durability, ks, updates, i) for i, ks in enumerate(key_sets)]
    workers = [ctx.Process(target=worker, args=(job, barrier, out), daemon=True) for job in jobs]
    for p in workers:
        p.start()
    replies = [out.get(timeout=600) for _ in workers]
    for p in workers:
        p.join(10)
    errors = [payload for kind, payload in replies if kind != "done"]
    if errors:
        raise RuntimeError(f"{variant.label}: a worker failed:\n{errors[0]}")
    results: list[WorkerResult] = [payload for _, payload in replies]
    done = {k: sum(r.per_key.get(k, 0) for r in results) for k in keys}
    initial = int(template["visit_count"])
    final = visit_counts(variant.at(tag), keys)
    p50s = [r.lock_wait_p50 for r in results if r.lock_wait_p50 is not None]
    p99s = [r.lock_wait_p99 for r in results if r.lock_wait_p99 is not None]
    return Run(
        procs=procs,
        updates=sum(done.values()),
        seconds=(max(r.stop_ns for r in results) - min(r.start_ns for r in results)) / 1e9,
        added=sum(final.values()) - initial * len(keys),
        ok=all(final[k] == initial + done[k] for k in keys),
        conflicts=sum(r.conflicts for r in results),
        lock_waits=sum(r.lock_waits for r in results),
        wait_p50=statistics.median(p50s) if p50s else math.nan,
        wait_p99=max(p99s) if p99s else math.nan,
    )


def bench_throughput(cfg: Config, work: Path, template: Doc, pairs: Mapping[str, tuple[Variant, Variant]],
                     res: Results) -> None:
    """Each plan (1, 2, 4 processes on their own sites; 4 on one site) for each pair (file, Redis)
    of each group, the two backends of a pair back to back, taking turns at going first."""
    ctx = mp.get_context("fork")
    plans: list[tuple[str, int, Callable[[int], list[tuple[str, ...]]]]] = [
        *((f"{n} proc", n, own_sites) for n in PROC_COUNTS),
        (f"hot site, {HOT_PROCS} proc", HOT_PROCS, lambda n: [(HOT_KEY,)] * n),
    ]
    number = 0
    for group, pair in pairs.items():
        for name, procs, sites in plans:
            # Alternate which backend goes first, so that a drift of the machine's load hits both.
            for variant in pair if number % 2 == 0 else pair[::-1]:
                tag = f"tp{number}-{variant.backend}"
                run = throughput(ctx, variant, tag, sites(procs), cfg.updates, template, work)
                res.throughput[group, name, variant.backend] = run
                expected = procs * cfg.updates
                extra = (f"{run.conflicts} conflicts" if variant.backend == "redis" else
                         f"{run.lock_waits} lock waits, p50 {fmt_us(run.wait_p50 * 1e6)} "
                         f"p99 {fmt_us(run.wait_p99 * 1e6)}")
                say(f"  {variant.label:<15} {name:<16} {fmt_rate(run.rate):>9}  {run.updates} updates in "
                    f"{run.seconds:.2f} s; {extra}")
                res.check(f"{variant.label} {name}: visit_count total +{run.added}, expected {procs} x "
                          f"{cfg.updates} = {expected}, every site exact: {'yes' if run.ok else 'NO'}",
                          run.ok and run.added == expected == run.updates)
            number += 1


def own_sites(procs: int) -> list[tuple[str, ...]]:
    return [tuple(f"p{i}-s{j}.example" for j in range(SITES_PER_PROC)) for i in range(procs)]


# -- report -------------------------------------------------------------------------------------


def report(res: Results, durable: tuple[Variant, Variant], fast: tuple[Variant, Variant]) -> None:
    def lat_row(measure: str, file: Lat, red: Lat) -> list[str]:
        return [measure, str(file), str(red), ratio(red.median_us, file.median_us)]

    rows = [
        lat_row("1 cached read, get_profile_sync", res.cached["file"], res.cached["redis"]),
        lat_row("2 revalidated read (cache_ttl=0): stat / round trip", res.revalidated["file"],
                res.revalidated["redis"]),
        lat_row("2 floor: bare os.stat / bare PING", res.floors["file"], res.floors["redis"]),
        lat_row(f"3 update, durable ({durable[0].label} / {durable[1].label})",
                res.updates[durable[0].label], res.updates[durable[1].label]),
        lat_row(f"3 update, no fsync per write ({fast[0].label} / {fast[1].label})",
                res.updates[fast[0].label], res.updates[fast[1].label]),
    ]
    groups = list(dict.fromkeys(group for group, _, _ in res.throughput))
    names = list(dict.fromkeys(name for _, name, _ in res.throughput))
    for group in groups:
        for name in names:
            f, r = res.throughput[group, name, "file"], res.throughput[group, name, "redis"]
            rows.append([f"4 throughput {group}, {name}", fmt_rate(f.rate), fmt_rate(r.rate),
                         ratio(r.rate, f.rate)])
    for group in groups:
        for name in names:
            if name.startswith("hot"):
                f, r = res.throughput[group, name, "file"], res.throughput[group, name, "redis"]
                rows.append([f"4 {name} ({group}): lock waits / conflicts",
                             f"{f.lock_waits} lock waits, p50 {fmt_us(f.wait_p50 * 1e6)}",
                             f"{r.conflicts} conflicts ({r.conflicts / r.updates:.2f} per update)", "-"])
    runs = {backend: [run for (_, _, b), run in res.throughput.items() if b == backend]
            for backend in ("file", "redis")}
    rows.append(["4 runs verified (visit_count +N x M, each site exact)",
                 *(f"{sum(r.ok for r in rs)}/{len(rs)} OK" for rs in runs.values()), "-"])
    say("\nRESULTS (latency cells: median / p99; ratio: redis / file of the medians or rates)")
    print_table(["measure", "file", "redis", "redis/file"], rows)
    failed = [text for text, passed in res.checks if not passed]
    say("\nCHECKED (each check is printed above, where it was made)")
    for text in failed:
        say(f"  FAIL  {text}")
    good, total = sum(r.ok for rs in runs.values() for r in rs), sum(map(len, runs.values()))
    say(f"  {'FAIL' if failed else 'PASS'}  {len(res.checks) - len(failed)}/{len(res.checks)} checks "
        f"passed; {good}/{total} throughput runs verified (visit_count == N x M)")


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    args = arguments(__doc__, "smaller counts: a smoke test (~20 s)", {
        "--updates": {"type": int, "help": "updates per process in each throughput run "
                      f"(default {DEFAULT.updates}, quick {QUICK.updates})"},
    })
    cfg = QUICK if args.quick else DEFAULT
    if args.updates:
        cfg = Config(**{**cfg.__dict__, "updates": args.updates})

    sys.path.insert(0, str(ROOT))  # tests/ is not installed
    from tests._redis import RedisServer, ensure_installed

    binary = ensure_installed()
    work = Path(tempfile.mkdtemp(prefix="sitememory-redis-bench-", dir=args.dir))
    began = time.perf_counter()
    servers = {mode: RedisServer(work / f"redis-{mode}", appendfsync=mode)
               for mode in ("always", "everysec")}
    res = Results()
    try:
        for server in servers.values():
            server.start()
        with redis.Redis(port=servers["always"].port) as client:
            version = client.info("server")["redis_version"]
        say(f"sitememory backends benchmark, file vs Redis ({cfg.mode} mode): {machine()}; redis-server "
            f"{version} ({binary}), redis-py {redis.__version__}; work dir {work}")
        for mode, server in servers.items():
            appendonly, appendfsync = server_persistence(server)
            res.check(f"redis-server on port {server.port}: appendonly {appendonly}, appendfsync "
                      f"{appendfsync} (wanted yes, {mode})", (appendonly, appendfsync) == ("yes", mode))
        store_dir = str(work / "file")
        file_fsync = Variant("file fsync", "file", store_dir, "fsync", "fsync file + dir per update")
        file_none = Variant("file none", "file", store_dir, "none", "no fsync")
        redis_always = Variant("redis always", "redis", servers["always"].url, "fsync",
                               "AOF fsync before each reply")
        redis_everysec = Variant("redis everysec", "redis", servers["everysec"].url, "none",
                                 "AOF fsync once a second")
        template = make_template(work)
        sections: list[tuple[str, Callable[[], None]]] = [
            ("1-2 reads", lambda: bench_reads(cfg, work, template, file_fsync, redis_always, res)),
            (f"3 update latency, {cfg.rounds} interleaved rounds x {cfg.per_round} calls",
             lambda: bench_updates(cfg, work, template,
                                   [file_fsync, redis_always, file_none, redis_everysec], res)),
            (f"4 throughput, {cfg.updates} updates per process",
             lambda: bench_throughput(cfg, work, template, {
                 "durable": (file_fsync, redis_always), "no fsync": (file_none, redis_everysec)}, res)),
        ]
        for title, run in sections:
            say(f"\n[{time.perf_counter() - began:6.1f} s] {title}")
            run()
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(res, (file_fsync, redis_always), (file_none, redis_everysec))
    say(f"total time {time.perf_counter() - began:.1f} s ({cfg.mode} mode)")
    return 0 if all(passed for _, passed in res.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
