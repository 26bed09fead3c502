"""The report as one self-contained HTML page: inline CSS, inline SVG, one small inline script.

The page loads nothing: its Content-Security-Policy allows no source but its own style and
script (by hash) and ``data:`` images, so even text that escaped escaping could fetch nothing.
Stored text only ever goes into element content and quoted attributes, escaped
(:func:`.text.esc`); the style and the script are constants. Without JavaScript the page is
whole (the table in site order); with it, the fleet table's headers become sort buttons, and a
live page (``sitememory serve``) reloads itself when the store changes.
"""

from __future__ import annotations

import base64
import hashlib

from .._core.evidence import UNCERTAIN
from .._core.ledger import LOAD_WINDOW, RECENT_WINDOW
from .._core.models import percentile
from .data import KINDS, Report, SiteReport
from .svg import KIND_GLYPHS, KIND_NAMES, histogram, rolling, scatter, sparkline
from .text import anchor, esc, iso, number, percent, plural, seconds, when

STYLE = """
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1b1b1b;--muted:#4f4f4f;--line:#c4c4c4;--grid:#e2e2e2;
--head:#f1f3f5;--link:#0b57d0;--ok:#0068a8;--st:#a65300;--fail:#c0271b;--to:#7a3b9e;--bar:#3f7fb5;--mark:#1b1b1b}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e8e8e8;--muted:#b6b6b6;--line:#4a4e54;
--grid:#30343a;--head:#22262b;--link:#8ab4f8;--ok:#5cb8ee;--st:#f0a040;--fail:#ff8474;--to:#d9a6f2;
--bar:#3575a8;--mark:#e8e8e8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1120px;padding:1rem 1.25rem 3rem;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--link)}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.meta,.note,figcaption,caption{color:var(--muted)}
caption{text-align:left;padding:.25rem 0;font-size:.9rem}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--head);position:sticky;top:0;z-index:1;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th button{font:inherit;font-weight:700;color:inherit;background:none;border:0;padding:0;cursor:pointer}
th button:focus-visible{outline:2px solid var(--link);outline-offset:2px}
th[aria-sort=ascending] button::after{content:" \\2191"}
th[aria-sort=descending] button::after{content:" \\2193"}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
td.site{overflow-wrap:anywhere}
.totals{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin:.5rem 0 1rem;padding:0}
.totals div{min-width:7rem}.totals dt{color:var(--muted);font-size:.85rem}
.totals dd{margin:0;font-size:1.2rem;font-weight:600}
.legend dt{font-weight:600}.legend dd{margin:0 0 .5rem 1rem}
section.site{border-top:2px solid var(--line);margin-top:2rem}
.many section.site{content-visibility:auto;contain-intrinsic-size:auto 900px}
.facts{margin:.25rem 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:.75rem 1.5rem}
.charts .wide{grid-column:1/-1}
figure{margin:0}figcaption{font-size:.85rem}
svg.chart{display:block;width:100%;height:auto}
svg.spark{display:block}
.grid{stroke:var(--grid);fill:none}
.ax{fill:var(--muted);font-size:11px}.mk{fill:var(--fg);font-size:11px}
.k-ok{stroke:var(--ok);stroke-width:6;stroke-linecap:round;fill:none}
.k-status{fill:var(--st)}
.k-failure{stroke:var(--fail);stroke-width:1.8;fill:none}
.k-timeout{stroke:var(--to);stroke-width:1.6;fill:none}
.bar{fill:var(--bar)}.mark{stroke:var(--mark);stroke-width:1.5;stroke-dasharray:4 3;fill:none}
.line{stroke:var(--ok);stroke-width:1.6;fill:none}.end{stroke:var(--ok);stroke-width:4;stroke-linecap:round}
.g-ok{color:var(--ok)}.g-status{color:var(--st)}.g-failure{color:var(--fail)}.g-timeout{color:var(--to)}
.healed{font-size:.8rem;font-weight:600;color:var(--ok)}
.none{color:var(--muted)}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("fleet-table"), KEY = "sitememory-report-sort";
  function sortBy(th, dir) {
    var heads = th.parentNode.cells, index = th.cellIndex, num = th.getAttribute("data-type") === "num";
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) {
      var cell = row.cells[index], v = cell.getAttribute("data-v");
      if (v === null) { v = cell.textContent; }
      return {row: row, i: i, v: num ? (v === "" ? null : parseFloat(v)) : v.toLowerCase()};
    });
    var sign = dir === "ascending" ? 1 : -1;
    keyed.sort(function (a, b) {
      if (a.v === null || b.v === null) { return a.v === b.v ? a.i - b.i : (a.v === null ? 1 : -1); }
      return a.v < b.v ? -sign : (a.v > b.v ? sign : a.i - b.i);
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.row); });
    body.appendChild(frag);
    for (var j = 0; j < heads.length; j++) { heads[j].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    try { sessionStorage.setItem(KEY, index + " " + dir); } catch (e) { /* no storage: no memory */ }
  }
  if (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th) {
      if (!th.hasAttribute("data-type")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () {
        var now = th.getAttribute("aria-sort");
        var first = th.getAttribute("data-type") === "num" ? "descending" : "ascending";
        sortBy(th, now ? (now === "ascending" ? "descending" : "ascending") : first);
      });
    });
    try {
      var saved = (sessionStorage.getItem(KEY) || "").split(" "), th = heads[+saved[0]];
      if (saved.length === 2 && th && th.hasAttribute("data-type")) {
        sortBy(th, saved[1] === "descending" ? "descending" : "ascending");
      }
    } catch (e) { /* no storage: the page's order */ }
  }
  var root = document.documentElement, every = parseFloat(root.getAttribute("data-live") || "0");
  if (every > 0 && window.fetch) {
    var version = root.getAttribute("data-version");
    setInterval(function () {
      fetch("/version", {cache: "no-store"})
        .then(function (r) { return r.ok ? r.text() : version; })
        .then(function (v) { if (v.trim() !== version) { location.reload(); } }, function () {});
    }, every * 1000);
  }
})();
"""


