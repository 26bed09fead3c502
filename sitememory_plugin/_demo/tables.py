"""The demo's report tables: what the memory learned per site, and run 1 against run 2."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.table import Table
from rich.text import Text

from .. import AutoThrottle, SiteProfile
from .._core.ledger import LOAD_WINDOW
from .fleet import RunResult
from .messages import TASKS

#: The comparison's rows after the run's time: label and how to read the count from a run.
COUNTERS: tuple[tuple[str, Callable[[RunResult], int]], ...] = (
    ("navigations (retries included)", lambda r: sum(r.navigations().values())),
    ("navigation timeouts", lambda r: r.total("timeouts")),
    ("failed actions", lambda r: r.total("failed_actions")),
    ("blocked by the cookie banner", lambda r: r.total("overlay_blocks")),
    ("HTTP 503 answers", lambda r: r.total("http_503")),
    ("stale selectors tried", lambda r: r.total("stale_selectors")),
)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def learned_table(profiles: list[SiteProfile], after_run_1: Mapping[str, SiteProfile | None]) -> Table:
    """One row per site: visits, success rate, load times, selectors and quirks.

    :param after_run_1: each site's profile as run 1 left it, to tell a quirk's count by run.
    """
    table = Table(
        title="What the memory learned, per site", title_justify="left", show_lines=True,
        caption=(
            "visits, ok and load times: both runs (load times of the visits that loaded or timed "
            f"out, a site's last {LOAD_WINDOW} at most); selectors: as ranked after run 2; quirks: "
            "how often each was recorded, per run (a consent banner is recorded when the memory "
            "recognises it, which it does only while the banner is unknown; a rate limit at each "
            "503 with Retry-After)"
        ),
        caption_justify="left",
    )
    table.add_column("site", no_wrap=True)
    table.add_column("visits\nruns 1+2", justify="right")
    table.add_column("ok\nruns 1+2", justify="right")
    table.add_column("load p50 / p95\nruns 1+2", justify="right", no_wrap=True)
    table.add_column("selectors after run 2:\nprimary (then fallbacks)")
    table.add_column("quirks -> workaround")
    for profile in profiles:
        rate = profile.success_rate
        selectors = Text()
        for purpose, selector in profile.selectors.items():
            if selectors:
                selectors.append("\n")
            selectors.append(f"{purpose}: ", style="dim")
            selectors.append(selector.primary, style="green")
            if selector.fallbacks:
                selectors.append(f" ({', '.join(selector.fallbacks)})", style="dim")
        earlier = after_run_1.get(profile.domain)
        quirks = Text()
        for quirk in profile.quirks:
            if quirks:
                quirks.append("\n")
            first = _occurrences(earlier, quirk.description)
            quirks.append(f"{quirk.description} (recorded {first}x in run 1, "
                          f"{max(0, quirk.occurrences - first)}x in run 2)")
            if quirk.workaround:
                quirks.append(f" -> {quirk.workaround}", style="green")
        table.add_row(
            Text(profile.domain),
            str(profile.visit_count),
            "-" if rate is None else f"{rate:.0%}",
            f"{_seconds(profile.p50_load_time)} / {_seconds(profile.p95_load_time)}",
            selectors,
            quirks,
        )
    return table


def _occurrences(profile: SiteProfile | None, description: str) -> int:
    """How often the profile's quirk with ``description`` was recorded, 0 if it has none."""
    if profile is None:
        return 0
    return next((q.occurrences for q in profile.quirks if q.description == description), 0)


