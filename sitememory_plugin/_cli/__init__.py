"""The ``sitememory`` command: see what the memory knows, move it, keep it tidy, run the demo.

Exit codes: 0 done, 1 nothing there (no store where a command that reads one looked, an unknown
site, no browser at a CDP endpoint), a check failed or a demo run failed, 2 bad usage, input or
configuration (a bad line or file to import, a plugin that fails to load), 3 the store failed (a
lock timeout, an I/O error, a store from a newer version), 130 interrupted.

``sitememory`` alone prints the help to standard output and exits 0: asking what there is is no
error. ``--store``, ``--half-life`` and ``--json`` may come before or after the command (each
command's parser has them too, defaulting to "not given", so that a value given before the
command is not overwritten). A command that only reads the store is registered with
``command(..., read_only=True)``: it never creates one, and a store that is not there is exit 1,
naming where it looked (:meth:`Cli.require_store`). An unknown site is said by :meth:`Cli.profile`
(or :meth:`Cli.no_site`), with the known keys it may have meant.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pluggy
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._context import site_context
from .._core.errors import InvalidInput, PluginError, SiteMemoryError
from .._core.evidence import UNCERTAIN, Evidence, check_half_life, freshness
from .._core.files import Layout
from .._core.keys import site_key
from .._core.models import SiteProfile
from .._core.prompt import DEFAULT_MAX_CHARS, check_max_chars
from .._core.storage import is_url
from .._core.text import json_visible, visible
from .._core.version import package_version
from .._drive import run_sync
from .._hookcall import call_sync
from .._memory import SiteMemory, default_storage_path
from .._plugins import make_plugin_manager, plugin_hooks
from . import agents, render, report, visits
from .codes import INTERRUPTED, NOT_FOUND, STORE, USAGE
from .doctor import run_checks
from .explain import ago, explanation


class NoStore(Exception):
    """There is no store where a command that only reads one was told to look."""


def store_exists(location: Path | str) -> tuple[bool, str]:
    """Whether a store is at ``location`` (never creating one), and the location fit to print.

    A directory is a store once it has its format marker; one with a marker that is not a
    store's raises :class:`~.._core.errors.StoreFormatError`, a path through a file ``OSError``.
    """
    if isinstance(location, str):
        return _redis_store(location)
    return Layout(location).read_marker() is not None, str(location)


def _redis_store(url: str) -> tuple[bool, str]:
    """Whether the URL holds a store, and the URL fit to print (without its password)."""
    from .._core.redisconn import RedisOptions
    from .._core.redisconn import store_exists as redis_store_exists

    options = RedisOptions.parse(url)
    return redis_store_exists(options), options.display


def suggestions(site: str, keys: Sequence[str], most: int = 3) -> list[str]:
    """Known keys ``site`` may have meant: the same host with a port, then close spellings."""
    try:
        typed = site_key(site)
    except ValueError:
        typed = site
    ported = [k for k in keys if k.startswith(typed + ":")]
    # Stricter than difflib's 0.6, which takes shop.exampel for news.example.
    close = difflib.get_close_matches(typed, keys, n=most, cutoff=0.8)
    return list(dict.fromkeys([*ported, *close]))[:most]


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

    def require_store(self) -> None:
        """Raise :class:`NoStore` unless there is a store at ``--store`` (none is created)."""
        exists, where = store_exists(self.store)
        if not exists:
            raise NoStore(f"no store at {where} (the first write creates one; --store or "
                          "$SITEMEMORY_PATH picks another)")

    @functools.cached_property
    def plugins(self) -> pluggy.PluginManager:
        """The plugins, loaded once per invocation."""
        return make_plugin_manager()

    def key(self, site: str) -> str:
        """The site key of ``site`` (a key or URL), as the plugins' ``sitememory_site_key`` says."""
        answers = call_sync(self.plugins, "sitememory_site_key", firstresult=True, url=site)
        return str(answers[0][1]) if answers else site

    def profile(self, site: str) -> SiteProfile | None:
        """The profile of ``site`` (a key or URL), or ``None`` once :meth:`no_site` said so."""
        profile = self.memory.get_profile_sync(site)
        if profile is None:
            self.no_site(site)
        return profile

    def no_site(self, site: str) -> None:
        """Say on standard error that the store knows no ``site``, and which keys it may mean."""
        close = [visible(k) for k in suggestions(site, self.memory.list_sites_sync())]
        hint = f"; did you mean {render.either(close)}?" if close else ""
        self.err.print(f"no site {visible(repr(site))} in {self.memory.location}{hint}",
                       markup=False, highlight=False)


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
    table = Table(title=escape(f"{render.plural(len(rows), 'site')} in {cli.memory.location}"),
                  title_justify="left")
    keys = [shown(r["site"]) for r in rows]
    render.site_column(table, keys)
    for name, justify in (("visits", "right"), ("success", "right"), ("p50 load", "right"),
                          ("p95 load", "right"), ("last visit", "left"), ("selectors", "right"),
                          ("quirks", "right")):
        # These give way to the key when the terminal is narrow: wrapped, a long word cut short.
        table.add_column(name, justify=justify, overflow="ellipsis")  # type: ignore[arg-type]
    for key, r in zip(keys, rows, strict=True):
        table.add_row(
            key, str(r["visits"]), render.percent(r["success_rate"]),
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
                    f"over {render.plural(len(profile.load_times), 'load time')}")
    summary.add_row("first / last visit", f"{render.known(render.iso(profile.first_visit))} / "
                                          f"{render.known(render.iso(profile.last_visit))}")
    summary.add_row("last status / error",
                    shown(f"{render.known(profile.last_status)} / {render.known(profile.last_error)}"))
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
    profile = cli.profile(cli.key(cli.args.url))
    if profile is None:
        return NOT_FOUND

    def context(max_chars: int) -> str:
        return run_sync(site_context(cli.plugins, profile.domain, profile, max_chars,
                                     tasks=cli.args.task, half_life=cli.memory.half_life))

    text = context(cli.args.max_chars)
    # The whole text only when the bounded one may be too short to be of use (none, or one line).
    whole = context(sys.maxsize) if "\n" not in text else text
    head, _, rest = whole.partition("\n")
    if whole and (not text or (text == head and rest)):
        # Whole lines only: an empty answer, or the heading alone, would look like a site the
        # memory knows nothing of.
        needed = len(head) if not text else len(head) + 1 + len(rest.partition("\n")[0])
        cli.err.print(f"--max-chars {cli.args.max_chars} is too small: the context's first "
                      f"{'line' if not text else 'fact'} needs {render.plural(needed, 'character')}",
                      markup=False, highlight=False)
        return USAGE
    if cli.args.json:
        cli.json({"site": profile.domain, "text": text})
    else:
        sys.stdout.write(text + "\n")  # plain text, for a prompt
    return 0


