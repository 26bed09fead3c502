"""The memory learns consent banners by itself: real consent managers from npm, real Chromium.

A cold agent never calls ``remember_overlay``: the built-in ``consent`` plugin recognises the
banner when the page loads (or when it intercepts a click) and records it as an overlay quirk;
a warm agent, in a fresh context with the ``consent`` plugin disabled, has it dismissed by the
``overlays`` plugin from what the memory learned. Pages and packages: ``tests/_consent_site.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote

import pluggy
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext
from playwright.async_api import Error as PlaywrightError

from sitememory_plugin import ConsentDetector, SiteMemory, attach, make_plugin_manager
from sitememory_plugin._core.models import Quirk

from ._consent_site import SHOWN, ConsentSite

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: The managers' pages, the quirk each teaches with the default choice, and the cookie its
#: manager keeps with the choice made (name, what it holds after a reject).
MANAGERS = {
    "vanilla": (
        "/vanilla", "consent banner (vanilla-cookieconsent) blocks the page",
        "click #cc-main .cm__btn[data-role='necessary']",
    ),
    "osano": (
        "/osano", "consent banner (cookieconsent (Osano, open source)) blocks the page",
        "click .cc-window .cc-deny",
    ),
}




@pytest.fixture(scope="module")
def consent_site() -> Iterator[ConsentSite]:
    with ConsentSite() as site:
        yield site


@pytest_asyncio.fixture(loop_scope="module")
async def memory(tmp_path: Path) -> AsyncIterator[SiteMemory]:
    memory = SiteMemory(tmp_path / "store")
    yield memory
    await memory.close()


async def quirks(memory: SiteMemory, url: str) -> list[Quirk]:
    return list(await memory.get_quirks(url))


async def consent_cookie(context: BrowserContext, name: str) -> str | None:
    cookies = await context.cookies()
    return next((unquote(c["value"]) for c in cookies if c["name"] == name), None)


async def rejected(manager: str, context: BrowserContext) -> bool:
    """Whether the page's consent manager stored a refusal of the optional cookies."""
    if manager == "vanilla":
        stored = await consent_cookie(context, "cc_cookie")
        return stored is not None and json.loads(stored)["categories"] == ["necessary"]
    return await consent_cookie(context, "cookieconsent_status") == "deny"


@pytest.mark.parametrize("manager", sorted(MANAGERS))
async def test_a_cold_agent_teaches_the_banner_and_a_warm_one_is_never_blocked(
    browser: Browser, consent_site: ConsentSite, tmp_path: Path, manager: str
) -> None:
    path, description, workaround = MANAGERS[manager]
    url = consent_site.url(path)
    store = tmp_path / "store"
    # The cold agent: it only navigates, and never names the banner.
    cold_memory = SiteMemory(store)
    context = await browser.new_context()
    cold_plugins = make_plugin_manager(entry_points=False, environment=False)
    async with attach(context, cold_memory, plugins=cold_plugins) as site:
        await site.goto(url)
        await site.settle()
        learned = await quirks(cold_memory, url)
        assert [(q.description, q.workaround) for q in learned] == [(description, workaround)]
        # Dismissed on its own page too, with the refusing control.
        await site.click("buy", "#buy", timeout=10_000)
        assert await site.target.pages[0].text_content("#status") == "bought"
        assert await rejected(manager, context)
    await context.close()
    await cold_memory.close()

    # The warm agent: another memory on the store, a fresh context (no consent cookie), and no
    # consent plugin: what dismisses the banner is the quirk the cold agent's memory recorded.
    warm_memory = SiteMemory(store)
    warm_plugins = make_plugin_manager(disable=["consent"], entry_points=False, environment=False)
    context = await browser.new_context()
    async with attach(context, warm_memory, plugins=warm_plugins) as site:
        page = await context.new_page()
        await site.goto(url, page=page)
        # Shown (it fades in): the click below would be blocked without the handler. (Not with
        # a locator's wait_for, which runs the handlers too.)
        await page.wait_for_function(SHOWN, arg=workaround.removeprefix("click "))
        await site.click("buy", "#buy", page=page, timeout=10_000)
        assert await page.text_content("#status") == "bought"
        assert await rejected(manager, context)
        await site.settle()
    [quirk] = await quirks(warm_memory, url)
    assert quirk.occurrences == 1  # recorded once, not again by a later load
    await context.close()
    await warm_memory.close()


async def test_a_known_banner_is_not_recorded_again_on_every_load(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory, plugins: pluggy.PluginManager
) -> None:
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        page = await context.new_page()
        await site.goto(consent_site.url("/osano"), page=page)
        await site.settle()
        for _ in range(3):  # a new context each time: the banner shows again, and is known
            fresh = await browser.new_context()
            async with attach(fresh, memory, plugins=plugins) as other:
                await other.goto(consent_site.url("/osano"))
            await fresh.close()
    [quirk] = await quirks(memory, consent_site.url("/osano"))
    assert quirk.occurrences == 1
    await context.close()


