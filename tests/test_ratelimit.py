"""Rate limits: a 429/503 with Retry-After becomes a quirk and a pause every agent waits for.

Parsing and the update's rules as pure functions; the pause stored, merged and read back on both
backends; then real Chromium through ``attach()``: the test site's ``/limited`` route answers
429 or 503 with the Retry-After a test asks for, and a second agent (its own memory on the same
store, its own plugins and browser context) waits for the pause before its navigation.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import pluggy
import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from playwright.async_api import Browser, BrowserContext, async_playwright

from sitememory_plugin import (
    AutoThrottle,
    CdpRecorder,
    NavigationOptions,
    NavigationRefused,
    SiteMemory,
    SiteProfile,
    SiteUpdates,
    StoreFormatError,
    Visit,
    attach,
    hookimpl,
    make_plugin_manager,
)
from sitememory_plugin._core.bounds import MAX_PAUSE
from sitememory_plugin._core.documents import encode, parse
from sitememory_plugin._core.merge import equivalent, merge
from sitememory_plugin._core.ratelimit import WORKAROUND, quirk_description, retry_after_seconds
from sitememory_plugin._core.updates import Forget, RateLimited, Update, VisitSeen, apply_all
from sitememory_plugin._core.validate import check_document
from sitememory_plugin.integrations.mcp import build_server

from ._cdp import CdpBrowser
from ._site import TestSite
from ._stores import fresh_profile
from ._wait import until
from .conftest import Api

#: The browser tests share the module's Chromium (conftest's ``browser``) and its event loop.
in_browser = pytest.mark.asyncio(loop_scope="module")

NOW = 1_700_000_000.0
#: An IMF-fixdate (RFC 9110 5.6.7), as a server's ``Date`` says NOW.
NOW_DATE = "Tue, 14 Nov 2023 22:13:20 GMT"
SITE = "https://shop.example/"


# -- Retry-After, read --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "date", "seconds"),
    [
        pytest.param("120", None, 120.0, id="delay-seconds"),
        pytest.param(" 7 ", None, 7.0, id="surrounding whitespace"),
        pytest.param("0", None, 0.0, id="zero: no pause"),
        pytest.param("86400", None, MAX_PAUSE, id="a day"),
        pytest.param("86401", None, MAX_PAUSE, id="more than a day: a day"),
        pytest.param("9" * 5000, None, MAX_PAUSE, id="5,000 digits: a day"),
        pytest.param("Tue, 14 Nov 2023 22:13:50 GMT", NOW_DATE, 30.0, id="IMF-fixdate, from Date"),
        pytest.param("Tue, 14 Nov 2023 22:13:50 GMT", None, 30.0, id="IMF-fixdate, from now"),
        # The server's clock is 10 minutes behind ours: its Date says how far ahead it meant.
        pytest.param("Tue, 14 Nov 2023 22:03:50 GMT", "Tue, 14 Nov 2023 22:03:20 GMT", 30.0,
                     id="from the server's Date, whatever our clock says"),
        pytest.param("Tuesday, 14-Nov-23 22:13:50 GMT", NOW_DATE, 30.0, id="obsolete RFC 850 form"),
        pytest.param("Tue Nov 14 22:13:50 2023", NOW_DATE, 30.0, id="obsolete asctime form"),
        pytest.param("Tue, 14 Nov 2023 22:00:00 GMT", NOW_DATE, 0.0, id="a date past: no pause"),
        pytest.param("Fri, 14 Nov 2053 22:13:20 GMT", NOW_DATE, MAX_PAUSE, id="in 30 years: a day"),
        pytest.param("Tue, 14 Nov 2023 22:13:50 GMT", "yesterday", 30.0, id="junk Date: from now"),
    ],
)
def test_retry_after_is_delay_seconds_or_an_http_date(value: str, date: str | None, seconds: float) -> None:
    assert retry_after_seconds(value, NOW, date) == seconds


@pytest.mark.parametrize("value", [
    None, "", " ", "-5", "+5", "1.5", "1e3", "5s", "0x10", "soon", "١٢٣",  # Arabic-Indic digits
    "Mon, 32 Nov 2023 22:13:50 GMT", "Tue, 14 Nov 99999 22:13:50 GMT", "120, 60", "x" * 10_000,
])
def test_junk_retry_after_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, NOW, NOW_DATE) is None


# -- the update ---------------------------------------------------------------------------------


def _apply(*updates: Update, profile: SiteProfile | None = None) -> SiteProfile:
    return apply_all(profile or SiteProfile("shop.example"), updates, "a" * 16)


def test_a_rate_limit_counts_one_quirk_and_pauses_the_site() -> None:
    profile = _apply(RateLimited(30, 429, NOW), RateLimited(60, 429, NOW + 1), RateLimited(5, 503, NOW + 2))
    # One quirk per status, its text the same whatever the value: occurrences count up.
    assert [(q.description, q.workaround, q.occurrences) for q in profile.quirks] == [
        (quirk_description(429), WORKAROUND, 2), (quirk_description(503), WORKAROUND, 1),
    ]
    assert quirk_description(429) == "rate limited: HTTP 429 with Retry-After"
    # The latest response says when: 5 s after NOW + 2, sooner than the 60 s before it said.
    assert (profile.paused_at, profile.paused_until) == (NOW + 2, NOW + 7)
    assert profile.visit_count == 0  # a rate limit is no visit


def test_a_rate_limit_that_waited_behind_a_later_one_only_counts() -> None:
    later = _apply(RateLimited(5, 429, NOW + 10))
    waited = apply_all(later, [RateLimited(600, 429, NOW)], "a" * 16, waited=True)
    assert (waited.paused_at, waited.paused_until) == (NOW + 10, NOW + 15)
    assert waited.quirks[0].occurrences == 2 and waited.quirks[0].last_seen == NOW + 10


def test_a_huge_retry_after_is_a_day() -> None:
    assert RateLimited(10**400, 429, NOW).retry_after == MAX_PAUSE
    assert _apply(RateLimited(1e12, 503, NOW)).paused_until == NOW + MAX_PAUSE


def test_a_forget_lifts_the_pause_and_one_made_before_it_stays_forgotten() -> None:
    gone = _apply(RateLimited(60, 429, NOW), Forget(NOW + 1))
    assert gone.paused_until is None
    late = apply_all(gone, [RateLimited(60, 429, NOW + 0.5)], "a" * 16, waited=True)
    assert late.paused_until is None and late.quirks == ()


# -- the document -------------------------------------------------------------------------------


def test_the_pause_survives_the_document_round_trip() -> None:
    profile = _apply(VisitSeen(0.2, NOW, status=429), RateLimited(30, 429, NOW))
    stored, data = encode(profile)
    doc = json.loads(data)
    assert (doc["paused_until"], doc["paused_at"]) == (NOW + 30, NOW)
    check_document(doc)
    read = parse(data, "shop.example", now=NOW).profile
    assert (read.paused_until, read.paused_at) == (NOW + 30, NOW) and read == stored
    assert SiteProfile.from_dict(doc) == stored
    assert "paused_until" not in SiteProfile("a.example").to_dict()  # only a paused site has one


def test_a_pause_too_far_ahead_is_read_as_a_day_from_now() -> None:
    doc = _apply(RateLimited(30, 429, NOW)).to_dict()
    doc["paused_until"] = NOW + 10 * 365 * 86_400  # a hand edit, a clock years ahead
    parsed = parse(json.dumps(doc).encode(), "shop.example", now=NOW)
    assert parsed.profile.paused_until == NOW + MAX_PAUSE
    assert "times from the future" in parsed.repaired  # written back, bounded
    # A pause a fast clock set a little more than a day ahead of the reader is kept as it is.
    doc["paused_until"] = NOW + MAX_PAUSE + 3600
    kept = parse(json.dumps(doc).encode(), "shop.example", now=NOW).profile
    assert kept.paused_until == doc["paused_until"]


@pytest.mark.parametrize(("field", "value"), [
    ("paused_until", "soon"), ("paused_until", -1), ("paused_at", True), ("paused_at", [1]),
])
def test_an_import_with_a_bad_pause_is_refused_naming_the_field(field: str, value: object) -> None:
    doc = _apply(RateLimited(30, 429, NOW)).to_dict()
    doc[field] = value
    with pytest.raises(StoreFormatError, match=field):
        check_document(doc)


# -- merging ------------------------------------------------------------------------------------


def _update(kind: int, n: int, at: float) -> Update:
    if kind == 0:
        return VisitSeen(0.1, at, status=429)
    return RateLimited(float(n), 429 if kind == 1 else 503, at)


# (store, action, argument): 0-2 an update, 3 an import from another store, 4 a forget.
steps = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4), st.integers(0, 100)), max_size=30)


def _histories(plan: list[tuple[int, int, int]], same_times: bool) -> list[SiteProfile]:
    origins = ["a" * 16, "b" * 16, "c" * 16]
    states = [SiteProfile("s.example") for _ in origins]
    for t, (store, action, n) in enumerate(plan):
        at = NOW + (t // 3 if same_times else t)  # several stores told at the same second
        if action <= 2:
            states[store] = apply_all(states[store], [_update(action, n, at)], origins[store])
        elif action == 3:
            states[store] = merge(states[store], states[n % 3])
        else:
            states[store] = apply_all(states[store], [Forget(at)], origins[store])
    return states


@settings(max_examples=300, deadline=None)
@given(steps, st.booleans())
def test_the_pause_merges_commutatively_idempotently_and_associatively(
    plan: list[tuple[int, int, int]], same_times: bool
) -> None:
    a, b, c = _histories(plan, same_times)
    assert equivalent(merge(a, b), merge(b, a))
    assert equivalent(merge(merge(a, b), b), merge(a, b))
    assert equivalent(merge(a, a), a)

    def pause(p: SiteProfile) -> tuple[float | None, float | None]:
        return p.paused_at, p.paused_until

    assert pause(merge(merge(a, b), c)) == pause(merge(a, merge(b, c)))


def test_the_merge_keeps_the_pause_of_the_later_response() -> None:
    early = _apply(RateLimited(600, 429, NOW))
    late = apply_all(SiteProfile("shop.example"), [RateLimited(5, 429, NOW + 10)], "b" * 16)
    merged = merge(early, late)
    assert (merged.paused_at, merged.paused_until) == (NOW + 10, NOW + 15) == (
        merge(late, early).paused_at, merge(late, early).paused_until)
    # A forget after the pause was set drops it; one before it does not.
    forgot = apply_all(early, [Forget(NOW + 5)], "a" * 16)
    assert merge(forgot, early).paused_until is None
    assert merge(forgot, late).paused_until == NOW + 15


# -- the public API, on both backends -----------------------------------------------------------


@pytest.mark.asyncio
async def test_record_rate_limit_pauses_the_site_for_every_reader(
    api: Api, store_location: str | Path
) -> None:
    before = time.time()
    await api.record_rate_limit(SITE, 30)
    await api.record_rate_limit("https://www.shop.example/cart", "45")  # the same site
    profile = fresh_profile(store_location, SITE)
    assert profile is not None and profile.paused_at is not None and profile.paused_until is not None
    assert before + 45 <= profile.paused_until <= time.time() + 45
    [quirk] = profile.quirks
    assert (quirk.description, quirk.occurrences) == ("rate limited: HTTP 429 with Retry-After", 2)
    # An HTTP-date, and a 503.
    sent = time.time()
    await api.record_rate_limit(SITE, formatdate(sent + 120, usegmt=True), status=503)
    profile = fresh_profile(store_location, SITE)
    assert profile is not None and profile.paused_until is not None
    # Until the date, in whole seconds, however long the call took.
    assert profile.paused_until == pytest.approx(math.floor(sent + 120), abs=1)
    assert {q.description for q in profile.quirks} == {quirk_description(429), quirk_description(503)}


@pytest.mark.parametrize(("retry_after", "status", "error"), [
    (-1, 429, ValueError), (math.nan, 429, ValueError), (math.inf, 429, ValueError),
    ("soon", 429, ValueError), ("-5", 429, ValueError), (True, 429, TypeError), (None, 429, TypeError),
    ([5], 429, TypeError), (30, 500, ValueError), (30, 200, ValueError), (30, "429", TypeError),
    (30, True, TypeError), (30, 429.0, TypeError),
])
@pytest.mark.asyncio
async def test_bad_values_are_refused_at_the_call_and_nothing_is_written(
    api: Api, store_location: str | Path, retry_after: object, status: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await api.record_rate_limit(SITE, retry_after, status=status)
    with pytest.raises(ValueError):
        await api.record_rate_limit("data:text/plain,hi", 30)
    assert fresh_profile(store_location, SITE) is None


def test_plugins_record_rate_limits_through_their_updates() -> None:
    updates = SiteUpdates("shop.example")
    updates.record_rate_limit("30", status=503)
    with pytest.raises(ValueError):
        updates.record_rate_limit(30, status=404)
    [update] = list(updates)
    assert isinstance(update, RateLimited) and (update.retry_after, update.status) == (30.0, 503)


def test_the_pause_travels_in_an_export(store_location: str | Path, tmp_path: Path) -> None:
    with SiteMemory(store_location) as memory:
        memory.record_rate_limit_sync(SITE, 300)
        out = io.StringIO()
        memory.export_sync(out)
        profile = memory.get_profile_sync(SITE)
        assert profile is not None
        until = profile.paused_until
    with SiteMemory(tmp_path / "elsewhere") as other:
        other.import_jsonl_sync(io.StringIO(out.getvalue()))
        other.import_jsonl_sync(io.StringIO(out.getvalue()))  # again: nothing counted twice
        profile = other.get_profile_sync(SITE)
        assert profile is not None and profile.paused_until == until
        assert profile.quirks[0].occurrences == 1


def test_a_rate_limit_that_waited_in_write_behind_applies_by_its_time(
    store_location: str | Path,
) -> None:
    behind = SiteMemory(store_location, flush_interval=3600)
    try:
        behind.record_rate_limit_sync(SITE, 600)  # made first, written last
        with SiteMemory(store_location) as through:
            through.record_rate_limit_sync(SITE, 5)  # made later: it says when
        behind.flush_sync()
    finally:
        behind.close_sync()
    profile = fresh_profile(store_location, SITE)
    assert profile is not None and profile.paused_until is not None
    assert profile.paused_until <= time.time() + 5
    assert profile.quirks[0].occurrences == 2


# -- the politeness plugin's decision -----------------------------------------------------------


def paused(seconds: float) -> SiteProfile:
    now = time.time()
    return SiteProfile("shop.example", paused_at=now, paused_until=now + seconds)


def test_a_navigation_waits_for_the_pause_and_a_pause_over_does_not_hold_it() -> None:
    throttle = AutoThrottle()
    waiting = NavigationOptions()
    throttle.sitememory_before_navigation("shop.example", paused(20), waiting)
    assert 15 < waiting.delay <= 20
    # Overlapping navigations queue behind the pause's end, spaced as ever after it.
    queued = NavigationOptions()
    throttle.sitememory_before_navigation("shop.example", paused(20), queued)
    assert queued.delay >= waiting.delay
    over = NavigationOptions()
    AutoThrottle().sitememory_before_navigation("shop.example", paused(-1), over)
    assert over.delay == 0
    assert 15 < AutoThrottle().reserve("shop.example", paused(20)) <= 20
    assert AutoThrottle(max_delay=5).reserve("shop.example", paused(20)) == pytest.approx(5, abs=0.5)


def test_a_pause_longer_than_max_delay_is_refused_or_waited_for_max_delay() -> None:
    with pytest.raises(NavigationRefused, match=r"shop\.example is rate limited until \d{4}-.* UTC"):
        AutoThrottle(max_delay=10).sitememory_before_navigation(
            "shop.example", paused(600), NavigationOptions())
    patient = AutoThrottle(max_delay=10, long_pause="wait_max")
    options = NavigationOptions()
    patient.sitememory_before_navigation("shop.example", paused(600), options)
    assert options.delay == pytest.approx(10, abs=0.5)
    with pytest.raises(ValueError, match="long_pause"):
        AutoThrottle(long_pause="sometimes")  # type: ignore[arg-type]


def test_the_prompt_context_says_until_when_the_site_is_rate_limited() -> None:
    lines: list[str] = []
    AutoThrottle().sitememory_prompt_context(paused(90), lines)
    [line] = lines
    assert line.startswith("- rate limited (Retry-After): do not navigate to it before ")
    assert re.search(r" UTC, (90|8\d) s from now$", line), line
    lines.clear()
    AutoThrottle().sitememory_prompt_context(paused(-5), lines)
    assert lines == []


# -- through attach(), with Chromium ------------------------------------------------------------


class Decisions:
    """What the navigation options were once the other plugins decided (runs last)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.visits: list[Visit] = []

    @hookimpl(trylast=True)
    def sitememory_before_navigation(self, options: NavigationOptions) -> None:
        self.delays.append(options.delay)

    @hookimpl
    def sitememory_after_navigation(self, visit: Visit) -> None:
        self.visits.append(visit)


