"""Visit history beside the site's document (what the store does) against inside it, in one run.

Two file stores hold the same site: 4 purposes, 3 quirks, 2 patterns and 500 visits. In
``beside`` the last 500 visits are in the site's ``.visits`` file (the shipped design: a visit
appends one line). In ``inside`` the document itself carries the same 500 records (about 68 KB of
JSON more) and no history file: every update rewrites them and every uncached read parses them. The
``inside`` figures are a lower bound of that design: its updates skip appending to and trimming
the list, which it would also do.

Timed, interleaved, median and p99 per call, durable (``fsync``) and not: a visit
(``record_visit_sync``), an update that is no visit (``record_selector_result_sync``), an
uncached read of the profile (``cache_ttl=0`` and the file changed: a parse), and reading the
history (``visit_history_sync``; for ``inside``, the same uncached read, which is how it would
get it).

    python bench/history.py [--quick] [--dir DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import Lat, arguments, interleave, machine, print_table, ratio, say, settle

from sitememory_plugin import SiteMemory
from sitememory_plugin._core.bounds import MAX_HISTORY
from sitememory_plugin._core.files import Layout
from sitememory_plugin._core.filestore import FileStore

URL = "https://shop.example/products/item?id=42"
KEY = "shop.example"


def fill(path: Path) -> None:
    with SiteMemory(path, durability="none") as memory:
        for i in range(4):
            memory.cache_selector_sync(URL, f"purpose {i}", f"#p{i}", [f".p{i}", f"[data-p='{i}']"])
        for i in range(3):
            memory.record_quirk_sync(URL, f"quirk number {i} on the page", f"click #dismiss-{i}")
        for i in range(2):
            memory.cache_action_pattern_sync(URL, f"task {i}", [{"fill": ["purpose 0", "x"]},
                                                               {"click": "purpose 1"}])
        for i in range(MAX_HISTORY):
            memory.record_visit_sync(f"https://shop.example/products/{i}?ref=home", 0.3 + (i % 17) / 10,
                                     status=200 if i % 23 else 503,
                                     timings={"ttfb": 0.05, "dom_content_loaded": 0.2, "load": 0.3})


def move_history_inside(path: Path) -> int:
    """Put the site's history into its document (a field this version keeps as it is); its size."""
    layout = Layout(path)
    history = layout.history_path(KEY)
    records = [json.loads(line) for line in history.read_bytes().splitlines()]
    site = layout.site_path(KEY)
    doc: dict[str, Any] = json.loads(site.read_bytes())
    doc["visit_history"] = records
    site.write_text(json.dumps(doc, separators=(",", ":")))
    history.unlink()
    return site.stat().st_size


class Inside(FileStore):
    """The file store without its history file: the document carries the history instead."""

    def _add_history(self, *args: Any, **kwargs: Any) -> None:
        return None


def inside_memory(path: Path, **options: Any) -> SiteMemory:
    memory = SiteMemory(path, **options)
    durability = options.get("durability", "fsync")
    memory._store = Inside(path, cache_ttl=options.get("cache_ttl", 60.0), durability=durability)
    return memory


def measure(beside: Path, inside: Path, durability: str, rounds: int, per: int) -> list[list[str]]:
    """The table's rows for one durability."""
    a = SiteMemory(beside, durability=durability)  # type: ignore[arg-type]
    b = inside_memory(inside, durability=durability)
    a_read, b_read = SiteMemory(beside, cache_ttl=0), inside_memory(inside, cache_ttl=0)
    settle()
    flip = [True]

    def result(memory: SiteMemory) -> None:
        flip[0] = not flip[0]
        memory.record_selector_result_sync(URL, "purpose 2", "#p2", flip[0])

    def reread(memory: SiteMemory) -> None:
        # The file changed since the last read, so the read parses it.
        os.utime(Layout(memory.storage_path).site_path(KEY))
        memory._store.cache.clear()
        assert memory.get_profile_sync(KEY) is not None

    ops: dict[str, Callable[[], object]] = {
        "visit beside": lambda: a.record_visit_sync(URL, 0.5, status=200),
        "visit inside": lambda: b.record_visit_sync(URL, 0.5, status=200),
        "result beside": lambda: result(a),
        "result inside": lambda: result(b),
    }
    if durability == "none":
        ops |= {
            "read beside": lambda: reread(a_read),
            "read inside": lambda: reread(b_read),
            "history beside": lambda: a_read.visit_history_sync(KEY),
            "history inside": lambda: reread(b_read),
        }
    samples = {name: Lat.of(ns) for name, ns in interleave(ops, rounds, per).items()}
    rows = []
    for what in ("visit", "result", "read", "history"):
        if f"{what} beside" in samples:
            x, y = samples[f"{what} beside"], samples[f"{what} inside"]
            rows.append([durability, what, str(x), str(y), ratio(y.median_us, x.median_us)])
    for memory in (a, b, a_read, b_read):
        memory.close_sync()
    return rows


def main() -> None:
    args = arguments(__doc__, "fewer calls (a smoke test)")
    rounds, per = (3, 10) if args.quick else (8, 40)
    say(machine())
    say(__doc__.split("\n\n")[0])
    root = Path(tempfile.mkdtemp(prefix="sitememory-history-", dir=args.dir))
    try:
        beside, inside = root / "beside", root / "inside"
        fill(beside)
        shutil.copytree(beside, inside)
        inside_size = move_history_inside(inside)
        beside_size = Layout(beside).site_path(KEY).stat().st_size
        history_size = Layout(beside).history_path(KEY).stat().st_size
        say(f"document: beside {beside_size:,} bytes + history file {history_size:,} bytes; "
            f"inside {inside_size:,} bytes")
        rows = [row for durability in ("fsync", "none")
                for row in measure(beside, inside, durability, rounds, per)]
        say("")
        print_table(["durability", "operation", "beside: median / p99", "inside: median / p99",
                     "inside / beside"], rows)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
