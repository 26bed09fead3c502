"""Crawlee's ``PlaywrightCrawler`` with a site memory: every page it loads is a visit, and the
memory is consulted before each navigation (politeness delay, known overlays) and in handlers.

Starts a tiny shop on 127.0.0.1 so it runs offline, crawls it through ``enqueue_links`` (one
link is a 404), fills its search box by purpose, and prints what the memory learned. Records
into ``$SITEMEMORY_PATH`` (default: your user data directory); Crawlee's own storages go to a
temporary directory here (by default they go to ``./storage``).

    pip install 'sitememory-plugin[crawlee]'
    python examples/crawlee_crawl.py
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from crawlee.configuration import Configuration
from crawlee.crawlers import PlaywrightCrawler, PlaywrightCrawlingContext

from sitememory_plugin import SiteMemory, chromium_launch_options
from sitememory_plugin.integrations.crawlee import site_of, use_site_memory

PAGES = {
    "/": '<h1>Shop</h1><a href="/search">search</a> <a href="/about">about</a> <a href="/gone">old page</a>',
    "/search": '<h1>Search</h1><form action="/results"><input id="q" name="q"><button>Go</button></form>',
    "/about": "<h1>About us</h1>",
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

    with tempfile.TemporaryDirectory() as storage:
        async with SiteMemory() as memory:
            crawler = PlaywrightCrawler(
                # Playwright's Chromium or the system's, headless: Crawlee downloads nothing.
                browser_launch_options=chromium_launch_options(),
                configuration=Configuration(storage_dir=storage),
                max_request_retries=1,
            )
            use_site_memory(crawler, memory)

            @crawler.router.default_handler
            async def handler(ctx: PlaywrightCrawlingContext) -> None:
                await ctx.enqueue_links()
                if ctx.request.url.endswith("/search"):
                    # The handle of the request's page: the remembered selector first, then "#q".
                    await site_of(ctx).fill("search box", "shoes", "#q")

            stats = await crawler.run([shop + "/"])
            print(f"crawled {stats.requests_finished} pages, {stats.requests_failed} failed")
            print(await memory.get_context_for_prompt(shop + "/"))
    server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
