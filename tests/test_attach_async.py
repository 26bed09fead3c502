"""attach() with Playwright's async API: real Chromium, a real local site, a real store."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from sitememory_plugin import (
    AdaptiveTimeouts,
    AsyncSite,
    NavigationOptions,
    NavigationRefused,
    PluginError,
    SiteMemory,
    SiteUpdates,
    UnknownPurpose,
    Visit,
    attach,
    hookimpl,
    make_plugin_manager,
)

from ._net import free_port
from ._site import TestSite

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def memory(store_path: Path) -> AsyncIterator[SiteMemory]:
    async with SiteMemory(store_path) as memory:
        yield memory


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    yield context
    await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def site(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager
) -> AsyncIterator[AsyncSite]:
    handle = await attach(context, memory, plugins=plugins)
    yield handle
    await handle.detach()


class Spy:
    """Records what the hooks saw, and when ``sitememory_before_navigation`` ran."""

    def __init__(self) -> None:
        self.options: list[NavigationOptions] = []
        self.times: list[float] = []
        self.visits: list[Visit] = []

    @hookimpl(trylast=True)
    def sitememory_before_navigation(self, options: NavigationOptions) -> None:
        self.times.append(time.monotonic())
        self.options.append(NavigationOptions(**vars(options)))

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit) -> None:
        self.visits.append(visit)


# -- recording ---------------------------------------------------------------------------------


async def test_goto_records_a_visit_with_the_browsers_timings(
    site: AsyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    response = await site.goto(site_server.url("/page/a"))
    assert response is not None and response.status == 200
    await site.settle()  # recording is off the navigation's path
    profile = await memory.get_profile(site_server.url())
    assert profile.visit_count == 1 and profile.success_count == 1
    assert profile.last_status == 200
    timings = profile.last_timings
    assert {"ttfb", "dom_content_loaded", "load", "transfer_bytes"} <= set(timings)
    assert 0 <= timings["ttfb"] <= timings["dom_content_loaded"] <= timings["load"]
    assert timings["transfer_bytes"] > 0
    assert profile.load_times == (pytest.approx(timings["load"], abs=0.001),)


async def test_every_main_frame_navigation_is_one_visit(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = await context.new_page()
    await site.goto(site_server.url("/redirect"), page=page)  # 302 then the landing page: one visit
    assert page.url.endswith("/page/landing")
    await page.goto(site_server.url("/frames"))  # not through the handle; its iframe is no visit
    await page.goto(site_server.url("/page/b"))
    await page.click("#next")  # a click that navigates
    await page.wait_for_url("**/page/next")
    await page.goto(site_server.url("/popup"))
    async with context.expect_page() as popup_info:
        await page.click("#open")  # a new page opened in the context
    popup = await popup_info.value
    await popup.wait_for_load_state("load")
    await page.goto(site_server.url("/spa"))
    await page.click("button")  # pushState: same document, no visit
    await page.goto("about:blank")  # no web site
    await site.settle()
    profile = await memory.get_profile(site_server.url())
    assert profile.visit_count == 7
    assert profile.failure_count == 0
    assert site_server.hits("/page/inner") == 1


async def test_http_errors_and_network_errors_are_failures(
    site: AsyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    await site.goto(site_server.url("/status/503"))
    await site.settle()
    profile = await memory.get_profile(site_server.url())
    assert (profile.visit_count, profile.failure_count, profile.last_status) == (1, 1, 503)

    dead = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(PlaywrightError, match="ERR_CONNECTION_REFUSED"):
        await site.goto(dead)
    await site.settle()
    failed = await memory.get_profile(dead)
    assert (failed.visit_count, failed.failure_count) == (1, 1)
    assert "ERR_CONNECTION_REFUSED" in str(failed.last_error)


async def test_a_navigation_not_through_the_handle_that_fails_is_recorded(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory
) -> None:
    page = await context.new_page()
    dead = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(PlaywrightError):
        await page.goto(dead)
    await site.settle()
    profile = await memory.get_profile(dead)
    assert (profile.visit_count, profile.failure_count) == (1, 1)


async def test_a_timeout_is_one_failure_even_when_the_page_loads_late(
    site: AsyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    with pytest.raises(PlaywrightTimeoutError):
        await site.goto(site_server.url("/slow?ms=1200"), timeout=300)
    await asyncio.sleep(1.5)  # the page loads after all
    await site.settle()
    profile = await memory.get_profile(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (1, 1)
    assert "Timeout" in str(profile.last_error)


async def test_after_a_timeout_the_next_navigation_elsewhere_is_recorded(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = await context.new_page()
    with pytest.raises(PlaywrightTimeoutError):
        await site.goto(site_server.url("/slow?ms=5000"), page=page, timeout=300)
    await page.goto(site_server.url("/page/after"))  # the agent moves on, not through the handle
    await site.settle()
    profile = await memory.get_profile(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (2, 1)


async def test_a_timed_out_page_loading_during_the_next_goto_is_not_a_second_visit(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = await context.new_page()
    with pytest.raises(PlaywrightTimeoutError):  # committed, but its load event comes late
        await site.goto(site_server.url("/late-load?ms=1500"), page=page, timeout=800)
    # The same page again: its document is late this time, and the first one loads meanwhile.
    await site.goto(site_server.url("/late-load?ms=1500"), page=page, timeout=10_000)
    await site.settle()
    profile = await memory.get_profile(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (2, 1)


async def test_a_visit_that_cannot_be_written_is_raised_by_settle_and_recording_goes_on(
    context: BrowserContext, store_path: Path, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    memory, blocker = SiteMemory(store_path, lock_timeout=0.3), SiteMemory(store_path)
    async with attach(context, memory, plugins=plugins) as site:
        with blocker._store.maintenance():  # another holder of every lock: the write times out
            await site.goto(site_server.url("/page/a"))
            expected = "'recorder' failed to write a visit: LockTimeout"
            with pytest.raises(PluginError, match=expected):
                await site.settle()
        await site.goto(site_server.url("/page/b"))
        await site.settle()
    assert (await memory.get_profile(site_server.url())).visit_count == 1
    await memory.close()
    await blocker.close()


class OwnRecorder:
    """A recorder of one's own: what it adds to ``updates`` the handle writes."""

    @hookimpl
    async def sitememory_after_navigation(self, visit: Visit, updates: SiteUpdates) -> None:
        updates.record_visit(visit.duration, status=visit.status, error=visit.error)


