"""Copying a store to another backend and back (``SiteMemory.copy_to``, ``sitememory migrate``):
lossless, conflicts reported, both stores held while it runs. Against a real ``redis-server``."""

from __future__ import annotations

import io
import json
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import LockTimeout, SiteMemory, site_key
from sitememory_plugin._cli import main
from sitememory_plugin._core.files import Layout

GUARD = 30.0


def export(location: str | Path) -> str:
    out = io.StringIO()
    with SiteMemory(location, cache_ttl=0) as memory:
        memory.export_sync(out)
    return out.getvalue()


def edit_file_doc(root: Path, key: str, change: dict[str, Any]) -> None:
    """Rewrite a site's file by hand, as a newer version or a person would."""
    path = Layout(root).site_path(key)
    doc = json.loads(path.read_bytes())
    for name, value in change.items():
        target = doc
        *parents, leaf = name.split("/")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1))


IMPORTED_LINE = json.dumps({
    "format": "sitememory.site", "version": 1, "domain": "imported.example", "visit_count": 3,
    "success_count": 2, "failure_count": 1, "first_visit": 1700000000.5, "last_visit": 1700000100.25,
    "last_status": 500, "last_error": "server error", "load_times_ms": [120, 3400],
    "recent_outcomes": "101", "future_field": {"nested": [1, 2.5, None, "ü"]},
    "selectors": {"menu": {"primary": "nav", "fallbacks": ["#menu"], "success_count": 1,
                           "failure_count": 0, "candidates": {"nav": {"ok": 1, "failed": 0, "streak": 0}},
                           "updated_at": 1700000050.0, "hint": "from a newer version"}},
    "quirks": [{"description": "slow search", "workaround": None, "occurrences": 2,
                "first_seen": 1.0, "last_seen": 2.0, "severity": "low"}],
    "patterns": {}, "last_timings": {},
})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A file store with every kind of knowledge, and fields this version does not know."""
    root = tmp_path / "source"
    with SiteMemory(root) as memory:
        memory.record_visit_sync("https://shop.example/", 0.8, status=200,
                                 timings={"ttfb": 0.1, "load": 0.8, "transfer_bytes": 5120})
        memory.record_visit_sync("https://shop.example/cart", 1.7, status=503)
        memory.record_visit_sync("https://shop.example/", 30.0, error="Timeout 30000ms exceeded")
        memory.cache_selector_sync("https://shop.example/", "search box", "#q",
                                   ["input[name=q]", "form input[type=search]"])
        for candidate, ok in (("#q", False), ("#q", False), ("input[name=q]", True), ("#q", True)):
            memory.record_selector_result_sync("https://shop.example/", "search box", candidate, ok)
        memory.record_quirk_sync("https://shop.example/", "cookie banner", "click #accept")
        memory.record_quirk_sync("https://shop.example/", "cookie banner", None)
        memory.record_quirk_sync("https://shop.example/", "lazy results")
        memory.cache_action_pattern_sync("https://shop.example/", "search",
                                         [{"fill": "search box", "text": "naïve ☃"}, {"press": "Enter"}])
        memory.cache_action_pattern_sync("https://shop.example/", "search", [{"click": "#go"}])
        memory.record_visit_sync("https://slow.example/", 9.5, status=200)
        memory.record_quirk_sync("https://quirky.example/", "popup on load", "press Escape")
        memory.import_jsonl_sync(io.StringIO(IMPORTED_LINE + "\n"))
    edit_file_doc(root, "shop.example", {
        "custom": {"kept": True, "list": [1, "two", None]},
        "selectors/search box/note": "hand-written",
        "patterns/search/source": "recorded by a newer agent",
    })
    return root


def test_file_to_redis_to_file_is_lossless(source: Path, redis_url: str, tmp_path: Path) -> None:
    original = export(source)
    assert original.count("\n") == 4 and "hand-written" in original and "future_field" in original
    with SiteMemory(source) as src, SiteMemory(redis_url) as redis_store:
        result = src.copy_to_sync(redis_store)
        assert result.imported == ("imported.example", "quirky.example", "shop.example", "slow.example")
        assert not result.skipped
        back = SiteMemory(tmp_path / "back")
        assert redis_store.copy_to_sync(back).imported == result.imported
        back.close_sync()
    assert export(redis_url) == original
    assert export(tmp_path / "back") == original
    # The documents themselves, not only their export, made the trip.
    for key in ("imported.example", "shop.example"):
        assert json.loads(Layout(tmp_path / "back").site_path(key).read_bytes()) == json.loads(
            Layout(source).site_path(key).read_bytes())


def test_migrate_command_round_trip(
    source: Path, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = export(source)
    assert main(["migrate", str(source), redis_url]) == 0
    out = capsys.readouterr().out
    assert "copied 4 sites" in out and redis_url in out
    assert main(["migrate", redis_url, str(tmp_path / "copy"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"copied": ["imported.example", "quirky.example", "shop.example", "slow.example"],
                      "skipped": {}}
    assert export(tmp_path / "copy") == original


def test_migrate_merges_sites_the_destination_knows_unless_replace(
    source: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", str(source), redis_url]) == 0
    capsys.readouterr()
    with SiteMemory(redis_url) as dst:
        dst.record_visit_sync("https://slow.example/", 1.0)  # learned in the destination only
        dst.record_visit_sync("https://only-in-dst.example/", 1.0)
        ahead = dst.get_profile_sync("slow.example").to_dict()

    # The destination already knows everything the source does: nothing to copy, nothing lost.
    assert main(["migrate", str(source), redis_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copied"] == [] and report["skipped"]["slow.example"] == "already known"
    assert {k: v for k, v in report["skipped"].items() if k != "slow.example"} == {
        "imported.example": "identical", "quirky.example": "identical", "shop.example": "identical"}
    with SiteMemory(redis_url, cache_ttl=0) as dst:
        assert dst.get_profile_sync("slow.example").to_dict() == ahead

    # The source learned more meanwhile: merged in, as an import would, counting nothing twice.
    with SiteMemory(source) as src:
        src.record_visit_sync("https://slow.example/", 2.0)
        in_source = src.get_profile_sync("slow.example").visit_count
    assert main(["migrate", str(source), redis_url]) == 0
    captured = capsys.readouterr()
    assert "copied 1 site from" in captured.out and "skipped shop.example: identical" in captured.out
    with SiteMemory(redis_url, cache_ttl=0) as dst:
        assert dst.get_profile_sync("slow.example").visit_count == in_source + 1
    assert main(["migrate", str(source), redis_url, "--json"]) == 0  # and again: nothing new
    assert json.loads(capsys.readouterr().out)["copied"] == []

    assert main(["migrate", str(source), redis_url, "--replace", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["copied"] == ["slow.example"]
    with SiteMemory(redis_url, cache_ttl=0) as dst, SiteMemory(source) as src:
        assert dst.get_profile_sync("slow.example").to_dict() == src.get_profile_sync(
            "slow.example").to_dict()
        assert dst.get_profile_sync("only-in-dst.example").visit_count == 1  # copying deletes nothing


def test_migrating_a_store_onto_itself_is_refused(
    source: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SiteMemory(source) as a, SiteMemory(source) as b, pytest.raises(ValueError, match="same store"):
        a.copy_to_sync(b)
    with SiteMemory(redis_url) as a, SiteMemory(f"{redis_url}&lock_ttl=5") as b, pytest.raises(
            ValueError, match="same store"):
        a.copy_to_sync(b)
    assert main(["migrate", str(source), str(source)]) == 2
    assert "same store" in capsys.readouterr().err
    assert main(["migrate", redis_url, redis_url]) == 2
    assert "same store" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_the_same_store_spelled_differently_is_refused_too(
    backend: str, source: Path, redis_url: str
) -> None:
    """``/a/x/../b`` is ``/a/b``, and localhost is 127.0.0.1: copying a store onto itself under
    another name must be refused like the plain case, not wait for its own lock until
    ``LockTimeout``."""
    if backend == "file":
        (source.parent / "x").mkdir()
        one: str | Path = source
        other: str | Path = source.parent / "x" / ".." / source.name
    else:
        one, other = redis_url, redis_url.replace("127.0.0.1", "localhost")
    with SiteMemory(one, lock_timeout=0.5) as a, SiteMemory(other, lock_timeout=0.5) as b, \
            pytest.raises(ValueError, match="same store"):
        a.copy_to_sync(b)


def start_update(memory: SiteMemory, url: str) -> tuple[threading.Thread, list[BaseException]]:
    """``record_visit_sync(url)`` on a new thread; returns it and the list its error lands in."""
    errors: list[BaseException] = []

    def update() -> None:
        try:
            memory.record_visit_sync(url, 1.0)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=update)
    thread.start()
    return thread, errors


def held_by_someone(memory: SiteMemory) -> bool:
    """Whether another holder has ``memory``'s store-wide lock (a probe that takes it if free)."""
    try:
        with memory._store.maintenance():
            return False
    except LockTimeout:
        return True


