"""The ``sitememory`` command: see what the memory knows, move it, keep it tidy, run the demo.

Exit codes: 0 done, 1 nothing found (an unknown site, no browser at a CDP endpoint), a check
failed or a demo run failed, 2 bad usage, input or configuration (a plugin that fails to load),
3 the store failed (a lock timeout, an I/O error, a document from a newer version), 130
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._context import site_context
from .._core.errors import PluginError, SiteMemoryError
from .._core.evidence import UNCERTAIN, Evidence, check_half_life, freshness
from .._core.models import SiteProfile
from .._core.prompt import DEFAULT_MAX_CHARS, check_max_chars
from .._core.storage import is_url
from .._core.text import json_visible, visible
from .._drive import run_sync
from .._hookcall import call_sync
from .._memory import SiteMemory, default_storage_path
from .._plugins import make_plugin_manager, plugin_hooks
from . import agents, render
from .codes import INTERRUPTED, NOT_FOUND, STORE, USAGE
from .doctor import run_checks
from .explain import ago, explanation


class Cli:
    """One invocation: parsed arguments, the consoles, and the memory (opened on first use)."""

    def __init__(self, args: argparse.Namespace, out: Console, err: Console) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.store: Path | str = (
            default_storage_path() if not args.store
            else args.store if is_url(args.store) else Path(args.store).expanduser()
        )
        self._memory: SiteMemory | None = None

    @property
    def memory(self) -> SiteMemory:
        if self._memory is None:
            half_life = getattr(self.args, "half_life", None)
            self._memory = (SiteMemory(self.store) if half_life is None
                            else SiteMemory(self.store, half_life=half_life))
        return self._memory

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close_sync()

    def json(self, value: Any) -> None:
        # Plain stdout, not rich: a terminal's width must never wrap what a script parses. Stored
        # text may hold bidi overrides or C1 controls, which json.dumps leaves raw: escaped too.
        sys.stdout.write(json_visible(json.dumps(value, ensure_ascii=False, indent=2, default=str)) + "\n")

    def profile(self, site: str) -> SiteProfile | None:
        profile = self.memory.get_profile_sync(site)
        if profile is None:
            self.err.print(f"no site {site!r} in {self.memory.location}")
        return profile


# -- commands ------------------------------------------------------------------------------------


def shown(text: str) -> str:
    """Stored text for a rich table: hidden characters as escapes (rich passes ESC through), no markup."""
    return escape(visible(text))


def cmd_list(cli: Cli) -> int:
    rows = []
    for key in cli.memory.list_sites_sync():
        profile = cli.memory.get_profile_sync(key)
        if profile is not None:
            rows.append(render.row(profile))
    rows = render.sort_rows(rows, cli.args.sort, cli.args.reverse)[: cli.args.limit]
    if cli.args.json:
        cli.json([{**r, "last_visit": render.iso(r["last_visit"])} for r in rows])
        return 0
    table = Table(title=f"{len(rows)} sites in {cli.memory.location}", title_justify="left")
    for name, justify in (("site", "left"), ("visits", "right"), ("success", "right"),
                          ("p50 load", "right"), ("p95 load", "right"), ("last visit", "left"),
                          ("selectors", "right"), ("quirks", "right")):
        # fold, never elide: a cut site name is useless
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            shown(r["site"]), str(r["visits"]), render.percent(r["success_rate"]),
            render.seconds(r["p50_load_s"]), render.seconds(r["p95_load_s"]), render.when(r["last_visit"]),
            str(r["selectors"]), str(r["quirks"]),
        )
    cli.out.print(table)
    return 0


def cmd_show(cli: Cli) -> int:
    profile = cli.profile(cli.args.site)
    if profile is None:
        return NOT_FOUND
    if cli.args.json:
        cli.json(profile.to_dict())
        return 0
    summary = Table.grid(padding=(0, 2))
    summary.add_row("site", shown(profile.domain))
    summary.add_row("visits", f"{profile.visit_count} ({profile.success_count} ok, "
                    f"{profile.failure_count} failed; success {render.percent(profile.success_rate)}, "
                    f"recent failures {render.percent(profile.recent_failure_rate)})")
    summary.add_row("load time", f"p50 {render.seconds(profile.p50_load_time)}, p95 "
                    f"{render.seconds(profile.p95_load_time)}, mean {render.seconds(profile.mean_load_time)} "
                    f"over {len(profile.load_times)} visits")
    summary.add_row(
        "first / last visit", f"{render.iso(profile.first_visit)} / {render.iso(profile.last_visit)}"
    )
    summary.add_row("last status / error", shown(f"{profile.last_status} / {profile.last_error}"))
    if profile.last_timings:
        summary.add_row("last timings", ", ".join(
            f"{shown(k)} {render.seconds(v) if k not in ('transfer_bytes', 'redirects') else int(v)}"
            for k, v in profile.last_timings.items()))
    cli.out.print(summary)
    now, half_life = time.time(), cli.memory.half_life
    if profile.selectors:
        table = Table(title="selectors (best first; `sitememory explain SITE PURPOSE` says why)",
                      title_justify="left")
        for name in ("purpose", "selector", "ok", "failed", "failing streak", "confidence", "confirmed"):
            table.add_column(name)
        for purpose, selector in profile.selectors.items():
            for rank, candidate in enumerate(selector.ranked()):
                stats = selector.stats(candidate)
                table.add_row(shown(purpose) if rank == 0 else "", shown(candidate), str(stats.ok),
                              str(stats.failed), str(stats.streak), trust(stats.evidence, now, half_life),
                              freshness(stats.evidence, now))
        cli.out.print(table)
    if profile.quirks:
        table = Table(title="quirks", title_justify="left")
        for name in ("description", "workaround", "seen", "contradicted", "confidence", "confirmed"):
            table.add_column(name)
        for quirk in profile.quirks:
            table.add_row(shown(quirk.description), shown(quirk.workaround or "-"), str(quirk.occurrences),
                          str(quirk.contradictions), trust(quirk.evidence, now, half_life),
                          freshness(quirk.evidence, now))
        cli.out.print(table)
    if profile.patterns:
        table = Table(title="action patterns", title_justify="left")
        for name in ("task", "actions", "cached", "contradicted", "confidence", "confirmed"):
            table.add_column(name)
        for task, pattern in profile.patterns.items():
            actions = json.dumps(pattern.to_dict()["actions"], ensure_ascii=False)
            table.add_row(shown(task), escape(visible(actions)[:200]), str(pattern.times_cached),
                          str(pattern.contradictions), trust(pattern.evidence, now, half_life),
                          freshness(pattern.evidence, now))
        cli.out.print(table)
    return 0


def trust(evidence: Evidence, now: float, half_life: float) -> str:
    """A confidence for a table: two digits, marked when uncertain."""
    value = evidence.confidence(now, half_life)
    return f"{value:.2f}" + (" (uncertain)" if value < UNCERTAIN else "")


def cmd_explain(cli: Cli) -> int:
    profile = cli.profile(cli.args.site)
    if profile is None:
        return NOT_FOUND
    selector = profile.selectors.get(cli.args.purpose)
    if selector is None:
        known = ", ".join(repr(p) for p in sorted(profile.selectors)) or "none"
        cli.err.print(f"no purpose {cli.args.purpose!r} on {profile.domain} (known: {known})",
                      markup=False, highlight=False)
        return NOT_FOUND
    now = time.time()
    data = explanation(selector, now, cli.memory.half_life)
    if cli.args.json:
        cli.json({"site": profile.domain, **data})
        return 0
    table = Table(title=f"{shown(selector.purpose)} on {shown(profile.domain)}: half-life "
                        f"{render.days(cli.memory.half_life)}", title_justify="left")
    for name in ("rank", "selector", "ok", "failed", "streak", "last ok", "last failed", "weight ok",
                 "weight failed", "confidence", "why"):
        table.add_column(name, overflow="fold")
    for row in data["candidates"]:
        table.add_row(str(row["rank"]), shown(row["selector"]), str(row["ok"]), str(row["failed"]),
                      str(row["streak"]), ago(row["last_confirmed"], now), ago(row["last_failed"], now),
                      f"{row['weight_ok']:g}", f"{row['weight_failed']:g}", f"{row['confidence']:.3f}",
                      shown(row["why"]))
    cli.out.print(table)
    cli.out.print(data["rule"], markup=False, highlight=False)
    if data["order_now"] != list(selector.ranked()):
        cli.out.print("The order is the one ranked when the last result came in; the evidence as it "
                      "stands now would rank: " + ", ".join(data["order_now"]),
                      markup=False, highlight=False)
    return 0


def cmd_context(cli: Cli) -> int:
    check_max_chars(cli.args.max_chars)  # before the store is read: a bad bound is bad usage
    plugins = make_plugin_manager()
    answers = call_sync(plugins, "sitememory_site_key", firstresult=True, url=cli.args.url)
    key = answers[0][1] if answers else cli.args.url
    profile = cli.profile(key)
    if profile is None:
        return NOT_FOUND
    text = run_sync(site_context(plugins, profile.domain, profile, cli.args.max_chars,
                                 tasks=cli.args.task, half_life=cli.memory.half_life))
    sys.stdout.write(text + "\n")  # plain text, for a prompt
    return 0


def cmd_export(cli: Cli) -> int:
    if cli.args.output in (None, "-"):
        count = cli.memory.export_sync(sys.stdout)
        sys.stdout.flush()
    else:
        count = cli.memory.export_sync(cli.args.output)
    cli.err.print(f"exported {count} sites")
    return 0


def cmd_import(cli: Cli) -> int:
    if cli.args.legacy:
        if cli.args.file == "-":
            cli.err.print("import --legacy reads a file, not standard input")
            return USAGE
        result = cli.memory.import_legacy_sync(cli.args.file)
    else:
        result = cli.memory.import_jsonl_sync(sys.stdin if cli.args.file == "-" else cli.args.file)
    if cli.args.json:
        cli.json({"imported": list(result.imported), "skipped": dict(result.skipped)})
    else:
        cli.out.print(f"imported {len(result.imported)} sites, skipped {len(result.skipped)}")
        for where, why in result.skipped.items():
            cli.out.print(f"  skipped {where}: {why}", markup=False, highlight=False)
    return 0


def _redis_store(url: str) -> tuple[bool, str]:
    """Whether the URL holds a store, and the URL fit to print (without its password)."""
    from .._core.redisconn import RedisOptions, store_exists

    options = RedisOptions.parse(url)
    return store_exists(options), options.display


def cmd_migrate(cli: Cli) -> int:
    exists, where = (_redis_store(cli.args.source) if is_url(cli.args.source)
                     else (Path(cli.args.source).expanduser().is_dir(), cli.args.source))
    if not exists:
        # Opening it would create an empty store and "copy" nothing: a typo must not pass.
        cli.err.print(f"no store at {where}", markup=False, highlight=False)
        return USAGE
    source, target = SiteMemory(cli.args.source), SiteMemory(cli.args.destination)
    try:
        result = source.copy_to_sync(target, replace=cli.args.replace)
    finally:
        source.close_sync()
        target.close_sync()
    if cli.args.json:
        cli.json({"copied": list(result.imported), "skipped": dict(result.skipped)})
    else:
        cli.out.print(f"copied {len(result.imported)} sites from {source.location} to "
                      f"{target.location}, skipped {len(result.skipped)}",
                      markup=False, highlight=False)
        for key, why in result.skipped.items():
            cli.out.print(f"  skipped {key}: {why}", markup=False, highlight=False)
    return 0


def cmd_prune(cli: Cli) -> int:
    seconds = render.parse_duration(cli.args.older_than)
    gone = cli.memory.prune_sync(seconds, dry_run=cli.args.dry_run, min_confidence=cli.args.min_confidence)
    verb = "would forget" if cli.args.dry_run else "forgot"
    if cli.args.json:
        cli.json({"dry_run": cli.args.dry_run, "sites": list(gone), "entries": gone.entries})
    else:
        cli.out.print(f"{verb} {len(gone)} sites idle for more than {cli.args.older_than}")
        for key in gone:
            cli.out.print(f"  {key}", markup=False, highlight=False)
        if cli.args.min_confidence is not None:
            verb = "would drop" if cli.args.dry_run else "dropped"
            cli.out.print(f"{verb} {sum(gone.entries.values())} entries less confident than "
                          f"{cli.args.min_confidence:g} from {len(gone.entries)} sites")
            for key, n in gone.entries.items():
                cli.out.print(f"  {key}: {n}", markup=False, highlight=False)
    return 0


def cmd_forget(cli: Cli) -> int:
    if not cli.memory.forget_sync(cli.args.site):
        cli.err.print(f"no site {cli.args.site!r} in {cli.memory.location}")
        return NOT_FOUND
    cli.out.print(f"forgot {cli.args.site}")
    return 0


def cmd_plugins(cli: Cli) -> int:
    hooks = plugin_hooks(make_plugin_manager())
    if cli.args.json:
        cli.json(hooks)
        return 0
    table = Table(title="plugins (in registration order; later ones are called first)", title_justify="left")
    table.add_column("plugin")
    table.add_column("hooks")
    for name, implemented in hooks.items():
        table.add_row(escape(name), ", ".join(h.removeprefix("sitememory_") for h in implemented))
    cli.out.print(table)
    return 0


def cmd_doctor(cli: Cli) -> int:
    checks = run_checks(cli.store)
    if cli.args.json:
        cli.json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            cli.out.print(f"{mark} {check.name}: ", end="")
            cli.out.print(check.detail, markup=False, highlight=False)
    return 0 if all(c.ok for c in checks) else NOT_FOUND


def cmd_demo(cli: Cli) -> int:
    from .._demo import run_demo

    store = cli.store if cli.args.store else None
    return run_demo(store=store, agents=cli.args.agents, quick=cli.args.quick, console=cli.out)


# -- parsing -------------------------------------------------------------------------------------


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"not a number from 0 to 1: {text!r}")
    return value


def _half_life(text: str) -> float:
    try:
        return check_half_life(render.parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (given: {text!r})") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="sitememory", description="A shared, durable memory of websites for browser agents.",
    )
    top.add_argument("--store", metavar="PATH|URL",
                     help="the store directory or redis:// URL (default: $SITEMEMORY_PATH, else the "
                          "user data dir)")
    top.add_argument("--half-life", metavar="DURATION", type=_half_life, default=None,
                     help="how fast evidence ages, e.g. 30d (the default), 12h")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[[Cli], int], text: str, json_out: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(run=run)
        if json_out:
            p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    p = command("list", cmd_list, "a table of every site the memory knows", json_out=True)
    p.add_argument("--sort", choices=list(render.SORTS), default="site")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="show the first N sites")
    p = command("show", cmd_show, "everything known about one site", json_out=True)
    p.add_argument("site", help="a site key or URL")
    p = command("explain", cmd_explain, "why a purpose's selectors rank as they do", json_out=True)
    p.add_argument("site", help="a site key or URL")
    p.add_argument("purpose", help="the purpose, e.g. 'search box'")
    p = command("context", cmd_context, "the text an LLM prompt gets about a site")
    p.add_argument("url", help="a URL or site key")
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS)
    p.add_argument("--task", action="append", default=[], metavar="TASK",
                   help="include the remembered steps of this task type (repeatable)")
    p = command("export", cmd_export, "write every site as JSON Lines")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    p = command("import", cmd_import, "merge JSON Lines (or the seed's single-file format)", json_out=True)
    p.add_argument("file", help="file to read, - for standard input")
    p.add_argument("--legacy", action="store_true", help="the seed's {domain: profile} JSON file")
    p = command("migrate", cmd_migrate, "copy a store to another, e.g. a directory to Redis and back",
                json_out=True)
    p.add_argument("source", help="a store directory or redis:// URL")
    p.add_argument("destination", help="a store directory or redis:// URL")
    p.add_argument("--replace", action="store_true",
                   help="overwrite the sites the destination knows instead of merging into them")
    p = command("prune", cmd_prune, "forget sites idle for longer than a duration", json_out=True)
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 90m")
    p.add_argument("--dry-run", action="store_true", help="list what would be forgotten")
    p.add_argument("--min-confidence", type=_unit, default=None, metavar="C",
                   help="also drop purposes, quirks and patterns less confident than C (0 to 1)")
    p = command("forget", cmd_forget, "forget one site")
    p.add_argument("site", help="a site key or URL")
    command("plugins", cmd_plugins, "loaded plugins and the hooks each implements", json_out=True)
    command("doctor", cmd_doctor, "check the store, the locks, the browser and the plugins", json_out=True)
    p = command("demo", cmd_demo, "run the demo: agents learn a local demo site, then use what they learned")
    p.add_argument("--agents", type=int, default=3, help="agent processes (default 3)")
    p.add_argument("--quick", action="store_true", help="a shorter task list")
    p.epilog = (
        "The store is kept: by default the demo's own, 'demo' in the user data directory "
        "(~/.local/share/sitememory/demo on Linux), never $SITEMEMORY_PATH. Run 1 needs an empty "
        "memory: the sites an earlier demo left there are forgotten first. 'sitememory --store "
        "DIR demo' uses DIR (or a redis:// URL) instead; a store holding any site that is not the "
        "demo's is refused (exit 2), never cleared. The demo ends with the commands that show what "
        "the memory kept."
    )
    agents.add_commands(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sitememory`` with ``argv`` (default: the process's); returns the exit code."""
    args = parser().parse_args(argv)
    # Piped output gets room for the tables instead of rich's 80 columns.
    width = None if sys.stdout.isatty() else 160
    cli = Cli(args, Console(width=width), Console(stderr=True, width=width))
    try:
        code: int = args.run(cli)
        return code
    except BrokenPipeError:
        # The reader went away (`sitememory export | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return INTERRUPTED
    except (PluginError, ImportError) as exc:  # ImportError: the redis extra is missing
        cli.err.print(f"error: {exc}", markup=False, highlight=False)
        return USAGE
    except (SiteMemoryError, OSError) as exc:
        cli.err.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        return STORE
    except ValueError as exc:
        cli.err.print(f"error: {exc}", markup=False, highlight=False)
        return USAGE
    finally:
        cli.close()
