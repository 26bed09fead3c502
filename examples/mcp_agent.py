"""What an MCP host does with ``mcp_hosts.json``, with the LLM's tool calls scripted.

The two entries of ``mcp_hosts.json`` are all an LLM agent's host needs (Claude Desktop and
Cursor read this ``mcpServers`` shape): Microsoft's Playwright MCP drives a Chromium that listens
on a DevTools port, and ``sitememory mcp --cdp`` records that browser and gives the agent the
memory's tools. This script plays host and model: it starts a Chromium with a DevTools port and a
tiny shop on 127.0.0.1, starts both servers from the file, searches the shop through Playwright
MCP's tools, teaches the memory what worked, and prints what the memory then knows.

    python examples/mcp_agent.py        # needs `sitememory` on PATH (the venv's bin) and npx

Records into ``$SITEMEMORY_PATH`` (default: your user data directory).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from playwright.async_api import async_playwright

from sitememory_plugin import chromium_launch_options

CONFIG = Path(__file__).with_name("mcp_hosts.json")
PLACEHOLDER = "http://127.0.0.1:9222"
PAGES = {
    "/": '<h1>Shop</h1><form action="/results"><input id="q" name="q" aria-label="Search">'
         "<button>Search</button></form>",
    "/results": "<h1>Results</h1>",
}


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path.partition("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


def server(name: str, endpoint: str, workdir: str) -> StdioServerParameters:
    """The host's entry ``name``, pointed at ``endpoint`` instead of port 9222."""
    entry = json.loads(CONFIG.read_text(encoding="utf-8"))["mcpServers"][name]
    args = [endpoint if arg == PLACEHOLDER else arg for arg in entry["args"]]
    # Hosts pass their own environment; the SDK's default would drop SITEMEMORY_PATH.
    return StdioServerParameters(command=entry["command"], args=args, env={**os.environ}, cwd=workdir)


async def call(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    text = "\n".join(getattr(part, "text", "") for part in result.content)
    if result.is_error:
        raise RuntimeError(f"{tool}: {text}")
    return text


async def main() -> None:
    shop_server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=shop_server.serve_forever, daemon=True).start()
    shop = f"http://127.0.0.1:{shop_server.server_address[1]}/"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"

    options = chromium_launch_options()
    options["args"] = [*options["args"], f"--remote-debugging-port={port}"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(**options)
        await browser.new_page()
        with tempfile.TemporaryDirectory() as workdir:  # Playwright MCP writes its snapshots here
            async with Client(server("playwright", endpoint, workdir)) as tools, \
                    Client(server("sitememory", endpoint, workdir)) as memory:
                # The model: consult the memory, act through the browser's tools, teach the memory.
                print(await call(memory, "site_context", url=shop))
                await call(tools, "browser_navigate", url=shop)
                snapshot = await call(tools, "browser_snapshot")
                box = re.search(r'textbox "Search" \[ref=([^\]]+)\]', snapshot)
                assert box is not None, snapshot
                await call(tools, "browser_type", target=box.group(1), text="shoes", submit=True)
                print(await call(memory, "remember_selector", url=shop, purpose="search box", selector="#q"))
                print(await call(memory, "remember_steps", url=shop, task="search", actions=[
                    {"action": "fill", "purpose": "search box", "value": "{query}"},
                    {"action": "press", "key": "Enter"},
                ]))
                # The recorder writes each visit a moment after its page loads.
                for _ in range(100):
                    context = await call(memory, "site_context", url=shop)
                    if "- 2 visits" in context:
                        break
                    await asyncio.sleep(0.1)
                print(context)
        await browser.close()
    shop_server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
