"""The two drivers of a flow written once (``_drive``), and the updates after-hooks add.

No browser: a flow here yields what a blocking call or a coroutine returns, as the browser flows
yield Playwright's results.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import PluginError, SiteMemory, SiteUpdates, hookimpl, make_plugin_manager
from sitememory_plugin._core.updates import CacheSelector, SelectorResult, VisitSeen
from sitememory_plugin._drive import Flow, run_async, run_sync
from sitememory_plugin._hookcall import call, call_sync
from sitememory_plugin._playwright.io import WriteQueue
from sitememory_plugin._plugins import builtin_names


def doubled(step: Any) -> Flow[list[Any]]:
    """Yields ``step(n)`` for n in 1..3 and collects what comes back; an error ends it early."""
    got: list[Any] = []
    for n in (1, 2, 3):
        try:
            got.append((yield step(n)))
        except ValueError as exc:
            got.append(f"caught {exc}")
            break
    return got


async def twice(n: int) -> int:
    await asyncio.sleep(0)
    if n == 2:
        raise ValueError("two")
    return n * 2


def test_run_sync_sends_each_value_back() -> None:
    assert run_sync(doubled(lambda n: n * 2)) == [2, 4, 6]


@pytest.mark.asyncio
async def test_run_async_awaits_what_is_awaitable_and_throws_its_error_into_the_flow() -> None:
    assert await run_async(doubled(twice)) == [2, "caught two"]
    assert await run_async(doubled(lambda n: n * 2)) == [2, 4, 6]  # plain values pass through


def test_run_sync_refuses_an_awaitable_inside_the_flow_and_closes_it() -> None:
    coroutine = twice(1)

    def flow() -> Flow[str]:
        try:
            yield coroutine
        except TypeError as exc:
            return str(exc)
        return "not refused"

    message = run_sync(flow())
    assert "sync API" in message and "plain function" in message
    # Closed, so Python never warns that it was not awaited.
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED


@pytest.mark.asyncio
async def test_a_cancelled_run_async_reaches_the_flows_cleanup() -> None:
    cleaned: list[str] = []

    def flow() -> Flow[None]:
        try:
            yield asyncio.sleep(10)
        finally:
            cleaned.append("done")

    task = asyncio.ensure_future(run_async(flow()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["done"]


def test_an_errors_traceback_passes_through_the_driver() -> None:
    def flow() -> Flow[None]:
        yield None
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        run_sync(flow())


# -- hooks as flows ------------------------------------------------------------------------------


class Plain:
    @hookimpl
    def sitememory_after_navigation(self, updates: SiteUpdates) -> None:
        updates.record_visit(0.5, status=200)


class Async:
    @hookimpl
    async def sitememory_after_navigation(self, updates: SiteUpdates) -> None:
        await asyncio.sleep(0)
        updates.cache_selector("search", "#q", ["input[name=q]"])


class Bad:
    @hookimpl
    def sitememory_after_navigation(self, updates: SiteUpdates) -> None:
        updates.record_selector_result("search", "#q" * 1000, True)  # over the selector bound


def manager(*plugins: tuple[str, object]) -> Any:
    pm = make_plugin_manager(disable=builtin_names(), entry_points=False, environment=False)
    for name, plugin in plugins:
        pm.register(plugin, name)
    return pm


@pytest.mark.asyncio
async def test_one_hook_call_awaits_async_implementations_and_marks_each_update_with_its_plugin() -> None:
    pm = manager(("plain", Plain()), ("async", Async()))
    updates = SiteUpdates("shop.example")
    await run_async(call(pm, "sitememory_after_navigation", updates=updates))
    assert sorted(type(u).__name__ for u in updates) == ["CacheSelector", "VisitSeen"]
    assert {a for a, _ in updates._items} == {"plain", "async"}


def test_the_same_call_under_the_sync_api_names_the_async_plugin_and_keeps_the_others_updates() -> None:
    pm = manager(("plain", Plain()), ("async", Async()))
    updates = SiteUpdates("shop.example")
    expected = "'async' raised in sitememory_after_navigation: TypeError"
    with pytest.raises(PluginError, match=expected) as raised:
        call_sync(pm, "sitememory_after_navigation", updates=updates)
    assert raised.value.plugin == "async"
    assert [type(u) for u in updates] == [VisitSeen]


def test_a_bad_value_fails_in_the_hook_that_made_it() -> None:
    pm = manager(("plain", Plain()), ("bad", Bad()))
    updates = SiteUpdates("shop.example")
    expected = "'bad' raised in sitememory_after_navigation: ValueError: selector"
    with pytest.raises(PluginError, match=expected):
        call_sync(pm, "sitememory_after_navigation", updates=updates)
    assert [type(u) for u in updates] == [VisitSeen]  # the good plugin's update is kept


def test_a_failed_write_names_the_plugins_that_asked_for_it() -> None:
    updates = SiteUpdates("shop.example")
    updates.author = "selectors"
    updates.cache_selector("search", "#q")
    updates.record_selector_result("search", "#q", True)
    updates.author = "mine"
    updates.record_quirk("slow search")
    error = updates.failed(TimeoutError("lock"), "sitememory_after_action")
    assert str(error) == "plugins 'selectors', 'mine' failed to write 3 updates: TimeoutError: lock"
    assert (error.plugin, error.hook) == ("selectors", "sitememory_after_action")
    assert isinstance(error.__cause__, TimeoutError)
    one = SiteUpdates("shop.example")
    one.record_visit(1.0)
    assert "'sitememory' failed to write a visit" in str(one.failed(OSError("disk full"), "h"))


def test_site_updates_check_like_site_memory() -> None:
    updates = SiteUpdates("shop.example")
    with pytest.raises(TypeError, match="not a str"):
        updates.cache_selector("search", "#q", "#fallback")
    with pytest.raises(TypeError, match="JSON"):
        updates.cache_action_pattern("search", [object()])
    with pytest.raises(TypeError, match="bool"):
        updates.record_selector_result("search", "#q", "yes")  # type: ignore[arg-type]
    assert len(updates) == 0
    updates.cache_selector("search", "#q", ("#a", "#b"))
    (made,) = updates
    assert made == CacheSelector("search", "#q", ("#a", "#b"), made.at)
    assert not isinstance(made, SelectorResult)



def test_updates_cannot_be_added_once_the_hook_call_is_over() -> None:
    updates = SiteUpdates("shop.example")
    updates.author = "late"
    updates.record_visit(1.0)
    updates.seal()
    assert updates.author is None
    with pytest.raises(RuntimeError, match="inside the hook"):
        updates.record_quirk("too late")
    assert len(updates) == 1


def test_the_sync_refusal_names_the_hook() -> None:
    pm = manager(("async", Async()))
    with pytest.raises(PluginError, match="sitememory_after_navigation returned an awaitable"):
        call_sync(pm, "sitememory_after_navigation", updates=SiteUpdates("shop.example"))


# -- the sync handle's write queue -----------------------------------------------------------------


def test_the_write_queue_survives_a_failure_it_cannot_report(tmp_path: Path) -> None:
    memory, blocker = SiteMemory(tmp_path, lock_timeout=0.2), SiteMemory(tmp_path)
    reported: list[PluginError] = []

    def keep(error: PluginError) -> None:
        reported.append(error)
        raise RuntimeError("the reporter broke too")

    queue = WriteQueue(memory, keep)
    first, second = SiteUpdates("shop.example"), SiteUpdates("shop.example")
    first.record_visit(1.0)
    second.record_visit(2.0)
    with blocker._store.maintenance():  # every lock held: the first write times out
        queue.put(first)
        queue.wait()  # returns: the worker is not stuck
    assert [e.plugin for e in reported] == ["sitememory"] and "LockTimeout" in str(reported[0])
    queue.put(second)
    queue.wait()
    assert memory.get_profile_sync("shop.example").load_times == (2.0,)
    memory.close_sync()
    blocker.close_sync()