def agent_plugins() -> tuple[pluggy.PluginManager, Decisions]:
    """One agent's plugins: the built-ins (its own AutoThrottle) and a record of its decisions."""
    pm = make_plugin_manager(entry_points=False, environment=False)
    decisions = Decisions()
    pm.register(decisions, "decisions")
    return pm, decisions


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    yield context
    await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def other_context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    yield context
    await context.close()


@pytest.mark.parametrize("status", [429, 503])
@in_browser
async def test_a_rate_limit_one_agent_meets_holds_back_another_agents_navigation(
    context: BrowserContext, other_context: BrowserContext, site_server: TestSite, store_path: Path,
    status: int,
) -> None:
    first_plugins, first = agent_plugins()
    before = time.time()
    async with SiteMemory(store_path) as memory, attach(context, memory, plugins=first_plugins) as site:
        response = await site.goto(site_server.url(f"/limited?status={status}&retry_after=3"))
        assert response is not None and response.status == status
        await site.settle()
        assert first.visits[0].retry_after == 3
        told = site_server.arrivals("/limited")[0]
        assert "rate limited (Retry-After): do not navigate to it before" in await site.prompt_context()

    profile = fresh_profile(store_path, site_server.url())
    assert profile is not None and profile.paused_until is not None
    assert (profile.visit_count, profile.failure_count, profile.last_status) == (1, 1, status)
    assert [(q.description, q.occurrences) for q in profile.quirks] == [(quirk_description(status), 1)]
    assert before + 3 <= profile.paused_until <= time.time() + 3

    # Another agent: its own memory on the store, its own plugins (so no politeness slot of the
    # first's), its own browser context. It waits for the pause the first was told of.
    second_plugins, second = agent_plugins()
    async with SiteMemory(store_path) as other, attach(other_context, other, plugins=second_plugins) as site:
        await site.goto(site_server.url("/page/after"))
    assert second.delays[0] > 0  # it waited, rather than the test taking that long
    arrived = site_server.arrivals("/page/after")[0]
    assert arrived - told >= 2.5  # Retry-After: 3, counted from after the 429 arrived


