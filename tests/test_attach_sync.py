"""attach() with Playwright's sync API: real Chromium, a real local site, a real store.

The same scenarios as test_attach_async.py, with the same assertions where they apply, plus
what only the sync API has: ``async def`` hook implementations are refused with a clear error,
``with attach(...)`` detaches, and ``attach(context)`` with no memory owns the default one.

Playwright's sync API runs its event handlers only while the test is
inside one of its calls, so where the async tests ``settle()`` after a navigation nobody awaited,
these wait for that navigation through Playwright (``wait_for_url`` and the like) instead.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from playwright.sync_api import Browser, BrowserContext
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from sitememory_plugin import (
    AdaptiveTimeouts,
    NavigationOptions,
    NavigationRefused,
    PluginError,
    SiteMemory,
    SiteUpdates,
    SyncSite,
    UnknownPurpose,
    Visit,
    attach,
    hookimpl,
    make_plugin_manager,
)

from ._browser import sync_browser as sync_browser
from ._net import free_port
from ._site import TestSite


@pytest.fixture
def memory(store_path: Path) -> Iterator[SiteMemory]:
    with SiteMemory(store_path) as memory:
        yield memory


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def site(context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager) -> Iterator[SyncSite]:
    handle = attach(context, memory, plugins=plugins)
    yield handle
    handle.detach()


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


def test_goto_records_a_visit_with_the_browsers_timings(
    site: SyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    response = site.goto(site_server.url("/page/a"))
    assert response is not None and response.status == 200
    site.settle()  # the built-in recorder writes on a worker thread, off the navigation's path
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 1 and profile.success_count == 1
    assert profile.last_status == 200
    timings = profile.last_timings
    assert {"ttfb", "dom_content_loaded", "load", "transfer_bytes"} <= set(timings)
    assert 0 <= timings["ttfb"] <= timings["dom_content_loaded"] <= timings["load"]
    assert timings["transfer_bytes"] > 0
    assert profile.load_times == (pytest.approx(timings["load"], abs=0.001),)


def test_every_main_frame_navigation_is_one_visit(
    site: SyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = context.new_page()
    site.goto(site_server.url("/redirect"), page=page)  # 302 then the landing page: one visit
    assert page.url.endswith("/page/landing")
    page.goto(site_server.url("/frames"))  # not through the handle; its iframe is no visit
    page.goto(site_server.url("/page/b"))
    page.click("#next")  # a click that navigates
    page.wait_for_url("**/page/next")
    page.goto(site_server.url("/popup"))
    with context.expect_page() as popup_info:
        page.click("#open")  # a new page opened in the context
    popup = popup_info.value
    popup.wait_for_load_state("load")
    page.goto(site_server.url("/spa"))
    page.click("button")  # pushState: same document, no visit
    page.goto("about:blank")  # no web site
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 7
    assert profile.failure_count == 0
    assert site_server.hits("/page/inner") == 1


def test_http_errors_and_network_errors_are_failures(
    site: SyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    site.goto(site_server.url("/status/503"))
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert (profile.visit_count, profile.failure_count, profile.last_status) == (1, 1, 503)

    dead = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(PlaywrightError, match="ERR_CONNECTION_REFUSED"):
        site.goto(dead)
    site.settle()
    failed = memory.get_profile_sync(dead)
    assert (failed.visit_count, failed.failure_count) == (1, 1)
    assert "ERR_CONNECTION_REFUSED" in str(failed.last_error)


def test_a_navigation_not_through_the_handle_that_fails_is_recorded(
    site: SyncSite, context: BrowserContext, memory: SiteMemory
) -> None:
    page = context.new_page()
    dead = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(PlaywrightError):
        page.goto(dead)
    site.settle()
    profile = memory.get_profile_sync(dead)
    assert (profile.visit_count, profile.failure_count) == (1, 1)


def test_a_timeout_is_one_failure_even_when_the_page_loads_late(
    site: SyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    with pytest.raises(PlaywrightTimeoutError):
        site.goto(site_server.url("/slow?ms=1200"), timeout=300)
    # The page loads after all; wait for that load through Playwright, which runs its report.
    context.pages[0].wait_for_url(re.compile(r"/slow\?ms=1200$"), wait_until="load", timeout=30_000)
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (1, 1)
    assert "Timeout" in str(profile.last_error)


def test_after_a_timeout_the_next_navigation_elsewhere_is_recorded(
    site: SyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = context.new_page()
    with pytest.raises(PlaywrightTimeoutError):
        site.goto(site_server.url("/slow?ms=5000"), page=page, timeout=300)
    page.goto(site_server.url("/page/after"))  # the agent moves on, not through the handle
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (2, 1)


def test_a_timed_out_page_loading_during_the_next_goto_is_not_a_second_visit(
    site: SyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    page = context.new_page()
    with pytest.raises(PlaywrightTimeoutError):  # committed, but its load event comes late
        site.goto(site_server.url("/late-load?ms=1500"), page=page, timeout=800)
    # The same page again: its document is late this time, and the first one loads meanwhile.
    site.goto(site_server.url("/late-load?ms=1500"), page=page, timeout=10_000)
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert (profile.visit_count, profile.failure_count) == (2, 1)


def test_a_visit_that_cannot_be_written_is_raised_by_settle_and_recording_goes_on(
    context: BrowserContext, store_path: Path, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    memory, blocker = SiteMemory(store_path, lock_timeout=0.3), SiteMemory(store_path)
    with attach(context, memory, plugins=plugins) as site:
        with blocker._store.maintenance():  # another holder of every lock: the write times out
            site.goto(site_server.url("/page/a"))
            with pytest.raises(PluginError, match="'recorder' failed to write a visit: LockTimeout"):
                site.settle()
        site.goto(site_server.url("/page/b"))
        site.settle()
    assert memory.get_profile_sync(site_server.url()).visit_count == 1
    memory.close_sync()
    blocker.close_sync()


class OwnRecorder:
    """A recorder of one's own: what it adds to ``updates`` the handle writes."""

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit, updates: SiteUpdates) -> None:
        updates.record_visit(visit.duration, status=visit.status, error=visit.error)


