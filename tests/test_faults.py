"""Bad input and faults: corrupt files, hostile hosts, full and read-only disks, newer formats."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory, StoreFormatError, VersionTooNew

from ._env import unavailable
from .conftest import file_store


def _site_file(store: Path, name: str) -> Path:
    (path,) = store.glob(f"sites/*/{name}.json")
    return path


@pytest.mark.parametrize("garbage", [b"{not json", b"", b"\xff\xfe\x00", b"[1, 2]",
                                     b'{"domain": "other.example", "visit_count": 3}'])
def test_corrupt_file_is_moved_aside_and_site_starts_fresh(
    store_path: Path, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    memory = SiteMemory(store_path, cache_ttl=0, durability="none")
    memory.record_visit_sync("c.example", 1.0)
    path = _site_file(store_path, "c.example")
    path.write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="sitememory"):
        assert SiteMemory(store_path).get_profile_sync("c.example") is None
    assert "corrupt site file" in caplog.text
    (aside,) = path.parent.glob("c.example.json.corrupt-*")
    assert aside.read_bytes() == garbage
    memory.record_visit_sync("c.example", 2.0)
    assert memory.get_profile_sync("c.example").visit_count == 1
    assert memory.stats_sync().corrupt_files == 0  # the other memory saw it


def test_corrupt_file_found_by_an_update_is_moved_aside(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("c.example", 1.0)
    _site_file(store_path, "c.example").write_bytes(b"\x00" * 10)
    memory.record_visit_sync("c.example", 1.0)
    assert memory.get_profile_sync("c.example").visit_count == 1
    assert memory.stats_sync().corrupt_files == 1


def test_newer_document_is_refused_and_left_alone(store_path: Path) -> None:
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync("v.example", 1.0)
    path = _site_file(store_path, "v.example")
    doc = json.loads(path.read_bytes())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    fresh = SiteMemory(store_path)
    with pytest.raises(VersionTooNew):
        fresh.get_profile_sync("v.example")
    with pytest.raises(VersionTooNew):
        fresh.record_visit_sync("v.example", 1.0)
    assert json.loads(path.read_bytes())["version"] == 99


def test_newer_or_foreign_store_is_refused(store_path: Path) -> None:
    SiteMemory(store_path).initialize_sync()
    (store_path / "store.json").write_text('{"format": "sitememory.store", "version": 7}')
    with pytest.raises(VersionTooNew):
        SiteMemory(store_path).record_visit_sync("a.example", 1.0)
    (store_path / "store.json").write_text('{"format": "something else"}')
    with pytest.raises(StoreFormatError):
        SiteMemory(store_path).list_sites_sync()


@pytest.mark.parametrize("url", ["http://../../etc/passwd", "http://a/\x00", "http://" + "a" * 300,
                                 "http://%2F..%2F/", "..", "/../etc/passwd", "http://exa%5Cmple/"])
def test_hostile_hosts_never_write_outside_the_store(tmp_path: Path, url: str) -> None:
    store = tmp_path / "store"
    memory = SiteMemory(store, durability="none")
    with pytest.raises(ValueError):
        memory.record_visit_sync(url, 1.0)
    memory.record_visit_sync("ok.example", 1.0)
    outside = [p for p in tmp_path.rglob("*") if store not in p.parents and p != store]
    assert outside == []


# -- a real small file system, to fill up and to make read-only -----------------------------

@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs in tmp_path. Mounting needs root: without it the test skips on a
    developer's machine and fails in CI (``CI`` set), where the fault tests must run."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        failure = done.stderr.strip() if done.returncode != 0 else None
    except OSError as exc:  # no mount(8) at all
        failure = str(exc)
    if failure is not None:
        unavailable(f"cannot mount a tmpfs here (needs root): {failure}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_full_disk_raises_oserror_and_keeps_the_previous_file(tmpfs: Path) -> None:
    memory = SiteMemory(tmpfs / "store")
    memory.record_visit_sync("full.example", 1.0)
    path = _site_file(tmpfs / "store", "full.example")
    before = path.read_bytes()
    _fill(tmpfs)
    with pytest.raises(OSError) as info:
        for i in range(200):  # grow the document until a write needs a new block
            memory.cache_action_pattern_sync("full.example", f"task {i}", [{"step": "x" * 500}])
    assert info.value.errno == errno.ENOSPC
    after = json.loads(path.read_bytes())
    assert after["visit_count"] == 1 and path.read_bytes() != b""
    assert not list(path.parent.glob(".*.tmp"))
    assert len(after["patterns"]) < 200
    assert before  # the file was intact before, and parses after
    os.unlink(tmpfs / "filler")
    memory.record_visit_sync("full.example", 1.0)
    assert SiteMemory(tmpfs / "store").get_profile_sync("full.example").visit_count == 2


def test_read_only_store_raises_oserror_on_write_but_still_reads(tmpfs: Path) -> None:
    SiteMemory(tmpfs / "store").record_visit_sync("ro.example", 1.0)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    memory = SiteMemory(tmpfs / "store")
    assert memory.get_profile_sync("ro.example").visit_count == 1
    with pytest.raises(OSError) as info:
        memory.record_visit_sync("ro.example", 1.0)
    assert info.value.errno == errno.EROFS
    assert memory.get_profile_sync("ro.example").visit_count == 1


def test_file_size_limit_write_error_keeps_previous_file(store_path: Path) -> None:
    """Without root: RLIMIT_FSIZE makes the temp-file write fail in a child process."""
    SiteMemory(store_path).record_visit_sync("big.example", 1.0)
    code = f"""
