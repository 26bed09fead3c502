"""Site documents as bytes: the one encoding both backends store, and its forgiving parsing.

Writing keeps a document within :data:`~.bounds.MAX_DOC_BYTES` and always encodable: a value
JSON cannot carry (NaN, a lone surrogate: from a hand edit or an older version) is repaired
instead of failing every update of the site. Reading normalises what it can (those values, times
from the future, collections over their bounds) and raises :class:`StoreFormatError` only for
what no version of this library writes, which the store then moves aside. A reader deep in its own
call stack parses as a shallow one would: its recursion limit is never taken for corruption.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from . import bounds
from .bounds import MAX_DOC_BYTES, without_surrogates
from .errors import StoreFormatError
from .frozen import EMPTY, FrozenDict
from .models import (
    ActionPattern,
    Quirk,
    Reader,
    Selector,
    SiteProfile,
    most_confident,
    read_document,
    recency,
)

log = logging.getLogger("sitememory.documents")

_FIELD = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
T = TypeVar("T")


def _encode(profile: SiteProfile) -> bytes:
    """The document as JSON with one top-level field per line: readable, and written by the C
    encoder (``indent`` would switch json to its pure-Python encoder, three times slower).

    Selectors, quirks and patterns are immutable, and most updates change one of them or none:
    each one's JSON is made once and kept with it, so that a large site costs little more to
    update than a small one."""
    doc = profile.to_dict(entries=False)
    gone = doc.pop("gone", None)
    doc["selectors"] = _Raw("{" + ", ".join(f"{_FIELD(p)}: {_json(s)}" for p, s in profile.selectors.items())
                            + "}")
    doc["quirks"] = _Raw("[" + ", ".join(_json(q) for q in profile.quirks) + "]")
    doc["patterns"] = _Raw("{" + ", ".join(f"{_FIELD(t)}: {_json(a)}" for t, a in profile.patterns.items())
                           + "}")
    if gone is not None:
        doc["gone"] = gone
    fields = ",\n".join(f"{_FIELD(k)}: {v if isinstance(v, _Raw) else _FIELD(v)}" for k, v in doc.items())
    return f"{{\n{fields}\n}}\n".encode()


class _Raw(str):
    """JSON text already encoded."""


def _json(entry: Selector | Quirk | ActionPattern) -> str:
    text: str | None = entry.__dict__.get("_json")
    if text is None:
        text = _FIELD(entry.to_dict())
        object.__setattr__(entry, "_json", text)  # a cache: not a field, never compared
    return text


def encode(profile: SiteProfile) -> tuple[SiteProfile, bytes]:
    """``profile`` as it will be stored, and its document: repaired if JSON cannot carry a value,
    and within :data:`MAX_DOC_BYTES` (the least recently confirmed entries dropped)."""
    try:
        data = _encode(profile)
    except (ValueError, UnicodeEncodeError) as exc:
        log.warning("site %s held values JSON cannot store (%s); they were replaced", profile.domain, exc)
        profile = _repaired(profile)
        data = _encode(profile)
    if len(data) > MAX_DOC_BYTES:
        profile = _within_budget(profile, len(data))
        data = _encode(profile)
    return profile, data


def _repaired(profile: SiteProfile) -> SiteProfile:
    doc, _ = sanitized(profile.to_dict())
    return read_document(doc, Reader(None))[0]


def _within_budget(profile: SiteProfile, size: int) -> SiteProfile:
    """Drop the least confident purposes, quirks and patterns (as of the latest time the profile
    knows; ties: the least recently confirmed) until the document fits."""
    seen = [q.evidence.last_seen for q in profile.quirks]
    seen += [p.evidence.last_seen for p in profile.patterns.values()]
    seen += [c.evidence.last_seen for s in profile.selectors.values() for c in s.candidates.values()]
    seen += [s.updated_at for s in profile.selectors.values()]
    now = max((t for t in seen if t is not None), default=0.0)
    entries: list[tuple[float, float, int, str, str]] = []  # (confidence, recency, size, kind, name)
    for purpose, s in profile.selectors.items():
        entries.append((s.confidence(now), recency(s.updated_at), _size(s) + len(purpose), "selector",
                        purpose))
    for q in profile.quirks:
        entries.append((q.confidence(now), recency(q.last_seen), _size(q), "quirk", q.description))
    for task, p in profile.patterns.items():
        entries.append((p.confidence(now), recency(p.updated_at), _size(p) + len(task), "pattern", task))
    entries.sort()
    drop: dict[str, set[str]] = {"selector": set(), "quirk": set(), "pattern": set()}
    excess = size - MAX_DOC_BYTES + 1024  # a margin for separators
    for _, _, entry_size, kind, name in entries:
        if excess <= 0:
            break
        drop[kind].add(name)
        excess -= entry_size
    if profile.domain not in _WARNED:  # once per site and process: a flooded site stays full
        if len(_WARNED) < 1024:
            _WARNED.add(profile.domain)
        log.warning("site %s grew to %d bytes: its least confident entries are dropped to "
                    "keep it within %d", profile.domain, size, MAX_DOC_BYTES)
    trimmed = replace(
        profile,
        selectors=FrozenDict({p: s for p, s in profile.selectors.items() if p not in drop["selector"]}),
        quirks=tuple(q for q in profile.quirks if q.description not in drop["quirk"]),
        patterns=FrozenDict({t: a for t, a in profile.patterns.items() if t not in drop["pattern"]}),
    )
    if excess > 0:  # unknown fields (a newer version's, or a hand edit's) are what is left to drop
        trimmed = replace(trimmed, extra=EMPTY)
    return trimmed


_WARNED: set[str] = set()


def _size(entry: Selector | Quirk | ActionPattern) -> int:
    """Bytes of an entry's JSON (as :func:`_encode` cached it)."""
    return len(_json(entry).encode())


