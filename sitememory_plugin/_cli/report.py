"""``sitememory report`` and ``sitememory serve``: what the memory knows, as one HTML page.

``report`` writes the page (``report.html`` by default, ``-o -`` standard output); ``serve``
serves it on 127.0.0.1 until interrupted, reloading in the browser as the store changes. Both
only read the store.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any

from .._core.evidence import DEFAULT_HALF_LIFE
from .._memory import SiteMemory
from .._report.file import OutputError, page_of, write_report
from .._report.serve import DEFAULT_PORT, DEFAULT_TTL, LiveReport, ReportServer, serve_until_signal
from .._report.source import UnknownSite
from .codes import INTERRUPTED, NOT_FOUND, USAGE
from .render import plural

if TYPE_CHECKING:
    from . import Cli


def cmd_report(cli: Cli) -> int:
    if cli.args.output == "-" and cli.args.json:
        cli.err.print("error: --json says what was written to a file; with -o - the page is the output",
                      markup=False, highlight=False)
        return USAGE
    try:
        if cli.args.output == "-":
            page, _ = page_of(cli.memory, cli.args.site)
            sys.stdout.write(page)
            sys.stdout.flush()
            return 0
        written = write_report(cli.memory, cli.args.output, cli.args.site)
    except OutputError as exc:
        cli.err.print(f"error: {exc}", markup=False, highlight=False)
        return USAGE
    except UnknownSite:
        cli.no_site(cli.args.site)
        return NOT_FOUND
    path = written.path
    sites, size = written.sites, written.size
    if cli.args.json:
        cli.json({"file": str(path), "sites": sites, "bytes": size})
    else:
        cli.out.print(f"wrote {path} ({plural(sites, 'site')}, {size:,} bytes)",
                      markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_serve(cli: Cli) -> int:
    if not 0 <= cli.args.port <= 65535:
        cli.err.print(f"not a port: {cli.args.port}", markup=False, highlight=False)
        return USAGE
    # Its own memory: a short cache, so that what other processes write shows within seconds.
    half_life = DEFAULT_HALF_LIFE if cli.args.half_life is None else cli.args.half_life
    memory = SiteMemory(cli.store, cache_ttl=DEFAULT_TTL, half_life=half_life)
    try:
        live = LiveReport(memory, cli.args.site)
        try:
            live.current()  # an unknown site, a store that cannot be read: said before listening
        except UnknownSite:
            cli.no_site(cli.args.site)
            return NOT_FOUND
        try:
            server = ReportServer(live, cli.args.port)
        except OSError as exc:  # the port is taken, or one below 1024 without the right
            cli.err.print(f"error: cannot listen on 127.0.0.1:{cli.args.port}: {exc.strerror or exc} "
                          "(--port 0 picks a free port)", markup=False, highlight=False)
            return USAGE
        if cli.args.json:
            cli.json({"url": server.url, "store": memory.location})
        else:
            cli.out.print(f"serving the report of {memory.location} at {server.url} (read-only; "
                          "Ctrl-C stops)", markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()
        stopped_by = serve_until_signal(server)
    finally:
        memory.close_sync()
    cli.err.print("stopped", markup=False, highlight=False)
    return INTERRUPTED if stopped_by == signal.SIGINT else 0


def add_commands(command: Any) -> None:
    """Add ``report`` and ``serve`` with ``command`` (the parser's ``command(name, run, text, ...)``)."""
    p = command("report", cmd_report, "write what the memory knows as one self-contained HTML page",
                json_out=True, json_help='with -o FILE: print {"file": ..., "sites": N, "bytes": N}',
                read_only=True, examples=("sitememory report", "sitememory report -o fleet.html --json",
                                          "sitememory report --site shop.example -o - > shop.html"))
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="the file to write (default: report.html here; - for standard output)")
    p.add_argument("--site", metavar="KEY", help="only this site (a site key or URL)")
    p = command("serve", cmd_serve, "serve the report on 127.0.0.1, live as the store changes (read-only)",
                json_out=True, json_help='print {"url": ..., "store": ...} once listening',
                read_only=True, examples=("sitememory serve", "sitememory serve --port 0 --json",
                                          "sitememory --store ./store serve --site shop.example"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--site", metavar="KEY", help="only this site (a site key or URL)")