import resource, signal, sys
from sitememory_plugin import SiteMemory
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
m = SiteMemory({str(store_path)!r})
try:
    m.cache_action_pattern_sync("big.example", "t", [{{"x": "y" * 10000}}])
except OSError as exc:
    print("OSError", exc.errno)
    sys.exit(0)
sys.exit("no error")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OSError", str(errno.EFBIG)]
    profile = SiteMemory(store_path).get_profile_sync("big.example")
    assert profile.visit_count == 1 and not profile.patterns
    assert not list(store_path.glob("sites/*/.*.tmp"))


def test_a_failed_directory_fsync_after_the_rename_is_not_a_failed_write(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sitememory_plugin._core import files

    memory = SiteMemory(store_path)
    memory.record_visit_sync("d.example", 1.0)

    def eio(directory: Path) -> None:
        raise OSError(errno.EIO, "simulated EIO")

    monkeypatch.setattr(files, "fsync_dir", eio)
    with caplog.at_level(logging.ERROR, logger="sitememory"):
        memory.record_visit_sync("d.example", 1.0)  # the file was replaced: no error to retry
    assert "could not fsync its directory" in caplog.text
    assert SiteMemory(store_path).get_profile_sync("d.example").visit_count == 2


def test_lock_timeout_names_the_site_and_the_lock(store_path: Path) -> None:
    from sitememory_plugin import LockTimeout
    from sitememory_plugin._core.files import Layout

    memory = SiteMemory(store_path, lock_timeout=0.05)
    memory.initialize_sync()
    stripe = file_store(memory)._stripes[Layout.stripe_for("t.example")]
    with stripe.exclusive(), pytest.raises(LockTimeout) as info:
        memory.record_visit_sync("https://t.example/", 1.0)
    assert info.value.site == "t.example" and info.value.name == stripe.path
    assert "t.example" in str(info.value) and stripe.path in str(info.value)


def test_a_newer_document_is_still_listed(store_path: Path) -> None:
    long_host = ".".join(["a" * 60] * 4)
    memory = SiteMemory(store_path, durability="none")
    memory.record_visit_sync(long_host, 1.0)  # a hashed file name: the key is read from the file
    (path,) = store_path.glob("sites/*/~*.json")
    doc = json.loads(path.read_bytes())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    assert SiteMemory(store_path).list_sites_sync() == [long_host]


def test_a_reader_never_moves_aside_a_file_a_writer_has_just_replaced(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unlocked reader that read a corrupt file checks again under the site's lock before it
    moves anything aside: a writer may have renamed a good document over it meanwhile."""
    from sitememory_plugin import SiteProfile
    from sitememory_plugin._core import files
    from sitememory_plugin._core.documents import encode

    SiteMemory(store_path, durability="none").record_visit_sync("r.example", 1.0)
    path = _site_file(store_path, "r.example")
    path.write_bytes(b"{corrupt")
    good = encode(SiteProfile("r.example", visit_count=5))[1]
    real_read = files.read_file
    raced: list[Path] = []

    def read_as_a_writer_replaces_the_file(where: Path) -> tuple[bytes, os.stat_result] | None:
        got = real_read(where)
        if where == path and not raced:
            raced.append(where)  # the reader has the corrupt bytes; now a writer renames in
            files.write_atomic(path, good, durable=False)
        return got

    monkeypatch.setattr(files, "read_file", read_as_a_writer_replaces_the_file)
    profile = SiteMemory(store_path, cache_ttl=0).get_profile_sync("r.example")
    assert raced and profile is not None and profile.visit_count == 5
    assert not list(path.parent.glob("r.example.json.corrupt-*"))
