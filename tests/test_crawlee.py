"""Crawlee's real ``PlaywrightCrawler`` joined to a memory with ``use_site_memory``: it crawls the
test site through ``enqueue_links`` on two site keys, and what the store holds matches what the
crawler saw; a second crawl consults what the first taught."""

from __future__ import annotations

import asyncio
import html
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
from crawlee import Request
from crawlee.configuration import Configuration
from crawlee.crawlers import (
    BasicCrawlingContext,
    PlaywrightCrawler,
    PlaywrightCrawlingContext,
    PlaywrightPreNavCrawlingContext,
)
from crawlee.storage_clients import FileSystemStorageClient
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from sitememory_plugin import (
    NavigationOptions,
    SiteMemory,
    Visit,
    chromium_launch_options,
    hookimpl,
    make_plugin_manager,
)
from sitememory_plugin.integrations.crawlee import TIMED_OUT, site_of, use_site_memory

from ._site import TestSite, _doc
from .test_examples import EXAMPLES, run

module_loop = pytest.mark.asyncio(loop_scope="module")


class HubSite(TestSite):
    """The test site with ``/hub``: links to a slow page, a 404, the overlay, the form, a redirect
    on ``127.0.0.1:PORT``, and to a page and a 503 on ``localhost:PORT`` (another site key)."""

    __test__ = False

    def _route(self, path: str, query: dict[str, list[str]], count: int) -> tuple[int, str, dict[str, str]]:
        if path != "/hub":
            return super()._route(path, query, count)
        other = f"http://localhost:{self.port}"
        links = ["/slow?ms=300", "/status/404", "/cookie", "/form", "/redirect?to=/page/landing",
                 f"{other}/page/b", f"{other}/status/503"]
        return 200, _doc("/hub", "".join(f'<a href="{html.escape(link)}">{link}</a>\n' for link in links)), {}


@dataclass
class Spy:
    """What the memory was asked before each navigation, and every visit it recorded."""

    before: list[tuple[str, str, int, float, float]] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    #: A delay to ask for before navigations to URLs ending so (seconds).
    delays: dict[str, float] = field(default_factory=dict)

    @hookimpl(trylast=True)  # after AutoThrottle: the delay it decided is in options
    def sitememory_before_navigation(
        self, url: str, key: str, profile: Any, options: NavigationOptions
    ) -> None:
        for suffix, delay in self.delays.items():
            if url.endswith(suffix):
                options.delay = max(options.delay, delay)
        visits = 0 if profile is None else profile.visit_count
        self.before.append((url, key, visits, options.delay, time.monotonic()))

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit) -> None:
        self.visits.append(visit)


@dataclass
class Seen:
    """What the crawler saw: handled pages, retried and failed requests, the handlers' results."""

    statuses: list[tuple[str, int]] = field(default_factory=list)
    retried: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def all_statuses(self) -> Counter[tuple[str, int | None]]:
        errors = [(url, _status(error)) for url, error in self.retried + self.failed]
        return Counter([*self.statuses, *errors])


def _status(error: str) -> int | None:
    for code in ("404", "503"):
        if f"status code: {code}" in error:
            return int(code)
    return None


def crawler_for(storage: Path, **options: Any) -> PlaywrightCrawler:
    # Crawlee's storages (request queue, key-value store) go to a temp dir, purged at start.
    return PlaywrightCrawler(
        browser_launch_options=chromium_launch_options(), max_request_retries=1,
        configuration=Configuration(storage_dir=str(storage), purge_on_start=True),
        storage_client=FileSystemStorageClient(), **options,
    )


async def crawl(web: HubSite, memory: SiteMemory, plugins: pluggy.PluginManager, storage: Path,
                first: bool) -> Seen:
    crawler = crawler_for(storage)
    use_site_memory(crawler, memory, plugins=plugins)
    seen = Seen()

    @crawler.router.default_handler
    async def handler(ctx: PlaywrightCrawlingContext) -> None:
        url = ctx.request.loaded_url or ctx.request.url
        seen.statuses.append((url, ctx.response.status))
        site = site_of(ctx)
        path = url.split(str(web.port), 1)[1]
        if path == "/hub":
            await ctx.enqueue_links(strategy="all")
        elif path == "/cookie":
            if first:
                try:
                    await ctx.page.click("#buy", timeout=500)
                    seen.results["blocked"] = False
                except PlaywrightTimeoutError:
                    seen.results["blocked"] = True  # the banner covers the button
                await site.remember_overlay("#accept-cookies", "cookie banner covers the page")
            await ctx.page.click("#buy", timeout=10_000)  # a plain click: the handler dismisses it
            seen.results["bought"] = await ctx.page.text_content("#status")
        elif path == "/form":
            # The first crawl says which elements; the second finds them from memory alone.
            selectors = ("#search",) if first else ()
            seen.results["fill"] = await site.fill("search box", "shoes", *selectors)
            async with ctx.page.expect_navigation():  # a navigation of the handler's own: a visit too
                seen.results["click"] = await site.click("search button", *(("#go",) if first else ()))
        elif path == "/page/b":
            seen.results["prompt"] = await site.prompt_context()

    @crawler.error_handler
    async def retried(ctx: BasicCrawlingContext, error: Exception) -> None:
        seen.retried.append((ctx.request.url, repr(error)))

    @crawler.failed_request_handler
    async def failed(ctx: BasicCrawlingContext, error: Exception) -> None:
        seen.failed.append((ctx.request.url, repr(error)))

    await crawler.run([web.url("/hub")])
    # Crawlee caches the opened queue per process, all of it handled now: purge it for the next crawl.
    await (await crawler.get_request_manager()).drop()
    return seen


