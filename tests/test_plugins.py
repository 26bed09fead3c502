"""The plugin manager: built-ins by name, entry points, the environment, and isolated hook calls."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from sitememory_plugin import (
    NavigationRefused,
    PluginError,
    SiteMemory,
    attach,
    hookimpl,
    make_plugin_manager,
)
from sitememory_plugin._browser import launch_kwargs
from sitememory_plugin._hookcall import call_async, call_sync
from sitememory_plugin._plugins import builtin_names, plugin_hooks, register

from ._site import TestSite

HERE = Path(__file__).parent
BUILTINS = ["recorder", "timeouts", "politeness", "selectors", "overlays", "consent", "prompt"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SITEMEMORY_PLUGINS", "SITEMEMORY_DISABLE_PLUGINS", "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)


def names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, _ in pm.list_name_plugin()]


# -- built-ins ---------------------------------------------------------------------------------


def test_builtins_are_registered_by_name_and_each_can_be_disabled(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert list(builtin_names()) == BUILTINS
    assert names(make_plugin_manager(entry_points=False)) == BUILTINS
    pm = make_plugin_manager(disable=["politeness"], entry_points=False)
    assert names(pm) == [n for n in BUILTINS if n != "politeness"]
    monkeypatch.setenv("SITEMEMORY_DISABLE_PLUGINS", "recorder, timeouts")
    assert names(make_plugin_manager(entry_points=False)) == BUILTINS[2:]
    # environment=False ignores the variables entirely
    assert names(make_plugin_manager(entry_points=False, environment=False)) == BUILTINS


def test_plugin_hooks_lists_what_each_plugin_implements(clean_env: None) -> None:
    hooks = plugin_hooks(make_plugin_manager(entry_points=False))
    assert hooks["recorder"] == ["sitememory_after_navigation"]
    assert hooks["selectors"] == ["sitememory_after_action", "sitememory_before_action"]


# -- plugins from the environment --------------------------------------------------------------


PLUGIN_FILE = '''
from sitememory_plugin import hookimpl

@hookimpl
def sitememory_site_key(url):
    return "from-file.test" if "special" in url else None
'''


def test_a_plugin_file_named_in_the_environment_is_loaded(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "my_hooks.py"
    path.write_text(PLUGIN_FILE)
    monkeypatch.setenv("SITEMEMORY_PLUGINS", str(path))
    pm = make_plugin_manager(entry_points=False)
    assert names(pm)[-1] == "my_hooks"
    assert call_sync(pm, "sitememory_site_key", firstresult=True, url="http://special/") == [
        ("my_hooks", "from-file.test")
    ]


def test_a_plugin_module_named_in_the_environment_is_loaded(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "env_plugin_mod.py").write_text(PLUGIN_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SITEMEMORY_PLUGINS", "env_plugin_mod")
    pm = make_plugin_manager(entry_points=False)
    assert "env_plugin_mod" in names(pm)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_plugin_module_xyz", "plugin 'no_such_plugin_module_xyz' failed to import"),
        ("/nonexistent/hooks.py", "plugin file '/nonexistent/hooks.py' does not exist"),
    ],
)
def test_a_plugin_that_cannot_be_found_is_named(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, spec: str, message: str
) -> None:
    monkeypatch.setenv("SITEMEMORY_PLUGINS", spec)
    with pytest.raises(PluginError, match=message):
        make_plugin_manager(entry_points=False)


def test_a_plugin_file_that_fails_to_import_is_named(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bad_hooks.py"
    path.write_text("1 / 0\n")
    monkeypatch.setenv("SITEMEMORY_PLUGINS", str(path))
    expected = r"plugin 'bad_hooks' failed to import .*ZeroDivisionError"
    with pytest.raises(PluginError, match=expected) as raised:
        make_plugin_manager(entry_points=False)
    assert raised.value.plugin == "bad_hooks"


# -- validation --------------------------------------------------------------------------------


def test_plugins_that_do_not_fit_the_specs_are_refused() -> None:
    pm = make_plugin_manager(entry_points=False, environment=False)

    class Typo:
        @hookimpl
        def sitememory_after_navigaton(self) -> None: ...

    class WrongArgument:
        @hookimpl
        def sitememory_after_navigation(self, response: Any) -> None: ...

    class Wrapper:
        @hookimpl(wrapper=True)
        def sitememory_after_navigation(self) -> Iterator[None]:
            yield

    with pytest.raises(PluginError, match="'typo' implements unknown hooks: sitememory_after_navigaton"):
        register(pm, Typo(), "typo")
    with pytest.raises(PluginError, match="'wrong' does not fit"):
        register(pm, WrongArgument(), "wrong")
    with pytest.raises(PluginError, match="is a wrapper"):
        register(pm, Wrapper(), "wrapper")
    with pytest.raises(PluginError, match="'timeouts' is taken"):
        pm.register(object(), "timeouts")
    assert names(pm) == BUILTINS  # nothing half-registered
    with pytest.raises(PluginError, match="unknown hooks"):
        pm.register(Typo())  # the manager checks plugins registered on it directly too


# -- calling hooks -----------------------------------------------------------------------------


class Raises:
    @hookimpl
    def sitememory_prompt_context(self, lines: list[str]) -> None:
        lines.append("raises ran")
        raise ValueError("boom")


class Appends:
    def __init__(self, text: str) -> None:
        self.text = text

    @hookimpl
    def sitememory_prompt_context(self, lines: list[str]) -> None:
        lines.append(self.text)


def test_every_implementation_runs_even_after_one_raised() -> None:
    pm = pluggy.PluginManager("sitememory")
    from sitememory_plugin import hookspecs

    pm.add_hookspecs(hookspecs)
    pm.register(Appends("first registered"), name="a")
    pm.register(Raises(), name="raises")
    pm.register(Appends("last registered"), name="b")
    lines: list[str] = []
    expected = "plugin 'raises' raised in sitememory_prompt_context: ValueError: boom"
    with pytest.raises(PluginError, match=expected):
        call_sync(pm, "sitememory_prompt_context", key="k", profile=None, lines=lines)
    # pluggy's order (last registered first), and nobody skipped
    assert lines == ["last registered", "raises ran", "first registered"]


def test_navigation_refused_stops_before_navigation_at_once_and_nothing_else() -> None:
    pm = make_plugin_manager(disable=builtin_names(), entry_points=False, environment=False)
    ran: list[str] = []

    class Later:
        @hookimpl
        def sitememory_before_navigation(self) -> None:
            ran.append("before")

        @hookimpl
        def sitememory_after_navigation(self) -> None:
            ran.append("after")

    class Refuse:
        @hookimpl
        def sitememory_before_navigation(self) -> None:
            raise NavigationRefused("no")

        @hookimpl
        def sitememory_after_navigation(self) -> None:
            raise NavigationRefused("not a decision to make here")

    pm.register(Later(), "later")
    pm.register(Refuse(), "refuse")  # registered last: called first
    navigation: dict[str, Any] = {"page": None, "url": "u", "key": "k", "profile": None, "memory": None}
    with pytest.raises(NavigationRefused):
        call_sync(pm, "sitememory_before_navigation", options=None, **navigation)
    assert ran == []  # refused: the rest of the call does not run
    with pytest.raises(PluginError, match="'refuse'"):
        call_sync(pm, "sitememory_after_navigation", visit=None, **navigation)
    assert ran == ["after"]  # elsewhere a refusal is a failure: the others still run


def test_the_sync_caller_refuses_async_implementations() -> None:
    pm = pluggy.PluginManager("sitememory")
    from sitememory_plugin import hookspecs

    pm.add_hookspecs(hookspecs)

    class AsyncOne:
        @hookimpl
        async def sitememory_prompt_context(self, lines: list[str]) -> None:
            lines.append("never")

    pm.register(AsyncOne(), name="async-one")
    with pytest.raises(PluginError, match="write this hook as a plain function"):
        call_sync(pm, "sitememory_prompt_context", key="k", profile=None, lines=[])


@pytest.mark.asyncio
async def test_the_async_caller_awaits_async_implementations() -> None:
    pm = pluggy.PluginManager("sitememory")
    from sitememory_plugin import hookspecs

    pm.add_hookspecs(hookspecs)

    class AsyncOne:
        @hookimpl
        async def sitememory_prompt_context(self, lines: list[str]) -> None:
            lines.append("awaited")

    pm.register(AsyncOne(), name="async-one")
    pm.register(Appends("plain"), name="plain")
    lines: list[str] = []
    await call_async(pm, "sitememory_prompt_context", key="k", profile=None, lines=lines)
    assert lines == ["plain", "awaited"]


# -- entry points: real installed distributions ------------------------------------------------


def pip_install(source: Path, target: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = Path(shutil.copytree(source, target.parent / f"{source.name}-src"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test plugin distributions, installed (pip --target) into their own directories."""
    out = {}
    for dist in ("plugin_dist", "plugin_dist_broken"):
        target = tmp_path_factory.mktemp(dist)
        pip_install(HERE / dist, target)
        out[dist] = target
    return out