@dataclass(frozen=True)
class Parsed:
    """A parsed document, and what reading it had to repair (empty for a sound document)."""

    profile: SiteProfile
    repaired: tuple[str, ...] = ()


def parse(data: bytes, key: str, now: float | None = None) -> Parsed:
    """Parse a site document; :class:`StoreFormatError` if it is corrupt or not for ``key``.

    With ``now``, times more than :data:`~.bounds.MAX_CLOCK_SKEW` ahead of it are read as ``now``.
    """
    try:
        return _parse(data, key, now)
    except RecursionError:
        # Deep in the reader's own calls: parse where the stack is fresh, as any reader would.
        return _fresh_stack(_parse, data, key, now)


def _parse(data: bytes, key: str, now: float | None) -> Parsed:
    repaired: list[str] = []
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StoreFormatError(f"not valid JSON: {exc}") from None
    if b"NaN" in data or b"Infinity" in data or b"\\u" in data or b"\xed" in data:
        doc, changed = sanitized(doc)
        if changed:
            repaired.append("values JSON cannot store")
    cut = False
    try:
        try:
            profile, clamped = read_document(doc, Reader(now))
        except RecursionError:
            # Reading nests two frames a level: patterns deeper than a stack has room for (the
            # version before the bounds wrote some) are cut as the bounds would cut them, rather
            # than the whole document moved aside.
            shallow = _without_deep_patterns(doc)
            if shallow is doc:
                raise
            profile, clamped = read_document(shallow, Reader(now))
            cut = True
    except StoreFormatError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        # Valid JSON of an unexpected shape: as corrupt as bad JSON, never a crash of the reader.
        raise StoreFormatError(f"unreadable site document: {exc!r}") from None
    if clamped:
        repaired.append("times from the future")
    if profile.domain != key:
        raise StoreFormatError(f"document is for {profile.domain!r}, expected {key!r}")
    bounded = within_bounds(profile)
    if bounded is not profile or cut:
        repaired.append("entries beyond the bounds")
    return Parsed(bounded, tuple(repaired))


def _without_deep_patterns(doc: Any) -> Any:
    """``doc`` without its patterns nested deeper than the bounds keep, or ``doc`` itself if it
    has none (found without recursion)."""
    patterns = doc.get("patterns") if isinstance(doc, dict) else None
    if not isinstance(patterns, dict):
        return doc
    kept = {t: p for t, p in patterns.items() if bounds.json_depth(p) <= bounds.MAX_ACTION_DEPTH + 1}
    return doc if len(kept) == len(patterns) else {**doc, "patterns": kept}