async def test_a_banner_that_shows_after_the_load_is_learned_when_it_intercepts_a_click(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory, plugins: pluggy.PluginManager
) -> None:
    url = consent_site.url("/vanilla?delay_ms=200")
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        page = await context.new_page()
        await site.goto(url, page=page)
        await site.settle()
        assert await quirks(memory, url) == []  # nothing showed at the load
        await page.wait_for_function(SHOWN, arg="#cc-main .cm__btn[data-role='necessary']")
        with pytest.raises(PlaywrightError, match="intercepts pointer events") as blocked:
            await site.click("buy", "#buy", page=page, timeout=1_500)
        assert any("vanilla-cookieconsent intercepted it; learned" in n for n in blocked.value.__notes__)
        [quirk] = await quirks(memory, url)
        assert quirk.workaround == "click #cc-main .cm__btn[data-role='necessary']"
        # Learned, and dismissed before the agent's next action on this page.
        await site.click("buy", "#buy", page=page, timeout=10_000)
        assert await page.text_content("#status") == "bought"
        assert await rejected("vanilla", context)
    await context.close()


async def test_an_unknown_overlay_is_not_learned(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory, plugins: pluggy.PluginManager
) -> None:
    # Its button even has the class of a known manager's reject button, outside that banner.
    url = consent_site.url("/unknown")
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        page = await context.new_page()
        await site.goto(url, page=page)
        with pytest.raises(PlaywrightError, match="intercepts pointer events") as blocked:
            await site.click("buy", "#buy", page=page, timeout=1_500)
        assert any("no overlay the plugins know: nothing learned" in n for n in blocked.value.__notes__)
        await site.settle()
        assert await page.locator("#paywall").is_visible()  # nothing clicked it
    assert await quirks(memory, url) == []
    await context.close()


async def test_a_banner_already_answered_is_not_learned(
    browser: Browser, consent_site: ConsentSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # The consent manager keeps the visitor's choice: with it, no banner shows, none is learned.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(consent_site.url("/osano"))
    await page.click(".cc-window .cc-allow")
    async with SiteMemory(tmp_path / "fresh") as memory:
        async with attach(context, memory, plugins=plugins) as site:
            await site.goto(consent_site.url("/osano"), page=page)
            await site.settle()
            assert not await page.locator(".cc-window .cc-deny").is_visible()
        assert await quirks(memory, consent_site.url("/osano")) == []
    await context.close()


async def test_the_choice_is_configurable(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory
) -> None:
    plugins = make_plugin_manager(disable=["consent"], entry_points=False, environment=False)
    plugins.register(ConsentDetector(choice="accept"), "consent")
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        page = await context.new_page()
        await site.goto(consent_site.url("/osano"), page=page)
        await site.settle()
        [quirk] = await quirks(memory, consent_site.url("/osano"))
        assert quirk.workaround == "click .cc-window .cc-allow"
        await site.click("buy", "#buy", page=page, timeout=10_000)
        assert await consent_cookie(context, "cookieconsent_status") == "allow"
    await context.close()
    with pytest.raises(ValueError, match="choice must be one of"):
        ConsentDetector(choice="ignore")


async def test_with_the_consent_plugin_disabled_nothing_is_learned(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory
) -> None:
    plugins = make_plugin_manager(disable=["consent"], entry_points=False, environment=False)
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        await site.goto(consent_site.url("/vanilla"))
        await site.settle()
    assert await quirks(memory, consent_site.url("/vanilla")) == []
    await context.close()


async def test_a_banner_in_a_shadow_root_is_learned(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory, plugins: pluggy.PluginManager
) -> None:
    url = consent_site.url("/shadow")
    context = await browser.new_context()
    async with attach(context, memory, plugins=plugins) as site:
        page = await context.new_page()
        await site.goto(url, page=page)
        await site.settle()
        [quirk] = await quirks(memory, url)
        assert quirk.workaround == "click [data-testid='uc-deny-all-button']"
        await site.click("buy", "#buy", page=page, timeout=10_000)
        assert await page.text_content("#status") == "bought"
    await context.close()


async def test_a_handler_learned_while_detaching_does_not_outlive_the_handle(
    browser: Browser, consent_site: ConsentSite, memory: SiteMemory, plugins: pluggy.PluginManager
) -> None:
    # The banner fades in after the load, so the detection is still waiting for it at detach().
    url = consent_site.url("/vanilla")
    context = await browser.new_context()
    page = await context.new_page()
    async with attach(context, memory, plugins=plugins) as site:
        await site.goto(url, page=page)
    assert [q.workaround for q in await quirks(memory, url)] == [MANAGERS['vanilla'][2]]
    await page.wait_for_function(SHOWN, arg="#cc-main .cm__btn[data-role='necessary']")
    # No handler of the detached handle clicks the banner away: the page's own click is blocked.
    with pytest.raises(PlaywrightError, match="intercepts pointer events"):
        await page.click("#buy", timeout=1_500)
    await context.close()
