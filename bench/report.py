"""Building ``sitememory report`` for 10, 100 and 1,000 sites: the time of each step and the page's size.

Each site has a history of 100 to 500 visits (about 6% error statuses, 2% timeouts and 1% network
failures; load times spread around a second), three purposes of two selectors each (one of them
healed: its primary failed, the fallback worked since), two quirks and an action pattern. The
profiles are written to a file store through the library's import; the visits' records are the
ones the store's history keeps. For each fleet the script times, as the median of a few runs:
reading every profile and history from a fresh ``SiteMemory`` (``list_sites``, ``get_profile`` and
the history of each), the summaries (``report_data``), the page (``render``), and prints the page's
size in bytes, in all and per site.

    python bench/report.py [--quick] [--dir DIR]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from _report import arguments, import_sites, machine, print_table, say

from sitememory_plugin import SiteMemory
from sitememory_plugin._core.history import VisitRecord
from sitememory_plugin._core.models import SiteProfile
from sitememory_plugin._core.updates import (
    CachePattern,
    CacheSelector,
    QuirkSeen,
    SelectorResult,
    Update,
    VisitBatch,
    VisitSeen,
    apply_all,
)
from sitememory_plugin._report.data import report_data
from sitememory_plugin._report.page import render
from sitememory_plugin._report.source import Snapshot, read

FLEETS = (10, 100, 1000)
NOW = time.time()
HALF_LIFE = 30 * 86400.0


def visits(rnd: random.Random, n: int) -> list[VisitSeen]:
    """``n`` visits over the last week, oldest first."""
    out = []
    for i in range(n):
        r = rnd.random()
        error = "Timeout 30000ms exceeded" if r < 0.02 else "net::ERR_CONNECTION_RESET" if r < 0.03 else None
        status = None if error else 503 if r < 0.09 else 200
        duration = 30.0 if r < 0.02 else round(rnd.lognormvariate(0.0, 0.6), 3)
        out.append(VisitSeen(duration, NOW - 7 * 86400 * (1 - i / n), status, error))
    return out


def site(rnd: random.Random, key: str) -> tuple[SiteProfile, list[VisitRecord]]:
    seen = visits(rnd, rnd.randint(100, 500))
    at = seen[0].at
    updates: list[Update] = [VisitBatch(tuple(seen))]
    for k, purpose in enumerate(("search box", "buy button", "next page")):
        updates.append(CacheSelector.create(purpose, f"#{k}", [f".fallback-{k}"], at))
        updates += [SelectorResult(purpose, f"#{k}", True, at + j) for j in range(rnd.randint(3, 30))]
        if k == 0:
            updates += [SelectorResult(purpose, "#0", False, at + 100),
                        SelectorResult(purpose, ".fallback-0", True, at + 101)]
    updates += [QuirkSeen("cookie banner covers the page", "click #accept", at + j) for j in range(5)]
    updates.append(QuirkSeen("slow search results", None, at))
    updates.append(CachePattern.create("search", [{"fill": ["search box", "{q}"]}, {"press": ["Enter"]}], at))
    profile = apply_all(SiteProfile(key), updates, "bench")
    history = [VisitRecord.create(v.at, f"https://{key}/page/{i % 13}", v.duration, v.status, v.error, None)
               for i, v in enumerate(seen)]
    return profile, history


T = TypeVar("T")


def median_s(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """The median time of ``runs`` calls of ``fn`` (seconds), and what the last returned."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(n: int, work: Path, runs: int, rnd: random.Random) -> list[str]:
    """One fleet of ``n`` sites: its row of the table."""
    fleet = [site(rnd, f"site{i:04d}.example") for i in range(n)]
    histories = {p.domain: h for p, h in fleet}
    store = work / f"store-{n}"
    import_sites(store, [p.to_dict() for p, _ in fleet], work / f"import-{n}.jsonl")

    def read_store() -> Snapshot:
        memory = SiteMemory(store)
        try:
            return read(memory)
        finally:
            memory.close_sync()

    read_s, snapshot = median_s(read_store, runs)
    if len(snapshot.profiles) != n:
        raise RuntimeError(f"read {len(snapshot.profiles)} of {n} sites")
    data_s, data = median_s(lambda: report_data(snapshot.profiles, histories, NOW, HALF_LIFE), runs)
    render_s, page = median_s(lambda: render(data), runs)
    size = len(page.encode())
    return [str(n), f"{sum(len(h) for h in histories.values()):,}", f"{read_s * 1000:,.0f} ms",
            f"{data_s * 1000:,.0f} ms", f"{render_s * 1000:,.0f} ms",
            f"{(read_s + data_s + render_s) * 1000:,.0f} ms", f"{size:,}", f"{size // n:,}"]


def main() -> None:
    args = arguments(__doc__, "one run of each step instead of three")
    runs = 1 if args.quick else 3
    say(__doc__.split("\n\n")[0])
    say(machine())
    rnd = random.Random(14)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = [measure(n, Path(tmp), runs, rnd) for n in FLEETS]
    print()
    print_table(["sites", "visits", "read store", "report_data", "render", "total", "page bytes",
                 "bytes per site"], rows)


if __name__ == "__main__":
    main()
