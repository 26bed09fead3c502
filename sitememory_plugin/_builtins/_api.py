"""Which Playwright API a page object belongs to."""

from __future__ import annotations

import inspect
from typing import Any


def is_async(page: Any) -> bool:
    """True for a page of Playwright's async API (its methods are coroutine functions)."""
    return inspect.iscoroutinefunction(getattr(page, "goto", None))
