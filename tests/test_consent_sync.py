"""The memory learns consent banners by itself under Playwright's sync API, whose handles look
for them inside Playwright's event dispatch (``tests/test_consent.py`` has the async API's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Error as PlaywrightError

from sitememory_plugin import SiteMemory, attach, make_plugin_manager

from ._browser import sync_browser as sync_browser
from ._consent_site import SHOWN, ConsentSite

REJECT = "#cc-main .cm__btn[data-role='necessary']"
PLUGINS = partial(make_plugin_manager, entry_points=False, environment=False)


@pytest.fixture(scope="module")
def consent_site() -> Iterator[ConsentSite]:
    with ConsentSite() as site:
        yield site


def test_a_cold_agent_teaches_the_banner_and_a_warm_one_is_never_blocked(
    browser: Browser, consent_site: ConsentSite, tmp_path: Path
) -> None:
    url = consent_site.url("/vanilla")
    with SiteMemory(tmp_path / "store") as memory:
        context = browser.new_context()
        with attach(context, memory, plugins=PLUGINS()) as site:
            site.goto(url)
            # Event handlers run only inside Playwright's calls: the banner is looked for (and
            # found once it has faded in) while this click waits for the page to take it.
            site.click("buy", "#buy", timeout=10_000)
            assert context.pages[0].text_content("#status") == "bought"
            # A quick click may beat the fade-in: the second look (1 s after the load) runs while
            # Playwright's next calls wait, as an agent's next steps would.
            deadline = time.monotonic() + 20
            while not memory.get_quirks_sync(url):
                assert time.monotonic() < deadline, "the banner was not learned"
                context.pages[0].wait_for_timeout(100)
            site.settle()
        context.close()
        assert [q.workaround for q in memory.get_quirks_sync(url)] == [f"click {REJECT}"]

    with SiteMemory(tmp_path / "store") as memory:
        plugins = make_plugin_manager(disable=["consent"], entry_points=False, environment=False)
        context = browser.new_context()
        with attach(context, memory, plugins=plugins) as site:
            page = context.new_page()
            site.goto(url, page=page)
            page.wait_for_function(SHOWN, arg=REJECT)
            site.click("buy", "#buy", page=page, timeout=10_000)
            assert page.text_content("#status") == "bought"
            assert not page.evaluate(SHOWN, REJECT)
        context.close()


def test_a_banner_that_intercepts_a_click_is_learned(
    browser: Browser, consent_site: ConsentSite, tmp_path: Path
) -> None:
    # Long after the load: the sync API may deliver the load event in the next Playwright call
    # (wait_for_function), so the banner must not be in the page by then.
    url = consent_site.url("/vanilla?delay_ms=1500")
    with SiteMemory(tmp_path / "store") as memory:
        context = browser.new_context()
        with attach(context, memory, plugins=PLUGINS()) as site:
            page = context.new_page()
            site.goto(url, page=page)
            page.wait_for_function(SHOWN, arg=REJECT)
            assert memory.get_quirks_sync(url) == ()  # not shown at the load
            with pytest.raises(PlaywrightError, match="intercepts pointer events") as blocked:
                site.click("buy", "#buy", page=page, timeout=1_500)
            assert any("intercepted it; learned" in n for n in blocked.value.__notes__)
            assert [q.workaround for q in memory.get_quirks_sync(url)] == [f"click {REJECT}"]
            site.click("buy", "#buy", page=page, timeout=10_000)
            assert page.text_content("#status") == "bought"
        context.close()
