"""``sitememory demo``: real Chromium agents shop twice on one store; the second run does better.

The main test runs the quick demo for real (two agent processes, two runs) and checks the report
against the store itself. Each run's results are taken on their way to the report, by wrapping
the function that runs the agents.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

import sitememory_plugin._demo.run as demo_run
from sitememory_plugin import AutoThrottle, SiteMemory, SiteProfile
from sitememory_plugin._cli import main
from sitememory_plugin._demo import run_demo
from sitememory_plugin._demo.fleet import AgentFailed, RunResult, run_fleet
from sitememory_plugin._demo.messages import TASKS, AgentArgs, AgentReport
from sitememory_plugin._demo.run import FOREIGN_STORE, cli_command, default_store
from sitememory_plugin._demo.tables import learned_table, slower_note
from sitememory_plugin._report.text import anchor


def quiet_console(width: int = 120) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width), out


@dataclass(frozen=True)
class DemoRun:
    code: int
    output: str
    store: Path
    results: list[RunResult]
    learned: Table


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """One real quick demo (two agent processes, two runs) on the demo's own store, which the
    user data dir under a temporary XDG_DATA_HOME puts in a temporary directory."""
    results: list[RunResult] = []

    def recorded(number: int, args: list[AgentArgs], console: Console) -> RunResult:
        result = run_fleet(number, args, console)
        results.append(result)
        return result

    tables: list[Table] = []

    def kept(*args: Any) -> Table:
        tables.append(learned_table(*args))
        return tables[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
        store = default_store()
        if not store.is_relative_to(os.environ["XDG_DATA_HOME"]):
            pytest.skip("the user data dir does not follow XDG_DATA_HOME here")
        patch.setattr(demo_run, "run_fleet", recorded)
        patch.setattr(demo_run, "learned_table", kept)
        # Wide: no table cell is wrapped, so each stays one line to look for.
        console, out = quiet_console(width=400)
        code = run_demo(agents=2, quick=True, console=console)
    yield DemoRun(code, out.getvalue(), store, results, tables[0] if tables else Table())


def test_second_run_does_better_with_what_the_first_learned(demo: DemoRun) -> None:
    assert demo.code == 0, demo.output
    assert "What the memory learned, per site" in demo.output
    assert "Run 1 (empty memory) vs run 2 (what run 1 learned)" in demo.output

    first, second = demo.results
    assert (first.run, second.run) == (1, 2)
    assert len(first.reports) == len(second.reports) == 2
    reported = navigations(demo.results)

    with SiteMemory(demo.store) as memory:
        # Every navigation of 4 agent processes is one visit, none lost and none twice.
        assert set(memory.list_sites_sync()) == set(reported)
        for key, count in reported.items():
            assert memory.get_profile_sync(key).visit_count == count, key
        [shop] = [key for key in reported if key.startswith("shop.localhost:")]
        quirks = memory.get_quirks_sync(shop)
        # Learned by the memory itself (the agents never call remember_overlay), with the
        # default choice: the banner's reject button.
        assert [(q.description, q.workaround) for q in quirks] == [
            ("consent banner (OneTrust) blocks the page", "click #onetrust-reject-all-handler")
        ]
        search_box = memory.get_selector_sync(shop, "search box")
        assert search_box.primary == "input[name=q]"  # healed: the agents pass "#search" first
        assert "#search" in search_box.fallbacks

    # The banner was recognised at the first load of run 1: no agent of either run was blocked.
    # Run 1 met the slow page with nothing known; run 2 had it handled.
    assert first.total("overlay_blocks") == second.total("overlay_blocks") == 0
    assert first.total("timeouts") >= 1
    assert first.total("failed_actions") == second.total("failed_actions") == 0
    assert second.total("timeouts") < first.total("timeouts")


def navigations(results: list[RunResult]) -> dict[str, int]:
    """Navigations per site key, summed over runs and agents."""
    out: dict[str, int] = {}
    for result in results:
        for key, count in result.navigations().items():
            out[key] = out.get(key, 0) + count
    return out


def test_the_store_is_kept_and_the_next_commands_work(demo: DemoRun) -> None:
    assert f"Store: {demo.store} (kept after the demo)" in demo.output
    commands = [line.strip() for line in demo.output.splitlines() if " --store " in line]
    [listing] = [c for c in commands if c.endswith(" list")]
    argv = shlex.split(listing)
    assert argv[argv.index("--store") + 1] == str(demo.store)
    [shop] = [key for key in navigations(demo.results) if key.startswith("shop.localhost:")]
    assert any(c.endswith(f" show {shop}") for c in commands)
    # Run as printed, from where the demo ran: it lists the demo's sites.
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert {row["site"] for row in json.loads(done.stdout)} == set(navigations(demo.results))


def test_the_demo_ends_with_its_report_and_every_visit_in_the_history(demo: DemoRun) -> None:
    report = demo.store.parent / "demo-report.html"
    assert f"The report: {report.as_uri()}" in demo.output
    page = report.read_text()
    reported = navigations(demo.results)
    for key, count in reported.items():  # a section per site, with the visits the store counted
        assert f'<h2 id="h-{anchor(key)}">{key}</h2><p class="facts">{count} visits (' in page, key
    commands = [line.strip() for line in demo.output.splitlines() if " --store " in line]
    assert any(shlex.split(c)[-3:] == ["report", "-o", str(report)] for c in commands)
    [visits] = [c for c in commands if " visits " in c]
    done = subprocess.run([*shlex.split(visits), "--json", "--limit", "500"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    [shop] = [key for key in reported if key.startswith("shop.localhost:")]
    assert len(json.loads(done.stdout)) == reported[shop]  # every navigation, once


def test_the_learned_table_says_which_run_each_number_covers(demo: DemoRun) -> None:
    first, second = demo.results
    assert [str(c.header).split("\n") for c in demo.learned.columns] == [
        ["site"], ["visits", "runs 1+2"], ["ok", "runs 1+2"], ["load p50 / p95", "runs 1+2"],
        ["selectors after run 2:", "primary (then fallbacks)"], ["quirks -> workaround"],
    ]
    assert str(demo.learned.caption).startswith("visits, ok and load times: both runs")
    with SiteMemory(demo.store) as memory:
        [shop] = [k for k in memory.list_sites_sync() if k.startswith("shop.localhost:")]
        [banner] = memory.get_quirks_sync(shop)
        [stock] = [k for k in memory.list_sites_sync() if k.startswith("stock.localhost:")]
        limits = memory.get_quirks_sync(stock)
    # Known after run 1, the banner is not looked for, so not recorded, in run 2.
    assert (f"consent banner (OneTrust) blocks the page (recorded {banner.occurrences}x in run 1, "
            "0x in run 2)") in demo.output
    # A rate limit is recorded at every 503 with Retry-After: as many as the agents counted.
    answers = first.total("http_503"), second.total("http_503")
    if any(answers):
        assert [q.occurrences for q in limits] == [sum(answers)]
        assert (f"rate limited: HTTP 503 with Retry-After (recorded {answers[0]}x in run 1, "
                f"{answers[1]}x in run 2)") in demo.output
    else:
        assert not limits


def test_a_second_demo_on_its_store_starts_empty(
    demo: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    store = default_store()
    shutil.copytree(demo.store, store)  # the first demo's store, left as it was
    earlier = sorted(navigations(demo.results))
    seen: list[list[str]] = []

    def first_run(number: int, args: list[AgentArgs], console: Console) -> RunResult:
        with SiteMemory(args[0].store) as memory:
            seen.append(memory.list_sites_sync())
        raise AgentFailed("stopped by the test once run 1 was about to start")

    monkeypatch.setattr(demo_run, "chromium_executable", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(demo_run, "run_fleet", first_run)
    console, out = quiet_console(width=400)
    assert run_demo(agents=1, quick=True, console=console) == 1
    assert seen == [[]]
    assert f"The store held 3 sites of an earlier demo ({', '.join(earlier)}): forgot them" in out.getvalue()


def test_a_store_with_other_sites_is_refused_not_wiped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "mine"
    with SiteMemory(store) as memory:
        memory.record_visit_sync("https://example.com/", 0.5, status=200)
        memory.record_visit_sync("http://shop.localhost:4242/", 0.1, status=200)

    def never(number: int, args: list[AgentArgs], console: Console) -> RunResult:
        raise AssertionError("the demo ran on a store with other sites")

    monkeypatch.setattr(demo_run, "chromium_executable", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(demo_run, "run_fleet", never)
    console, out = quiet_console(width=400)
    assert run_demo(store=store, agents=1, quick=True, console=console) == FOREIGN_STORE
    assert "holds 1 site that is not the demo's (example.com)" in out.getvalue()
    assert "nothing was changed" in out.getvalue()
    with SiteMemory(store) as memory:
        assert sorted(memory.list_sites_sync()) == ["example.com", "shop.localhost:4242"]


def test_demo_help_says_where_the_store_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "'demo' in the user data directory (~/.local/share/sitememory/demo on Linux)" in text
    assert "'sitememory --store DIR demo' uses DIR" in text
    assert "never cleared" in text


def test_cli_command_names_the_script_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = tmp_path / "checkout" / ".venv" / "bin"
    scripts.mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    # No script installed: this interpreter runs the package.
    python = shlex.quote(sys.executable)
    assert cli_command(tmp_path / "checkout", scripts) == f"{python} -m sitememory_plugin"
    script = scripts / "sitememory"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert cli_command(tmp_path / "checkout", scripts) == ".venv/bin/sitememory"
    assert cli_command(scripts, scripts) == "./sitememory"
    assert cli_command(tmp_path / "elsewhere", scripts) == str(script.resolve())
    monkeypatch.setenv("PATH", str(scripts))
    assert cli_command(tmp_path / "checkout", scripts) == "sitememory"


def report(agent: int, run: int, **seconds: float) -> AgentReport:
    """An agent's report with these task times (by task, spaces as underscores), others 0.1 s."""
    times = {task: seconds.get(task.split(" (")[0].replace(" ", "_"), 0.1) for task in TASKS}
    return AgentReport(agent=agent, run=run, task_seconds=times)


