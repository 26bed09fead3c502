"""The text an LLM prompt gets about a site: every plugin's ``sitememory_prompt_context`` lines
(the built-in ``prompt`` plugin's first), made inert and cut at whole lines to the size bound.

One flow for all who show it: the handles' ``prompt_context()``, the MCP server's
``site_context``, the browser-use tools and ``sitememory context``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from ._core.evidence import DEFAULT_HALF_LIFE
from ._core.models import SiteProfile
from ._core.prompt import bounded, check_tasks
from ._drive import Flow, run_async
from ._hookcall import call
from ._memory import SiteMemory
from ._sitekeys import plugin_site_key


def site_context(
    plugins: pluggy.PluginManager, key: str, profile: SiteProfile | None, max_chars: float, *,
    tasks: Iterable[str] = (), half_life: float = DEFAULT_HALF_LIFE,
) -> Flow[str]:
    """The prompt text about the site ``key`` (empty when nothing is known), with the remembered
    steps of ``tasks``."""
    lines: list[str] = []
    yield from call(plugins, "sitememory_prompt_context", key=key, profile=profile, lines=lines,
                    tasks=check_tasks(tasks), half_life=half_life)
    return bounded(lines, max_chars)


async def context_for(
    memory: SiteMemory, plugins: pluggy.PluginManager, url: str, max_chars: float, *,
    tasks: Iterable[str] = (),
) -> str:
    """What an integration whose client is no handle (the MCP server, browser-use's tools) tells
    an LLM about the site of ``url``: :func:`site_context` under the plugins' site key, weighed by
    the memory's half-life, or :func:`nothing_known`.

    :raises ValueError: ``url`` names no web site.
    """
    key = plugin_site_key(plugins, url)
    profile = await memory._profile(key)
    text = await run_async(site_context(plugins, key, profile, max_chars, tasks=tasks,
                                        half_life=memory.half_life))
    return text or nothing_known(key)


def nothing_known(key: str) -> str:
    """What a tool answers for a site the memory knows nothing about, rather than nothing."""
    return f"The memory knows nothing about {key} yet."
