"""Things planted in a file store: links, FIFOs, device nodes and huge files where the store keeps
its documents, temp files, shards, locks and marker.

Each test plants the real thing (as root: a device node too) and checks that nothing outside the
store is written (a directory outside stays identical, file by file, and gains nothing), that the
plant is refused with a typed error or moved aside, and that the site works again afterwards.
Reads that could hang (a FIFO) or never end (a device) run in a child process with a hang guard
and a memory limit, so that a library that blocks or reads without bound fails the test instead of
hanging it or filling the machine's memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import sitememory_plugin
from sitememory_plugin import SiteMemory, StoreFormatError
from sitememory_plugin._core.files import Layout

#: Hang guard for a child process: far longer than any of them takes on a busy machine.
GUARD = 60.0
#: The library these tests import, for the child processes to import too.
LIBRARY = str(Path(sitememory_plugin.__file__).resolve().parent.parent)
#: Larger than bounds.MAX_READ_BYTES (64 MiB).
HUGE = 70 * 1024 * 1024
#: How much a child may grow once warmed up: less than HUGE, far more than a read of a small
#: document needs.
HEADROOM = 32 * 1024 * 1024

Snapshot = dict[str, tuple[object, ...]]


def snapshot(root: Path) -> Snapshot:
    """Everything under ``root``: kind, mode, and for files their bytes and mtime."""
    seen: Snapshot = {}
    for directory, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            path = Path(directory, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                seen[rel] = ("file", st.st_mode, st.st_mtime_ns, path.read_bytes())
            elif stat.S_ISLNK(st.st_mode):
                seen[rel] = ("link", os.readlink(path))
            else:
                seen[rel] = ("other", st.st_mode, st.st_rdev)
    return seen


def outside_dir(tmp_path: Path) -> Path:
    """A directory outside the store with a file in it that nothing may touch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"not the store's\n")
    return outside


def site_file(store: Path, site: str) -> Path:
    (path,) = store.glob(f"sites/*/{site}.json")
    return path


def works_again(store: Path, site: str, visits: int) -> None:
    """A fresh memory reads the site and records a visit: its file is a plain file again."""
    memory = SiteMemory(store, durability="none")
    profile = memory.get_profile_sync(site)
    assert (0 if profile is None else profile.visit_count) == visits
    memory.record_visit_sync(site, 1.0)
    assert SiteMemory(store).get_profile_sync(site).visit_count == visits + 1
    assert stat.S_ISREG(site_file(store, site).lstat().st_mode)


# -- a child process that may not hang or grow ----------------------------------------------------

CHILD = r"""
import json, os, resource, sys
from sitememory_plugin import SiteMemory, StoreFormatError

warm, store, op, site, out, headroom = sys.argv[1:7]
# Warm up on a store of its own, so that imports and first allocations come before the limit.
with SiteMemory(warm, durability="none") as memory:
    memory.record_visit_sync("warm.example", 0.1)
    memory.get_profile_sync("warm.example")
    memory.export_sync(os.devnull)
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(headroom), resource.getrlimit(resource.RLIMIT_AS)[1]))

memory = SiteMemory(store, durability="none")
if op == "get_profile":
    profile = memory.get_profile_sync(site)
    result = {"profile": None if profile is None else profile.visit_count}
elif op == "export":
    count = memory.export_sync(out)
    with open(out) as lines:
        result = {"count": count, "domains": [json.loads(line)["domain"] for line in lines]}
else:
    try:
        memory.initialize_sync()
        result = {"error": None}
    except StoreFormatError as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps(result))
"""


def run_child(tmp_path: Path, store: Path, op: str, site: str = "") -> dict[str, object]:
    """Run ``op`` on ``store`` in a child process; fail if it hangs, runs out of memory or raises."""
    env = {**os.environ, "PYTHONPATH": LIBRARY, "MALLOC_ARENA_MAX": "1"}
    args = [str(tmp_path / "warm"), str(store), op, site, str(tmp_path / "export.jsonl"), str(HEADROOM)]
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True,
                              text=True, timeout=GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{op} hung (killed after {GUARD:g} s)")
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