async def test_settle_waits_for_the_writes_of_a_recorder_under_another_name(
    context: BrowserContext, store_path: Path, site_server: TestSite
) -> None:
    pm = make_plugin_manager(disable=["recorder"], entry_points=False, environment=False)
    pm.register(OwnRecorder(), "own-recorder")
    memory, blocker = SiteMemory(store_path), SiteMemory(store_path)
    held, settling = threading.Event(), threading.Event()

    def hold_every_lock() -> None:
        with blocker._store.maintenance():  # the visit's write waits for this
            held.set()
            settling.wait(10)
            time.sleep(0.3)  # released only once settle() is waiting

    holder = threading.Thread(target=hold_every_lock)
    holder.start()
    try:
        assert await asyncio.to_thread(held.wait, 10)
        async with attach(context, memory, plugins=pm) as site:
            await site.goto(site_server.url("/page/a"))
            settling.set()
            await site.settle()
            fresh = SiteMemory(store_path, cache_ttl=0)
            assert fresh.get_profile_sync(site_server.url()).visit_count == 1
            fresh.close_sync()
    finally:
        settling.set()
        await asyncio.to_thread(holder.join)
    await memory.close()
    await blocker.close()


async def test_without_any_recorder_nothing_is_written_and_settle_returns(
    context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    pm = make_plugin_manager(disable=["recorder"], entry_points=False, environment=False)
    async with attach(context, memory, plugins=pm) as site:
        await site.goto(site_server.url("/page/a"))
        await site.settle()
    assert await memory.get_profile(site_server.url()) is None


async def test_an_overlay_selector_playwright_cannot_parse_is_not_installed(
    site: AsyncSite, memory: SiteMemory, site_server: TestSite, caplog: pytest.LogCaptureFixture
) -> None:
    await memory.record_quirk(site_server.url(), "planted", "click >>>")  # no valid selector
    with caplog.at_level(logging.WARNING, logger="sitememory"):
        await site.goto(site_server.url("/page/a"))
        await site.goto(site_server.url("/page/b"))
    assert await site.click("title", "#title") == "#title"  # Playwright would fail it on the bad selector
    await site.settle()
    assert (await memory.get_profile(site_server.url())).visit_count == 2
    assert [r.getMessage() for r in caplog.records if "overlay handler" in r.getMessage()] != []


async def test_a_page_target_records_that_page_only(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    page, other = await context.new_page(), await context.new_page()
    async with attach(page, memory, plugins=plugins) as site:
        await site.goto(site_server.url("/page/a"))
        await other.goto(site_server.url("/page/b"))
        assert site.target is page
    profile = await memory.get_profile(site_server.url())
    assert profile.visit_count == 1


async def test_detach_stops_recording_and_a_context_can_be_attached_again(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    site = await attach(context, memory, plugins=plugins)
    page = await context.new_page()
    await page.goto(site_server.url("/page/1"))
    await site.detach()
    await site.detach()  # idempotent
    await page.goto(site_server.url("/page/2"))
    with pytest.raises(RuntimeError, match="detached"):
        await site.goto(site_server.url("/page/3"))
    again = await attach(context, memory, plugins=plugins)
    await page.goto(site_server.url("/page/4"))
    await again.detach()
    profile = await memory.get_profile(site_server.url())
    assert profile.visit_count == 2


async def test_attach_refuses_what_is_not_a_context_or_page(memory: SiteMemory) -> None:
    with pytest.raises(TypeError, match="BrowserContext or Page"):
        attach(object(), memory)  # type: ignore[call-overload]


# -- consulting before navigation --------------------------------------------------------------


async def test_timeout_adapts_to_measured_load_times_unless_given(
    context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    from sitememory_plugin import make_plugin_manager

    plugins = make_plugin_manager(disable=["timeouts"], entry_points=False, environment=False)
    plugins.register(AdaptiveTimeouts(multiplier=2.0, minimum=0.4, maximum=1.0), name="timeouts")
    spy = Spy()
    plugins.register(spy)
    async with attach(context, memory, plugins=plugins) as site:
        for _ in range(3):
            await site.goto(site_server.url("/slow?ms=20"))
            await site.settle()  # so that the next goto sees this visit
        assert [o.timeout for o in spy.options] == [None, None, None]  # too little known yet
        p95 = (await memory.get_profile(site_server.url())).p95_load_time
        assert p95 is not None
        await site.goto(site_server.url("/slow?ms=20"))
        assert spy.options[-1].timeout == pytest.approx(min(1.0, max(0.4, 2 * p95)) * 1000)
        with pytest.raises(PlaywrightTimeoutError):
            await site.goto(site_server.url("/slow?ms=3000"))  # a fast site fails fast (<= 1 s)
        await site.goto(site_server.url("/slow?ms=1200"), timeout=10_000)  # the caller's timeout wins
        assert spy.options[-1].timeout == 10_000


async def test_politeness_spaces_navigations_to_a_failing_site(
    site: AsyncSite, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    spy = Spy()
    plugins.register(spy)
    for _ in range(3):
        await site.goto(site_server.url("/status/503"))
        await site.settle()
    delays = [o.delay for o in spy.options]
    assert delays[0] == 0  # nothing known of the site yet
    assert delays[-1] > 0.5  # failing: 1 s x a recent failure rate of 1, at least
    assert site_server.arrivals("/status/503")[-1] - spy.times[-1] >= delays[-1]  # and goto waited it


async def test_overlapping_navigations_to_a_site_start_its_latency_apart(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    for _ in range(3):
        await memory.record_visit(site_server.url(), 0.5, status=200)
    pages = [await context.new_page() for _ in range(2)]
    called = time.monotonic()
    await asyncio.gather(*(site.goto(site_server.url(f"/page/{i}"), page=p) for i, p in enumerate(pages)))
    arrivals = sorted(site_server.arrivals("/page/0") + site_server.arrivals("/page/1"))
    assert len(arrivals) == 2
    assert arrivals[-1] - called >= 0.5  # the site's latency (p50) after the first one started


async def test_goto_waits_the_delay_a_plugin_asks_for(
    site: AsyncSite, context: BrowserContext, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    class Patient:
        def __init__(self) -> None:
            self.asked: list[float] = []

        @hookimpl
        def sitememory_before_navigation(self, options: NavigationOptions) -> None:
            self.asked.append(time.monotonic())  # from here on, only the wait is left
            options.delay = 0.4

    page = await context.new_page()
    await site.goto(site_server.url("/page/first"), page=page)
    patient = Patient()
    plugins.register(patient)
    await site.goto(site_server.url("/page/later"), page=page)
    (arrived,) = site_server.arrivals("/page/later")
    assert arrived - patient.asked[-1] >= 0.4


async def test_goto_gives_playwright_the_default_adapted_timeout(
    site: AsyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    # README: 4 x the site's p95 load time, within 5-120 s, once 3 visits are measured; a
    # timeout= you pass wins. Playwright's error names the timeout it was given.
    context.set_default_navigation_timeout(1000)  # what Playwright uses when goto passes none
    for _ in range(2):
        await memory.record_visit(site_server.url(), 0.1, status=200)
    with pytest.raises(PlaywrightTimeoutError, match="Timeout 1000ms exceeded"):
        await site.goto(site_server.url("/slow?ms=1500"))  # 2 visits measured: not adapted
    with TestSite() as other:
        for _ in range(3):
            await memory.record_visit(other.url(), 0.1, status=200)
        with pytest.raises(PlaywrightTimeoutError, match="Timeout 5000ms exceeded"):
            await site.goto(other.url("/slow?ms=5600"))  # 4 x 0.1 s, raised to the 5 s floor
        with pytest.raises(PlaywrightTimeoutError, match="Timeout 800ms exceeded"):
            await site.goto(other.url("/slow?ms=1500"), timeout=800)


async def test_a_plugin_can_refuse_a_navigation(
    site: AsyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class Refuse:
        @hookimpl
        def sitememory_before_navigation(self, url: str) -> None:
            if "forbidden" in url:
                raise NavigationRefused(f"not going to {url}")

    plugins.register(Refuse())
    with pytest.raises(NavigationRefused, match="not going"):
        await site.goto(site_server.url("/page/forbidden"))
    assert site_server.hits("/page/forbidden") == 0
    assert await memory.get_profile(site_server.url()) is None


# -- selectors ---------------------------------------------------------------------------------


async def test_a_selector_that_changed_heals_for_every_agent(
    site: AsyncSite, browser: Browser, memory: SiteMemory, plugins: pluggy.PluginManager,
    site_server: TestSite,
) -> None:
    await site.goto(site_server.url("/form"))
    assert await site.fill("search box", "shoes", "#search", "input.search-v2") == "#search"
    remembered = await memory.get_selector(site_server.url(), "search box")
    assert remembered.ranked() == ("#search", "input.search-v2")

    site_server.version = 2  # the site changed its markup
    await site.goto(site_server.url("/form"))
    assert await site.fill("search box", "boots") == "input.search-v2"  # nothing passed: memory
    healed = await memory.get_selector(site_server.url(), "search box")
    assert healed.ranked() == ("input.search-v2", "#search")
    assert healed.candidates["#search"].streak == 1

    # Another agent, its own context and handle, same store: tries the healed selector first.
    other_context = await browser.new_context()
    async with attach(other_context, memory, plugins=plugins) as other:
        await other.goto(site_server.url("/form"))
        locator = await other.locator("search box")
        await locator.fill("hats")
        async with other_context.pages[0].expect_navigation():
            await other.click("search button", "button.go-v2")
        assert await other_context.pages[0].text_content("#query") == "hats"
    await other_context.close()
    again = await memory.get_selector(site_server.url(), "search box")
    assert again.candidates["input.search-v2"].ok == 2
    assert again.candidates["#search"].failed == 1  # not tried again: the new primary worked


async def test_no_selector_known_or_given_is_a_clear_error(site: AsyncSite, site_server: TestSite) -> None:
    await site.goto(site_server.url("/form"))
    with pytest.raises(UnknownPurpose, match="no selector known for 'login'"):
        await site.click("login")


async def test_no_candidate_visible_fails_every_candidate(
    site: AsyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    await site.goto(site_server.url("/form"))
    with pytest.raises(PlaywrightTimeoutError) as raised:
        await site.click("checkout", "#checkout", "text=Checkout", "[[invalid", timeout=300)
    assert any("checkout" in note for note in raised.value.__notes__)
    selector = await memory.get_selector(site_server.url(), "checkout")
    assert {s: c.failed for s, c in selector.candidates.items()} == {
        "#checkout": 1, "text=Checkout": 1, "[[invalid": 1
    }


# -- overlays ----------------------------------------------------------------------------------


async def test_a_remembered_overlay_is_dismissed_for_every_agent(
    site: AsyncSite, browser: Browser, memory: SiteMemory, plugins: pluggy.PluginManager,
    site_server: TestSite,
) -> None:
    await site.goto(site_server.url("/cookie"))
    with pytest.raises(PlaywrightTimeoutError):
        await site.click("buy", "#buy", timeout=500)  # the cookie overlay intercepts the click
    await site.remember_overlay("#accept-cookies", "cookie banner covers the page")
    await site.click("buy", "#buy", timeout=5000)
    quirks = await memory.get_quirks(site_server.url())
    assert [(q.description, q.workaround) for q in quirks] == [
        ("cookie banner covers the page", "click #accept-cookies")
    ]

    other_context = await browser.new_context()
    async with attach(other_context, memory, plugins=plugins) as other:
        await other.goto(site_server.url("/cookie?delay_ms=200"))  # handler installed before it
        await other.click("buy", timeout=5000)  # the selector is remembered too
        assert await other_context.pages[0].text_content("#status") == "bought"
    await other_context.close()


async def test_detach_removes_the_overlay_handlers_it_installed(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    site = await attach(context, memory, plugins=plugins)
    await site.goto(site_server.url("/cookie"))
    await site.remember_overlay("#accept-cookies", "cookie banner covers the page")
    page = context.pages[0]
    await site.detach()
    await page.reload()
    with pytest.raises(PlaywrightTimeoutError):
        await page.click("#buy", timeout=500)  # nothing dismisses the banner any more


# -- plugins -----------------------------------------------------------------------------------


async def test_a_plugin_that_raises_is_named_and_recording_goes_on(
    site: AsyncSite, context: BrowserContext, plugins: pluggy.PluginManager, memory: SiteMemory,
    site_server: TestSite, caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        @hookimpl
        def sitememory_after_navigation(self) -> None:
            raise RuntimeError("broken on purpose")

    plugins.register(Broken(), name="broken-plugin")
    await site.goto(site_server.url("/page/a"))  # the navigation itself is fine
    with pytest.raises(PluginError, match="'broken-plugin' raised in sitememory_after_navigation") as raised:
        await site.settle()
    assert raised.value.plugin == "broken-plugin"
    assert isinstance(raised.value.__cause__, RuntimeError)

    page = context.pages[0]
    with caplog.at_level(logging.ERROR, logger="sitememory_plugin"):
        await page.click("#next")  # not through the handle: logged, kept, raised by settle()
        await page.wait_for_url("**/page/next")
        with pytest.raises(PluginError, match="'broken-plugin'"):
            await site.settle()
    await site.settle()  # each error is raised once
    assert "broken-plugin" in caplog.text
    assert [e.plugin for e in site.errors] == ["broken-plugin", "broken-plugin"]
    profile = await memory.get_profile(site_server.url())
    assert profile.visit_count == 2  # the recorder ran both times


async def test_async_hook_implementations_are_awaited(
    site: AsyncSite, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    seen: list[tuple[str, int | None]] = []

    class AsyncPlugin:
        @hookimpl
        async def sitememory_after_navigation(self, key: str, visit: Visit) -> None:
            await asyncio.sleep(0)
            seen.append((key, visit.status))

        @hookimpl
        def sitememory_prompt_context(self, lines: list[str]) -> None:
            lines.append("- note: prices include tax")

    plugins.register(AsyncPlugin())
    await site.goto(site_server.url("/page/a"))
    await site.settle()
    assert seen == [(f"127.0.0.1:{site_server.port}", 200)]
    text = await site.prompt_context()
    assert text.startswith(f"Site memory for 127.0.0.1:{site_server.port}:")
    assert text.endswith("- note: prices include tax")


async def test_a_site_key_plugin_decides_where_visits_go(
    site: AsyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class OneSite:
        @hookimpl
        def sitememory_site_key(self, url: str) -> str | None:
            return "local.test" if "127.0.0.1" in url else None

    plugins.register(OneSite())
    await site.goto(site_server.url("/page/a"))
    await site.settle()
    assert await memory.list_sites() == ["local.test"]
    assert site.key("https://example.com/x") == "example.com"


async def test_a_site_key_plugin_answering_garbage_is_named(
    site: AsyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class Garbage:
        @hookimpl
        def sitememory_site_key(self) -> Any:
            return "../../etc"

    plugins.register(Garbage(), name="garbage")
    with pytest.raises(PluginError, match="'garbage'"):
        await site.goto(site_server.url("/page/a"))
    assert await memory.list_sites() == []