@pytest.mark.parametrize("direction", ["file-to-redis", "redis-to-file"])
def test_updates_during_a_migration_wait_for_it_and_are_not_lost(
    direction: str, tmp_path: Path, redis_url: str
) -> None:
    file_root = tmp_path / "files"
    src_location, dst_location = (file_root, redis_url) if direction == "file-to-redis" else (
        redis_url, file_root)
    hot = "https://hot.example/"
    with SiteMemory(src_location) as seed:
        for i in range(30):
            seed.record_visit_sync(f"https://site{i}.example/", 1.0)
        for _ in range(5):
            seed.record_visit_sync(hot, 1.0)

    src, dst = SiteMemory(src_location), SiteMemory(dst_location)
    blocker = SiteMemory(dst_location)
    probe = SiteMemory(src_location, lock_timeout=0.05)
    results: list[Any] = []
    copier = threading.Thread(target=lambda: results.append(src.copy_to_sync(dst)))
    hold: AbstractContextManager[None] = blocker._store.maintenance()
    hold.__enter__()  # the copy takes the source, then waits here for the destination
    try:
        copier.start()
        deadline = time.monotonic() + GUARD
        while not held_by_someone(probe):
            assert time.monotonic() < deadline, "the copy never took the source store"
            time.sleep(0.02)
        assert copier.is_alive()
        updaters = [start_update(SiteMemory(src_location, lock_timeout=GUARD), hot) for _ in range(4)]
        time.sleep(0.3)
        assert all(thread.is_alive() for thread, _ in updaters), "an update did not wait for the copy"
    finally:
        hold.__exit__(None, None, None)
    copier.join(GUARD)
    assert not copier.is_alive()
    for thread, errors in updaters:
        thread.join(GUARD)
        assert not thread.is_alive() and not errors, errors
    (result,) = results
    assert len(result.imported) == 31 and not result.skipped
    with SiteMemory(src_location, cache_ttl=0) as check_src, \
            SiteMemory(dst_location, cache_ttl=0) as check_dst:
        assert check_src.get_profile_sync(hot).visit_count == 5 + 4  # none lost
        assert check_dst.get_profile_sync(hot).visit_count == 5  # the copy saw none of them
        assert check_dst.list_sites_sync() == sorted(
            [site_key(hot), *(f"site{i}.example" for i in range(30))])
    for memory in (src, dst, blocker, probe):
        memory.close_sync()


def test_migrating_from_a_missing_directory_is_refused(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped source must not be created empty and "copied" with exit 0."""
    missing = tmp_path / "no-such-store"
    assert main(["migrate", str(missing), redis_url]) == 2
    assert "no store at" in capsys.readouterr().err
    assert not missing.exists()


def test_what_the_source_forgot_stays_forgotten_in_the_destination(tmp_path: Path, redis_url: str) -> None:
    source = tmp_path / "src"
    with SiteMemory(source) as src:
        for _ in range(4):
            src.record_visit_sync("https://gone.example/", 1.0)
        backup = io.StringIO()
        src.export_sync(backup)
        src.forget_sync("https://gone.example/")
        src.record_visit_sync("https://kept.example/", 1.0)
    assert main(["migrate", str(source), redis_url]) == 0
    with SiteMemory(redis_url, cache_ttl=0) as dst:
        assert dst.list_sites_sync() == ["kept.example"]
        dst.import_jsonl_sync(io.StringIO(backup.getvalue()))  # an old backup, restored there
        assert dst.get_profile_sync("gone.example") is None
