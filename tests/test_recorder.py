"""The CDP recorder against a real Chromium that another Playwright connection drives, as an
LLM agent's tools (Playwright MCP, browser-use) drive theirs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pluggy
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from playwright.async_api import Error as PlaywrightError

from sitememory_plugin import BrowserUnavailable, CdpRecorder, SiteMemory, Visit, site_key

from ._cdp import CdpBrowser
from ._consent_site import ConsentSite
from ._net import free_port
from ._site import TestSite
from ._wait import until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def cdp() -> Iterator[CdpBrowser]:
    """One Chromium with a DevTools port for the module's tests that do not kill it."""
    with CdpBrowser() as browser:
        yield browser


@pytest.fixture(scope="module")
def site() -> Iterator[TestSite]:
    with TestSite() as served:
        yield served


@pytest_asyncio.fixture(loop_scope="module")
async def agent(cdp: CdpBrowser) -> AsyncIterator[Browser]:
    """The agent's own connection to the browser (not the recorder's)."""
    async with async_playwright() as playwright:
        yield await playwright.chromium.connect_over_cdp(cdp.endpoint)


class Running:
    """A recorder running in a task of the test's loop."""

    def __init__(self, recorder: CdpRecorder) -> None:
        self.recorder = recorder
        self.task = asyncio.ensure_future(recorder.run())

    async def connected(self) -> None:
        waiter = asyncio.ensure_future(self.recorder.connected())
        await asyncio.wait([waiter, self.task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            waiter.cancel()
            await self.task  # raises why it stopped
        assert waiter.done(), "the recorder did not connect"

    async def stop(self) -> None:
        self.recorder.stop()
        await asyncio.wait_for(self.task, 30)


async def recording(
    endpoint: str, memory: SiteMemory, plugins: pluggy.PluginManager, *, reconnect: float = 0.0,
    overlay_window: float = 5.0, on_visit: Callable[[Visit], None] | None = None,
) -> Running:
    running = Running(CdpRecorder(
        endpoint, memory, plugins=plugins, reconnect=reconnect, overlay_window=overlay_window,
        on_visit=on_visit,
    ))
    await running.connected()
    return running


async def test_every_navigation_of_every_page_and_context_is_a_visit(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    recorded: list[Visit] = []  # each visit the recorder wrote, in the order it was written
    running = await recording(cdp.endpoint, memory, plugins, overlay_window=0, on_visit=recorded.append)
    seen: list[int] = []
    page = agent.contexts[0].pages[0]  # the tab that was open before anyone connected
    for path in ("/", "/page/a", "/status/404", "/redirect?to=/page/b"):
        response = await page.goto(site.url(path))
        seen.append(response.status)
    new_page = await agent.contexts[0].new_page()
    seen.append((await new_page.goto(site.url("/page/c"))).status)
    # A context the agent makes itself: the recorder sees its pages too.
    other = await agent.new_context()
    third = await other.new_page()
    seen.append((await third.goto(site.url("/slow?ms=300"))).status)
    dead = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(PlaywrightError):
        await third.goto(dead)
    await until(lambda: running.recorder.tally.visits == 7)
    await running.stop()
    await other.close()
    await new_page.close()

    assert seen == [200, 200, 404, 200, 200, 200]
    # What the recorder wrote, before what the store holds: a visit missed or recorded twice
    # fails here, one the store lost fails below.
    assert sorted((v.url, v.status, v.ok) for v in recorded) == sorted([
        (site.url("/"), 200, True), (site.url("/page/a"), 200, True),
        (site.url("/status/404"), 404, False), (site.url("/page/b"), 200, True),
        (site.url("/page/c"), 200, True), (site.url("/slow?ms=300"), 200, True), (dead, None, False),
    ]), recorded
    assert running.recorder.tally.visits == 7 and running.recorder.tally.failures == 2
    profile = await memory.get_profile(site.base)
    assert (profile.visit_count, profile.success_count, profile.failure_count) == (6, 5, 1)
    assert profile.last_status == 200
    assert max(profile.load_times) >= 0.3  # the slow page, timed from the browser's own events
    assert set(profile.last_timings) >= {"load", "ttfb", "dom_content_loaded", "redirects"}
    failed = await memory.get_profile(dead)
    assert (failed.visit_count, failed.failure_count) == (1, 1)
    assert "ERR_CONNECTION_REFUSED" in (failed.last_error or "")
    assert sorted(await memory.list_sites()) == sorted([site_key(site.base), site_key(dead)])
    await memory.close()


async def test_known_overlays_are_dismissed_for_the_agent_and_unknown_ones_are_not(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    await memory.record_quirk(site.base, "a cookie banner covers the page", "click #accept-cookies")
    running = await recording(cdp.endpoint, memory, plugins, overlay_window=5)
    page = await agent.contexts[0].new_page()
    # The banner covers the page from its first paint: the agent's click waits for #buy to take
    # it, which happens once the recorder has clicked the banner away.
    await page.goto(site.url("/cookie"))
    await page.click("#buy", timeout=10_000)
    assert await page.text_content("#status") == "bought"
    await until(lambda: running.recorder.tally.dismissed == 1)
    # Shown 300 ms after the load, when the agent acts a second later: dismissed as it appeared.
    await page.goto(site.url("/cookie?delay_ms=300"))
    await asyncio.sleep(1.0)
    await page.click("#buy", timeout=10_000)
    await until(lambda: running.recorder.tally.dismissed == 2)  # counted when its sweep returns
    # A single-page app changing its URL before its banner shows: the sweep goes on.
    await page.goto(site.url("/cookie?delay_ms=600&history_ms=100"))
    await asyncio.sleep(1.2)
    await page.click("#buy", timeout=10_000)
    assert page.url.endswith("#moved")
    await until(lambda: running.recorder.tally.dismissed == 3)
    # The same page on a site key the memory knows nothing of ("localhost" is not "127.0.0.1"):
    # nothing dismisses its banner, so the agent's click is blocked.
    await page.goto(f"http://localhost:{site.port}/cookie")
    with pytest.raises(PlaywrightError, match=r"intercepts pointer events|Timeout"):
        await page.click("#buy", timeout=1_500)
    await running.stop()
    assert running.recorder.tally.dismissed == 3
    await page.close()
    await memory.close()


async def test_a_consent_banner_is_learned_and_dismissed_for_the_agent(
    cdp: CdpBrowser, agent: Browser, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    # Nobody names the banner: the recorder's handle recognises it at the load, records it, and
    # sweeps it away before the agent's own client clicks (Osano's cookieconsent, from npm).
    memory = SiteMemory(tmp_path / "store")
    with ConsentSite() as consent:
        running = await recording(cdp.endpoint, memory, plugins, overlay_window=5)
        context = await agent.new_context()
        page = await context.new_page()
        await page.goto(consent.url("/osano"))
        await page.click("#buy", timeout=10_000)
        assert await page.text_content("#status") == "bought"
        await until(lambda: running.recorder.tally.dismissed == 1)
        await running.stop()
        quirks = await memory.get_quirks(consent.url("/osano"))
        assert [q.workaround for q in quirks] == ["click .cc-window .cc-deny"]
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        assert cookies["cookieconsent_status"] == "deny"  # the refusing control was clicked
        await context.close()
    await memory.close()


async def test_a_sweep_ends_with_its_document_and_clicks_only_what_is_over_the_page(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    await memory.record_quirk(site.base, "a cookie banner covers the page", "click #accept-cookies")
    # A quirk any agent could have stored: it names the page's own button, in no overlay.
    await memory.record_quirk(site.base, "the buy button", "click #buy")
    running = await recording(cdp.endpoint, memory, plugins, overlay_window=5)
    page = await agent.contexts[0].new_page()
    # A page of the site without a banner, its sweep still waiting when the agent moves on to
    # another site with the same markup (up at once, loaded 3 s later): that site's banner is
    # not the sweep's to click.
    await page.goto(site.url("/page/plain"))
    await page.goto(f"http://localhost:{site.port}/cookie?load_ms=3000", wait_until="commit")
    with pytest.raises(PlaywrightError, match=r"intercepts pointer events|Timeout"):
        await page.click("#buy", timeout=1_500)
    assert running.recorder.tally.dismissed == 0
    # On the site: the banner is clicked away, the page's own "Buy" is not clicked.
    await page.goto(site.url("/cookie"))
    await until(lambda: running.recorder.tally.dismissed == 1)
    assert await page.text_content("#status") == ""
    await running.stop()
    await page.close()
    await memory.close()


async def test_the_agents_dialogs_and_downloads_are_left_to_the_agent(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    page = await agent.contexts[0].new_page()
    running = await recording(cdp.endpoint, memory, plugins)
    await page.goto(site.url("/page/dialogs"))
    # A second connection without a dialog listener would dismiss it before the agent answers.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    assert await page.evaluate("confirm('Delete the account?')") is True
    # Nor does it take the browser's downloads over to a folder of its own.
    await page.set_content(f'<a id="get" href="{site.url("/download")}" download>get</a>')
    async with page.expect_download() as started:
        await page.click("#get")
    download = await started.value
    assert Path(await download.path()).read_text() == "hello"
    await running.stop()
    await page.close()
    await memory.close()


async def test_the_recorder_leaves_the_browser_and_the_agents_pages_alone(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    page = await agent.contexts[0].new_page()
    await page.goto(site.url("/page/kept"))
    running = await recording(cdp.endpoint, memory, plugins)
    await running.stop()
    assert cdp.running
    assert await page.title() == "/page/kept"
    assert page in agent.contexts[0].pages
    await page.close()
    await memory.close()


async def test_no_browser_at_the_endpoint_is_a_clear_error(
    tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BrowserUnavailable, match=rf"the browser at {endpoint} does not answer"):
        await CdpRecorder(endpoint, memory, plugins=plugins).run()
    with pytest.raises(BrowserUnavailable, match=r"tried for 1 s"):
        # A bound on a hang, not on speed: it gives up by itself after its second.
        await asyncio.wait_for(CdpRecorder(endpoint, memory, plugins=plugins, reconnect=1).run(), 120)
    with pytest.raises(ValueError, match="not a CDP endpoint URL"):
        CdpRecorder("file:///tmp/x", memory)
    assert await memory.list_sites() == []
    await memory.close()


async def test_a_browser_that_goes_away_ends_the_recording_its_visits_written(
    site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    with CdpBrowser() as browser:
        running = await recording(browser.endpoint, memory, plugins)
        async with async_playwright() as playwright:
            agent = await playwright.chromium.connect_over_cdp(browser.endpoint)
            await agent.contexts[0].pages[0].goto(site.url("/page/before"))
            await until(lambda: running.recorder.tally.visits == 1)
            browser.stop()
            with pytest.raises(BrowserUnavailable, match="went away"):
                await asyncio.wait_for(running.task, 30)
    assert (await memory.get_profile(site.base)).visit_count == 1
    await memory.close()


async def test_with_a_reconnect_window_the_recorder_follows_a_restarted_browser(
    site: TestSite, tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    memory = SiteMemory(tmp_path / "store")
    with CdpBrowser() as browser:
        running = await recording(browser.endpoint, memory, plugins, reconnect=60)
        browser.stop()
        await asyncio.sleep(1.0)  # a few failed attempts while it is down
        assert not running.task.done()
        browser.start()
        await until(lambda: running.recorder.tally.connections == 2, timeout=30)
        await running.connected()
        async with async_playwright() as playwright:
            agent = await playwright.chromium.connect_over_cdp(browser.endpoint)
            await agent.contexts[0].pages[0].goto(site.url("/page/after"))
            await until(lambda: running.recorder.tally.visits == 1)
        await running.stop()
    assert (await memory.get_profile(site.base)).visit_count == 1
    await memory.close()


def _cli(store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sitememory_plugin", "--store", str(store), "record", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_the_command_prints_each_visit_and_a_summary_when_interrupted(
    cdp: CdpBrowser, agent: Browser, site: TestSite, tmp_path: Path
) -> None:
    process = _cli(tmp_path / "store", "--cdp", cdp.endpoint, "--json")
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "recording the browser at" in await asyncio.to_thread(process.stderr.readline)
        # Connected once its first navigation is seen: navigate until then.
        page = await agent.contexts[0].new_page()
        lines: list[dict[str, object]] = []

        async def read() -> None:
            lines.append(json.loads(await asyncio.to_thread(process.stdout.readline)))

        reader = asyncio.ensure_future(read())
        deadline = time.monotonic() + 30
        while not reader.done():
            assert time.monotonic() < deadline
            await page.goto(site.url("/page/cli"))
            await asyncio.wait([reader], timeout=0.5)
        await page.goto(site.url("/status/500"))
        await read()
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert lines[0]["url"] == site.url("/page/cli") and lines[0]["status"] == 200 and lines[0]["ok"] is True
    assert lines[-1]["status"] == 500 and lines[-1]["ok"] is False
    assert f"interrupted: recorded {len(lines)} visits (1 failed)" in err
    memory = SiteMemory(tmp_path / "store")
    profile = await memory.get_profile(site.base)
    assert (profile.visit_count, profile.failure_count) == (len(lines), 1)
    await memory.close()
    await page.close()


async def test_the_command_exits_1_when_the_browser_goes_away(site: TestSite, tmp_path: Path) -> None:
    with CdpBrowser() as browser:
        process = _cli(tmp_path / "store", "--cdp", browser.endpoint)
        try:
            assert process.stderr is not None and process.stdout is not None
            assert "recording the browser at" in await asyncio.to_thread(process.stderr.readline)
            async with async_playwright() as playwright:
                agent = await playwright.chromium.connect_over_cdp(browser.endpoint)
                page = agent.contexts[0].pages[0]
                line = asyncio.ensure_future(asyncio.to_thread(process.stdout.readline))
                while not line.done():  # recording once a navigation shows up
                    await page.goto(site.url("/page/gone"))
                    await asyncio.wait([line], timeout=0.5)
                assert "/page/gone" in line.result()
                browser.stop()
            _, err = await asyncio.to_thread(process.communicate, timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 1, err
    assert f"error: the browser at {browser.endpoint} went away" in err
    missing = subprocess.run(
        [sys.executable, "-m", "sitememory_plugin", "--store", str(tmp_path / "store"), "record", "--cdp",
         f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60,
    )
    assert missing.returncode == 1 and "does not answer" in missing.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "sitememory_plugin", "record", "--cdp", "chromium"],
        capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "not a CDP endpoint URL" in bad.stderr
