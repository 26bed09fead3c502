"""``run_demo()``: the demo site, two runs of the agents on one store, and the report."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

import platformdirs
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from .. import AdaptiveTimeouts, AutoThrottle, SiteMemory, SiteMemoryError, SiteProfile, site_key
from .._browser import chromium_executable
from .._builtins.overlays import overlay_selector
from .._core.storage import is_url
from .._report.file import write_report
from .fleet import AgentFailed, RunResult, run_fleet
from .messages import TASKS, AgentArgs
from .scenario import Scenario
from .site import PRODUCTS, SITES, DemoSite
from .tables import comparison_table, learned_table, slower_note

RUNS = ((1, "run 1: empty memory"), (2, "run 2: with what run 1 learned"))

#: The site keys the demo's sites have (its port is new each time): what an earlier demo left.
DEMO_KEY = re.compile(rf"(?:{'|'.join(SITES)})\.localhost:[0-9]+")

#: run_demo()'s exit status when the store holds sites that are not the demo's.
FOREIGN_STORE = 2


def default_store() -> Path:
    """The demo's own store: ``demo`` in the user data directory (``~/.local/share/sitememory/demo``
    on Linux), whatever ``$SITEMEMORY_PATH`` says, so it never mixes with the memory agents use."""
    return Path(platformdirs.user_data_dir("sitememory")).expanduser() / "demo"


def cli_command(cwd: Path | None = None, scripts: Path | None = None) -> str:
    """How to run this installation's ``sitememory`` from ``cwd`` (default: the current directory).

    ``sitememory`` when that is the one on ``PATH``; else its script relative to ``cwd`` if it
    lies below it (a checkout's ``.venv/bin/sitememory``), else its full path; else (no script
    installed) ``python -m sitememory_plugin`` with this interpreter.

    :param scripts: where this installation's scripts are (default: the interpreter's).
    """
    scripts = Path(sysconfig.get_path("scripts")) if scripts is None else scripts
    script = scripts / ("sitememory.exe" if os.name == "nt" else "sitememory")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m sitememory_plugin"
    found = shutil.which("sitememory")
    if found is not None and Path(found).resolve() == script.resolve():
        return "sitememory"
    try:
        relative = str(script.resolve().relative_to((Path.cwd() if cwd is None else cwd).resolve()))
    except ValueError:
        return shlex.quote(str(script.resolve()))
    # A bare name would be looked up on PATH, where another sitememory may be.
    return shlex.quote(relative if os.sep in relative else os.curdir + os.sep + relative)


def run_demo(
    store: Path | str | None = None, agents: int = 3, quick: bool = False, console: Console | None = None
) -> int:
    """Run the demo and print its report; returns the exit status.

    The store is kept: it ends holding the demo's three sites. Run 1 needs an empty memory, so
    the sites an earlier demo left in it (its keys: ``shop``, ``catalog`` or ``stock``
    ``.localhost:PORT``) are forgotten first; a store holding any other site is refused, never
    cleared.

    :param store: the store to use (a directory or ``redis://`` URL); ``None``: the demo's own,
        :func:`default_store`.
    :param agents: how many agent processes, each with its own Chromium.
    :param quick: a shorter scenario (for tests).
    :returns: 0 when both runs finished and the store holds every navigation the agents made;
        1 when no browser is found, the store cannot be used, an agent failed, or the store
        disagrees with the agents; 2 (:data:`FOREIGN_STORE`) when the store holds sites that are
        not the demo's; 130 when interrupted.
    """
    out = console if console is not None else Console()
    if agents < 1:
        out.print(Text("sitememory demo: needs at least one agent", style="bold red"))
        return 1
    try:
        browser = chromium_executable() or "Playwright's own Chromium"
    except RuntimeError as exc:
        out.print(Text(f"sitememory demo: {exc}", style="bold red"))
        return 1
    scenario = Scenario.quick() if quick else Scenario.full()
    path: Path | str = default_store() if store is None else (
        str(store) if is_url(store) else Path(store).expanduser()
    )
    try:
        with contextlib.ExitStack() as stack:
            # Revalidate every read: the agents write the store behind this memory's back.
            memory = SiteMemory(path, cache_ttl=0)
            where = str(path) if isinstance(path, Path) else memory.location
            try:
                memory.initialize_sync()
                stack.callback(memory.close_sync)
                known = memory.list_sites_sync()
            except (OSError, SiteMemoryError) as exc:
                out.print(Text(f"sitememory demo: cannot use the store {where}: {exc}", style="bold red"))
                return 1
            foreign = [key for key in known if not DEMO_KEY.fullmatch(key)]
            if foreign:
                out.print(Text(_refusal(where, foreign, store is None), style="bold red"))
                return FOREIGN_STORE
            site = stack.enter_context(DemoSite(scenario))
            return _demo(out, memory, site, scenario, agents, where, browser, known)
    except KeyboardInterrupt:
        out.print(Text("sitememory demo: interrupted", style="bold red"))
        return 130


def _refusal(where: str, foreign: list[str], own: bool) -> str:
    shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    text = (
        f"sitememory demo: the store {where} holds {len(foreign)} site"
        f"{'s that are' if len(foreign) != 1 else ' that is'} not the demo's ({shown}). The demo's first "
        "run needs an empty memory and would add its sites to these: nothing was changed. "
    )
    if own:
        return text + "Move or delete that directory, or give the demo another: sitememory --store DIR demo"
    return text + (f"Leave out --store to use the demo's own store ({default_store()}), or give an "
                   "empty or new directory.")


def _demo(
    out: Console, memory: SiteMemory, site: DemoSite, scenario: Scenario, agents: int, where: str,
    browser: str, earlier: list[str],
) -> int:
    keys = [site_key(site.base(name)) for name in SITES]
    timeouts, throttle = AdaptiveTimeouts(), AutoThrottle()
    _intro(out, site, scenario, agents, where, browser, timeouts)
    if earlier:
        for key in earlier:
            memory.forget_sync(key)
        out.print(Text(
            f"The store held {len(earlier)} site{'s' if len(earlier) != 1 else ''} of an earlier demo "
            f"({', '.join(sorted(earlier))}): forgot {'it' if len(earlier) == 1 else 'them'}, so that "
            "run 1 starts with an empty memory.", style="yellow",
        ))
    results: list[RunResult] = []
    after_run_1: dict[str, SiteProfile | None] = {}
    for number, title in RUNS:
        out.rule(title)
        args = [
            AgentArgs(
                agent=i + 1, run=number, store=str(memory.storage_path),
                sites={name: site.base(name) for name in SITES},
                query=PRODUCTS[i % len(PRODUCTS)].name.split()[-1].lower(), scenario=scenario,
            )
            for i in range(agents)
        ]
        try:
            result = run_fleet(number, args, out)
        except AgentFailed as exc:
            out.print(Text(f"sitememory demo: {exc}", style="bold red"))
            return 1
        results.append(result)
        out.print(
            f"{_agents(agents)}, browsers up in {result.startup:.1f} s, "
            f"{len(TASKS)} tasks each, all done in {result.seconds:.1f} s"
        )
        if number == 1:
            # What run 2 starts from (every agent of run 1 has closed its memory: all written).
            after_run_1 = {key: memory.get_profile_sync(key) for key in keys}
    profiles = [p for p in (memory.get_profile_sync(key) for key in keys) if p is not None]
    out.rule("report")
    out.print(learned_table(profiles, after_run_1))
    shop = keys[0]
    out.print(Panel(
        Text(memory.get_context_for_prompt_sync(shop)),
        title=f"what an LLM prompt gets for {shop} (site.prompt_context())", title_align="left",
        expand=False,
    ))
    first, second = results
    out.print(comparison_table(first, second))
    note = slower_note(
        first, second, after_run_1.get(keys[2]), throttle, scenario.warehouses, os.cpu_count() or 1
    )
    if note is not None:
        out.print(note)
    _gains(out, profiles, scenario, timeouts, throttle)
    verified = _verify(out, profiles, results)
    report = report_path(memory.storage_path)
    written = write_report(memory, report)
    out.print(Text.assemble(
        ("The report: ", "bold"),
        f"{written.path.as_uri()} (every site's load times, selectors, quirks and failures; "
        f"{written.size:,} bytes, self-contained: open it in a browser)",
    ), soft_wrap=True)
    _next_steps(out, where, shop, report)
    return 0 if verified else 1


def report_path(store: Path | str) -> Path:
    """Where the demo writes its report: beside a directory store, named after it
    (``demo-report.html`` in the user data directory for the demo's own); in the current
    directory for a Redis store."""
    if isinstance(store, Path):
        return store.with_name(f"{store.name}-report.html")
    return Path.cwd() / "demo-report.html"


def _next_steps(out: Console, where: str, key: str, report: Path) -> None:
    """The commands that show what the demo left in the store, ready to paste."""
    command = f"{cli_command()} --store {shlex.quote(where)}"
    out.print(Text.assemble(
        ("Next: ", "bold"),
        f"the store is kept in {where} (the next demo forgets its sites first). To look at it:",
    ))
    for rest in ("list", f"show {key}", f"visits {key}", f"report -o {shlex.quote(str(report))}",
                 "serve"):
        # Not wrapped: each must stay one line to paste.
        out.print(f"  {command} {rest}", soft_wrap=True, markup=False, highlight=False)


def _intro(
    out: Console, site: DemoSite, scenario: Scenario, agents: int, where: str, browser: str,
    timeouts: AdaptiveTimeouts,
) -> None:
    out.rule("sitememory demo")
    sites = ", ".join(f"{name}.localhost" for name in SITES)
    out.print(Text.assemble(
        ("Agents: ", "bold"),
        f"{agents} process{'es' if agents != 1 else ''}, one Chromium each ({browser}), buying from a "
        f"demo shop on {len(SITES)} local sites ({sites}, port {site.port}), twice: first with an "
        f"empty memory, then with what the first run learned.\n",
        ("Store: ", "bold"), f"{where} (kept after the demo)\n",
        ("The site: ", "bold"),
        f"product pages take {scenario.product_delay:.1f} s; the search box lost its old id "
        "#search; a cookie banner (OneTrust's markup) blocks clicks until answered; the stock "
        "service answers 503 to "
        "a client's lookup while it has another in flight.\n",
        ("The agents: ", "bold"),
        f"scripted (selectors they were written with, how to accept the banner, which they never "
        f"tell the memory, a naive "
        f"{scenario.retry_pause:.1f} s pause after a 503), their own "
        f"{scenario.nav_timeout:.1f} s navigation timeout where the memory knows nothing, and "
        f"the built-in plugins with their defaults: a timeout of {timeouts.multiplier:g} x the "
        f"site's p95 load time ({timeouts.minimum:g}-{timeouts.maximum:g} s) once "
        f"{timeouts.min_visits} visits are known, AutoThrottle politeness, remembered selectors "
        "first, consent banners recognised and remembered overlays handled.",
    ))


def _gains(
    out: Console, profiles: list[SiteProfile], scenario: Scenario, timeouts: AdaptiveTimeouts,
    throttle: AutoThrottle,
) -> None:
    """Say what the memory now gives every agent that shares it, in its own figures."""
    def short(profile: SiteProfile) -> str:
        return profile.domain.split(".", 1)[0]

    adapted = [(short(p), t) for p in profiles if (t := timeouts.timeout_for(p)) is not None]
    overlays = [
        (short(p), selector) for p in profiles for q in p.quirks
        if (selector := overlay_selector(q.workaround)) is not None
    ]
    healed = [
        (purpose, s.primary, stale, stats.failed)
        for p in profiles for purpose, s in p.selectors.items()
        for stale, stats in s.candidates.items() if stale != s.primary and stats.failed
    ]
    lines = Text("What the memory now gives every agent that shares it:", style="bold")
    if adapted:
        lines.append(
            "\n- navigation timeouts of " + ", ".join(f"{site} {t:.1f} s" for site, t in adapted)
            + f" ({timeouts.multiplier:g} x p95), where the agents' own is {scenario.nav_timeout:.1f} s"
        )
    if overlays:
        lines.append("\n- a handler that dismisses the overlay before it blocks a click: " + ", ".join(
            f"{site}: click {selector}" for site, selector in overlays
        ))
    if healed:
        lines.append("\n- healed selectors, tried first: " + ", ".join(
            f"{purpose}: {primary} (not {stale}, which failed {n}x)" for purpose, primary, stale, n in healed
        ))
    lines.append("\n- navigations to a site spaced by its latency, more while it fails (AutoThrottle): "
                 + ", ".join(f"{short(p)} {throttle.delay_for(p):.2f} s" for p in profiles))
    out.print(lines)


def _verify(out: Console, profiles: list[SiteProfile], results: list[RunResult]) -> bool:
    """Check that the store holds exactly the navigations the agents reported, site by site."""
    reported: dict[str, int] = {}
    for result in results:
        for key, count in result.navigations().items():
            reported[key] = reported.get(key, 0) + count
    stored = {p.domain: p.visit_count for p in profiles}
    processes = sum(len(r.reports) for r in results)
    detail = ", ".join(f"{key} {stored.get(key, 0)}/{count}" for key, count in sorted(reported.items()))
    if stored == reported:
        out.print(Text(
            f"Every navigation the agents made is a visit in the store, written by {processes} "
            f"processes: {sum(stored.values())} visits ({detail}).", style="green",
        ))
        return True
    out.print(Text(
        f"sitememory demo: the store's visits differ from the navigations the agents made "
        f"(visits/navigations per site): {detail}", style="bold red",
    ))
    return False


def _agents(count: int) -> str:
    return f"{count} agent" if count == 1 else f"{count} agents"
