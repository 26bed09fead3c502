"""Text recorded from websites and agents, made safe to show: in a prompt, a terminal or JSON.

Hidden characters are those that control a terminal or hide, reorder or break text without
being seen: C0 and C1 controls (NUL, ESC, CR, LF, TAB ...), DEL, Unicode format characters
(bidi embeddings, overrides and isolates, LRM/RLM/ALM, zero-width characters, the BOM, tag
characters), the line and paragraph separators, and lone surrogates (which no terminal can
print and which make writing to a UTF-8 stream fail).
"""

from __future__ import annotations

import json
import unicodedata

from .bounds import shorten

_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_hidden(ch: str) -> bool:
    """Whether the character ``ch`` is one of the hidden characters of this module."""
    return unicodedata.category(ch) in _HIDDEN


def inert(text: str) -> str:
    """``text`` without hidden characters: line breaks, tabs and the like become a space, the rest go.

    A space rather than nothing for whitespace, so that ``"a\\nb"`` stays two words.
    """
    if text.isprintable():  # fast path: printable text has none of them
        return text
    return "".join(
        (" " if ch.isspace() else "") if is_hidden(ch) else ch for ch in text
    )


def quoted(text: str, limit: int) -> str:
    """``text`` made inert, whitespace collapsed, cut to ``limit`` characters, in double quotes.

    The quoting is JSON's: a ``"`` or ``\\`` inside is escaped, so nothing inside can close the
    quote, and a reader (an LLM, a person) sees where the recorded text begins and ends.
    """
    return json.dumps(shorten(" ".join(inert(text).split()), limit), ensure_ascii=False)


def visible(text: str) -> str:
    """``text`` with every hidden character shown as its escape (``\\x1b``, ``\\n``, ``\\u202e``).

    For a terminal: a person sees that the text holds them, and the terminal never acts on them.
    """
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if is_hidden(ch) else ch
        for ch in text
    )


def json_visible(dumped: str) -> str:
    """JSON text (from :func:`json.dumps`) with hidden characters in its strings as ``\\uXXXX``.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but leaves DEL, C1 controls
    (``\\x9b`` is a CSI to many terminals), bidi and other format characters as they are. The
    result parses to the same value. Raw line breaks are left alone: in JSON text they can only
    be layout (``indent=``), never part of a string.
    """
    return "\n".join(line if line.isprintable() else _json_escape(line) for line in dumped.split("\n"))


def _json_escape(line: str) -> str:
    out: list[str] = []
    for ch in line:
        if not is_hidden(ch):
            out.append(ch)
        elif ord(ch) > 0xFFFF:  # JSON escapes only 16-bit units: a surrogate pair
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)
