"""Export, import (JSON Lines) and prune, through both APIs."""

from __future__ import annotations

import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import InvalidInput, SiteMemory

from .conftest import Api

pytestmark = pytest.mark.asyncio


async def fill(api: Api) -> None:
    await api.record_visit("https://a.example/", 1.2, status=200, timings={"ttfb": 0.1})
    await api.record_visit("https://a.example/x", 0.8, status=503)
    await api.cache_selector("https://a.example/", "search box", "#q", ["input[name=q]"])
    await api.record_quirk("https://b.example/", "cookie banner", "click #accept")
    await api.cache_action_pattern("https://b.example/", "login", [{"click": "#login"}])


def doc(site: str, last_visit: float | None, visits: int = 1) -> str:
    return json.dumps({
        "format": "sitememory.site", "version": 1, "domain": site, "visit_count": visits,
        "success_count": visits, "failure_count": 0, "first_visit": last_visit,
        "last_visit": last_visit, "custom": {"kept": True},
    })


def unmarked(doc: dict[str, Any]) -> tuple[dict[str, Any], set[bool]]:
    """``doc`` without the marks of an import, and the marks its entries had."""
    entries = [*doc["quirks"], *doc["patterns"].values(),
               *(c for s in doc["selectors"].values() for c in s["candidates"].values())]
    return doc, {entry.pop("imported", False) for entry in entries}


async def test_export_then_import_into_an_empty_store_is_lossless(api: Api, tmp_path: Path) -> None:
    await fill(api)
    path = tmp_path / "export.jsonl"
    assert await api.export(path) == 2
    lines = path.read_text().splitlines()
    assert [json.loads(line)["domain"] for line in lines] == ["a.example", "b.example"]

    async with SiteMemory(tmp_path / "other") as other:
        result = await other.import_jsonl(path)
        assert result.imported == ("a.example", "b.example") and not result.skipped
        for site in ("a.example", "b.example"):
            mine, theirs = await api.get_profile(site), await other.get_profile(site)
            # Everything, as another store's evidence: each entry marked imported.
            assert unmarked(theirs.to_dict()) == (mine.to_dict(), {True})
        again = await other.import_jsonl(path)  # nothing counted twice
        assert again.imported == () and dict(again.skipped) == {
            "a.example": "already known", "b.example": "already known"
        }


async def test_reimporting_after_more_visits_counts_nothing_twice(api: Api, tmp_path: Path) -> None:
    await api.record_visit("https://a.example/", 1.0, status=200)
    path = tmp_path / "export.jsonl"
    await api.export(path)
    async with SiteMemory(tmp_path / "other") as other:
        await other.import_jsonl(path)
        await other.record_visit("https://a.example/", 1.0, status=200)
        again = await other.import_jsonl(path)
        assert again.skipped["a.example"] == "already known"
        assert (await other.get_profile("a.example")).visit_count == 2


async def test_import_merges_into_known_sites_once(api: Api, tmp_path: Path) -> None:
    await api.record_visit("https://a.example/", 1.0, status=200)
    source = tmp_path / "in.jsonl"
    source.write_text(doc("a.example", time.time(), visits=5) + "\n")
    first = await api.import_jsonl(source)
    assert first.imported == ("a.example",)
    merged = await api.get_profile("a.example")
    assert merged.visit_count == 6
    assert merged.extra["custom"] == {"kept": True}
    second = await api.import_jsonl(source)
    assert second.imported == () and second.skipped["a.example"] == "already known"
    assert (await api.get_profile("a.example")).visit_count == 6


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("{not json", "<input>:2: "),
        (json.dumps({"format": "sitememory.site", "version": 1, "domain": "../../etc"}),
         "<input>:2: domain"),
        (json.dumps({"format": "other"}), "<input>:2: format"),
        (json.dumps({"format": "sitememory.site", "version": 99, "domain": "new.example"}),
         "<input>:2: version"),
        (json.dumps({"domain": "n.example", "visit_count": "many"}), "<input>:2: visit_count"),
        (json.dumps({"domain": "n.example", "quirks": [{"description": "x", "occurrences": 0}]}),
         "<input>:2: quirks[0].occurrences"),
        ('{"domain": "n.example", "extra": NaN}', "<input>:2: extra"),
        ('{"domain": "n.example", "selectors": {"p": {"primary": "\\udc00"}}}',
         "<input>:2: selectors.p.primary"),
    ],
)
async def test_a_bad_line_is_refused_naming_it_and_nothing_is_imported(
    api: Api, bad: str, named: str
) -> None:
    text = "\n".join([doc("good.example", time.time()), bad, doc("later.example", time.time())])
    with pytest.raises(InvalidInput) as info:  # a StoreFormatError, so a ValueError
        await api.import_jsonl(io.StringIO(text))
    assert str(info.value).startswith(named), str(info.value)
    assert (info.value.source, info.value.line) == ("<input>", 2)
    assert await api.list_sites() == []


