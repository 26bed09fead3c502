"""Child processes for the multi-process tests, and the parent's side of talking to them.

The parent imports this module (``tests._workers``) for :class:`Spawner`, :func:`make_plan` and
:func:`check_store`. A child runs this file as a script, by path, in a fresh interpreter::

    python tests/_workers.py <command> '<json arguments>'

so it needs nothing from the test package, and nothing is forked from a threaded pytest.

Protocol: a child writes one line per event to stdout (``ready``, ``held``, ``done`` ...), and
reads commands (``go``, ``release``, ``stop``) one per line from stdin. Its stderr goes to a file
that the parent shows when the child fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitememory_plugin import LockTimeout, ReadWriteLock, SiteMemory, site_key
from sitememory_plugin._core import files
from sitememory_plugin._core.files import Layout

SCRIPT = Path(__file__).resolve()

#: Sites shared by the workers; each is reached through several spellings of its URL.
SITES: tuple[tuple[str, ...], ...] = (
    ("https://www.alpha.example/", "http://alpha.example/login?next=/", "ALPHA.example"),
    ("https://beta.example:8443/a", "https://BETA.example:8443/b#frag"),
    ("http://gamma.example/", "gamma.example/search?q=1"),
    ("https://delta.example/",),
)
QUIRKS = ("cookie banner covers the page", "search results load lazily")
PURPOSES: dict[str, tuple[str, ...]] = {
    "search box": ("#q", "input[name=q]", "form input[type=search]"),
    "login button": ("#login", "button.login"),
}
TASKS = ("search", "login")
#: Outcome mix of visits: (status, error); 200/302 succeed, the others fail.
OUTCOMES: tuple[tuple[int | None, str | None], ...] = (
    (200, None), (200, None), (302, None), (None, None), (503, None), (404, None),
    (None, "net::ERR_TIMED_OUT"),
)


# -- plans: what a worker does, decided by its seed -----------------------------------------------


@dataclass(frozen=True)
class Op:
    """One update a worker sends. ``name`` is the quirk, purpose or task; see :func:`run_op_sync`."""

    kind: str  # "visit" | "quirk" | "selector" | "pattern"
    url: str
    duration: float = 0.0
    status: int | None = None
    error: str | None = None
    name: str = ""
    candidate: str = ""
    ok: bool = False
    mark: tuple[int, int] = (0, 0)  # (worker seed, step) of a pattern's actions


def make_plan(seed: int, n: int, sites: Sequence[Sequence[str]] = SITES) -> list[Op]:
    """``n`` mixed updates over ``sites``, the same for the same seed in every process."""
    rng = random.Random(seed)
    plan: list[Op] = []
    for step in range(n):
        url = rng.choice(rng.choice(sites))
        kind = rng.choices(("visit", "quirk", "selector", "pattern"), weights=(5, 2, 3, 1))[0]
        if kind == "visit":
            status, error = rng.choice(OUTCOMES)
            plan.append(Op("visit", url, round(rng.uniform(0.05, 9.0), 3), status, error))
        elif kind == "quirk":
            plan.append(Op("quirk", url, name=rng.choice(QUIRKS)))
        elif kind == "selector":
            purpose = rng.choice(sorted(PURPOSES))
            candidate = rng.choice(PURPOSES[purpose])
            plan.append(Op("selector", url, name=purpose, candidate=candidate, ok=rng.random() < 0.6))
        else:
            plan.append(Op("pattern", url, name=rng.choice(TASKS), mark=(seed, step)))
    return plan


def pattern_actions(op: Op) -> list[dict[str, Any]]:
    return [{"type": "click", "selector": "#go"}, {"type": "mark", "worker": op.mark[0], "step": op.mark[1]}]


def run_op_sync(memory: SiteMemory, op: Op) -> None:
    if op.kind == "visit":
        memory.record_visit_sync(op.url, op.duration, status=op.status, error=op.error)
    elif op.kind == "quirk":
        memory.record_quirk_sync(op.url, op.name, workaround=f"workaround for {op.name}")
    elif op.kind == "selector":
        memory.record_selector_result_sync(op.url, op.name, op.candidate, op.ok)
    elif op.kind == "pattern":
        memory.cache_action_pattern_sync(op.url, op.name, pattern_actions(op))
    else:
        raise AssertionError(f"unknown op {op}")


async def run_op(memory: SiteMemory, op: Op) -> None:
    if op.kind == "visit":
        await memory.record_visit(op.url, op.duration, status=op.status, error=op.error)
    elif op.kind == "quirk":
        await memory.record_quirk(op.url, op.name, workaround=f"workaround for {op.name}")
    elif op.kind == "selector":
        await memory.record_selector_result(op.url, op.name, op.candidate, op.ok)
    elif op.kind == "pattern":
        await memory.cache_action_pattern(op.url, op.name, pattern_actions(op))
    else:
        raise AssertionError(f"unknown op {op}")


@dataclass
class Expected:
    """What one site must show once every plan has been applied exactly once."""

    visits: int = 0
    successes: int = 0
    failures: int = 0
    #: Visits whose duration is a load time: successes, and timeouts (a lower bound).
    measured: int = 0
    durations: set[float] = field(default_factory=set)
    quirks: Counter[str] = field(default_factory=Counter)
    selector_ok: Counter[str] = field(default_factory=Counter)
    selector_failed: Counter[str] = field(default_factory=Counter)
    candidate_ok: Counter[tuple[str, str]] = field(default_factory=Counter)
    candidate_failed: Counter[tuple[str, str]] = field(default_factory=Counter)
    patterns: Counter[str] = field(default_factory=Counter)
    marks: dict[str, set[tuple[int, int]]] = field(default_factory=dict)


def expected_totals(plans: Sequence[Sequence[Op]]) -> dict[str, Expected]:
    totals: dict[str, Expected] = {}
    for plan in plans:
        for op in plan:
            exp = totals.setdefault(site_key(op.url), Expected())
            if op.kind == "visit":
                exp.visits += 1
                failed = op.error is not None or (op.status is not None and op.status >= 400)
                exp.failures += failed
                exp.successes += not failed
                exp.measured += not failed or op.error == "net::ERR_TIMED_OUT"
                exp.durations.add(op.duration)
            elif op.kind == "quirk":
                exp.quirks[op.name] += 1
            elif op.kind == "selector":
                (exp.selector_ok if op.ok else exp.selector_failed)[op.name] += 1
                (exp.candidate_ok if op.ok else exp.candidate_failed)[op.name, op.candidate] += 1
            else:
                exp.patterns[op.name] += 1
                exp.marks.setdefault(op.name, set()).add(op.mark)
    return totals


def check_store(root: Path, plans: Sequence[Sequence[Op]]) -> None:
    """Assert the store holds exactly the effect of every op of ``plans``: nothing lost or doubled."""
    expected = expected_totals(plans)
    assert_clean_files(root)
    memory = SiteMemory(root, cache_ttl=0, durability="none")
    assert memory.list_sites_sync() == sorted(expected)
    for key, exp in expected.items():
        profile = memory.get_profile_sync(key)
        assert profile is not None, key
        where = f"site {key}"
        assert (profile.visit_count, profile.success_count, profile.failure_count) == (
            exp.visits, exp.successes, exp.failures), where
        assert len(profile.load_times) == min(exp.measured, 100), where
        assert set(profile.load_times) <= exp.durations, where
        assert {q.description: q.occurrences for q in profile.quirks} == dict(exp.quirks), where
        purposes = set(exp.selector_ok) | set(exp.selector_failed)
        assert set(profile.selectors) == purposes, where
        for purpose in purposes:
            sel = profile.selectors[purpose]
            assert (sel.success_count, sel.failure_count) == (
                exp.selector_ok[purpose], exp.selector_failed[purpose]), (where, purpose)
            tried = {c for (p, c) in (*exp.candidate_ok, *exp.candidate_failed) if p == purpose}
            assert sorted(sel.ranked()) == sorted(tried), (where, purpose)
            assert {c: (s.ok, s.failed) for c, s in sel.candidates.items()} == {
                c: (exp.candidate_ok[purpose, c], exp.candidate_failed[purpose, c]) for c in tried
            }, (where, purpose)
        assert {t: p.times_cached for t, p in profile.patterns.items()} == dict(exp.patterns), where
        for task, pattern in profile.patterns.items():
            mark = pattern.actions[1]
            assert (mark["worker"], mark["step"]) in exp.marks[task], (where, task)
        # The document on disk, read without the library, says the same.
        doc = json.loads(Layout(root).site_path(key).read_bytes())
        assert doc["domain"] == key
        assert (doc["visit_count"], doc["success_count"], doc["failure_count"]) == (
            exp.visits, exp.successes, exp.failures), where


def start_waiting_update(memory: SiteMemory, url: str) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``record_visit_sync(url)`` on a thread and check that it waits (for a held lock);
    returns the thread and the list its error, if any, lands in."""
    errors: list[BaseException] = []

    def update() -> None:
        try:
            memory.record_visit_sync(url, 1.0)
        except BaseException as exc:
            errors.append(exc)

    waiter = threading.Thread(target=update)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "the update did not wait for the lock"
    return waiter, errors


