"""Rate limits: a site's ``Retry-After`` (RFC 9110, section 10.2.3) read as a pause, and the
texts of the quirk it leaves.

A 429 (Too Many Requests) or 503 (Service Unavailable) with a ``Retry-After`` asks every client
to wait: the store keeps that as the site's pause (``SiteProfile.paused_until``) and a quirk, so
every agent sharing the store waits, not only the one that was told.
"""

from __future__ import annotations

import math
import re
from datetime import UTC
from email.utils import parsedate_to_datetime

from .bounds import MAX_PAUSE

#: The statuses whose ``Retry-After`` is a rate limit (RFC 6585 section 4; RFC 9110 15.6.4).
RATE_LIMIT_STATUSES = frozenset({429, 503})

#: The quirk a rate limit leaves; one text per status, so that every 429 counts on one quirk.
WORKAROUND = "wait until the pause is over before navigating to the site again (Retry-After)"

_DELAY = re.compile(r"[0-9]+")


def quirk_description(status: int) -> str:
    """The description of the quirk a rate limit with ``status`` records."""
    return f"rate limited: HTTP {status} with Retry-After"


def retry_after_of(status: object, value: str | None, date: str | None, now: float) -> float | None:
    """The seconds a response with ``status`` asks to wait: its ``Retry-After`` (``value``, with
    its ``Date``) if it is a rate limit (:data:`RATE_LIMIT_STATUSES`), else ``None``."""
    return retry_after_seconds(value, now, date) if status in RATE_LIMIT_STATUSES else None


def retry_after_seconds(value: str | None, now: float, date: str | None = None) -> float | None:
    """Seconds to wait that a ``Retry-After`` field value asks for, at most :data:`MAX_PAUSE`;
    ``None`` for a value that is neither delay-seconds nor an HTTP-date (junk is ignored).

    delay-seconds is ``1*DIGIT`` only: ``-5``, ``1.5`` or ``+5`` are junk. An HTTP-date (the
    preferred IMF-fixdate, or the obsolete RFC 850 and asctime forms a recipient must accept) is
    counted from the response's ``Date`` when it has one, so the server's clock and ours need
    not agree, else from ``now``; a date already past is 0.

    :param now: when the response was received, seconds since the epoch.
    :param date: the response's ``Date`` field value, if any.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY.fullmatch(text):
        # A huge number is a cap, not a junk value; its digits are not converted (int() of
        # thousands of digits is slow, and refused past sys.get_int_max_str_digits()).
        return MAX_PAUSE if len(text) > 9 else min(MAX_PAUSE, float(int(text)))
    when = _http_date(text)
    if when is None:
        return None
    sent = _http_date(date.strip()) if date is not None else None
    return min(MAX_PAUSE, max(0.0, when - (now if sent is None else sent)))


def _http_date(text: str) -> float | None:
    """Seconds since the epoch of an HTTP-date, else ``None``."""
    if not text or len(text) > 64:
        return None
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:  # the asctime form names no zone: HTTP-dates are GMT
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return seconds if math.isfinite(seconds) else None


def latest_pause(a: tuple[float | None, float | None], b: tuple[float | None, float | None]
                 ) -> tuple[float | None, float | None]:
    """Of two pauses ``(paused_at, paused_until)``, the one set by the later response (a tie:
    the longer), so that applying rate limits in any order, and merging, agree.

    The latest response says when the site takes requests again, whether that is sooner or
    later than an earlier one said.
    """
    def key(p: tuple[float | None, float | None]) -> tuple[float, float]:
        at, until = p
        return (-math.inf if at is None else at, -math.inf if until is None else until)
    return a if key(a) >= key(b) else b