async def test_input_that_is_not_utf8_is_refused_and_nothing_is_imported(
    api: Api, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.jsonl"
    latin1 = '{"domain": "caf\xe9.example"}'.encode("latin-1")
    path.write_bytes(doc("good.example", time.time()).encode() + b"\n" + latin1)
    with pytest.raises(InvalidInput, match="not UTF-8 text") as info:
        await api.import_jsonl(path)
    assert info.value.source == str(path)
    assert await api.list_sites() == []


async def test_prune_forgets_sites_idle_for_longer_than_asked(api: Api) -> None:
    now = time.time()
    lines = [doc("old.example", now - 40 * 86400), doc("recent.example", now - 86400),
             doc("undated.example", None)]
    await api.import_jsonl(io.StringIO("\n".join(lines)))
    await api.cache_selector("https://old-but-learning.example/", "buy", "#buy")

    assert await api.prune(timedelta(days=30), dry_run=True) == ["old.example"]
    assert len(await api.list_sites()) == 4  # a dry run forgets nothing
    assert await api.prune(30 * 86400) == ["old.example"]
    assert await api.list_sites() == ["old-but-learning.example", "recent.example", "undated.example"]
    assert await api.prune(timedelta(days=30)) == []
    with pytest.raises(ValueError, match="older_than"):
        await api.prune(-1)


async def test_export_includes_pending_write_behind_updates(store_path: Path, tmp_path: Path) -> None:
    async with SiteMemory(store_path, flush_interval=60) as memory:
        await memory.record_visit("https://a.example/", 1.0)
        out = io.StringIO()
        assert await memory.export(out) == 1
        assert json.loads(out.getvalue())["visit_count"] == 1


async def test_an_origin_id_longer_than_any_store_makes_is_refused(api: Api) -> None:
    line = json.dumps({"domain": "big.example", "format": "sitememory.site", "version": 2,
                       "visits": {"o" * 100_000: {"visits": 1}}})
    with pytest.raises(ValueError, match="origin id") as info:
        await api.import_jsonl(io.StringIO(line))
    assert len(str(info.value)) < 300  # the id is not quoted whole
    assert await api.list_sites() == []


async def test_a_stores_own_export_always_imports_back(tmp_path: Path) -> None:
    """Whatever the store holds, from any API and the seed's format with its odd entries, its
    export is a valid input: checked strictly, it must never be refused."""
    legacy = tmp_path / "seed.json"
    legacy.write_text(json.dumps({
        "shop.example": {"visit_count": 3, "selectors": {"search": {"fallbacks": ["#q"]},
                                                         "empty": {}},
                         "quirks": ["", {"description": ""}, "slow"], "action_patterns": {"": []}},
    }))
    with SiteMemory(tmp_path / "a") as memory:
        memory.import_legacy_sync(legacy)
        memory.record_visit_sync("https://news.example/", 1.0, error="net::ERR_FAILED\x00\x1b[2J")
        memory.cache_selector_sync("https://news.example/", "p", "#a", ["#b"])
        memory.record_quirk_sync("https://news.example/", "overlay", "")
        memory.cache_action_pattern_sync("https://news.example/", "t", [{"x": [1, {"y": None}]}])
        out = io.StringIO()
        memory.export_sync(out)
    with SiteMemory(tmp_path / "b") as copy:
        assert copy.import_jsonl_sync(io.StringIO(out.getvalue())).imported == (
            "news.example", "shop.example")
        shop = copy.get_profile_sync("shop.example")
        assert shop.visit_count == 3 and shop.selectors["search"].primary == "#q"
        assert "empty" not in shop.selectors and [q.description for q in shop.quirks] == ["slow"]
