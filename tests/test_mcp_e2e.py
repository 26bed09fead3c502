"""End to end, as an MCP host runs it: Microsoft's Playwright MCP (the real npm package, driven
through the MCP SDK's client as an LLM's tool calls would) drives a Chromium with a DevTools port;
``sitememory mcp --cdp`` beside it records that browser and answers the agent's memory tools."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from sitememory_plugin import SiteMemory

from ._cdp import CdpBrowser
from ._env import unavailable
from ._site import TestSite

pytestmark = pytest.mark.asyncio

REF = re.compile(r"\[ref=([^\]]+)\]")


@pytest.fixture
def cdp() -> Iterator[CdpBrowser]:
    with CdpBrowser() as browser:
        yield browser


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path: Playwright's sockets must fit ``sun_path``."""
    path = Path(tempfile.mkdtemp(prefix="pw", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def playwright_mcp(endpoint: str, workdir: Path, tmp: Path) -> StdioServerParameters:
    from scripts.node import playwright_mcp_command

    try:
        command = playwright_mcp_command()
    except RuntimeError as exc:
        unavailable(str(exc))
    for name in ("cache", "cwd"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    # It leaves snapshots, session files and sockets behind: in the test's own directories.
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "cache"), "TMPDIR": str(tmp)}
    return StdioServerParameters(
        command=command[0], args=[*command[1:], "--cdp-endpoint", endpoint], cwd=str(workdir / "cwd"),
        env=env,
    )


def sitememory_mcp(store: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "sitememory_plugin", "--store", str(store), "mcp", *args],
        env={**os.environ, "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


async def text(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    body = "\n".join(getattr(part, "text", "") for part in result.content)
    assert not result.is_error, f"{tool} {arguments}: {body}"
    return body


async def ref_of(browser: Client, label: str) -> str:
    """The ref of the element whose snapshot line holds ``label``, from a fresh snapshot."""
    snapshot = await text(browser, "browser_snapshot")
    for line in snapshot.splitlines():
        if label in line and (found := REF.search(line)):
            return found.group(1)
    raise AssertionError(f"no {label!r} in the snapshot:\n{snapshot}")


async def test_an_agent_on_playwright_mcp_is_recorded_and_consults_the_memory(
    cdp: CdpBrowser, site_server: TestSite, tmp_path: Path, short_tmp: Path
) -> None:
    store = tmp_path / "store"
    # Another agent, earlier, with a memory server of its own on the same store.
    async with Client(sitememory_mcp(store)) as other:
        await text(other, "remember_quirk", url=site_server.url("/"),
                   description="a cookie banner covers the shop", workaround="click #accept-cookies")

    navigations: list[str] = []
    async with Client(playwright_mcp(cdp.endpoint, tmp_path / "pw", short_tmp)) as browser, \
            Client(sitememory_mcp(store, "--cdp", cdp.endpoint)) as memory:
        context = await text(memory, "site_context", url=site_server.url("/"))
        assert '"a cookie banner covers the shop" -> "click #accept-cookies"' in context

        for path in ("/", "/redirect?to=/page/b", "/status/404", "/form"):
            page = await text(browser, "browser_navigate", url=site_server.url(path))
            assert "Page URL:" in page
            navigations.append(path)
        # A navigation by a click: the form's submit button, by the ref in the snapshot.
        await text(browser, "browser_type", target=await ref_of(browser, 'textbox'), text="lamp")
        await text(browser, "browser_click", target=await ref_of(browser, 'button "Search"'))
        navigations.append("/results?q=lamp")
        assert "lamp" in await text(browser, "browser_snapshot")
        # The banner covers the page from its first paint and would take the click, until the
        # recorder clicks it away.
        await text(browser, "browser_navigate", url=site_server.url("/cookie"))
        navigations.append("/cookie")
        await text(browser, "browser_click", target="#buy")
        assert "bought" in await text(browser, "browser_snapshot")

        context = await poll_context(memory, site_server.url("/"), len(navigations))
    assert site_server.hits("/results") == 1 and site_server.hits("/cookie") == 1

    # Every navigation (six) was recorded once: 6 visits, the 404 the only failure.
    assert context.startswith(f"Site memory for 127.0.0.1:{site_server.port}:\n- 6 visits, 83% succeeded")
    assert '"a cookie banner covers the shop"' in context
    async with SiteMemory(store) as kept:
        profile = await kept.get_profile(site_server.url("/"))
        assert (profile.visit_count, profile.failure_count, profile.last_status) == (6, 1, 200)
        assert await kept.list_sites() == [f"127.0.0.1:{site_server.port}"]


async def poll_context(memory: Client, url: str, visits: int) -> str:
    """``site_context`` once the recorder has written ``visits`` visits (it writes off the
    navigation's path), or the last answer after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        context = await text(memory, "site_context", url=url)
        if f"- {visits} visits" in context or time.monotonic() > deadline:
            return context
        await asyncio.sleep(0.2)
