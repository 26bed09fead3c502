"""Benchmark of bounded sites: a flooded site's document size and update cost next to a fresh one's.

An agent (or a bug in one) records without end: thousands of quirks, fallbacks, failed candidates,
patterns, timing names, each as long as the bounds allow. What it measures, on the machine it runs
on, for the file store (``fsync`` and ``none``) and for Redis (``appendfsync always``):

1. the stored document's size after each flood (the bound is 256 KiB), and the latency of one
   ``record_visit_sync`` on the flooded site against the same on a fresh site, interleaved
   (target: within 3x);
2. what is refused at the call (a 10 MB quirk, 100,000 fallbacks in one call, 480-deep actions);
3. the overlay workaround parser on long whitespace, the old regex against the linear parser.

Run::

    python bench/bounds.py [--quick] [--dir DIR]

The exit code is 0 when every target is met.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from _report import Lat, arguments, fmt_us, interleave, machine, print_table, ratio, say, url_of

from sitememory_plugin import SiteMemory
from sitememory_plugin._builtins.overlays import overlay_selector
from sitememory_plugin._core import bounds

if TYPE_CHECKING:
    from tests._redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent
#: The parser of the last release before the bounds: quadratic on long whitespace.
OLD_WORKAROUND = re.compile(r"^\s*(?:click|dismiss)\s*:?\s+(?P<selector>\S.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Config:
    mode: str
    rounds: int
    per_round: int
    scale: float  # of the flood sizes


DEFAULT = Config("default", rounds=10, per_round=30, scale=1.0)
QUICK = Config("quick", rounds=3, per_round=10, scale=0.2)


def _n(cfg: Config, count: int) -> int:
    return max(1, int(count * cfg.scale))


def floods(cfg: Config) -> dict[str, Callable[[SiteMemory, str], None]]:
    """Ways an agent can flood a site, each at the longest texts the bounds allow."""
    long_selector = "#" + "s" * (bounds.MAX_SELECTOR - 1)

    def quirks(m: SiteMemory, url: str) -> None:
        for i in range(_n(cfg, 5000)):
            m.record_quirk_sync(url, f"quirk {i} ".ljust(bounds.MAX_DESCRIPTION, "q"),
                                "click " + "#w" * ((bounds.MAX_WORKAROUND - 6) // 2))

    def fallbacks(m: SiteMemory, url: str) -> None:
        for i in range(_n(cfg, 100_000) // bounds.MAX_FALLBACKS):
            m.cache_selector_sync(url, "search box", f"{long_selector[:-12]}{i:012d}",
                                  [f"#f{i}-{j}".ljust(bounds.MAX_SELECTOR, "x")
                                   for j in range(bounds.MAX_FALLBACKS)])

    def candidates(m: SiteMemory, url: str) -> None:
        for i in range(_n(cfg, 5000)):
            m.record_selector_result_sync(url, "buy button", f"#c{i}".ljust(bounds.MAX_SELECTOR, "c"), False)

    def purposes(m: SiteMemory, url: str) -> None:
        for i in range(_n(cfg, 500)):
            fallbacks = [f"#f{j}".ljust(bounds.MAX_SELECTOR, "f") for j in range(bounds.MAX_FALLBACKS)]
            m.cache_selector_sync(url, f"purpose {i} ".ljust(bounds.MAX_PURPOSE, "p"), long_selector,
                                  fallbacks)

    def patterns(m: SiteMemory, url: str) -> None:
        step = {"action": "fill", "value": "v" * 40}  # 200 of them: just within 16 KiB
        for i in range(_n(cfg, 500)):
            m.cache_action_pattern_sync(url, f"task {i} ".ljust(bounds.MAX_TASK_TYPE, "t"),
                                        [step] * bounds.MAX_ACTIONS)

    def timings(m: SiteMemory, url: str) -> None:
        for i in range(_n(cfg, 2000)):
            m.record_visit_sync(url, 0.5, timings={f"t{i}-{j}".ljust(bounds.MAX_TIMING_NAME, "n"): 0.1
                                                   for j in range(bounds.MAX_TIMINGS)})

    def everything(m: SiteMemory, url: str) -> None:
        for flood in (quirks, fallbacks, candidates, purposes, patterns, timings):
            flood(m, url)

    return {"5,000 quirks": quirks, "100,000 fallbacks": fallbacks, "5,000 failed candidates": candidates,
            "500 purposes x 16 candidates": purposes, "500 patterns x 200 actions": patterns,
            "2,000 visits x 16 timing names": timings, "all of the above": everything}


def _visit(memory: SiteMemory, key: str) -> Callable[[], None]:
    url = url_of(key)
    return lambda: memory.record_visit_sync(url, 0.5, status=200)


def stored_size(location: str | Path, key: str) -> int:
    if isinstance(location, Path):
        (path,) = location.glob(f"sites/*/{key}.json")
        return path.stat().st_size
    prefix = dict(p.split("=") for p in location.split("?", 1)[1].split("&"))["prefix"]
    with redis.Redis.from_url(location.split("?", 1)[0]) as client:
        doc = client.hget(f"{prefix}:site:{key}", "doc")
        return len(doc or b"")


@dataclass
class Row:
    backend: str
    flood: str
    size: int
    fresh: Lat
    flooded: Lat

    @property
    def factor(self) -> float:
        return self.flooded.median_us / self.fresh.median_us


def bench_floods(cfg: Config, backends: dict[str, tuple[str | Path, str]]) -> list[Row]:
    rows = []
    for backend, (location, durability) in backends.items():
        memory = SiteMemory(location, durability=durability)  # type: ignore[arg-type]
        for n, (name, flood) in enumerate(floods(cfg).items()):
            key = f"flood-{n}.example"
            fresh_key = f"fresh-{n}.example"
            started = time.perf_counter()
            flood(memory, url_of(key))
            memory.record_visit_sync(url_of(fresh_key), 0.5)
            samples = interleave({"fresh": _visit(memory, fresh_key), "flooded": _visit(memory, key)},
                                 cfg.rounds, cfg.per_round)
            row = Row(backend, name, stored_size(location, key), Lat.of(samples["fresh"]),
                      Lat.of(samples["flooded"]))
            rows.append(row)
            say(f"  {backend}: {name}: {row.size:,} bytes, update {row.flooded} vs fresh {row.fresh} "
                f"({ratio(row.flooded.median_us, row.fresh.median_us)}; flood took "
                f"{time.perf_counter() - started:.1f} s)")
        memory.close_sync()
    return rows


def refusals(location: Path) -> list[list[str]]:
    memory = SiteMemory(location, durability="none")
    url = url_of("refused.example")
    deep: Any = []
    for _ in range(480):
        deep = [deep]
    tries: list[tuple[str, Callable[[], object]]] = [
        ("a 10 MB quirk", lambda: memory.record_quirk_sync(url, "x" * 10_000_000)),
        ("100,000 fallbacks in one call",
         lambda: memory.cache_selector_sync(url, "p", "#a", [f"#f{i}" for i in range(100_000)])),
        ("actions nested 480 deep", lambda: memory.cache_action_pattern_sync(url, "t", deep)),
        ("a 100 KB error text (kept shortened)",
         lambda: memory.record_visit_sync(url, 1.0, error="e" * 100_000)),
    ]
    out = []
    for name, attempt in tries:
        try:
            attempt()
            profile = memory.get_profile_sync(url)
            kept = len(profile.last_error or "") if profile is not None else 0
            out.append([name, f"accepted ({kept} characters kept)"])
        except (ValueError, TypeError) as exc:
            out.append([name, f"{type(exc).__name__}: {str(exc)[:70]}"])
    return out


def bench_parser() -> list[list[str]]:
    cases = {"'click' + 16k spaces": "click" + " " * 16_000,
             "'click #a' + 16k spaces + 'x'": "click #a" + " " * 16_000 + "x",
             "'click #accept-cookies'": "click #accept-cookies"}
    rows = []
    for name, text in cases.items():
        assert (m.group("selector") if (m := OLD_WORKAROUND.match(text)) else None) == overlay_selector(text)
        old = _best(functools.partial(OLD_WORKAROUND.match, text), 3)
        new = _best(functools.partial(overlay_selector, text), 200)
        rows.append([name, fmt_us(old), fmt_us(new), ratio(old, new)])
    return rows


def _best(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - start) / 1000)
    return best


def main() -> int:
    args = arguments(__doc__, "smaller floods: a smoke test")
    cfg = QUICK if args.quick else DEFAULT
    logging.getLogger("sitememory").setLevel(logging.ERROR)  # the flood warnings, once per site

    sys.path.insert(0, str(ROOT))  # tests/ is not installed
    from tests._redis import RedisServer, ensure_installed

    ensure_installed()
    work = Path(tempfile.mkdtemp(prefix="sitememory-bounds-bench-", dir=args.dir))
    server: RedisServer = RedisServer(work / "redis", appendfsync="always")
    began = time.perf_counter()
    try:
        server.start()
        say(f"sitememory bounds benchmark ({cfg.mode} mode): {machine()}; work dir {work}")
        say(f"\n[{time.perf_counter() - began:6.1f} s] 1 floods, {cfg.rounds} interleaved rounds x "
            f"{cfg.per_round} updates")
        rows = bench_floods(cfg, {
            "file fsync": (work / "file-fsync", "fsync"), "file none": (work / "file-none", "none"),
            "redis always": (f"{server.url}?prefix=bounds", "fsync"),
        })
        say(f"\n[{time.perf_counter() - began:6.1f} s] 2 refused at the call")
        refused = refusals(work / "refused")
        say(f"\n[{time.perf_counter() - began:6.1f} s] 3 overlay parser")
        parsed = bench_parser()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    say("\nFlooded sites (size of the stored document; update = record_visit_sync, median / p99):")
    print_table(["backend", "flood", "document", "update, flooded", "update, fresh", "ratio"],
                [[r.backend, r.flood, f"{r.size:,} B", str(r.flooded), str(r.fresh),
                  ratio(r.flooded.median_us, r.fresh.median_us)] for r in rows])
    say("\nRefused at the call:")
    print_table(["input", "outcome"], refused)
    say("\nOverlay workaround parser, best of several runs:")
    print_table(["workaround", "old regex", "now", "ratio"], parsed)
    checks: Sequence[tuple[str, bool]] = [
        (f"every flooded document within {bounds.MAX_DOC_BYTES:,} bytes",
         all(r.size <= bounds.MAX_DOC_BYTES for r in rows)),
        ("every flooded update within 3x a fresh site's (median)", all(r.factor <= 3 for r in rows)),
        ("the 10 MB quirk, the 100,000 fallbacks and the deep actions refused",
         all(not outcome.startswith("accepted") for _, outcome in refused[:3])),
    ]
    say("\nTargets:")
    for text, passed in checks:
        say(f"  {'met' if passed else 'MISSED'}: {text}")
    worst = max(rows, key=lambda r: r.factor)
    say(f"  worst ratio {worst.factor:.2f}x ({worst.backend}, {worst.flood}); largest document "
        f"{max(r.size for r in rows):,} bytes")
    say(f"total time {time.perf_counter() - began:.1f} s ({cfg.mode} mode)")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