@in_browser
async def test_a_pause_already_over_holds_nothing_back(
    context: BrowserContext, other_context: BrowserContext, site_server: TestSite, store_path: Path,
    plugins: pluggy.PluginManager,
) -> None:
    async with SiteMemory(store_path) as memory, attach(context, memory, plugins=plugins) as site:
        await site.goto(site_server.url("/limited?retry_after=0"))
        await site.settle()
    profile = fresh_profile(store_path, site_server.url())
    assert profile is not None and profile.quirks[0].occurrences == 1
    assert profile.paused_until is not None and profile.paused_until <= time.time()
    second_plugins, second = agent_plugins()
    async with SiteMemory(store_path) as other, attach(other_context, other, plugins=second_plugins) as site:
        await site.goto(site_server.url("/page/after"))
        assert "do not navigate" not in await site.prompt_context(max_chars=5000)
    assert second.delays == [0]


@in_browser
async def test_an_http_date_retry_after_pauses_until_that_date(
    context: BrowserContext, site_server: TestSite, store_path: Path, plugins: pluggy.PluginManager
) -> None:
    date = formatdate(time.time() + 30, usegmt=True)  # whole seconds: up to 1 s sooner
    async with SiteMemory(store_path) as memory, attach(context, memory, plugins=plugins) as site:
        await site.goto(site_server.url(f"/limited?status=503&retry_after={quote(date)}"))
        await site.settle()
        profile = await memory.get_profile(site_server.url())
    assert profile is not None and profile.paused_until is not None
    assert 27 <= profile.paused_until - time.time() <= 30


