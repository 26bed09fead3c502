"""Site keys: which site a URL belongs to, and where that site's file lives."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, unquote

from . import urls

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Named so that the error says what the caller passed, rather than "bad host".
NO_SITE_SCHEMES = frozenset(
    {"about", "data", "blob", "chrome", "file", "javascript", "mailto", "chrome-extension",
     "devtools", "view-source", "edge", "tel"}
)
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
# Whitespace as str.isspace() has it, C0 controls and DEL.
_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_MAX_HOST = 253
# Longest file name we produce; keeps well inside NAME_MAX (255) with the ".json" suffix.
_MAX_NAME = 200


def site_key(url: str) -> str:
    """Return the site key of ``url``: lower-cased IDNA host, ``www.`` folded, non-default port kept.

    The host and port are the ones a browser would go to (the WHATWG URL standard: ``\\`` ends the
    authority like ``/``, userinfo ends at the last ``@``, ``0x7f.1`` is ``127.0.0.1``). A bare host
    (``"example.com"``) is read as ``http://example.com``, but a port it names is kept: it is a key,
    and a key names a port only where its URL's was not its scheme's default, so that every key
    is its own key (``https://example.com:80`` is ``example.com:80``). Raises :class:`ValueError`
    for URLs that name no web site (``about:``, ``data:``, ``blob:``, ``chrome:``, ``file:`` ...)
    and for malformed hosts, and :class:`TypeError` for a non-string.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if _UNPRINTABLE.search(text):
        raise ValueError(f"URL contains whitespace or control characters: {_show(url)}")
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    if match and scheme in DEFAULT_PORTS:
        rest = text[match.end():]  # "http:x", "http:\\x" and "http:///x" all go to x, as in browsers
    elif scheme in NO_SITE_SCHEMES:
        raise ValueError(f"{scheme}: URLs are not web sites: {_show(url)}")
    elif "://" in text or scheme == "ftp":  # browsers read "ftp:x" as ftp://x/, no web site
        raise ValueError(f"unsupported URL scheme {scheme!r} (expected http or https): {_show(url)}")
    else:
        scheme, rest = "", text  # a bare host ("localhost:3000/x" names no scheme "localhost")
    try:
        host_text, port_text = urls.authority(rest)
        host = urls.host(host_text)
        port = urls.port(port_text)
    except ValueError as exc:
        raise ValueError(f"{exc} in URL {_show(url)}") from None
    key = host if host.startswith("[") else _fold(host, url)
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        key = f"{key}:{port}"
    return key


def _fold(host: str, url: str) -> str:
    """Our label rule on an ASCII domain (or dotted IPv4), then the folding of a trailing dot and ``www.``."""
    if host.endswith("."):
        host = host[:-1]  # example.com. is example.com; "." leaves "", refused below
    if not host or len(host) > _MAX_HOST:
        raise ValueError(f"invalid host name in URL {_show(url)}")
    if not _HOST.fullmatch(host):
        raise ValueError(f"invalid host name in URL {_show(url)}")
    if not host.startswith("www."):
        return host
    labels = host.split(".")
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
