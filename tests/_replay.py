"""What the replay tests of both APIs share: a search pattern, and a pattern's evidence."""

from __future__ import annotations

from typing import Any

from sitememory_plugin import ActionPattern

#: Fill the search box, press Enter on the page, wait for the results page.
SEARCH: list[dict[str, Any]] = [
    {"fill": ["search box", "{query}"]},
    {"press": "Enter"},
    {"action": "wait", "url": "**/results*"},
]


def evidence(pattern: ActionPattern | None) -> tuple[int, int]:
    """The pattern's confirmations (times cached or confirmed) and contradictions."""
    assert pattern is not None
    return pattern.times_cached, pattern.contradictions
