"""Writers killed with SIGKILL at random moments: no torn or lost document, no stale lock or temp file.

A SIGKILL is not a power loss: the page cache survives it, so an update whose call returned is
on disk, and the acknowledgement a writer appends right after each update is exact.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from sitememory_plugin import LockTimeout, ReadWriteLock, SiteMemory, site_key
from sitememory_plugin._core.files import SHARDS, STRIPES, Layout
from sitememory_plugin._core.keys import shard_of
from tests._workers import Spawner, assert_clean_files, iter_ack_lines, start_waiting_update

URLS = ["https://crash-a.example/", "http://www.crash-b.example/x", "https://crash-c.example:8443/"]
KEYS = [site_key(u) for u in URLS]
ROUNDS = 40
WRITERS_PER_ROUND = 2
#: A host long enough that its document's file name is a hash of it ("~<sha256>.json").
LONG_HOST = ".".join(c * 60 for c in "abcd") + ".example"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    SiteMemory(path).initialize_sync()
    return path


def stripe_lock(root: Path, key: str, timeout: float = 10.0) -> ReadWriteLock:
    return ReadWriteLock(Layout(root).stripe_path(Layout.stripe_for(key)), timeout)


def assert_all_locks_free(root: Path, keys: list[str]) -> None:
    """Each lock a writer may hold can be taken exclusively at once, without waiting."""
    layout = Layout(root)
    for index in range(STRIPES):
        with ReadWriteLock(layout.stripe_path(index)).exclusive(timeout=0):
            pass


def visit_counts(root: Path) -> dict[str, int]:
    memory = SiteMemory(root, cache_ttl=0, durability="none")
    counts = {}
    for key in KEYS:
        profile = memory.get_profile_sync(key)
        counts[key] = 0 if profile is None else profile.visit_count
    return counts


def test_writers_killed_at_random_moments(spawn: Spawner, root: Path, tmp_path: Path) -> None:
    rng = random.Random(20240607)
    ack = tmp_path / "acks"
    kills = 0
    temp_files_seen = 0
    for round_no in range(ROUNDS):
        writers = [
            spawn("crash_writer", root=str(root), urls=URLS, ack=str(ack),
                  seed=rng.randrange(1 << 30), writer=f"r{round_no}w{i}")
            for i in range(WRITERS_PER_ROUND)
        ]
        for writer in writers:
            writer.expect("ready")
        for writer in writers:
            time.sleep(rng.uniform(0.005, 0.08))  # the moment of the kill, not a synchronisation
            writer.kill()
            kills += 1
        # A dead writer holds nothing: every lock is free at once.
        assert_all_locks_free(root, KEYS)
        temp_files_seen += len(list(Layout(root).temp_files()))

    acked = Counter(KEYS[index] for index, _, _ in iter_ack_lines(ack.read_bytes()))
    assert sum(acked.values()) > ROUNDS, "the writers hardly wrote anything: the test proves nothing"

    # Before anything cleans up: every document parses, none was quarantined.
    names = [p.name for p in (root / "sites").rglob("*") if p.is_file()]
    assert not [n for n in names if ".corrupt-" in n], names
    layout = Layout(root)
    assert sorted(layout.site_files()) == sorted(layout.site_path(k) for k in KEYS)
    counts = {}
    for key in KEYS:
        doc = json.loads(layout.site_path(key).read_bytes())
        assert doc["domain"] == key
        assert doc["success_count"] + doc["failure_count"] == doc["visit_count"]
        counts[key] = doc["visit_count"]

    # Every acknowledged update is there; at most one unacknowledged update per kill landed.
    for key in KEYS:
        assert acked[key] <= counts[key] <= acked[key] + kills, (key, acked[key], counts[key], kills)
    assert sum(acked.values()) <= sum(counts.values()) <= sum(acked.values()) + kills

    # A new memory opening the store removes whatever temp files the kills left behind.
    SiteMemory(root).initialize_sync()
    assert_clean_files(root)
    assert visit_counts(root) == counts
    # And the store goes on working: the next update lands on top of what was there.
    memory = SiteMemory(root, lock_timeout=5.0)
    memory.record_visit_sync(URLS[0], 1.0)
    assert visit_counts(root)[KEYS[0]] == counts[KEYS[0]] + 1
    print(f"{kills} kills, {sum(acked.values())} acknowledged updates, "
          f"{temp_files_seen} temp files seen after kills")


def stale_temp(root: Path, key: str, name: str | None = None) -> Path:
    """Write a temp file as a writer killed before its rename would have left it."""
    shard = root / "sites" / f"{shard_of(key, SHARDS):02x}"
    shard.mkdir(exist_ok=True)
    tmp = shard / f".{name or key}.json.tmp"
    tmp.write_bytes(b'{"format": "sitememory.site", "version": 1, "domain": "exa')  # cut short
    return tmp


@pytest.mark.parametrize("first_use", ["initialize_sync", "get_profile_sync", "record_visit_sync"])
def test_stale_temp_file_is_removed_on_open(root: Path, first_use: str) -> None:
    memory = SiteMemory(root, lock_timeout=5.0)
    memory.record_visit_sync("example.com", 1.0)
    tmp = stale_temp(root, "example.com")
    assert tmp.name == ".example.com.json.tmp"
    assert tmp.parent == Layout(root).site_path("example.com").parent

    fresh = SiteMemory(root, lock_timeout=5.0)
    if first_use == "initialize_sync":
        fresh.initialize_sync()
    elif first_use == "get_profile_sync":
        fresh.get_profile_sync("other.example")
    else:
        fresh.record_visit_sync("other.example", 1.0)
    assert not tmp.exists()
    # The document itself is untouched.
    assert fresh.get_profile_sync("example.com").visit_count == 1
    assert_clean_files(root)


def test_stale_temp_file_with_hashed_name_is_removed_on_open(root: Path) -> None:
    key = site_key(LONG_HOST)
    assert Layout(root).site_path(key).name.startswith("~")
    tmp = stale_temp(root, key, name=Layout(root).site_path(key).stem)
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()


def test_temp_file_of_a_live_writer_is_kept(spawn: Spawner, root: Path) -> None:
    key = "example.com"
    tmp = stale_temp(root, key)
    holder = spawn("hold", locks=[[str(stripe_lock(root, key).path), "exclusive"]])
    holder.expect("held")
    SiteMemory(root).initialize_sync()
    assert tmp.exists(), "removed the temp file of a writer that holds the site's lock"
    holder.send("release")
    holder.expect("released")
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()
    holder.finish()


def test_temp_file_with_hashed_name_is_kept_while_an_update_runs(spawn: Spawner, root: Path) -> None:
    # The stripe comes from the file name, so a hashed name is guarded like any other.
    key = site_key(LONG_HOST)
    tmp = stale_temp(root, key, name=Layout(root).site_path(key).stem)
    holder = spawn("hold", locks=[[str(stripe_lock(root, key).path), "exclusive"]])
    holder.expect("held")
    SiteMemory(root).initialize_sync()
    assert tmp.exists()
    holder.kill()
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()


def test_writer_killed_between_temp_file_and_rename(spawn: Spawner, root: Path) -> None:
    url = "https://mid-write.example/"
    key = site_key(url)
    writer = spawn("stall_writer", root=str(root), url=url, n=3)
    writer.expect("stalled")
    tmp = Layout(root).site_path(key).with_name(f".{Layout(root).site_path(key).name}.tmp")
    assert tmp.exists()  # the new document, written and fsynced, not yet renamed
    with pytest.raises(LockTimeout):
        stripe_lock(root, key).exclusive(timeout=0).acquire()
    # Another process opening the store now leaves the live writer's temp file alone.
    SiteMemory(root).initialize_sync()
    assert tmp.exists()
    reader = SiteMemory(root, cache_ttl=0)
    assert reader.get_profile_sync(url).visit_count == 3

    writer.kill()
    # The interrupted update never happened; the old document is intact; the lock is free at once.
    assert reader.get_profile_sync(url).visit_count == 3
    assert_all_locks_free(root, [key])
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()
    assert_clean_files(root)
    SiteMemory(root, lock_timeout=0).record_visit_sync(url, 1.0)
    assert reader.get_profile_sync(url).visit_count == 4


def test_forget_killed_before_its_tombstone_is_renamed(spawn: Spawner, root: Path) -> None:
    """A tombstone is written through the document's own temp file, which the site's lock guards:
    a process opening the store meanwhile leaves it alone, and a forget killed there never
    happened."""
    url = "https://mid-forget.example/"
    key = site_key(url)
    forgetter = spawn("stall_forget", root=str(root), url=url, n=2)
    forgetter.expect("stalled")
    tmp = Layout(root).site_path(key).with_name(f".{Layout(root).site_path(key).name}.tmp")
    assert tmp.exists()
    SiteMemory(root).initialize_sync()
    assert tmp.exists()
    forgetter.kill()
    assert SiteMemory(root, cache_ttl=0).get_profile_sync(url).visit_count == 2
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()
    assert_clean_files(root)


def test_temp_file_of_a_running_maintenance_is_kept(spawn: Spawner, root: Path, tmp_path: Path) -> None:
    """A maintenance (here ``import_legacy``) writes documents holding every stripe: a process
    opening the store meanwhile must leave its temp files alone."""
    url = "https://imported.example/"
    key = site_key(url)
    importer = spawn("stall_import", root=str(root), url=url, legacy=str(tmp_path / "legacy.json"))
    importer.expect("stalled")
    tmp = Layout(root).site_path(key).with_name(f".{Layout(root).site_path(key).name}.tmp")
    assert tmp.exists()  # the imported document, written, not yet renamed
    for index in (0, Layout.stripe_for(key), STRIPES - 1):
        with pytest.raises(LockTimeout):
            ReadWriteLock(Layout(root).stripe_path(index)).shared(timeout=0).acquire()
    SiteMemory(root).initialize_sync()
    assert tmp.exists(), "removed the temp file of a running maintenance (import_legacy)"
    importer.kill()
    SiteMemory(root).initialize_sync()
    assert not tmp.exists()
    assert_clean_files(root)


def test_killed_lock_holder_frees_the_site_at_once(spawn: Spawner, root: Path) -> None:
    url = "https://held.example/"
    key = site_key(url)
    holder = spawn("hold", locks=[[str(stripe_lock(root, key).path), "exclusive"]])
    holder.expect("held")
    with pytest.raises(LockTimeout):
        SiteMemory(root, lock_timeout=0).record_visit_sync(url, 1.0)
    holder.kill()
    # lock_timeout=0: the update must find the lock free the moment the holder is reaped.
    SiteMemory(root, lock_timeout=0).record_visit_sync(url, 1.0)
    assert SiteMemory(root).get_profile_sync(url).visit_count == 1


def test_writer_waiting_on_a_killed_holder_proceeds(spawn: Spawner, root: Path) -> None:
    url = "https://held.example/"
    key = site_key(url)
    holder = spawn("hold", locks=[[str(stripe_lock(root, key).path), "exclusive"]])
    holder.expect("held")
    memory = SiteMemory(root, lock_timeout=60.0)
    waiter, errors = start_waiting_update(memory, url)
    holder.kill()
    waiter.join(30)  # far less than lock_timeout: it must not have timed out
    assert not waiter.is_alive() and not errors, errors
    assert memory.get_profile_sync(url).visit_count == 1
    # The lock is free again, once the waiter's update is done.
    assert_all_locks_free(root, [key])
    assert os.path.exists(Layout(root).site_path(key))
