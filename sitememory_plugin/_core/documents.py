"""Site documents as bytes: the one encoding both backends store, and its checked parsing."""

from __future__ import annotations

import json

from .errors import StoreFormatError
from .models import SiteProfile

_FIELD = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode




def encode(profile: SiteProfile) -> bytes:
    """The document as JSON with one top-level field per line: readable, and written by the C
    encoder (``indent`` would switch json to its pure-Python encoder, three times slower)."""
    fields = ",\n".join(f"{_FIELD(k)}: {_FIELD(v)}" for k, v in profile.to_dict().items())
    return f"{{\n{fields}\n}}\n".encode()


def parse(data: bytes, key: str) -> SiteProfile:
    """Parse a site document; :class:`StoreFormatError` if it is corrupt or not for ``key``."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StoreFormatError(f"not valid JSON: {exc}") from None
    try:
        profile = SiteProfile.from_dict(doc)
    except StoreFormatError:
        raise
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        # Valid JSON of an unexpected shape: as corrupt as bad JSON, never a crash of the reader.
        raise StoreFormatError(f"unreadable site document: {exc!r}") from None
    if profile.domain != key:
        raise StoreFormatError(f"document is for {profile.domain!r}, expected {key!r}")
    return profile
