"""One demo agent process: a scripted shopper that uses the site memory as any Playwright agent would.

::

    echo '<AgentArgs as JSON>' | python -m sitememory_plugin._demo.agent

It launches its own Chromium, attaches the browser context to a :class:`SiteMemory` on the shared
store, buys one product on the demo site, and prints its :class:`AgentReport` (see
``messages.py`` for the protocol). It knows what any script written against the site knows: the
selectors it was written with (one of them out of date), how to accept the cookie banner (which
it never tells the memory: the memory recognises the banner itself), and a navigation timeout
that is right for fast sites. Everything else it gets from the memory.
Anything unexpected raises: a traceback on stderr and a non-zero exit status.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Response, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from .. import AsyncSite, Attempt, SiteMemory, attach, hookimpl, make_plugin_manager
from .._browser import launch_kwargs
from .messages import TASKS, AgentArgs, AgentReport, ready, report, task

ACCEPT_COOKIES = "#onetrust-accept-btn-handler"
#: A navigation that timed out is tried once more, patiently.
RETRY_TIMEOUT_MS = 20_000.0
#: Waiting for the page a click leads to: the memory adapts only ``site.goto``'s timeout.
CLICK_NAVIGATION_TIMEOUT_MS = 15_000.0
#: 503s in a row after which the agent gives up on a stock lookup.
MAX_TRIES = 12


class SelectorTally:
    """A plugin that counts the selectors an action tried, and found nothing with, before one matched."""

    def __init__(self) -> None:
        self.stale = 0

    @hookimpl
    def sitememory_after_action(self, selector: str | None, attempts: list[Attempt]) -> None:
        self.stale += sum(1 for a in attempts if a.selector != selector and not a.ok)


class Shopper:
    """The agent's tasks, in order: :data:`TASKS`. Actions name their page: lookups run on others."""

    def __init__(
        self, site: AsyncSite, context: BrowserContext, page: Page, args: AgentArgs, tally: SelectorTally
    ) -> None:
        self.site = site
        self.context = context
        self.page = page
        self.args = args
        self.scenario = args.scenario
        self.tally = tally
        self.report = AgentReport(agent=args.agent, run=args.run)
        self.sku = ""

    async def run(self, progress: Callable[[int, str], None]) -> AgentReport:
        steps = (
            self.visit_shop, self.search, self.check_stock, self.open_product, self.add_to_cart,
            self.check_out, self.place_order,
        )
        started = time.monotonic()
        for index, (label, step) in enumerate(zip(TASKS, steps, strict=True)):
            progress(index, label)
            began = time.monotonic()
            await step()
            self.report.task_seconds[label] = time.monotonic() - began
        self.report.seconds = time.monotonic() - started
        self.report.stale_selectors = self.tally.stale
        return self.report

    # -- the tasks -------------------------------------------------------------------------

    async def visit_shop(self) -> None:
        await self.goto(self.args.sites["shop"] + "/")

    async def search(self) -> None:
        # "#search" is what the script was written with; the generic selector is its fallback.
        await self.site.fill(
            "search box", self.args.query, "#search", "input[name=q]", page=self.page, timeout=self.action_ms
        )
        await self.click_to_navigate("search button", "#search-go")

    async def check_stock(self) -> None:
        """Look the product up in every warehouse at once, each lookup in a tab of its own."""
        link = await self.site.locator(
            "first result", "#results a.product", page=self.page, timeout=self.action_ms
        )
        self.sku = urlsplit(await link.get_attribute("href") or "").path.rsplit("/", 1)[-1]
        await asyncio.gather(*(self.lookup(w) for w in range(1, self.scenario.warehouses + 1)))

    async def lookup(self, warehouse: int) -> None:
        url = f"{self.args.sites['stock']}/stock/{self.sku}?warehouse={warehouse}"
        tab = await self.context.new_page()
        try:
            for _ in range(MAX_TRIES):
                response = await self.goto(url, tab)
                if response is None or response.status != 503:
                    return
                self.report.http_503 += 1
                await asyncio.sleep(self.scenario.retry_pause)
            raise RuntimeError(f"{url} answered 503 {MAX_TRIES} times in a row")
        finally:
            await tab.close()

    async def open_product(self) -> None:
        await self.goto(f"{self.args.sites['catalog']}/product/{self.sku}")
        if not await self.page.locator("#price").text_content(timeout=self.action_ms):
            raise RuntimeError(f"no price on {self.page.url}")

    async def add_to_cart(self) -> None:
        await self.click_to_navigate("add to cart", "#add-to-cart")

    async def check_out(self) -> None:
        await self.click_to_navigate("check out", "#checkout")

    async def place_order(self) -> None:
        await self.click_to_navigate("place order", "#place-order")
        confirmed = await self.page.locator("#confirmed").text_content(timeout=self.action_ms)
        if confirmed != "Order confirmed":
            raise RuntimeError(f"order not confirmed on {self.page.url}: {confirmed!r}")

    # -- how it acts -----------------------------------------------------------------------

    @property
    def action_ms(self) -> float:
        return self.scenario.action_timeout * 1000

    async def goto(self, url: str, page: Page | None = None) -> Response | None:
        """``site.goto``; a navigation that times out is tried again once, with a patient timeout."""
        page = page or self.page
        self.count(url)
        try:
            # No timeout given: the memory's adapted one if it knows the site, else the
            # context's default, the agent's own fail-fast setting.
            return await self.site.goto(url, page=page)
        except PlaywrightTimeoutError:
            self.report.timeouts += 1
        self.count(url)
        return await self.site.goto(url, page=page, timeout=RETRY_TIMEOUT_MS)

    async def click_to_navigate(self, purpose: str, *selectors: str) -> None:
        """Click what leads to the next page; accept the cookie banner if it is in the way (the
        agent does not tell the memory: it learns the banner by itself)."""
        for _ in range(2):
            try:
                async with self.page.expect_navigation(timeout=CLICK_NAVIGATION_TIMEOUT_MS):
                    await self.site.click(purpose, *selectors, page=self.page, timeout=self.action_ms)
            except PlaywrightTimeoutError:
                self.report.failed_actions += 1
                if not await self.page.locator(ACCEPT_COOKIES).is_visible():
                    raise
                self.report.overlay_blocks += 1
                await self.page.click(ACCEPT_COOKIES)
                continue
            self.count(self.page.url)
            return
        raise RuntimeError(f"could not {purpose} on {self.page.url}")

    def count(self, url: str) -> None:
        key = self.site.key(url)
        self.report.navigations[key] = self.report.navigations.get(key, 0) + 1


