"""Launch options for the browser tests (the package's own browser lookup), and the sync API's
browser fixture.

A sync-API module takes it with ``from ._browser import sync_browser as sync_browser``: it is
registered as ``browser``, overriding conftest's async one for that module.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from sitememory_plugin._browser import CHROMIUM_ARGS, chromium_executable, launch_kwargs

__all__ = ["CHROMIUM_ARGS", "chromium_executable", "launch_kwargs", "sync_browser"]


@pytest.fixture(scope="module", name="browser")
def sync_browser() -> Iterator[Browser]:
    """Chromium through Playwright's sync API, one per test module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(**launch_kwargs())
        yield launched
        launched.close()
