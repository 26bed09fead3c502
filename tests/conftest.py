"""Shared fixtures: a store in tmp_path, one test body run against both APIs, a browser and a site."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pluggy
import pytest
import pytest_asyncio
from playwright.async_api import Browser as AsyncBrowser
from playwright.async_api import async_playwright

from sitememory_plugin import SiteMemory, make_plugin_manager
from sitememory_plugin._browser import launch_kwargs
from sitememory_plugin._core.filestore import FileStore

from ._env import unavailable
from ._redis import MISSING, RedisServer, executable
from ._site import TestSite
from ._workers import Spawner


def run_threads(work: Callable[[], object], count: int) -> None:
    """Run ``work`` on ``count`` threads at once; re-raise what any of them raised."""
    with ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(work) for _ in range(count)]:
            future.result(timeout=120)


def file_store(memory: SiteMemory) -> FileStore:
    """The memory's file backend, for tests that hold its locks."""
    store = memory._store
    assert isinstance(store, FileStore)
    return store


class Api:
    """Calls ``memory.<name>`` (async) or ``memory.<name>_sync`` (sync) behind one awaitable."""

    def __init__(self, memory: SiteMemory, flavor: str) -> None:
        self.memory = memory
        self.flavor = flavor

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if self.flavor == "async":
            method: Callable[..., Awaitable[Any]] = getattr(self.memory, name)
            return method
        sync = getattr(self.memory, f"{name}_sync")

        async def call(*args: Any, **kwargs: Any) -> Any:
            # Called inside the running loop on purpose: the sync API must work there.
            return sync(*args, **kwargs)

        return call


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` for the session, on a free loopback port, AOF fsync always.

    Missing ``redis-server`` skips the Redis tests on a developer's machine, and fails them in CI
    (``CI`` set), where ``make test`` must have installed it.
    """
    if executable() is None:
        unavailable(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis store of this test alone: a fresh key prefix in the session's server."""
    return f"{redis_server.url}?prefix=t{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["file", "redis"])
def store_location(request: pytest.FixtureRequest, store_path: Path) -> str | Path:
    """A store of each backend: a directory, then a Redis URL."""
    if request.param == "file":
        return store_path
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest_asyncio.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, store_location: str | Path) -> AsyncIterator[Api]:
    """One memory per backend and API flavour."""
    memory = SiteMemory(store_location, durability="none")
    yield Api(memory, request.param)
    await memory.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    """Starts worker processes (tests/_workers.py) and kills any still running at teardown."""
    spawner = Spawner(tmp_path / "logs")
    yield spawner
    spawner.close()


@pytest.fixture
def site_server() -> Iterator[TestSite]:
    """A local HTTP test site (tests/_site.py) on a free loopback port."""
    with TestSite() as site:
        yield site


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[AsyncBrowser]:
    """Chromium through Playwright's async API, one per test module.

    Tests and fixtures that use it run in the module's event loop:
    ``pytestmark = pytest.mark.asyncio(loop_scope="module")`` and ``loop_scope="module"``.
    """
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(**launch_kwargs())
        yield launched
        await launched.close()


@pytest.fixture
def plugins() -> pluggy.PluginManager:
    """A fresh plugin manager per test: built-ins only, nothing from the environment."""
    return make_plugin_manager(entry_points=False, environment=False)
