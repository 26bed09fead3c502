"""Benchmark of what ``attach()`` adds to a navigation of a local page, async and sync API, in one run.

What it measures, on the machine it runs on: ``N`` navigations per variant to a small static page
served (HTTP/1.1 keep-alive, no delay, ``Cache-Control: no-store``) by a server this script starts
on 127.0.0.1, every navigation to a new URL, in one Chromium process per API:

1. plain ``page.goto(url)`` on a context nothing is attached to: the baseline; and the same on a
   second context, an A/A control whose distance from the baseline is the run's resolution;
2. ``page.goto(url)`` on a context with the Playwright listeners ``attach()`` installs (the
   context's ``response`` and ``requestfailed``, and each page's ``domcontentloaded`` and ``load``,
   set up from the context's ``page`` event as ``attach()`` does), each doing nothing but count its
   calls: the floor, what Playwright's delivery of those events costs with no sitememory code (a
   ``response`` or ``requestfailed`` listener makes the driver send those events at all);
3. ``page.goto(url)`` on an attached context (recording only: the listeners build the visit from
   the navigation's response and the page's load event, the ``sitememory_after_navigation`` hooks
   write it, off the navigation's path; nothing is consulted);
4. ``site.goto(url)`` through the handle (consult the memory: adaptive timeout, politeness delay;
   the visit is then recorded as in 3), ``SiteMemory(durability="fsync")``: the default
   configuration;
5. the same with ``durability="none"``, and with write-behind (``flush_interval=0.5``).

Each variant has a browser context (and a store directory) of its own. The variants take turns in
rounds of ``--per-round`` navigations (the order rotating each round), so that the machine's noise
falls on all of them alike; between two variants' turns the recordings in flight are awaited,
untimed, so that none spills into the next variant's time. Each ``goto`` is timed with
``time.perf_counter()`` and reported as median and p99; the target is that the default
configuration adds at most 5% to the median navigation, in both APIs. After the run, each attached
variant's store must hold exactly one visit per navigation it made (and the floor's listeners are
shown to have been called once per navigation). The CPU time of this process and of its
descendants (Playwright's driver, the browser; from ``/proc``) is summed over each variant's turns:
unlike latency, it hardly depends on what else the machine is doing.

A last section takes the default configuration apart: the memory write alone, the consult, and an
instrumented ``site.goto`` (a probe plugin timing the hooks, and a ``load`` listener installed ahead
of the package's timing Playwright's load event). Recording happens from the ``load`` event: under
the async API in a task of its own, under the sync API inline in the listener, the handle
handing the write the hooks asked for to the memory's worker threads; ``site.settle()`` waits for
it (untimed here).

Run::

    python bench/navigation.py [--quick] [-n N] [--chromium PATH]

``--quick`` uses smaller counts (a smoke test); the default run takes a few minutes on a small
machine. The sync API runs in a phase of its own after the async one (it cannot run inside a
running event loop). Stores are written under a temporary directory, removed at the end. The exit
code is 0 whatever the results: this is a benchmark, not a test.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pluggy
from _report import arguments, fmt_us, load_average, machine, percentile, print_table, say
from playwright.async_api import Browser as AsyncBrowser
from playwright.async_api import Page as AsyncPage
from playwright.async_api import async_playwright
from playwright.sync_api import Browser as SyncBrowser
from playwright.sync_api import Page as SyncPage
from playwright.sync_api import sync_playwright

from sitememory_plugin import (
    AsyncSite,
    NavigationOptions,
    SiteMemory,
    SyncSite,
    Visit,
    attach,
    chromium_launch_options,
    hookimpl,
    make_plugin_manager,
    site_key,
)
from sitememory_plugin._browser import CHROMIUM_ARGS

Durability = Literal["fsync", "none"]
Api = Literal["async", "sync"]

#: The target: the default configuration's median navigation / the plain one's.
TARGET_RATIO = 1.05


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Sample counts of one run."""

    mode: str
    navigations: int  # timed navigations per variant and API
    per_round: int  # navigations of one variant in a row
    warmup: int  # untimed navigations per variant first
    probe: int  # instrumented site.goto calls per API
    writes: int  # timed memory writes of each kind, outside the browser


DEFAULT = Config("default", 200, 10, 10, 100, 200)
QUICK = Config("quick", 30, 10, 5, 20, 40)


@dataclass(frozen=True)
class Variant:
    """One way of navigating: plain, Playwright's listeners alone, or attached with one memory."""

    label: str
    attached: bool
    via_site: bool
    durability: Durability = "fsync"
    flush_interval: float | None = None
    #: Not attached, but the listeners ``attach()`` installs, each doing nothing (see
    #: ``NoopListeners``): what Playwright's delivery of those events costs before any sitememory
    #: code runs.
    bare_listeners: bool = False

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


