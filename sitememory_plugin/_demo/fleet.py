"""One run of the demo: start the agent processes, show their progress, collect their reports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn

from .messages import TASKS, AgentArgs, AgentReport

#: Seconds for every agent to have its browser up: several Chromiums starting at once on a
#: small machine take a while.
START_TIMEOUT = 90.0
#: Seconds for the agents to finish their tasks once started.
RUN_TIMEOUT = 120.0


class AgentFailed(Exception):
    """An agent process failed or said nothing sensible; the message says which and why."""


@dataclass(frozen=True)
class RunResult:
    run: int
    #: From the moment every agent was told to start until the last one reported, seconds.
    seconds: float
    #: How long the agents took to start their browsers, seconds (not part of ``seconds``).
    startup: float
    reports: list[AgentReport]

    def total(self, counter: str) -> int:
        return sum(int(getattr(r, counter)) for r in self.reports)

    def mean_task_seconds(self, task: str) -> float:
        times = [r.task_seconds.get(task, 0.0) for r in self.reports]
        return sum(times) / len(times) if times else 0.0

    def start_spread(self, task: str) -> float:
        """Seconds between the first and the last agent starting ``task`` (counted from each
        agent's own start: they are told to start at the same moment)."""
        index = TASKS.index(task)
        starts = [sum(r.task_seconds.get(t, 0.0) for t in TASKS[:index]) for r in self.reports]
        return max(starts) - min(starts) if starts else 0.0

    def navigations(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.reports:
            for key, count in r.navigations.items():
                out[key] = out.get(key, 0) + count
        return out


class AgentProcess:
    """An agent process in a session of its own, so that it can be ended with its browser."""

    def __init__(self, args: AgentArgs, progress: Progress, task: TaskID) -> None:
        self.args = args
        self.progress = progress
        self.task = task
        self.ready = threading.Event()
        self.report: AgentReport | None = None
        self.finished_at: float | None = None
        self.noise: list[str] = []
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sitememory_plugin._demo.agent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=_child_env(), start_new_session=True, text=True,
        )
        # On stdin, not in argv: any user of the machine can read a command line (ps), and the
        # store's URL may hold a password. An agent already gone is reported by wait().
        with contextlib.suppress(BrokenPipeError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(args.to_json() + "\n")
            self.proc.stdin.flush()
        self._reader = threading.Thread(target=self._read, name=f"demo-agent-{args.agent}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message: dict[str, Any] = json.loads(line)
            except ValueError:
                self.noise.append(line.rstrip())
                continue
            event = message.get("event")
            if event == "ready":
                self.ready.set()
                self.progress.update(self.task, description=f"agent {self.args.agent}: ready")
            elif event == "task":
                index = int(message["index"])
                self.progress.update(
                    self.task, completed=index, description=f"agent {self.args.agent}: {message['label']}"
                )
            elif event == "report":
                self.report = AgentReport.from_json(message["report"])
                self.finished_at = time.monotonic()
                self.progress.update(
                    self.task, completed=len(TASKS),
                    description=f"agent {self.args.agent}: done in {self.report.seconds:.1f} s",
                )

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self, deadline: float) -> None:
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise AgentFailed(self.describe("did not finish in time")) from None
        self._reader.join(timeout=5)
        if self.proc.returncode != 0 or self.report is None:
            raise AgentFailed(self.describe(f"exited with status {self.proc.returncode}"))

    def describe(self, what: str) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        tail = "\n".join([*self.noise, *lines][-25:])
        return f"agent {self.args.agent} (run {self.args.run}, pid {self.proc.pid}) {what}" + (
            f":\n{tail}" if tail else ""
        )

    def kill(self) -> None:
        # The whole group, even when the agent itself has exited: a crashed agent's Chromium
        # would be left running otherwise.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()


def run_fleet(number: int, args: list[AgentArgs], console: Console) -> RunResult:
    """Run the agents of one run to the end, with a progress bar each.

    :raises AgentFailed: an agent failed (its stderr's end is in the message).
    """
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"),
        BarColumn(), MofNCompleteColumn(), console=console,
    )
    agents: list[AgentProcess] = []
    try:
        with progress:
            started = time.monotonic()
            for a in args:
                task = progress.add_task(f"agent {a.agent}: starting Chromium", total=len(TASKS))
                agents.append(AgentProcess(a, progress, task))
            deadline = started + START_TIMEOUT
            for agent in agents:
                while not agent.ready.wait(0.1):
                    if agent.proc.poll() is not None:
                        raise AgentFailed(agent.describe(f"exited with status {agent.proc.returncode}"))
                    if time.monotonic() > deadline:
                        raise AgentFailed(agent.describe(f"had no browser up after {START_TIMEOUT:.0f} s"))
            go = time.monotonic()
            for agent in agents:
                agent.go()
            deadline = go + RUN_TIMEOUT
            for agent in agents:
                agent.wait(deadline)
        finished = [a.finished_at for a in agents if a.finished_at is not None]
        return RunResult(
            run=number, seconds=max(finished) - go, startup=go - started,
            reports=[a.report for a in agents if a.report is not None],
        )
    finally:
        for agent in agents:
            agent.close()


def _child_env() -> dict[str, str]:
    # The agents import this very package, wherever it comes from (an editable checkout too).
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}
