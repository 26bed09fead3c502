"""``attach()``: join a Playwright ``BrowserContext`` or ``Page`` to a site memory.

The one place that tells the two APIs apart: the handle class it picks carries the driver of
the flows and the I/O for the rest of the handle's life.
"""

from __future__ import annotations

from typing import Any, overload

import pluggy
from playwright.async_api import BrowserContext as AsyncBrowserContext
from playwright.async_api import Page as AsyncPage
from playwright.sync_api import BrowserContext as SyncBrowserContext
from playwright.sync_api import Page as SyncPage

from .._memory import SiteMemory
from .._plugins import get_plugin_manager
from .async_site import AsyncSite
from .sync_site import SyncSite


@overload
def attach(
    target: AsyncBrowserContext | AsyncPage, memory: SiteMemory | None = None, *,
    plugins: pluggy.PluginManager | None = None,
) -> AsyncSite: ...


@overload
def attach(
    target: SyncBrowserContext | SyncPage, memory: SiteMemory | None = None, *,
    plugins: pluggy.PluginManager | None = None,
) -> SyncSite: ...


def attach(
    target: Any, memory: SiteMemory | None = None, *, plugins: pluggy.PluginManager | None = None
) -> AsyncSite | SyncSite:
    """Record every navigation of ``target`` in ``memory`` and consult it before actions.

    ``target`` is a ``BrowserContext`` (its pages, including ones opened later) or a ``Page``,
    from Playwright's async or sync API. With the async API, await the result (or use it with
    ``async with``); with the sync API it is attached when this returns (``with`` works too).
    The handle's ``detach()`` undoes it.

    :param memory: the memory to use; default a :class:`SiteMemory` at the default path, closed
        on ``detach()``.
    :param plugins: the plugin manager; default :func:`get_plugin_manager`.
    """
    owns = memory is None
    chosen = SiteMemory() if memory is None else memory
    manager = plugins if plugins is not None else get_plugin_manager()
    if isinstance(target, AsyncBrowserContext | AsyncPage):
        return AsyncSite(
            target, chosen, manager, owns_memory=owns, is_context=isinstance(target, AsyncBrowserContext)
        )
    if isinstance(target, SyncBrowserContext | SyncPage):
        site = SyncSite(
            target, chosen, manager, owns_memory=owns, is_context=isinstance(target, SyncBrowserContext)
        )
        site._open()
        return site
    if owns:
        chosen.close_sync()
    raise TypeError(f"attach() takes a Playwright BrowserContext or Page, not {type(target).__name__}")