PLAIN = Variant("plain page.goto", attached=False, via_site=False)
#: A second plain context: how far two identical variants drift apart is the run's resolution.
CONTROL = Variant("plain page.goto (A/A control)", attached=False, via_site=False)
FLOOR = Variant("Playwright listeners, no-op (floor)", attached=False, via_site=False, bare_listeners=True)
RECORD_ONLY = Variant("attached page.goto (record only)", attached=True, via_site=False)
DEFAULT_SITE = Variant("site.goto fsync (default)", attached=True, via_site=True)
SITE_NONE = Variant("site.goto durability=none", attached=True, via_site=True, durability="none")
SITE_WB = Variant("site.goto write-behind 0.5 s", attached=True, via_site=True, flush_interval=0.5)
VARIANTS = (PLAIN, CONTROL, FLOOR, RECORD_ONLY, DEFAULT_SITE, SITE_NONE, SITE_WB)


# -- statistics and formatting ------------------------------------------------------------------


@dataclass(frozen=True)
class Lat:
    """Median and p99 of a set of durations, in milliseconds."""

    n: int
    median_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Lat:
        if not seconds:
            return cls(0, math.nan, math.nan)
        return cls(len(seconds), statistics.median(seconds) * 1000, percentile(seconds, 99) * 1000)

    def __str__(self) -> str:
        return f"{fmt_us(self.median_ms * 1000)} / {fmt_us(self.p99_ms * 1000)}"


def fmt_delta(ms: float) -> str:
    return "n/a" if math.isnan(ms) else f"+{fmt_us(ms * 1000)}" if ms >= 0 else f"-{fmt_us(-ms * 1000)}"


def fmt_ratio(r: float) -> str:
    return "n/a" if math.isnan(r) else f"{r:.3f}x"


def rotated(items: Sequence[Variant], r: int) -> list[Variant]:
    k = r % len(items)
    return [*items[k:], *items[:k]]


# -- the local site -----------------------------------------------------------------------------

PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>bench</title></head>\n'
    b'<body>\n<h1 id="title">bench</h1>\n<p><a id="next" href="/page/next">next</a></p>\n</body></html>\n'
)
NOT_FOUND = b"not found\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser closing a kept-alive connection is no error worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real site

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        page = self.path.startswith("/page/")
        with server.lock:
            server.hits["page" if page else self.path] += 1
        body = PAGE if page else NOT_FOUND
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class LocalSite:
    """A static page at ``/page/<anything>`` on 127.0.0.1, on a thread of this process."""

    def __init__(self) -> None:
        self.server = _Server()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.key = site_key(self.base)
        self._counter = itertools.count()
        self._thread = threading.Thread(target=self.server.serve_forever, name="bench-site", daemon=True)
        self._thread.start()

    def next_url(self) -> str:
        """A URL not visited before: every navigation is a real one, never a reload."""
        return f"{self.base}/page/{next(self._counter)}"

    def page_hits(self) -> int:
        with self.server.lock:
            return self.server.hits["page"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


# -- the browser --------------------------------------------------------------------------------


def launch_options(chromium: str | None) -> dict[str, Any]:
    """The library's launch options (headless; Playwright's own Chromium, else the system's) with
    the sandbox off, as the recorded runs had it; ``--chromium``'s executable, not looked up, when given."""
    if chromium is None:
        return chromium_launch_options(sandbox=False)
    return {"args": list(CHROMIUM_ARGS), "headless": True, "chromium_sandbox": False,
            "executable_path": chromium}


# -- CPU accounting -----------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and its reaped children) of every process (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                text = f.read()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rfind(b")") + 2:].split()  # after "pid (comm) "
        # state ppid ... utime(11) stime(12) cutime(13) cstime(14), counted from state
        out[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    return out


def cpu_now() -> tuple[float, float]:
    """CPU seconds used so far by this process (all threads: Playwright's client, the memory's
    workers, the local server) and by its descendants (Playwright's driver, the browser);
    ``nan`` for the latter where ``/proc`` is not there."""
    own = time.process_time()
    try:
        table = _proc_table()
    except (OSError, ValueError, IndexError, AttributeError):
        return own, math.nan
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        todo.extend(children.get(pid, []))
    return own, total


@dataclass
class CpuTally:
    """CPU seconds spent in each variant's turns, this process's and its descendants'."""

    own: dict[str, float] = field(default_factory=dict)
    others: dict[str, float] = field(default_factory=dict)

    def add(self, variant: Variant, before: tuple[float, float], after: tuple[float, float]) -> None:
        self.own[variant.label] = self.own.get(variant.label, 0.0) + after[0] - before[0]
        self.others[variant.label] = self.others.get(variant.label, 0.0) + after[1] - before[1]


# -- results ------------------------------------------------------------------------------------


@dataclass
class Check:
    """One attached variant's store after the run: visits recorded against navigations made."""

    api: Api
    variant: Variant
    expected: int
    visit_count: int | None

    @property
    def ok(self) -> bool:
        return self.visit_count == self.expected


@dataclass
class Probe:
    """Per instrumented ``site.goto``: seconds from the call to each point, and the delay asked."""

    consulted: list[float] = field(default_factory=list)  # last before_navigation hook ran
    load_event: list[float] = field(default_factory=list)  # the page's load event (first listener)
    report_in: list[float] = field(default_factory=list)  # first after_navigation hook ran
    recorded: list[float] = field(default_factory=list)  # last after_navigation hook ran
    returned: list[float] = field(default_factory=list)  # site.goto returned
    settled: list[float] = field(default_factory=list)  # site.settle() returned: recording done
    delays: list[float] = field(default_factory=list)  # options.delay (politeness)
    plain: list[float] = field(default_factory=list)  # plain page.goto, interleaved


@dataclass
class Phase:
    """What one API's phase measured."""

    api: Api
    chromium: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    navigations: int = 0  # every navigation of the phase, warm-up and probe included
    served: int = 0  # page requests the server answered in the phase
    seconds: float = 0.0
    writes: dict[str, list[float]] = field(default_factory=dict)
    probe: Probe = field(default_factory=Probe)
    cpu: CpuTally = field(default_factory=CpuTally)
    load: list[str] = field(default_factory=list)  # load averages at the start and end
    #: The floor variant's listener calls by event, and the navigations it made.
    floor_events: Counter[str] = field(default_factory=Counter)
    floor_navigations: int = 0

    def lat(self, variant: Variant) -> Lat:
        return Lat.of(self.samples.get(variant.label, []))

    def ratio(self, variant: Variant) -> float:
        base = self.lat(PLAIN).median_ms
        return self.lat(variant).median_ms / base if base > 0 else math.nan


# -- the probe plugin ---------------------------------------------------------------------------


class ProbeClock:
    """When the probe's hook implementations ran in the current ``site.goto``, from its call."""

    def __init__(self) -> None:
        self.start = 0.0
        self.consulted = math.nan
        self.load_event = math.nan
        self.report_in = math.nan
        self.recorded = math.nan
        self.delay = math.nan

    def reset(self) -> None:
        self.start = time.perf_counter()
        self.consulted = self.load_event = self.report_in = self.recorded = self.delay = math.nan

    def on_load(self, page: Any) -> None:
        """A ``load`` listener installed ahead of the package's: when Playwright delivers the event."""
        self.load_event = time.perf_counter() - self.start

    def watch(self, page: Any) -> None:
        """``page`` listener of the probe's context, registered before ``attach()``'s, so that
        this page's ``load`` listener runs before the package's (listeners run in order)."""
        page.on("load", self.on_load)


class ProbeFirst:
    def __init__(self, clock: ProbeClock) -> None:
        self.clock = clock

    @hookimpl(tryfirst=True)
    def sitememory_after_navigation(self, visit: Visit) -> None:
        self.clock.report_in = time.perf_counter() - self.clock.start


class ProbeLast:
    def __init__(self, clock: ProbeClock) -> None:
        self.clock = clock

    @hookimpl(trylast=True)
    def sitememory_before_navigation(self, options: NavigationOptions) -> None:
        self.clock.consulted = time.perf_counter() - self.clock.start
        self.clock.delay = options.delay

    @hookimpl(trylast=True)
    def sitememory_after_navigation(self, visit: Visit) -> None:
        self.clock.recorded = time.perf_counter() - self.clock.start


def probe_manager(clock: ProbeClock) -> pluggy.PluginManager:
    """The default plugins plus the probe's; the probe's run first and last of each hook (the
    recorder only adds the visit to the updates in between; the handle writes them afterwards)."""
    pm = make_plugin_manager()
    pm.register(ProbeFirst(clock), "bench-probe-first")
    pm.register(ProbeLast(clock), "bench-probe-last")
    return pm


def note_probe(probe: Probe, clock: ProbeClock, returned: float, settled: float) -> None:
    probe.consulted.append(clock.consulted)
    probe.load_event.append(clock.load_event)
    probe.report_in.append(clock.report_in)
    probe.recorded.append(clock.recorded)
    probe.returned.append(returned)
    probe.settled.append(settled)
    probe.delays.append(clock.delay)


# -- memory writes outside the browser ----------------------------------------------------------

WRITE_KINDS: tuple[tuple[str, Durability, float | None], ...] = (
    ("fsync", "fsync", None), ("none", "none", None), ("write-behind 0.5 s", "fsync", 0.5),
)


def time_writes_sync(cfg: Config, root: Path, out: dict[str, list[float]]) -> None:
    """``record_visit_sync`` of each memory kind, interleaved: the write a sync handle hands to the
    memory's worker threads for each visit."""
    memories = {name: SiteMemory(root / f"writes-sync-{i}", durability=d, flush_interval=f)
                for i, (name, d, f) in enumerate(WRITE_KINDS)}
    key = "writes.example"
    try:
        for memory in memories.values():
            for _ in range(5):
                memory.record_visit_sync(key, 0.05, status=200)
        for r in range(cfg.writes // 10):
            names = list(memories)[r % 3:] + list(memories)[: r % 3]
            for name in names:
                memory, samples = memories[name], out.setdefault(f"record_visit_sync {name}", [])
                for _ in range(10):
                    began = time.perf_counter()
                    memory.record_visit_sync(key, 0.05, status=200)
                    samples.append(time.perf_counter() - began)
    finally:
        for memory in memories.values():
            memory.close_sync()


async def time_writes_async(cfg: Config, root: Path, out: dict[str, list[float]]) -> None:
    """``await record_visit`` of each memory kind (a worker-thread hop unless write-behind): what the
    async handle awaits in the recording task; and a cached ``await get_profile`` (the
    consult's read, and the recording's)."""
    memories = {name: SiteMemory(root / f"writes-async-{i}", durability=d, flush_interval=f)
                for i, (name, d, f) in enumerate(WRITE_KINDS)}
    key = "writes.example"
    try:
        for memory in memories.values():
            for _ in range(5):
                await memory.record_visit(key, 0.05, status=200)
        for r in range(cfg.writes // 10):
            names = list(memories)[r % 3:] + list(memories)[: r % 3]
            for name in names:
                memory, samples = memories[name], out.setdefault(f"await record_visit {name}", [])
                for _ in range(10):
                    began = time.perf_counter()
                    await memory.record_visit(key, 0.05, status=200)
                    samples.append(time.perf_counter() - began)
        memory = memories["fsync"]
        reads = out.setdefault("await get_profile (cached)", [])
        for _ in range(cfg.writes):
            began = time.perf_counter()
            await memory.get_profile(key)
            reads.append(time.perf_counter() - began)
    finally:
        for memory in memories.values():
            await memory.close()


class NoopListeners:
    """The ``FLOOR`` variant's listeners: those ``attach()`` installs on a context, each doing
    nothing but count its calls (no sitememory code)."""

    def __init__(self, events: Counter[str]) -> None:
        self.events = events

    def install(self, context: Any) -> None:
        """Before the context's first page, as ``attach()`` is in the attached variants."""
        context.on("response", self.on_response)
        context.on("requestfailed", self.on_request_failed)
        context.on("page", self.watch)
        for page in context.pages:
            self.watch(page)

    def watch(self, page: Any) -> None:
        page.on("domcontentloaded", self.on_dom_content_loaded)
        page.on("load", self.on_load)

    def on_response(self, response: Any) -> None:
        self.events["response"] += 1

    def on_request_failed(self, request: Any) -> None:
        self.events["requestfailed"] += 1

    def on_dom_content_loaded(self, page: Any) -> None:
        self.events["domcontentloaded"] += 1

    def on_load(self, page: Any) -> None:
        self.events["load"] += 1


def verify(api: Api, variant: Variant, root: Path, key: str, expected: int) -> Check:
    """Read the variant's store afresh (from disk: write-behind was flushed on close)."""
    with SiteMemory(root) as fresh:
        profile = fresh.get_profile_sync(key)
    return Check(api, variant, expected, None if profile is None else profile.visit_count)


# -- async phase --------------------------------------------------------------------------------


@dataclass
class AsyncRunner:
    variant: Variant
    page: AsyncPage
    site: AsyncSite | None
    memory: SiteMemory | None
    root: Path | None
    made: int = 0

    async def go(self, url: str) -> None:
        if self.site is not None and self.variant.via_site:
            await self.site.goto(url)
        else:
            await self.page.goto(url)
        self.made += 1

    async def settle(self) -> None:
        if self.site is not None:
            await self.site.settle()


async def async_phase(cfg: Config, work: Path, local: LocalSite, chromium: str | None) -> Phase:
    phase = Phase("async", load=[load_average()])
    began, served = time.perf_counter(), local.page_hits()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch_options(chromium))
        phase.chromium = browser.version
        try:
            runners: list[AsyncRunner] = []
            for variant in VARIANTS:
                context = await browser.new_context()
                memory: SiteMemory | None = None
                root: Path | None = None
                site: AsyncSite | None = None
                if variant.attached:
                    root = work / f"async-{variant.slug}"
                    memory = SiteMemory(root, durability=variant.durability,
                                        flush_interval=variant.flush_interval)
                    site = await attach(context, memory)
                elif variant.bare_listeners:
                    NoopListeners(phase.floor_events).install(context)
                runners.append(AsyncRunner(variant, await context.new_page(), site, memory, root))
            by_variant = {runner.variant: runner for runner in runners}
            for runner in runners:  # warm-up
                for _ in range(cfg.warmup):
                    await runner.go(local.next_url())
                await runner.settle()
            for r in range(cfg.navigations // cfg.per_round):
                for variant in rotated(VARIANTS, r):
                    runner, out = by_variant[variant], phase.samples.setdefault(variant.label, [])
                    cpu = cpu_now()
                    for _ in range(cfg.per_round):
                        url = local.next_url()
                        start = time.perf_counter()
                        await runner.go(url)
                        out.append(time.perf_counter() - start)
                    await runner.settle()  # untimed: nothing in flight spills into the next turn
                    phase.cpu.add(variant, cpu, cpu_now())
            await probe_async(cfg, browser, local, by_variant[PLAIN], work, phase)
            for runner in runners:
                if runner.site is not None and runner.memory is not None and runner.root is not None:
                    await runner.site.detach()
                    await runner.memory.close()
                    phase.checks.append(verify("async", runner.variant, runner.root, local.key, runner.made))
                phase.navigations += runner.made
                if runner.variant is FLOOR:
                    phase.floor_navigations = runner.made
                await runner.page.context.close()
        finally:
            await browser.close()
    await time_writes_async(cfg, work, phase.writes)
    phase.served = local.page_hits() - served
    phase.seconds = time.perf_counter() - began
    phase.load.append(load_average())
    return phase


async def probe_async(
    cfg: Config, browser: AsyncBrowser, local: LocalSite, plain: AsyncRunner, work: Path, phase: Phase
) -> None:
    """The default configuration with the probe plugin, interleaved with plain navigations."""
    clock = ProbeClock()
    context = await browser.new_context()
    context.on("page", clock.watch)  # before attach(): its load listener runs first
    root = work / "async-probe"
    memory = SiteMemory(root)
    site = await attach(context, memory, plugins=probe_manager(clock))
    await context.new_page()
    made = 0
    try:
        for _ in range(cfg.warmup):
            await site.goto(local.next_url())
            made += 1
        for _ in range(cfg.probe // cfg.per_round):
            for _ in range(cfg.per_round):
                clock.reset()
                await site.goto(local.next_url())
                returned = time.perf_counter() - clock.start
                await site.settle()  # not in `returned`: the recording task may still be running
                note_probe(phase.probe, clock, returned, time.perf_counter() - clock.start)
                made += 1
            for _ in range(cfg.per_round):
                url = local.next_url()
                start = time.perf_counter()
                await plain.go(url)
                phase.probe.plain.append(time.perf_counter() - start)
    finally:
        await site.detach()
        await memory.close()
        await context.close()
    phase.checks.append(verify("async", Variant("probe (site.goto fsync + probe plugin)", True, True),
                               root, local.key, made))
    phase.navigations += made


# -- sync phase ---------------------------------------------------------------------------------


@dataclass
class SyncRunner:
    variant: Variant
    page: SyncPage
    site: SyncSite | None
    memory: SiteMemory | None
    root: Path | None
    made: int = 0

    def go(self, url: str) -> None:
        if self.site is not None and self.variant.via_site:
            self.site.goto(url)
        else:
            self.page.goto(url)
        self.made += 1

    def settle(self) -> None:
        if self.site is not None:
            self.site.settle()


def sync_phase(cfg: Config, work: Path, local: LocalSite, chromium: str | None) -> Phase:
    phase = Phase("sync", load=[load_average()])
    began, served = time.perf_counter(), local.page_hits()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**launch_options(chromium))
        phase.chromium = browser.version
        try:
            runners: list[SyncRunner] = []
            for variant in VARIANTS:
                context = browser.new_context()
                memory: SiteMemory | None = None
                root: Path | None = None
                site: SyncSite | None = None
                if variant.attached:
                    root = work / f"sync-{variant.slug}"
                    memory = SiteMemory(root, durability=variant.durability,
                                        flush_interval=variant.flush_interval)
                    site = attach(context, memory)
                elif variant.bare_listeners:
                    NoopListeners(phase.floor_events).install(context)
                runners.append(SyncRunner(variant, context.new_page(), site, memory, root))
            by_variant = {runner.variant: runner for runner in runners}
            for runner in runners:  # warm-up
                for _ in range(cfg.warmup):
                    runner.go(local.next_url())
                runner.settle()
            for r in range(cfg.navigations // cfg.per_round):
                for variant in rotated(VARIANTS, r):
                    runner, out = by_variant[variant], phase.samples.setdefault(variant.label, [])
                    cpu = cpu_now()
                    for _ in range(cfg.per_round):
                        url = local.next_url()
                        start = time.perf_counter()
                        runner.go(url)
                        out.append(time.perf_counter() - start)
                    runner.settle()  # untimed: nothing in flight spills into the next turn
                    phase.cpu.add(variant, cpu, cpu_now())
            probe_sync(cfg, browser, local, by_variant[PLAIN], work, phase)
            for runner in runners:
                if runner.site is not None and runner.memory is not None and runner.root is not None:
                    runner.site.detach()
                    runner.memory.close_sync()
                    phase.checks.append(verify("sync", runner.variant, runner.root, local.key, runner.made))
                phase.navigations += runner.made
                if runner.variant is FLOOR:
                    phase.floor_navigations = runner.made
                runner.page.context.close()
        finally:
            browser.close()
    time_writes_sync(cfg, work, phase.writes)
    phase.served = local.page_hits() - served
    phase.seconds = time.perf_counter() - began
    phase.load.append(load_average())
    return phase


def probe_sync(
    cfg: Config, browser: SyncBrowser, local: LocalSite, plain: SyncRunner, work: Path, phase: Phase
) -> None:
    clock = ProbeClock()
    context = browser.new_context()
    context.on("page", clock.watch)  # before attach(): its load listener runs first
    root = work / "sync-probe"
    memory = SiteMemory(root)
    site = attach(context, memory, plugins=probe_manager(clock))
    context.new_page()
    made = 0
    try:
        for _ in range(cfg.warmup):
            site.goto(local.next_url())
            made += 1
        for _ in range(cfg.probe // cfg.per_round):
            for _ in range(cfg.per_round):
                clock.reset()
                site.goto(local.next_url())
                returned = time.perf_counter() - clock.start
                site.settle()  # not in `returned`: the worker thread's write may still be running
                note_probe(phase.probe, clock, returned, time.perf_counter() - clock.start)
                made += 1
            for _ in range(cfg.per_round):
                url = local.next_url()
                start = time.perf_counter()
                plain.go(url)
                phase.probe.plain.append(time.perf_counter() - start)
    finally:
        site.detach()
        memory.close_sync()
        context.close()
    phase.checks.append(verify("sync", Variant("probe (site.goto fsync + probe plugin)", True, True),
                               root, local.key, made))
    phase.navigations += made


# -- report -------------------------------------------------------------------------------------


class Verdicts:
    """The targets checked, in order; ``check`` returns the table's result cell."""

    def __init__(self) -> None:
        self.checked: list[tuple[str, bool]] = []

    def check(self, text: str, passed: bool) -> str:
        self.checked.append((text, passed))
        return "PASS" if passed else "FAIL"


def result_rows(phases: Sequence[Phase], v: Verdicts) -> list[list[str]]:
    rows: list[list[str]] = []
    for phase in phases:
        base = phase.lat(PLAIN)
        for variant in VARIANTS:
            lat = phase.lat(variant)
            if variant is PLAIN:
                rows.append([phase.api, variant.label, str(lat), "1.000x", "-", "baseline", "info"])
                continue
            r = phase.ratio(variant)
            delta = fmt_delta(lat.median_ms - base.median_ms)
            if variant is DEFAULT_SITE:
                cell = v.check(
                    f"{phase.api}: site.goto (fsync) median {fmt_us(lat.median_ms * 1000)} / plain "
                    f"{fmt_us(base.median_ms * 1000)} = {fmt_ratio(r)} <= {TARGET_RATIO:.2f}",
                    r <= TARGET_RATIO)
                target = f"<= {TARGET_RATIO:.2f}x"
            elif variant is CONTROL:
                cell, target = "info", "noise"
            else:
                cell, target = "info", "-"
            rows.append([phase.api, variant.label, str(lat), fmt_ratio(r), delta, target, cell])
    checks = [c for phase in phases for c in phase.checks]
    good = sum(c.ok for c in checks)
    rows.append(["both", "stores verified (visit_count == navigations)", f"{good}/{len(checks)} OK",
                 "-", "-", "all OK", v.check(f"{good}/{len(checks)} stores hold one visit per navigation",
                                             good == len(checks))])
    return rows


def cpu_rows(phase: Phase) -> list[list[str]]:
    """CPU per timed navigation of each variant: this process, its descendants, both."""
    per_nav: dict[Variant, tuple[float, float]] = {}
    for variant in VARIANTS:
        count = len(phase.samples.get(variant.label, []))
        own = phase.cpu.own.get(variant.label, math.nan)
        others = phase.cpu.others.get(variant.label, math.nan)
        per_nav[variant] = (own / count * 1000, others / count * 1000) if count else (math.nan, math.nan)
    base = sum(per_nav[PLAIN])
    return [[phase.api, variant.label, fmt_us(own * 1000), fmt_us(others * 1000),
             fmt_us((own + others) * 1000), "-" if variant is PLAIN else fmt_delta(own + others - base)]
            for variant, (own, others) in per_nav.items()]


def where_rows(phase: Phase) -> list[list[str]]:
    """The default configuration taken apart, from the probe and the bare memory calls."""
    p = phase.probe

    def med(values: Sequence[float]) -> str:
        finite = [x for x in values if not math.isnan(x)]
        return str(Lat.of(finite)) if finite else "n/a"

    def diff(later: Sequence[float], earlier: Sequence[float]) -> list[float]:
        return [b - a for a, b in zip(earlier, later, strict=True) if not (math.isnan(a) or math.isnan(b))]

    delays = [d for d in p.delays if d > 0]
    longest = f", longest {fmt_us(max(delays) * 1000 * 1000)}" if delays else ""
    heard = sum(not math.isnan(x) for x in p.load_event)
    hooked = sum(not math.isnan(x) for x in p.report_in)
    if phase.api == "async":
        to_hooks = "the load listener spawns the recording task; until it runs"
        hooks = "hooks decide; the write is awaited after them"
    else:
        to_hooks = "the load listener runs the hooks inline"
        hooks = "hooks decide; the write goes to the memory's worker threads"
    rows = [
        [phase.api, "probe: site.goto, call -> return", med(p.returned),
         f"plain page.goto interleaved: {med(p.plain)}"],
        [phase.api, "probe: call -> consult done (profile + hooks)", med(p.consulted),
         f"politeness delay > 0 in {len(delays)}/{len(p.delays)} calls{longest}"],
        [phase.api, "probe: call -> page's load event", med(p.load_event),
         f"first load listener (Playwright); heard in {heard}/{len(p.load_event)} calls"],
        [phase.api, "probe: load event -> after_navigation hooks start", med(diff(p.report_in, p.load_event)),
         f"{to_hooks}; hooks ran in {hooked}/{len(p.report_in)} calls"],
        [phase.api, "probe: after_navigation hooks, first -> last", med(diff(p.recorded, p.report_in)),
         hooks],
        [phase.api, "probe: hooks done -> site.goto returns", med(diff(p.returned, p.recorded)),
         "< 0: goto returned before the hooks were done"],
        [phase.api, "probe: call -> recording done (settle returns)", med(p.settled),
         "site.settle() after the return, untimed in goto"],
    ]
    for name, samples in phase.writes.items():
        rows.append([phase.api, name, str(Lat.of(samples)), "bare call, no browser"])
    return rows


def report(cfg: Config, phases: Sequence[Phase]) -> None:
    v = Verdicts()
    say(f"\nRESULTS ({cfg.navigations} timed navigations per variant and API, rounds of {cfg.per_round}; "
        "latency cells: median / p99)")
    print_table(["api", "variant", "goto latency", "vs plain", "+median", "target", "result"],
                result_rows(phases, v))
    say("\nDECOMPOSITION of the default configuration's median (differences of medians, so noisy)")
    for phase in phases:
        m = {variant: phase.lat(variant).median_ms for variant in VARIANTS}
        parts = [
            ("Playwright: listeners (response, requestfailed, dcl, load), no-op", m[FLOOR] - m[PLAIN]),
            ("sitememory: recording (listeners, hooks, write; off the path)", m[RECORD_ONLY] - m[FLOOR]),
            ("sitememory: site.goto (consult: profile, before_navigation)", m[DEFAULT_SITE] - m[RECORD_ONLY]),
            ("total: site.goto fsync - plain page.goto", m[DEFAULT_SITE] - m[PLAIN]),
            ("noise: A/A control - plain page.goto", m[CONTROL] - m[PLAIN]),
        ]
        for text, ms in parts:
            say(f"  {phase.api:<5} {text:<66} {fmt_delta(ms):>10}")
    say("\nSTORES (visit_count read afresh from disk after the run)")
    for phase in phases:
        for c in phase.checks:
            say(f"  {c.api:<5} {c.variant.label:<40} visit_count {c.visit_count!s:>5}, navigations "
                f"{c.expected:>5}: {'OK' if c.ok else 'MISMATCH'}")
        say(f"  {phase.api:<5} server answered {phase.served} page requests for {phase.navigations} "
            f"navigations: {'OK' if phase.served == phase.navigations else 'MISMATCH'}")
        ev, n = phase.floor_events, phase.floor_navigations
        heard = ev["load"] == ev["domcontentloaded"] == ev["response"] == n and not ev["requestfailed"]
        say(f"  {phase.api:<5} floor listeners called: response {ev['response']}, domcontentloaded "
            f"{ev['domcontentloaded']}, load {ev['load']}, requestfailed {ev['requestfailed']} for {n} "
            f"navigations: {'OK' if heard else 'MISMATCH'}")
    say("\nCPU PER NAVIGATION (summed over each variant's turns, / timed navigations; "
        "clock ticks of 10 ms per process, so a few ms of noise)")
    print_table(["api", "variant", "Python process", "driver + browser", "total", "vs plain"],
                [row for ph in phases for row in cpu_rows(ph)])
    say("\nWHERE THE TIME GOES (default configuration; medians / p99)")
    print_table(["api", "figure", "median / p99", "note"], [row for ph in phases for row in where_rows(ph)])
    say("\nTARGETS")
    for text, passed in v.checked:
        say(f"  {'PASS' if passed else 'FAIL'}  {text}")
    controls = ", ".join(f"{ph.api} {fmt_ratio(ph.ratio(CONTROL))}" for ph in phases)
    loads = "; ".join(f"{ph.api} {ph.load[0]} -> {ph.load[-1]}" for ph in phases)
    say(f"\n{sum(p for _, p in v.checked)}/{len(v.checked)} targets met; A/A control (plain vs plain, the "
        f"run's noise): {controls}; load average {loads}")


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    args = arguments(__doc__, "smaller counts: a smoke test", {
        "-n": {"type": int, "help": "timed navigations per variant and API (default 200, quick 30)"},
        "--per-round": {"type": int, "help": "navigations of one variant per turn (default 10)"},
        "--chromium": {"help": "Chromium executable (default: Playwright's, else the system's)"},
    })
    cfg = QUICK if args.quick else DEFAULT
    per_round = args.per_round or cfg.per_round
    navigations = args.n or cfg.navigations
    cfg = Config(cfg.mode, max(per_round, navigations // per_round * per_round), per_round, cfg.warmup,
                 cfg.probe, cfg.writes)
    work = Path(tempfile.mkdtemp(prefix="sitememory-nav-bench-", dir=args.dir))
    local = LocalSite()
    began = time.perf_counter()
    say(f"sitememory navigation benchmark ({cfg.mode} mode): {machine()}, "
        f"playwright {importlib.metadata.version('playwright')}; site {local.base} "
        f"({len(PAGE)}-byte page, HTTP/1.1 keep-alive); work dir {work}")
    say(f"  {cfg.navigations} timed navigations per variant and API after {cfg.warmup} untimed, in rounds "
        f"of {cfg.per_round}; variants: {', '.join(v.label for v in VARIANTS)}")
    phases: list[Phase] = []
    try:
        say(f"\n[{time.perf_counter() - began:6.1f} s] async API")
        phases.append(asyncio.run(async_phase(cfg, work, local, args.chromium)))
        say(f"  Chromium {phases[-1].chromium} (headless); phase took {phases[-1].seconds:.1f} s; "
            f"load average {phases[-1].load[0]} -> {phases[-1].load[-1]}")
        say(f"\n[{time.perf_counter() - began:6.1f} s] sync API")
        phases.append(sync_phase(cfg, work, local, args.chromium))
        say(f"  Chromium {phases[-1].chromium} (headless); phase took {phases[-1].seconds:.1f} s; "
            f"load average {phases[-1].load[0]} -> {phases[-1].load[-1]}")
    finally:
        local.close()
        shutil.rmtree(work, ignore_errors=True)
    report(cfg, phases)
    say(f"total time {time.perf_counter() - began:.1f} s ({cfg.mode} mode)")


if __name__ == "__main__":
    main()
    sys.exit(0)