@pytest.fixture(scope="module")
def web() -> Iterator[HubSite]:
    served = HubSite()
    try:
        yield served
    finally:
        served.close()


@module_loop
async def test_two_crawls_record_what_the_crawler_saw_and_the_second_consults_it(
    web: HubSite, tmp_path: Path
) -> None:
    here, there = f"127.0.0.1:{web.port}", f"localhost:{web.port}"
    spy = Spy()
    plugins = make_plugin_manager(entry_points=False, environment=False)
    plugins.register(spy, name="spy")
    storage = tmp_path / "crawlee"
    async with SiteMemory(tmp_path / "store") as memory:
        one = await crawl(web, memory, plugins, storage, first=True)
        first_visits, first_before = list(spy.visits), list(spy.before)

        # Crawlee navigated 9 times: 6 pages on 127.0.0.1, /page/b and /status/503 twice (one
        # retry) on localhost; the form's submit was a tenth navigation, the handler's own.
        assert Counter(one.statuses) == Counter({
            (web.url("/hub"), 200): 1, (web.url("/slow?ms=300"), 200): 1, (web.url("/cookie"), 200): 1,
            (web.url("/form"), 200): 1, (web.url("/page/landing"), 200): 1,
            (f"http://{there}/page/b", 200): 1,
        })
        assert [_status(e) for _, e in one.retried] == [503]
        assert Counter(_status(e) for _, e in one.failed) == Counter([404, 503])
        assert len(first_before) == 9
        crawled = Counter((v.url, v.status) for v in first_visits if "/results" not in v.url)
        assert crawled == one.all_statuses()  # every navigation the crawler saw, as it saw it
        assert [v.url for v in first_visits if "/results" in v.url] == [web.url("/results?q=shoes")]
        slow = [v for v in first_visits if "/slow" in v.url]
        assert len(slow) == 1 and slow[0].duration >= 0.3  # the server held it 300 ms

        mine, theirs = await memory.get_profile(web.url("/")), await memory.get_profile(f"http://{there}/")
        assert (mine.visit_count, mine.failure_count) == (7, 1)
        assert (theirs.visit_count, theirs.failure_count, theirs.last_status) == (3, 2, 503)
        assert one.results["blocked"] is True and one.results["bought"] == "bought"
        assert (one.results["fill"], one.results["click"]) == ("#search", "#go")

        # The second crawl: the same pages; before each navigation the memory is consulted.
        spy.delays["/page/b"] = 0.3
        two = await crawl(web, memory, plugins, storage, first=False)
        second_before = spy.before[len(first_before):]
        assert len(second_before) == 9
        known = {here: mine.visit_count, there: theirs.visit_count}
        assert all(visits >= known[key] for _, key, visits, _, _ in second_before)
        # The delay asked for was waited before Crawlee's page.goto reached the server.
        [(_, _, _, delay, asked)] = [b for b in second_before if b[0].endswith("/page/b")]
        assert delay >= 0.3 and web.arrivals("/page/b")[1] >= asked + delay
        # The overlay remembered by the first crawl is dismissed for a plain click, and the
        # form's elements are found by purpose alone.
        assert "blocked" not in two.results and two.results["bought"] == "bought"
        assert (two.results["fill"], two.results["click"]) == ("#search", "#go")
        # The handler reads what the memory knows: the first crawl's failures ask for a pause.
        prompt = two.results["prompt"]
        assert prompt.startswith(f"Site memory for {there}:\n- ") and " between navigations to it" in prompt
        assert Counter((v.url, v.status) for v in spy.visits[len(first_visits):]
                       if "/results" not in v.url) == two.all_statuses()

        mine, theirs = await memory.get_profile(web.url("/")), await memory.get_profile(f"http://{there}/")
        assert (mine.visit_count, mine.failure_count) == (14, 2)
        assert (theirs.visit_count, theirs.failure_count) == (6, 4)
        assert len(mine.quirks) == 1 and mine.quirks[0].workaround == "click #accept-cookies"
        search = mine.selectors["search box"]
        assert (search.primary, search.success_count, search.failure_count) == ("#search", 2, 0)
    assert (storage / "key_value_stores").is_dir()  # Crawlee kept its storages in the temp dir


