"""``site.prepare_navigation()`` and ``site.navigation_failed()``: a navigation another client
makes (a crawler's own ``page.goto``) gets the plugins' options and politeness delay, and is
recorded once whatever happens to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest
from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from sitememory_plugin import NavigationRefused, SiteMemory, attach, hookimpl
from sitememory_plugin._browser import launch_kwargs

from ._net import free_port
from ._site import TestSite

IN_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def web() -> Iterator[TestSite]:
    with TestSite() as served:
        yield served


@IN_MODULE_LOOP
async def test_the_plugins_choose_the_options_and_the_clients_goto_is_one_visit(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    url = web.url("/page/a")
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            fresh = await site.prepare_navigation(url)
            assert fresh.goto_kwargs() == {}  # nothing measured yet: the client's own default
            for _ in range(3):
                await memory.record_visit(url, 0.2, status=200)
            navigation = await site.prepare_navigation(url, wait_until="domcontentloaded")
            assert navigation.goto_kwargs() == {"timeout": 5000.0, "wait_until": "domcontentloaded"}
            assert (await site.prepare_navigation(url, timeout=1234)).goto_kwargs() == {"timeout": 1234}
            await page.goto(url, **navigation.goto_kwargs())  # the client's goto, not the handle's
            await page.wait_for_load_state("load")
            # A later step of the client failed: the navigation itself loaded, and counted.
            later = PlaywrightError("Locator.click: Timeout 100ms exceeded.")
            assert await site.navigation_failed(navigation, later) is False
            await site.settle()
        profile = await memory.get_profile(url)
        await page.close()
    assert (profile.visit_count, profile.failure_count, profile.last_status) == (4, 0, 200)


@IN_MODULE_LOOP
async def test_a_timeout_fires_no_event_and_is_recorded_once_late_load_included(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    url = web.url("/slow?ms=1500")
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            navigation = await site.prepare_navigation(url, timeout=300)
            with pytest.raises(PlaywrightTimeoutError) as raised:
                await page.goto(url, **navigation.goto_kwargs())
            assert await site.navigation_failed(navigation, raised.value) is True
            assert await site.navigation_failed(navigation, raised.value) is False  # once
            await page.wait_for_url(url, wait_until="load")  # it loads late: the same visit
            await site.settle()
        profile = await memory.get_profile(url)
        await page.close()
    assert (profile.visit_count, profile.failure_count) == (1, 1)
    assert "Timeout 300ms exceeded" in str(profile.last_error)


@IN_MODULE_LOOP
async def test_a_goto_that_gives_up_after_the_load_is_one_visit_and_the_next_one_counts(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # It loads at once, then fetches for 3 s: "networkidle" never comes within the timeout.
    url = web.url("/busy?ms=3000")
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            with pytest.raises(PlaywrightTimeoutError):
                await site.goto(url, wait_until="networkidle", timeout=1500)
            await page.click("#again")  # the same URL again, by a click: a visit of its own
            await page.wait_for_load_state("load")
            await site.settle()
        profile = await memory.get_profile(url)
        await page.close()
    assert (profile.visit_count, profile.failure_count) == (2, 0)


@IN_MODULE_LOOP
async def test_a_network_error_is_recorded_by_its_event_not_again(
    browser: Browser, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/x"
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            navigation = await site.prepare_navigation(dead)
            with pytest.raises(PlaywrightError) as raised:
                await page.goto(dead, **navigation.goto_kwargs())
            assert await site.navigation_failed(navigation, raised.value) is False
        profile = await memory.get_profile(dead)
        await page.close()
    assert (profile.visit_count, profile.failure_count) == (1, 1)
    assert profile.last_error.startswith("net::ERR_CONNECTION_REFUSED")


class Refuse:
    @hookimpl
    def sitememory_before_navigation(self, url: str) -> None:
        raise NavigationRefused(f"not {url}")


@IN_MODULE_LOOP
async def test_a_refusal_is_raised_before_the_client_goes(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    plugins.register(Refuse(), "refuse")
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            with pytest.raises(NavigationRefused):
                await site.prepare_navigation(web.url("/page/refused"))
        await page.close()
    assert web.hits("/page/refused") == 0


def test_the_sync_handle_prepares_and_records_the_same_way(
    web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    url = web.url("/slow?ms=1200")
    with SiteMemory(tmp_path / "store") as memory, sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        page = browser.new_page()
        with attach(page, memory, plugins=plugins) as site:
            ok = site.prepare_navigation(web.url("/page/b"))
            page.goto(web.url("/page/b"), **ok.goto_kwargs())
            navigation = site.prepare_navigation(url, timeout=200)
            with pytest.raises(PlaywrightTimeoutError) as raised:
                page.goto(url, **navigation.goto_kwargs())
            assert site.navigation_failed(navigation, raised.value) is True
        browser.close()
        profile = memory.get_profile_sync(url)
    assert (profile.visit_count, profile.failure_count) == (2, 1)


def test_a_failure_the_client_saw_is_recorded_once_from_its_text_or_its_own_timeout(
    web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # A crawler's own budget (Crawlee's navigation_timeout) cancels its goto: no Playwright error
    # and no browser event, only what the crawler knows.
    with SiteMemory(tmp_path / "store") as memory, sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        page = browser.new_page()
        with attach(page, memory, plugins=plugins) as site:
            cut = site.prepare_navigation(web.url("/page/cut"), page=page)
            assert site.navigation_failed(cut, TimeoutError("cut short by the crawler"))
            assert not site.navigation_failed(cut, TimeoutError("cut short by the crawler"))  # once
            told = site.prepare_navigation(web.url("/page/told"), page=page)
            assert site.navigation_failed(told, "the crawler's budget ran out", timed_out=True)
            assert not site.navigation_failed(told, ValueError("a framework's own error"))
        browser.close()
        profile = memory.get_profile_sync(web.url("/"))
    assert (profile.visit_count, profile.failure_count) == (2, 2)
    assert profile.last_error == "the crawler's budget ran out"


class RefuseFirst:
    """Refuses a site's first ``times`` navigations, as a failure guard may."""

    def __init__(self, times: int) -> None:
        self.left = times

    @hookimpl
    def sitememory_before_navigation(self) -> None:
        if self.left > 0:
            self.left -= 1
            raise NavigationRefused("not now")


