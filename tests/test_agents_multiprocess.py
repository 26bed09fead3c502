"""Several browser agents, each its own process and Chromium, share one store and one site.

Each agent (tests/_agent.py) attaches its browser context to its own ``SiteMemory`` on the same
store, and navigates the same local test site: through the handle and not, by clicks and form
submissions, some to a failing page. They start together, on a ``go`` sent once every one has
its browser up, so their visits and selector results really interleave. Afterwards the store
must hold every navigation exactly once and every selector result exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import SiteMemory, site_key
from tests._agent import FAILING, SEARCH_BOX, SEARCH_BUTTON, plan, summarize
from tests._site import TestSite
from tests._workers import assert_clean_files

ROOT = Path(__file__).resolve().parents[1]
#: The API each agent uses: both, side by side on one store.
APIS = ("sync", "async", "sync")
#: 16: each agent's last navigation is then one not made through ``site.goto`` (a click, a form
#: submitted, a plain ``page.goto``), recorded only as the handle sees it before ``detach()``.
NAVIGATIONS = 16
#: Generous: three Chromiums start at once on what may be a small, busy machine.
READY_TIMEOUT = 180.0
RUN_TIMEOUT = 300.0


class Agent:
    """One agent process, in a session of its own so that its browser can be ended with it."""

    def __init__(self, number: int, api: str, args: dict[str, Any], log_dir: Path) -> None:
        self.number = number
        self.api = api
        self.ready = log_dir / f"agent-{number}.ready"
        self.stderr_path = log_dir / f"agent-{number}.stderr"
        full = {**args, "agent": number, "api": api, "ready": str(self.ready)}
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests._agent", json.dumps(full)],
                cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True,
            )

    def describe(self) -> str:
        stderr = self.stderr_path.read_text(errors="replace")[-6000:]
        return (
            f"agent {self.number} ({self.api} API, pid {self.proc.pid}, rc {self.proc.poll()}); "
            f"stderr:\n{stderr}"
        )

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def finish(self, deadline: float) -> dict[str, Any]:
        """Wait for it to exit (status 0) by ``deadline``; its summary."""
        try:
            out, _ = self.proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.describe()}\nstill running after {RUN_TIMEOUT} s") from None
        assert self.proc.returncode == 0, f"{self.describe()}\nfailed; stdout: {out!r}"
        lines = out.decode().splitlines()
        assert lines, f"{self.describe()}\nsaid nothing"
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary

    def kill(self) -> None:
        """End it and its browser, if it is still running (its own session: nothing else)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Starts agent processes; any still running at teardown is killed with its browser."""
    log_dir = tmp_path / "agents"
    log_dir.mkdir()
    agents: list[Agent] = []

    def start(number: int, api: str, **args: Any) -> Agent:
        agent = Agent(number, api, args, log_dir)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()


def wait_until_ready(agents: list[Agent]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = list(agents)
    while waiting:
        for agent in waiting:
            if agent.proc.poll() is not None:
                raise AssertionError(f"{agent.describe()}\nexited before it was ready")
        waiting = [agent for agent in waiting if not agent.ready.exists()]
        if waiting and time.monotonic() > deadline:
            raise AssertionError(
                f"not ready after {READY_TIMEOUT} s:\n" + "\n".join(a.describe() for a in waiting)
            )
        time.sleep(0.05)


def test_agents_in_several_processes_share_one_store(
    start_agent: Callable[..., Agent], site_server: TestSite, store_path: Path
) -> None:
    plans = [plan(number, NAVIGATIONS) for number in range(len(APIS))]
    assert all(steps[-1].how != "goto" for steps in plans)
    agents = [
        start_agent(number, api, base=site_server.base, store=str(store_path), navigations=NAVIGATIONS)
        for number, api in enumerate(APIS)
    ]
    wait_until_ready(agents)
    for agent in agents:
        agent.go()
    deadline = time.monotonic() + RUN_TIMEOUT
    summaries = [agent.finish(deadline) for agent in agents]

    expected = [
        asdict(summarize(number, api, steps))
        for number, (api, steps) in enumerate(zip(APIS, plans, strict=True))
    ]
    assert summaries == expected
    navigations = sum(s["navigations"] for s in expected)
    failures = sum(s["failures"] for s in expected)
    fills = sum(s["fills"] for s in expected)
    assert navigations == NAVIGATIONS * len(APIS)
    assert failures > 0
    assert all(s["fills"] > 0 for s in expected)  # every agent fills the search box
    assert site_server.hits(FAILING) == failures  # each failing navigation happened once

    assert_clean_files(store_path)  # every site file parses; no temp or quarantined file
    key = site_key(site_server.url())
    memory = SiteMemory(store_path, cache_ttl=0)
    try:
        assert memory.list_sites_sync() == [key]
        profile = memory.get_profile_sync(key)
    finally:
        memory.close_sync()
    assert profile is not None
    assert (profile.visit_count, profile.success_count, profile.failure_count) == (
        navigations, navigations - failures, failures
    )
    assert len(profile.load_times) == min(navigations - failures, 100)  # only successful loads
    for purpose, selector in ((SEARCH_BOX, "#search"), (SEARCH_BUTTON, "#go")):
        remembered = profile.selectors[purpose]
        assert (remembered.success_count, remembered.failure_count) == (fills, 0), purpose
        assert {c: (s.ok, s.failed) for c, s in remembered.candidates.items()} == {selector: (fills, 0)}
        assert remembered.ranked() == (selector,)
