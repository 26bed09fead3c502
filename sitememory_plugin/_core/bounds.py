"""How much a site may hold: limits on every text and collection, checked at the call or kept by
eviction, so that a document stays small and an update cheap whatever agents record.

Text an agent chooses (a purpose, a selector, a quirk) that is too long is refused at the call with
a ``ValueError``; text a browser produced (an error) is shortened instead, since refusing it would
lose the visit. A collection that grows past its limit drops its least useful entry: the least
recently confirmed purpose, quirk or pattern, the lowest-ranked selector candidate. Whatever is
left, a document larger than :data:`MAX_DOC_BYTES` loses its least recently confirmed entries
until it fits (see :func:`~.documents.encode`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: No site document is ever written larger than this.
MAX_DOC_BYTES = 256 * 1024
#: No file or Redis value larger than this is parsed as a document: it is moved aside. Larger
#: than :data:`MAX_DOC_BYTES` so that a document from before the bounds is still read, once.
MAX_READ_BYTES = 64 * 1024 * 1024

#: Longest texts, in characters.
MAX_PURPOSE = 200
MAX_SELECTOR = 1000
MAX_DESCRIPTION = 500
MAX_WORKAROUND = 500
MAX_TASK_TYPE = 200
MAX_TIMING_NAME = 64
MAX_ERROR = 500

#: Largest collections.
MAX_TIMINGS = 16  # per visit
MAX_CANDIDATES = 16  # per purpose: primary and fallbacks
MAX_FALLBACKS = MAX_CANDIDATES - 1  # per cache_selector call: all of them are kept
MAX_PURPOSES = 64
MAX_QUIRKS = 64
MAX_PATTERNS = 32
MAX_ACTIONS = 200  # per pattern
MAX_ACTION_DEPTH = 16  # nesting of a pattern's JSON values
MAX_ACTIONS_BYTES = 16 * 1024  # a pattern's actions as JSON
#: Stores a site keeps separate visit counts for (see :mod:`.ledger`).
MAX_ORIGINS = 16

#: Visits a site's history keeps (see :mod:`.history`), and the longest line of it read.
MAX_HISTORY = 500
MAX_HISTORY_LINE = 2048

#: Longest name of an agent or run kept as an entry's origin (``SiteMemory(agent=...)``).
MAX_ORIGIN_NAME = 100

#: Seconds a stored time may lie ahead of the reader's clock before it is taken as "now".
MAX_CLOCK_SKEW = 86_400.0
#: The longest pause a rate limit sets (``Retry-After``), in seconds: a day. A site asking for
#: more (a daily quota, or a value with a few zeros too many) is asked again after a day; a
#: stored pause further ahead than this (and the clock skew) is read as this long from now.
MAX_PAUSE = 86_400.0


def check_text(name: str, value: object, limit: int, *, allow_empty: bool = False) -> str:
    """``value`` if it is a str of valid Unicode within ``limit`` characters, else a clear error."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters long; at most {limit} are kept")
    if not encodes(value):
        raise ValueError(f"{name} is not valid Unicode (it has a lone surrogate)")
    return value


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis; lone surrogates replaced."""
    text = without_surrogates(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (which no document can hold) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def encodes(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogate), as a document must be."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_DEPTH_WALKED = MAX_ACTION_DEPTH * 4


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0, ``[]`` is 1), without recursion; walking stops
    past four times the limit."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > _DEPTH_WALKED:  # far past the limit: no need to walk further
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def check_actions(actions: list[Any]) -> None:
    """Refuse an action payload too long or too deep to keep."""
    if len(actions) > MAX_ACTIONS:
        raise ValueError(f"a pattern has {len(actions)} actions; at most {MAX_ACTIONS} are kept")
    depth = json_depth(actions)
    if depth > MAX_ACTION_DEPTH:
        deep = str(depth) if depth <= _DEPTH_WALKED else f"more than {_DEPTH_WALKED}"
        raise ValueError(f"actions are nested {deep} deep; at most {MAX_ACTION_DEPTH} levels are kept")


def check_actions_size(encoded: bytes) -> None:
    """Refuse an action payload whose JSON, ``encoded``, is too large to keep."""
    if len(encoded) > MAX_ACTIONS_BYTES:
        raise ValueError(f"actions take {len(encoded)} bytes as JSON; at most {MAX_ACTIONS_BYTES} are kept")
