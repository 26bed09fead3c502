"""The report written to a file: built from the store, then put in place whole."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._memory import SiteMemory
from .data import report_data
from .page import render
from .source import read


class OutputError(OSError):
    """The report's file cannot be written where it was asked for (not the store's failure)."""


@dataclass(frozen=True)
class Written:
    """Where the page went, how many sites it shows and its size in bytes."""

    path: Path
    sites: int
    size: int


def page_of(memory: SiteMemory, site: str | None = None) -> tuple[str, int]:
    """The report of ``memory`` (or of ``site`` alone) and how many sites it shows.

    :raises UnknownSite: ``site`` is not in the store.
    """
    snapshot = read(memory, site)
    page = render(report_data(snapshot.profiles, snapshot.histories, time.time(), memory.half_life))
    return page, len(snapshot.profiles)


def write_report(memory: SiteMemory, path: str | os.PathLike[str], site: str | None = None) -> Written:
    """Write the report to ``path``: beside it first, then renamed, so that a reader (a browser
    reloading it) never sees half a page. A new page has mode 0600, like the store's files.

    :raises UnknownSite: ``site`` is not in the store.
    :raises OutputError: ``path`` cannot be written (no such directory, a directory, no right).
    """
    page, sites = page_of(memory, site)
    target = Path(path).expanduser().resolve()
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    try:
        # As private as the store it shows (like an export); an existing page keeps its mode.
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(page)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(target, sites, len(page.encode()))