def _fresh_stack(fn: Callable[..., T], *args: Any) -> T:
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except RecursionError:
            errors.append(StoreFormatError("nested deeper than any document this library writes"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="sitememory-parse")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def within_bounds(profile: SiteProfile) -> SiteProfile:
    """``profile`` cut to the bounds (:mod:`.bounds`): over-long texts shortened (selectors, which
    a cut would break, dropped), collections cut to their most recently confirmed entries."""
    selectors = profile.selectors
    if len(selectors) > bounds.MAX_PURPOSES or any(_selector_over(s) for s in selectors.values()):
        kept = {p: fixed for p, s in selectors.items()
                if len(p) <= bounds.MAX_PURPOSE and (fixed := _selector_within(s)) is not None}
        selectors = FrozenDict(most_confident(kept, bounds.MAX_PURPOSES, lambda s: s.updated_at))
    quirks = profile.quirks
    if len(quirks) > bounds.MAX_QUIRKS or any(_quirk_over(q) for q in quirks):
        shortened = [_quirk_within(q) for q in quirks]
        recent = most_confident({str(i): q for i, q in enumerate(shortened)}, bounds.MAX_QUIRKS,
                             lambda q: q.last_seen)
        quirks = tuple(q for i, q in enumerate(shortened) if str(i) in recent)
    patterns = profile.patterns
    if len(patterns) > bounds.MAX_PATTERNS or any(_pattern_over(t, p) for t, p in patterns.items()):
        good = {t: p for t, p in patterns.items() if not _pattern_over(t, p)}
        patterns = FrozenDict(most_confident(good, bounds.MAX_PATTERNS, lambda p: p.updated_at))
    timings = profile.last_timings
    if len(timings) > bounds.MAX_TIMINGS or any(len(k) > bounds.MAX_TIMING_NAME for k in timings):
        timings = FrozenDict(dict(list(
            (k, v) for k, v in timings.items() if len(k) <= bounds.MAX_TIMING_NAME)[:bounds.MAX_TIMINGS]))
    error = profile.last_error
    if error is not None and len(error) > bounds.MAX_ERROR:
        error = bounds.shorten(error, bounds.MAX_ERROR)
    if (selectors is profile.selectors and quirks is profile.quirks and patterns is profile.patterns
            and timings is profile.last_timings and error is profile.last_error):
        return profile
    return replace(profile, selectors=selectors, quirks=quirks, patterns=patterns,
                   last_timings=timings, last_error=error)


def _selector_over(s: Selector) -> bool:
    return len(s.fallbacks) >= bounds.MAX_CANDIDATES or any(
        len(c) > bounds.MAX_SELECTOR for c in s.ranked()) or len(s.candidates) > bounds.MAX_CANDIDATES


def _selector_within(s: Selector) -> Selector | None:
    order = [c for c in s.ranked() if c and len(c) <= bounds.MAX_SELECTOR][: bounds.MAX_CANDIDATES]
    if not order:
        return None
    stats = {c: st for c, st in s.candidates.items() if c in order}
    return replace(s, primary=order[0], fallbacks=tuple(order[1:]), candidates=FrozenDict(stats))


def _quirk_over(q: Quirk) -> bool:
    return len(q.description) > bounds.MAX_DESCRIPTION or len(q.workaround or "") > bounds.MAX_WORKAROUND


def _quirk_within(q: Quirk) -> Quirk:
    if not _quirk_over(q):
        return q
    workaround = None if q.workaround is None else bounds.shorten(q.workaround, bounds.MAX_WORKAROUND)
    description = bounds.shorten(q.description, bounds.MAX_DESCRIPTION)
    return replace(q, description=description, workaround=workaround)


def _pattern_over(task: str, p: ActionPattern) -> bool:
    return (len(task) > bounds.MAX_TASK_TYPE or len(p.actions) > bounds.MAX_ACTIONS
            or bounds.json_depth(p.actions) > bounds.MAX_ACTION_DEPTH)


# -- values JSON cannot carry ------------------------------------------------------------------


def sanitized(doc: Any) -> tuple[Any, bool]:
    """A copy of a JSON value with non-finite numbers as ``None`` and lone surrogates as U+FFFD
    (made without recursion: a document may be nested deep), and whether anything changed."""
    root: list[Any] = [None]
    changed = False
    stack: list[tuple[Any, Any, Any]] = [(doc, root, 0)]
    while stack:
        value, parent, slot = stack.pop()
        if isinstance(value, dict):
            copy: Any = {}
            parent[slot] = copy
            for k, v in value.items():
                name = without_surrogates(k)
                changed = changed or name != k
                copy[name] = None
                stack.append((v, copy, name))
        elif isinstance(value, list):
            copy = [None] * len(value)
            parent[slot] = copy
            stack.extend((v, copy, i) for i, v in enumerate(value))
        elif isinstance(value, str):
            parent[slot] = text = without_surrogates(value)
            changed = changed or text != value
        elif isinstance(value, float) and not math.isfinite(value):
            parent[slot] = None
            changed = True
        else:
            parent[slot] = value
    return root[0], changed