@pytest.mark.parametrize("query", [
    "retry_after=soon", "retry_after=-5", "retry_after=1.5", "status=429", "status=500&retry_after=30",
])
@in_browser
async def test_a_junk_or_missing_retry_after_is_no_rate_limit(
    context: BrowserContext, site_server: TestSite, store_path: Path, plugins: pluggy.PluginManager,
    query: str,
) -> None:
    async with SiteMemory(store_path) as memory, attach(context, memory, plugins=plugins) as site:
        response = await site.goto(site_server.url(f"/limited?{query}"))
        assert response is not None and response.status >= 400
        await site.settle()
        profile = await memory.get_profile(site_server.url())
    assert profile is not None and profile.failure_count == 1  # a failed visit, as ever
    assert profile.quirks == () and profile.paused_until is None


@in_browser
async def test_a_pause_longer_than_max_delay_refuses_the_navigation_before_any_request(
    context: BrowserContext, other_context: BrowserContext, site_server: TestSite, store_path: Path,
    plugins: pluggy.PluginManager,
) -> None:
    async with SiteMemory(store_path) as memory, attach(context, memory, plugins=plugins) as site:
        await site.goto(site_server.url("/limited?retry_after=3600"))
        await site.settle()
    second_plugins, _ = agent_plugins()
    async with SiteMemory(store_path) as other, attach(other_context, other, plugins=second_plugins) as site:
        with pytest.raises(NavigationRefused, match="rate limited until"):
            await site.goto(site_server.url("/page/refused"))
    assert site_server.hits("/page/refused") == 0


