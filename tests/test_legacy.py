"""Importing the seed's single-file format into the store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sitememory_plugin import InvalidInput, SiteMemory, StoreFormatError

SEED = {
    "www.shop.example": {
        "domain": "www.shop.example",
        "visit_count": 12,
        "avg_load_time": 2.5,
        "last_visit": "2024-12-07T10:00:00",
        "selectors": {"search": {"selector": "#q", "fallbacks": ["input[name=q]"], "success_count": 4}},
        "quirks": ["slow on mondays", {"description": "cookie banner", "workaround": "click #ok",
                                      "count": 3}],
        "action_patterns": {"search": [{"fill": "#q"}]},
        "notes": "kept as is",
    },
    "about:blank": {"visit_count": 1},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_import_legacy(store_path: Path, tmp_path: Path, flavor: str) -> None:
    seed = tmp_path / "site_memory.json"
    seed.write_text(json.dumps(SEED))
    memory = SiteMemory(store_path)
    memory.record_visit_sync("shop.example", 1.0)
    memory.record_quirk_sync("shop.example", "cookie banner")
    if flavor == "sync":
        result = memory.import_legacy_sync(seed)
    else:
        result = await memory.import_legacy(seed)
    assert result.imported == ("shop.example",)
    assert list(result.skipped) == ["about:blank"]
    profile = SiteMemory(store_path).get_profile_sync("shop.example")
    assert profile.visit_count == 13
    assert profile.load_times == (2.5, 1.0)
    assert profile.selectors["search"].primary == "#q"
    assert profile.selectors["search"].success_count == 4
    # Counts other than visits merge by maximum: never counted twice, not added either.
    assert {q.description: q.occurrences for q in profile.quirks} == {
        "cookie banner": 3, "slow on mondays": 1}
    assert [dict(a) for a in profile.patterns["search"].actions] == [{"fill": "#q"}]
    assert profile.extra["notes"] == "kept as is"
    assert memory.get_profile_sync("shop.example").visit_count == 13  # own cache updated


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"a.example": 3}'])
def test_bad_legacy_file_raises_and_writes_nothing(
    store_path: Path, tmp_path: Path, content: str
) -> None:
    seed = tmp_path / "bad.json"
    seed.write_text(content)
    memory = SiteMemory(store_path)
    with pytest.raises(InvalidInput) as info:  # a StoreFormatError
        memory.import_legacy_sync(seed)
    assert info.value.source == str(seed) and info.value.line is None
    assert memory.list_sites_sync() == []


def test_a_legacy_file_may_be_a_text_file_object(store_path: Path) -> None:
    source = io.StringIO(json.dumps({"shop.example": {"visit_count": 2}}))
    with SiteMemory(store_path) as memory:
        assert memory.import_legacy_sync(source).imported == ("shop.example",)
        assert memory.get_profile_sync("shop.example").visit_count == 2
        with pytest.raises(StoreFormatError, match="<input> is not valid JSON"):
            memory.import_legacy_sync(io.StringIO("{"))


def test_import_is_idempotent(store_path: Path, tmp_path: Path) -> None:
    seed = tmp_path / "site_memory.json"
    seed.write_text(json.dumps(SEED))
    memory = SiteMemory(store_path)
    assert memory.import_legacy_sync(seed).imported == ("shop.example",)
    again = memory.import_legacy_sync(seed)
    assert again.imported == () and again.skipped["shop.example"] == "already known"
    assert SiteMemory(store_path).get_profile_sync("shop.example").visit_count == 12
    seed.write_text(json.dumps({"shop.example": {"visit_count": 5}}))  # a new entry still merges
    assert memory.import_legacy_sync(seed).imported == ("shop.example",)
    assert SiteMemory(store_path).get_profile_sync("shop.example").visit_count == 17


def test_bad_entries_are_skipped_not_fatal(store_path: Path, tmp_path: Path) -> None:
    seed = tmp_path / "site_memory.json"
    seed.write_text(json.dumps({
        "good.example": {"visit_count": 2},
        "odd.example": {"quirks": 5, "selectors": {"p": {"selector": "#a", "fallbacks": 7}}},
        "http://../x": {"visit_count": 1},
    }))
    result = SiteMemory(store_path).import_legacy_sync(seed)
    assert set(result.imported) == {"good.example", "odd.example"}
    assert list(result.skipped) == ["http://../x"]
    odd = SiteMemory(store_path).get_profile_sync("odd.example")
    assert odd.quirks == () and odd.selectors["p"].fallbacks == ()
