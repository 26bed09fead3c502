"""sitememory-slowlog: logs slow page visits to a file, and warns LLM prompts about slow sites.

``$SITEMEMORY_SLOWLOG`` names the file to append to (nothing is logged without it);
``$SITEMEMORY_SLOWLOG_SECONDS`` is what counts as slow (default 3 seconds).
"""

from __future__ import annotations

import os
import time

from sitememory_plugin import SiteProfile, Visit, hookimpl


def slow_after() -> float:
    """Seconds from which a page load counts as slow."""
    return float(os.environ.get("SITEMEMORY_SLOWLOG_SECONDS", "3"))


@hookimpl
def sitememory_after_navigation(key: str, visit: Visit) -> None:
    path = os.environ.get("SITEMEMORY_SLOWLOG")
    if path and visit.duration >= slow_after():
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        # One short line per write in append mode, so agents in parallel can share the file.
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{stamp}\t{key}\t{visit.duration:.2f}\t{visit.status}\t{visit.url}\n")


@hookimpl
def sitememory_prompt_context(profile: SiteProfile | None, lines: list[str]) -> None:
    p95 = profile.p95_load_time if profile is not None else None
    if p95 is not None and p95 >= slow_after():
        lines.append(f"- slow site: p95 load {p95:.1f} s, allow extra time before giving up")
