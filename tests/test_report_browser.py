"""The report in a real Chromium: the file and the served page load nothing else and log no
error, show the store's figures, sort, render in both colour schemes, and the served page
follows the store. Screenshots are kept under ``$SITEMEMORY_ARTIFACTS`` (default
``build/test-artifacts``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from playwright.async_api import Browser, Page, Request, expect

from sitememory_plugin import SiteMemory
from sitememory_plugin._cli import main
from sitememory_plugin._report.serve import LiveReport, ReportServer
from sitememory_plugin._report.text import percent, seconds, when

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parent.parent
SITES = {"alpha.example": 3, "bravo.example": 7, "charlie.example": 1, "delta.example": 5}


def artifacts() -> Path:
    path = Path(os.environ.get("SITEMEMORY_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Four sites with different visit counts, failures and load times; selectors, a quirk and
    a pattern on one."""
    path = tmp_path / "store"
    with SiteMemory(path, durability="none") as memory:
        for n, (key, visits) in enumerate(SITES.items()):
            for i in range(visits):
                memory.record_visit_sync(f"https://{key}/page/{i}", 0.3 + n / 2 + i / 10,
                                         status=500 if i == 1 else 200)
        url = "https://bravo.example/"
        memory.record_visit_sync(url, 12.0, error="Timeout 12000ms exceeded")
        memory.cache_selector_sync(url, "search box", "#q", ["input[name=q]"])
        memory.record_selector_result_sync(url, "search box", "#q", False)
        memory.record_selector_result_sync(url, "search box", "input[name=q]", True)
        memory.record_quirk_sync(url, "cookie banner <covers> the page", "click #accept")
        memory.record_quirk_sync(url, "cookie banner <covers> the page", "click #accept")
        steps = [{"fill": ["search box", "{q}"]}, {"press": ["Enter"]}]
        memory.cache_action_pattern_sync(url, "search", steps)
    return path


