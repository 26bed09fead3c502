"""Benchmark of the MCP server's latency per tool call, over each transport, against the same
operation called directly on ``SiteMemory``.

What it measures, in one run, on the machine it runs on:

1. for each tool of ``sitememory_plugin.integrations.mcp``, the p50 and p95 latency of one call,
   ``await client.call_tool(name, arguments)`` with the official SDK's ``Client`` (and of a
   ``prompts/list`` past the client's cache, the floor of a round trip: protocol 2026-07-28 has no
   ``ping``):

   (a) in-process: ``Client(build_server(memory))`` in this process (the SDK dispatches to the
       server directly, without JSON-RPC framing);
   (b) over stdio to a ``sitememory --store DIR mcp`` subprocess, as an MCP host starts it;
   (c) over streamable HTTP to a ``sitememory --store DIR mcp --http --port 0`` subprocess;
   (d) the baseline: the same operation called directly on the async API of a ``SiteMemory``
       (``await memory.record_visit(...)``, ``await memory.get_context_for_prompt(...)``, ...);

   and the ratio of stdio to direct. The four are measured in interleaved rounds (the tools, then
   the transports, taking turns in a rotating order) so that the machine's noise falls on all of
   them alike; each has its own copy of one warmed file store (a rich site with visits, selectors,
   quirks and patterns, so that ``site_context`` has content, another like it and 18 sites seen a
   few times), opened with the defaults of ``sitememory mcp`` (``durability="fsync"``,
   ``cache_ttl=60``), and the same plugins (the built-ins: the subprocesses run with
   ``SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD=1``). ``site_context`` adds the plugins' lines (timeout,
   politeness) to what ``get_context_for_prompt`` gives, so its baseline does a little less.
   The CPU time that this process and the server's process spent per call, summed over each
   batch of calls (``time.process_time_ns``; the server's from ``/proc/PID/task/*/schedstat``),
   says where the time of a call goes: the rest of its latency is waiting (fsync, pipes,
   sockets, wake-ups);
2. two stdio servers writing to one store at once: the aggregate rate of ``record_visit`` calls
   (each client one call at a time, as an agent makes them; each client in a process of its own
   with its own server) with 1 server, with 2 servers on one site, and with 2 servers on a site
   each, then every site's ``visit_count`` checked against the calls made.

The file is not named ``mcp.py``: that name would shadow the ``mcp`` SDK, both at run time (the
script's directory comes first on ``sys.path``) and for mypy (``bench`` is checked as top-level
modules, so the file *is* module ``mcp`` for ``tests/test_mcp.py`` too).

Run::

    python bench/mcp_server.py [--quick] [--rounds N] [--seconds S] [--dir DIR]

``--quick`` is a smoke test (about 20 s); the default run takes about a minute on 2 cores.
``--rounds`` sets the interleaved rounds of the latency section (10 calls per tool and transport
each), ``--seconds`` the length of each throughput run. Everything is written under a temporary
directory (in ``DIR`` if given), removed at the end. The exit code is 1 if a check failed (a tool
call returned an error, a ``visit_count`` does not add up), else 0: this is a benchmark, not a
test, and nothing is asserted about time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from _report import (
    arguments,
    fmt_rate,
    load_time,
    machine,
    percentile,
    print_table,
    ratio,
    say,
    settle,
    url_of,
    visit_counts,
)
from mcp import Client
from mcp.client.stdio import StdioServerParameters, get_default_environment

from sitememory_plugin import SiteMemory, make_plugin_manager
from sitememory_plugin.integrations.mcp import build_server

#: The rich sites: every tool call of the latency section is about the first.
SHOP, NEWS = "shop.example", "news.example"
URL = "https://shop.example/search?q=shoes"
#: Visits of each rich site in the warmed store.
VISITS = 80
#: Sites seen a few times each, beside the rich ones (``list_sites`` lists all of them).
LIGHT_SITES = 18
#: The transports, in the table's order; ``direct`` is the baseline, no MCP at all.
MODES = ("direct", "in-process", "stdio", "HTTP")
#: The server's environment: what an MCP host passes (HOME, PATH, ...) and no plugin autoload,
#: as the in-process server's plugin manager has (built-ins only).
SERVER_ENV = {**get_default_environment(), "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD": "1"}


@dataclass(frozen=True)
class Config:
    mode: str
    rounds: int  # interleaved rounds of the latency section
    per_round: int  # timed calls per tool and transport in a round
    warmup: int  # untimed calls per tool and transport before the rounds
    seconds: float  # of each throughput run


DEFAULT = Config("default", rounds=20, per_round=10, warmup=10, seconds=4.0)
QUICK = Config("quick", rounds=3, per_round=5, warmup=3, seconds=1.0)


# -- the store ----------------------------------------------------------------------------------


SEARCH_STEPS: list[Any] = [
    {"action": "click", "selector": "#accept-cookies"},
    {"action": "fill", "purpose": "search box", "selector": "input[name=q]", "value": "{query}"},
    {"action": "press", "key": "Enter"},
]
SEARCH_FALLBACKS = ["#search", "form[role=search] input"]
CART_STEPS: list[Any] = [
    {"action": "click", "purpose": "first result", "selector": ".result a"},
    {"action": "click", "purpose": "add to cart", "selector": "button.add-to-cart"},
]


def warm(root: Path) -> None:
    """A store as an agent fleet leaves it: two rich sites, and ``LIGHT_SITES`` seen a few times."""
    memory = SiteMemory(root, durability="none")
    timings = {"ttfb": 0.08, "dom_content_loaded": 0.6, "load": 1.1}
    for key in (SHOP, NEWS):
        base = url_of(key)
        for i in range(VISITS):
            page = f"{base}{('search?q=shoes', 'cart', 'item/42', '')[i % 4]}"
            if i % 20 == 7:
                memory.record_visit_sync(page, 30.0, error="net::ERR_TIMED_OUT")
            else:
                memory.record_visit_sync(page, load_time(i), status=503 if i % 25 == 3 else 200,
                                         timings=timings)
        memory.cache_selector_sync(base, "search box", "input[name=q]", SEARCH_FALLBACKS)
        memory.cache_selector_sync(base, "add to cart", "button.add-to-cart", ["text=Add to cart"])
        memory.cache_selector_sync(base, "first result", ".result a", [".results li:first-child a"])
        for ok in (True, True, False, True):
            memory.record_selector_result_sync(base, "search box", "input[name=q]", ok)
        memory.record_selector_result_sync(base, "add to cart", "text=Add to cart", True)
        memory.record_quirk_sync(base, "cookie banner covers the search box", "click #accept-cookies")
        memory.record_quirk_sync(base, "results load lazily as you scroll", "scroll to the bottom and wait")
        memory.cache_action_pattern_sync(base, "search", SEARCH_STEPS)
        memory.cache_action_pattern_sync(base, "add to cart", CART_STEPS)
    for n in range(LIGHT_SITES):
        for i in range(1 + n % 5):
            memory.record_visit_sync(url_of(f"site-{n:02d}.example"), load_time(n * 5 + i), status=200)
    memory.close_sync()


# -- the operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """A tool call, and the operation it stands for on the memory (``None``: no such baseline)."""

    name: str
    arguments: dict[str, Any]
    direct: Callable[[SiteMemory], Awaitable[object]] | None
    baseline: str  # what ``direct`` calls, for the table's notes
    writes: bool = False


async def _list_sites(memory: SiteMemory) -> list[object]:
    """What the tool does: every key, then each site's (cached) profile."""
    return [await memory.get_profile(url_of(key)) for key in await memory.list_sites()]


