"""The report written to a file: built from the store, then put in place whole."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .._memory import SiteMemory
from .data import report_data
from .page import render
from .source import read


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
    reloading it) never sees half a page.

    :raises UnknownSite: ``site`` is not in the store.
    """
    page, sites = page_of(memory, site)
    target = Path(path).expanduser().resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(target, sites, len(page.encode()))