def test_settle_waits_for_the_writes_of_a_recorder_under_another_name(
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
        assert held.wait(10)
        with attach(context, memory, plugins=pm) as site:
            site.goto(site_server.url("/page/a"))
            settling.set()
            site.settle()
            fresh = SiteMemory(store_path, cache_ttl=0)
            assert fresh.get_profile_sync(site_server.url()).visit_count == 1
            fresh.close_sync()
    finally:
        settling.set()
        holder.join()
    memory.close_sync()
    blocker.close_sync()


def test_without_any_recorder_nothing_is_written_and_settle_returns(
    context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    pm = make_plugin_manager(disable=["recorder"], entry_points=False, environment=False)
    with attach(context, memory, plugins=pm) as site:
        site.goto(site_server.url("/page/a"))
        site.settle()
    assert memory.get_profile_sync(site_server.url()) is None


def test_an_overlay_selector_playwright_cannot_parse_is_not_installed(
    site: SyncSite, memory: SiteMemory, site_server: TestSite, caplog: pytest.LogCaptureFixture
) -> None:
    memory.record_quirk_sync(site_server.url(), "planted", "click >>>")  # no valid selector
    with caplog.at_level(logging.WARNING, logger="sitememory"):
        site.goto(site_server.url("/page/a"))
        site.goto(site_server.url("/page/b"))
    assert site.click("title", "#title") == "#title"  # Playwright would fail it on the bad selector
    site.settle()
    assert memory.get_profile_sync(site_server.url()).visit_count == 2
    assert [r.getMessage() for r in caplog.records if "overlay handler" in r.getMessage()] != []


def test_a_page_target_records_that_page_only(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    page, other = context.new_page(), context.new_page()
    with attach(page, memory, plugins=plugins) as site:
        site.goto(site_server.url("/page/a"))
        other.goto(site_server.url("/page/b"))
        assert site.target is page
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 1


def test_detach_stops_recording_and_a_context_can_be_attached_again(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    site = attach(context, memory, plugins=plugins)
    page = context.new_page()
    page.goto(site_server.url("/page/1"))
    site.detach()
    site.detach()  # idempotent
    page.goto(site_server.url("/page/2"))
    with pytest.raises(RuntimeError, match="detached"):
        site.goto(site_server.url("/page/3"))
    again = attach(context, memory, plugins=plugins)
    page.goto(site_server.url("/page/4"))
    again.detach()
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 2


def test_attach_refuses_what_is_not_a_context_or_page(memory: SiteMemory) -> None:
    with pytest.raises(TypeError, match="BrowserContext or Page"):
        attach(object(), memory)  # type: ignore[call-overload]


# -- what only the sync API has ----------------------------------------------------------------


def test_with_attach_detaches_at_exit(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    with attach(context, memory, plugins=plugins) as site:
        assert "attached" in repr(site) and "detached" not in repr(site)
        site.goto(site_server.url("/page/1"))
    assert "detached" in repr(site)
    context.pages[0].goto(site_server.url("/page/2"))  # no longer recorded
    with pytest.raises(RuntimeError, match="detached"):
        site.goto(site_server.url("/page/3"))
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 1
    memory.record_visit_sync(site_server.url(), 0.1)  # a memory passed in is not closed
    assert memory.get_profile_sync(site_server.url()).visit_count == 2


def test_attach_without_a_memory_uses_the_default_one_and_closes_it(
    context: BrowserContext, plugins: pluggy.PluginManager, site_server: TestSite,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = tmp_path / "default-store"
    monkeypatch.setenv("SITEMEMORY_PATH", str(default))
    closed: list[SiteMemory] = []
    close_sync = SiteMemory.close_sync

    def spy_close(self: SiteMemory) -> None:
        closed.append(self)
        close_sync(self)

    monkeypatch.setattr(SiteMemory, "close_sync", spy_close)
    site = attach(context, plugins=plugins)
    owned = site.memory
    assert owned.storage_path == default
    site.goto(site_server.url("/page/a"))
    assert closed == []
    site.detach()
    assert closed == [owned]
    site.detach()  # idempotent: not closed twice
    assert closed == [owned]
    reader = SiteMemory(default)
    assert reader.get_profile_sync(site_server.url()).visit_count == 1
    reader.close_sync()


def test_an_async_hook_implementation_is_a_clear_error(
    site: SyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class AsyncPlugin:
        @hookimpl
        async def sitememory_after_navigation(self, visit: Visit) -> None:
            raise AssertionError("never awaited under the sync API")

    plugins.register(AsyncPlugin(), name="async-plugin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        site.goto(site_server.url("/page/a"))
        with pytest.raises(PluginError, match="plain function") as raised:
            site.settle()
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]  # the coroutine was closed
    assert raised.value.plugin == "async-plugin"
    assert raised.value.hook == "sitememory_after_navigation"
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 1  # the built-in recorder ran all the same


# -- consulting before navigation --------------------------------------------------------------


def test_timeout_adapts_to_measured_load_times_unless_given(
    context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    plugins = make_plugin_manager(disable=["timeouts"], entry_points=False, environment=False)
    plugins.register(AdaptiveTimeouts(multiplier=2.0, minimum=0.4, maximum=1.0), name="timeouts")
    spy = Spy()
    plugins.register(spy)
    with attach(context, memory, plugins=plugins) as site:
        for _ in range(3):
            site.goto(site_server.url("/slow?ms=20"))
            site.settle()  # so that the next goto sees this visit
        assert [o.timeout for o in spy.options] == [None, None, None]  # too little known yet
        p95 = memory.get_profile_sync(site_server.url()).p95_load_time
        assert p95 is not None
        site.goto(site_server.url("/slow?ms=20"))
        # 2 x the p95 load time so far, within [0.4 s, 1 s]: 400 ms for a site this fast.
        assert spy.options[-1].timeout == pytest.approx(min(1.0, max(0.4, 2 * p95)) * 1000)
        with pytest.raises(PlaywrightTimeoutError):
            site.goto(site_server.url("/slow?ms=3000"))  # a fast site fails fast (<= 1 s)
        site.goto(site_server.url("/slow?ms=1200"), timeout=10_000)  # the caller's timeout wins
        assert spy.options[-1].timeout == 10_000


def test_politeness_spaces_navigations_to_a_failing_site(
    site: SyncSite, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    spy = Spy()
    plugins.register(spy)
    for _ in range(3):
        site.goto(site_server.url("/status/503"))
        site.settle()
    delays = [o.delay for o in spy.options]
    assert delays[0] == 0  # nothing known of the site yet
    assert delays[-1] > 0
    # Failing: the starts of the last two navigations are 1 s x a failure rate of 1 apart, at
    # least (less a margin for the moment between the politeness hook and the spy).
    assert spy.times[-1] + delays[-1] - spy.times[-2] >= 0.9
    assert site_server.arrivals("/status/503")[-1] - spy.times[-1] >= delays[-1]  # and goto waited it


def test_goto_waits_the_delay_a_plugin_asks_for(
    site: SyncSite, context: BrowserContext, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    class Patient:
        def __init__(self) -> None:
            self.asked: list[float] = []

        @hookimpl
        def sitememory_before_navigation(self, options: NavigationOptions) -> None:
            self.asked.append(time.monotonic())  # from here on, only the wait is left
            options.delay = 0.4

    page = context.new_page()
    site.goto(site_server.url("/page/first"), page=page)
    patient = Patient()
    plugins.register(patient)
    site.goto(site_server.url("/page/later"), page=page)
    (arrived,) = site_server.arrivals("/page/later")
    assert arrived - patient.asked[-1] >= 0.4


def test_goto_gives_playwright_the_default_adapted_timeout(
    site: SyncSite, context: BrowserContext, memory: SiteMemory, site_server: TestSite
) -> None:
    # README: 4 x the site's p95 load time, within 5-120 s, once 3 visits are measured; a
    # timeout= you pass wins. Playwright's error names the timeout it was given.
    context.set_default_navigation_timeout(1000)  # what Playwright uses when goto passes none
    for _ in range(2):
        memory.record_visit_sync(site_server.url(), 0.1, status=200)
    with pytest.raises(PlaywrightTimeoutError, match="Timeout 1000ms exceeded"):
        site.goto(site_server.url("/slow?ms=1500"))  # 2 visits measured: not adapted
    with TestSite() as other:
        for _ in range(3):
            memory.record_visit_sync(other.url(), 0.1, status=200)
        with pytest.raises(PlaywrightTimeoutError, match="Timeout 5000ms exceeded"):
            site.goto(other.url("/slow?ms=5600"))  # 4 x 0.1 s, raised to the 5 s floor
        with pytest.raises(PlaywrightTimeoutError, match="Timeout 800ms exceeded"):
            site.goto(other.url("/slow?ms=1500"), timeout=800)


def test_a_plugin_can_refuse_a_navigation(
    site: SyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class Refuse:
        @hookimpl
        def sitememory_before_navigation(self, url: str) -> None:
            if "forbidden" in url:
                raise NavigationRefused(f"not going to {url}")

    plugins.register(Refuse())
    with pytest.raises(NavigationRefused, match="not going"):
        site.goto(site_server.url("/page/forbidden"))
    assert site_server.hits("/page/forbidden") == 0
    assert memory.get_profile_sync(site_server.url()) is None


# -- selectors ---------------------------------------------------------------------------------


def test_a_selector_that_changed_heals_for_every_agent(
    site: SyncSite, browser: Browser, memory: SiteMemory, plugins: pluggy.PluginManager,
    site_server: TestSite,
) -> None:
    site.goto(site_server.url("/form"))
    assert site.fill("search box", "shoes", "#search", "input.search-v2") == "#search"
    remembered = memory.get_selector_sync(site_server.url(), "search box")
    assert remembered.ranked() == ("#search", "input.search-v2")

    site_server.version = 2  # the site changed its markup
    site.goto(site_server.url("/form"))
    assert site.fill("search box", "boots") == "input.search-v2"  # nothing passed: memory
    healed = memory.get_selector_sync(site_server.url(), "search box")
    assert healed.ranked() == ("input.search-v2", "#search")
    assert healed.candidates["#search"].streak == 1

    # Another agent, its own context and handle, same store: tries the healed selector first.
    other_context = browser.new_context()
    try:
        with attach(other_context, memory, plugins=plugins) as other:
            other.goto(site_server.url("/form"))
            other.locator("search box").fill("hats")
            with other_context.pages[0].expect_navigation():
                other.click("search button", "button.go-v2")
            assert other_context.pages[0].text_content("#query") == "hats"
    finally:
        other_context.close()
    again = memory.get_selector_sync(site_server.url(), "search box")
    assert again.candidates["input.search-v2"].ok == 2
    assert again.candidates["#search"].failed == 1  # not tried again: the new primary worked


def test_no_selector_known_or_given_is_a_clear_error(site: SyncSite, site_server: TestSite) -> None:
    site.goto(site_server.url("/form"))
    with pytest.raises(UnknownPurpose, match="no selector known for 'login'"):
        site.click("login")


def test_no_candidate_visible_fails_every_candidate(
    site: SyncSite, memory: SiteMemory, site_server: TestSite
) -> None:
    site.goto(site_server.url("/form"))
    with pytest.raises(PlaywrightTimeoutError) as raised:
        site.click("checkout", "#checkout", "text=Checkout", "[[invalid", timeout=300)
    assert any("checkout" in note for note in raised.value.__notes__)
    selector = memory.get_selector_sync(site_server.url(), "checkout")
    assert {s: c.failed for s, c in selector.candidates.items()} == {
        "#checkout": 1, "text=Checkout": 1, "[[invalid": 1
    }


# -- overlays ----------------------------------------------------------------------------------


def test_a_remembered_overlay_is_dismissed_for_every_agent(
    site: SyncSite, browser: Browser, memory: SiteMemory, plugins: pluggy.PluginManager,
    site_server: TestSite,
) -> None:
    site.goto(site_server.url("/cookie"))
    with pytest.raises(PlaywrightTimeoutError):
        site.click("buy", "#buy", timeout=500)  # the cookie overlay intercepts the click
    site.remember_overlay("#accept-cookies", "cookie banner covers the page")
    site.click("buy", "#buy", timeout=5000)
    quirks = memory.get_quirks_sync(site_server.url())
    assert [(q.description, q.workaround) for q in quirks] == [
        ("cookie banner covers the page", "click #accept-cookies")
    ]

    other_context = browser.new_context()
    try:
        with attach(other_context, memory, plugins=plugins) as other:
            other.goto(site_server.url("/cookie?delay_ms=200"))  # handler installed before it
            other.click("buy", timeout=5000)  # the selector is remembered too
            assert other_context.pages[0].text_content("#status") == "bought"
    finally:
        other_context.close()


def test_detach_removes_the_overlay_handlers_it_installed(
    context: BrowserContext, memory: SiteMemory, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    site = attach(context, memory, plugins=plugins)
    site.goto(site_server.url("/cookie"))
    site.remember_overlay("#accept-cookies", "cookie banner covers the page")
    page = context.pages[0]
    site.detach()
    page.reload()
    with pytest.raises(PlaywrightTimeoutError):
        page.click("#buy", timeout=500)  # nothing dismisses the banner any more


# -- plugins -----------------------------------------------------------------------------------


def test_a_plugin_that_raises_is_named_and_recording_goes_on(
    site: SyncSite, context: BrowserContext, plugins: pluggy.PluginManager, memory: SiteMemory,
    site_server: TestSite, caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        @hookimpl
        def sitememory_after_navigation(self) -> None:
            raise RuntimeError("broken on purpose")

    plugins.register(Broken(), name="broken-plugin")
    site.goto(site_server.url("/page/a"))  # the navigation itself is fine
    with pytest.raises(PluginError, match="'broken-plugin' raised in sitememory_after_navigation") as raised:
        site.settle()
    assert raised.value.plugin == "broken-plugin"
    assert isinstance(raised.value.__cause__, RuntimeError)

    page = context.pages[0]
    with caplog.at_level(logging.ERROR, logger="sitememory"):
        page.click("#next")  # not through the handle: logged, kept, raised by settle()
        page.wait_for_url("**/page/next")
        with pytest.raises(PluginError, match="'broken-plugin'"):
            site.settle()
    site.settle()  # each error is raised once
    assert "broken-plugin" in caplog.text
    assert [e.plugin for e in site.errors] == ["broken-plugin", "broken-plugin"]
    profile = memory.get_profile_sync(site_server.url())
    assert profile.visit_count == 2  # the recorder ran both times


def test_plain_hook_implementations_are_called(
    site: SyncSite, plugins: pluggy.PluginManager, site_server: TestSite
) -> None:
    seen: list[tuple[str, int | None]] = []

    class SyncPlugin:
        @hookimpl
        def sitememory_after_navigation(self, key: str, visit: Visit) -> None:
            seen.append((key, visit.status))

        @hookimpl
        def sitememory_prompt_context(self, lines: list[str]) -> None:
            lines.append("- note: prices include tax")

    plugins.register(SyncPlugin())
    site.goto(site_server.url("/page/a"))
    assert seen == [(f"127.0.0.1:{site_server.port}", 200)]
    text = site.prompt_context()
    assert text.startswith(f"Site memory for 127.0.0.1:{site_server.port}:")
    assert text.endswith("- note: prices include tax")


def test_a_site_key_plugin_decides_where_visits_go(
    site: SyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class OneSite:
        @hookimpl
        def sitememory_site_key(self, url: str) -> str | None:
            return "local.test" if "127.0.0.1" in url else None

    plugins.register(OneSite())
    site.goto(site_server.url("/page/a"))
    site.settle()
    assert memory.list_sites_sync() == ["local.test"]
    assert site.key("https://example.com/x") == "example.com"


def test_a_site_key_plugin_answering_garbage_is_named(
    site: SyncSite, plugins: pluggy.PluginManager, memory: SiteMemory, site_server: TestSite
) -> None:
    class Garbage:
        @hookimpl
        def sitememory_site_key(self) -> Any:
            return "../../etc"

    plugins.register(Garbage(), name="garbage")
    with pytest.raises(PluginError, match="'garbage'"):
        site.goto(site_server.url("/page/a"))
    assert memory.list_sites_sync() == []
