"""Strict checks of a site document that comes from outside the store (an import).

Reading what the store holds is lenient (:mod:`.documents` repairs what it can); a file handed to
``import`` is checked first, whole, so that a bad line is refused with its field named and nothing
is written. Every known field must have its type and range; values JSON cannot carry (NaN, lone
surrogates) are refused anywhere. Texts and collections over the bounds are accepted and cut on
the way in, as the store's own documents from before the bounds are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .bounds import MAX_ORIGIN_NAME
from .bounds import encodes as _encodes
from .errors import StoreFormatError
from .ledger import MAX_ORIGIN_ID
from .models import FORMAT, FORMAT_VERSION, document_version

Check = Callable[[Any], str | None]


def check_document(doc: Any) -> None:
    """Raise :class:`StoreFormatError` naming the first field of ``doc`` that is not valid."""
    if not isinstance(doc, dict):
        raise StoreFormatError(f"a site document is a JSON object, not {type(doc).__name__}")
    _values(doc, "")
    if doc.get("format", FORMAT) != FORMAT:
        raise StoreFormatError(f"format: not {FORMAT!r}")
    version = document_version(doc)
    if version is None or not 1 <= version <= FORMAT_VERSION:
        shown = doc.get("version", 1) if version is None else version
        raise StoreFormatError(f"version: {shown!r} is not a version this library reads "
                               f"(1 to {FORMAT_VERSION})")
    fields: dict[str, Check] = {
        "domain": _text, "last_visit": _time, "last_status": _status, "last_error": _optional_text,
        "last_timings": _each(_name_ok, _seconds), "selectors": _each(_name_ok, _selector),
        "quirks": _list(_quirk), "patterns": _each(_name_ok, _pattern), "gone": _bool,
        "paused_until": _time, "paused_at": _time,
    }
    if version == 1:
        fields.update(visit_count=_count, success_count=_count, failure_count=_count,
                      first_visit=_time, load_times_ms=_list(_millis), recent_outcomes=_outcomes)
    else:
        fields.update(visits=_each(_origin_id, _origin), forgotten=_each(_origin_id, _counted),
                      forgotten_at=_time, folded_origins=_each(_origin_id, _counted))
    if "domain" not in doc:
        raise StoreFormatError("domain: missing")
    for name, check in fields.items():
        if name in doc:
            _raise(name, check(doc[name]))


def _raise(path: str, problem: str | None) -> None:
    if problem is not None:
        message = f"{path}{'' if problem.startswith(('.', '[')) else ': '}{problem}"
        raise StoreFormatError(_LONG.sub(lambda m: m.group()[:40] + "...", message))


#: A name in a field's path too long to quote whole (a hostile origin id, say).
_LONG = re.compile(r"[^.\[\]: ]{60,}")


def _values(value: Any, path: str) -> None:
    """Refuse NaN, infinities and lone surrogates anywhere (iteratively: values may nest deep)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if not _encodes(k):
                    raise StoreFormatError(f"{where or 'document'}: a key has a lone surrogate")
                stack.append((v, f"{where}.{k}" if where else k))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise StoreFormatError(f"{where}: {item!r} is not a number JSON can store")
        elif isinstance(item, str) and not _encodes(item):
            raise StoreFormatError(f"{where}: text with a lone surrogate")


# -- checks: each returns None when the value is valid, else what is wrong ------------------


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty string"


def _optional_text(v: Any) -> str | None:
    return None if v is None or isinstance(v, str) else "must be a string or null"


def _name_ok(v: str) -> str | None:
    return None if v.strip() else "a name must not be empty"


def _origin_id(v: str) -> str | None:
    if v.strip() and len(v) <= MAX_ORIGIN_ID:
        return None
    return f"an origin id of 1 to {MAX_ORIGIN_ID} characters"


def _agent(v: Any) -> str | None:
    """An entry's origin: the name of the agent or run that reported it first."""
    if v is None or (isinstance(v, str) and v and len(v) <= MAX_ORIGIN_NAME):
        return None
    return f"must be null or a string of 1 to {MAX_ORIGIN_NAME} characters"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _count(v: Any) -> str | None:
    return None if type(v) is int and v >= 0 else "must be an integer >= 0"


def _positive(v: Any) -> str | None:
    return None if type(v) is int and v >= 1 else "must be an integer >= 1"


def _number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _time(v: Any) -> str | None:
    return None if v is None or (_number(v) and v >= 0) else "must be a time in seconds or null"


def _seconds(v: Any) -> str | None:
    return None if _number(v) and v >= 0 else "must be a number of seconds >= 0"


def _millis(v: Any) -> str | None:
    return None if _number(v) and v >= 0 else "must be milliseconds >= 0"


def _status(v: Any) -> str | None:
    return None if v is None or (type(v) is int and 0 <= v <= 999) else "must be an HTTP status or null"


def _outcomes(v: Any) -> str | None:
    return None if isinstance(v, str) and set(v) <= {"0", "1"} else 'must be a string of "0" and "1"'


def _list(item: Check) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, list):
            return "must be a list"
        for i, x in enumerate(v):
            if (problem := item(x)) is not None:
                return f"[{i}]{'' if problem.startswith('.') else ': '}{problem}"
        return None
    return check


def _each(name: Callable[[str], str | None], item: Check) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return "must be an object"
        for k, x in v.items():
            problem = name(k) or item(x)
            if problem is not None:
                return f".{k}{'' if problem.startswith('.') else ': '}{problem}"
        return None
    return check


def _object(fields: Mapping[str, Check], required: tuple[str, ...] = ()) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, dict):
            return "must be an object"
        for name in required:
            if name not in v:
                return f".{name}: missing"
        for name, field_check in fields.items():
            if name in v and (problem := field_check(v[name])) is not None:
                return f".{name}{'' if problem.startswith(('.', '[')) else ': '}{problem}"
        return None
    return check


def _strings(v: Any) -> str | None:
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        return "must be a list of non-empty strings"
    return None


#: Every entry's evidence beyond its counts (see .evidence): who reported it, and whether it was
#: imported and not yet confirmed here.
_provenance = {"origin": _agent, "imported": _bool}
_contradicted = {"contradictions": _count, "last_contradicted": _time}
_candidate = _object({"ok": _count, "failed": _count, "streak": _count, "first_seen": _time,
                      "last_ok": _time, "last_failed": _time, "remembered": _time, **_provenance})
_selector = _object({"primary": _text, "fallbacks": _strings, "success_count": _count,
                     "failure_count": _count, "candidates": _each(_name_ok, _candidate),
                     "updated_at": _time}, required=("primary",))
_quirk = _object({"description": _text, "workaround": _optional_text, "occurrences": _positive,
                  "first_seen": _time, "last_seen": _time, **_contradicted, **_provenance},
                 required=("description",))
_pattern = _object({"actions": lambda v: None if isinstance(v, list) else "must be a list",
                    "times_cached": _positive, "created_at": _time, "updated_at": _time,
                    **_contradicted, **_provenance},
                   required=("actions",))
_counts = {"visits": _count, "succeeded": _count, "failed": _count, "measured": _count}
_origin = _object({**_counts, "first_visit": _time, "last_visit": _time,
                   "load_times_ms": _list(_millis), "recent_outcomes": _outcomes})
_counted = _object(_counts)
