"""The action schema of a remembered pattern: each step read and checked, its placeholders filled.

A pattern's actions are JSON values; those ``site.replay`` can perform are objects with an
``"action"`` (long form) or with the action's name as a key (compact form, its value the
action's arguments in order: ``{"fill": ["search box", "{query}"]}``, ``{"press": "Enter"}``)::

    fill   purpose, value, [selector | selectors]    the element for purpose filled with value
    click  purpose, [selector | selectors]            the element for purpose clicked
    press  key, [purpose, selector | selectors]       key pressed on that element, else on the page
    wait   ms | for, [selector | selectors] | url | load
                                                      one of: ms to wait (at most MAX_WAIT_MS),
                                                      a purpose to wait visible (compact: a str),
                                                      a URL glob, a load state
    goto   url                                        a URL of the same site, or a path ("/...")

The selectors a step names are tried after the ones remembered for its purpose. ``{name}`` in a
fill's value or a goto's URL is a placeholder, filled from the values the replay is given (in a
URL percent-encoded); ``{{`` and ``}}`` are literal braces. Pure: no browser, no store.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from .bounds import MAX_PURPOSE, MAX_SELECTOR, check_text
from .errors import UnreplayableStep
from .frozen import thaw

ACTIONS = ("fill", "click", "press", "wait", "goto")
#: The longest wait a step may ask for, in ms; a longer one waits this long.
MAX_WAIT_MS = 10_000
LOAD_STATES = ("load", "domcontentloaded", "networkidle")

#: Each action's arguments in the order the compact form gives them (the last may repeat:
#: more selectors), and the names it accepts.
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "fill": ("purpose", "value", "selectors"),
    "click": ("purpose", "selectors"),
    "press": ("key", "purpose", "selectors"),
    "wait": ("ms",),  # a number; a str: a purpose to wait for, and its selectors (see _compact)
    "goto": ("url",),
}
_NAMES: dict[str, frozenset[str]] = {
    "fill": frozenset({"purpose", "value", "selector", "selectors"}),
    "click": frozenset({"purpose", "selector", "selectors"}),
    "press": frozenset({"key", "purpose", "selector", "selectors"}),
    "wait": frozenset({"ms", "for", "url", "load", "selector", "selectors"}),
    "goto": frozenset({"url"}),
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
_MAX_KEY = 100
_MAX_URL = 2000


@dataclass(frozen=True)
class Step:
    """One step of a pattern, as :func:`parse_steps` reads it; ``index`` is its position."""

    index: int
    action: str
    #: The element it acts on (fill, click, a press on an element) or waits for.
    purpose: str | None = None
    #: Selectors the step itself names, tried after the remembered ones for ``purpose``.
    selectors: tuple[str, ...] = ()
    value: str | None = None
    key: str | None = None
    ms: float | None = None
    url: str | None = None
    load: str | None = None

    def __str__(self) -> str:
        if self.action == "fill":
            return f"fill {self.purpose!r} with {self.value!r}"
        if self.action == "press":
            return f"press {self.key!r}" + (f" on {self.purpose!r}" if self.purpose else "")
        if self.action == "click":
            return f"click {self.purpose!r}"
        if self.action == "goto":
            return f"goto {self.url!r}"
        if self.purpose is not None:
            return f"wait for {self.purpose!r}"
        if self.url is not None:
            return f"wait for the URL {self.url!r}"
        if self.load is not None:
            return f"wait for the {self.load!r} state"
        return f"wait {self.ms:g} ms"

    def placeholders(self) -> list[str]:
        """The names of the placeholders in the step's value or goto URL (a wait's URL is a glob,
        whose braces are Playwright's)."""
        url = self.url if self.action == "goto" else None
        return [name for text in (self.value, url) if text for name in _names(text)]

    def filled(self, values: Mapping[str, str]) -> Step:
        """The step with its placeholders filled from ``values`` (each one present)."""
        value = None if self.value is None else _fill(self.value, values, str)
        url = self.url
        if self.action == "goto" and url is not None:
            url = _fill(url, values, lambda v: quote(v, safe=""))
        return replace(self, value=value, url=url)


@dataclass(frozen=True)
class ReplayResult:
    """What ``site.replay(task)`` did: the pattern's ``steps`` (as remembered, placeholders not
    filled in), the selector each step done used (``None`` for a key pressed on the page, a
    wait without a purpose, a goto), and the error of the step that failed, if one did."""

    task: str
    steps: tuple[Step, ...]
    selectors: tuple[str | None, ...]
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def done(self) -> int:
        """How many steps were done."""
        return len(self.selectors)

    @property
    def failed_step(self) -> Step | None:
        return None if self.error is None else self.steps[self.done]


def parse_steps(task: str, actions: Sequence[Any]) -> list[Step]:
    """Every action of a pattern as a :class:`Step`.

    :raises UnreplayableStep: an action is not in the schema; it names the first such step.
    """
    steps = []
    for index, raw in enumerate(actions):
        try:
            steps.append(parse_step(index, raw))
        except (TypeError, ValueError) as exc:
            raise UnreplayableStep(
                f"step {index + 1} of {task!r} ({_show(raw)}) cannot be replayed: {exc}", task, index
            ) from None
    return steps


