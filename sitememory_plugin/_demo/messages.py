"""What the runner and an agent process tell each other: its arguments, its progress, its report.

The runner passes :class:`AgentArgs` as the first line of the agent's stdin, in JSON (not as an
argument, which other users could read: the store's URL may hold a password). The agent writes
JSON lines on its stdout: ``{"event": "ready"}`` once its browser is up, then waits for a line
``go`` on its stdin (so that every agent starts at the same moment); ``{"event": "task", ...}``
as it starts each task; ``{"event": "report", ...}`` at the end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .scenario import Scenario

#: The tasks of every agent, in order; progress is reported as the index of the one starting.
TASKS = (
    "visit the shop",
    "search",
    "check stock",
    "open the product (slow)",
    "add to cart",
    "check out",
    "place order",
)


@dataclass(frozen=True)
class AgentArgs:
    agent: int
    run: int
    store: str
    #: Base URLs of the demo's sites, by name (``shop``, ``catalog``, ``stock``).
    sites: dict[str, str]
    #: What the agent searches for, and so which product it buys.
    query: str
    scenario: Scenario

    def to_json(self) -> str:
        data = asdict(self)
        data["scenario"] = self.scenario.to_json()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> AgentArgs:
        data = json.loads(text)
        data["scenario"] = Scenario.from_json(data["scenario"])
        return cls(**data)


@dataclass
class AgentReport:
    """An agent's counters for one run, as it saw them."""

    agent: int
    run: int
    #: From "go" to the order confirmed, in seconds.
    seconds: float = 0.0
    #: Seconds each of :data:`TASKS` took.
    task_seconds: dict[str, float] = field(default_factory=dict)
    #: Main-frame navigations the agent made (retries included), per site key.
    navigations: dict[str, int] = field(default_factory=dict)
    #: Navigations that hit their timeout.
    timeouts: int = 0
    #: Clicks and fills that raised.
    failed_actions: int = 0
    #: Pages answered with 503.
    http_503: int = 0
    #: Actions blocked by the cookie banner.
    overlay_blocks: int = 0
    #: Selectors tried that matched nothing before one that did.
    stale_selectors: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentReport:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def ready() -> str:
    return json.dumps({"event": "ready"})


def task(index: int, label: str) -> str:
    return json.dumps({"event": "task", "index": index, "label": label})


def report(result: AgentReport) -> str:
    return json.dumps({"event": "report", "report": result.to_json()})
