"""A Redis password never shows; exports are as private as the store.

This module's own ``redis-server`` requires a password and knows an ACL user. Every command and
the main API paths run against it in each situation (right and wrong password, a user, no store
under the prefix, the server down, a lock timeout, a password that breaks the URL); stdout,
stderr, every log record at DEBUG and every exception (str, repr, traceback, and down its cause
and context chain) are searched for the password.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import stat
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress

import sitememory_plugin
from sitememory_plugin import LockLost, LockTimeout, SiteMemory, SiteProfile
from sitememory_plugin._cli import main
from sitememory_plugin._core.redisconn import RedisOptions
from sitememory_plugin._core.redisstore import RedisStore
from sitememory_plugin._demo.fleet import START_TIMEOUT, AgentProcess
from sitememory_plugin._demo.messages import AgentArgs
from sitememory_plugin._demo.scenario import Scenario

from ._env import unavailable
from ._net import free_port
from ._redis import MISSING, RedisServer, executable

pytest_plugins = ["pytester"]

SECRET = "Zq7sEcr3tPw"
#: The start of a password holding an unencoded "/": urllib takes it for the port.
HEAD = "Hd4xQ"
USER = "alice"
LOGGERS = (None, "sitememory", "redis")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` of this module that requires :data:`SECRET`, with the ACL user
    :data:`USER` (same password)."""
    if executable() is None:
        unavailable(MISSING)
    acl_user = ["--user", USER, "on", f">{SECRET}", "~*", "&*", "+@all"]
    started = RedisServer(tmp_path_factory.mktemp("redis-auth"), requirepass=SECRET, config=acl_user)
    started.start()
    yield started
    started.stop()


def url(port: int, prefix: str, auth: str = f":{SECRET}@") -> str:
    # Few, short retries: the situations with the server down give up quickly.
    return f"redis://{auth}127.0.0.1:{port}/0?prefix={prefix}&retries=1&backoff=0.01"


def fresh() -> str:
    return f"s{uuid.uuid4().hex[:12]}"