@IN_MODULE_LOOP
async def test_refused_navigations_give_their_politeness_slot_back(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # Each booking of an unfinished navigation is spaced from the one before: five refused ones
    # kept would put the sixth 5 x the site's 1 s latency out.
    plugins.register(RefuseFirst(5), "refuse-first")
    url = web.url("/page/polite")
    async with SiteMemory(tmp_path / "store") as memory:
        for _ in range(3):
            await memory.record_visit(url, 1.0, status=200)
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            for _ in range(5):
                with pytest.raises(NavigationRefused):
                    await site.prepare_navigation(url)
            navigation = await site.prepare_navigation(url)
        await page.close()
    assert navigation.options.delay == 0


@IN_MODULE_LOOP
async def test_a_page_closed_or_detached_before_its_load_is_still_a_visit(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # A crawler that goes on at DOMContentLoaded (its goto's wait_until) closes the page, or its
    # handle, while an image still holds the load event back: the navigation had its response.
    url = web.url("/cookie?load_ms=3000")
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        site = await attach(page, memory, plugins=plugins)
        await page.goto(url, wait_until="domcontentloaded")
        await page.close()  # before the load event
        await site.settle()
        other = await browser.new_page()
        site = await attach(other, memory, plugins=plugins)
        await other.goto(url, wait_until="domcontentloaded")
        await site.detach()  # before the load event too
        await other.close()
        profile = await memory.get_profile(url)
    assert (profile.visit_count, profile.failure_count, profile.last_status) == (2, 0, 200)
    assert "load" not in profile.last_timings and "dom_content_loaded" in profile.last_timings
    assert max(profile.load_times) < 3  # to DOMContentLoaded, not to the image


def test_the_sync_handle_records_a_page_closed_before_its_load(
    web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    with SiteMemory(tmp_path / "store") as memory, sync_playwright() as p:
        browser = p.chromium.launch(**launch_kwargs())
        page = browser.new_page()
        site = attach(page, memory, plugins=plugins)
        page.goto(web.url("/cookie?load_ms=3000"), wait_until="domcontentloaded")
        page.close()
        site.settle()
        site.detach()
        browser.close()
        profile = memory.get_profile_sync(web.url("/"))
    assert (profile.visit_count, profile.failure_count) == (1, 0)


@IN_MODULE_LOOP
async def test_a_timed_out_goto_whose_page_closes_is_one_failure_however_its_url_was_spelt(
    browser: Browser, web: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # Chromium requests "http://host/path" for "HTTP://HOST/path#top": the same navigation.
    url = web.url("/cookie?load_ms=3000")
    spelt = url.replace("http://", "HTTP://") + "#top"
    async with SiteMemory(tmp_path / "store") as memory:
        page = await browser.new_page()
        async with attach(page, memory, plugins=plugins) as site:
            with pytest.raises(PlaywrightTimeoutError):
                await site.goto(spelt, timeout=800)
            await page.close()  # before its late load: not a second visit
            await site.settle()
        profile = await memory.get_profile(url)
    assert (profile.visit_count, profile.failure_count) == (1, 1)


def test_the_url_a_caller_spelt_is_the_request_chromium_made() -> None:
    from sitememory_plugin._playwright.handle import same_url

    assert same_url("http://a.example/", "HTTP://A.example")
    assert same_url("http://a.example/x?q=1", "http://a.example/x?q=1#frag")
    assert not same_url("http://a.example/x?q=1", "http://a.example/x?q=2")
    assert not same_url("http://a.example/x", "http://b.example/x")
