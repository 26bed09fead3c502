"""Built-in ``prompt`` plugin: the core's lines about a site for an LLM prompt."""

from __future__ import annotations

from collections.abc import Sequence

from .._core.models import SiteProfile
from .._core.prompt import context_lines
from ..hookspecs import hookimpl


class PromptContext:
    @hookimpl(tryfirst=True)
    def sitememory_prompt_context(
        self, profile: SiteProfile | None, lines: list[str], tasks: Sequence[str], half_life: float
    ) -> None:
        if profile is not None:
            lines.extend(context_lines(profile, half_life=half_life, tasks=tasks))