def test_the_note_says_why_a_task_took_longer(tmp_path: Path) -> None:
    throttle = AutoThrottle()
    stock = SiteProfile(domain="stock.localhost:1", load_times=(0.4, 0.4, 0.5),
                        recent_outcomes=(True, False, True, False, True))
    first = RunResult(1, 10.0, 1.0, [report(1, 1, check_stock=2.0), report(2, 1, check_stock=5.0)])
    second = RunResult(2, 9.0, 1.0, [
        report(a, 2, visit_the_shop=0.3, check_stock=4.0, add_to_cart=0.4) for a in (1, 2)
    ])
    note = slower_note(first, second, stock, throttle, warehouses=4, cpus=2)
    assert note is not None
    text = " ".join(note.plain.split())
    assert "visit the shop: run 2 installs the handler for the remembered cookie banner" in text
    spacing = throttle.delay_for(stock)
    assert (f"each agent's 4 lookups up to {spacing:.2f} s apart: the stock site's p50 load time "
            f"(0.40 s), plus {spacing - 0.4:.2f} s because 2 of its last 5 visits had failed") in text
    # Agent 2 got to "add to cart" 3 s after agent 1 in run 1, together with it in run 2.
    assert ("add to cart: in run 2 the agents reached 'add to cart' within 0.0 s of each other "
            "(run 1: 3.0 s)") in text
    assert "no cause" not in text
    assert slower_note(first, first, stock, throttle, warehouses=4, cpus=2) is None
    # Slower without a cause the demo knows: said so.
    odd = RunResult(2, 9.0, 1.0, [report(1, 2, search=0.9), report(2, 2, search=0.9)])
    unexplained = slower_note(first, odd, stock, throttle, warehouses=4, cpus=2)
    assert unexplained is not None
    assert "search: no cause the demo can name" in " ".join(unexplained.plain.split())


def test_no_browser_is_a_clear_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str | None:
        raise RuntimeError("No Chromium found. Install Playwright's browser with ...")

    monkeypatch.setattr(demo_run, "chromium_executable", missing)
    console, out = quiet_console()
    assert run_demo(store=tmp_path / "store", agents=1, quick=True, console=console) == 1
    assert "No Chromium found" in out.getvalue()
    assert not (tmp_path / "store").exists()  # nothing started


def test_a_failed_agent_fails_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(number: int, args: list[AgentArgs], console: Console) -> RunResult:
        raise AgentFailed("agent 1 (run 1, pid 4242) exited with status 1:\nRuntimeError: boom")

    monkeypatch.setattr(demo_run, "run_fleet", failing)
    console, out = quiet_console()
    assert run_demo(store=tmp_path / "store", agents=1, quick=True, console=console) == 1
    assert "agent 1 (run 1, pid 4242) exited with status 1" in out.getvalue()
    assert "RuntimeError: boom" in out.getvalue()
