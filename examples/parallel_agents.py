"""Several agent processes share one site memory: selectors heal, counts stay exact.

Each agent is a separate process that "visits" a few sites with simulated load times and flaky
errors, and looks up a search box whose old selector stopped working. Agents learn from each
other through the shared store: once one finds the working fallback, the others try it first.
No browser here; the Playwright integration arrives with the plugin layer.

    python examples/parallel_agents.py [--agents 4] [--tasks 60] [--store DIR]
    python examples/parallel_agents.py --store redis://localhost:6379/0   # agents on many machines
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time

from sitememory_plugin import SiteMemory

SITES = {
    # site: (typical load time in s, chance of a 503)
    "https://shop.example": (1.2, 0.05),
    "https://news.example": (0.4, 0.0),
    "https://slow.example": (4.0, 0.25),
}
OLD, NEW = "#search", "input[name=q]"  # shop.example renamed its search box: OLD fails now


def agent(store: str, seed: int, tasks: int) -> int:
    """Run ``tasks`` simulated page tasks; return how many selector attempts failed."""
    rng = random.Random(seed)
    memory = SiteMemory(store, cache_ttl=0.05)
    failed_attempts = 0
    for _ in range(tasks):
        url = rng.choice(list(SITES))
        typical, flaky = SITES[url]
        status = 503 if rng.random() < flaky else 200
        memory.record_visit_sync(url, rng.lognormvariate(0, 0.3) * typical, status=status)
        if status == 503:
            memory.record_quirk_sync(url, "returns 503 under load", "retry after a pause")
        if url == "https://shop.example":
            selector = memory.get_selector_sync(url, "search box")
            if selector is None:
                memory.cache_selector_sync(url, "search box", OLD, [NEW])
                selector = memory.get_selector_sync(url, "search box")
            assert selector is not None
            for candidate in selector.ranked():
                ok = candidate == NEW
                memory.record_selector_result_sync(url, "search box", candidate, ok)
                if ok:
                    break
                failed_attempts += 1
    memory.close_sync()
    return failed_attempts


def main() -> None:
    parser = argparse.ArgumentParser(description="Several agent processes share one site memory.")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--store", help="store directory or redis:// URL (default: a new temporary "
                        "directory)")
    args = parser.parse_args()
    store = args.store or tempfile.mkdtemp(prefix="sitememory-demo-")
    print(f"store: {SiteMemory(store).location}\n{args.agents} agent processes x {args.tasks} tasks, "
          "sharing it...")

    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.agents) as pool:
        failures = pool.starmap(agent, [(store, seed, args.tasks) for seed in range(args.agents)])
    elapsed = time.perf_counter() - started

    memory = SiteMemory(store)
    print(f"done in {elapsed:.1f} s\n")
    print(f"{'site':<14} {'visits':>6} {'ok':>5} {'p50':>6} {'p95':>6}  search box selector")
    total = 0
    for key in memory.list_sites_sync():
        p = memory.get_profile_sync(key)
        assert p is not None
        total += p.visit_count
        sel = p.selectors.get("search box")
        print(f"{key:<14} {p.visit_count:>6} {p.success_rate or 0:>5.0%} {p.p50_load_time or 0:>5.2f}s"
              f" {p.p95_load_time or 0:>5.2f}s  {sel.ranked() if sel else '-'}")
    print(f"\nvisits recorded: {total} of {args.agents * args.tasks} sent"
          f" ({'exact' if total == args.agents * args.tasks else 'MISMATCH'})")
    print(f"failed selector attempts per agent: {failures} "
          "(the first agent to try the old selector pays; the rest learn from the store)")
    print("\nwhat an LLM prompt would get for shop.example:\n")
    print(memory.get_context_for_prompt_sync("https://shop.example"))
    if total != args.agents * args.tasks:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
