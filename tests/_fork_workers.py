"""Functions that multiprocessing workers run in tests/test_fork.py (importable by spawn and
forkserver children, which import their target by module name)."""

from __future__ import annotations

import time

from sitememory_plugin import SiteMemory

VISITS = 100


def record_and_return(args: tuple[str, int]) -> int:
    """Record ``VISITS`` visits with write-behind and return without ``close()``."""
    store, worker = args
    memory = SiteMemory(store, flush_interval=3600)
    for _ in range(VISITS):
        memory.record_visit_sync(f"https://w{worker}.example/", 0.1, status=200)
    return worker


def record_and_linger(args: tuple[str, int]) -> int:
    """Like :func:`record_and_return`, but the memory stays alive in the worker afterwards."""
    store, worker = args
    _KEPT.append(memory := SiteMemory(store, flush_interval=3600))
    for _ in range(VISITS):
        memory.record_visit_sync(f"https://w{worker}.example/", 0.1, status=200)
    return worker


_KEPT: list[SiteMemory] = []


def sleep(seconds: float) -> None:
    time.sleep(seconds)
