"""The replay flow: a remembered pattern's steps performed on a page, for both APIs (see ``flows``).

A step that acts on an element goes through ``flows.act``, as ``site.click`` does: the selectors
remembered for its purpose are tried first, best first, then the step's own, every outcome is
recorded and the site's overlays are handled. The replay's outcome is recorded for the pattern:
a confirmation when every step worked, a contradiction when one failed on the page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError  # one class for both APIs

from .._core.errors import ReplayFailed, UnknownTask, UnreplayableStep
from .._core.steps import ReplayResult, Step, fill_steps, parse_steps
from .._drive import Flow
from .._hooktypes import SiteUpdates
from .flows import act, first_line, goto, page_of

if TYPE_CHECKING:
    from .handle import Handle

log = logging.getLogger("sitememory.playwright")


def replay(
    h: Handle, task: str, values: Mapping[str, Any] | None, page: Any, timeout: float | None
) -> Flow[ReplayResult]:
    """Perform the steps remembered for ``task`` on the page's site; every step is checked and
    its placeholders filled before the first runs.

    :raises UnknownTask: no steps are remembered for ``task``.
    :raises UnreplayableStep: a step is not in the schema, lacks a value, or leaves the site.
    :raises ReplayFailed: a step failed on the page (recorded as a contradiction).
    """
    h._open()
    page = yield from page_of(h, page)
    start = page.url
    key = h.key(start)
    profile = yield h._io.read(key)
    pattern = None if profile is None else profile.patterns.get(task)
    if pattern is None:
        known = sorted(profile.patterns) if profile is not None else []
        raise UnknownTask(
            f"no steps known for {task!r} on {key} (known: {', '.join(map(repr, known)) or 'none'}); "
            f"remember them with cache_action_pattern(url, {task!r}, [...])"
        )
    steps = parse_steps(task, pattern.actions)
    todo = fill_steps(task, steps, values)
    for i, step in enumerate(todo):
        if step.action == "goto" and step.url is not None:
            url = urljoin(start, step.url)
            if h.web_key(url) != key:  # a remembered step must not take the agent elsewhere
                raise UnreplayableStep(
                    f"step {i + 1} of {task!r} ({steps[i]}) leaves {key}", task, i
                )
            todo[i] = replace(step, url=url)
    used: list[str | None] = []
    try:
        for step in todo:
            used.append((yield from perform(h, step, page, timeout)))
    except PlaywrightError as exc:
        result = ReplayResult(task, tuple(steps), tuple(used), exc)
        try:
            yield from record(h, key, task, False)
        except Exception as failure:  # the step's error is the one to raise
            log.warning("sitememory: could not record that %r failed on %s: %s", task, key, failure)
        failed = steps[len(used)]
        raise ReplayFailed(
            f"step {failed.index + 1} of {task!r} on {key} ({failed}) failed: {first_line(exc)}",
            result,
        ) from exc
    yield from record(h, key, task, True)
    return ReplayResult(task, tuple(steps), tuple(used))


def perform(h: Handle, step: Step, page: Any, timeout: float | None) -> Flow[str | None]:
    """Do one step (placeholders filled); the selector it used, if it acted on an element."""
    # The locators' methods have the same names and arguments in both APIs, so each perform
    # callable below returns what the flow yields: a result, or an awaitable of it.
    purpose, selectors = step.purpose, step.selectors
    if step.action == "fill":
        value = step.value or ""
        return (yield from act(h, "fill", purpose or "", selectors, page, timeout,
                               lambda loc: loc.fill(value, timeout=timeout)))
    if step.action == "click":
        return (yield from act(h, "click", purpose or "", selectors, page, timeout,
                               lambda loc: loc.click(timeout=timeout)))
    if step.action == "press":
        key = step.key or ""
        if purpose is None:
            yield page.keyboard.press(key)
            return None
        return (yield from act(h, "press", purpose, selectors, page, timeout,
                               lambda loc: loc.press(key, timeout=timeout)))
    if step.action == "goto":
        yield from goto(h, step.url or "", page, h.options(None, None, None), {})
        return None
    if purpose is not None:  # wait for the element to show
        return (yield from act(h, "locator", purpose, selectors, page, timeout, None))
    if step.url is not None:
        yield page.wait_for_url(step.url, timeout=timeout)
    elif step.load is not None:
        yield page.wait_for_load_state(step.load, timeout=timeout)
    elif step.ms:
        yield h._io.sleep(step.ms / 1000)
    return None


def record(h: Handle, key: str, task: str, ok: bool) -> Flow[None]:
    """Record the replay's outcome for the pattern: a confirmation, or a contradiction."""
    updates = SiteUpdates(key)
    updates.record_pattern_result(task, ok)
    yield h._io.write(updates)
