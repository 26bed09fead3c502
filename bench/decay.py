"""Selector ranking before and after decay, on a scripted history (no timing: figures of the rule).

A purpose has three candidates. ``#old`` worked 50 times a year ago, ``#mid`` worked 10 times and
failed twice 40 days ago, ``#new`` worked twice yesterday. The script prints each one's counts,
weighed counts (x 0.5^(age / half-life)) and confidence as of now, and the order without decay
(every count fresh, the rule before evidence aged) next to the order the memory keeps
(half-lives of 7, 30 and 365 days).

    python bench/decay.py
"""

from __future__ import annotations

from dataclasses import replace

from _report import print_table

from sitememory_plugin._core.models import SiteProfile
from sitememory_plugin._core.ranking import rank
from sitememory_plugin._core.updates import CacheSelector, SelectorResult, Update, apply_all

DAY = 86400.0
NOW = 1_800_000_000.0
PURPOSE = "search box"


def history() -> list[Update]:
    year, forty, yesterday = NOW - 365 * DAY, NOW - 40 * DAY, NOW - DAY
    updates: list[Update] = [CacheSelector(PURPOSE, "#old", ("#mid", "#new"), year - 60, confirm=False)]
    updates += [SelectorResult(PURPOSE, "#old", True, year + i) for i in range(50)]
    outcomes = [True] * 8 + [False, True, False, True]
    updates += [SelectorResult(PURPOSE, "#mid", ok, forty + i) for i, ok in enumerate(outcomes)]
    updates += [SelectorResult(PURPOSE, "#new", True, yesterday + i) for i in range(2)]
    return updates


def main() -> None:
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print()
    base = apply_all(SiteProfile("shop.example"), history(), "bench")
    fresh = rank(("#old", "#mid", "#new"), base.selectors[PURPOSE].candidates)  # the rate alone
    rows = [["no decay", "", "", "", "", "", "", " > ".join(fresh)]]
    for days in (7, 30, 365):
        weighed = [replace(u, half_life=days * DAY) for u in history()]  # type: ignore[type-var]
        selector = apply_all(SiteProfile("shop.example"), weighed, "bench").selectors[PURPOSE]
        for i, name in enumerate(("#old", "#mid", "#new")):
            s = selector.stats(name)
            c, x = s.evidence.weights(NOW, days * DAY)
            order = " > ".join(selector.ranked()) if i == 0 else ""
            rows.append([f"{days} d" if i == 0 else "", name, str(s.ok), str(s.failed), f"{c:.3f}",
                         f"{x:.3f}", f"{s.confidence(NOW, days * DAY):.4f}", order])
    print_table(["half-life", "candidate", "ok", "failed", "weighed ok", "weighed failed", "confidence",
                 "order kept"], rows)


if __name__ == "__main__":
    main()
