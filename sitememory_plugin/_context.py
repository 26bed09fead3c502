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
from ._drive import Flow
from ._hookcall import call


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


def nothing_known(key: str) -> str:
    """What a tool answers for a site the memory knows nothing about, rather than nothing."""
    return f"The memory knows nothing about {key} yet."