def fill_steps(task: str, steps: Sequence[Step], values: Mapping[str, Any] | None) -> list[Step]:
    """``steps`` with their placeholders filled from ``values`` (str, or numbers as text).

    :raises UnreplayableStep: a placeholder has no value; it names the step and the value.
    :raises TypeError: a value is neither a str nor a number.
    """
    given: dict[str, str] = {}
    for name, value in (values or {}).items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"the value {name!r} must be a str or a number, not {type(value).__name__}")
        given[name] = str(value)
    for step in steps:
        for name in step.placeholders():
            if name not in given:
                raise UnreplayableStep(
                    f"step {step.index + 1} of {task!r} ({step}) needs a value for {{{name}}}: "
                    f"pass values={{{name!r}: ...}}", task, step.index,
                )
    return [step.filled(given) for step in steps]


def parse_step(index: int, raw: Any) -> Step:
    """One action as a :class:`Step`; a ``TypeError`` or ``ValueError`` says what is wrong."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"a step must be an object, not {_kind(raw)}")
    args = _long(raw) if "action" in raw else _compact(raw)
    action = args.pop("action")
    unknown = sorted(set(args) - _NAMES[action])
    if unknown:
        raise ValueError(
            f"{action} takes {', '.join(sorted(_NAMES[action]))}, not {', '.join(unknown)}"
        )
    selectors = _selectors(args)
    purpose = args.get("for") if action == "wait" else args.get("purpose")
    if purpose is not None:
        purpose = check_text("purpose", purpose, MAX_PURPOSE)
    elif selectors:
        raise ValueError("selectors need a purpose, so their outcomes are remembered for it")
    step = Step(index, action, purpose, selectors)
    if action in ("fill", "click") and purpose is None:
        raise ValueError(f"{action} needs a purpose")
    if action == "fill":
        value = args.get("value")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"fill needs a value (a str), not {_kind(value)}")
        return replace(step, value=_template("value", str(value)))
    if action == "press":
        return replace(step, key=check_text("key", args.get("key"), _MAX_KEY))
    if action == "goto":
        url = _template("url", check_text("url", args.get("url"), _MAX_URL))
        if not (url.startswith("/") and not url.startswith("//")) and not re.match(r"https?://", url, re.I):
            raise ValueError(f"goto needs a path (/...) or an http(s) URL of the site, not {url!r}")
        return replace(step, url=url)
    if action == "wait":
        return _wait(step, args)
    return step


def _long(raw: Mapping[str, Any]) -> dict[str, Any]:
    action = raw["action"]
    if action not in ACTIONS:
        raise ValueError(f"the action must be one of {', '.join(ACTIONS)}, not {_show(action)}")
    return dict(raw)


def _compact(raw: Mapping[str, Any]) -> dict[str, Any]:
    named = [k for k in raw if k in ACTIONS]
    if len(named) != 1:
        raise ValueError(
            f"a step names its action: {{\"action\": ...}} or one key of {', '.join(ACTIONS)}"
        )
    action = named[0]
    args: dict[str, Any] = {k: v for k, v in raw.items() if k != action}
    given = raw[action]
    positional = list(given) if isinstance(given, Sequence) and not isinstance(given, str) else [given]
    names = _POSITIONAL[action]
    if action == "wait" and positional and isinstance(positional[0], str):
        names = ("for", "selectors")  # a purpose to wait for, not a number of ms
    if len(positional) > len(names) and names[-1] != "selectors":
        raise ValueError(f"{action} takes at most {len(names)} argument(s) in the compact form")
    for i, name in enumerate(names):
        value: Any = positional[i:] if name == "selectors" else (
            positional[i] if i < len(positional) else None)
        if value is None or value == []:
            continue
        if name in args:
            raise ValueError(f"{name} is given twice")
        args[name] = value
    args["action"] = action
    return args


def _selectors(args: Mapping[str, Any]) -> tuple[str, ...]:
    many = args.get("selectors", ())
    if isinstance(many, str) or not isinstance(many, Sequence):
        raise TypeError(f"selectors must be a list of str, not {_kind(many)}")
    one = args.get("selector")
    items = ([one] if one is not None else []) + list(many)
    return tuple(dict.fromkeys(check_text("selector", s, MAX_SELECTOR) for s in items))


def _wait(step: Step, args: Mapping[str, Any]) -> Step:
    kinds = [k for k in ("ms", "for", "url", "load") if args.get(k) is not None]
    if len(kinds) != 1:
        raise ValueError("wait takes one of ms, for, url or load")
    if kinds == ["ms"]:
        ms = args["ms"]
        if isinstance(ms, bool) or not isinstance(ms, int | float) or not math.isfinite(ms) or ms < 0:
            raise ValueError(f"ms must be a number of milliseconds >= 0, not {_show(ms)}")
        return replace(step, ms=float(min(ms, MAX_WAIT_MS)))
    if kinds == ["url"]:
        return replace(step, url=check_text("url", args["url"], _MAX_URL))
    if kinds == ["load"]:
        load = args["load"]
        if load not in LOAD_STATES:
            raise ValueError(f"load must be one of {', '.join(LOAD_STATES)}, not {_show(load)}")
        return replace(step, load=load)
    return step  # for: the purpose, read already


def _template(name: str, text: str) -> str:
    """``text`` if its braces are placeholders or escaped ones."""
    for match in _TOKEN.finditer(text):
        if match.group(0) in "{}":
            raise ValueError(
                f"the {name} {text!r} has a lone {match.group(0)!r}: write {match.group(0) * 2!r} "
                "for a brace, {name} for a value"
            )
    return text


def _names(text: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(text) if m.group(1)]


def _fill(text: str, values: Mapping[str, str], encode: Callable[[str], str]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group(1):
            return encode(values[match.group(1)])
        return token[0]  # "{{" or "}}"

    return _TOKEN.sub(one, text)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _show(value: Any, limit: int = 120) -> str:
    """A step as JSON text, shortened, for an error message."""
    try:
        text = json.dumps(thaw(value), ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