# -- the temp file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["victim.txt", "new.txt"], ids=["existing-file", "dangling"])
def test_a_link_planted_at_the_temp_file_is_replaced_not_written_through(
    tmp_path: Path, store_path: Path, target: str
) -> None:
    outside = outside_dir(tmp_path)
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("tmp.example", 1.0)
    path = site_file(store_path, "tmp.example")
    # Planted while the memory is open: only the next write finds it.
    os.symlink(outside / target, path.with_name(".tmp.example.json.tmp"))
    before = snapshot(outside)

    memory.record_visit_sync("tmp.example", 1.0)

    assert snapshot(outside) == before
    assert stat.S_ISREG(path.lstat().st_mode)
    assert not path.with_name(".tmp.example.json.tmp").exists()
    assert json.loads(path.read_bytes())["domain"] == "tmp.example"
    works_again(store_path, "tmp.example", 2)


# -- a shard, sites or locks replaced by a link ------------------------------------------------------


@pytest.mark.parametrize("bait", ["none", "corrupt", "repairable"])
def test_a_shard_replaced_by_a_link_outside_is_never_written_through(
    tmp_path: Path, store_path: Path, bait: str
) -> None:
    """Updates are refused with ``OSError``; a read that finds a corrupt or repairable document
    through the link neither moves it aside nor writes it back there."""
    outside = outside_dir(tmp_path)
    SiteMemory(store_path, durability="none").record_visit_sync("shard.example", 1.0)
    opened = SiteMemory(store_path, durability="none", cache_ttl=0)
    assert opened.get_profile_sync("shard.example").visit_count == 1
    shard = site_file(store_path, "shard.example").parent
    shard.rename(tmp_path / "real-shard")
    planted = outside / "shard"
    planted.mkdir()
    if bait == "corrupt":
        (planted / "shard.example.json").write_bytes(b"{corrupt")
    elif bait == "repairable":
        doc = json.loads((tmp_path / "real-shard" / "shard.example.json").read_bytes())
        doc["note"] = float("nan")
        (planted / "shard.example.json").write_text(json.dumps(doc))
    shard.symlink_to(planted, target_is_directory=True)
    before = snapshot(outside)

    fresh = SiteMemory(store_path, durability="none")
    with contextlib.suppress(OSError):  # refusing is fine; following the link into a write is not
        fresh.get_profile_sync("shard.example")
    for memory in (fresh, opened):
        with pytest.raises(OSError):
            memory.record_visit_sync("shard.example", 1.0)
    assert snapshot(outside) == before

    shard.unlink()
    (tmp_path / "real-shard").rename(shard)
    works_again(store_path, "shard.example", 1)


@pytest.mark.parametrize("when", ["before-open", "while-open"])
@pytest.mark.parametrize("directory", ["sites", "locks"])
def test_sites_or_locks_replaced_by_a_link_outside_is_refused(
    tmp_path: Path, store_path: Path, directory: str, when: str
) -> None:
    outside = outside_dir(tmp_path)
    opened = SiteMemory(store_path, durability="none", cache_ttl=0)
    opened.record_visit_sync("dir.example", 1.0)
    real = store_path / directory
    real.rename(tmp_path / "real")
    (store_path / directory).symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)

    memory = opened if when == "while-open" else SiteMemory(store_path, durability="none")
    with pytest.raises(OSError):
        memory.record_visit_sync("dir.example", 1.0)
    with pytest.raises(OSError):
        memory.record_visit_sync("other.example", 1.0)  # a shard not created yet
    assert snapshot(outside) == before

    (store_path / directory).unlink()
    (tmp_path / "real").rename(real)
    opened.record_visit_sync("dir.example", 1.0)
    works_again(store_path, "dir.example", 2)


