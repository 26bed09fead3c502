"""site.replay(task) with Playwright's sync API: the scenarios of test_replay_async.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from sitememory_plugin import (
    ReplayFailed,
    SiteMemory,
    SyncSite,
    UnknownTask,
    UnreplayableStep,
    attach,
)

from ._browser import sync_browser as sync_browser
from ._replay import SEARCH, UNREPLAYABLE, evidence
from ._site import TestSite


@pytest.fixture
def memory(store_path: Path) -> Iterator[SiteMemory]:
    with SiteMemory(store_path) as memory:
        yield memory


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def site(page: Page, memory: SiteMemory, plugins: pluggy.PluginManager) -> Iterator[SyncSite]:
    handle = attach(page.context, memory, plugins=plugins)
    yield handle
    handle.detach()


def test_a_search_pattern_fills_submits_and_is_confirmed(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_selector_sync(site_server.url(), "search box", "#search")
    memory.cache_action_pattern_sync(site_server.url(), "search", SEARCH)
    site.goto(site_server.url("/form"), page=page)
    result = site.replay("search", values={"query": "red shoes"})
    assert page.url == site_server.url("/results?q=red+shoes")
    assert page.text_content("#query") == "red shoes"
    assert site_server.hits("/results") == 1
    assert (result.ok, result.done, result.selectors) == (True, 3, ("#search", None, None))
    assert evidence(memory.get_action_pattern_sync(site_server.url(), "search")) == (2, 0)


def test_the_steps_own_selectors_are_used_and_remembered(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_action_pattern_sync(site_server.url(), "search", [
        {"action": "fill", "purpose": "search box", "value": "{{{query}}}", "selector": "#search"},
        {"action": "click", "purpose": "search button", "selectors": ["#missing", "#go"]},
        {"action": "wait", "for": "query text", "selector": "#query"},
    ])
    site.goto(site_server.url("/form"), page=page)
    result = site.replay("search", values={"query": "boots"})
    assert page.text_content("#query") == "{boots}"  # braces escaped in the value
    assert result.selectors == ("#search", "#go", "#query")
    button = memory.get_selector_sync(site_server.url(), "search button")
    assert button is not None and button.ranked() == ("#go", "#missing")
    assert {s: (c.ok, c.failed) for s, c in button.candidates.items()} == {"#missing": (0, 1), "#go": (1, 0)}


def test_a_goto_step_stays_on_the_site_with_its_value_encoded(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_action_pattern_sync(site_server.url(), "results", [{"goto": "/results?q={query}"}])
    site.goto(site_server.url("/"), page=page)
    site.replay("results", values={"query": "a&b c/d"})
    assert page.text_content("#query") == "a&b c/d"
    site.settle()
    profile = memory.get_profile_sync(site_server.url())
    assert profile is not None and profile.visit_count == 2  # the goto is a visit


def test_a_changed_page_falls_back_to_the_other_selectors_and_heals(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_selector_sync(site_server.url(), "search box", "#search", ["input.search-v2"])
    memory.cache_action_pattern_sync(site_server.url(), "search", [
        {"fill": ["search box", "{query}"]}, {"click": ["search button", "#go", "button.go-v2"]},
        {"wait": ["query text", "#query"]},
    ])
    site_server.version = 2  # the redesign: the ids remembered for v1 no longer match
    site.goto(site_server.url("/form"), page=page)
    result = site.replay("search", values={"query": "hats"})
    assert result.selectors == ("input.search-v2", "button.go-v2", "#query")
    assert page.text_content("#query") == "hats"
    box = memory.get_selector_sync(site_server.url(), "search box")
    assert box is not None and box.ranked() == ("input.search-v2", "#search")
    assert box.candidates["#search"].failed == 1 and box.candidates["input.search-v2"].ok == 1
    button = memory.get_selector_sync(site_server.url(), "search button")
    assert button is not None and button.candidates["#go"].failed == 1
    assert evidence(memory.get_action_pattern_sync(site_server.url(), "search")) == (2, 0)


def test_a_remembered_overlay_is_dismissed_during_a_replay(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.record_quirk_sync(site_server.url(), "cookie banner covers the page", "click #accept-cookies")
    memory.cache_action_pattern_sync(site_server.url(), "buy", [{"click": ["buy", "#buy"]}])
    site.goto(site_server.url("/cookie"), page=page)  # the banner covers the button
    result = site.replay("buy", timeout=5000)
    assert result.selectors == ("#buy",)
    assert page.text_content("#status") == "bought"


def test_a_failed_step_is_a_contradiction_and_raised_with_the_result(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_action_pattern_sync(site_server.url(), "checkout", [
        {"fill": ["search box", "{query}", "#search"]}, {"click": ["checkout", "#checkout"]},
        {"press": "Enter"},
    ])
    site.goto(site_server.url("/form"), page=page)
    failed = r"step 2 of 'checkout' on .* \(click 'checkout'\) failed"
    with pytest.raises(ReplayFailed, match=failed) as raised:
        site.replay("checkout", values={"query": "socks"}, timeout=300)
    result = raised.value.result
    assert isinstance(raised.value.__cause__, PlaywrightTimeoutError)
    assert result.error is raised.value.__cause__
    assert (result.ok, result.done, result.selectors) == (False, 1, ("#search",))
    assert result.failed_step is not None and result.failed_step.index == 1
    assert page.input_value("#search") == "socks" and site_server.hits("/results") == 0
    assert evidence(memory.get_action_pattern_sync(site_server.url(), "checkout")) == (1, 1)
    checkout = memory.get_selector_sync(site_server.url(), "checkout")
    assert checkout is not None and checkout.candidates["#checkout"].failed == 1


def test_an_unknown_task_is_a_clear_error(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite
) -> None:
    memory.cache_action_pattern_sync(site_server.url(), "search", SEARCH)
    site.goto(site_server.url("/form"), page=page)
    unknown = r"no steps known for 'login' on 127\.0\.0\.1:\d+ \(known: 'search'\)"
    with pytest.raises(UnknownTask, match=unknown):
        site.replay("login")


@pytest.mark.parametrize(("actions", "values", "message"), UNREPLAYABLE)
def test_a_step_that_cannot_be_replayed_stops_it_before_the_first_step(
    site: SyncSite, page: Page, memory: SiteMemory, site_server: TestSite,
    actions: list[object], values: dict[str, str], message: str,
) -> None:
    memory.cache_action_pattern_sync(site_server.url(), "bad", actions)
    site.goto(site_server.url("/form"), page=page)
    with pytest.raises(UnreplayableStep, match=message) as raised:
        site.replay("bad", values=values)
    assert raised.value.index == 1
    assert page.input_value("#search") == ""  # the first step did not run
    assert evidence(memory.get_action_pattern_sync(site_server.url(), "bad")) == (1, 0)
