"""The public API is what ``__all__`` says, and every async method has a sync twin."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
import types
from pathlib import Path

import sitememory_plugin
from sitememory_plugin import AsyncSite, SiteMemory, SyncSite, _core


def test_all_is_exactly_the_public_names() -> None:
    public = {
        n for n in dir(sitememory_plugin)
        if not n.startswith(("_", "@")) and not isinstance(getattr(sitememory_plugin, n), types.ModuleType)
    } | {"__version__"}
    assert set(sitememory_plugin.__all__) == public
    # The public submodules: the hook specifications plugin authors read, the pytest plugin
    # (imported by pytest through its entry point; pytest's assert rewriting adds "@" names) and
    # the integrations (here once a test has imported one).
    modules = {
        n for n in dir(sitememory_plugin)
        if isinstance(getattr(sitememory_plugin, n), types.ModuleType) and not n.startswith(("_", "@"))
    }
    assert modules - {"pytest_plugin", "integrations"} == {"hookspecs"}


def test_the_core_logs_under_sitememory_one_child_per_module() -> None:
    # README: logging.getLogger("sitememory") configures everything; each module's logger is
    # named after the module, so a record says where it comes from.
    named = {}
    for info in pkgutil.iter_modules(_core.__path__):
        log = getattr(importlib.import_module(f"{_core.__name__}.{info.name}"), "log", None)
        if isinstance(log, logging.Logger):
            named[info.name] = log.name
    assert {"files", "filestore", "redisstore", "writebehind"} <= named.keys()
    assert named == {module: f"sitememory.{module}" for module in named}
    top = logging.getLogger("sitememory")
    assert all(logging.getLogger(name).parent is top for name in named.values())


def test_every_logger_of_the_package_is_under_sitememory() -> None:
    # One hierarchy: configuring "sitememory" reaches the hooks' and the handles' records too.
    root = Path(sitememory_plugin.__file__).parent
    # Every argument as written: getLogger(__name__) would be "sitememory_plugin...", and fails.
    arguments = {
        argument.strip() for path in root.rglob("*.py")
        for argument in re.findall(r"getLogger\(([^)]*)\)", path.read_text(encoding="utf-8"))
    }
    names = {a.strip("\"'") for a in arguments if re.fullmatch(r"([\"'])sitememory(\.\w+)*\1", a)}
    assert {"sitememory.hooks", "sitememory.playwright", "sitememory.files"} <= names
    assert arguments - {f'"{n}"' for n in names} - {f"'{n}'" for n in names} == set()


def test_the_async_and_sync_handles_mirror_each_other() -> None:
    def methods(cls: type) -> dict[str, list[str]]:
        return {
            n: list(inspect.signature(f).parameters)
            for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")
        }

    async_methods, sync_methods = methods(AsyncSite), methods(SyncSite)
    assert async_methods.keys() == sync_methods.keys()
    for name, params in async_methods.items():
        if name in sync_methods:
            assert sync_methods[name] == params, name


def test_every_async_method_has_a_sync_twin() -> None:
    coros = {n for n, f in inspect.getmembers(SiteMemory, inspect.iscoroutinefunction)
             if not n.startswith("_")}
    seed_names = {"initialize", "close", "get_profile", "get_or_create_profile", "record_visit",
                  "cache_selector", "get_selector", "record_selector_result", "record_quirk",
                  "get_quirks", "cache_action_pattern", "get_action_pattern",
                  "get_context_for_prompt", "list_sites", "forget", "flush", "stats",
                  "import_legacy"}
    assert seed_names <= coros
    for name in coros:
        twin = getattr(SiteMemory, f"{name}_sync")
        assert not inspect.iscoroutinefunction(twin)
        async_params = list(inspect.signature(getattr(SiteMemory, name)).parameters)
        assert list(inspect.signature(twin).parameters) == async_params, name


def test_every_error_the_package_raises_on_purpose_is_public() -> None:
    # A user catches them by name: each is exported, and each is a SiteMemoryError.
    from sitememory_plugin._core import errors

    defined = {n for n, c in vars(errors).items()
               if isinstance(c, type) and issubclass(c, BaseException) and c.__module__ == errors.__name__}
    assert {"UnknownTask", "UnreplayableStep", "ReplayFailed"} <= defined
    assert defined <= set(sitememory_plugin.__all__)
    assert all(issubclass(getattr(errors, n), sitememory_plugin.SiteMemoryError) for n in defined)
