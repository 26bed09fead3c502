"""The pytest plugin (sitememory_plugin/pytest_plugin.py), run on inner test sessions in subprocesses."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._browser import _browsers_dirs

from ._site import TestSite
from ._stores import fresh_visits

pytest_plugins = ["pytester"]

# Closes of SiteMemory are logged to a file the outer test reads: the inner fixture's teardown
# is the one thing an inner test cannot observe itself.
CONFTEST = """
import os

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._browser import launch_kwargs

_close_sync = SiteMemory.close_sync


def close_sync(self):
    with open(os.environ["SITEMEMORY_TEST_CLOSED"], "a") as log:
        log.write(f"{self.storage_path}\\n")
    _close_sync(self)


SiteMemory.close_sync = close_sync


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return launch_kwargs()
"""

MEMORY_TESTS = """
import pytest

from sitememory_plugin import SiteMemory


def test_sync(site_memory, tmp_path):
    assert isinstance(site_memory, SiteMemory)
    assert site_memory.storage_path == tmp_path / "sitememory"
    site_memory.record_visit_sync("https://a.example/", 0.5, status=200)
    assert site_memory.get_profile_sync("a.example").visit_count == 1


@pytest.mark.asyncio
async def test_async(site_memory):
    await site_memory.record_visit("https://a.example/", 0.5, status=200)
    # A store of its own: the sync test's visit is not in it.
    assert (await site_memory.get_profile("a.example")).visit_count == 1
"""

BROWSER_TESTS = """
import os

URL = os.environ["SITEMEMORY_TEST_URL"]


def test_page(page):
    page.goto(URL + "/page/a")
    page.click("#next")
    page.wait_for_url("**/page/next")


def test_context(context):
    context.new_page().goto(URL + "/slow?ms=50")


def test_site(site, site_memory):
    site.goto(URL + "/form")
    site.fill("search box", "shoes", "#search")
    site.click("search button", "#go")
    assert site.target.pages[0].inner_text("#query") == "shoes"
    assert '- selector for "search box": "#search"' in site.prompt_context()


def test_no_browser(site_memory):
    site_memory.record_visit_sync(URL, 0.1, status=200)
"""

# A module's own fixture named "site" neither breaks --sitememory nor is mistaken for its handle.
OWN_SITE_TESTS = """
import os

import pytest


@pytest.fixture
def site():
    return "not a browser"


def test_own_site_fixture(page, site):
    assert site == "not a browser"
    page.goto(os.environ["SITEMEMORY_TEST_URL"] + "/page/own")
"""


def plugin_args() -> list[str]:
    """Load the plugin by module name until its pytest11 entry point is installed.

    With the entry point installed, ``-p`` would register the module a second time (an error).
    """
    for ep in importlib.metadata.entry_points(group="pytest11"):
        if ep.value == "sitememory_plugin.pytest_plugin":
            return []
    return ["-p", "sitememory_plugin.pytest_plugin"]


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester with the inner conftest and the environment the inner sessions need."""
    pytester.makeconftest(CONFTEST)
    monkeypatch.setenv("SITEMEMORY_TEST_CLOSED", str(pytester.path / "closed.log"))
    # pytester points HOME at a temporary directory: keep Playwright's browsers where they are.
    if "PLAYWRIGHT_BROWSERS_PATH" not in os.environ:
        monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(_browsers_dirs()[0]))
    for name in ("SITEMEMORY_PLUGINS", "SITEMEMORY_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", *args, timeout=300)


