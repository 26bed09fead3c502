"""``attach()`` with Playwright's async API: visits are recorded, selectors remembered.

Starts a tiny shop on 127.0.0.1 so it runs offline, searches it twice, and prints what the
memory learned. Records into ``$SITEMEMORY_PATH`` (default: your user data directory).

    python examples/browser_async.py
"""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.async_api import async_playwright

from sitememory_plugin import SiteMemory, attach, chromium_launch_options

PAGES = {
    "/": '<h1>Shop</h1><form action="/results"><input id="q" name="q"><button>Search</button></form>',
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
        pass  # keep the output to what the example prints


async def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shop = f"http://127.0.0.1:{server.server_address[1]}"

    async with SiteMemory() as memory, async_playwright() as p:
        # chromium_launch_options() finds Playwright's Chromium or the system's, and keeps Chromium's
        # sandbox on unless running as root (a bare p.chromium.launch() turns it off).
        browser = await p.chromium.launch(**chromium_launch_options())
        page = await browser.new_page()
        async with attach(page.context, memory) as site:
            await site.goto(shop + "/")
            await site.fill("search box", "shoes", "#q")  # the first time, say which element
            await site.click("search button", "button")
            await page.wait_for_url("**/results?q=shoes")

            await site.goto(shop + "/")
            await site.fill("search box", "boots")  # now the memory knows
            await site.click("search button")
            await page.wait_for_url("**/results?q=boots")
            print(await site.prompt_context())
        await browser.close()
    server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