def comparison_table(first: RunResult, second: RunResult) -> Table:
    """The counters of both runs, summed over the agents, and the difference."""
    table = Table(title="Run 1 (empty memory) vs run 2 (what run 1 learned)", title_justify="left")
    table.add_column("")
    table.add_column("run 1", justify="right")
    table.add_column("run 2", justify="right")
    table.add_column("difference", justify="right")
    change = f" ({(second.seconds - first.seconds) / first.seconds:+.0%})" if first.seconds > 0 else ""
    table.add_row(
        "time, first task to last order (s)", f"{first.seconds:.1f}", f"{second.seconds:.1f}",
        _difference(f"{second.seconds - first.seconds:+.1f} s{change}", first.seconds, second.seconds),
    )
    for label, read in COUNTERS:
        before, after = read(first), read(second)
        table.add_row(label, str(before), str(after), _difference(f"{after - before:+d}", before, after))
    table.add_section()
    table.add_row(Text("time per task, mean of the agents (s)", style="bold"))
    for label in TASKS:
        was, now = first.mean_task_seconds(label), second.mean_task_seconds(label)
        was, now = round(was, 1), round(now, 1)  # no colour for a difference that shows as 0.0
        table.add_row(f"  {label}", f"{was:.1f}", f"{now:.1f}", _difference(f"{now - was:+.1f}", was, now))
    return table


def _difference(text: str, before: float, after: float) -> Text:
    return Text(text, style="green" if after < before else "red" if after > before else "")


#: The tasks after the slow product page: only in run 2 do the agents reach them together.
AFTER_PRODUCT = TASKS[TASKS.index("add to cart"):]


def slower_note(
    first: RunResult, second: RunResult, stock: SiteProfile | None, throttle: AutoThrottle,
    warehouses: int, cpus: int,
) -> Text | None:
    """Why the tasks whose mean time (as the comparison shows it) grew in run 2 did, or ``None``.

    :param stock: the stock site's profile as run 1 left it: what run 2's politeness went by.
    """
    def shown(run: RunResult, task: str) -> float:
        return round(run.mean_task_seconds(task), 1)

    slower = [task for task in TASKS if shown(second, task) > shown(first, task)]
    if not slower:
        return None
    lines = Text("Why a task took longer in run 2:", style="bold")
    explained: set[str] = set()
    if "visit the shop" in slower:
        explained.add("visit the shop")
        lines.append(
            "\n- visit the shop: run 2 installs the handler for the remembered cookie banner before "
            "the first navigation (two calls to the browser); run 1 installed it in the background, "
            "after that page loaded and the banner was recognised."
        )
    if "check stock" in slower and stock is not None:
        explained.add("check stock")
        latency = (stock.p50_load_time or 0.0) / throttle.target_concurrency
        spacing = throttle.delay_for(stock)
        recent = stock.recent_outcomes
        penalty = (
            f", plus {spacing - latency:.2f} s because {recent.count(False)} of its last {len(recent)} "
            "visits had failed, with run 1's 503s" if spacing > latency else ""
        )
        lines.append(
            f"\n- check stock: in run 2 AutoThrottle started each agent's {warehouses} lookups up to "
            f"{spacing:.2f} s apart: the stock site's p50 load time ({latency:.2f} s){penalty}. Run 1 "
            f"sent them all at once and retried after each 503 ({first.total('http_503')} in all), "
            "which is quicker when few 503s come back."
        )
    together = [task for task in slower if task in AFTER_PRODUCT]
    was, now = first.start_spread(AFTER_PRODUCT[0]), second.start_spread(AFTER_PRODUCT[0])
    if together and len(second.reports) > 1 and now < was:
        explained.update(together)
        lines.append(
            f"\n- {', '.join(together)}: in run 2 the agents reached {AFTER_PRODUCT[0]!r} within "
            f"{now:.1f} s of each other (run 1: {was:.1f} s), as the memory made the tasks before "
            f"take each of them about as long: {len(second.reports)} browsers then load pages at "
            f"the same moment on {cpus} CPU{'s' if cpus != 1 else ''}. With one agent "
            "(--agents 1) these tasks take as long in both runs."
        )
    rest = [task for task in slower if task not in explained]
    if rest:
        lines.append(
            f"\n- {', '.join(rest)}: no cause the demo can name; a short task's time varies by a "
            "few tenths of a second from one demo run to the next while several browsers share "
            "the CPUs."
        )
    return lines