#: Not a tool: ``prompts/list`` past the client's cache (the 2026-07-28 protocol has no ping).
FLOOR = "prompts/list (floor)"
SELECTOR = {"url": URL, "purpose": "search box", "selector": "input[name=q]"}
QUIRK = {"url": URL, "description": "cookie banner covers the search box",
         "workaround": "click #accept-cookies"}
TOOLS = [
    Tool(FLOOR, {}, None, "-: a round trip that reads nothing (one prompt listed), the floor"),
    Tool("site_context", {"url": URL},
         lambda m: m.get_context_for_prompt(URL), "get_context_for_prompt (without the plugins' lines)"),
    Tool("recall_steps", {"url": URL, "task": "search"},
         lambda m: m.get_action_pattern(URL, "search"), "get_action_pattern"),
    Tool("list_sites", {}, _list_sites, f"list_sites + get_profile of each ({LIGHT_SITES + 2} sites)"),
    Tool("record_visit", {"url": URL, "duration": 1.2, "status": 200},
         lambda m: m.record_visit(URL, 1.2, status=200), "record_visit", writes=True),
    Tool("remember_selector", {**SELECTOR, "fallbacks": SEARCH_FALLBACKS},
         lambda m: m.cache_selector(URL, "search box", "input[name=q]", SEARCH_FALLBACKS),
         "cache_selector", writes=True),
    Tool("selector_result", {**SELECTOR, "ok": True},
         lambda m: m.record_selector_result(URL, "search box", "input[name=q]", True),
         "record_selector_result", writes=True),
    Tool("remember_quirk", QUIRK,
         lambda m: m.record_quirk(URL, QUIRK["description"], QUIRK["workaround"]), "record_quirk",
         writes=True),
    Tool("remember_steps", {"url": URL, "task": "search", "actions": SEARCH_STEPS},
         lambda m: m.cache_action_pattern(URL, "search", SEARCH_STEPS), "cache_action_pattern",
         writes=True),
]


