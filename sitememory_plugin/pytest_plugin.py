"""pytest plugin: a site memory per test, and pytest-playwright's browser context joined to it.

Fixtures:

- ``site_memory``: a :class:`SiteMemory` in the test's ``tmp_path`` (or the shared store given by
  ``--sitememory-store``), closed at teardown. Its sync and async methods both work in tests.
- ``site``: pytest-playwright's ``context`` attached to ``site_memory`` (a :class:`SyncSite`),
  for ``site.goto(url)``, ``site.click(purpose, selector)``; detached at teardown, which also
  raises a plugin error the test left unraised. Needs pytest-playwright (sync API).
- ``sitememory_plugins``: the plugin manager ``site`` uses (default: ``get_plugin_manager()``);
  override it in a ``conftest.py`` to configure plugins.

Options:

- ``--sitememory`` (ini ``sitememory = true``): attach every test that uses pytest-playwright's
  ``context`` or ``page``, so their visits are recorded without changing the tests.
- ``--sitememory-store PATH|URL`` (ini ``sitememory_store``): one store shared by all tests of
  the run (and by several runs, and by pytest-xdist workers) instead of one per test; a Redis
  URL's password is never printed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from playwright.async_api import BrowserContext as AsyncBrowserContext
from playwright.sync_api import BrowserContext as SyncBrowserContext

from ._core.redisconn import redacted
from ._core.storage import is_url
from ._memory import SiteMemory
from ._playwright.attach import attach
from ._playwright.sync_site import SyncSite
from ._plugins import get_plugin_manager

#: The name pytest-playwright registers its plugin under (its ``pytest11`` entry point).
PLAYWRIGHT_PLUGIN = "playwright"

NEEDS_PLAYWRIGHT = (
    "the 'site' fixture attaches pytest-playwright's 'context' fixture, which is not available: "
    "install pytest-playwright ('pip install pytest-playwright')"
)
NEEDS_SYNC = (
    "the 'site' fixture needs a BrowserContext of Playwright's sync API (pytest-playwright), not {}; "
    "with async fixtures use 'async with attach(context, site_memory) as site:'"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sitememory", "sitememory: a shared memory of websites")
    group.addoption(
        "--sitememory", action="store_true", default=None, dest="sitememory",
        help="record the visits of every test using pytest-playwright's 'context' or 'page' "
        "(ini: sitememory = true)",
    )
    group.addoption(
        "--no-sitememory", action="store_false", dest="sitememory",
        help="do not, whatever the ini file says",
    )
    group.addoption(
        "--sitememory-store", metavar="PATH", default=None, dest="sitememory_store",
        help="the store the 'site_memory' fixture opens, shared by all tests, instead of one per "
        "test in tmp_path (ini: sitememory_store)",
    )
    parser.addini("sitememory", type="bool", default=False, help="same as --sitememory")
    parser.addini(
        "sitememory_store", type="string", default="",
        help="same as --sitememory-store; a relative path is relative to the ini file",
    )


def pytest_configure(config: pytest.Config) -> None:
    # ``site`` depends on ``context`` by name where pytest-playwright provides it, so that its
    # --browser parametrization applies to tests that ask only for ``site``; elsewhere such a
    # dependency would fail with pytest's generic "not found", so look ``context`` up at setup.
    if config.pluginmanager.hasplugin(PLAYWRIGHT_PLUGIN):
        config.pluginmanager.register(_WithPlaywright(), "sitememory-site")
    else:
        config.pluginmanager.register(_WithoutPlaywright(), "sitememory-site")


def pytest_report_header(config: pytest.Config) -> str | None:
    if not enabled(config):
        return None
    store = shared_store(config)
    where = redacted(store) if isinstance(store, str) else store
    return f"sitememory: recording browser contexts to {where or 'a store per test (tmp_path)'}"


def enabled(config: pytest.Config) -> bool:
    """Whether ``--sitememory`` (or ini ``sitememory``) asks to attach every browser context."""
    option = config.getoption("sitememory")
    return bool(option) if option is not None else bool(config.getini("sitememory"))


def shared_store(config: pytest.Config) -> Path | str | None:
    """The store named by ``--sitememory-store`` or ini ``sitememory_store`` (a directory or a
    ``redis://`` URL), if any."""
    option = config.getoption("sitememory_store")
    if option:
        base, path = config.invocation_params.dir, option
    else:
        path = str(config.getini("sitememory_store"))
        if not path:
            return None
        base = config.inipath.parent if config.inipath is not None else config.rootpath
    if is_url(path):
        return str(path)
    # Normalized, so that "../store" names the same store (and reads well in the header).
    return Path(os.path.abspath(base / Path(path).expanduser()))


@pytest.fixture
def site_memory(pytestconfig: pytest.Config, tmp_path: Path) -> Iterator[SiteMemory]:
    """A :class:`SiteMemory` in ``tmp_path`` (or the ``--sitememory-store``), closed at teardown."""
    shared = shared_store(pytestconfig)
    try:
        # A per-test store dies with its tmp_path, so power-loss durability would only cost fsyncs.
        memory = SiteMemory(shared) if shared is not None else SiteMemory(
            tmp_path / "sitememory", durability="none"
        )
    except ValueError as exc:
        # Its message, not a traceback: pytest's shows the arguments of each call, the URL too.
        pytest.fail(f"--sitememory-store: {exc}", pytrace=False)
    yield memory
    memory.close_sync()


@pytest.fixture
def sitememory_plugins() -> pluggy.PluginManager:
    """The plugin manager the ``site`` fixture attaches with; override it to configure plugins."""
    return get_plugin_manager()


@pytest.fixture
def site(_sitememory_site: SyncSite) -> SyncSite:
    """pytest-playwright's ``context`` attached to ``site_memory``; detached at teardown."""
    return _sitememory_site


@pytest.fixture(autouse=True)
def _sitememory_autoattach(request: pytest.FixtureRequest) -> None:
    """With ``--sitememory``, attach the browser context of each test that uses one."""
    if not enabled(request.config) or "context" not in request.fixturenames:
        return
    context = request.getfixturevalue("context")
    if isinstance(context, SyncBrowserContext):
        # By its private name: a test module's own "site" fixture must not stand in for it.
        request.getfixturevalue("_sitememory_site")
    elif isinstance(context, AsyncBrowserContext):
        warnings.warn(pytest.PytestWarning(
            "--sitememory attaches only Playwright's sync API (pytest-playwright); this test's "
            "async context is not recorded: use 'async with attach(context, site_memory)'"
        ), stacklevel=1)
    # Anything else is a fixture that happens to be named "context": not ours to touch.


def _attached(context: Any, memory: SiteMemory, plugins: pluggy.PluginManager) -> Iterator[SyncSite]:
    if not isinstance(context, SyncBrowserContext):
        pytest.fail(NEEDS_SYNC.format(type(context).__name__), pytrace=False)
    handle = attach(context, memory, plugins=plugins)
    try:
        yield handle
        # A plugin error while recording (off the navigation's path) fails the test's teardown
        # rather than passing unnoticed.
        handle.settle()
    finally:
        handle.detach()


class _WithPlaywright:
    @pytest.fixture
    def _sitememory_site(
        self, context: SyncBrowserContext, site_memory: SiteMemory,
        sitememory_plugins: pluggy.PluginManager,
    ) -> Iterator[SyncSite]:
        yield from _attached(context, site_memory, sitememory_plugins)


class _WithoutPlaywright:
    @pytest.fixture
    def _sitememory_site(
        self, request: pytest.FixtureRequest, site_memory: SiteMemory,
        sitememory_plugins: pluggy.PluginManager,
    ) -> Iterator[SyncSite]:
        # A conftest may still provide a "context" of its own.
        try:
            context = request.getfixturevalue("context")
        except pytest.FixtureLookupError:
            pytest.fail(NEEDS_PLAYWRIGHT, pytrace=False)
        yield from _attached(context, site_memory, sitememory_plugins)
