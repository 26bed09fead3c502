"""A store written by the last release before format 2 opens with this version and is upgraded
without losing a visit, selector, quirk or pattern, while processes of the old version may still
be writing: they are refused clearly, never allowed to corrupt anything.

The old version is the package as it was at :data:`OLD`, taken from this repository's history and
run in its own processes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import SiteMemory

#: The last commit of the version-1 format (the landed main before the hardening).
OLD = "febc57bdf9147901fb8381afd3209952ab1f7149"
ROOT = Path(__file__).resolve().parent.parent

AGENT = """
import json, sys
from sitememory_plugin import SiteMemory
memory = SiteMemory(sys.argv[1], cache_ttl=float(sys.argv[2]), flush_interval=None)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    try:
        if command["call"] == "dump":
            result = {key: memory.get_profile_sync(key).to_dict() for key in memory.list_sites_sync()}
        elif command["call"] == "export":
            import io
            out = io.StringIO()
            memory.export_sync(out)
            result = out.getvalue()
        else:
            getattr(memory, command["call"])(*command["args"])
            result = None
        reply = {"ok": True, "result": result}
    except Exception as exc:
        reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(reply), flush=True)
"""


@pytest.fixture(scope="module")
def old_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package at :data:`OLD`, extracted from git (the clone CI tests has its history)."""
    where = tmp_path_factory.mktemp("old")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD, "sitememory_plugin"],
                             capture_output=True, check=False)
    assert archive.returncode == 0, f"cannot read {OLD} from git: {archive.stderr.decode()}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return where