# -- the other ways in: the CDP recorder, the MCP tool, Scrapy's plain requests -----------------


@pytest.fixture(scope="module")
def cdp() -> Iterator[CdpBrowser]:
    with CdpBrowser() as browser:
        yield browser


@in_browser
async def test_the_cdp_recorder_records_a_rate_limit_it_sees(
    cdp: CdpBrowser, site_server: TestSite, store_path: Path, plugins: pluggy.PluginManager
) -> None:
    async with SiteMemory(store_path) as memory, async_playwright() as playwright:
        agent = await playwright.chromium.connect_over_cdp(cdp.endpoint)  # the agent's own client
        recorder = CdpRecorder(cdp.endpoint, memory, plugins=plugins, overlay_window=0)
        task = asyncio.ensure_future(recorder.run())
        await asyncio.wait_for(recorder.connected(), 30)
        page = await agent.contexts[0].new_page()
        await page.goto(site_server.url("/limited?status=503&retry_after=120"))
        await until(lambda: recorder.tally.visits >= 1, what="the recorder's visit")
        recorder.stop()
        await asyncio.wait_for(task, 30)
        await page.close()
    profile = fresh_profile(store_path, site_server.url())
    assert profile is not None and profile.paused_until is not None
    assert 100 < profile.paused_until - time.time() <= 120
    assert [q.description for q in profile.quirks] == [quirk_description(503)]