def closed(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "closed.log"
    return log.read_text().splitlines() if log.exists() else []


# -- site_memory -------------------------------------------------------------------------------


def test_site_memory_is_a_store_per_test_closed_at_teardown(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_memory=MEMORY_TESTS)
    result = run(inner)
    result.assert_outcomes(passed=2)
    stores = closed(inner)
    assert len(stores) == 2 and len(set(stores)) == 2, stores
    assert all(Path(store).name == "sitememory" for store in stores)


def test_sitememory_store_shares_one_store_across_tests(inner: pytest.Pytester, tmp_path: Path) -> None:
    inner.makepyfile(test_shared="""
        def test_one(site_memory):
            site_memory.record_visit_sync("https://a.example/", 0.5, status=200)

        def test_two(site_memory):
            site_memory.record_visit_sync("https://a.example/", 0.5, status=200)
            assert site_memory.get_profile_sync("a.example").visit_count == 2
    """)
    store = tmp_path / "shared"
    run(inner, "--sitememory-store", str(store)).assert_outcomes(passed=2)
    assert fresh_visits(store, "https://a.example/") == 2
    assert closed(inner) == [str(store)] * 2


@pytest.mark.parametrize(("args", "on"), [((), True), (("--no-sitememory",), False)])
def test_the_command_line_overrides_the_ini_file(
    inner: pytest.Pytester, args: tuple[str, ...], on: bool
) -> None:
    inner.makeini("""
        [pytest]
        sitememory = true
    """)
    inner.makepyfile(test_nothing="def test_nothing(): pass")
    result = run(inner, "--collect-only", *args)
    assert ("sitememory: recording browser contexts" in result.stdout.str()) is on


# -- without pytest-playwright -----------------------------------------------------------------


def test_without_pytest_playwright_the_option_is_harmless_and_site_says_what_to_install(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_memory=MEMORY_TESTS, test_site="""
        def test_site(site):
            pass
    """)
    result = run(inner, "-p", "no:playwright", "--sitememory")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*sitememory: recording browser contexts to a store per test*"])
    result.stdout.fnmatch_lines(["*install pytest-playwright ('pip install pytest-playwright')*"])
    assert "fixture 'context' not found" not in result.stdout.str()


# -- with pytest-playwright --------------------------------------------------------------------


@pytest.fixture
def web() -> Iterator[TestSite]:
    """The local test site, for tests that need pytest-playwright (the dev extra installs it)."""
    import pytest_playwright  # noqa: F401 - a broken setup fails here rather than skipping
    with TestSite() as site:
        yield site


@pytest.mark.parametrize("how", ["option", "ini", "off"])
def test_page_and_context_tests_record_their_visits_with_sitememory(
    inner: pytest.Pytester, web: TestSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    how: str,
) -> None:
    monkeypatch.setenv("SITEMEMORY_TEST_URL", web.base)
    inner.makepyfile(test_browser=BROWSER_TESTS, test_own_site=OWN_SITE_TESTS)
    store = tmp_path / "store"
    if how == "option":
        result = run(inner, "--sitememory", "--sitememory-store", str(store))
    else:
        inner.makeini(f"""
            [pytest]
            sitememory = {"true" if how == "ini" else "false"}
            sitememory_store = {os.path.relpath(store, inner.path)}
        """)
        result = run(inner)
    result.assert_outcomes(passed=5)
    url = web.url()
    if how == "off":
        # Only the tests that ask for the memory use it: `site` (2 visits) and test_no_browser.
        assert fresh_visits(store, url) == 3
        return
    result.stdout.fnmatch_lines([f"*sitememory: recording browser contexts to {store}*"])
    # page: /page/a and /page/next; context: /slow; site: /form and /results; one by hand; and
    # /page/own.
    assert fresh_visits(store, url) == 7
    assert web.hits("/page/next") == web.hits("/page/own") == 1
    with SiteMemory(store) as memory:
        assert memory.get_selector_sync(url, "search box").ranked()[0] == "#search"
        assert memory.get_selector_sync(url, "search button").ranked()[0] == "#go"


def test_site_fixture_teardown_raises_a_plugin_error_left_unraised(
    inner: pytest.Pytester, web: TestSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("SITEMEMORY_TEST_URL", web.base)
    inner.makepyfile(test_failing="""
        import os

        import pytest

        from sitememory_plugin import hookimpl, make_plugin_manager


        class Broken:
            @hookimpl
            def sitememory_after_navigation(self, visit):
                raise RuntimeError("broken on purpose")


        @pytest.fixture
        def sitememory_plugins():
            pm = make_plugin_manager(entry_points=False, environment=False)
            pm.register(Broken(), "broken")
            return pm


        def test_goto(site):
            site.goto(os.environ["SITEMEMORY_TEST_URL"] + "/page/a")
    """)
    store = tmp_path / "store"
    result = run(inner, "--sitememory-store", str(store))
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_goto*", "*broken on purpose*"])
    assert fresh_visits(store, web.url()) == 1  # the recorder ran all the same


def test_a_redis_store_is_passed_through_as_a_url(pytester: pytest.Pytester) -> None:
    from sitememory_plugin.pytest_plugin import shared_store

    url = "redis://127.0.0.1:6379/0?prefix=tests"
    config = pytester.parseconfig("-p", "no:playwright", "--sitememory-store", url)
    assert shared_store(config) == url
    config = pytester.parseconfig("-p", "no:playwright", "--sitememory-store", "rel/store")
    assert shared_store(config) == Path(os.path.abspath(pytester.path / "rel" / "store"))
