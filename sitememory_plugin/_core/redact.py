"""Credentials never stored: passwords and tokens cut out of URLs and error texts.

Browser errors quote the URL they failed on (``net::ERR_... at https://user:pw@host/?token=...``);
what the memory keeps of them must not carry a credential into every agent's prompt.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` or ``scheme://token@``: everything between ``//`` and ``@``. The
#: scheme is not matched: a pattern for it is tried at every start in a run of scheme characters
#: (``a.a.a...``), quadratic in an error text of any length (28 s for 100 KB).
_USERINFO = re.compile(r"://[^/\s?#@]*@")
#: Query or fragment parameters whose names say they carry a secret.
_SECRET_PARAM = re.compile(
    r"(?i)([?&#;](?:[a-z0-9_.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|auth|session"
    r"|sig(?:nature)?|credential|key)[a-z0-9_.-]*)=)[^&#\s\"']*"
)
#: ``Authorization: Basic abc``, ``Bearer abc``.
_AUTHORIZATION = re.compile(r"(?i)(authorization\s*[:=]\s*)(?:[a-z]+\s+)?[^\s,;\"']+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']{8,}")

REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with credentials in URLs and authorization headers replaced by ``***``."""
    if "@" in text:
        text = _USERINFO.sub(f"://{REDACTED}@", text)
    if "=" in text:
        text = _SECRET_PARAM.sub(rf"\1{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)
