"""What the tests need from the machine: skipped where it is missing, except in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip the test, or fail it in CI (``CI`` set), where ``make test`` must provide it."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
