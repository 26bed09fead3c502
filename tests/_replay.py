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

#: Patterns whose second step cannot be replayed, the values given, and the error's message: the
#: first step, which would work, must not run either.
UNREPLAYABLE: list[tuple[list[object], dict[str, str], str]] = [
    ([{"fill": ["search box", "x", "#search"]}, {"action": "jump"}], {},
     r"step 2 of 'bad' .* cannot be replayed"),
    ([{"fill": ["search box", "x", "#search"]}, {"fill": ["search box", "{query}"]}], {},
     r"step 2 of 'bad' .* needs a value for \{query\}"),
    ([{"fill": ["search box", "x", "#search"]}, {"goto": "http://elsewhere.example/"}], {},
     r"step 2 of 'bad' \(goto 'http://elsewhere.example/'\) leaves 127\.0\.0\.1"),
]


def evidence(pattern: ActionPattern | None) -> tuple[int, int]:
    """The pattern's confirmations (times cached or confirmed) and contradictions."""
    assert pattern is not None
    return pattern.times_cached, pattern.contradictions
