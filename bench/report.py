"""Building ``sitememory report`` for 10, 100 and 1,000 sites: the time of each step and the page's size.

Each site gets 100 to 500 visits (about 6% error statuses, 2% timeouts and 1% network failures;
load times spread around a second), three purposes of two selectors each (one of them healed: its
primary failed, the fallback worked since), two quirks and an action pattern, all through the
public API (write-behind, flushed before anything is timed), so that its history holds what a
real store's does. For each fleet the script times, as the median of a few runs: reading every
profile and history from a fresh ``SiteMemory`` (``list_sites``, then ``get_profile`` and
``visit_history`` of each), the summaries (``report_data``), the page (``render``), and prints
the page's size in bytes, in all and per site.

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

from _report import arguments, machine, print_table, say

from sitememory_plugin import SiteMemory
from sitememory_plugin._report.data import report_data
from sitememory_plugin._report.page import render
from sitememory_plugin._report.source import Snapshot, read

FLEETS = (10, 100, 1000)
HALF_LIFE = 30 * 86400.0


def fill(memory: SiteMemory, rnd: random.Random, key: str) -> int:
    """One site's visits and knowledge; returns how many visits."""
    url = f"https://{key}/"
    n = rnd.randint(100, 500)
    for i in range(n):
        r = rnd.random()
        error = "Timeout 30000ms exceeded" if r < 0.02 else "net::ERR_CONNECTION_RESET" if r < 0.03 else None
        status = None if error else 503 if r < 0.09 else 200
        duration = 30.0 if r < 0.02 else round(rnd.lognormvariate(0.0, 0.6), 3)
        memory.record_visit_sync(f"{url}page/{i % 13}?q={i}", duration, status=status, error=error)
    for k, purpose in enumerate(("search box", "buy button", "next page")):
        memory.cache_selector_sync(url, purpose, f"#{k}", [f".fallback-{k}"])
        for _ in range(rnd.randint(3, 30)):
            memory.record_selector_result_sync(url, purpose, f"#{k}", True)
    memory.record_selector_result_sync(url, "search box", "#0", False)
    memory.record_selector_result_sync(url, "search box", ".fallback-0", True)
    for _ in range(5):
        memory.record_quirk_sync(url, "cookie banner covers the page", "click #accept")
    memory.record_quirk_sync(url, "slow search results")
    memory.cache_action_pattern_sync(url, "search", [{"fill": ["search box", "{q}"]}, {"press": ["Enter"]}])
    return n


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
    store = work / f"store-{n}"
    writer = SiteMemory(store, durability="none", flush_interval=3600, max_pending=10_000_000)
    visits = sum(fill(writer, rnd, f"site{i:04d}.example") for i in range(n))
    writer.close_sync()  # flushes

    def read_store() -> Snapshot:
        memory = SiteMemory(store)
        try:
            return read(memory)
        finally:
            memory.close_sync()

    read_s, snapshot = median_s(read_store, runs)
    recorded = sum(len(h) for h in snapshot.histories.values())
    if len(snapshot.profiles) != n or recorded != visits:
        raise RuntimeError(f"read {len(snapshot.profiles)} of {n} sites, {recorded} of {visits} visits")
    data_s, data = median_s(
        lambda: report_data(snapshot.profiles, snapshot.histories, time.time(), HALF_LIFE), runs
    )
    render_s, page = median_s(lambda: render(data), runs)
    size = len(page.encode())
    return [str(n), f"{visits:,}", f"{read_s * 1000:,.0f} ms", f"{data_s * 1000:,.0f} ms",
            f"{render_s * 1000:,.0f} ms", f"{(read_s + data_s + render_s) * 1000:,.0f} ms", f"{size:,}",
            f"{size // n:,}"]


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
