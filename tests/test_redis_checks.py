"""Redis setups that lose or bloat a store without an error: a server whose eviction policy drops
keys when it is full (the store warns when opened, ``sitememory doctor`` fails a check), and the
keys write-behind leaves on the server (one expiring key per buffer, none per batch).

Real servers only: the session's (``redis_server``) and one of this module's own, started with
``maxmemory 50mb`` and ``maxmemory-policy allkeys-lru``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sitememory_plugin
from sitememory_plugin import SiteMemory
from sitememory_plugin._cli import main
from sitememory_plugin._core.redisscripts import MARKER_TTL

from ._env import unavailable
from ._redis import MISSING, RedisServer, executable, prefix_of

GUARD = 120.0
LIBRARY = str(Path(sitememory_plugin.__file__).resolve().parent.parent)
SITES = [f"https://wb{i}.example/" for i in range(50)]


@pytest.fixture
def evicting(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test that evicts any key when it reaches 50 MB."""
    if executable() is None:
        unavailable(MISSING)
    server = RedisServer(tmp_path / "redis",
                         config=["--maxmemory", "50mb", "--maxmemory-policy", "allkeys-lru"])
    server.start()
    yield server
    server.stop()


def test_opening_a_store_on_an_evicting_server_warns(
    evicting: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="sitememory"):
        SiteMemory(redis_url).initialize_sync()  # the session's server: noeviction
        assert "maxmemory-policy" not in caplog.text
        SiteMemory(f"{evicting.url}?prefix=evict").initialize_sync()
    (warning,) = [r.getMessage() for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert "allkeys-lru" in warning and "set maxmemory-policy noeviction" in warning


def doctor(url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    main(["--store", url, "doctor", "--json"])
    return {str(c["check"]): c for c in json.loads(capsys.readouterr().out)}


def test_doctor_fails_the_eviction_check_on_an_evicting_server(
    evicting: RedisServer, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{evicting.url}?prefix=evict"
    SiteMemory(url).record_visit_sync("https://evict.example/", 1.0)
    checks = doctor(url, capsys)
    assert checks["eviction"]["ok"] is False
    assert "allkeys-lru" in str(checks["eviction"]["detail"])
    assert "noeviction" in str(checks["eviction"]["detail"])

    checks = doctor(redis_url, capsys)  # the session's server keeps every key
    assert checks["eviction"]["ok"] is True
    assert "noeviction" in str(checks["eviction"]["detail"])


CHILD = r"""
import sys
from sitememory_plugin import SiteMemory
url, rounds = sys.argv[1], int(sys.argv[2])
memory = SiteMemory(url, flush_interval=0.01)
for _ in range(rounds):
    for i in range(50):
        memory.record_visit_sync(f"https://wb{i}.example/", 0.1)
    memory.flush_sync()
memory.close_sync()
"""


def test_write_behind_leaves_one_expiring_key_per_buffer_and_none_per_batch(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Two memories of this process and one of another flush 50 sites, batch after batch (every
    flush is one batch per site, and the flusher thread runs too): the server is left with one
    ``<prefix>:client:<id>`` key per memory, each expiring, and no ``<prefix>:op:*`` marker."""
    rounds = 8
    memories = [SiteMemory(redis_url, flush_interval=0.01) for _ in range(2)]
    for _ in range(rounds):
        for memory in memories:
            for url in SITES:
                memory.record_visit_sync(url, 0.1)
            memory.flush_sync()
    child = subprocess.run([sys.executable, "-c", CHILD, redis_url, str(rounds)],
                           env={**os.environ, "PYTHONPATH": LIBRARY}, capture_output=True,
                           text=True, timeout=GUARD, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    for memory in memories:
        memory.close_sync()

    prefix = prefix_of(redis_url)
    with redis_server.client(socket_timeout=10.0) as client:
        assert list(client.scan_iter(f"{prefix}:op:*", count=1000)) == []
        keys = {k.decode() for k in client.scan_iter(f"{prefix}:client:*", count=1000)}
        assert len(keys) == 3  # one per memory: two here, one in the child
        assert {f"{prefix}:client:{m._behind.client}" for m in memories if m._behind} <= keys
        for key in keys:
            assert MARKER_TTL - 60 < client.ttl(key) <= MARKER_TTL == 15 * 60, key  # README: 15 minutes
            assert client.hlen(key) == len(SITES)
    profile = SiteMemory(redis_url).get_profile_sync(SITES[0])
    assert profile.visit_count == 3 * rounds  # nothing lost, nothing applied twice