def say(line: str) -> None:
    print(line, flush=True)


async def shop(args: AgentArgs) -> AgentReport | None:
    """Launch the browser, attach it, wait for the runner's "go", shop; ``None`` if told to stop."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_kwargs())
        # Named, as polite clients are: the stock service limits each client on its own.
        context = await browser.new_context(user_agent=f"sitememory-demo-agent/{args.agent}")
        context.set_default_navigation_timeout(args.scenario.nav_timeout * 1000)
        memory = SiteMemory(args.store)
        tally = SelectorTally()
        # The built-in plugins with their defaults and nothing else: a plugin installed or named
        # in the environment would change what the demo measures.
        plugins = make_plugin_manager(entry_points=False, environment=False)
        plugins.register(tally, "demo-selector-tally")
        result: AgentReport | None = None
        async with attach(context, memory, plugins=plugins) as site:
            page = await context.new_page()
            say(ready())
            if (await asyncio.to_thread(sys.stdin.readline)).strip() == "go":
                shopper = Shopper(site, context, page, args, tally)
                result = await shopper.run(lambda index, label: say(task(index, label)))
        await memory.close()
        await browser.close()
    return result


def main() -> int:
    result = asyncio.run(shop(AgentArgs.from_json(sys.stdin.readline())))
    if result is None:
        return 1  # the runner went away before the start
    say(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