async def timing_out(tmp_path: Path, plugins: pluggy.PluginManager) -> tuple[list[str], TestSite, Any]:
    """Crawl a page that outlasts Crawlee's 2 s navigation_timeout, retried once; what the
    crawler saw, the site, and the store's profile of it."""
    with TestSite() as web:  # a site of its own: its failures stay out of the crawl above
        async with SiteMemory(tmp_path / "store") as memory:
            crawler = crawler_for(tmp_path / "crawlee", navigation_timeout=timedelta(seconds=2))
            use_site_memory(crawler, memory, plugins=plugins)
            errors: list[str] = []

            @crawler.router.default_handler
            async def handler(ctx: PlaywrightCrawlingContext) -> None:
                errors.append("handled")

            @crawler.error_handler
            async def retried(ctx: BasicCrawlingContext, error: Exception) -> None:
                errors.append(type(error).__name__)

            @crawler.failed_request_handler
            async def failed(ctx: BasicCrawlingContext, error: Exception) -> None:
                errors.append(type(error).__name__)

            stats = await crawler.run([Request.from_url(web.url("/slow?ms=4000"), max_retries=1)])
            await (await crawler.get_request_manager()).drop()
            assert (stats.requests_failed, stats.requests_finished) == (1, 0)
            return errors, web, await memory.get_profile(web.url("/"))


@module_loop
async def test_a_navigation_crawlee_times_out_is_a_failure_per_attempt(tmp_path: Path) -> None:
    plugins = make_plugin_manager(disable=["politeness"], entry_points=False, environment=False)
    errors, web, profile = await timing_out(tmp_path, plugins)
    assert errors == ["TimeoutError", "TimeoutError"]  # the first attempt and its retry
    assert web.hits("/slow") == 2
    assert (profile.visit_count, profile.failure_count, profile.last_error) == (2, 2, TIMED_OUT)


@module_loop
async def test_a_politeness_pause_longer_than_the_budget_times_the_retry_out_before_it_goes(
    tmp_path: Path,
) -> None:
    # After a 2 s timeout AutoThrottle pauses the site (4 x 2 s + 1 s) x 100% failures; Crawlee's
    # pre-navigation hooks run inside its navigation_timeout, so the retry times out waiting:
    # the site is not asked again, and no navigation means no visit.
    plugins = make_plugin_manager(entry_points=False, environment=False)
    errors, web, profile = await timing_out(tmp_path, plugins)
    assert errors == ["TimeoutError", "TimeoutError"]
    assert web.hits("/slow") == 1
    assert (profile.visit_count, profile.failure_count, profile.last_error) == (1, 1, TIMED_OUT)


def test_use_site_memory_twice_on_one_crawler_is_refused(tmp_path: Path) -> None:
    memory = SiteMemory(tmp_path / "store")  # never opened: use_site_memory only adds hooks
    crawler = crawler_for(tmp_path / "crawlee")
    use_site_memory(crawler, memory)
    with pytest.raises(ValueError, match="called on this crawler already"):
        use_site_memory(crawler, memory)  # its hooks twice would record every visit twice
    use_site_memory(crawler_for(tmp_path / "crawlee"), memory)  # another crawler is joined


def test_site_of_a_page_that_is_not_attached_says_what_to_call() -> None:
    @dataclass
    class Context:
        page: Any

    class Page:
        pass

    with pytest.raises(LookupError, match=r"use_site_memory\(crawler, memory\)"):
        site_of(Context(Page()))  # type: ignore[arg-type]


