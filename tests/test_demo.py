"""``sitememory demo``: real Chromium agents shop twice on one store; the second run does better.

The main test runs the quick demo for real (two agent processes, two runs) and checks the report
against the store itself. Each run's results are taken on their way to the report, by wrapping
the function that runs the agents.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

import sitememory_plugin._demo.run as demo_run
from sitememory_plugin import SiteMemory
from sitememory_plugin._demo import run_demo
from sitememory_plugin._demo.fleet import AgentFailed, RunResult, run_fleet
from sitememory_plugin._demo.messages import AgentArgs


def quiet_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120), out


def test_second_run_does_better_with_what_the_first_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results: list[RunResult] = []

    def recorded(number: int, args: list[AgentArgs], console: Console) -> RunResult:
        result = run_fleet(number, args, console)
        results.append(result)
        return result

    monkeypatch.setattr(demo_run, "run_fleet", recorded)
    console, out = quiet_console()
    store = tmp_path / "store"
    code = run_demo(store=store, agents=2, quick=True, console=console)
    output = out.getvalue()
    assert code == 0, output
    assert "What the memory learned, per site" in output
    assert "Run 1 (empty memory) vs run 2 (what run 1 learned)" in output

    first, second = results
    assert (first.run, second.run) == (1, 2)
    assert len(first.reports) == len(second.reports) == 2
    reported: dict[str, int] = {}
    for result in results:
        for key, count in result.navigations().items():
            reported[key] = reported.get(key, 0) + count

    with SiteMemory(store) as memory:
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
