"""Several processes updating the same sites at once: no update is lost or doubled, none is torn.

Every worker is a fresh interpreter (``tests/_workers.py``) that derives its updates from a seed,
so the parent knows exactly what the store must hold afterwards. Workers start together on a
``go`` sent once all are ready, so their updates really interleave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import SiteMemory
from tests._workers import SITES, Child, Spawner, check_store, expected_totals, make_plan

N = 200


def new_store(tmp_path: Path) -> Path:
    """A created store. The update races below start from an existing store on purpose: racing
    the creation of a new store is its own test (test_concurrent_first_open_of_a_new_store)."""
    root = tmp_path / "store"
    SiteMemory(root).initialize_sync()
    return root


def run_workers(spawn: Spawner, configs: Sequence[dict[str, Any]]) -> list[Child]:
    """Start one worker per config, wait until all are ready, then let them race."""
    children = [spawn(config.pop("command", "run_plan"), **config) for config in map(dict, configs)]
    for child in children:
        child.expect("ready")
    for child in children:
        child.send("go")
    return children


def finish_all(children: Sequence[Child]) -> None:
    for child in children:
        assert child.finish()[-1:] == ["done"]


def test_stress_write_through_durable(spawn: Spawner, tmp_path: Path) -> None:
    root = new_store(tmp_path)
    seeds = [101, 102, 103, 104]
    finish_all(run_workers(spawn, [{"root": str(root), "seed": s, "n": N} for s in seeds]))
    check_store(root, [make_plan(s, N) for s in seeds])


def test_stress_write_behind(spawn: Spawner, tmp_path: Path) -> None:
    root = new_store(tmp_path)
    seeds = [201, 202, 203, 204]
    configs = [
        {"root": str(root), "seed": s, "n": N, "durability": "none", "flush_interval": 0.02}
        for s in seeds
    ]
    finish_all(run_workers(spawn, configs))
    check_store(root, [make_plan(s, N) for s in seeds])


def test_stress_write_through_and_write_behind_mixed(spawn: Spawner, tmp_path: Path) -> None:
    root = new_store(tmp_path)
    seeds = [301, 302, 303, 304]
    configs = [
        {"root": str(root), "seed": s, "n": N, "durability": "none",
         "flush_interval": 0.02 if i % 2 else None}
        for i, s in enumerate(seeds)
    ]
    finish_all(run_workers(spawn, configs))
    check_store(root, [make_plan(s, N) for s in seeds])


def test_readers_never_see_a_torn_or_older_document(spawn: Spawner, tmp_path: Path) -> None:
    root = new_store(tmp_path)
    urls = [variants[0] for variants in SITES]
    reader = spawn("reader", root=str(root), urls=urls)
    reader.expect("ready")
    seeds = [401, 402, 403]
    configs = [
        {"root": str(root), "seed": s, "n": N, "durability": "none",
         "flush_interval": 0.02 if i == 2 else None}
        for i, s in enumerate(seeds)
    ]
    finish_all(run_workers(spawn, configs))
    reader.send("stop")
    report = json.loads(reader.finish()[-1])
    plans = [make_plan(s, N) for s in seeds]
    check_store(root, plans)
    totals = {key: exp.visits for key, exp in expected_totals(plans).items()}
    # Its last pass ran after every writer had finished: it must see everything.
    assert report["final"] == totals
    # It read while the writers wrote (else this test would prove nothing).
    assert sum(report["changes"].values()) > len(urls)


@pytest.mark.parametrize("flush_interval", [None, 0.02], ids=["write-through", "write-behind"])
def test_async_api_from_many_tasks_in_several_processes(
    spawn: Spawner, tmp_path: Path, flush_interval: float | None
) -> None:
    root = new_store(tmp_path)
    seeds = [501, 502, 503]
    configs = [
        {"command": "run_plan_async", "root": str(root), "seed": s, "n": 150, "tasks": 25,
         "durability": "none", "flush_interval": flush_interval}
        for s in seeds
    ]
    finish_all(run_workers(spawn, configs))
    check_store(root, [make_plan(s, 150) for s in seeds])


def test_concurrent_first_open_of_a_new_store(spawn: Spawner, tmp_path: Path) -> None:
    """Several processes using a brand-new store at the same moment all succeed and agree on it."""
    roots = [str(tmp_path / f"store-{i}") for i in range(25)]
    children = [spawn("open_stores", roots=roots) for _ in range(4)]
    for child in children:
        child.expect("ready")
    failures = []
    for root in roots:
        for child in children:
            child.send("go")
        for child in children:
            line = child.read_line()
            if line != "ok":
                failures.append(f"{root} (pid {child.pid}): {line}")
    for child in children:
        child.finish()
    assert not failures, (
        f"{len(failures)} of {len(roots) * len(children)} opens failed, e.g.:\n" + "\n".join(failures[:5])
    )
    for root in roots:
        marker = json.loads((Path(root) / "store.json").read_bytes())
        assert set(marker) == {"format", "version", "origin"}  # one origin: the first one linked
        assert (marker["format"], marker["version"]) == ("sitememory.store", 2)
        assert re.fullmatch("[0-9a-f]{16}", marker["origin"])
        assert not (Path(root) / ".store.json.tmp").exists()
