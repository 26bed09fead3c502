"""A crawl of the test site with Scrapy, scrapy-playwright and SiteMemoryMiddleware, run in a
child process by tests/test_scrapy.py (a Twisted reactor cannot be restarted in one process).

    python -m tests._scrapy_crawl BASE_URL DEAD_URL STORE OUT.json

Writes what the framework saw to OUT.json: each callback's and errback's outcome, and the
crawl's stats.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from sitememory_plugin import AdaptiveTimeouts, NavigationRefused, SiteMemory, get_plugin_manager, hookimpl
from sitememory_plugin._browser import launch_kwargs
from sitememory_plugin.integrations import scrapy as integration
from sitememory_plugin.integrations.scrapy import MIDDLEWARE_PRIORITY, click, fill


class RefuseOne:
    """Refuses the navigations to /page/refused, as failure_guard.py refuses a failing site."""

    @hookimpl
    def sitememory_before_navigation(self, url: str) -> None:
        if "/page/refused" in url:
            raise NavigationRefused(f"refused {url}")


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(self, base: str, dead: str, store: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base
        self.dead = dead
        self.store = store
        self.expected_timeout: float | None = None
        self.seen: list[dict[str, Any]] = []
        self.second_phase = False

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> SiteSpider:
        spider: SiteSpider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    def req(self, path: str, label: str, *, playwright: bool = False, **meta: Any) -> scrapy.Request:
        url = path if path.startswith("http") else self.base + path
        return scrapy.Request(
            url, callback=self.parsed, errback=self.failed, dont_filter=True,
            meta={"label": label, "playwright": playwright, "handle_httpstatus_list": [404], **meta},
        )

    async def start(self) -> Any:
        for request in [
            self.req("/page/a", "plain 200"),
            self.req("/status/404", "plain 404"),
            self.req("/slow?ms=300", "plain slow"),
            self.req("/redirect?to=/page/landing", "plain redirect"),
            # RedirectMiddleware does not follow it (an ftp:// Location): the 302 reaches the spider.
            self.req("/redirect?to=ftp://example.com/file", "plain redirect not followed"),
            self.req(self.dead + "/", "plain refused"),
            self.req("/page/pw", "pw 200", playwright=True),
            self.req("/status/404", "pw 404", playwright=True),
            self.req("/slow?ms=300", "pw slow", playwright=True),
            self.req("/slow?ms=3000", "pw timeout", playwright=True,
                     playwright_page_goto_kwargs={"timeout": 500}),
            self.req(self.dead + "/pw", "pw refused", playwright=True),
            self.req("/page/refused", "pw refused by a plugin", playwright=True),
        ]:
            yield request

    def idle(self) -> None:
        # Every request above is finished and recorded: the site has measured visits now.
        if self.second_phase:
            return
        self.second_phase = True
        # What AdaptiveTimeouts makes of the site now: the next request is the only one in flight.
        with SiteMemory(self.store) as memory:
            timeout = AdaptiveTimeouts().timeout_for(memory.get_profile_sync(self.base))
        self.expected_timeout = None if timeout is None else timeout * 1000
        assert self.crawler.engine is not None
        self.crawler.engine.crawl(self.req("/page/adapted", "pw adapted", playwright=True))
        raise DontCloseSpider

    def parsed(self, response: Response) -> Iterator[scrapy.Request]:
        meta = response.meta
        methods = meta.get("playwright_page_methods") or []
        self.seen.append({
            "label": meta["label"], "url": response.url, "status": response.status,
            "goto_timeout": (meta.get("playwright_page_goto_kwargs") or {}).get("timeout"),
            "used": [m.result for m in methods if not isinstance(m.method, str)],
        })
        if meta["label"] == "pw adapted":
            yield self.req("/form", "pw search, selectors given", playwright=True, playwright_page_methods=[
                fill("search box", "shoes", "#search"),
                click("search button", "#go"),
                PageMethod("wait_for_url", "**/results?q=shoes"),
            ])
        if meta["label"] == "pw search, selectors given":
            # The memory knows the selectors now.
            yield self.req("/form", "pw search, from memory", playwright=True, playwright_page_methods=[
                fill("search box", "boots"), click("search button"),
                PageMethod("wait_for_url", "**/results?q=boots"),
            ])

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.seen.append({
            "label": request.meta["label"], "url": request.url,
            "error": f"{failure.type.__module__}.{failure.type.__qualname__}" if failure.type else None,
        })


def main(base: str, dead: str, store: str, out: str) -> None:
    get_plugin_manager().register(RefuseOne(), "refuse_one")
    process = CrawlerProcess(settings={
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_kwargs(),
        "DOWNLOADER_MIDDLEWARES": {
            "sitememory_plugin.integrations.scrapy.SiteMemoryMiddleware": MIDDLEWARE_PRIORITY,
        },
        "SITEMEMORY_PATH": store,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    })
    crawler = process.create_crawler(SiteSpider)
    process.crawl(crawler, base=base, dead=dead, store=store)
    process.start()
    assert crawler.stats is not None
    stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, int | float | str)}
    assert isinstance(crawler.spider, SiteSpider)
    gc.collect()
    with open(out, "w", encoding="utf-8") as f:
        json.dump({
            "seen": crawler.spider.seen, "stats": stats, "expected_timeout": crawler.spider.expected_timeout,
            "pages_held": len(integration._SITES),
        }, f, indent=1)


class Fetch(scrapy.Spider):
    name = "fetch"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls

    async def start(self) -> Any:
        for url in self.urls:
            yield scrapy.Request(url, meta={"playwright": True})

    def parse(self, response: Response) -> None:
        pass


def small(mode: str, urls: list[str]) -> None:
    """A crawl of Playwright requests in a mode the middleware refuses: ``reactor`` (Twisted's
    default reactor) or ``threaded`` (scrapy-playwright's threaded loop); or ``no-handler``:
    scrapy-playwright is not in DOWNLOAD_HANDLERS. Prints the number of responses."""
    settings: dict[str, Any] = {
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOADER_MIDDLEWARES": {
            "sitememory_plugin.integrations.scrapy.SiteMemoryMiddleware": MIDDLEWARE_PRIORITY,
        },
        "ROBOTSTXT_OBEY": False, "TELNETCONSOLE_ENABLED": False, "LOG_LEVEL": "WARNING",
    }
    if mode == "reactor":
        settings["TWISTED_REACTOR"] = "twisted.internet.selectreactor.SelectReactor"
    elif mode == "threaded":
        settings |= {
            "DOWNLOAD_HANDLERS": {"http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"},
            "_PLAYWRIGHT_THREADED_LOOP": True,
        }
    process = CrawlerProcess(settings=settings)
    crawler = process.create_crawler(Fetch)
    process.crawl(crawler, urls=urls)
    process.start()
    assert crawler.stats is not None
    print(json.dumps({"responses": crawler.stats.get_value("downloader/response_count", 0)}))


if __name__ == "__main__":
    if sys.argv[1] == "--small":
        small(sys.argv[2], sys.argv[3:])
    else:
        main(*sys.argv[1:5])
