"""Command line, timing, statistics, formatting and store helpers shared by the benchmark scripts.

Not a script: imported as the top-level module ``_report`` (the scripts' directory is first on
``sys.path`` when they run, and mypy checks ``bench`` as top-level modules).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitememory_plugin import SiteMemory

US = "\u00b5s"


def arguments(doc: str | None, quick: str,
              options: Mapping[str, Mapping[str, Any]] | None = None) -> argparse.Namespace:
    """A script's command line: ``--quick`` (``quick`` its help), then ``options`` (each name's
    ``add_argument`` keywords), then ``--dir``; described by the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    for name, keywords in (options or {}).items():
        parser.add_argument(name, **keywords)
    parser.add_argument("--dir", help="where to create the temporary directory (default: system temp)")
    return parser.parse_args()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``n/a`` where the system has none."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine(*, load: bool = True) -> str:
    """The machine, for a script's first line: ``Python 3.11.7, Linux 6.1.0, 2 CPUs``, then
    ``, load average 0.52 0.58 0.59`` unless ``load`` is false."""
    text = (f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} CPUs")
    return f"{text}, load average {load_average()}" if load else text


@dataclass(frozen=True)
class Lat:
    """Median and p99 of a set of latencies, in microseconds."""

    n: int
    median_us: float
    p99_us: float

    @classmethod
    def of(cls, ns: Sequence[int]) -> Lat:
        return cls(len(ns), statistics.median(ns) / 1000, percentile(ns, 99) / 1000)

    def __str__(self) -> str:
        return f"{fmt_us(self.median_us)} / {fmt_us(self.p99_us)}"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; ``nan`` when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def fmt_us(us: float) -> str:
    if math.isnan(us):
        return "n/a"
    if us >= 1_000_000:
        return f"{us / 1_000_000:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} {US}" if us >= 10 else f"{us:.2f} {US}"


def fmt_rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s"


def ratio(a: float, b: float) -> str:
    if not b > 0 or math.isnan(a):
        return "n/a"
    r = a / b
    return f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x" if r >= 0.01 else f"{r:.1g}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)), flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def settle() -> None:
    """Write back every dirty page now, so that a store just created (without fsync) does not
    make the next measurement's fsyncs pay for its writeback."""
    os.sync()


def interleave(ops: Mapping[str, Callable[[], object]], rounds: int, per_round: int,
               warmup: int | None = None) -> dict[str, list[int]]:
    """Time each op ``rounds * per_round`` times (ns), the ops taking turns (rotating order) by
    rounds, after ``warmup`` untimed calls each (default: a fifth of a round, at least 3)."""
    names = list(ops)
    for name in names:
        for _ in range(max(3, per_round // 5) if warmup is None else warmup):
            ops[name]()
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            op, out = ops[name], samples[name]
            for _ in range(per_round):
                start = clock()
                op()
                out.append(clock() - start)
    return samples


def load_time(i: int) -> float:
    """A deterministic spread of page load times (seconds, 3 decimals)."""
    return round(0.2 + (i * 7919 % 1000) / 400, 3)


def url_of(key: str) -> str:
    return f"https://{key}/"


def import_sites(location: str | Path, docs: Collection[Mapping[str, Any]], export: Path) -> None:
    """Write site documents to the store at ``location`` through the library's import of an export:
    ``docs`` as JSON Lines at ``export`` (removed after), imported with ``durability="none"``.

    :raises RuntimeError: not every document was imported.
    """
    export.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    memory = SiteMemory(location, durability="none")
    imported = memory.import_jsonl_sync(export).imported
    memory.close_sync()
    export.unlink()
    if len(imported) != len(docs):
        raise RuntimeError(f"{location}: imported {len(imported)} of {len(docs)} sites")


def visit_counts(location: str | Path, keys: Sequence[str]) -> dict[str, int]:
    """Each site's ``visit_count`` read afresh from the store at ``location`` (-1: missing)."""
    memory = SiteMemory(location, cache_ttl=0)
    out = {}
    for key in keys:
        profile = memory.get_profile_sync(url_of(key))
        out[key] = -1 if profile is None else profile.visit_count
    memory.close_sync()
    return out