def test_a_lock_stripe_replaced_by_a_link_outside_creates_nothing_there(
    tmp_path: Path, store_path: Path
) -> None:
    outside = outside_dir(tmp_path)
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("lock.example", 1.0)
    stripe = Layout(store_path).stripe_path(Layout.stripe_for("lock.example"))
    assert stat.S_ISREG(stripe.lstat().st_mode)
    stripe.unlink()
    stripe.symlink_to(outside / "made-by-the-lock")  # O_CREAT through it would create this
    before = snapshot(outside)

    for writer in (memory, SiteMemory(store_path, durability="none")):
        with pytest.raises(OSError):
            writer.record_visit_sync("lock.example", 1.0)
    assert snapshot(outside) == before

    stripe.unlink()
    works_again(store_path, "lock.example", 1)
    assert stat.S_ISREG(stripe.lstat().st_mode)


# -- something other than a document at a site's path -----------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _link_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _char_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.stat("/dev/zero").st_rdev)


def _sparse_huge(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(HUGE)


PLANTS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo, "link-to-dev-zero": _link_to_dev_zero, "char-device": _char_device,
    "sparse-70MB": _sparse_huge,
}


def _same_kind(aside: Path, plant: str) -> bool:
    st = aside.lstat()
    if plant == "fifo":
        return stat.S_ISFIFO(st.st_mode)
    if plant == "link-to-dev-zero":
        return stat.S_ISLNK(st.st_mode) and os.readlink(aside) == "/dev/zero"
    if plant == "char-device":
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat("/dev/zero").st_rdev
    return stat.S_ISREG(st.st_mode) and st.st_size == HUGE


@pytest.mark.parametrize("op", ["get_profile", "export"])
@pytest.mark.parametrize("plant", [
    pytest.param(name, marks=pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root"))
    if name == "char-device" else name for name in PLANTS])
def test_a_site_file_that_is_no_document_is_moved_aside_without_reading_it(
    tmp_path: Path, store_path: Path, plant: str, op: str
) -> None:
    """``get_profile`` and ``export`` return (no hang on a FIFO, no endless read of a device, no
    70 MB read), the plant itself is moved aside (never what a link points to), and the site
    starts fresh."""
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("plant.example", 1.0)
    memory.record_visit_sync("ok.example", 1.0)
    memory.close_sync()
    path = site_file(store_path, "plant.example")
    path.unlink()
    PLANTS[plant](path)
    zero = os.stat("/dev/zero")

    result = run_child(tmp_path, store_path, op, "plant.example")

    if op == "get_profile":
        assert result == {"profile": None}
    else:
        assert result == {"count": 1, "domains": ["ok.example"]}
    (aside,) = path.parent.glob("plant.example.json.corrupt-*")
    assert _same_kind(aside, plant)
    assert not os.path.lexists(path)
    assert os.stat("/dev/zero") == zero
    works_again(store_path, "plant.example", 0)


# -- the store's marker ------------------------------------------------------------------------------


@pytest.mark.parametrize("plant", ["link-to-fifo", "fifo"])
def test_a_marker_replaced_by_a_fifo_is_refused_without_hanging(
    tmp_path: Path, store_path: Path, plant: str
) -> None:
    outside = outside_dir(tmp_path)
    SiteMemory(store_path, durability="none").record_visit_sync("marker.example", 1.0)
    marker = store_path / "store.json"
    original = marker.read_bytes()
    marker.unlink()
    if plant == "fifo":
        os.mkfifo(marker, 0o600)
    else:
        os.mkfifo(outside / "fifo", 0o600)
        marker.symlink_to(outside / "fifo")
    before = snapshot(outside)

    result = run_child(tmp_path, store_path, "open")

    assert result["error"] == StoreFormatError.__name__, result
    assert snapshot(outside) == before
    kind = stat.S_ISFIFO if plant == "fifo" else stat.S_ISLNK
    assert kind(marker.lstat().st_mode)  # refused, left as it was
    marker.unlink()
    marker.write_bytes(original)
    works_again(store_path, "marker.example", 1)