class OldAgent:
    """A process of the old version, driven one call at a time."""

    def __init__(self, package: Path, store: str | Path, cache_ttl: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(package)}
        # Not run from the checkout: "-c" puts the working directory first on sys.path.
        self.process = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(store), str(cache_ttl)], env=env, cwd=package,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = self._reply()
        assert ready.get("ready"), ready

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            assert self.process.stderr is not None
            raise AssertionError(f"the old agent died: {self.process.stderr.read()[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def call(self, call: str, *args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"call": call, "args": args}) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def ok(self, call: str, *args: Any) -> Any:
        reply = self.call(call, *args)
        assert reply["ok"], reply
        return reply["result"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def _fill(agent: OldAgent) -> None:
    """Everything a store holds: visits (ok, failed, timed out, with timings), selectors and their
    results, quirks seen again, patterns cached again."""
    shop, news = "https://www.shop.example/search?q=1", "https://news.example:8443/"
    for i in range(7):
        agent.ok("record_visit_sync", shop, 0.2 + i / 10)
    agent.ok("record_visit_sync", news, 1.5)
    agent.ok("cache_selector_sync", shop, "search box", "#q", ["input[name=q]", "form input"])
    for ok in (True, False, False, True):
        agent.ok("record_selector_result_sync", shop, "search box", "#q", ok)
    agent.ok("record_selector_result_sync", shop, "search box", "input[name=q]", True)
    agent.ok("record_quirk_sync", shop, "cookie banner", "click #accept")
    agent.ok("record_quirk_sync", shop, "cookie banner", None)
    agent.ok("record_quirk_sync", news, "paywall after 3 articles", "clear cookies")
    agent.ok("cache_action_pattern_sync", shop, "search", [{"fill": "search box", "value": "x"}])
    agent.ok("cache_action_pattern_sync", shop, "search", [{"fill": "search box"}, {"press": "Enter"}])


def _visit_failures(agent: OldAgent) -> None:
    agent.ok("record_visit_sync", "https://news.example:8443/a", 30.0)
    assert agent.call("record_visit_sync", "https://news.example:8443/b", 2.0)["ok"]


def _seen(profile: dict[str, Any]) -> dict[str, Any]:
    """What a version-1 document says about a site, in the form a profile shows it."""
    return {
        "visits": (profile["visit_count"], profile["success_count"], profile["failure_count"]),
        "times": (profile["first_visit"], profile["last_visit"], profile["last_status"],
                  profile["last_error"], profile["last_timings"]),
        "load_times_ms": profile["load_times_ms"],
        "outcomes": profile["recent_outcomes"],
        "selectors": profile["selectors"],
        "quirks": profile["quirks"],
        "patterns": profile["patterns"],
    }


def _seen_now(memory: SiteMemory, key: str) -> dict[str, Any]:
    p = memory.get_profile_sync(key)
    assert p is not None
    doc = p.to_dict()
    return {
        "visits": (p.visit_count, p.success_count, p.failure_count),
        "times": (p.first_visit, p.last_visit, p.last_status, p.last_error, dict(p.last_timings)),
        "load_times_ms": [round(t * 1000) for t in p.load_times],
        "outcomes": "".join("1" if ok else "0" for ok in p.recent_outcomes),
        "selectors": _without_evidence(doc["selectors"]),
        "quirks": _without_evidence(doc["quirks"]),
        "patterns": _without_evidence(doc["patterns"]),
    }


#: The evidence fields this version added to entries, as a document without them reads.
_NEW_EVIDENCE = {"contradictions": 0, "last_contradicted": None, "first_seen": None, "last_ok": None,
                 "last_failed": None, "remembered": None}


def _without_evidence(value: Any) -> Any:
    """``value`` without the new evidence fields that hold what an old document implies (none);
    one that holds anything else stays, and fails the comparison."""
    if isinstance(value, list):
        return [_without_evidence(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_evidence(v) for k, v in value.items()
                if not (k in _NEW_EVIDENCE and v == _NEW_EVIDENCE[k])}
    return value


@pytest.fixture(params=["file", "redis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    if request.param == "file":
        yield tmp_path / "store"
    else:
        yield str(request.getfixturevalue("redis_url"))


def test_an_old_store_is_upgraded_losing_nothing(old_package: Path, location: str | Path) -> None:
    old = OldAgent(old_package, location)
    _fill(old)
    _visit_failures(old)
    before = old.ok("dump")
    export = old.ok("export")
    old.close()

    with SiteMemory(location, cache_ttl=0) as memory:
        assert sorted(before) == memory.list_sites_sync() == ["news.example:8443", "shop.example"]
        for key, doc in before.items():
            assert doc["version"] == 1
            assert _seen_now(memory, key) == _seen(doc)
        # Learning goes on, in format 2.
        memory.record_visit_sync("https://shop.example/", 0.4)
        memory.record_selector_result_sync("https://shop.example/", "search box", "#q", True)
        after = memory.get_profile_sync("shop.example")
        assert after.visit_count == before["shop.example"]["visit_count"] + 1
        assert after.to_dict()["version"] == 2
        # The old export of the same store counts nothing again.
        assert memory.import_jsonl_sync(io.StringIO(export)).imported == ()
        assert memory.get_profile_sync("shop.example").visit_count == after.visit_count
        assert memory.get_profile_sync("news.example:8443").visit_count == 3


def test_old_processes_are_refused_clearly_and_corrupt_nothing(
    old_package: Path, location: str | Path
) -> None:
    running = OldAgent(old_package, location, cache_ttl=0)  # opened before the upgrade
    _fill(running)
    with SiteMemory(location, cache_ttl=0) as memory:
        memory.initialize_sync()  # the upgrade
        memory.record_visit_sync("https://shop.example/", 0.3)  # shop.example is format 2 now
        acked = {"news.example:8443": 1, "shop.example": 8}
        # The old process goes on: a site still in format 1 takes its updates...
        for _ in range(3):
            running.ok("record_visit_sync", "https://news.example:8443/", 1.0)
            acked["news.example:8443"] += 1
        # ...one in format 2 refuses them, clearly.
        refused = running.call("record_visit_sync", "https://shop.example/", 1.0)
        assert not refused["ok"] and refused["error"] == "VersionTooNew", refused
        assert "newer than this library" in refused["message"]
        # A process of the old version started now refuses the store at once.
        late = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom sitememory_plugin import SiteMemory\n"
             "SiteMemory(sys.argv[1]).list_sites_sync()", str(location)],
            env={**os.environ, "PYTHONPATH": str(old_package)}, cwd=old_package, capture_output=True,
            text=True)
        assert late.returncode != 0 and "VersionTooNew" in late.stderr, late.stderr[-2000:]
        running.close()
        # Every update the old process acknowledged is there, and nothing was moved aside.
        for key, visits in acked.items():
            assert memory.get_profile_sync(key).visit_count == visits
        assert memory.stats_sync().corrupt_files == 0
    if isinstance(location, Path):
        assert not list(location.glob("sites/*/*.corrupt-*"))


def test_an_old_process_writing_beside_a_tombstone_does_not_undo_the_forget(
    old_package: Path, tmp_path: Path
) -> None:
    """The previous version cannot see a tombstone: after a forget it writes the site afresh
    beside it. The next write of this version joins the two, so what the forget discarded
    (here, updates another agent had pending from before it) stays discarded."""
    store = tmp_path / "store"
    old = OldAgent(old_package, store, cache_ttl=0)
    old.ok("record_visit_sync", "https://shop.example/", 1.0)
    with SiteMemory(store, flush_interval=3600) as agent:
        for _ in range(5):
            agent.record_visit_sync("https://shop.example/", 1.0)  # pending, before the forget
        assert SiteMemory(store).forget_sync("https://shop.example/")
        old.ok("record_visit_sync", "https://shop.example/", 1.0)  # after it, beside the tombstone
        assert sorted(p.suffix for p in store.glob("sites/*/shop.example.*")) == [".gone", ".json"]
        agent.flush_sync()
    old.close()
    assert SiteMemory(store, cache_ttl=0).get_profile_sync("shop.example").visit_count == 1
    assert [p.suffix for p in store.glob("sites/*/shop.example.*")] == [".json"]
