"""Site keys: which site a URL belongs to, and where that site's file lives."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import quote, unquote, urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Named so that the error says what the caller passed, rather than "bad host".
NO_SITE_SCHEMES = frozenset(
    {"about", "data", "blob", "chrome", "file", "javascript", "mailto", "chrome-extension",
     "devtools", "view-source", "edge", "tel"}
)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_MAX_HOST = 253
# Longest file name we produce; keeps well inside NAME_MAX (255) with the ".json" suffix.
_MAX_NAME = 200


def site_key(url: str) -> str:
    """Return the site key of ``url``: lower-cased IDNA host, ``www.`` folded, non-default port kept.

    A bare host (``"example.com"``) is read as ``http://example.com``. Raises :class:`ValueError`
    for URLs that name no web site (``about:``, ``data:``, ``blob:``, ``chrome:``, ``file:`` ...)
    and for malformed hosts, and :class:`TypeError` for a non-string.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in text):
        raise ValueError(f"URL contains whitespace or control characters: {_show(url)}")
    match = _SCHEME.match(text)
    if match and match.group(1).lower() in NO_SITE_SCHEMES:
        raise ValueError(f"{match.group(1).lower()}: URLs are not web sites: {_show(url)}")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme!r} (expected http or https): {_show(url)}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in URL {_show(url)}") from exc
    host = parts.hostname
    if not host:
        raise ValueError(f"URL has no host: {_show(url)}")
    key = _normalise_host(host, url)
    if port is not None and port != DEFAULT_PORTS[scheme]:
        key = f"{key}:{port}"
    return key


def _normalise_host(host: str, url: str) -> str:
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError as exc:
            raise ValueError(f"invalid IPv6 host in URL {_show(url)}") from exc
    host = host.rstrip(".")  # example.com. is example.com; "." leaves "", refused below
    if host.isascii():
        ascii_host = host.lower()
    else:
        # IDNA 2008 with UTS 46 mapping, as browsers do: faß.de is xn--fa-hia.de, not fass.de.
        try:
            ascii_host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"invalid host name in URL {_show(url)}: {exc}") from None
    if not ascii_host or len(ascii_host) > _MAX_HOST:
        raise ValueError(f"invalid host name in URL {_show(url)}")
    labels = ascii_host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid host name in URL {_show(url)}")
    while labels[0] == "www" and len(labels) > 2:
        labels = labels[1:]  # every leading www., so that a key is its own key
    return ".".join(labels)


#: Starts the name of a hashed file; no host name can start with it ("~" is no host character).
HASHED = "~"


def file_name(key: str) -> str:
    """File name (without directory) of a site key's document; never contains a path separator."""
    name = quote(key, safe="")
    if len(name) > _MAX_NAME or name.startswith("."):
        name = HASHED + hashlib.sha256(key.encode()).hexdigest()
    return name + ".json"


def key_from_file_name(name: str) -> str | None:
    """Inverse of :func:`file_name`; ``None`` when the name is hashed and the key must be read."""
    stem = name.removesuffix(".json")
    if stem.startswith(HASHED):
        return None
    return unquote(stem)


def shard_of(key: str, shards: int) -> int:
    """Stable shard number of a key in ``range(shards)``, the same in every process."""
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % shards


def _show(url: str) -> str:
    """repr of a URL for an error message, cut so a hostile 100 kB string stays readable."""
    return repr(url if len(url) <= 100 else url[:100] + "...")
