"""Every public SiteMemory method, each test run against the async API and its sync twin."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def test_unknown_site_has_no_profile(api: Api) -> None:
    assert await api.get_profile("https://nowhere.example/") is None
    assert await api.get_selector("nowhere.example", "x") is None
    assert await api.get_quirks("nowhere.example") == ()
    assert await api.get_action_pattern("nowhere.example", "t") is None
    assert await api.get_context_for_prompt("nowhere.example") == ""
    assert await api.list_sites() == []


async def test_record_visit(api: Api) -> None:
    await api.record_visit("https://www.shop.example/a", 1.5, status=200,
                           timings={"ttfb": 0.2, "load": 1.4})
    await api.record_visit("http://shop.example/b", 3.0, status=503)
    await api.record_visit("shop.example", 9.0, error="net::ERR_TIMED_OUT")
    profile = await api.get_profile("https://shop.example/")
    assert profile.domain == "shop.example"
    assert (profile.visit_count, profile.success_count, profile.failure_count) == (3, 1, 2)
    # A timeout's duration is a lower bound of the load time; an error page's says nothing.
    assert profile.load_times == (1.5, 9.0)
    assert profile.recent_outcomes == (True, False, False)
    assert profile.last_status is None and profile.last_error == "net::ERR_TIMED_OUT"
    assert dict(profile.last_timings) == {"ttfb": 0.2, "load": 1.4}
    assert profile.first_visit <= profile.last_visit
    assert profile.p50_load_time == 1.5 and profile.p95_load_time == 9.0


@pytest.mark.parametrize(("duration", "error"), [(-1.0, ValueError), (float("nan"), ValueError),
                                                 ("1", TypeError), (True, TypeError)])
async def test_record_visit_rejects_bad_duration(api: Api, duration: object, error: type) -> None:
    with pytest.raises(error):
        await api.record_visit("a.example", duration)
    assert await api.get_profile("a.example") is None


async def test_get_or_create_profile(api: Api) -> None:
    created = await api.get_or_create_profile("https://new.example/")
    assert created.domain == "new.example" and created.visit_count == 0
    assert await api.list_sites() == ["new.example"]
    await api.record_visit("new.example", 1.0)
    assert (await api.get_or_create_profile("new.example")).visit_count == 1


async def test_selectors_cache_rank_and_heal(api: Api) -> None:
    await api.cache_selector("s.example", "search box", "#q", ["input[name=q]", "#search"])
    selector = await api.get_selector("https://s.example/x", "search box")
    assert selector.ranked() == ("#q", "input[name=q]", "#search")
    await api.record_selector_result("s.example", "search box", "#q", False)
    await api.record_selector_result("s.example", "search box", "#q", False)
    await api.record_selector_result("s.example", "search box", "input[name=q]", True)
    selector = await api.get_selector("s.example", "search box")
    assert selector.primary == "input[name=q]"
    assert (selector.success_count, selector.failure_count) == (1, 2)


async def test_cache_selector_validates(api: Api) -> None:
    with pytest.raises(TypeError):
        await api.cache_selector("s.example", "p", "#a", "#b")
    with pytest.raises(ValueError):
        await api.cache_selector("s.example", "", "#a")
    assert await api.get_profile("s.example") is None


async def test_quirks_count_occurrences(api: Api) -> None:
    await api.record_quirk("q.example", "cookie banner covers the page", "click #accept")
    await api.record_quirk("q.example", "cookie banner covers the page")
    await api.record_quirk("q.example", "slow search results")
    quirks = await api.get_quirks("q.example")
    assert [(q.description, q.workaround, q.occurrences) for q in quirks] == [
        ("cookie banner covers the page", "click #accept", 2),
        ("slow search results", None, 1),
    ]


async def test_action_patterns(api: Api) -> None:
    actions = [{"fill": ["#q", "shoes"]}, {"press": "Enter"}]
    await api.cache_action_pattern("p.example", "search", actions)
    actions.append({"mutated": "after the call"})
    pattern = await api.get_action_pattern("p.example", "search")
    # As JSON gives them back, and as plain data: equal to the list, JSON-serialisable.
    assert pattern.actions == [{"fill": ["#q", "shoes"]}, {"press": "Enter"}]
    assert json.loads(json.dumps(pattern.actions)) == pattern.actions
    await api.cache_action_pattern("p.example", "search", [{"click": "#go"}])
    pattern = await api.get_action_pattern("p.example", "search")
    assert pattern.times_cached == 2 and len(pattern.actions) == 1


async def test_a_pattern_result_confirms_or_contradicts_a_known_pattern(api: Api) -> None:
    await api.cache_action_pattern("p.example", "search", [{"press": "Enter"}])
    await api.record_pattern_result("p.example", "search", True)
    await api.record_pattern_result("p.example", "search", False)
    pattern = await api.get_action_pattern("p.example", "search")
    assert (pattern.times_cached, pattern.contradictions) == (2, 1)
    assert pattern.last_contradicted is not None
    await api.record_pattern_result("p.example", "checkout", False)  # no such pattern: nothing
    assert await api.get_action_pattern("p.example", "checkout") is None
    with pytest.raises(TypeError):
        await api.record_pattern_result("p.example", "search", 1)


async def test_unserialisable_actions_raise_type_error_before_writing(api: Api) -> None:
    await api.record_visit("p.example", 1.0)
    before = await api.get_profile("p.example")
    for bad in ([{"when": object()}], [float("inf")], "click", {"a": 1}):
        with pytest.raises(TypeError):
            await api.cache_action_pattern("p.example", "search", bad)
    assert await api.get_profile("p.example") == before


async def test_context_for_prompt_is_bounded(api: Api) -> None:
    await api.record_visit("c.example", 2.0, status=200)
    for i in range(50):
        await api.record_quirk("c.example", f"quirk number {i} " + "x" * 50, "do something")
    await api.cache_selector("c.example", "login", "#login", ["text=Log in"])
    text = await api.get_context_for_prompt("c.example", max_chars=400)
    assert 0 < len(text) <= 400
    assert text.startswith("Site memory for c.example:")
    assert "1 visit, 100% succeeded; load p50 2.00s" in text
    full = await api.get_context_for_prompt("c.example", max_chars=100_000)
    assert 'selector for "login": "#login" (else "text=Log in")' in full


async def test_list_and_forget(api: Api) -> None:
    for url in ("https://b.example", "https://a.example:8443", "http://c.example"):
        await api.record_visit(url, 1.0)
    assert await api.list_sites() == ["a.example:8443", "b.example", "c.example"]
    assert await api.forget("https://b.example/x") is True
    assert await api.forget("https://b.example/x") is False
    assert await api.get_profile("b.example") is None
    assert await api.list_sites() == ["a.example:8443", "c.example"]


async def test_non_sites_raise_value_error(api: Api) -> None:
    for url in ("about:blank", "data:text/html,x", "blob:https://a.com/1", "chrome://version",
                "file:///tmp/x"):
        with pytest.raises(ValueError):
            await api.record_visit(url, 1.0)
        with pytest.raises(ValueError):
            await api.get_profile(url)


async def test_stats_count_cache_and_writes(api: Api) -> None:
    await api.record_visit("st.example", 1.0)
    await api.get_profile("st.example")
    stats = await api.stats()
    assert stats.writes == 1 and stats.cache_hits >= 1 and stats.lock_waits == 0
    assert await api.flush() == 0


@pytest.mark.parametrize("store_location", ["file"], indirect=True)
async def test_files_and_directories_are_private(api: Api, store_path: Path) -> None:
    await api.record_visit("perm.example", 1.0)
    assert stat.S_IMODE(os.stat(store_path).st_mode) == 0o700
    files = [p for p in store_path.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    dirs = [p for p in store_path.rglob("*") if p.is_dir()]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in dirs)
    (doc,) = store_path.glob("sites/*/perm.example.json")
    assert json.loads(doc.read_text())["visit_count"] == 1


async def test_context_managers(store_path: Path) -> None:
    async with SiteMemory(store_path) as memory:
        await memory.record_visit("cm.example", 1.0)
    with SiteMemory(store_path) as memory:
        memory.record_visit_sync("cm.example", 1.0)
        assert memory.get_profile_sync("cm.example").visit_count == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"duration": 1.7e308}, ValueError), ({"timings": {"load": float("nan")}}, ValueError),
     ({"timings": {"load": 10**400}}, ValueError), ({"error": "bad \udcff"}, ValueError),
     ({"status": 10_000}, ValueError), ({"timings": [1.0]}, TypeError)],
)
async def test_record_visit_rejects_values_that_could_never_be_written(
    api: Api, kwargs: dict[str, object], error: type
) -> None:
    args: dict[str, object] = {"duration": 1.0, **kwargs}
    duration = args.pop("duration")
    with pytest.raises(error):
        await api.record_visit("v.example", duration, **args)
    assert await api.get_profile("v.example") is None


async def test_text_with_lone_surrogates_is_rejected_before_writing(api: Api) -> None:
    with pytest.raises(ValueError):
        await api.record_quirk("u.example", "bad \ud800")
    with pytest.raises(ValueError):
        await api.cache_selector("u.example", "p", "#\ud800")
    with pytest.raises(TypeError):
        await api.cache_action_pattern("u.example", "t", [{"k": "\ud800"}])
    assert await api.get_profile("u.example") is None


async def test_actions_are_kept_as_json_gives_them_back(api: Api) -> None:
    await api.cache_action_pattern("j.example", "t", [{None: (1, 2)}])
    pattern = await api.get_action_pattern("j.example", "t")
    assert pattern.actions == [{"null": [1, 2]}]
