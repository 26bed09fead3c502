"""Calling hooks with each plugin isolated: one plugin's error never skips another plugin.

pluggy stops a hook call at the first exception, so a user's plugin that raises in
``sitememory_after_navigation`` would silently skip the built-in recorder. Here every
implementation runs, in pluggy's order, and the errors are raised together afterwards as a
:class:`PluginError` naming the plugin. ``NavigationRefused`` in ``before_navigation`` is a
decision, not a failure: it stops the call at once and propagates as it is (in any other hook
it is a failure like any other).

One implementation, driven by ``_drive``: under an asyncio caller results that are awaitable
are awaited, so implementations may be ``async def``; a blocking caller refuses them with a clear
error instead of running an event loop.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pluggy

from ._core.errors import NavigationRefused, PluginError
from ._drive import SYNC_AWAITABLE, Flow, SyncAwaitable, run_async, run_sync
from ._hooktypes import SiteUpdates

log = logging.getLogger("sitememory.hooks")

#: The one hook whose implementations may refuse (raise ``NavigationRefused``) on purpose.
REFUSABLE = "sitememory_before_navigation"


def _ordered(pm: pluggy.PluginManager, hook: str) -> list[Any]:
    # pluggy calls the last registered (and tryfirst) implementation first.
    return list(reversed(getattr(pm.hook, hook).get_hookimpls()))


def _error(hook: str, failures: list[tuple[str, BaseException]]) -> PluginError:
    plugin, exc = failures[0]
    more = f" (and {len(failures) - 1} more: {', '.join(p for p, _ in failures[1:])})" if failures[1:] else ""
    error = PluginError(
        f"plugin {plugin!r} raised in {hook}: {type(exc).__name__}: {exc}{more}", plugin, hook
    )
    error.__cause__ = exc
    return error


def _call_one(impl: Any, kwargs: dict[str, Any]) -> Any:
    return impl.function(*(kwargs[name] for name in impl.argnames))


class _Outcomes:
    """What the implementations of one hook call returned or raised, in call order."""

    def __init__(self, hook: str, firstresult: bool) -> None:
        self.hook = hook
        self.firstresult = firstresult
        self.results: list[tuple[str, Any]] = []
        self.failures: list[tuple[str, BaseException]] = []

    def failed(self, impl: Any, exc: Exception) -> None:
        if self.hook == REFUSABLE and isinstance(exc, NavigationRefused):
            raise exc
        self.failures.append((impl.plugin_name, exc))

    def returned(self, impl: Any, result: Any) -> bool:
        """Keep a result; True when the call is over (the first answer of a firstresult hook)."""
        if result is None:
            return False
        self.results.append((impl.plugin_name, result))
        return self.firstresult

    def finish(self) -> list[tuple[str, Any]]:
        if self.failures:
            raise _error(self.hook, self.failures)
        return self.results


def call(
    pm: pluggy.PluginManager, hook: str, *, firstresult: bool = False, **kwargs: Any
) -> Flow[list[tuple[str, Any]]]:
    """Call every implementation of ``hook``; the non-``None`` results with the plugin's name.

    A flow (see ``_drive``): an implementation's awaitable result is yielded, so the async
    driver awaits it and the sync driver refuses it. Update values an implementation adds to
    ``updates`` are marked as its own, so a write that fails names the plugin that asked for it.
    """
    outcomes = _Outcomes(hook, firstresult)
    updates = kwargs.get("updates")
    for impl in _ordered(pm, hook):
        if isinstance(updates, SiteUpdates):
            updates.author = impl.plugin_name
        try:
            result = _call_one(impl, kwargs)
            if inspect.isawaitable(result):
                try:
                    result = yield result
                except SyncAwaitable:
                    raise TypeError(f"{hook} {SYNC_AWAITABLE}") from None
        except Exception as exc:
            outcomes.failed(impl, exc)
            continue
        if outcomes.returned(impl, result):
            break
    return outcomes.finish()


def call_sync(
    pm: pluggy.PluginManager, hook: str, *, firstresult: bool = False, **kwargs: Any
) -> list[tuple[str, Any]]:
    """:func:`call` in this thread; an ``async def`` implementation is that plugin's error."""
    return run_sync(call(pm, hook, firstresult=firstresult, **kwargs))


async def call_async(
    pm: pluggy.PluginManager, hook: str, *, firstresult: bool = False, **kwargs: Any
) -> list[tuple[str, Any]]:
    """:func:`call` for an asyncio caller: awaitable results are awaited."""
    return await run_async(call(pm, hook, firstresult=firstresult, **kwargs))


def report(error: PluginError) -> None:
    """Log a plugin error that has no caller to raise to (a navigation nobody awaited)."""
    log.error("%s", error, exc_info=error.__cause__)