#: Beyond this many sites the browser lays out only the sections near the view (the table
#: stays quick to sort); below, the whole page renders (as a screenshot or a printout shows).
MANY = 50


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def policy(live: bool) -> str:
    """The page's Content-Security-Policy: its own style and script, ``data:`` images (the empty
    icon that spares a request), and for a live page its server's ``/version``."""
    sources = [
        "default-src 'none'", f"style-src {_digest(STYLE)}", f"script-src {_digest(SCRIPT)}",
        "img-src data:", "base-uri 'none'", "form-action 'none'",
    ]
    if live:
        sources.append("connect-src 'self'")
    return "; ".join(sources)


def _confidence(value: float) -> str:
    return f"{value:.2f}" + (" (uncertain)" if value < UNCERTAIN else "")


def _cell(text: str, value: str | None = None, cls: str = "n") -> str:
    sort = "" if value is None else f' data-v="{value}"'
    return f'<td class="{cls}"{sort}>{text}</td>'


def _row(site: SiteReport) -> str:
    key = esc(site.key)
    cells = [
        f'<td class="site c-site" data-v="{key}"><a href="#{anchor(site.key)}">{key}</a></td>',
        _cell(f"{site.visits:,}", str(site.visits), "n c-visits"),
        _cell(percent(site.success_rate), number(site.success_rate), "n c-success"),
        _cell(seconds(site.p50), number(site.p50), "n c-p50"),
        _cell(seconds(site.p95), number(site.p95), "n c-p95"),
        _cell(when(site.last_visit), number(site.last_visit), "n c-last"),
        _cell(str(site.quirk_count), str(site.quirk_count), "n c-quirks"),
        _cell(str(site.healed_count), str(site.healed_count), "n c-healed"),
        f'<td class="c-spark">{sparkline(site.spark)}</td>',
    ]
    return f'<tr data-site="{key}">{"".join(cells)}</tr>'


