"""The site key of a URL as the plugins see it: the first ``sitememory_site_key`` answer, else
the core's host-based key. Shared by the handles and the MCP server, so that an agent's tool
calls and the recorder of its browser file what they learn under the same key."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from ._core.errors import PluginError
from ._core.keys import site_key
from ._hookcall import call_sync
from ._hooktypes import SiteUpdates


def site_updates(plugins: pluggy.PluginManager, url: str, add: Callable[[SiteUpdates], None]) -> SiteUpdates:
    """The updates ``add`` makes for the site of ``url``, under the plugins' site key, sealed:
    what an integration writes in one update (``memory._apply(updates.key, tuple(updates))``).

    :raises ValueError, TypeError: ``url`` names no web site, or ``add`` gave a bad value (each
        is checked as it is added: nothing is written).
    :raises PluginError: a plugin's site key failed.
    """
    updates = SiteUpdates(plugin_site_key(plugins, url))
    add(updates)
    updates.seal()
    return updates


def plugin_site_key(plugins: pluggy.PluginManager, url: str) -> str:
    """The site key of ``url``.

    :raises ValueError: the URL names no web site.
    :raises PluginError: a plugin raised, or answered something that is not a site key.
    """
    answers = call_sync(plugins, "sitememory_site_key", firstresult=True, url=url)
    if not answers:
        return site_key(url)
    plugin, answer = answers[0]
    try:
        valid = isinstance(answer, str) and site_key(answer) == answer
    except ValueError:
        valid = False
    if not valid:
        raise PluginError(
            f"plugin {plugin!r}: sitememory_site_key answered {answer!r} for {url!r}, "
            "which is not a site key",
            plugin, "sitememory_site_key",
        )
    return str(answer)
