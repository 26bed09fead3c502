"""How the integrations tell an LLM that a call failed."""

from __future__ import annotations

from .._core.errors import SiteMemoryError


def error_text(exc: BaseException, writes: bool = False) -> str:
    """What went wrong: a bad value's own message, anything else with its type; after a write,
    that nothing was written (a write is checked whole before it is made)."""
    text = str(exc) if isinstance(exc, TypeError | ValueError) and not isinstance(exc, SiteMemoryError) \
        else f"{type(exc).__name__}: {exc}"
    return text + (" (nothing was written)" if writes else "")