def cmd_export(cli: Cli) -> int:
    if cli.args.output in (None, "-"):
        count = cli.memory.export_sync(sys.stdout)
        sys.stdout.flush()
    else:
        # Opened here: an output that cannot be written is bad usage (2), not a store failure (3).
        try:
            output = open(cli.args.output, "w", encoding="utf-8", newline="\n",  # noqa: SIM115
                          opener=lambda path, flags: os.open(path, flags, 0o600))
        except OSError as exc:
            cli.err.print(f"error: cannot write {cli.args.output}: {exc.strerror or exc}",
                          markup=False, highlight=False)
            return USAGE
        with output:
            count = cli.memory.export_sync(output)
        if cli.args.json:  # to standard output, the export is JSON already: no summary there
            cli.json({"exported": count, "file": cli.args.output})
            return 0
    cli.err.print(f"exported {render.plural(count, 'site')}", markup=False, highlight=False)
    return 0


def cmd_import(cli: Cli) -> int:
    # The input is opened here, not by the store: a file that is not there is bad input (2), an
    # I/O error of the store is the store's (3).
    try:
        source = sys.stdin if cli.args.file == "-" else open(cli.args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        cli.err.print(f"error: cannot read {cli.args.file}: {exc.strerror or exc}; nothing was imported",
                      markup=False, highlight=False)
        return USAGE
    try:
        # Either import reads the whole input and checks it before it writes anything.
        result = (cli.memory.import_legacy_sync(source) if cli.args.legacy
                  else cli.memory.import_jsonl_sync(source))
    except InvalidInput as exc:
        cli.err.print(f"error: {exc}; nothing was imported", markup=False, highlight=False)
        return USAGE
    finally:
        if source is not sys.stdin:
            source.close()
    if cli.args.json:
        cli.json({"imported": list(result.imported), "skipped": dict(result.skipped)})
    else:
        cli.out.print(f"imported {render.plural(len(result.imported), 'site')}, skipped "
                      f"{len(result.skipped)}", markup=False, highlight=False)
        for where, why in result.skipped.items():
            cli.out.print(f"  skipped {where}: {why}", markup=False, highlight=False)
    return 0


def cmd_migrate(cli: Cli) -> int:
    exists, where = store_exists(cli.args.source if is_url(cli.args.source)
                                 else Path(cli.args.source).expanduser())
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
        cli.out.print(f"copied {render.plural(len(result.imported), 'site')} from {source.location} to "
                      f"{target.location}, skipped {len(result.skipped)}",
                      markup=False, highlight=False)
        for key, why in result.skipped.items():
            cli.out.print(f"  skipped {key}: {why}", markup=False, highlight=False)
    return 0


def cmd_prune(cli: Cli) -> int:
    seconds = render.parse_duration(cli.args.older_than)
    cli.require_store()  # pruning a store that is not there would create it, to find it empty
    gone = cli.memory.prune_sync(seconds, dry_run=cli.args.dry_run, min_confidence=cli.args.min_confidence)
    verb = "would forget" if cli.args.dry_run else "forgot"
    if cli.args.json:
        cli.json({"dry_run": cli.args.dry_run, "sites": list(gone), "entries": gone.entries})
    else:
        cli.out.print(f"{verb} {render.plural(len(gone), 'site')} idle for more than {cli.args.older_than}",
                      markup=False, highlight=False)
        for key in gone:
            cli.out.print(f"  {key}", markup=False, highlight=False)
        if cli.args.min_confidence is not None:
            verb = "would drop" if cli.args.dry_run else "dropped"
            cli.out.print(f"{verb} {render.plural(sum(gone.entries.values()), 'entry', 'entries')} less "
                          f"confident than {cli.args.min_confidence:g} from "
                          f"{render.plural(len(gone.entries), 'site')}")
            for key, n in gone.entries.items():
                cli.out.print(f"  {key}: {n}", markup=False, highlight=False)
    return 0


def cmd_forget(cli: Cli) -> int:
    cli.require_store()  # a mistyped --store must not be created to forget nothing in it
    if not cli.memory.forget_sync(cli.args.site):
        cli.no_site(cli.args.site)
        return NOT_FOUND
    key = site_key(cli.args.site)
    if cli.args.json:
        cli.json({"forgot": key})
    else:
        cli.out.print(f"forgot {visible(key)}", markup=False, highlight=False)
    return 0


def cmd_plugins(cli: Cli) -> int:
    hooks = plugin_hooks(cli.plugins)
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


def _max_chars(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    try:
        check_max_chars(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _global_options(p: argparse.ArgumentParser, *, top: bool, json_out: bool, json_help: str) -> None:
    """``--store``, ``--half-life`` and ``--json`` on the top parser and on each command's."""
    # A command's parser writes its defaults over the top one's values: "not given" instead.
    default = None if top else argparse.SUPPRESS
    p.add_argument("--store", metavar="PATH|URL", default=default,
                   help="the store directory or redis:// URL (default: $SITEMEMORY_PATH, else the "
                        "user data dir)")
    p.add_argument("--half-life", metavar="DURATION", type=_half_life, default=default,
                   help="how fast evidence ages, e.g. 30d (the default), 12h")
    if top or json_out:
        p.add_argument("--json", action="store_true", default=False if top else argparse.SUPPRESS,
                       help=json_help)


def _examples(lines: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


#: Real command lines for the top ``--help``; each command's come with it (``examples=``).
EXAMPLES = (
    "sitememory list --sort p95",
    "sitememory show shop.example --json",
    "sitememory --store redis://localhost:6379/0 doctor",
    "sitememory export -o memory.jsonl",
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="sitememory", description="A shared, durable memory of websites for browser agents.",
        epilog=_examples(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _global_options(top, top=True, json_out=True,
                    json_help="print JSON for scripts (for the commands that print data)")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, run: Callable[[Cli], int], text: str, json_out: bool = False, *,
        read_only: bool = False, examples: Sequence[str] = (), json_help: str = "print JSON for scripts",
    ) -> argparse.ArgumentParser:
        """A command's parser. ``read_only``: it only reads the store, which must exist (exit 1
        otherwise, naming where it looked) and is never created. ``examples``: 2 to 4 real
        command lines, the end of its ``--help``."""
        p = sub.add_parser(name, help=text, description=text,
                           epilog=_examples(examples) if examples else None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=run, read_only=read_only, json_out=json_out)
        _global_options(p, top=False, json_out=json_out, json_help=json_help)
        return p

    p = command("list", cmd_list, "a table of every site the memory knows", json_out=True, read_only=True,
                examples=("sitememory list", "sitememory list --sort p95 --limit 10",
                          "sitememory list --sort last --json"))
    p.add_argument("--sort", choices=list(render.SORTS), default="site")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")
    p.add_argument("--limit", type=render.count_arg, default=None, metavar="N", help="show the first N sites")
    p = command("show", cmd_show, "everything known about one site", json_out=True, read_only=True,
                examples=("sitememory show shop.example",
                          "sitememory show https://www.shop.example/cart --json"))
    p.add_argument("site", help="a site key or URL")
    p = command("explain", cmd_explain, "why a purpose's selectors rank as they do", json_out=True,
                read_only=True,
                examples=('sitememory explain shop.example "search box"',
                          'sitememory explain shop.example "search box" --half-life 7d --json'))
    p.add_argument("site", help="a site key or URL")
    p.add_argument("purpose", help="the purpose, e.g. 'search box'")
    p = command("context", cmd_context, "the text an LLM prompt gets about a site", json_out=True,
                read_only=True, json_help='print {"site": ..., "text": ...}',
                examples=("sitememory context https://shop.example/cart",
                          "sitememory context shop.example --task search --max-chars 2000",
                          "sitememory context shop.example --json"))
    p.add_argument("url", help="a URL or site key")
    p.add_argument("--max-chars", type=_max_chars, default=DEFAULT_MAX_CHARS)
    p.add_argument("--task", action="append", default=[], metavar="TASK",
                   help="include the remembered steps of this task type (repeatable)")
    p = command("export", cmd_export, "write every site as JSON Lines", json_out=True, read_only=True,
                json_help='with -o: print {"exported": N, "file": ...} (the export itself is JSON Lines)',
                examples=("sitememory export -o memory.jsonl",
                          "sitememory --store ./store export > memory.jsonl"))
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: standard output)")
    p = command("import", cmd_import, "merge JSON Lines (or the seed's single-file format)", json_out=True,
                examples=("sitememory import memory.jsonl", "sitememory import - < memory.jsonl",
                          "sitememory import site_memory.json --legacy",
                          "sitememory --store ./other import memory.jsonl --json"))
    p.add_argument("file", help="file to read, - for standard input")
    p.add_argument("--legacy", action="store_true", help="the seed's {domain: profile} JSON file")
    p = command("migrate", cmd_migrate, "copy a store to another, e.g. a directory to Redis and back",
                json_out=True, examples=("sitememory migrate ./store redis://localhost:6379/0",
                                         "sitememory migrate redis://localhost:6379/0 ./backup --replace"))
    p.add_argument("source", help="a store directory or redis:// URL")
    p.add_argument("destination", help="a store directory or redis:// URL")
    p.add_argument("--replace", action="store_true",
                   help="overwrite the sites the destination knows instead of merging into them")
    p = command("prune", cmd_prune, "forget sites idle for longer than a duration", json_out=True,
                examples=("sitememory prune --older-than 30d --dry-run", "sitememory prune --older-than 90d",
                          "sitememory prune --older-than 1y --min-confidence 0.05 --json"))
    p.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d, 12h, 90m, 1y")
    p.add_argument("--dry-run", action="store_true", help="list what would be forgotten")
    p.add_argument("--min-confidence", type=_unit, default=None, metavar="C",
                   help="also drop purposes, quirks and patterns less confident than C (0 to 1)")
    p = command("forget", cmd_forget, "forget one site", json_out=True, json_help='print {"forgot": KEY}',
                examples=("sitememory forget shop.example", "sitememory forget shop.localhost:40103 --json"))
    p.add_argument("site", help="a site key or URL")
    command("plugins", cmd_plugins, "loaded plugins and the hooks each implements", json_out=True,
            examples=("sitememory plugins", "sitememory plugins --json"))
    # Not read_only: a missing store is one of its failed checks, not an error before them.
    command("doctor", cmd_doctor, "check the store, the locks, the browser and the plugins", json_out=True,
            examples=("sitememory doctor", "sitememory --store redis://localhost:6379/0 doctor --json"))
    p = command("demo", cmd_demo, "run the demo: agents learn a local demo site, then use what they learned",
                examples=("sitememory demo", "sitememory demo --agents 2 --quick",
                          "sitememory demo --store ./demo-store"))
    p.add_argument("--agents", type=int, default=3, help="agent processes (default 3)")
    p.add_argument("--quick", action="store_true", help="a shorter task list")
    # Before the examples, which end every --help; wrapped here, as the raw formatter does not.
    p.epilog = textwrap.fill(
        "The store is kept: by default the demo's own, 'demo' in the user data directory "
        "(~/.local/share/sitememory/demo on Linux), never $SITEMEMORY_PATH. Run 1 needs an empty "
        "memory: the sites an earlier demo left there are forgotten first. 'sitememory --store "
        "DIR demo' uses DIR (or a redis:// URL) instead; a store holding any site that is not the "
        "demo's is refused (exit 2), never cleared. The demo ends with the commands that show what "
        "the memory kept.", 78) + "\n\n" + (p.epilog or "")
    agents.add_commands(command)
    visits.add_commands(command)
    report.add_commands(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sitememory`` with ``argv`` (default: the process's); returns the exit code."""
    top = parser()
    args = top.parse_args(argv)
    if args.command is None:
        top.print_help()
        return 0
    if args.json and not args.json_out:
        top.error(f"{args.command} prints no JSON: --json is for the commands that print data")
    # Piped output gets room for the tables instead of rich's 80 columns, unless COLUMNS says.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160
    # Messages are never broken into lines of the terminal's width: a script greps them.
    cli = Cli(args, Console(width=width), Console(stderr=True, width=width, soft_wrap=True))
    try:
        if args.read_only:
            cli.require_store()
        code: int = args.run(cli)
        return code
    except NoStore as exc:
        cli.err.print(f"error: {exc}", markup=False, highlight=False)
        return NOT_FOUND
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
