"""Where a browser goes: the host and port of a special URL, as the WHATWG URL standard parses them.

Only what a site key needs: the authority of an ``http``/``https``/``ws``/``wss`` URL and its host
(percent-decoding, UTS 46 mapping, A-label checks, IPv4 and IPv6 forms). Section names in the
comments are those of https://url.spec.whatwg.org/.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote_to_bytes

import idna

# Special authority ignore slashes state, then the authority state: the authority of a special URL
# starts after any run of "/" and "\" and ends at the first "/", "\", "?" or "#".
_AUTHORITY = re.compile(r"[/\\]*([^/\\?#]*)")
# "ends in a number checker": the last label is ASCII digits or "0x" and hex digits.
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
# An IPv4 address as the standard serialises it, so the usual spelling needs no parsing.
_BYTE = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED = re.compile(rf"(?:{_BYTE}\.){{3}}{_BYTE}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_OCTAL = re.compile(r"[0-7]+")
# Bidi classes that make a domain a "Bidi domain name" (RFC 5893, section 1.4).
_RTL = frozenset({"R", "AL", "AN"})


def authority(rest: str) -> tuple[str, str]:
    """Host and port text of a special URL, given what follows its ``scheme:``.

    The userinfo (everything up to the authority's last ``@``) is dropped; the port text is ``""``
    when there is none. Raises :class:`ValueError` for an unclosed IPv6 literal or text between it
    and the port.
    """
    match = _AUTHORITY.match(rest)
    assert match is not None  # both parts of the pattern accept the empty string
    auth = match.group(1)
    if "@" in auth:
        auth = auth.rpartition("@")[2]
    if not auth.startswith("["):
        host, _, port = auth.partition(":")
        return host, port
    # Host state: a ":" inside brackets is part of the IPv6 address, not the port's start.
    end = auth.find("]") + 1
    if not end:
        raise ValueError("unclosed IPv6 address")
    host, after = auth[:end], auth[end:]
    if after and after[0] != ":":
        raise ValueError("invalid host")
    return host, after[1:]


def port(text: str) -> int | None:
    """The port number of ``text`` (ASCII digits, at most 65535), ``None`` for ``""``."""
    if not text:
        return None
    digits = text.lstrip("0") or "0"
    # Any number of leading zeros is allowed; more than five other digits is out of range.
    if not (text.isascii() and text.isdigit()) or len(digits) > 5 or int(digits) > 65535:
        raise ValueError("invalid port")
    return int(digits)


def host(text: str) -> str:
    """The host a browser would use for the host text of a special URL (host parser).

    An IPv4 address comes back in dotted decimal, an IPv6 address compressed in brackets, a domain
    lower-cased with every label ASCII (U-labels converted, A-labels checked) and its trailing dot
    kept. Stricter than the standard in one way: U-labels and A-labels are IDNA 2008 (no ``☕``).
    Characters the standard forbids in a domain (``<``, ``%``, ``^`` ...) are left for the caller's
    label rule to refuse. Raises :class:`ValueError` when a browser would refuse the host too.
    """
    if not text:
        raise ValueError("no host")
    if text[0] == "[":
        if text[-1] != "]":
            raise ValueError("unclosed IPv6 address")
        return f"[{_ipv6(text[1:-1])}]"
    if "%" in text:
        text = _percent_decode(text)
    if text.isascii():
        domain = text.lower()  # the whole of UTS 46 mapping for ASCII
        if "xn--" in domain:
            domain = _to_ascii(domain)
    else:
        domain = _to_ascii(_map(text))
    if _ends_in_number(domain):
        return _ipv4(domain)
    return domain


def _percent_decode(text: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeError:
        # The standard decodes with replacement, and U+FFFD is no domain character: refused either way.
        raise ValueError("host is not UTF-8 once percent-decoded") from None


def _map(text: str) -> str:
    """UTS 46 mapping, non-transitional, without STD3 rules: case folded, ``。`` to ``.``, NFC."""
    try:
        return idna.uts46_remap(text, std3_rules=False)  # non-transitional is idna's default
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"invalid host name ({_cut(exc)})") from None


def _to_ascii(domain: str) -> str:
    """Domain to ASCII for a mapped domain: U-labels to A-labels, A-labels checked, CheckBidi."""
    labels = domain.split(".")
    unicode_labels = list(labels)
    bidi = False
    try:
        for i, label in enumerate(labels):
            if label.isascii():
                if label.startswith("xn--"):
                    # Must be the Punycode of a valid label: "xn--a" (U+0080) is not.
                    unicode_labels[i] = decoded = idna.ulabel(label)
                    # idna checks these two itself only since 3.x: the label is not ASCII, and this is
                    # its one spelling ("xn---bbk" decodes as "xn--bbk" does).
                    if decoded.isascii() or decoded.encode("punycode").decode("ascii") != label[4:]:
                        raise ValueError(f"invalid host name ({label!r} is not a canonical A-label)")
                    bidi = bidi or _is_rtl(decoded)
                continue
            labels[i] = idna.alabel(label).decode("ascii")
            bidi = bidi or _is_rtl(label)
        if bidi:
            # In a domain with a right-to-left label every label obeys the Bidi Rule, so
            # "1a.<Arabic>" is refused as browsers refuse it.
            for label in unicode_labels:
                if label:
                    idna.check_bidi(label, check_ltr=True)
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValueError(f"invalid host name ({_cut(exc)})") from None
    return ".".join(labels)


def _is_rtl(label: str) -> bool:
    return any(unicodedata.bidirectional(ch) in _RTL for ch in label)


def _ends_in_number(domain: str) -> bool:
    end = len(domain) - 1 if domain.endswith(".") else len(domain)
    last = domain[domain.rfind(".", 0, end) + 1 : end]
    return bool(last) and last[0] in "0123456789" and _NUMBER.fullmatch(last) is not None


def _ipv4(domain: str) -> str:
    """IPv4 parser: up to four parts, each decimal, ``0x`` hex or ``0`` octal; the last fills the rest."""
    if _DOTTED.fullmatch(domain):
        return domain
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise ValueError("invalid IPv4 address (more than four parts)")
    numbers = [_ipv4_number(part) for part in parts]
    last = numbers.pop()
    if any(n > 255 for n in numbers) or last >= 256 ** (4 - len(numbers)):
        raise ValueError("invalid IPv4 address (a part is out of range)")
    value = last
    for i, n in enumerate(numbers):
        value += n << (8 * (3 - i))
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _ipv4_number(part: str) -> int:
    """IPv4 number parser: ``0x`` hex, ``0`` octal, else decimal; ``0x`` alone is zero."""
    if not part:
        raise ValueError("invalid IPv4 address (an empty part)")
    if part[0] != "0" or len(part) == 1:
        if not (part.isascii() and part.isdigit()):
            raise ValueError("invalid IPv4 address (a part is not a number)")
        # Beyond 10 digits a decimal is out of range anyway, and int() need not read 5000 of them.
        return int(part) if len(part) <= 10 else 1 << 32
    hexadecimal = part[1] in "xX"
    digits = part[2:] if hexadecimal else part[1:]
    if digits and not (_HEX if hexadecimal else _OCTAL).fullmatch(digits):
        raise ValueError("invalid IPv4 address (a part is not a number)")
    # Any number of leading zeros is allowed; 11 other digits exceed 32 bits in either radix.
    significant = digits.lstrip("0")
    return int(significant or "0", 16 if hexadecimal else 8) if len(significant) <= 11 else 1 << 32


def _ipv6(text: str) -> str:
    """IPv6 parser and serializer: lower-case hex, the first longest run of two or more 0 pieces as ``::``."""
    if "%" in text:
        raise ValueError("invalid IPv6 address (zone identifiers are not part of URLs)")
    try:
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        raise ValueError("invalid IPv6 address") from None
    pieces = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    # Serialized here rather than by ipaddress, whose form for IPv4-mapped addresses differs
    # between Python versions; this is the standard's (and Chromium's) form.
    start, length, run_start = -1, 1, -1
    for i, piece in enumerate([*pieces, 1]):
        if piece == 0:
            run_start = i if run_start < 0 else run_start
        elif run_start >= 0:
            if i - run_start > length:
                start, length = run_start, i - run_start
            run_start = -1
    if start < 0:
        return ":".join(f"{p:x}" for p in pieces)
    head = ":".join(f"{p:x}" for p in pieces[:start])
    tail = ":".join(f"{p:x}" for p in pieces[start + length :])
    return f"{head}::{tail}"


def _cut(exc: BaseException) -> str:
    """An IDNA error's text, cut: it quotes the label, which may be long."""
    text = str(exc)
    return text if len(text) <= 120 else text[:120] + "..."