def assert_clean_files(root: Path) -> None:
    """Every site document parses; nothing was quarantined; no temp file is left behind."""
    names = [p.name for p in (root / "sites").rglob("*") if p.is_file()]
    assert not [n for n in names if ".corrupt-" in n], names
    assert not [n for n in names if n.endswith(files.TEMP_SUFFIX)], names
    for path in Layout(root).site_files():
        json.loads(path.read_bytes())


# -- the parent's side ------------------------------------------------------------------------------


class Child:
    """A worker process, its stdout read line by line with a deadline, its stderr in a file."""

    def __init__(self, command: str, args: dict[str, Any], log_dir: Path, number: int) -> None:
        self.command = command
        self.stderr_path = log_dir / f"child-{number}-{command}.stderr"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), command, json.dumps(args)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            )
        self._buffer = b""
        self._eof = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-5000:]

    def _describe(self) -> str:
        return f"child {self.command} (pid {self.pid}, rc {self.proc.poll()}); stderr:\n{self.stderr()}"

    def _line(self, timeout: float) -> str | None:
        """The next line, ``None`` on timeout; raises :class:`EOFError` at the end of output."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self._eof:
                raise EOFError
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 1 << 16)
                self._buffer += chunk
                self._eof = not chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def poll_line(self, timeout: float) -> str | None:
        """The next line from the child, or ``None`` if none arrives within ``timeout`` s."""
        try:
            return self._line(timeout)
        except EOFError:
            self.proc.wait(timeout=30)
            raise AssertionError(f"{self._describe()}\nit exited before sending a line") from None

    def read_line(self, timeout: float = 60.0) -> str:
        line = self.poll_line(timeout)
        if line is None:
            raise AssertionError(f"{self._describe()}\nit sent no line within {timeout} s")
        return line

    def expect(self, word: str, timeout: float = 60.0) -> None:
        line = self.read_line(timeout)
        assert line == word, f"expected {word!r}, got {line!r} from {self._describe()}"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL, then reap: once this returns the kernel has closed every file of the child."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def finish(self, timeout: float = 120.0) -> list[str]:
        """Close its stdin, read what it still says, and assert it exited with status 0."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._line(max(0.0, deadline - time.monotonic()))
            except EOFError:
                break
            if line is None:
                raise AssertionError(f"{self._describe()}\nstill running after {timeout} s")
            lines.append(line)
        rc = self.proc.wait(timeout=30)
        assert rc == 0, f"{self._describe()}\nfailed; its output: {lines}"
        return lines

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class Spawner:
    """Starts :class:`Child` processes and kills whatever is still running at the end of a test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []

    def __call__(self, command: str, **args: Any) -> Child:
        child = Child(command, args, self.log_dir, len(self.children))
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            child.close()


# -- the children's side ----------------------------------------------------------------------------


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for(word: str) -> None:
    """Block until the parent sends ``word``; exit quietly if the parent went away."""
    line = sys.stdin.readline()
    if not line:
        sys.exit(3)
    assert line.strip() == word, f"expected {word!r} from the parent, got {line!r}"


def _memory(args: dict[str, Any], **extra: Any) -> SiteMemory:
    return SiteMemory(
        args["root"], durability=args.get("durability", "fsync"),
        flush_interval=args.get("flush_interval"), **extra,
    )


def cmd_run_plan(args: dict[str, Any]) -> None:
    """Apply ``make_plan(seed, n)`` with the sync API; starts on ``go`` so that all race."""
    memory = _memory(args)
    memory.initialize_sync()
    plan = make_plan(args["seed"], args["n"])
    say("ready")
    wait_for("go")
    for op in plan:
        run_op_sync(memory, op)
    memory.close_sync()
    say("done")


def cmd_run_plan_async(args: dict[str, Any]) -> None:
    """Apply ``make_plan(seed, n)`` with the async API from ``tasks`` concurrent tasks."""
    plan = make_plan(args["seed"], args["n"])
    tasks: int = args["tasks"]

    async def main() -> None:
        memory = _memory(args)
        await memory.initialize()
        say("ready")
        await asyncio.to_thread(wait_for, "go")

        async def worker(ops: Sequence[Op]) -> None:
            for op in ops:
                await run_op(memory, op)

        await asyncio.gather(*(worker(plan[i::tasks]) for i in range(tasks)))
        await memory.close()

    asyncio.run(main())
    say("done")


def cmd_reader(args: dict[str, Any]) -> None:
    """Read the sites over and over until ``stop``; every read parses and never goes back in time.

    Alternates the API (``cache_ttl=0``: every read revalidates) with a raw ``json.loads`` of the
    file; across both, a site's ``visit_count`` never decreases. Reports what it saw as JSON.
    """
    root = Path(args["root"])
    memory = SiteMemory(root, cache_ttl=0, durability="none")
    memory.initialize_sync()
    urls: list[str] = args["urls"]
    keys = [site_key(u) for u in urls]
    paths = [Layout(root).site_path(k) for k in keys]
    last = dict.fromkeys(keys, 0)
    changes = dict.fromkeys(keys, 0)
    passes = 0

    def observe(key: str, source: str, doc: dict[str, Any] | None) -> None:
        count = 0 if doc is None else doc["visit_count"]
        assert count >= last[key], f"{key}: {source} read {count} after {last[key]}"
        if doc is not None:
            assert doc["domain"] == key
            assert doc["success_count"] + doc["failure_count"] == count, (source, doc)
        changes[key] += count != last[key]
        last[key] = count

    say("ready")
    stopping = False
    while True:
        if not stopping and select.select([sys.stdin], [], [], 0)[0]:
            wait_for("stop")
            stopping = True  # one more full pass, after every writer has finished
        for url, key, path in zip(urls, keys, paths, strict=True):
            profile = memory.get_profile_sync(url)
            observe(key, "api", None if profile is None else {
                "domain": profile.domain, "visit_count": profile.visit_count,
                "success_count": profile.success_count, "failure_count": profile.failure_count,
            })
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                data = None
            observe(key, "raw", None if data is None else json.loads(data))
        passes += 1
        if stopping:
            break
    say(json.dumps({"passes": passes, "changes": changes, "final": last}))


def cmd_open_stores(args: dict[str, Any]) -> None:
    """For each of ``roots`` in turn: on ``go``, open that store (the first use of a new store)
    and say ``ok``, or ``error <type>: <message>`` if that failed."""
    say("ready")
    for root in args["roots"]:
        wait_for("go")
        try:
            SiteMemory(root, durability=args.get("durability", "fsync")).initialize_sync()
        except Exception as exc:
            say(f"error {type(exc).__name__}: {exc}")
        else:
            say("ok")


def cmd_crash_writer(args: dict[str, Any]) -> None:
    """Record visits for ever (until SIGKILL); append ``"<site index> <writer> <seq>"`` to the ack
    file after each ``record_visit_sync`` has returned."""
    memory = SiteMemory(args["root"], durability="fsync")
    memory.initialize_sync()
    urls: list[str] = args["urls"]
    rng = random.Random(args["seed"])
    fd = os.open(args["ack"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    say("ready")
    seq = 0
    while True:
        index = rng.randrange(len(urls))
        memory.record_visit_sync(urls[index], rng.uniform(0.01, 3.0), status=rng.choice((200, 500)))
        os.write(fd, f"{index} {args['writer']} {seq}\n".encode())
        seq += 1


def stall_renames() -> None:
    """Make every later ``os.replace`` in this process say ``stalled`` and stop for ever: what
    the parent then sees is a writer caught between its temp file and its rename."""

    def stalled_replace(src: Any, dst: Any, **kwargs: Any) -> None:
        say("stalled")
        while True:
            time.sleep(3600)

    os.replace = stalled_replace  # the module files.py uses; this child only


def cmd_stall_writer(args: dict[str, Any]) -> None:
    """Record ``n`` visits, then start one more that stalls just before its rename, with its temp
    file written and the site's locks held."""
    memory = SiteMemory(args["root"], durability="fsync")
    for _ in range(args["n"]):
        memory.record_visit_sync(args["url"], 1.0)
    stall_renames()
    memory.record_visit_sync(args["url"], 2.0)
    raise AssertionError("the stalled write returned")