@pytest.mark.asyncio
async def test_an_installed_entry_point_plugin_joins_a_real_navigation(
    clean_env: None, installed: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    monkeypatch.syspath_prepend(str(installed["plugin_dist"]))
    pm = make_plugin_manager()
    assert names(pm) == [*BUILTINS, "testplugin"]
    plugin = pm.get_plugin("testplugin")
    with TestSite() as site_server:
        async with SiteMemory(tmp_path / "store") as memory, async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_kwargs())
            context = await browser.new_context()
            async with attach(context, memory, plugins=pm) as site:
                await site.goto(site_server.url("/page/a"))
                await site.settle()
                assert plugin.visits == [(f"127.0.0.1:{site_server.port}", 200)]
                assert (await site.prompt_context()).endswith("- from the entry-point plugin")
            await browser.close()
            assert (await memory.get_profile(site_server.url())).visit_count == 1
    # Autoload can be turned off, and a plugin disabled by name.
    monkeypatch.setenv("SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "testplugin" not in names(make_plugin_manager())
    monkeypatch.delenv("SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD")
    assert "testplugin" not in names(make_plugin_manager(disable=["testplugin"]))


def test_an_entry_point_that_fails_to_import_names_plugin_and_distribution(
    clean_env: None, installed: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(installed["plugin_dist_broken"]))
    with pytest.raises(PluginError) as raised:
        make_plugin_manager()
    message = str(raised.value)
    assert "'brokenplugin'" in message and "sitememory-brokenplugin" in message
    assert "broken on purpose" in message
    assert raised.value.plugin == "brokenplugin"
    # Disabled by name, it is not even imported.
    assert "brokenplugin" not in names(make_plugin_manager(disable=["brokenplugin"]))
