"""Child processes for the Redis backend's multi-process tests (tests/test_redis.py).

A child runs this file as a script, by path, in a fresh interpreter::

    python tests/_redis_workers.py <command> '<json arguments>'

and speaks the protocol of tests/_workers.py: it writes one line per event to stdout (``ready``,
``held``, a final JSON report) and reads commands (``go``, ``stop``, ``release``) from stdin. The
parent imports this module for :func:`stress_plan`, :data:`SCRIPT` and the site names, so it
needs nothing but the standard library and ``sitememory_plugin``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitememory_plugin import SiteMemory

SCRIPT = Path(__file__).resolve()

#: The site every worker visits: its document is the one all of them fight over.
HOT = "https://hot.example/"
#: A quirk every worker records on the hot site now and then (a list merged under contention).
HOT_QUIRK = "cookie banner"
QUIRK_EVERY = 10
PURPOSE = "search box"
CANDIDATES = ("#q", "input[name=q]", "form input[type=search]")


def own_site(index: int) -> str:
    """A site only worker ``index`` updates."""
    return f"https://worker{index}.example/page"


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a stress worker: a visit of the hot site, and a selector update of its own."""

    duration: float
    status: int
    quirk: bool
    #: ``("cache", primary, fallbacks)`` or ``("result", candidate, ok)``.
    selector: tuple[Any, ...]


def stress_plan(index: int, n: int) -> list[Step]:
    """The ``n`` steps of worker ``index``, the same in the parent and the child."""
    steps = []
    for i in range(n):
        if i % 50 == 0:
            primary = CANDIDATES[(i // 50 + index) % len(CANDIDATES)]
            selector: tuple[Any, ...] = ("cache", primary, [c for c in CANDIDATES if c != primary])
        else:
            selector = ("result", CANDIDATES[(i + index) % len(CANDIDATES)], (i * 7 + index) % 4 != 0)
        steps.append(Step(round(0.1 + (i % 13) / 10, 3), 503 if i % 9 == 4 else 200,
                          i % QUIRK_EVERY == 3, selector))
    return steps


# -- the children's side --------------------------------------------------------------------------


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for(word: str) -> None:
    """Block until the parent sends ``word``; exit quietly if the parent went away."""
    line = sys.stdin.readline()
    if not line:
        sys.exit(3)
    assert line.strip() == word, f"expected {word!r} from the parent, got {line!r}"


def stop_requested() -> bool:
    """Whether the parent sent ``stop`` (non-blocking)."""
    if select.select([sys.stdin], [], [], 0)[0]:
        wait_for("stop")
        return True
    return False


def report(memory: SiteMemory, **extra: Any) -> None:
    say(json.dumps({**extra, "stats": dataclasses.asdict(memory.stats_sync())}))


def _memory(args: dict[str, Any]) -> SiteMemory:
    return SiteMemory(args["url"], flush_interval=args.get("flush_interval"))


def run_step_sync(memory: SiteMemory, own: str, step: Step) -> None:
    memory.record_visit_sync(HOT, step.duration, status=step.status)
    if step.quirk:
        memory.record_quirk_sync(HOT, HOT_QUIRK, "click #accept")
    if step.selector[0] == "cache":
        memory.cache_selector_sync(own, PURPOSE, step.selector[1], step.selector[2])
    else:
        memory.record_selector_result_sync(own, PURPOSE, step.selector[1], step.selector[2])


async def run_step(memory: SiteMemory, own: str, step: Step) -> None:
    await memory.record_visit(HOT, step.duration, status=step.status)
    if step.quirk:
        await memory.record_quirk(HOT, HOT_QUIRK, "click #accept")
    if step.selector[0] == "cache":
        await memory.cache_selector(own, PURPOSE, step.selector[1], step.selector[2])
    else:
        await memory.record_selector_result(own, PURPOSE, step.selector[1], step.selector[2])


def cmd_stress(args: dict[str, Any]) -> None:
    """Run ``stress_plan(index, n)`` on ``go``: with the sync API, or the async one from
    ``tasks`` concurrent tasks (each task's steps in order); report stats as JSON."""
    plan = stress_plan(args["index"], args["n"])
    own = own_site(args["index"])
    memory = _memory(args)
    if args.get("api", "sync") == "sync":
        memory.initialize_sync()
        say("ready")
        wait_for("go")
        for step in plan:
            run_step_sync(memory, own, step)
        memory.close_sync()
        report(memory)
        return

    tasks: int = args.get("tasks", 8)

    async def main() -> None:
        await memory.initialize()
        say("ready")
        await asyncio.to_thread(wait_for, "go")

        async def worker(steps: list[Step]) -> None:
            for step in steps:
                await run_step(memory, own, step)

        # Selector updates of one site commute only per candidate: keep each task's own order,
        # the totals do not depend on how tasks interleave.
        await asyncio.gather(*(worker(plan[i::tasks]) for i in range(tasks)))
        await memory.close()

    asyncio.run(main())
    report(memory)


def cmd_loop(args: dict[str, Any]) -> None:
    """On ``go``, record visits of the hot site and of its own site until ``stop``; report how
    many calls returned (every one must: an exception fails the worker) and the stats."""
    own = own_site(args["index"])
    memory = _memory(args)
    count = 0
    if args.get("api", "sync") == "sync":
        memory.initialize_sync()
        say("ready")
        wait_for("go")
        while not stop_requested():
            memory.record_visit_sync(HOT, 0.5, status=200)
            memory.record_visit_sync(own, 0.25, status=200)
            count += 1
        memory.close_sync()
        report(memory, count=count)
        return

    async def main() -> int:
        await memory.initialize()
        say("ready")
        await asyncio.to_thread(wait_for, "go")
        done = 0
        while not stop_requested():
            await memory.record_visit(HOT, 0.5, status=200)
            await memory.record_visit(own, 0.25, status=200)
            done += 1
        await memory.close()
        return done

    count = asyncio.run(main())
    report(memory, count=count)


def cmd_hold(args: dict[str, Any]) -> None:
    """Take the store-wide maintenance lock, say ``held``, release it on ``release`` (or die
    holding it when the parent kills this process)."""
    memory = SiteMemory(args["url"])
    with memory._store.maintenance():
        say("held")
        wait_for("release")
    say("released")
    sys.stdin.read()


COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "stress": cmd_stress,
    "loop": cmd_loop,
    "hold": cmd_hold,
}


if __name__ == "__main__":
    COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