def cmd_stall_forget(args: dict[str, Any]) -> None:
    """Record ``n`` visits, then forget the site, stalling just before its tombstone's rename."""
    memory = SiteMemory(args["root"], durability="fsync")
    for _ in range(args["n"]):
        memory.record_visit_sync(args["url"], 1.0)
    stall_renames()
    memory.forget_sync(args["url"])
    raise AssertionError("the stalled forget returned")


def cmd_stall_import(args: dict[str, Any]) -> None:
    """Import ``{url: {"visits": 3}}`` from a legacy file (a maintenance: every stripe held
    exclusively), stalling just before the rename of the site's new document."""
    memory = SiteMemory(args["root"], durability="fsync")
    memory.initialize_sync()
    legacy = Path(args["legacy"])
    legacy.write_text(json.dumps({args["url"]: {"visits": 3}}))
    stall_renames()
    memory.import_legacy_sync(legacy)
    raise AssertionError("the stalled import returned")


def cmd_hold(args: dict[str, Any]) -> None:
    """Take ``locks`` (``[[path, "shared"|"exclusive"], ...]``) in order, say ``held``; release
    them all on ``release`` and say ``released``; then wait for the parent to hang up."""
    holds = []
    for path, mode in args["locks"]:
        lock = ReadWriteLock(path, timeout=30.0)
        hold = lock.shared() if mode == "shared" else lock.exclusive()
        hold.acquire()
        holds.append(hold)
    say("held")
    wait_for("release")
    for hold in reversed(holds):
        hold.release()
    say("released")
    sys.stdin.read()


