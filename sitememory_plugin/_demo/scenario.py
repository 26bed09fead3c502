"""The demo's timings and sizes: the full demo, and a quick one for tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    """How slow and strict the demo site is, and how impatient its agents are (seconds)."""

    #: A product page takes this long to answer: longer than ``nav_timeout``, so an agent that
    #: knows nothing about the site gives up on it once.
    product_delay: float = 2.5
    #: Each stock lookup takes this long; a client may have one in flight at a time.
    stock_latency: float = 0.4
    #: Stock lookups per agent and run, one per warehouse, all at once.
    warehouses: int = 4
    #: The agents' own navigation timeout, used where the memory knows nothing: a typical
    #: "fail fast" setting that suits a fast site and not a slow one.
    nav_timeout: float = 1.5
    #: The agents' click and fill timeout: what a click blocked by an overlay costs.
    action_timeout: float = 3.0
    #: How long an agent pauses after a 503 before trying again (it ignores Retry-After, as
    #: naive retry loops do).
    retry_pause: float = 0.2

    @classmethod
    def full(cls) -> Scenario:
        return cls()

    @classmethod
    def quick(cls) -> Scenario:
        return cls(product_delay=2.0, stock_latency=0.3, warehouses=3, action_timeout=2.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        return cls(**data)