def test_without_crawlee_the_import_says_what_to_install() -> None:
    probe = ("import sys; sys.modules['crawlee.crawlers'] = None\n"
             "try:\n    import sitememory_plugin.integrations.crawlee\n"
             "except ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "pip install 'sitememory-plugin[crawlee]'" in done.stdout, done.stderr
    probe = "import sys, sitememory_plugin; print([m for m in sys.modules if m.startswith('crawlee')])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr  # nothing else in the package imports it


def test_the_crawlee_example_runs(tmp_path: Path) -> None:
    out = run(tmp_path, str(EXAMPLES / "crawlee_crawl.py"), timeout=180)
    assert "crawled 3 pages, 1 failed" in out, out
    assert "- 4 visits, 75% succeeded" in out, out
    assert '- selector for "search box": "#q"' in out, out


@module_loop
async def test_a_download_or_a_204_that_crawlee_cannot_load_is_no_timeout(tmp_path: Path) -> None:
    # Playwright's goto raises at once ("Download is starting", net::ERR_ABORTED) and no browser
    # event reports a failure: the budget was not spent, so nothing is recorded against the site.
    plugins = make_plugin_manager(disable=["politeness"], entry_points=False, environment=False)
    with TestSite() as web:
        async with SiteMemory(tmp_path / "store") as memory:
            crawler = crawler_for(tmp_path / "crawlee")
            use_site_memory(crawler, memory, plugins=plugins)
            errors: list[str] = []

            @crawler.failed_request_handler
            async def failed(ctx: BasicCrawlingContext, error: Exception) -> None:
                errors.append(str(error))

            stats = await crawler.run([web.url("/download"), web.url("/status/204")])
            await (await crawler.get_request_manager()).drop()
            profile = await memory.get_profile(web.url("/"))
    assert (stats.requests_failed, stats.requests_finished) == (2, 0), errors
    assert web.hits("/download") == 2 and web.hits("/status/204") == 2  # each retried once
    assert profile is None or (profile.failure_count, profile.last_error) == (0, None), profile


class Broken:
    @hookimpl
    def sitememory_before_navigation(self, url: str) -> None:
        raise RuntimeError("broken plugin")


@module_loop
async def test_a_plugin_that_raises_before_navigation_is_logged_once_and_the_crawl_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = make_plugin_manager(disable=["politeness"], entry_points=False, environment=False)
    plugins.register(Broken(), name="broken")
    with TestSite() as web:
        async with SiteMemory(tmp_path / "store") as memory:
            crawler = crawler_for(tmp_path / "crawlee")
            use_site_memory(crawler, memory, plugins=plugins)
            handled: list[str] = []

            @crawler.router.default_handler
            async def handler(ctx: PlaywrightCrawlingContext) -> None:
                handled.append(ctx.request.url)

            with caplog.at_level(logging.WARNING, logger="sitememory.crawlee"):
                stats = await crawler.run([web.url("/page/a"), web.url("/page/b")])
            await (await crawler.get_request_manager()).drop()
            profile = await memory.get_profile(web.url("/"))
    assert (stats.requests_failed, stats.requests_finished, stats.retry_histogram) == (0, 2, [2])
    assert sorted(handled) == [web.url("/page/a"), web.url("/page/b")]
    [warning] = [r for r in caplog.records if r.name == "sitememory.crawlee"]  # once per kind
    assert "broken plugin" in warning.getMessage() and "crawling on" in warning.getMessage()
    assert (profile.visit_count, profile.failure_count) == (2, 0)  # the pages' events still recorded


@module_loop
async def test_an_early_error_is_no_timeout_however_long_the_error_handlers_take(tmp_path: Path) -> None:
    # A download, and a page closed while its goto waits: both end before
    # Crawlee's 1 s budget, then the failed-request handler outlasts it; neither is the site's failure.
    plugins = make_plugin_manager(disable=["politeness"], entry_points=False, environment=False)
    with TestSite() as web:
        async with SiteMemory(tmp_path / "store") as memory:
            crawler = crawler_for(tmp_path / "crawlee", navigation_timeout=timedelta(seconds=1))
            use_site_memory(crawler, memory, plugins=plugins)
            errors: list[str] = []
            closing: list[asyncio.Task[None]] = []

            async def close_once_asked(page: Page) -> None:
                while not web.hits("/slow"):  # the server holds the page: goto is waiting
                    await asyncio.sleep(0.01)
                await page.close()

            @crawler.pre_navigation_hook
            async def close_when_asked(ctx: PlaywrightPreNavCrawlingContext) -> None:
                if "/slow" in ctx.request.url:
                    closing.append(asyncio.get_running_loop().create_task(close_once_asked(ctx.page)))

            @crawler.failed_request_handler
            async def failed(ctx: BasicCrawlingContext, error: Exception) -> None:
                errors.append(str(error).splitlines()[0])
                await asyncio.sleep(1.2)  # a slow handler (a screenshot, an LLM) past the budget

            stats = await crawler.run([Request.from_url(web.url("/download"), max_retries=0),
                                       Request.from_url(web.url("/slow?ms=3000"), max_retries=0)])
            await (await crawler.get_request_manager()).drop()
            profile = await memory.get_profile(web.url("/"))
    assert (stats.requests_failed, stats.requests_finished) == (2, 0)
    download, closed = sorted(errors)
    assert download == "Page.goto: Download is starting"
    # Chromium aborts the request of a page closing (else Playwright says TargetClosedError).
    assert "net::ERR_ABORTED" in closed or "has been closed" in closed, closed
    assert profile is None or (profile.failure_count, profile.last_error) == (0, None), profile
