"""``sitememory visits``: a site's history as a table and as JSON, and followed as agents record."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._cli import main

SITE = "https://shop.localhost:40103"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    with SiteMemory(path) as memory:
        for i in range(30):
            memory.record_visit_sync(f"{SITE}/item/{i}?token=t0k3n", 0.1 + i / 100,
                                     status=503 if i == 27 else 200,
                                     timings={"ttfb": 0.02, "load": 0.09 + i / 100})
        memory.record_visit_sync(f"{SITE}/slow", 30.0, error="TimeoutError: Timeout 30000ms exceeded")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_last_visits_as_a_table(store: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run(capsys, "--store", str(store), "visits", "shop.localhost:40103", "--limit", "5")
    assert code == 0
    assert "5 visits of shop.localhost:40103 (newest last; 2 failed)" in out
    rows = [line for line in out.splitlines() if "/item/" in line or "/slow" in line]
    paths = [r.split("│")[2].strip() for r in rows]
    assert paths == ["/item/26", "/item/27", "/item/28", "/item/29", "/slow"]
    assert "timeout" in rows[-1] and "30.00 s" in rows[-1] and "503" in rows[1]
    assert "t0k3n" not in out


def test_as_json_with_options_after_the_command(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "visits", SITE + "/", "--json", "--limit", "2", "--store", str(store))
    assert code == 0
    first, last = json.loads(out)
    assert (first["path"], first["status"], first["ok"], first["timings"]) == (
        "/item/29", 200, True, {"ttfb": 0.02, "load": 0.38})
    assert (last["error"], last["ok"], last["duration"]) == ("timeout", False, 30.0)
    assert last["time"].endswith("Z")
    _, out, _ = run(capsys, "--store", str(store), "visits", "shop.localhost:40103", "--json",
                    "--limit", "500")
    assert len(json.loads(out)) == 31


def test_bad_usage_unknown_sites_and_missing_stores(store: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--store", str(store), "visits", "shop.localhost:40103", "--limit", "-3"])
    assert exit_.value.code == 2
    assert "not a whole number >= 0: '-3'" in capsys.readouterr().err
    code, _, err = run(capsys, "--store", str(store), "visits", "shop.localhost")
    assert code == 1
    assert "did you mean shop.localhost:40103?" in err
    missing = tmp_path / "typo"
    code, _, err = run(capsys, "--store", str(missing), "visits", "shop.localhost:40103")
    assert (code, f"no store at {missing}" in err, missing.exists()) == (1, True, False)


def test_a_planted_record_with_an_impossible_time_is_skipped(store: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    [history] = store.glob("sites/*/*.visits")
    with history.open("ab") as f:
        f.write(b'{"at":1e300,"path":"/planted","duration":1.0,"status":200}\n')
    code, out, _ = run(capsys, "--store", str(store), "visits", "shop.localhost:40103", "--json")
    assert code == 0 and "/planted" not in out and len(json.loads(out)) == 20
    assert main(["--store", str(store), "report", "-o", str(store.parent / "r.html")]) == 0


def test_a_site_whose_visits_predate_the_history_says_so(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with SiteMemory(tmp_path / "s") as memory:
        memory.record_visit_sync("https://old.example/", 0.2)
    for history in (tmp_path / "s").glob("sites/*/*.visits"):
        history.unlink()  # as a store from before the history was kept
    code, out, _ = run(capsys, "--store", str(tmp_path / "s"), "visits", "old.example")
    assert code == 0
    assert "0 visits of old.example" in out and "its 1 visit was recorded before" in out


class Lines:
    """A child's standard output, line by line, read by a thread (a pipe's buffered reader
    and select() do not mix)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        def read() -> None:
            for line in stdout:
                self.queue.put(line)

        threading.Thread(target=read, daemon=True).start()

    def take(self, count: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while len(got) < count:
            try:
                got.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"got only {got}") from None
        return got


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_follow_streams_what_other_agents_record_until_interrupted(
    store_location: str | Path, as_json: bool
) -> None:
    with SiteMemory(store_location) as memory:
        memory.record_visit_sync(f"{SITE}/before", 0.1)
    command = [sys.executable, "-m", "sitememory_plugin", "--store", str(store_location), "visits",
               "shop.localhost:40103", "--follow", "--limit", "1", *(["--json"] if as_json else [])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    follower = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = Lines(follower)
        head = lines.take(1 if as_json else 2)
        assert "/before" in head[-1]
        with SiteMemory(store_location) as agent:  # another agent, its own memory
            for name in ("one", "two"):
                agent.record_visit_sync(f"{SITE}/{name}", 0.2, status=200)
        new = lines.take(2)
        if as_json:
            assert [json.loads(line)["path"] for line in new] == ["/one", "/two"]
        else:
            assert new[0].rstrip().endswith("/one") and "200  ok" in new[0]
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
