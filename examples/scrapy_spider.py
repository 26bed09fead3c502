"""Scrapy with scrapy-playwright, recorded into the memory by ``SiteMemoryMiddleware``.

Starts a tiny shop on 127.0.0.1 so it runs offline, then crawls it: a plain request to a page
that is missing, and two searches in Chromium whose form is filled and submitted by purpose (the
second passes no selector: the memory knows them). Prints what the memory learned. Records into
``$SITEMEMORY_PATH`` (default: your user data directory). Needs ``pip install
'sitememory-plugin[scrapy]'``.

    python examples/scrapy_spider.py
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy_playwright.page import PageMethod

from sitememory_plugin import SiteMemory, chromium_launch_options
from sitememory_plugin.integrations.scrapy import MIDDLEWARE_PRIORITY, click, fill

PAGES = {
    "/": '<h1>Shop</h1><form action="/results"><input id="q" name="q"><button>Search</button></form>',
    "/results": "<h1>Results</h1>",
}


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        body = PAGES.get(path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "not found").replace("Results", f"results for {query[2:]}").encode())

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the output to what the example prints


class ShopSpider(scrapy.Spider):
    name = "shop"
    def __init__(self, shop: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shop = shop
        self.found: list[str] = []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # A plain Scrapy request: recorded from its response (a 404 is a failed visit).
        yield scrapy.Request(self.shop + "/missing", meta={"handle_httpstatus_list": [404]})
        # The first time, say which elements to use; they are remembered once they work.
        yield self.search("shoes", fill("search box", "shoes", "#q"), click("search button", "button"))

    def search(self, query: str, *actions: Any) -> scrapy.Request:
        return scrapy.Request(self.shop + "/", callback=self.results, dont_filter=True, meta={
            "playwright": True, "query": query,
            "playwright_page_methods": [*actions, PageMethod("wait_for_url", f"**/results?q={query}")],
        })

    def parse(self, response: Response) -> None:
        pass

    def results(self, response: Response) -> Iterator[scrapy.Request]:
        self.found.append(response.css("h1::text").get() or "")
        if response.meta["query"] == "shoes":  # now the memory knows the elements
            yield self.search("boots", fill("search box", "boots"), click("search button"))


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shop = f"http://127.0.0.1:{server.server_address[1]}"

    process = CrawlerProcess(settings={
        # scrapy-playwright needs the asyncio reactor and its download handler.
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        # Playwright's Chromium or the system's, with its sandbox unless running as root.
        "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
        "DOWNLOADER_MIDDLEWARES": {
            "sitememory_plugin.integrations.scrapy.SiteMemoryMiddleware": MIDDLEWARE_PRIORITY,
        },
        # "SITEMEMORY_STORE": "redis://localhost:6379/0",  # default: $SITEMEMORY_PATH
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False,
    })
    crawler = process.create_crawler(ShopSpider)
    process.crawl(crawler, shop=shop)
    process.start()
    assert isinstance(crawler.spider, ShopSpider)
    print(", ".join(crawler.spider.found))
    with SiteMemory() as memory:
        print(memory.get_context_for_prompt_sync(shop))
    server.shutdown()


if __name__ == "__main__":
    main()
