"""``sitememory visits``: a site's recent visits, and with ``--follow`` each new one as agents
record it (file and Redis stores alike), until interrupted."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from .._core.bounds import MAX_HISTORY
from .._core.history import VisitRecord
from .._core.text import json_visible, visible
from . import render
from .codes import NOT_FOUND

if TYPE_CHECKING:
    import argparse

    from . import Cli


def cmd_visits(cli: Cli) -> int:
    profile = cli.profile(cli.key(cli.args.site))
    if profile is None:
        return NOT_FOUND
    key, limit = profile.domain, cli.args.limit
    if cli.args.follow:
        follow = cli.memory.follow_visits_sync(key, last=limit, poll=0.5)
        if not cli.args.json:
            cli.out.print(f"visits of {escape(visible(key))} in {escape(cli.memory.location)} as agents "
                          "record them; Ctrl-C stops", highlight=False)
        for record in follow:
            sys.stdout.write((json_line(record) if cli.args.json else line(record)) + "\n")
            sys.stdout.flush()
        return 0  # never reached: following ends by an interrupt
    records = cli.memory.visit_history_sync(key, limit)
    if cli.args.json:
        cli.json([as_json(r) for r in records])
        return 0
    failed = sum(not r.ok for r in records)
    table = Table(title=escape(f"{render.plural(len(records), 'visit')} of {visible(key)} (newest last; "
                               f"{failed} failed)"), title_justify="left")
    for name, justify in (("when (UTC)", "left"), ("path", "left"), ("status", "right"),
                          ("result", "left"), ("duration", "right"), ("ttfb", "right"), ("load", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in records:
        table.add_row(*(escape(c) for c in cells(r)))
    cli.out.print(table)
    if not records and profile.visit_count:
        were = "was" if profile.visit_count == 1 else "were"
        cli.out.print(f"(its {render.plural(profile.visit_count, 'visit')} {were} recorded before the "
                      "store kept a history of visits)", markup=False, highlight=False)
    return 0


def cells(record: VisitRecord) -> tuple[str, ...]:
    """A record as plain text cells, stored text made visible."""
    return (
        str(render.iso(record.at)), visible(record.path), render.known(record.status),
        "ok" if record.ok else visible(record.error or "failed"), render.seconds(record.duration),
        render.seconds(record.timings.get("ttfb")), render.seconds(record.timings.get("load")),
    )


def line(record: VisitRecord) -> str:
    """A record as one line of a follower's output (plain text: it goes on as a stream)."""
    when, path, status, result, duration, ttfb, load = cells(record)
    return f"{when}  {status:>3}  {result:<10}  {duration:>8}  ttfb {ttfb:>8}  load {load:>8}  {path}"


def as_json(record: VisitRecord) -> dict[str, Any]:
    return {"time": render.iso(record.at), **record.to_dict(), "ok": record.ok}


def json_line(record: VisitRecord) -> str:
    return json_visible(json.dumps(as_json(record), ensure_ascii=False))


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command("visits", cmd_visits, "a site's recent visits; --follow streams new ones", json_out=True,
                read_only=True, json_help="print JSON (JSON Lines with --follow)",
                examples=("sitememory visits shop.example",
                          "sitememory visits shop.example --limit 100 --json",
                          "sitememory visits https://shop.example/ --follow"))
    p.add_argument("site", help="a site key or URL")
    p.add_argument("--limit", type=render.count_arg, default=20, metavar="N",
                   help=f"the last N visits (default 20; the history keeps {MAX_HISTORY})")
    p.add_argument("--follow", "-f", action="store_true",
                   help="then print each new visit as agents record it, until Ctrl-C")
