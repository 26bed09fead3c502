"""Each site's visit history: bounded, exactly the visits counted, safe from planted files,
followed as agents record, on both backends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory, VisitRecord
from sitememory_plugin._core.bounds import MAX_HISTORY, MAX_HISTORY_LINE, MAX_READ_BYTES
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.history import error_class, parse_lines, url_path

URL = "https://shop.example/cart?session=s3cr3t#top"
def step(follower: Iterator[VisitRecord], timeout: float = 30.0) -> VisitRecord:
    """The follower's next record, or the test fails (instead of waiting for ever for one it
    missed: the daemon thread left waiting ends with the test run)."""
    got: list[VisitRecord] = []
    reader = threading.Thread(target=lambda: got.append(next(follower)), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got, f"no record within {timeout} s"
    return got[0]


async def astep(follower: AsyncIterator[VisitRecord], timeout: float = 30.0) -> VisitRecord:
    return await asyncio.wait_for(anext(follower), timeout)


# -- the record ------------------------------------------------------------------------------------


def test_a_record_keeps_the_path_not_the_query_and_the_error_as_its_class(store_location: str | Path) -> None:
    memory = SiteMemory(store_location, durability="none")
    memory.record_visit_sync(URL, 1.25, status=200, timings={"ttfb": 0.2, "load": 1.2, "redirects": 1})
    memory.record_visit_sync("https://shop.example/", 30.0, error="TimeoutError: Timeout 30000ms exceeded.")
    memory.record_visit_sync("shop.example", 0.1, error="Page.goto: net::ERR_CONNECTION_REFUSED at x")
    memory.record_visit_sync("https://shop.example/gone", 0.3, status=404)
    ok, timeout, refused, missing = memory.visit_history_sync("shop.example")
    assert (ok.path, ok.status, ok.error, ok.duration, dict(ok.timings)) == (
        "/cart", 200, None, 1.25, {"ttfb": 0.2, "load": 1.2})
    assert "s3cr3t" not in json.dumps(ok.to_dict())
    assert (timeout.error, timeout.ok, timeout.measures_load) == ("timeout", False, True)
    assert (refused.path, refused.error, refused.measures_load) == ("/", "net::ERR_CONNECTION_REFUSED", False)
    assert (missing.status, missing.ok, missing.measures_load) == (404, False, False)
    assert ok.at <= timeout.at <= refused.at <= missing.at


def test_error_classes_and_paths() -> None:
    assert error_class(None) is None
    assert error_class("net::ERR_NAME_NOT_RESOLVED at https://x/") == "net::ERR_NAME_NOT_RESOLVED"
    assert error_class("playwright._impl._errors.Error: boom") == "Error"
    assert error_class("the site said no\nsecond line") == "the site said no"
    assert len(error_class("x" * 5000) or "") == 80
    assert url_path("https://a.example") == "/"
    assert url_path("not a url") == "/"
    assert len(url_path("https://a.example/" + "p" * 1000)) == 200


def test_junk_lines_are_skipped_never_an_error() -> None:
    good = VisitRecord(1.0, "/a", 0.5, 200).to_line()
    junk = [b"{", b"[]", b'{"at": "soon", "path": "/", "duration": 1}',
            b'{"at": 1, "path": 3, "duration": 1}', b'{"at": 1, "path": "/", "duration": -1}',
            b'{"at": 1, "path": "/", "duration": 1, "status": true}',
            b'{"at": 1, "path": "/", "duration": 1, "error": {}}', b"[" * 100_000,
            b'{"at": 1e300, "path": "/", "duration": 1}', b'{"at": -5, "path": "/", "duration": 1}',
            b'{"at": 1, "path": "/", "duration": 1e300}',
            b'{"at": 1, "path": "' + b"p" * MAX_HISTORY_LINE + b'", "duration": 1}', b"\xff\xfe"]
    assert parse_lines(b"\n".join([good, *junk, good])) == [VisitRecord(1.0, "/a", 0.5, 200)] * 2


# -- bounded, and exactly what was counted ---------------------------------------------------------------


def test_the_history_keeps_the_last_visits_and_its_file_stays_small(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    for i in range(2 * MAX_HISTORY + 150):
        memory.record_visit_sync(f"https://big.example/p{i}", 0.1)
    history = memory.visit_history_sync("big.example")
    assert [r.path for r in history] == [f"/p{i}" for i in range(MAX_HISTORY + 150, 2 * MAX_HISTORY + 150)]
    assert [r.path for r in memory.visit_history_sync("big.example", limit=3)] == [
        f"/p{2 * MAX_HISTORY + 150 - n}" for n in (3, 2, 1)]
    lines = Layout(store_path).history_path("big.example").read_bytes().count(b"\n")
    assert MAX_HISTORY <= lines <= 2 * MAX_HISTORY
    assert memory.get_profile_sync("big.example").visit_count == 2 * MAX_HISTORY + 150  # counts are whole


def test_limit_is_checked(store_location: str | Path) -> None:
    memory = SiteMemory(store_location, durability="none")
    memory.record_visit_sync("https://a.example/", 0.1)
    assert memory.visit_history_sync("a.example", limit=0) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        memory.visit_history_sync("a.example", limit=-1)
    with pytest.raises(TypeError):
        memory.visit_history_sync("a.example", limit="5")  # type: ignore[arg-type]
    assert SiteMemory(store_location).visit_history_sync("never.example") == []


def test_forgetting_a_site_forgets_its_history(store_location: str | Path) -> None:
    memory = SiteMemory(store_location, durability="none")
    memory.record_visit_sync("https://f.example/old", 0.1)
    memory.forget_sync("f.example")
    assert memory.visit_history_sync("f.example") == []
    memory.record_visit_sync("https://f.example/new", 0.1)
    assert [r.path for r in memory.visit_history_sync("f.example")] == ["/new"]


def test_write_behind_adds_visits_when_they_are_written_and_never_those_a_forget_discarded(
    store_location: str | Path,
) -> None:
    behind = SiteMemory(store_location, flush_interval=3600, durability="none")
    behind.record_visit_sync("https://wb.example/before-forget", 0.1)
    other = SiteMemory(store_location, durability="none")
    other.record_visit_sync("https://wb.example/other", 0.1)
    time.sleep(0.01)
    other.forget_sync("wb.example")
    behind.record_visit_sync("https://wb.example/after-forget", 0.2)
    assert other.visit_history_sync("wb.example") == []  # nothing flushed yet
    behind.flush_sync()
    assert [r.path for r in other.visit_history_sync("wb.example")] == ["/after-forget"]
    assert SiteMemory(store_location, cache_ttl=0).get_profile_sync("wb.example").visit_count == 1


def test_pruned_sites_lose_their_history(store_location: str | Path) -> None:
    memory = SiteMemory(store_location, durability="none")
    memory.record_visit_sync("https://idle.example/", 0.1)
    time.sleep(0.01)
    assert memory.prune_sync(0) == ["idle.example"]  # idle for longer than 0 s
    assert memory.visit_history_sync("idle.example") == []


def test_processes_recording_at_once_lose_no_visit_from_the_history(store_location: str | Path) -> None:
    script = (
        "import sys\nfrom sitememory_plugin import SiteMemory\n"
        "where, me, behind = sys.argv[1], sys.argv[2], sys.argv[3] == '1'\n"
        "m = SiteMemory(where, flush_interval=0.05 if behind else None, durability='none')\n"
        "for i in range(40):\n    m.record_visit_sync(f'https://hot.example/{me}/{i}', 0.01)\n"
        "m.close_sync()\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", script, str(store_location), f"w{n}", str(n % 2)])
                for n in range(4)]
    assert [c.wait(timeout=120) for c in children] == [0, 0, 0, 0]
    paths = [r.path for r in SiteMemory(store_location).visit_history_sync("hot.example")]
    assert sorted(paths) == sorted(f"/w{n}/{i}" for n in range(4) for i in range(40))


# -- files planted or broken -------------------------------------------------------------------------------


def test_a_link_planted_as_the_history_is_moved_aside_and_its_target_untouched(
    store_path: Path, tmp_path: Path,
) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("https://plant.example/", 0.1)
    path = Layout(store_path).history_path("plant.example")
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    path.unlink()
    path.symlink_to(target)
    assert memory.visit_history_sync("plant.example") == []  # a link is not read either
    memory.record_visit_sync("https://plant.example/after", 0.1)
    assert target.read_text() == "keep me\n"
    assert not path.is_symlink()
    assert [r.path for r in memory.visit_history_sync("plant.example")] == ["/after"]
    assert memory.get_profile_sync("plant.example").visit_count == 2


def test_a_directory_or_a_huge_file_planted_as_the_history_is_moved_aside(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("https://dir.example/", 0.1)
    path = Layout(store_path).history_path("dir.example")
    path.unlink()
    path.mkdir()
    memory.record_visit_sync("https://dir.example/now", 0.1)
    assert [r.path for r in memory.visit_history_sync("dir.example")] == ["/now"]
    with open(path, "r+b") as f:  # a sparse file larger than any history
        f.truncate(MAX_READ_BYTES + 1)
    memory.record_visit_sync("https://dir.example/then", 0.1)  # no error: it is moved aside
    memory.record_visit_sync("https://dir.example/last", 0.1)
    assert [r.path for r in memory.visit_history_sync("dir.example")] == ["/last"]
    assert memory.get_profile_sync("dir.example").visit_count == 4
    assert len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 2


_FULL = """
import resource, signal, sys
from sitememory_plugin import SiteMemory
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
memory = SiteMemory(sys.argv[1], durability="none")
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
memory.record_visit_sync("https://full.example/", 0.1)
print(memory.stats_sync().history_errors)
"""


def test_a_history_that_cannot_be_written_never_loses_the_visit(store_path: Path) -> None:
    """The history file is as large as the process may write (RLIMIT_FSIZE: a full disk for it),
    the document is not: the visit counts, the history's failure is logged and counted."""
    memory = SiteMemory(store_path, durability="none")
    for i in range(300):
        memory.record_visit_sync(f"https://full.example/{i}", 0.1)
    size = Layout(store_path).history_path("full.example").stat().st_size
    assert size > 4 * Layout(store_path).site_path("full.example").stat().st_size
    done = subprocess.run([sys.executable, "-c", _FULL, str(store_path), str(size)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1" and "could not add them to its history" in done.stderr
    assert "File too large" in done.stderr
    assert SiteMemory(store_path, cache_ttl=0).get_profile_sync("full.example").visit_count == 301
    assert len(memory.visit_history_sync("full.example")) == 300


def test_a_torn_line_costs_only_itself(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("https://torn.example/one", 0.1)
    path = Layout(store_path).history_path("torn.example")
    with open(path, "ab") as f:
        f.write(b'{"at": 1, "path": "/half')  # a writer that died mid-line
    memory.record_visit_sync("https://torn.example/two", 0.1)
    assert [r.path for r in memory.visit_history_sync("torn.example")] == ["/one", "/two"]


# -- following -------------------------------------------------------------------------------------


def test_following_yields_the_last_visits_then_each_new_one_from_any_process(
    store_location: str | Path,
) -> None:
    memory = SiteMemory(store_location, durability="none")
    for i in range(5):
        memory.record_visit_sync(f"https://follow.example/{i}", 0.1)
    follower = SiteMemory(store_location).follow_visits_sync("follow.example", last=2, poll=0.1)
    assert [step(follower).path for _ in range(2)] == ["/3", "/4"]
    seen: list[str] = []

    def follow() -> None:
        for record in follower:
            seen.append(record.path)
            if len(seen) == 3:
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    other = SiteMemory(store_location, durability="none")
    for name in ("a", "b", "c"):
        other.record_visit_sync(f"https://follow.example/{name}", 0.1)
    reader.join(timeout=30)
    assert seen == ["/a", "/b", "/c"]


def test_following_goes_on_across_a_compaction(store_path: Path) -> None:
    """A follower that fell behind by more than the history keeps skips what it no longer
    keeps, and goes on in order from what it does."""
    memory = SiteMemory(store_path, durability="none")
    follower = SiteMemory(store_path).follow_visits_sync("grow.example", poll=0.05)
    memory.record_visit_sync("https://grow.example/first", 0.1)
    assert step(follower).path == "/first"
    inode = os.stat(Layout(store_path).history_path("grow.example")).st_ino
    written = [f"/{i}" for i in range(2 * MAX_HISTORY)]
    for path in written:  # past the rewrite
        memory.record_visit_sync(f"https://grow.example{path}", 0.1)
    assert os.stat(Layout(store_path).history_path("grow.example")).st_ino != inode  # rewritten
    got = [step(follower).path]
    while got[-1] != written[-1]:
        got.append(step(follower).path)
    assert got == written[-len(got):]
    assert MAX_HISTORY <= len(got) < len(written)
    memory.record_visit_sync("https://grow.example/next", 0.1)
    assert step(follower).path == "/next"


@pytest.mark.asyncio
async def test_following_with_the_async_api(store_location: str | Path) -> None:
    memory = SiteMemory(store_location, durability="none")
    await memory.record_visit("https://async.example/old", 0.1)
    follower = memory.follow_visits("async.example", poll=0.1)
    assert (await astep(follower)).path == "/old"
    await memory.record_visit("https://async.example/new", 0.1)
    assert (await astep(follower)).path == "/new"
    await follower.aclose()
    await memory.close()


def test_following_checks_its_arguments_at_the_call(store_path: Path) -> None:
    memory = SiteMemory(store_path)
    with pytest.raises(ValueError, match="poll must be > 0"):
        memory.follow_visits_sync("a.example", poll=0)
    with pytest.raises(ValueError, match="last must be >= 0"):
        memory.follow_visits("a.example", last=-5)
    with pytest.raises(TypeError, match="poll"):
        memory.follow_visits_sync("a.example", poll="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        memory.follow_visits_sync("not a url!!")


def test_a_follower_misses_no_visit_a_compaction_brings_in_out_of_time_order(store_path: Path) -> None:
    """The file is in commit order: a write-behind visit, stamped earlier, can land in the very
    append that rewrites the file. The review's case: it was skipped for being "older"."""
    memory = SiteMemory(store_path, durability="none")
    for i in range(2 * MAX_HISTORY - 2):
        memory.record_visit_sync(f"https://late.example/{i}", 0.1)
    follower = SiteMemory(store_path).follow_visits_sync("late.example", last=1, poll=0.05)
    assert step(follower).path == f"/{2 * MAX_HISTORY - 3}"
    behind = SiteMemory(store_path, flush_interval=3600, durability="none")
    behind.record_visit_sync("https://late.example/late", 0.1)  # stamped now, written later
    memory.record_visit_sync("https://late.example/after", 0.1)
    assert step(follower).path == "/after"
    inode = os.stat(Layout(store_path).history_path("late.example")).st_ino
    behind.flush_sync()  # its line is the one that makes the file rewritten
    assert os.stat(Layout(store_path).history_path("late.example")).st_ino != inode
    assert step(follower).path == "/late"
    memory.record_visit_sync("https://late.example/next", 0.1)
    assert step(follower).path == "/next"


def test_a_follower_sees_every_visit_after_a_forget_even_in_a_file_with_the_same_inode(
    store_path: Path,
) -> None:
    memory = SiteMemory(store_path, durability="none")
    for i in range(3):
        memory.record_visit_sync(f"https://reuse.example/old{i}", 0.1)
    follower = SiteMemory(store_path).follow_visits_sync("reuse.example", last=3, poll=0.05)
    assert [step(follower).path for _ in range(3)] == ["/old0", "/old1", "/old2"]
    memory.forget_sync("reuse.example")
    for i in range(6):  # a longer new file, often on the freed inode
        memory.record_visit_sync(f"https://reuse.example/new{i}", 0.1)
    assert [step(follower).path for _ in range(6)] == [f"/new{i}" for i in range(6)]


def test_a_forget_that_arrives_by_migrate_takes_the_history_with_it(store_location: str | Path,
                                                                    tmp_path: Path) -> None:
    destination = SiteMemory(store_location, durability="none")
    destination.record_visit_sync("https://gone.example/secret-old-path", 0.1)
    source = SiteMemory(tmp_path / "source", durability="none")
    source.record_visit_sync("https://gone.example/", 0.1)
    time.sleep(0.01)
    source.forget_sync("gone.example")
    source.copy_to_sync(destination)
    assert destination.get_profile_sync("gone.example") is None
    assert destination.visit_history_sync("gone.example") == []
    destination.record_visit_sync("https://gone.example/new", 0.1)  # it lives again: only what is new
    assert [r.path for r in destination.visit_history_sync("gone.example")] == ["/new"]
    assert destination.get_profile_sync("gone.example").visit_count == 1


def test_redis_a_value_planted_at_the_history_key_never_makes_a_visit_count_twice(redis_url: str) -> None:
    import redis

    base, prefix = redis_url.split("?prefix=")
    memory = SiteMemory(redis_url)
    memory.record_visit_sync("https://w.example/", 0.1)
    with redis.Redis.from_url(base) as client:
        client.delete(f"{prefix}:visits:w.example")
        client.set(f"{prefix}:visits:w.example", "junk")
    memory.record_visit_sync("https://w.example/after", 0.1)  # no error
    behind = SiteMemory(redis_url, flush_interval=3600)
    for _ in range(3):
        behind.record_visit_sync("https://w.example/behind", 0.1)
    behind.flush_sync()
    assert SiteMemory(redis_url, cache_ttl=0).get_profile_sync("w.example").visit_count == 5
    assert [r.path for r in memory.visit_history_sync("w.example")] == ["/after", *["/behind"] * 3]
    assert memory.stats_sync().history_errors == 1


def test_migrate_copies_the_history_and_joins_it_with_the_destinations_once(
    store_path: Path, redis_url: str, tmp_path: Path,
) -> None:
    source = SiteMemory(store_path, durability="none")
    for i in range(3):
        source.record_visit_sync(f"https://moved.example/{i}", 0.1)
    target = SiteMemory(redis_url)
    target.record_visit_sync("https://moved.example/there", 0.2)
    for _ in range(2):  # again: nothing doubles
        source.copy_to_sync(target)
    assert [r.path for r in SiteMemory(redis_url).visit_history_sync("moved.example")] == [
        "/0", "/1", "/2", "/there"]
    back = SiteMemory(tmp_path / "back")
    target.copy_to_sync(back)
    assert [r.path for r in back.visit_history_sync("moved.example")] == ["/0", "/1", "/2", "/there"]
    back.record_visit_sync("https://moved.example/after", 0.1)  # appends to the copied file
    assert [r.path for r in back.visit_history_sync("moved.example", limit=2)] == ["/there", "/after"]
