"""The public API is what ``__all__`` says, and every async method has a sync twin."""

from __future__ import annotations

import inspect

import sitememory_plugin
from sitememory_plugin import SiteMemory


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in dir(sitememory_plugin) if not n.startswith("_")} | {"__version__"}
    assert set(sitememory_plugin.__all__) == public


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