def cmd_acquire(args: dict[str, Any]) -> None:
    """Say ``waiting``, try to take one lock within ``timeout``: say ``got`` or ``timeout``; then
    behave like ``hold`` (release on ``release``)."""
    lock = ReadWriteLock(args["path"], timeout=args["timeout"])
    hold = lock.shared() if args["mode"] == "shared" else lock.exclusive()
    say("waiting")
    try:
        hold.acquire()
    except LockTimeout:
        say("timeout")
        sys.stdin.read()
        return
    say("got")
    wait_for("release")
    hold.release()
    say("released")
    sys.stdin.read()


COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "run_plan": cmd_run_plan,
    "run_plan_async": cmd_run_plan_async,
    "reader": cmd_reader,
    "open_stores": cmd_open_stores,
    "crash_writer": cmd_crash_writer,
    "stall_writer": cmd_stall_writer,
    "stall_forget": cmd_stall_forget,
    "stall_import": cmd_stall_import,
    "hold": cmd_hold,
    "acquire": cmd_acquire,
}


def iter_ack_lines(data: bytes) -> Iterator[tuple[int, str, int]]:
    """The complete lines of an ack file (a SIGKILL can in theory cut the last one short)."""
    for raw in data.split(b"\n")[:-1]:
        index, writer, seq = raw.decode().split()
        yield int(index), writer, int(seq)


if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
