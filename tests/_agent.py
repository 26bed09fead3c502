"""A browser agent process for tests/test_agents_multiprocess.py.

::

    python -m tests._agent '<json arguments>'   (from the repository root)

Arguments: ``base`` (the test site's URL), ``store`` (the shared store), ``agent`` (its number),
``api`` (``"sync"`` or ``"async"``), ``navigations`` (how many) and ``ready`` (a file to create
once its browser is up and attached). It then waits for a line ``go`` on stdin, so that every
agent starts at the same moment, runs :func:`plan`, and prints one JSON line, its
:class:`Summary`, saying what it did.
Anything that goes wrong raises: a traceback on stderr and a non-zero exit status.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Page as AsyncPage
from playwright.async_api import async_playwright
from playwright.sync_api import Page as SyncPage
from playwright.sync_api import sync_playwright

from sitememory_plugin import AsyncSite, SiteMemory, SyncSite, attach, make_plugin_manager
from sitememory_plugin._browser import launch_kwargs

#: The purpose every agent fills, and the one it clicks to submit the form.
SEARCH_BOX = "search box"
SEARCH_BUTTON = "search button"
FAILING = "/status/503"
#: Generous: the agents share a loaded machine, and a navigation that times out would be a
#: failure the parent does not expect. The adaptive timeout is not what this test is about.
TIMEOUT_MS = 60_000.0


@dataclass(frozen=True)
class Step:
    """One main-frame navigation: ``how`` it is made and the ``path`` (or search text) it uses.

    ``goto``: ``site.goto``; ``page.goto``: Playwright's own, not through the handle; ``click``:
    a click on the page's ``#next`` link; ``search``: fill the search box (``path`` is the text)
    and submit the form by clicking its button.
    """

    how: str
    path: str


@dataclass(frozen=True)
class Summary:
    agent: int
    api: str
    navigations: int
    failures: int
    fills: int


def plan(agent: int, navigations: int) -> list[Step]:
    """The ``navigations`` steps of an agent: blocks of steps in a cycle, rotated per agent so
    that the agents do different things at the same moment; a block may be cut short at the end."""
    def block(kind: int, k: int) -> list[Step]:
        return [
            [Step("goto", f"/page/a{agent}-{k}"), Step("click", "/page/next")],
            [Step("goto", "/form"), Step("search", f"q{agent}-{k}")],
            [Step("goto", FAILING)],
            [Step("page.goto", f"/page/p{agent}-{k}")],
            [Step("page.goto", FAILING)],
        ][kind]

    kinds = 5
    steps = (
        step
        for k in itertools.count()
        for kind in range(kinds)
        for step in block((kind + agent) % kinds, k)
    )
    return list(itertools.islice(steps, navigations))


def summarize(agent: int, api: str, steps: list[Step]) -> Summary:
    return Summary(
        agent=agent, api=api, navigations=len(steps),
        failures=sum(step.path == FAILING for step in steps),
        fills=sum(step.how == "search" for step in steps),
    )


def _plugins() -> Any:
    return make_plugin_manager(entry_points=False, environment=False)


def _check_clean(site: SyncSite | AsyncSite) -> None:
    if site.errors:
        raise AssertionError(f"plugin errors while recording: {site.errors}")


def run_sync(args: dict[str, Any], steps: list[Step], done: list[Step]) -> None:
    base: str = args["base"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_kwargs())
        context = browser.new_context()
        memory = SiteMemory(args["store"])
        site = attach(context, memory, plugins=_plugins())
        page = context.new_page()
        start_signal(args)
        for step in steps:
            do_sync(site, page, base, step)
            done.append(step)
        site.detach()
        _check_clean(site)
        memory.close_sync()
        browser.close()


def do_sync(site: SyncSite, page: SyncPage, base: str, step: Step) -> None:
    if step.how == "goto":
        site.goto(base + step.path, page=page, timeout=TIMEOUT_MS)
    elif step.how == "page.goto":
        page.goto(base + step.path, timeout=TIMEOUT_MS)
    elif step.how == "click":
        page.click("#next")
        page.wait_for_url("**" + step.path, timeout=TIMEOUT_MS)
    elif step.how == "search":
        site.fill(SEARCH_BOX, step.path, "#search", page=page)
        with page.expect_navigation(timeout=TIMEOUT_MS):
            site.click(SEARCH_BUTTON, "#go", page=page)
        found = page.text_content("#query")
        assert found == step.path, (found, step)
    else:
        raise AssertionError(f"unknown step {step}")


async def run_async(args: dict[str, Any], steps: list[Step], done: list[Step]) -> None:
    base: str = args["base"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_kwargs())
        context = await browser.new_context()
        memory = SiteMemory(args["store"])
        site = await attach(context, memory, plugins=_plugins())
        page = await context.new_page()
        await asyncio.to_thread(start_signal, args)
        for step in steps:
            await do_async(site, page, base, step)
            done.append(step)
        await site.detach()
        _check_clean(site)
        await memory.close()
        await browser.close()


async def do_async(site: AsyncSite, page: AsyncPage, base: str, step: Step) -> None:
    if step.how == "goto":
        await site.goto(base + step.path, page=page, timeout=TIMEOUT_MS)
    elif step.how == "page.goto":
        await page.goto(base + step.path, timeout=TIMEOUT_MS)
    elif step.how == "click":
        await page.click("#next")
        await page.wait_for_url("**" + step.path, timeout=TIMEOUT_MS)
    elif step.how == "search":
        await site.fill(SEARCH_BOX, step.path, "#search", page=page)
        async with page.expect_navigation(timeout=TIMEOUT_MS):
            await site.click(SEARCH_BUTTON, "#go", page=page)
        found = await page.text_content("#query")
        assert found == step.path, (found, step)
    else:
        raise AssertionError(f"unknown step {step}")


def start_signal(args: dict[str, Any]) -> None:
    """Say this agent is ready (its ``ready`` file), then block until the parent says ``go``."""
    Path(args["ready"]).touch()
    line = sys.stdin.readline()
    if line.strip() != "go":
        sys.exit(f"agent {args['agent']}: expected 'go' from the parent, got {line!r}")


def main(args: dict[str, Any]) -> None:
    steps = plan(args["agent"], args["navigations"])
    done: list[Step] = []
    if args["api"] == "sync":
        run_sync(args, steps, done)
    elif args["api"] == "async":
        asyncio.run(run_async(args, steps, done))
    else:
        raise AssertionError(f"unknown api {args['api']!r}")
    print(json.dumps(asdict(summarize(args["agent"], args["api"], done))), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
