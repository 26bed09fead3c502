"""The MCP server through the official SDK's own client: in-process, over stdio as a subprocess
(as an MCP host starts it), and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import pytest_asyncio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from sitememory_plugin import SiteMemory
from sitememory_plugin._core.bounds import MAX_ACTIONS_BYTES, MAX_DESCRIPTION
from sitememory_plugin.integrations.mcp import build_server

from ._env import unavailable
from ._redis import MISSING, RedisServer, executable

pytestmark = pytest.mark.asyncio

URL = "http://shop.localhost:40103/cart?id=7"
KEY = "shop.localhost:40103"
TOOLS = {
    "site_context", "remember_selector", "selector_result", "remember_quirk", "remember_steps",
    "recall_steps", "list_sites", "record_visit",
}


@pytest_asyncio.fixture
async def memory(tmp_path: Path) -> AsyncIterator[SiteMemory]:
    async with SiteMemory(tmp_path / "store") as opened:
        yield opened


@pytest.fixture
def served(memory: SiteMemory, plugins: pluggy.PluginManager) -> Client:
    """An in-process client of the memory's server, to enter in the test's own task (the SDK's
    task groups must be left in the task that entered them, which an async fixture's is not)."""
    return Client(build_server(memory, plugins=plugins))


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    """The tool's result: its structured content if it has some, else its text; fails on an error."""
    result = await client.call_tool(tool, arguments)
    text = result.content[0].text if result.content else ""
    assert not result.is_error, text
    return result.structured_content if result.structured_content is not None else text


async def error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    text: str = result.content[0].text
    return text


async def test_the_tools_say_what_they_do_and_what_they_take(served: Client) -> None:
    async with served as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == TOOLS
        for tool in listed.values():
            assert tool.description and len(tool.description) > 40, tool.name
            for name, schema in tool.input_schema["properties"].items():
                assert schema.get("description"), f"{tool.name}.{name} has no description"
        required = {name: set(tool.input_schema.get("required", [])) for name, tool in listed.items()}
        assert required["site_context"] == {"url"}
        assert required["remember_selector"] == {"url", "purpose", "selector"}
        assert required["selector_result"] == {"url", "purpose", "selector", "ok"}
        assert required["remember_quirk"] == {"url", "description"}
        assert required["remember_steps"] == {"url", "task", "actions"}
        assert required["recall_steps"] == {"url", "task"}
        assert required["list_sites"] == set()
        assert required["record_visit"] == {"url", "duration"}
        assert listed["site_context"].annotations.read_only_hint is True
        assert listed["remember_quirk"].annotations.read_only_hint is False


async def test_every_tool_reads_or_writes_the_memory(served: Client, memory: SiteMemory) -> None:
    async with served as client:
        assert await call(client, "site_context", url=URL) == f"The memory knows nothing about {KEY} yet."
        assert "remembered" in await call(
            client, "remember_selector", url=URL, purpose="search box", selector="#q",
            fallbacks=["input[name=q]"],
        )
        selector = await memory.get_selector(URL, "search box")
        assert (selector.primary, selector.fallbacks) == ("#q", ("input[name=q]",))
        await call(client, "selector_result", url=URL, purpose="search box", selector="#q", ok=False)
        await call(client, "selector_result", url=URL, purpose="search box", selector="#q", ok=False)
        await call(client, "selector_result", url=URL, purpose="search box", selector="input[name=q]",
                   ok=True)
        assert (await memory.get_selector(URL, "search box")).primary == "input[name=q]"
        await call(client, "remember_quirk", url=URL, description="a cookie banner", workaround="click #ok")
        assert [(q.description, q.workaround) for q in await memory.get_quirks(URL)] == [
            ("a cookie banner", "click #ok")
        ]
        steps = [
            {"action": "fill", "purpose": "search box", "value": "{query}"},
            {"action": "press", "key": "Enter"},
        ]
        assert await call(client, "remember_steps", url=URL, task="search", actions=steps) == (
            f"remembered 2 steps for 'search' on {KEY}"
        )
        recalled = await call(client, "recall_steps", url="http://shop.localhost:40103/", task="search")
        assert recalled == {
            "site": KEY, "task": "search", "found": True, "actions": steps, "times_remembered": 1
        }
        assert await call(client, "recall_steps", url=URL, task="checkout") == {
            "site": KEY, "task": "checkout", "found": False, "known_tasks": ["search"]
        }
        for duration in (0.4, 0.5, 0.6):
            await call(client, "record_visit", url=URL, duration=duration, status=200)
        await call(client, "record_visit", url=URL, duration=3.0, error="net::ERR_TIMED_OUT")
        profile = await memory.get_profile(URL)
        assert (profile.visit_count, profile.failure_count) == (4, 1)
        assert profile.last_error == "net::ERR_TIMED_OUT"

        context = await call(client, "site_context", url=URL)
        assert context.startswith(f"Site memory for {KEY}:\n- 4 visits, 75% succeeded")
        assert '"a cookie banner" -> "click #ok"' in context
        assert 'selector for "search box": "input[name=q]"' in context
        # The plugins' lines: 4 x the p95 load time (the failure's 3 s counts), and the pause of a
        # site failing 1 in 4: 0.5 s x 4 x 0.25 + 1 s x 0.25.
        assert context.endswith("- wait 0.8 s between navigations to it\n"
                                "- navigation timeout: 12 s (adapted to its load times)")
        core = await memory.get_context_for_prompt(URL, max_chars=5000)
        assert context.startswith(core)  # the memory's own text, then the plugins' lines
        assert len(await call(client, "site_context", url=URL, max_chars=100)) <= 100

        await call(client, "record_visit", url="https://other.example/", duration=1.0, status=200)
        listed = await call(client, "list_sites")
        assert listed["total"] == 2
        assert [row["site"] for row in listed["sites"]] == [KEY, "other.example"]  # most visited first
        assert listed["sites"][0]["visits"] == 4 and listed["sites"][0]["tasks"] == ["search"]
        assert (await call(client, "list_sites", limit=1))["sites"][0]["site"] == KEY


async def test_one_resource_per_site_holds_its_profile(served: Client, memory: SiteMemory) -> None:
    async with served as client:
        await memory.record_visit(URL, 0.5, status=200)
        await memory.record_quirk("https://xn--bcher-kva.example/", "slow search")
        resources = {r.name: r for r in (await client.list_resources()).resources}
        assert set(resources) == {KEY, "xn--bcher-kva.example"}
        uri = str(resources[KEY].uri)
        assert uri == "sitememory://site/shop.localhost%3A40103"
        read = await client.read_resource(uri)
        assert json.loads(read.contents[0].text) == (await memory.get_profile(URL)).to_dict()
        assert read.contents[0].mime_type == "application/json"
        with pytest.raises(MCPError, match=r"no site 'nobody\.example'"):
            await client.read_resource("sitememory://site/nobody.example")
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["sitememory://site/{key}"]


async def test_the_prompt_says_how_to_use_the_memory_with_what_it_knows(
    served: Client, memory: SiteMemory
) -> None:
    async with served as client:
        await memory.record_quirk(URL, "a cookie banner", "click #ok")
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["use_site_memory"]
        got = await client.get_prompt("use_site_memory", {"url": URL, "task": "buy a book"})
        text = got.messages[0].content.text
        assert f"You are about to use the website {URL} to buy a book." in text
        assert "call site_context(url)" in text and "remember_quirk" in text
        assert '"a cookie banner" -> "click #ok"' in text
        with pytest.raises(MCPError, match="data: URLs are not web sites"):
            await client.get_prompt("use_site_memory", {"url": "data:,x"})


BAD_INPUT = [
    ("site_context", {"url": "data:text/html,<h1>hi</h1>"}, "data: URLs are not web sites"),
    ("remember_quirk", {"url": "javascript:alert(1)", "description": "x"}, "not web sites"),
    ("remember_quirk", {"url": "http://exa mple.com/", "description": "x"}, "whitespace or control"),
    ("remember_quirk", {"url": "http://a..b/", "description": "x"}, "a..b"),
    ("remember_quirk", {"url": URL}, "description"),  # missing
    ("remember_quirk", {"url": URL, "description": "x" * 10_000}, f"at most {MAX_DESCRIPTION} are kept"),
    ("remember_selector", {"url": URL, "purpose": "", "selector": "#q"}, "purpose must not be empty"),
    ("remember_selector", {"url": URL, "purpose": "p", "selector": 7}, "selector"),
    ("remember_selector", {"url": URL, "purpose": "p", "selector": "#" * 5000}, "at most 1000 are kept"),
    ("remember_steps", {"url": URL, "task": "t", "actions": ["a" * 1000] * 20},
     f"at most {MAX_ACTIONS_BYTES} are kept"),
    ("remember_steps", {"url": URL, "task": "t", "actions": "click"}, "actions"),
    ("record_visit", {"url": URL, "duration": -1}, "duration"),
    ("record_visit", {"url": URL, "duration": 1, "status": 42}, "status"),
    ("selector_result", {"url": URL, "purpose": "p", "selector": "#q"}, "ok"),
    ("site_context", {"url": URL, "max_chars": 0}, "max_chars"),
    ("list_sites", {"limit": -1}, "limit"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"), BAD_INPUT, ids=[f"{t}-{m}"[:60] for t, _, m in BAD_INPUT]
)
async def test_bad_input_is_a_tool_error_and_nothing_is_written(
    served: Client, memory: SiteMemory, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with served as client:
        text = await error(client, tool, **arguments)
        assert message in text
        assert await memory.list_sites() == []
        # The server goes on.
        await call(client, "record_visit", url=URL, duration=0.2, status=200)
        assert (await memory.get_profile(URL)).visit_count == 1


async def test_a_dead_redis_is_a_tool_error_and_the_server_recovers(
    tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    if executable() is None:
        unavailable(MISSING)
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        async with SiteMemory(f"{server.url}?prefix=mcp", lock_timeout=2) as memory, \
                Client(build_server(memory, plugins=plugins)) as client:
            await call(client, "record_visit", url=URL, duration=0.2, status=200)
            server.stop()
            text = await error(client, "remember_quirk", url=URL, description="down")
            assert "BackendUnavailable" in text and "nothing was written" in text
            server.start()
            await call(client, "remember_quirk", url=URL, description="up again")
            profile = await memory.get_profile(URL)
            assert profile.visit_count == 1 and [q.description for q in profile.quirks] == ["up again"]
    finally:
        server.stop()


def stdio(store: str | Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "sitememory_plugin", "--store", str(store), "mcp", *args],
        env={**os.environ, "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )


async def test_over_stdio_as_a_host_starts_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with Client(stdio(store)) as client:
        assert client.server_info is not None and client.server_info.name == "sitememory"
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        await call(client, "remember_quirk", url=URL, description="a cookie banner", workaround="click #ok")
        assert "data: URLs are not web sites" in await error(client, "site_context", url="data:,x")
        assert '"a cookie banner"' in await call(client, "site_context", url=URL)
    async with SiteMemory(store) as memory:
        assert [q.description for q in await memory.get_quirks(URL)] == ["a cookie banner"]


@pytest.fixture(params=["file", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "store")
    url: str = request.getfixturevalue("redis_url")
    return url


async def test_two_servers_share_one_store_and_lose_nothing(shared_store: str) -> None:
    visits, quirks = 25, 10
    both_up = asyncio.Barrier(2)  # so that their writes overlap, not one server's after the other's

    async def agent(name: str) -> None:
        async with Client(stdio(shared_store)) as client:
            await both_up.wait()
            await asyncio.gather(*(
                call(client, "record_visit", url=URL, duration=0.1, status=200) for _ in range(visits)
            ), *(
                call(client, "remember_quirk", url=URL, description="a cookie banner") for _ in range(quirks)
            ), call(client, "remember_selector", url=URL, purpose=f"button of {name}", selector=f"#{name}"))

    await asyncio.gather(agent("a"), agent("b"))
    async with SiteMemory(shared_store) as memory:
        profile = await memory.get_profile(URL)
    assert profile.visit_count == 2 * visits
    assert [(q.description, q.occurrences) for q in profile.quirks] == [("a cookie banner", 2 * quirks)]
    assert {p: s.primary for p, s in profile.selectors.items()} == {"button of a": "#a", "button of b": "#b"}


async def test_over_streamable_http_on_the_loopback_interface(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sitememory_plugin", "--store", str(tmp_path / "store"), "mcp", "--http",
         "--port", "0"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stderr.readline), 30)
        assert line.startswith("sitememory mcp: listening on http://127.0.0.1:"), line
        url = line.split("listening on ", 1)[1].strip()
        assert url.endswith("/mcp")
        async with Client(url) as client:
            await call(client, "record_visit", url=URL, duration=0.3, status=200)
            assert "- 1 visit, 100% succeeded" in await call(client, "site_context", url=URL)
        # DNS rebinding: a page of another origin that resolves its name to 127.0.0.1 is refused.
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        for headers, status in (({"Host": "evil.example"}, 421), ({"Origin": "http://evil.example"}, 403)):
            request = urllib.request.Request(url, json.dumps(initialize).encode(), {**accept, **headers})
            with pytest.raises(urllib.error.HTTPError) as refused_request:
                await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
            assert refused_request.value.code == status, headers
        # A port in use is bad usage, said so.
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        taken = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "sitememory_plugin", "--store", str(tmp_path / "store"), "mcp", "--http",
            "--port", str(port)], capture_output=True, text=True, timeout=60)
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1 port {port}" in taken.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0  # SIGTERM: a clean stop
    refused = subprocess.run(
        [sys.executable, "-m", "sitememory_plugin", "mcp", "--http", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


async def test_over_stdio_interrupted_it_exits_130_and_terminated_0(tmp_path: Path) -> None:
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 0)):
        process = subprocess.Popen(
            [sys.executable, "-m", "sitememory_plugin", "--store", str(tmp_path / "store"), "mcp"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            }}
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)  # it is serving
            process.send_signal(sig)
            await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == code, sig
