"""Rate limits through attach() with Playwright's sync API (tests/test_ratelimit.py has the rest):
the handle's write goes through the memory's worker threads there, and its waits are blocking."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from sitememory_plugin import NavigationRefused, SiteMemory, attach
from sitememory_plugin._core.ratelimit import quirk_description

from ._browser import sync_browser as sync_browser
from ._site import TestSite
from ._stores import fresh_profile
from .test_ratelimit import agent_plugins


def test_a_rate_limit_one_agent_meets_holds_back_another_agents_navigation(
    browser: Browser, site_server: TestSite, store_path: Path
) -> None:
    first_plugins, first = agent_plugins()
    before = time.time()
    context = browser.new_context()
    with SiteMemory(store_path) as memory, attach(context, memory, plugins=first_plugins) as site:
        response = site.goto(site_server.url("/limited?retry_after=3"))
        assert response is not None and response.status == 429
        site.settle()
        assert first.visits[0].retry_after == 3
        told = site_server.arrivals("/limited")[0]
    context.close()
    profile = fresh_profile(store_path, site_server.url())
    assert profile is not None and profile.paused_until is not None
    assert before + 3 <= profile.paused_until <= time.time() + 3
    assert [(q.description, q.occurrences) for q in profile.quirks] == [(quirk_description(429), 1)]

    second_plugins, second = agent_plugins()
    context = browser.new_context()
    with SiteMemory(store_path) as other, attach(context, other, plugins=second_plugins) as site:
        assert "do not navigate to it before" in site.prompt_context(site_server.url())
        site.goto(site_server.url("/page/after"))
    context.close()
    assert second.delays[0] > 0
    assert site_server.arrivals("/page/after")[0] - told >= 2.5


def test_a_pause_longer_than_max_delay_refuses_the_navigation(
    browser: Browser, site_server: TestSite, store_path: Path
) -> None:
    with SiteMemory(store_path) as memory:
        memory.record_rate_limit_sync(site_server.url(), 600, status=503)
    plugins, _ = agent_plugins()
    context = browser.new_context()
    with (
        SiteMemory(store_path) as memory, attach(context, memory, plugins=plugins) as site,
        pytest.raises(NavigationRefused, match=r"rate limited until .* UTC"),
    ):
        site.goto(site_server.url("/page/refused"))
    context.close()
    assert site_server.hits("/page/refused") == 0
