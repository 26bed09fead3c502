"""The action schema of a pattern: steps read in both forms, checked, their placeholders filled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sitememory_plugin import ReplayResult, UnreplayableStep
from sitememory_plugin._core.steps import MAX_WAIT_MS, Step, fill_steps, parse_steps
from sitememory_plugin._core.updates import CachePattern


def stored(actions: list[Any]) -> Sequence[Any]:
    """``actions`` as the memory gives them back (read-only JSON values)."""
    return CachePattern.create("t", actions, 0.0).actions


def test_the_long_and_the_compact_form_are_the_same_steps() -> None:
    long = stored([
        {"action": "fill", "purpose": "search box", "value": "{query}", "selectors": ["#q", "input[name=q]"]},
        {"action": "click", "purpose": "search button", "selector": "#go"},
        {"action": "press", "key": "Enter"},
        {"action": "press", "key": "Tab", "purpose": "search box"},
        {"action": "wait", "ms": 250},
        {"action": "wait", "for": "results"},
        {"action": "goto", "url": "/results"},
    ])
    compact = stored([
        {"fill": ["search box", "{query}", "#q", "input[name=q]"]},
        {"click": ["search button", "#go"]},
        {"press": "Enter"},
        {"press": ["Tab", "search box"]},
        {"wait": 250},
        {"wait": "results"},
        {"goto": "/results"},
    ])
    steps = parse_steps("search", long)
    assert steps == parse_steps("search", compact)
    assert steps[0] == Step(0, "fill", "search box", ("#q", "input[name=q]"), value="{query}")
    assert steps[2] == Step(2, "press", key="Enter")
    assert steps[4].ms == 250 and steps[5].purpose == "results" and steps[6].url == "/results"
    # The compact form takes the long form's names beside it.
    assert parse_steps("t", [{"press": "Enter", "purpose": "search box", "selector": "#q"}]) == [
        Step(0, "press", "search box", ("#q",), key="Enter")
    ]


def test_waits_for_a_url_or_a_load_state_and_a_long_wait_is_capped() -> None:
    steps = parse_steps("t", [
        {"action": "wait", "url": "**/results*"}, {"action": "wait", "load": "networkidle"},
        {"wait": 3_600_000}, {"wait": ["results", "#query", ".found"]},
    ])
    assert (steps[0].url, steps[1].load, steps[2].ms) == ("**/results*", "networkidle", MAX_WAIT_MS)
    assert steps[3] == Step(3, "wait", "results", ("#query", ".found"))


@pytest.mark.parametrize(("actions", "index", "message"), [
    ([{"press": "Enter"}, "click the button"], 1, "a step must be an object, not str"),
    ([{"action": "jump", "purpose": "x"}], 0,
     'the action must be one of fill, click, press, wait, goto, not "jump"'),
    ([{"purpose": "search box"}], 0, "a step names its action"),
    ([{"fill": ["a", "b"], "click": "c"}], 0, "a step names its action"),
    ([{"fill": ["search box"]}], 0, "fill needs a value"),
    ([{"action": "fill", "value": "shoes"}], 0, "fill needs a purpose"),
    ([{"click": "go", "vlaue": "x"}], 0, "click takes purpose, selector, selectors, not vlaue"),
    ([{"click": ["go", "#go"], "purpose": "go"}], 0, "purpose is given twice"),
    ([{"press": "Enter", "selector": "#q"}], 0, "selectors need a purpose"),
    ([{"click": "go", "selectors": "#go"}], 0, "selectors must be a list of str, not str"),
    ([{"click": ["go", 7]}], 0, "selector must be a str, not int"),
    ([{"action": "press"}], 0, "key must be a str, not NoneType"),
    ([{"wait": -1}], 0, "ms must be a number of milliseconds >= 0"),
    ([{"wait": [1, 2]}], 0, "wait takes at most 1 argument"),
    ([{"action": "wait", "ms": 5, "for": "results"}], 0, "wait takes one of ms, for, url or load"),
    ([{"action": "wait", "load": "done"}], 0, "load must be one of load, domcontentloaded, networkidle"),
    ([{"goto": "//evil.example/"}], 0, "goto needs a path (/...) or an http(s) URL"),
    ([{"goto": "javascript:alert(1)"}], 0, "goto needs a path"),
    ([{"fill": ["search box", "{query"]}], 0, "has a lone '{': write '{{' for a brace"),
    ([{"fill": ["search box", "a } b"]}], 0, "has a lone '}'"),
])
def test_a_step_outside_the_schema_is_named(actions: list[Any], index: int, message: str) -> None:
    named = f"^step {index + 1} of 'search' .*cannot be replayed"
    with pytest.raises(UnreplayableStep, match=named) as raised:
        parse_steps("search", stored(actions))
    assert message in str(raised.value)
    assert (raised.value.task, raised.value.index) == ("search", index)


def test_placeholders_are_filled_braces_escaped_and_a_url_encoded() -> None:
    steps = parse_steps("t", [
        {"fill": ["search box", "{query} in {{size}} {n}"]},
        {"goto": "/results?q={query}&page={n}"},
        {"action": "wait", "url": "**/{results,found}*"},  # a glob's braces are Playwright's
    ])
    assert [s.placeholders() for s in steps] == [["query", "n"], ["query", "n"], []]
    filled = fill_steps("t", steps, {"query": "red & blue/shoes", "n": 2, "unused": "x"})
    assert filled[0].value == "red & blue/shoes in {size} 2"
    assert filled[1].url == "/results?q=red%20%26%20blue%2Fshoes&page=2"
    assert filled[2].url == "**/{results,found}*"
    assert steps[0].value == "{query} in {{size}} {n}"  # the remembered step is left as it was


def test_a_missing_value_names_the_step_and_the_value() -> None:
    steps = parse_steps("search", [{"press": "Tab"}, {"fill": ["search box", "{query}"]}])
    missing = r"step 2 of 'search' .* needs a value for \{query\}"
    with pytest.raises(UnreplayableStep, match=missing) as raised:
        fill_steps("search", steps, {"q": "shoes"})
    assert raised.value.index == 1
    with pytest.raises(TypeError, match="the value 'query' must be a str or a number, not list"):
        fill_steps("search", steps, {"query": ["shoes"]})


def test_a_result_names_the_failed_step() -> None:
    steps = tuple(parse_steps("t", [{"fill": ["a", "x"]}, {"click": "b"}]))
    error = RuntimeError("gone")
    failed = ReplayResult("t", steps, ("#a",), error)
    assert (failed.ok, failed.done, failed.failed_step) == (False, 1, steps[1])
    done = ReplayResult("t", steps, ("#a", "#b"))
    assert (done.ok, done.done, done.failed_step) == (True, 2, None)
