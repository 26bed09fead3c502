"""A plugin registered through the ``sitememory`` entry-point group (a test distribution)."""

from __future__ import annotations

from sitememory_plugin import Visit, hookimpl

visits: list[tuple[str, int | None]] = []


@hookimpl
def sitememory_after_navigation(key: str, visit: Visit) -> None:
    visits.append((key, visit.status))


@hookimpl
def sitememory_prompt_context(lines: list[str]) -> None:
    lines.append("- from the entry-point plugin")