@dataclass
class Watch:
    """Every request a page made, and every console error and page error it had."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", lambda request: self._request(request))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)


@pytest.fixture
def report_file(store: Path, tmp_path: Path) -> Path:
    out = tmp_path / "report.html"
    assert main(["--store", str(store), "report", "-o", str(out)]) == 0
    return out


Scheme = Literal["light", "dark"]


async def opened(browser: Browser, url: str, scheme: Scheme = "light") -> tuple[Page, Watch]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await page.goto(url)
    return page, watch


async def order(page: Page) -> list[str | None]:
    return [await row.get_attribute("data-site") for row in await page.locator("#fleet-table tbody tr").all()]


async def test_the_file_loads_nothing_else_and_shows_the_store(browser: Browser, report_file: Path,
                                                               store: Path) -> None:
    page, watch = await opened(browser, report_file.as_uri())
    try:
        total = 0
        with SiteMemory(store) as memory:
            for key in SITES:
                profile = memory.get_profile_sync(key)
                total += profile.visit_count
                row = page.locator(f'#fleet-table tr[data-site="{key}"]')
                await expect(row.locator(".c-visits")).to_have_text(f"{profile.visit_count:,}")
                await expect(row.locator(".c-success")).to_have_text(percent(profile.success_rate))
                await expect(row.locator(".c-p50")).to_have_text(seconds(profile.p50_load_time))
                await expect(row.locator(".c-p95")).to_have_text(seconds(profile.p95_load_time))
                await expect(row.locator(".c-last")).to_have_text(when(profile.last_visit))
                await expect(row.locator(".c-quirks")).to_have_text(str(len(profile.quirks)))
        await expect(page.locator("#total-visits")).to_have_text(f"{total:,}")
        bravo = page.locator("#site-bravo\\.example")
        await expect(page.locator('tr[data-site="bravo.example"] .c-healed')).to_have_text("1")
        await expect(bravo.get_by_role("row", name="cookie banner <covers> the page")).to_contain_text("2")
        # bravo's history: 7 visits, all ok but one (a 500), then a timeout
        chart = bravo.get_by_role("img", name="Load time of the last 8 of 8 visits")
        await expect(chart).to_have_count(1)
        title = await chart.locator("title").text_content() or ""
        assert "6 ok, 1 error status, 0 failed, 1 timed out" in title
        await expect(bravo.get_by_role("img", name="Distribution of the last 7 load times")).to_have_count(1)
        await expect(bravo.get_by_role("img", name="Success rate over the 20 visits")).to_have_count(1)
        failures = bravo.get_by_role("table", name="The 2 most recent failures")
        await expect(failures.locator("tbody tr")).to_have_count(2)
        await expect(failures.locator("tbody tr").first).to_contain_text("timeout")
        await expect(failures.locator("tbody tr").nth(1)).to_contain_text("/page/1")
        await page.get_by_role("link", name="bravo.example").click()
        assert page.url.endswith("#site-bravo.example")
        await expect(bravo.get_by_role("heading", level=2)).to_have_text("bravo.example")
        assert watch.requests == [report_file.as_uri()]
        assert watch.errors == []
    finally:
        await page.context.close()


async def test_the_headers_are_sort_buttons(browser: Browser, report_file: Path) -> None:
    page, watch = await opened(browser, report_file.as_uri())
    try:
        by_key = sorted(SITES)
        assert await order(page) == by_key
        visits = page.locator("#fleet-table thead th").nth(1)
        await visits.get_by_role("button", name="Visits").click()
        await expect(visits).to_have_attribute("aria-sort", "descending")
        # bravo has one more visit (its timeout)
        assert await order(page) == ["bravo.example", "delta.example", "alpha.example", "charlie.example"]
        await visits.get_by_role("button").click()
        await expect(visits).to_have_attribute("aria-sort", "ascending")
        assert await order(page) == ["charlie.example", "alpha.example", "delta.example", "bravo.example"]
        site = page.locator("#fleet-table thead th").first
        await expect(site).not_to_have_attribute("aria-sort", "ascending")
        await site.get_by_role("button").focus()
        await page.keyboard.press("Enter")
        assert await order(page) == by_key
        await expect(site).to_have_attribute("aria-sort", "ascending")
        await expect(visits).not_to_have_attribute("aria-sort", "ascending")
        assert watch.errors == []
    finally:
        await page.context.close()


async def test_without_javascript_the_page_is_whole(browser: Browser, report_file: Path) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(report_file.as_uri())
        assert await order(page) == sorted(SITES)
        await expect(page.locator("#fleet-table thead button")).to_have_count(0)  # no dead buttons
        await expect(page.locator("#fleet-table thead th").nth(1)).to_have_text("Visits")
        await expect(page.locator("section.site")).to_have_count(len(SITES))
    finally:
        await context.close()


async def test_both_colour_schemes_render_and_are_kept_as_screenshots(
    browser: Browser, report_file: Path
) -> None:
    schemes: tuple[tuple[Scheme, str, str], ...] = (("light", "rgb(255, 255, 255)", "rgb(27, 27, 27)"),
                                                   ("dark", "rgb(21, 23, 26)", "rgb(232, 232, 232)"))
    for scheme, background, text in schemes:
        page, watch = await opened(browser, report_file.as_uri(), scheme)
        try:
            await page.emulate_media(color_scheme=scheme)
            colours = await page.evaluate("[getComputedStyle(document.body).backgroundColor, "
                                          "getComputedStyle(document.body).color]")
            assert colours == [background, text], scheme
            shot = artifacts() / ("report.png" if scheme == "light" else f"report-{scheme}.png")
            shot.unlink(missing_ok=True)
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.is_file() and shot.stat().st_size > 0
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert watch.errors == [] and watch.requests == [report_file.as_uri()]
        finally:
            await page.context.close()


@pytest.fixture
def served(store: Path) -> Iterator[ReportServer]:
    memory = SiteMemory(store, cache_ttl=0.2)
    server = ReportServer(LiveReport(memory, ttl=0.2, poll=0.5), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)
    memory.close_sync()


async def test_the_served_page_follows_the_store(browser: Browser, served: ReportServer, store: Path) -> None:
    page, watch = await opened(browser, served.url)
    try:
        cell = page.locator('#fleet-table tr[data-site="alpha.example"] .c-visits')
        await expect(cell).to_have_text("3")
        await expect(page.locator("html")).to_have_attribute("data-live", "0.5")
        visits = page.locator("#fleet-table thead th").nth(1)
        await visits.get_by_role("button").click()
        await expect(visits).to_have_attribute("aria-sort", "descending")
        with SiteMemory(store) as memory:
            memory.record_visit_sync("https://alpha.example/new", 0.4, status=200)
            memory.record_visit_sync("https://echo.example/", 0.4, status=200)
        # The page polls /version and reloads itself once the store changed.
        await expect(cell).to_have_text("4", timeout=20_000)
        await expect(page.locator('#fleet-table tr[data-site="echo.example"]')).to_have_count(1)
        # the reloaded page keeps the reader's sort
        await expect(visits).to_have_attribute("aria-sort", "descending")
        assert (await order(page))[:2] == ["bravo.example", "delta.example"]
        assert {url.split("?")[0] for url in watch.requests} <= {served.url, served.url + "version"}
        assert served.url + "version" in watch.requests
        assert watch.errors == []
    finally:
        await page.context.close()