CONTEXT = next(tool for tool in TOOLS if tool.name == "site_context")


class ToolFailed(RuntimeError):
    pass


async def call(client: Client, tool: Tool) -> object:
    if tool.name == FLOOR:
        return await client.list_prompts(cache_mode="bypass")
    result = await client.call_tool(tool.name, tool.arguments)
    if result.is_error:
        text = getattr(result.content[0], "text", "") if result.content else ""
        raise ToolFailed(f"{tool.name}: {text}")
    return result


def text_of(result: object) -> str:
    content = getattr(result, "content", None) or [None]
    return str(getattr(content[0], "text", ""))


# -- processes ----------------------------------------------------------------------------------


def server_command(store: Path) -> list[str]:
    """``sitememory --store STORE mcp``, with this interpreter."""
    return [sys.executable, "-m", "sitememory_plugin", "--store", str(store), "mcp"]


def stdio_params(store: Path) -> StdioServerParameters:
    command, *args = server_command(store)
    return StdioServerParameters(command=command, args=args, env=SERVER_ENV)


def children() -> set[int]:
    """The pids of this process' children (empty where there is no ``/proc``)."""
    me, out = os.getpid(), set()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = Path(entry.path, "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                        out.add(int(entry.name))
    return out


def cpu_ns(pid: int) -> int | None:
    """CPU time of the process ``pid`` so far (all its live threads), in ns; ``None`` if unknown."""
    total = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                total += int(Path(task.path, "schedstat").read_text().split()[0])
    except (OSError, ValueError):
        return None
    return total


class HttpServer:
    """``sitememory mcp --http --port 0`` as a subprocess; ``url`` once it listens."""

    def __init__(self, store: Path) -> None:
        self.process = subprocess.Popen(
            [*server_command(store), "--http", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=SERVER_ENV,
        )
        self.stderr: list[str] = []
        self.url = ""

    async def started(self, timeout: float = 60) -> str:
        assert self.process.stderr is not None
        stream = self.process.stderr
        line = await asyncio.wait_for(asyncio.to_thread(stream.readline), timeout)
        if not line.startswith("sitememory mcp: listening on "):
            raise RuntimeError(f"sitememory mcp --http did not start: {line}{stream.read()}")
        self.url = line.split("listening on ", 1)[1].strip()
        # Drain what it writes later, so that it never blocks on a full pipe.
        threading.Thread(target=lambda: self.stderr.extend(stream), daemon=True).start()
        return self.url

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- 1: latency per call ------------------------------------------------------------------------


@dataclass
class Cell:
    """The calls of one tool over one transport."""

    ns: list[int] = field(default_factory=list)
    client_cpu_ns: int = 0
    server_cpu_ns: int | None = 0
    calls: int = 0  # timed calls the CPU figures cover

    def p50_ms(self) -> float:
        return statistics.median(self.ns) / 1e6 if self.ns else math.nan

    def p95_ms(self) -> float:
        return percentile(self.ns, 95) / 1e6

    def mean_ms(self) -> float:
        return statistics.fmean(self.ns) / 1e6 if self.ns else math.nan


@dataclass
class Latency:
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (tool, mode)
    startup_s: dict[str, float] = field(default_factory=dict)
    context_chars: dict[str, int] = field(default_factory=dict)
    protocol: dict[str, str] = field(default_factory=dict)
    stores: dict[str, Path] = field(default_factory=dict)


Op = Callable[[], Awaitable[object]]


async def bench_latency(cfg: Config, work: Path, warmed: Path, checks: Checks) -> Latency:
    res = Latency()
    for mode in MODES:
        res.stores[mode] = work / f"store-{mode}"
        shutil.copytree(warmed, res.stores[mode])
    settle()
    async with AsyncExitStack() as stack:
        direct = await stack.enter_async_context(SiteMemory(res.stores["direct"]))
        own = await stack.enter_async_context(SiteMemory(res.stores["in-process"]))
        server = build_server(own, plugins=make_plugin_manager(entry_points=False, environment=False))
        clients: dict[str, Client] = {}
        servers: dict[str, int | None] = {"direct": None, "in-process": None}
        for mode in MODES[1:]:
            before, started = children(), time.perf_counter()
            if mode == "in-process":
                clients[mode] = await stack.enter_async_context(Client(server))
            elif mode == "stdio":
                clients[mode] = await stack.enter_async_context(Client(stdio_params(res.stores[mode])))
                new = children() - before
                servers[mode] = new.pop() if len(new) == 1 else None
            else:
                http = HttpServer(res.stores[mode])
                stack.callback(http.stop)
                clients[mode] = await stack.enter_async_context(Client(await http.started()))
                servers[mode] = http.process.pid
            res.startup_s[mode] = time.perf_counter() - started
            res.protocol[mode] = clients[mode].protocol_version
        say(f"  started: stdio server (spawn to session ready) {res.startup_s['stdio']:.2f} s, HTTP server "
            f"(spawn to listening to session ready) {res.startup_s['HTTP']:.2f} s; protocol "
            + ", ".join(f"{m} {v}" for m, v in res.protocol.items()))

        ops: dict[tuple[str, str], Op] = {}
        for tool in TOOLS:
            if tool.direct is not None:
                ops[tool.name, "direct"] = bound(tool.direct, direct)
            for mode, client in clients.items():
                ops[tool.name, mode] = bound(call, client, tool)
        context = await direct.get_context_for_prompt(URL)
        res.context_chars["direct"] = len(context)
        for mode, client in clients.items():
            res.context_chars[mode] = len(text_of(await call(client, CONTEXT)))
        say(f"  site_context of {URL}: {res.context_chars['stdio']} characters over stdio "
            f"({res.context_chars['in-process']} in-process, {res.context_chars['HTTP']} HTTP); "
            f"get_context_for_prompt: {len(context)}")
        res.cells = await interleave(ops, {mode: server_cpu(pid) for mode, pid in servers.items()}, cfg)
    calls = cfg.warmup + cfg.rounds * cfg.per_round
    for mode, store in res.stores.items():
        shop = visit_counts(store, [SHOP])[SHOP]
        checks.check(f"{mode} store: visit_count of {SHOP} {VISITS} + {calls} record_visit calls = {shop}",
                     shop == VISITS + calls)
    return res


def server_cpu(pid: int | None) -> Callable[[], int | None]:
    """The CPU time of the server process ``pid`` so far (``None``: in this process, or unknown)."""
    return lambda: None if pid is None else cpu_ns(pid)


def bound(fn: Callable[..., Awaitable[object]], *args: Any) -> Op:
    return lambda: fn(*args)


async def interleave(ops: Mapping[tuple[str, str], Op], server_cpu: Mapping[str, Callable[[], int | None]],
                     cfg: Config) -> dict[tuple[str, str], Cell]:
    """Time each op ``cfg.rounds * cfg.per_round`` times after ``cfg.warmup`` untimed calls: in each
    round every tool in turn, and for each tool every transport in turn (both in a rotating
    order), ``per_round`` calls of each."""
    for op in ops.values():
        for _ in range(cfg.warmup):
            await op()
    tools, modes = list(dict.fromkeys(tool for tool, _ in ops)), list(MODES)
    cells = {key: Cell() for key in ops}
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    for r in range(cfg.rounds):
        for tool in tools[r % len(tools):] + tools[: r % len(tools)]:
            for mode in modes[r % len(modes):] + modes[: r % len(modes)]:
                if (tool, mode) not in ops:
                    continue
                op, cell = ops[tool, mode], cells[tool, mode]
                server_before, client_before = server_cpu[mode](), cpu()
                for _ in range(cfg.per_round):
                    start = clock()
                    await op()
                    cell.ns.append(clock() - start)
                cell.client_cpu_ns += cpu() - client_before
                server_after = server_cpu[mode]()
                if cell.server_cpu_ns is not None and server_before is not None and server_after is not None:
                    cell.server_cpu_ns += server_after - server_before
                else:
                    cell.server_cpu_ns = None
                cell.calls += cfg.per_round
    return cells


# -- 2: servers writing at once -----------------------------------------------------------------


@dataclass(frozen=True)
class WriterJob:
    store: str
    key: str
    seconds: float
    warmup: int


@dataclass(frozen=True)
class WriterResult:
    calls: int  # timed, after the barrier
    warmup: int
    start_ns: int
    end_ns: int
    ns: list[int]
    error: str | None = None


def writer(job: WriterJob, barrier: Barrier, conn: Connection) -> None:
    """A process of its own: a client with its own stdio server calling ``record_visit`` in a loop."""
    try:
        conn.send(asyncio.run(write_for(job, barrier)))
    except BaseException:
        barrier.abort()
        conn.send(WriterResult(0, 0, 0, 0, [], traceback.format_exc()))


async def write_for(job: WriterJob, barrier: Barrier) -> WriterResult:
    tool = Tool("record_visit", {"url": url_of(job.key), "duration": 0.8, "status": 200}, None, "")
    async with Client(stdio_params(Path(job.store))) as client:
        for _ in range(job.warmup):
            await call(client, tool)
        barrier.wait(timeout=120)
        clock = time.monotonic_ns  # system-wide: the processes' windows are comparable
        start = clock()
        deadline, ns = start + int(job.seconds * 1e9), []
        now = start
        while now < deadline:
            await call(client, tool)
            before, now = now, clock()
            ns.append(now - before)
        return WriterResult(len(ns), job.warmup, start, now, ns)


@dataclass(frozen=True)
class Run:
    label: str
    keys: tuple[str, ...]  # one per server


@dataclass
class RunResult:
    run: Run
    rate: float
    calls: int
    window_s: float
    p50_ms: float
    p95_ms: float
    ok: bool


RUNS = [Run("1 server", (SHOP,)), Run("2 servers, one site", (SHOP, SHOP)),
        Run("2 servers, a site each", (SHOP, NEWS))]


def bench_writers(cfg: Config, work: Path, warmed: Path, checks: Checks) -> list[RunResult]:
    ctx = mp.get_context("spawn")
    out = []
    for n, run in enumerate(RUNS):
        store = work / f"writers-{n}"
        shutil.copytree(warmed, store)
        settle()
        before = visit_counts(store, list(run.keys))
        barrier = ctx.Barrier(len(run.keys))
        pipes, procs = [], []
        for key in run.keys:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=writer, args=(WriterJob(str(store), key, cfg.seconds, cfg.warmup),
                                                   barrier, child))
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        results: list[WriterResult] = [pipe.recv() for pipe in pipes]
        for proc in procs:
            proc.join(60)
        for r in results:
            if r.error:
                checks.check(f"{run.label}: a writer failed:\n{r.error}", False)
        calls = sum(r.calls for r in results)
        window = (max(r.end_ns for r in results) - min(r.start_ns for r in results)) / 1e9
        ns = [x for r in results for x in r.ns]
        after = visit_counts(store, list(run.keys))
        made = {key: sum(r.calls + r.warmup for r, k in zip(results, run.keys, strict=True) if k == key)
                for key in set(run.keys)}
        ok = all(after[k] == before[k] + made[k] for k in made)
        checks.check(f"{run.label}: visit_count " + ", ".join(
            f"{k} {before[k]} + {made[k]} calls = {after[k]}" for k in sorted(made)), ok)
        res = RunResult(run, calls / window if window > 0 else math.nan, calls, window,
                        statistics.median(ns) / 1e6 if ns else math.nan, percentile(ns, 95) / 1e6, ok)
        say(f"  {run.label:<24} {fmt_rate(res.rate):>8}  {calls} calls in {window:.2f} s, "
            f"per call p50 {fmt_ms(res.p50_ms)} p95 {fmt_ms(res.p95_ms)} ms")
        out.append(res)
        shutil.rmtree(store)
    return out


# -- report -------------------------------------------------------------------------------------


class Checks:
    """Correctness checks (never time): each printed where it is made."""

    def __init__(self) -> None:
        self.results: list[bool] = []

    def check(self, text: str, passed: bool) -> None:
        self.results.append(passed)
        say(f"  checked: {text}: {'OK' if passed else 'FAILED'}")


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def fmt_diff(value: float) -> str:
    return ("+" if value >= 0 else "-") + fmt_ms(abs(value))


def report(cfg: Config, lat: Latency, writers: Sequence[RunResult]) -> None:
    n = cfg.rounds * cfg.per_round
    say(f"\nLATENCY PER CALL in ms, p50 / p95 ({n} timed calls per cell, in {cfg.rounds} interleaved "
        f"rounds of {cfg.per_round}, after {cfg.warmup} untimed)")
    rows = []
    for tool in TOOLS:
        cells = {mode: lat.cells.get((tool.name, mode)) for mode in MODES}
        row = [tool.name + (" (w)" if tool.writes else "")]
        for mode in MODES:
            cell = cells[mode]
            row.append("-" if cell is None else f"{fmt_ms(cell.p50_ms())} / {fmt_ms(cell.p95_ms())}")
        stdio, direct = cells["stdio"], cells["direct"]
        row.append("-" if stdio is None or direct is None else ratio(stdio.p50_ms(), direct.p50_ms()))
        row.append("-" if stdio is None or direct is None else fmt_diff(stdio.p50_ms() - direct.p50_ms()))
        rows.append(row)
    print_table(["tool ((w): writes)", *MODES, "stdio/direct", "stdio-direct"], rows)
    say("  direct: " + "; ".join(f"{t.name}: {t.baseline}" for t in TOOLS if t.direct is not None))

    say("\nWHERE THE TIME GOES (per call: mean latency, then the CPU time this process and the "
        "server's process spent, in ms; the rest is waiting: fsync, pipes, wake-ups)")
    rows = []
    for tool in TOOLS:
        shown = False
        for mode in MODES:
            cell = lat.cells.get((tool.name, mode))
            if cell is None:
                continue
            here = cell.client_cpu_ns / cell.calls / 1e6
            alone = mode in ("direct", "in-process")  # one process: its CPU is all of it
            server = (0.0 if alone else None if cell.server_cpu_ns is None
                      else cell.server_cpu_ns / cell.calls / 1e6)
            rows.append(["" if shown else tool.name, mode, fmt_ms(cell.mean_ms()), fmt_ms(here),
                         "-" if alone else "n/a" if server is None else fmt_ms(server),
                         "n/a" if server is None else f"{cell.mean_ms() - here - server:+.2f}"])
            shown = True
    print_table(["tool", "transport", "mean", "CPU this process", "CPU server process", "waiting"], rows)

    say("\nDIFFERENCES of the p50s, ms (so noisy): what each layer adds")
    rows = []
    for tool in TOOLS:
        p50 = {mode: cell.p50_ms() for mode in MODES if (cell := lat.cells.get((tool.name, mode)))}
        rows.append([tool.name, fmt_diff(p50["in-process"] - p50["direct"]) if "direct" in p50 else "-",
                     fmt_diff(p50["stdio"] - p50["in-process"]), fmt_diff(p50["HTTP"] - p50["in-process"]),
                     fmt_diff(p50["HTTP"] - p50["stdio"])])
    print_table(["tool", "SDK dispatch + tool (in-process - direct)", "stdio transport (stdio - in-process)",
                 "HTTP transport (HTTP - in-process)", "HTTP - stdio"], rows)

    say(f"\nSERVERS WRITING AT ONCE: record_visit over stdio, each client one call at a time in a process "
        f"of its own, {cfg.seconds:g} s per run")
    one = writers[0].rate
    print_table(["servers", "calls/s", "vs 1 server", "per call p50 / p95 (ms)", "calls", "visit_count"],
                [[w.run.label, fmt_rate(w.rate), ratio(w.rate, one),
                  f"{fmt_ms(w.p50_ms)} / {fmt_ms(w.p95_ms)}", str(w.calls), "OK" if w.ok else "MISMATCH"]
                 for w in writers])


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    args = arguments(__doc__, "smaller counts: a smoke test (~20 s)", {
        "--rounds": {"type": int, "help": f"interleaved rounds of the latency section (default "
                     f"{DEFAULT.rounds}, quick {QUICK.rounds}; {DEFAULT.per_round} calls per cell each)"},
        "--seconds": {"type": float, "help": f"seconds of each throughput run (default {DEFAULT.seconds:g}, "
                      f"quick {QUICK.seconds:g})"},
    })
    cfg = QUICK if args.quick else DEFAULT
    if args.rounds:
        cfg = Config(**{**cfg.__dict__, "rounds": args.rounds})
    if args.seconds:
        cfg = Config(**{**cfg.__dict__, "seconds": args.seconds})
    work = Path(tempfile.mkdtemp(prefix="sitememory-mcp-bench-", dir=args.dir))
    began = time.perf_counter()
    say(f"sitememory MCP server benchmark ({cfg.mode} mode): {machine()}; mcp {version('mcp')}, "
        f"uvicorn {version('uvicorn')}, httpx2 {version('httpx2')}; work dir {work}")
    checks = Checks()
    try:
        warmed = work / "warmed"
        warm(warmed)
        say(f"  store: {SHOP} and {NEWS} ({VISITS} visits, 3 selectors, 2 quirks, 2 task patterns each), "
            f"{LIGHT_SITES} sites of 1-5 visits; file store, durability fsync, cache_ttl 60 s")
        say(f"\n[{time.perf_counter() - began:6.1f} s] 1 latency per call: "
            f"{len(TOOLS)} calls x {len(MODES)} transports")
        lat = asyncio.run(bench_latency(cfg, work, warmed, checks))  # a tool's error: ToolFailed
        say(f"\n[{time.perf_counter() - began:6.1f} s] 2 servers writing at once")
        writers = bench_writers(cfg, work, warmed, checks)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(cfg, lat, writers)
    passed = sum(checks.results)
    say(f"\nCHECKED: {passed}/{len(checks.results)} checks passed (tool results and visit counts; "
        "nothing about time)")
    say(f"total time {time.perf_counter() - began:.1f} s ({cfg.mode} mode)")
    return 0 if passed == len(checks.results) else 1


if __name__ == "__main__":
    sys.exit(main())
