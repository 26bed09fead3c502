"""``sitememory record`` and ``sitememory mcp``: the memory beside an LLM agent's browser.

``record`` prints one line per recorded visit (JSON Lines with ``--json``) until interrupted or
until the browser goes away; ``mcp`` speaks MCP on standard input and output (or streamable HTTP
on the loopback interface), so everything else it says goes to standard error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from .._core.redact import redact
from .._core.text import json_visible, visible
from .._hooktypes import Visit
from .._playwright.recorder import BrowserUnavailable, CdpRecorder, check_endpoint
from .._plugins import make_plugin_manager
from .codes import INTERRUPTED, NOT_FOUND, USAGE
from .render import plural

if TYPE_CHECKING:
    from . import Cli



def cmd_record(cli: Cli) -> int:
    endpoint = check_endpoint(cli.args.cdp)  # bad usage before the store is opened
    recorder = CdpRecorder(
        endpoint, cli.memory, plugins=make_plugin_manager(), reconnect=cli.args.reconnect,
        overlay_window=cli.args.overlay_window, on_visit=lambda visit: _print_visit(cli, visit),
    )
    cli.err.print(f"recording the browser at {redact(endpoint)} into {cli.memory.location}; Ctrl-C stops",
                  markup=False, highlight=False)
    interrupted = asyncio.run(_record(recorder))
    tally = recorder.tally
    summary = (f"recorded {plural(tally.visits, 'visit')} ({tally.failures} failed), dismissed "
               f"{plural(tally.dismissed, 'overlay')}, {tally.errors} not written")
    if interrupted is None:
        cli.err.print(f"stopped: {summary}", markup=False, highlight=False)
        return 0
    if isinstance(interrupted, BrowserUnavailable):
        cli.err.print(f"error: {interrupted}; {summary}", markup=False, highlight=False)
        return NOT_FOUND
    cli.err.print(f"interrupted: {summary}", markup=False, highlight=False)
    return INTERRUPTED


async def _record(recorder: CdpRecorder) -> BrowserUnavailable | KeyboardInterrupt | None:
    """Run ``recorder`` until SIGTERM (``None``), SIGINT or the browser going away."""
    interrupted: list[KeyboardInterrupt] = []
    with _signals(recorder.stop, interrupted):
        try:
            await recorder.run()
        except BrowserUnavailable as exc:
            return exc
    return interrupted[0] if interrupted else None


@contextlib.contextmanager
def _signals(
    stop: Callable[[], None], interrupted: list[KeyboardInterrupt], *, force: bool = True
) -> Iterator[None]:
    """Call ``stop`` on SIGINT (noted in ``interrupted``) and SIGTERM, in the running loop; with
    ``force``, a second signal exits at once."""
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def handle(sig: int) -> None:
        if sig == signal.SIGINT:
            interrupted.append(KeyboardInterrupt())
        if received and force:
            sys.stderr.write("sitememory: stopped at once, by a second signal\n")
            sys.stderr.flush()
            os._exit(INTERRUPTED if interrupted else 1)
        received.append(sig)
        stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle, sig)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_visit(cli: Cli, visit: Visit) -> None:
    row: dict[str, Any] = {
        "url": redact(visit.url), "status": visit.status, "duration_s": round(visit.duration, 3),
        "ok": visit.ok, "error": visit.error,
    }
    if cli.args.json:
        sys.stdout.write(json_visible(json.dumps(row, ensure_ascii=False)) + "\n")
    else:
        outcome = str(visit.status) if visit.error is None else f"failed: {visit.error}"
        sys.stdout.write(visible(f"{visit.duration:7.3f} s  {outcome}  {row['url']}") + "\n")
    sys.stdout.flush()


def cmd_mcp(cli: Cli) -> int:
    try:
        from ..integrations.mcp import serve
    except ImportError as exc:
        cli.err.print(f"error: {exc}", markup=False, highlight=False)
        return USAGE
    if cli.args.cdp is not None:
        check_endpoint(cli.args.cdp)
    # Standard output is the protocol's: every log line goes to standard error.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.getLogger("sitememory").setLevel(logging.INFO)
    transport: Literal["stdio", "http"] = "http" if cli.args.http else "stdio"
    interrupted: list[KeyboardInterrupt] = []

    async def run() -> None:
        stop = asyncio.Event()
        # uvicorn handles the signals of the HTTP transport itself (a second one ends it at once)
        # and raises them again once it stopped: they reach this handler twice.
        with _signals(stop.set, interrupted, force=transport == "stdio"):
            await serve(
                cli.memory, transport=transport, host=cli.args.host, port=cli.args.port, cdp=cli.args.cdp,
                plugins=make_plugin_manager(), overlay_window=cli.args.overlay_window, stop=stop,
            )
            if stop.is_set() and transport == "stdio":
                # The SDK's reader of standard input waits in a thread until the host closes
                # it; once everything is written, leave without waiting for it. (A tool call
                # still running is cut short, its client never told it succeeded.)
                await cli.memory.close()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(INTERRUPTED if interrupted else 0)

    asyncio.run(run())
    return INTERRUPTED if interrupted else 0


def add_commands(command: Any) -> None:
    """Add ``record`` and ``mcp`` with ``command`` (the parser's ``command(name, run, text, ...)``)."""
    p = command("record", cmd_record, "record every navigation of a running Chromium, over CDP",
                json_out=True, json_help="print each visit as a JSON line",
                examples=("sitememory record --cdp http://127.0.0.1:9222",
                          "sitememory record --cdp http://127.0.0.1:9222 --reconnect inf --json"))
    p.add_argument("--cdp", required=True, metavar="URL",
                   help="its DevTools endpoint, e.g. http://127.0.0.1:9222 (--remote-debugging-port=9222)")
    p.add_argument("--reconnect", type=_seconds, default=0.0, metavar="SECONDS",
                   help="keep trying this long when the browser is not there or goes away (default 0: "
                        "exit at once; 'inf' never gives up)")
    p.add_argument("--overlay-window", type=_seconds, default=5.0, metavar="SECONDS",
                   help="after each load, wait this long for a known overlay to click away (0: off)")
    p = command("mcp", cmd_mcp, "serve the memory to LLM agents as MCP tools (stdio; extra 'mcp')",
                examples=("sitememory mcp", "sitememory mcp --cdp http://127.0.0.1:9222",
                          "sitememory mcp --http --port 8765"))
    p.add_argument("--http", action="store_true",
                   help="streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost", "::1"],
                   help="the loopback address to listen on with --http")
    p.add_argument("--port", type=int, default=8765, help="the port to listen on with --http (default 8765)")
    p.add_argument("--cdp", metavar="URL",
                   help="also record the navigations of the Chromium at this DevTools endpoint")
    p.add_argument("--overlay-window", type=_seconds, default=5.0, metavar="SECONDS",
                   help="with --cdp: after each load, wait this long for a known overlay to click away")


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # nan too
        raise ValueError(f"not a number of seconds >= 0: {text!r}")
    return value