class Witness:
    """Everything that could show the password: outputs, exceptions, and (at the end) logs."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        for name in LOGGERS:
            caplog.set_level(logging.DEBUG, logger=name)
        self.texts: list[tuple[str, str]] = []

    def text(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def exception(self, where: str, exc: BaseException) -> None:
        self.text(f"{where}: traceback", "".join(traceback.format_exception(exc)))
        todo: list[BaseException] = [exc]
        seen: list[BaseException] = []
        while todo:  # down every __cause__ and __context__, shown in a traceback or not
            link = todo.pop()
            if any(link is s for s in seen):
                continue
            seen.append(link)
            self.text(f"{where}: {type(link).__name__}", f"{link}\n{link!r}\n{link.args!r}\n{vars(link)!r}")
            todo += [e for e in (link.__cause__, link.__context__) if e is not None]

    def call(self, where: str, fn: Callable[[], object]) -> BaseException | None:
        try:
            fn()
        except Exception as exc:
            self.exception(where, exc)
            return exc
        return None

    def leaks(self) -> list[str]:
        texts = [*self.texts, ("logs", self.caplog.text)]
        texts += [(f"log record {r.name}", r.getMessage()) for r in self.caplog.records]
        return [f"{where}: {text[:400]!r}" for where, text in texts if SECRET in text or HEAD in text]


# -- the URL's own forms ------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "shown"), [
    (f"redis://:{SECRET}@db:6379/0?prefix=p&lock_ttl=3", "redis://:***@db:6379/0?prefix=p"),
    (f"rediss://{USER}:{SECRET}@db:6380/2", f"rediss://{USER}:***@db:6380/2"),
    (f"redis://db:6379/0?password={SECRET}&username={USER}", "redis://db:6379/0"),
    (f"redis://:{SECRET}@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
    (f"unix://:{SECRET}@/run/redis/redis.sock?db=1", "unix://:***@/run/redis/redis.sock"),
])
def test_redis_options_show_the_url_without_its_password(given: str, shown: str) -> None:
    options = RedisOptions.parse(given)
    assert options.display == shown
    for text in (repr(options), str(options), f"{options}", repr([options])):
        assert SECRET not in text and shown in text
    assert SECRET in options.url  # still there to connect with


@pytest.mark.parametrize("password", [f"{HEAD}/{SECRET}", f"{HEAD}?{SECRET}", f"{HEAD}#{SECRET}",
                                      f"4242/{SECRET}", f"{HEAD}@{SECRET}/x"])
def test_a_password_that_breaks_the_url_is_refused_without_quoting_it(password: str) -> None:
    given = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    with pytest.raises(ValueError, match="percent-encode") as caught:
        SiteMemory(given)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    text = "".join(traceback.format_exception(caught.value))
    assert SECRET not in text and HEAD not in text


@pytest.mark.parametrize("port", ["99999", "port"])
def test_a_bad_port_is_refused_up_front_without_urllib_s_error(port: str) -> None:
    with pytest.raises(ValueError, match="port must be a number") as caught:
        SiteMemory(f"redis://:{SECRET}@127.0.0.1:{port}/0")
    assert caught.value.__context__ is None  # urllib's, which quotes what it took for the port


# -- the command line ---------------------------------------------------------------------------


def test_no_command_shows_the_password_in_any_situation(
    server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    witness = Witness(caplog)
    source = tmp_path / "source"
    with SiteMemory(source) as memory:
        memory.record_visit_sync("https://a.example/", 0.5, status=200)
        memory.cache_selector_sync("https://a.example/", "search box", "#q")
    port, down = server.port, free_port()
    situations = {
        "right password": url(port, fresh()),
        "ACL user": url(port, fresh(), f"{USER}:{SECRET}@"),
        "wrong password": url(port, fresh(), f":{SECRET}-wrong@"),
        "ACL user, wrong password": url(port, fresh(), f"{USER}:{SECRET}-wrong@"),
        "server down": url(down, fresh()),
        "password with '/'": url(port, fresh(), f":{HEAD}/{SECRET}@"),
    }
    expected = {"right password": 0, "ACL user": 0, "wrong password": 3, "ACL user, wrong password": 3,
                "server down": 3, "password with '/'": 2}
    runs = 0

    def run(where: str, *args: str) -> int:
        nonlocal runs
        runs += 1
        code = main(list(args))
        out, err = capsys.readouterr()
        command = " ".join("URL" if "://" in a else Path(a).name if "/" in a else a for a in args)
        witness.text(f"{where} {command}: stdout", out)
        witness.text(f"{where} {command}: stderr", err)
        return code

    for spelling in ("--store", "SITEMEMORY_PATH"):
        for situation, store in situations.items():
            where = f"{situation} ({spelling})"
            before: list[str] = ["--store", store] if spelling == "--store" else []
            monkeypatch.setenv("SITEMEMORY_PATH", str(tmp_path / "unused") if before else store)
            copy, exported = tmp_path / f"copy-{runs}", tmp_path / f"export-{runs}.jsonl"
            codes = {
                # First, so that the store holds the source's documents as they are.
                "migrate in": run(where, "migrate", str(source), store, "--replace"),
                "list": run(where, *before, "list"),
                "list --json": run(where, *before, "list", "--json"),
                "show": run(where, *before, "show", "a.example"),
                "show --json": run(where, *before, "show", "a.example", "--json"),
                "context": run(where, *before, "context", "https://a.example/"),
                "export": run(where, *before, "export"),
                "export -o": run(where, *before, "export", "-o", str(exported)),
                "prune": run(where, *before, "prune", "--older-than", "1d", "--dry-run"),
                "migrate out": run(where, "migrate", store, str(copy)),
                "migrate out --json": run(where, "migrate", store, str(copy), "--json"),
            }
            if exported.exists():
                run(where, *before, "import", str(exported))
            run(where, *before, "forget", "unknown.example")
            run(where, *before, "doctor")
            run(where, *before, "doctor", "--json")
            run(where, *before, "plugins")
            assert set(codes.values()) == {expected[situation]}, (where, codes)
    # The store under no prefix yet: migrate refuses it, doctor says so (neither creates it).
    empty = url(port, fresh())
    assert run("no store", "migrate", empty, str(tmp_path / "never")) == 2
    run("no store", "--store", empty, "doctor")
    run("no store", "--store", empty, "doctor", "--json")
    leaks = witness.leaks()
    assert not leaks, "\n".join(leaks)


def test_migrate_names_a_missing_redis_source_without_its_password(
    server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = fresh()
    assert main(["migrate", url(server.port, prefix), str(tmp_path / "copy")]) == 2
    err = capsys.readouterr().err
    assert f"no store at redis://:***@127.0.0.1:{server.port}/0?prefix={prefix}" in err
    assert SECRET not in err
    assert not (tmp_path / "copy").exists()


def test_doctor_does_not_create_a_store_under_a_mistyped_prefix(
    server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = fresh()
    main(["--store", url(server.port, prefix), "doctor", "--json"])
    out = capsys.readouterr().out
    checks = {c["check"]: c for c in json.loads(out)}
    assert not checks["store"]["ok"]  # nothing there is a failed check, and it says where it looked
    assert f"no store at redis://:***@127.0.0.1:{server.port}/0?prefix={prefix}" in checks["store"]["detail"]
    assert f"holds no store under prefix {prefix}" in checks["store"]["detail"]
    assert checks["locks and writes"]["detail"] == "not checked: there is no store"
    with server.client() as client:
        assert client.keys(f"{prefix}:*") == []
    assert SECRET not in out


# -- the API ------------------------------------------------------------------------------------


def api_calls(memory: SiteMemory, elsewhere: Path) -> dict[str, Callable[[], object]]:
    """The main API paths, sync and async, each a call that may raise."""
    url = "https://a.example/"

    def both(name: str, *args: Any) -> list[tuple[str, Callable[[], object]]]:
        sync, coroutine = getattr(memory, f"{name}_sync"), getattr(memory, name)
        return [(f"{name}_sync", lambda: sync(*args)), (name, lambda: asyncio.run(coroutine(*args)))]

    calls = [
        ("initialize_sync", memory.initialize_sync),
        *both("record_visit", url, 0.5), *both("get_profile", url), *both("get_or_create_profile", url),
        *both("cache_selector", url, "search box", "#q"), *both("record_quirk", url, "a banner"),
        *both("record_selector_result", url, "search box", "#q", True),
        *both("cache_action_pattern", url, "search", [{"fill": "q"}]),
        *both("get_context_for_prompt", url), *both("list_sites"), *both("export", io.StringIO()),
        *both("import_jsonl", io.StringIO('{"domain": "b.example"}\n')),
        ("prune_sync", lambda: memory.prune_sync(10**9, dry_run=True)),
        ("copy_to_sync", lambda: memory.copy_to_sync(SiteMemory(elsewhere))),
        # Before forget, which drops what write-behind still holds for the site.
        *both("flush"), *both("forget", url), ("stats_sync", memory.stats_sync),
        ("close_sync", memory.close_sync),
    ]
    return dict(calls)


def test_no_api_call_shows_the_password(
    server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    witness = Witness(caplog)
    port = server.port
    situations = {
        "right password": url(port, fresh()),
        "ACL user": url(port, fresh(), f"{USER}:{SECRET}@"),
        "wrong password": url(port, fresh(), f":{SECRET}-wrong@"),
        "ACL user, wrong password": url(port, fresh(), f"{USER}:{SECRET}-wrong@"),
        "server down": url(free_port(), fresh()),
    }
    failed: dict[str, int] = {}
    for situation, store in situations.items():
        for flush_interval in (None, 60.0):  # write-through, write-behind
            memory = SiteMemory(store, lock_timeout=0.3, flush_interval=flush_interval)
            witness.text(f"{situation}: repr", f"{memory!r} {memory.location}")
            for name, call in api_calls(memory, tmp_path / fresh()).items():
                if witness.call(f"{situation}: {name}", call) is not None:
                    failed[situation] = failed.get(situation, 0) + 1
    assert set(failed) == {"wrong password", "ACL user, wrong password", "server down"}, failed

    def construct(broken: str) -> Callable[[], object]:
        return lambda: witness.text("a password that breaks the URL: repr", repr(SiteMemory(broken)))

    refused = [witness.call(f"password {password[:5]}...", construct(url(port, fresh(), f":{password}@")))
               for password in (f"{HEAD}/{SECRET}", f"4242/{SECRET}", f"{HEAD}#{SECRET}")]

    # A store-wide lock held elsewhere: updates time out; a lock lost while held says so.
    store = url(port, fresh())
    holder, waiter = SiteMemory(store), SiteMemory(store, lock_timeout=0.2)
    backend = holder._store
    assert isinstance(backend, RedisStore)
    with backend.maintenance():
        for name, call in api_calls(waiter, tmp_path / fresh()).items():
            witness.call(f"lock held: {name}", call)
        timeout = witness.call("lock held", lambda: waiter.record_visit_sync("https://c.example/", 1.0))
        assert isinstance(timeout, LockTimeout)
        with server.client() as client:
            client.delete(f"{backend.options.prefix}:lock")
        lost = witness.call("lock lost", lambda: backend.put("a.example", SiteProfile("a.example")))
        assert isinstance(lost, LockLost)
    holder.close_sync()
    waiter.close_sync()
    leaks = witness.leaks()
    assert not leaks, "\n".join(leaks)
    assert all(isinstance(exc, ValueError) for exc in refused), refused


# -- the pytest plugin and the demo ---------------------------------------------------------------


def test_the_pytest_plugin_shows_a_shared_redis_store_without_its_password(
    server: RedisServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The inner session imports this checkout, not whatever is installed.
    monkeypatch.setenv("PYTHONPATH", str(Path(sitememory_plugin.__file__).parents[1]))
    pytester.makepyfile(test_inner="""
        def test_records(site_memory):
            site_memory.record_visit_sync("https://a.example/", 0.5)
            assert site_memory.get_profile_sync("a.example").visit_count >= 1
    """)
    args = ("-p", "no:playwright", "-p", "no:cacheprovider", "--sitememory")
    prefix = fresh()
    good = pytester.runpytest_subprocess(*args, "--sitememory-store", url(server.port, prefix), timeout=120)
    good.assert_outcomes(passed=1)
    good.stdout.fnmatch_lines([f"*recording browser contexts to redis://:***@127.0.0.1:{server.port}/0"
                               f"?prefix={prefix}*"])
    wrong = pytester.runpytest_subprocess(
        *args, "--sitememory-store", url(server.port, prefix, f":{SECRET}-wrong@"), timeout=120)
    wrong.assert_outcomes(failed=1)
    broken = pytester.runpytest_subprocess(
        *args, "--sitememory-store", url(server.port, prefix, f":{HEAD}/{SECRET}@"), timeout=120)
    broken.assert_outcomes(errors=1)
    broken.stdout.fnmatch_lines(["*--sitememory-store: the Redis URL is malformed*"])
    for result in (good, wrong, broken):
        for text in (result.stdout.str(), result.stderr.str()):
            assert SECRET not in text and HEAD not in text


def test_demo_agents_get_the_store_url_off_their_command_line(server: RedisServer) -> None:
    args = AgentArgs(agent=1, run=1, store=url(server.port, fresh()), sites={}, query="x",
                     scenario=Scenario.quick())
    progress = Progress(console=Console(file=io.StringIO()))
    agent = AgentProcess(args, progress, progress.add_task("agent 1", total=1))
    try:
        # Ready: it read its arguments and launched its browser.
        deadline = time.monotonic() + START_TIMEOUT
        while not agent.ready.wait(0.1):
            assert agent.proc.poll() is None, agent.describe("exited")
            assert time.monotonic() < deadline, agent.describe("is not ready")
        command_line = Path(f"/proc/{agent.proc.pid}/cmdline").read_bytes().decode(errors="replace")
        assert SECRET not in command_line and SECRET not in repr(agent.proc.args)
    finally:
        agent.close()


# -- exports ------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_exports_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with SiteMemory(store) as memory:
        memory.record_visit_sync("https://a.example/", 0.5)
    previous = os.umask(0o022)
    try:
        with SiteMemory(store) as memory:
            assert memory.export_sync(tmp_path / "sync.jsonl") == 1
            assert memory.export_sync(str(tmp_path / "str.jsonl")) == 1
            assert asyncio.run(memory.export(tmp_path / "async.jsonl")) == 1
        assert main(["--store", str(store), "export", "-o", str(tmp_path / "cli.jsonl")]) == 0
        for name in ("sync", "str", "async", "cli"):
            assert mode(tmp_path / f"{name}.jsonl") == 0o600, name
            assert '"a.example"' in (tmp_path / f"{name}.jsonl").read_text()
        # An existing file is overwritten and keeps its mode (shared on purpose, say).
        shared = tmp_path / "shared.jsonl"
        shared.write_text("old\n")
        shared.chmod(0o644)
        assert SiteMemory(store).export_sync(shared) == 1
        assert mode(shared) == 0o644 and "old" not in shared.read_text()
        out = io.StringIO()
        assert SiteMemory(store).export_sync(out) == 1 and '"a.example"' in out.getvalue()
    finally:
        os.umask(previous)
