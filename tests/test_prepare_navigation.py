"""``prepare_navigation()`` and ``navigation_failed()``: a navigation other code makes (a crawler's
own ``page.goto``) consults the memory first, and a failure no browser event reports is recorded
once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pluggy
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from sitememory_plugin import (
    NavigationOptions,
    SiteMemory,
    attach,
    chromium_launch_options,
    hookimpl,
    make_plugin_manager,
)

from ._cdp import free_port
from ._site import TestSite

module_loop = pytest.mark.asyncio(loop_scope="module")


class Chosen:
    """Sets a navigation's wait_until and a short delay, as a plugin may."""

    @hookimpl
    def sitememory_before_navigation(self, options: NavigationOptions) -> None:
        options.wait_until = "domcontentloaded"
        options.delay = max(options.delay, 0.01)


@pytest.fixture(scope="module")
def site() -> Iterator[TestSite]:
    with TestSite() as served:
        yield served


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(**chromium_launch_options())
        yield launched
        await launched.close()


def plugins() -> pluggy.PluginManager:
    pm = make_plugin_manager(entry_points=False, environment=False)
    pm.register(Chosen(), name="chosen")
    return pm


@module_loop
async def test_a_timeout_is_recorded_once_and_its_late_load_is_no_visit(
    browser: Browser, site: TestSite, tmp_path: Path
) -> None:
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins()) as handle:
            url = site.url("/slow?ms=1500")
            nav = await handle.prepare_navigation(url, page=page)
            assert nav.options.wait_until == "domcontentloaded" and nav.options.timeout is None
            with pytest.raises(PlaywrightTimeoutError) as caught:
                await page.goto(url, timeout=300)
            assert await handle.navigation_failed(nav, caught.value)
            assert not await handle.navigation_failed(nav, caught.value)  # once
            await page.wait_for_load_state("load", timeout=10_000)  # the late load
            await handle.settle()
        await page.close()
        profile = await memory.get_profile(url)
        assert (profile.visit_count, profile.failure_count) == (1, 1)
        assert profile.last_error.endswith("Timeout 300ms exceeded.")


@module_loop
async def test_what_an_event_recorded_is_not_recorded_again(
    browser: Browser, site: TestSite, tmp_path: Path
) -> None:
    refused = f"http://127.0.0.1:{free_port()}/"
    async with SiteMemory(tmp_path / "store") as memory:
        context = await browser.new_context()
        async with attach(context, memory) as handle:
            page = await context.new_page()
            nav = await handle.prepare_navigation(refused, page=page)
            with pytest.raises(Exception, match="ERR_CONNECTION_REFUSED") as caught:
                await page.goto(refused)
            assert not await handle.navigation_failed(nav, caught.value)  # requestfailed did
            # A page of its own: Chromium's error page may still be committing on the first.
            other = await context.new_page()
            loaded = await handle.prepare_navigation(site.url("/page/a"), page=other)
            await other.goto(site.url("/page/a"))
            assert not await handle.navigation_failed(loaded, "a later error")  # it loaded
        await context.close()
        failed, ok = await memory.get_profile(refused), await memory.get_profile(site.url("/"))
        assert (failed.visit_count, failed.failure_count) == (1, 1)
        assert (ok.visit_count, ok.failure_count) == (1, 0)


def test_the_sync_handle_does_the_same(site: TestSite, tmp_path: Path) -> None:
    with SiteMemory(tmp_path / "store") as memory, sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch_options())
        page = browser.new_page()
        with attach(page, memory, plugins=plugins()) as handle:
            nav = handle.prepare_navigation(site.url("/page/s"), page=page)
            assert nav.options.wait_until == "domcontentloaded"
            assert handle.navigation_failed(nav, TimeoutError("cut short by the caller"))
        browser.close()
        profile = memory.get_profile_sync(site.url("/"))
        assert (profile.visit_count, profile.failure_count) == (1, 1)
        assert profile.last_error == "cut short by the caller"