@pytest.mark.asyncio
async def test_the_mcp_record_visit_tool_takes_a_retry_after(
    tmp_path: Path, plugins: pluggy.PluginManager
) -> None:
    async with SiteMemory(tmp_path / "store") as memory, \
            Client(build_server(memory, plugins=plugins)) as client:
        bad = await client.call_tool("record_visit", {"url": SITE, "duration": 0.1, "status": 200,
                                                      "retry_after": 30})
        assert bad.is_error and "429 or 503" in bad.content[0].text
        junk = await client.call_tool("record_visit", {"url": SITE, "duration": 0.1, "status": 429,
                                                       "retry_after": "soon"})
        assert junk.is_error and "HTTP-date" in junk.content[0].text
        assert await memory.list_sites() == []  # nothing written, the visit neither
        done = await client.call_tool("record_visit", {"url": SITE, "duration": 0.1, "status": 429,
                                                       "retry_after": "30"})
        assert not done.is_error, done
        profile = await memory.get_profile(SITE)
    assert profile is not None and profile.visit_count == 1 and profile.paused_until is not None
    assert 25 < profile.paused_until - time.time() <= 30


@pytest.mark.asyncio
async def test_scrapys_plain_responses_record_their_rate_limit(tmp_path: Path) -> None:
    from scrapy import Request
    from scrapy.http import HtmlResponse

    from sitememory_plugin.integrations.scrapy import SiteMemoryMiddleware

    async with SiteMemory(tmp_path / "store") as memory:
        middleware = SiteMemoryMiddleware(memory, make_plugin_manager(entry_points=False, environment=False))
        for status, headers in ((429, {"Retry-After": "90"}), (503, {"Retry-After": "junk"}), (200, {})):
            request = Request(SITE)
            middleware.request_reached_downloader(request)
            response = HtmlResponse(SITE, status=status, headers=headers, body=b"<p>hi</p>", request=request)
            assert await middleware.process_response(request, response) is response
        profile = await memory.get_profile(SITE)
    assert profile is not None and profile.visit_count == 3 and profile.paused_until is not None
    assert 80 < profile.paused_until - time.time() <= 90
    assert [(q.description, q.occurrences) for q in profile.quirks] == [(quirk_description(429), 1)]