_COLUMNS = (  # header, sort type (None: not sortable), numeric
    ("Site", "text"), ("Visits", "num"), ("Success rate", "num"), ("p50 load", "num"),
    ("p95 load", "num"), ("Last visit", "num"), ("Quirks", "num"), ("Healed", "num"),
    ("Recent loads", None),
)


def _fleet(report: Report) -> str:
    t = report.totals
    totals = "".join(
        f'<div><dt>{name}</dt><dd id="total-{ident}">{value}</dd></div>' for ident, name, value in (
            ("sites", "Sites", f"{t.sites:,}"), ("visits", "Visits", f"{t.visits:,}"),
            ("success", "Success rate", percent(t.success_rate)), ("p50", "p50 load", seconds(t.p50)),
            ("p95", "p95 load", seconds(t.p95)), ("quirks", "Quirks", f"{t.quirks:,}"),
            ("purposes", "Purposes", f"{t.purposes:,}"), ("healed", "Healed", f"{t.healed:,}"),
        )
    )
    heads = "".join(
        f'<th scope="col" class="{"n" if kind == "num" else ""}"'
        + (f' data-type="{kind}"' if kind else "")
        + (' aria-sort="ascending"' if i == 0 else "") + f">{name}</th>"
        for i, (name, kind) in enumerate(_COLUMNS)
    )
    rows = "".join(_row(s) for s in report.sites)
    empty = "" if report.sites else '<p class="note">No sites in the store yet.</p>'
    return (
        '<section id="fleet" aria-labelledby="h-fleet"><h2 id="h-fleet">Fleet</h2>'
        f'<dl class="totals">{totals}</dl>{empty}'
        '<table id="fleet-table"><caption>Every site; the headers sort the table (p50 and p95 over '
        f'each site\'s last {LOAD_WINDOW} load times).</caption>'
        f"<thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _legend(report: Report) -> str:
    glyphs = ", ".join(f'<span class="g-{k}" aria-hidden="true">{KIND_GLYPHS[k]}</span> {KIND_NAMES[k]}'
                       for k in KINDS)
    items = (
        ("Visits, success rate", "every visit the store counted; a success has no error and a status "
         "below 400."),
        ("p50, p95 load", f"nearest-rank percentiles of the last {LOAD_WINDOW} load times (visits that "
         "succeeded, and timeouts, whose time is a lower bound); the fleet's over all sites' together."),
        ("Healed", "purposes whose selectors healed: one of them fails (its latest result is a "
         "failure), and another that has worked since that failure is now tried before it."),
        ("Confidence", "how much an entry's evidence is worth now, from 0 to 1: confirmations against "
         f"contradictions, each weighed by its age (half-life {report.half_life / 86400:g} days); below "
         f"{UNCERTAIN:g} it is marked uncertain."),
        ("Markers", f"{glyphs}. An error status is a response of 400 or more; failed is a visit with no "
         "usable response (a network or browser error); a timeout's time is how long it was given."),
        ("Success over recent visits", f"the share of successes among the {RECENT_WINDOW} visits up to "
         "each visit."),
    )
    body = "".join(f"<dt>{name}</dt><dd>{text}</dd>" for name, text in items)
    return (f'<section id="legend" aria-labelledby="h-legend"><h2 id="h-legend">How to read this report'
            f'</h2><dl class="legend">{body}</dl></section>')


def _kind_counts(site: SiteReport) -> str:
    return ", ".join(f'<span class="g-{k}" aria-hidden="true">{KIND_GLYPHS[k]}</span> '
                     f"{site.kind_counts[k]} {KIND_NAMES[k]}" for k in KINDS)


def _charts(site: SiteReport) -> str:
    if not site.points:
        return '<p class="note">No visit history yet: no charts.</p>'
    ident = anchor(site.key)
    points = site.points
    n = len(points)
    counts = ", ".join(f"{site.kind_counts[k]} {KIND_NAMES[k]}" for k in KINDS)
    figures = [("wide",
        scatter(f"load-{ident}", f"Load time of the last {n} of {plural(site.history_size, 'visit')}, "
                f"{when(points[0].at)} to {when(points[-1].at)}: {counts}; longest "
                f"{seconds(max(p.duration for p in points))}", points),
        f"Load time per visit ({n} of the {plural(site.history_size, 'visit')} in its history): "
        f"{_kind_counts(site)}",
    )]
    if site.loads:
        p50, p95 = percentile(site.loads, 50) or 0.0, percentile(site.loads, 95) or 0.0
        figures.append(("",
            histogram(f"dist-{ident}", f"Distribution of the last {plural(len(site.loads), 'load time')}: "
                      f"p50 {seconds(p50)}, p95 {seconds(p95)}, fastest {seconds(min(site.loads))}, "
                      f"slowest {seconds(max(site.loads))}", site.loads, (("p50", p50), ("p95", p95))),
            f"The last {plural(len(site.loads), 'load time')} in its history: p50 {seconds(p50)}, "
            f"p95 {seconds(p95)}",
        ))
    rates = [r for _, r in site.rolling]
    figures.append(("",
        rolling(f"rate-{ident}", f"Success rate over the {RECENT_WINDOW} visits up to each visit: "
                f"latest {percent(rates[-1])}, lowest {percent(min(rates))}, highest {percent(max(rates))}",
                site.rolling),
        f"Success over the last {RECENT_WINDOW} visits, at each visit: now {percent(rates[-1])}, "
        f"lowest {percent(min(rates))}",
    ))
    return '<div class="charts">' + "".join(
        f'<figure class="{cls}">{svg}<figcaption>{caption}</figcaption></figure>'
        for cls, svg, caption in figures
    ) + "</div>"


def _table(caption: str, heads: tuple[tuple[str, bool], ...], body: str) -> str:
    cols = "".join(f'<th scope="col" class="{"n" if numeric else ""}">{h}</th>' for h, numeric in heads)
    return f"<table><caption>{caption}</caption><thead><tr>{cols}</tr></thead>{body}</table>"


def _selectors(site: SiteReport) -> str:
    if not site.purposes:
        return '<p class="note">No selectors remembered.</p>'
    groups = []
    for purpose in site.purposes:
        rows = []
        badge = ' <span class="healed">healed</span>' if purpose.healed else ""
        for rank, c in enumerate(purpose.candidates, 1):
            span = len(purpose.candidates)
            head = (f'<th scope="rowgroup" rowspan="{span}">{esc(purpose.purpose)}{badge}</th>'
                    if rank == 1 else "")
            rows.append(f"<tr>{head}<td class=\"n\">{rank}</td><td><code>{esc(c.selector)}</code></td>"
                        f'<td class="n">{c.ok}</td><td class="n">{c.failed}</td><td class="n">{c.streak}</td>'
                        f'<td class="n">{_confidence(c.confidence)}</td></tr>')
        groups.append(f'<tbody class="purpose">{"".join(rows)}</tbody>')
    return _table("Selectors per purpose, best first", (
        ("Purpose", False), ("Rank", True), ("Selector", False), ("ok", True), ("Failed", True),
        ("Failing streak", True), ("Confidence", True)), "".join(groups))


def _quirks(site: SiteReport) -> str:
    if not site.quirks:
        return '<p class="note">No quirks recorded.</p>'
    rows = "".join(
        f"<tr><td>{esc(q.description)}</td><td>{esc(q.workaround) if q.workaround else '-'}</td>"
        f'<td class="n">{q.occurrences}</td><td class="n">{q.contradictions}</td>'
        f'<td class="n">{_confidence(q.confidence)}</td></tr>' for q in site.quirks
    )
    return _table("Quirks and their workarounds", (
        ("Quirk", False), ("Workaround", False), ("Occurrences", True), ("Contradicted", True),
        ("Confidence", True)), f"<tbody>{rows}</tbody>")


def _patterns(site: SiteReport) -> str:
    if not site.patterns:
        return '<p class="note">No action patterns cached.</p>'
    rows = "".join(
        f'<tr><td>{esc(p.task)}</td><td class="n">{p.steps}</td><td class="n">{p.times_cached}</td>'
        f'<td class="n">{p.contradictions}</td><td class="n">{_confidence(p.confidence)}</td></tr>'
        for p in site.patterns
    )
    return _table("Action patterns", (
        ("Task", False), ("Steps", True), ("Times cached", True), ("Contradicted", True),
        ("Confidence", True)), f"<tbody>{rows}</tbody>")


def _failures(site: SiteReport) -> str:
    if not site.recent_failures:
        return ('<p class="note">No failures in the visit history.</p>' if site.history_size
                else '<p class="note">No visit history yet.</p>')
    rows = "".join(
        f'<tr><td class="n">{when(r.at)}</td><td><code>{esc(r.path)}'
        f'</code></td><td class="n">{"-" if r.status is None else r.status}</td>'
        f"<td>{esc(r.error) if r.error else '-'}</td></tr>" for r in site.recent_failures
    )
    count = len(site.recent_failures)
    latest = "The most recent failure" if count == 1 else f"The {count} most recent failures, newest first"
    return _table(latest, (
        ("Time", True), ("Path", False), ("Status", True), ("Error class", False)), f"<tbody>{rows}</tbody>")


def _section(site: SiteReport) -> str:
    ident = anchor(site.key)
    facts = (f"{plural(site.visits, 'visit')} ({site.successes:,} ok, {site.failures:,} failed), success "
             f"rate {percent(site.success_rate)}; p50 {seconds(site.p50)}, p95 {seconds(site.p95)} over "
             f"{plural(site.measured, 'load time')}; first visit {when(site.first_visit)}, last "
             f"{when(site.last_visit)}; last status {'-' if site.last_status is None else site.last_status}")
    if site.last_error:
        facts += f", last error {esc(site.last_error)}"
    if site.paused_until is not None:
        facts += f"; rate limited until {when(site.paused_until)}"
    return (
        f'<section class="site" id="{ident}" aria-labelledby="h-{ident}">'
        f'<h2 id="h-{ident}">{esc(site.key)}</h2><p class="facts">{facts}</p>'
        f"<h3>Visits</h3>{_charts(site)}"
        f"<h3>Selectors</h3>{_selectors(site)}<h3>Quirks</h3>{_quirks(site)}"
        f"<h3>Action patterns</h3>{_patterns(site)}<h3>Recent failures</h3>{_failures(site)}"
        '<p><a href="#fleet">Back to the fleet table</a></p></section>'
    )


def render(report: Report, *, title: str = "sitememory report", live: float | None = None,
           version: str = "") -> str:
    """The page of ``report``. With ``live`` (seconds), the page polls ``/version`` that often
    and reloads when it no longer answers ``version``."""
    live_attrs = f' data-live="{live:g}" data-version="{esc(version)}"' if live else ""
    sites = report.totals.sites
    meta = (f"{plural(sites, 'site')}, generated <time datetime=\"{iso(report.now)}\">"
            f"{when(report.now)}</time>. Self-contained: this page loads nothing.")
    if live:
        meta += " Live: it reloads when the store changes."
    return (
        f'<!doctype html><html lang="en"{live_attrs}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy(bool(live))}">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><p class="meta">{meta}</p></header>'
        f'<main class="{"many" if sites > MANY else ""}">'
        f"{_fleet(report)}{_legend(report)}"
        + "".join(_section(s) for s in report.sites)
        + f"</main><script>{SCRIPT}</script></body></html>\n"
    )
