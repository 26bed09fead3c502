"""A plugin of your own, in code: log slow navigations and add a line to the LLM prompt.

A plugin is any object with ``@hookimpl`` methods named after the hooks in
``sitememory_plugin/hookspecs.py``; each takes only the hook parameters it needs. Starts a tiny
site on 127.0.0.1 (one fast page, one slow) so it runs offline. Records into
``$SITEMEMORY_PATH`` (default: your user data directory).

    python examples/custom_hook.py
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.async_api import async_playwright

from sitememory_plugin import (
    SiteMemory,
    Visit,
    attach,
    chromium_launch_options,
    hookimpl,
    make_plugin_manager,
)


class TeamNotes:
    """Logs navigations slower than ``slow_after`` seconds; adds a note to every prompt."""

    def __init__(self, slow_after: float) -> None:
        self.slow_after = slow_after

    @hookimpl
    def sitememory_after_navigation(self, url: str, visit: Visit) -> None:
        # Called for every navigation, whoever started it, done or failed.
        if visit.duration > self.slow_after:
            print(f"slow navigation: {url} took {visit.duration:.1f} s (status {visit.status})")

    @hookimpl
    def sitememory_prompt_context(self, key: str, lines: list[str]) -> None:
        lines.append(f"- team note: {key} is our staging shop, never place real orders")


class Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.6)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(f"<h1>{self.path}</h1>".encode())

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the output to what the example prints


async def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    # A manager of our own: the built-ins, installed plugins, and ours. (Registering on
    # get_plugin_manager() instead would make it apply to every attach() of the process.)
    plugins = make_plugin_manager()
    plugins.register(TeamNotes(slow_after=0.5), "team-notes")

    async with SiteMemory() as memory, async_playwright() as p:
        browser = await p.chromium.launch(**chromium_launch_options())
        async with attach(await browser.new_context(), memory, plugins=plugins) as site:
            await site.goto(base + "/fast")
            await site.goto(base + "/slow")
            print(await site.prompt_context())  # waits for the visits to be recorded first
        await browser.close()
    server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
