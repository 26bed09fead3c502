"""``sitememory report`` and ``sitememory serve`` without a browser: the figures as the store
has them, hostile text escaped, one self-contained page, a read-only server on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sitememory_plugin import SiteMemory
from sitememory_plugin._cli import main
from sitememory_plugin._core.evidence import DEFAULT_HALF_LIFE
from sitememory_plugin._core.history import VisitRecord
from sitememory_plugin._core.ledger import LOAD_WINDOW
from sitememory_plugin._core.models import CandidateStats, Selector, SiteProfile, percentile
from sitememory_plugin._report.data import MAX_SCATTER, healed, kind_of, report_data, rolling_success
from sitememory_plugin._report.page import SCRIPT, STYLE, render
from sitememory_plugin._report.serve import LiveReport, ReportServer
from sitememory_plugin._report.source import StoreReader, read
from sitememory_plugin._report.text import anchor, seconds

from ._wait import until

SHOP = "https://shop.example/"
HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>\u202e'
NOW = 1_800_000_000.0
DAY = 86400.0


def fill(memory: SiteMemory) -> None:
    """Two sites through the public API: a shop with a healed purpose, a quirk seen twice and a
    pattern, and a slow site."""
    for i in range(6):
        memory.record_visit_sync(SHOP + f"p/{i}?token=secret", 0.4 + i / 10,
                                 status=503 if i == 2 else 200)
    memory.record_visit_sync(SHOP, 30.0, error="Timeout 30000ms exceeded")
    memory.cache_selector_sync(SHOP, "search box", "#q", ["input[name=q]"])
    memory.record_selector_result_sync(SHOP, "search box", "#q", True)
    memory.record_selector_result_sync(SHOP, "search box", "#q", False)
    memory.record_selector_result_sync(SHOP, "search box", "input[name=q]", True)
    memory.cache_selector_sync(SHOP, "buy", "#buy")
    memory.record_quirk_sync(SHOP, "cookie banner", "click #accept")
    memory.record_quirk_sync(SHOP, "cookie banner", "click #accept")
    memory.cache_action_pattern_sync(SHOP, "search", [{"fill": ["search box", "{q}"]}, {"click": ["go"]}])
    memory.record_visit_sync("https://slow.example/", 3.0, status=200)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    with SiteMemory(path, durability="none") as memory:
        fill(memory)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class Page(HTMLParser):
    """The page's elements: each tag with its attributes, and the text of each script and style."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._raw: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._raw = self.scripts if tag == "script" else self.styles
            self._raw.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw[-1] += data

    def cells(self, site: str) -> dict[str, str | None]:
        """The ``data-v`` of each column of ``site``'s row in the fleet table."""
        out: dict[str, str | None] = {}
        inside = False
        for tag, attrs in self.tags:
            if tag == "tr":
                inside = attrs.get("data-site") == site
            elif inside and tag == "td":
                column = next(c[2:] for c in (attrs.get("class") or "").split() if c.startswith("c-"))
                out[column] = attrs.get("data-v")
        return out


def sections(html: str) -> dict[str, str]:
    """Each site section's HTML by its id."""
    found = re.finditer(r'<section class="site" id="([^"]+)".*?</section>', html)
    return {m.group(1): m.group(0) for m in found}


# -- the data ----------------------------------------------------------------------------------


def test_visit_kinds_tell_timeouts_failures_and_error_statuses_apart() -> None:
    def record(status: int | None, error: str | None) -> VisitRecord:
        return VisitRecord(NOW, "/", 1.0, status, error)

    assert kind_of(record(200, None)) == "ok"
    assert kind_of(record(None, None)) == "ok"
    assert kind_of(record(404, None)) == "status"
    assert kind_of(record(None, "timeout")) == "timeout"
    assert kind_of(record(None, "net::ERR_CONNECTION_REFUSED")) == "failure"


def test_healed_means_a_failing_candidate_gave_way_to_one_that_worked_since() -> None:
    def selector(**stats: CandidateStats) -> Selector:
        names = list(stats)
        return Selector("p", names[0], tuple(names[1:]), candidates=stats)

    failed, worked = CandidateStats(0, 1, 1, last_failed=NOW - 10), CandidateStats(1, last_ok=NOW)
    assert healed(selector(b=worked, a=failed))  # the one that works is tried first now
    assert not healed(selector(a=failed, b=worked))  # the failing one is still first: not healed
    # the primary failed, a fallback failed, the primary worked again: the primary recovered by
    # itself, but the fallback fails and ranks below one that works: healed (the review's case)
    primary = CandidateStats(2, 1, 0, last_ok=NOW, last_failed=NOW - 20)
    fallback = CandidateStats(0, 1, 1, last_failed=NOW - 10)
    assert healed(selector(q=primary, q2=fallback))
    # a fallback that fails now, below a primary that has not worked since that failure
    assert not healed(selector(a=CandidateStats(3, last_ok=NOW - 40),
                               b=CandidateStats(1, 1, 1, last_ok=NOW - 50, last_failed=NOW - 35)))
    # the fallback worked before the primary failed: nothing rescued the purpose since
    late_failure, early_success = CandidateStats(0, 1, 1, last_failed=NOW), CandidateStats(1, last_ok=NOW - 1)
    assert not healed(selector(b=early_success, a=late_failure))
    # the same candidate failing then working is no fallback's rescue
    recovered = CandidateStats(1, 1, 0, last_ok=NOW, last_failed=NOW - 10)
    assert not healed(selector(a=recovered, b=CandidateStats()))
    assert not healed(selector(b=CandidateStats(), a=recovered))
    assert not healed(selector(a=CandidateStats(3, last_ok=NOW), b=CandidateStats(2, last_ok=NOW)))


def test_rolling_success_rate_over_a_window_sampled_with_the_last_kept() -> None:
    oks = [True, False, True, True, False, False]
    history = [VisitRecord(NOW + i, "/", 1.0, 200 if ok else 500) for i, ok in enumerate(oks)]
    assert [r for _, r in rolling_success(history, window=3)] == [1.0, 0.5, 2 / 3, 2 / 3, 2 / 3, 1 / 3]
    sampled = rolling_success(history * 50, window=3, points=10)
    assert len(sampled) == 10 and sampled[-1] == rolling_success(history * 50, window=3)[-1]


def history_of(n: int, start: float = NOW - DAY) -> list[VisitRecord]:
    """``n`` visits a minute apart: every 10th an error status, every 25th a timeout, every
    40th a network failure."""
    out = []
    for i in range(n):
        error = "timeout" if i % 25 == 24 else "net::ERR_CONNECTION_RESET" if i % 40 == 39 else None
        status = None if error else 503 if i % 10 == 9 else 200
        out.append(VisitRecord(start + 60 * i, f"/page/{i % 7}", round(0.2 + (i * 37 % 100) / 50, 3),
                               status, error))
    return out


def test_site_figures_come_from_the_profile_and_the_charts_from_the_history(store: Path) -> None:
    with SiteMemory(store) as memory:
        shop = memory.get_profile_sync(SHOP)
    assert shop is not None
    history = history_of(300)
    report = report_data([shop], {shop.domain: history}, NOW, 30 * DAY)
    site = report.sites[0]
    assert (site.visits, site.successes, site.failures) == (7, 5, 2)
    assert (site.success_rate, site.p50) == (shop.success_rate, shop.p50_load_time)
    assert site.p95 == shop.p95_load_time
    assert site.healed_count == 1 and [p.healed for p in site.purposes] == [True, False]
    assert [c.selector for c in site.purposes[0].candidates] == list(shop.selectors["search box"].ranked())
    assert site.quirks[0].occurrences == 2 and site.patterns[0].steps == 2
    assert site.history_size == 300 and len(site.points) == MAX_SCATTER
    assert site.points[-1].at == history[-1].at
    assert sum(site.kind_counts.values()) == MAX_SCATTER
    assert site.kind_counts["timeout"] == sum(1 for r in history[-MAX_SCATTER:] if r.error == "timeout")
    measured = [r.duration for r in history if r.measures_load]
    assert site.loads == tuple(measured[-LOAD_WINDOW:])
    assert site.recent_failures[0] == next(r for r in reversed(history) if not r.ok)
    assert report.totals.visits == 7 and report.totals.healed == 1


# -- the page ----------------------------------------------------------------------------------


def test_the_report_shows_the_store_s_figures(store: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.html"
    code, printed, _ = run(capsys, "--store", str(store), "report", "-o", str(out))
    assert code == 0 and str(out) in printed
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    with SiteMemory(store) as memory:
        for key in ("shop.example", "slow.example"):
            profile = memory.get_profile_sync(key)
            cells = page.cells(key)
            assert cells["visits"] == str(profile.visit_count)
            assert float(cells["success"] or "nan") == profile.success_rate
            assert float(cells["p50"] or "nan") == profile.p50_load_time
            assert float(cells["p95"] or "nan") == profile.p95_load_time
            assert float(cells["last"] or "nan") == profile.last_visit
            assert cells["quirks"] == str(len(profile.quirks))
        shop = memory.get_profile_sync(SHOP)
    assert page.cells("shop.example")["healed"] == "1" and page.cells("slow.example")["healed"] == "0"
    section = sections(html)[anchor("shop.example")]
    stats = shop.selectors["search box"].stats("#q")
    assert f'<code>#q</code></td><td class="n">{stats.ok}</td><td class="n">{stats.failed}</td>' in section
    assert (stats.ok, stats.failed) == (1, 1)  # one success, then one failure
    assert '<td>cookie banner</td><td>click #accept</td><td class="n">2</td>' in section
    assert '<td>search</td><td class="n">2</td><td class="n">1</td>' in section
    assert re.search(r'id="total-visits">8<', html) and re.search(r'id="total-sites">2<', html)
    assert "healed</span>" in section


def test_the_charts_and_failures_come_from_the_store_s_history(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with SiteMemory(store) as memory:
        assert len(memory.visit_history_sync(SHOP)) == 7
    code, html, _ = run(capsys, "--store", str(store), "report", "-o", "-", "--site", "shop.example")
    section = sections(html)[anchor("shop.example")]
    chart = re.search(r'<svg class="chart"[^>]*aria-labelledby="load-site-shop.example">(.*?)</svg>', section)
    assert code == 0 and chart
    title = re.search(r"<title[^>]*>([^<]*)</title>", chart.group(1))
    assert title and "the last 7 of 7 visits" in title.group(1)
    assert "5 ok, 1 error status, 0 failed, 1 timed out" in title.group(1)
    markers = dict(re.findall(r'<path class="k-(\w+)" d="([^"]*)"', chart.group(1)))
    # one marker per visit, its shape by how the visit ended: dots, a triangle, a square
    assert markers["ok"].count("h0") == 5 and markers["status"].count("z") == 1
    assert markers["timeout"].count("z") == 1 and "failure" not in markers
    failures = re.search(r"<caption>The 2 most recent failures, newest first</caption>.*?</table>", section)
    assert failures
    row = r"<tr><td[^>]*>[^<]*</td><td><code>([^<]*)</code></td><td[^>]*>([^<]*)</td><td>([^<]*)</td>"
    rows = re.findall(row, failures.group(0))
    assert rows == [("/", "-", "timeout"), ("/p/2", "503", "-")]
    assert "token" not in html  # the history keeps no query


def test_report_and_serve_never_create_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere"
    for argv in (["report", "-o", str(tmp_path / "r.html")], ["serve", "--port", "0"]):
        code, out, err = run(capsys, "--store", str(path), *argv)
        assert (code, out) == (1, "") and f"no store at {path} " in err
    assert list(tmp_path.iterdir()) == []


def test_one_site_and_a_missing_one(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "one.html"
    code, _, _ = run(capsys, "--store", str(store), "report", "--site", "https://www.shop.example/x", "-o",
                     str(out))
    html = out.read_text(encoding="utf-8")
    assert code == 0 and list(sections(html)) == [anchor("shop.example")]
    assert 'data-site="shop.example"' in html and "slow.example" not in html
    code, _, err = run(capsys, "--store", str(store), "report", "--site", "nowhere.example", "-o", str(out))
    assert code == 1 and "no site 'nowhere.example'" in err
    assert out.read_text(encoding="utf-8") == html  # nothing written


def test_standard_output_and_the_default_file(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, _ = run(capsys, "--store", str(store), "report", "-o", "-")
    assert code == 0 and printed.startswith("<!doctype html>") and printed.rstrip().endswith("</html>")
    monkeypatch.chdir(tmp_path)
    code, printed, _ = run(capsys, "--store", str(store), "report")
    assert code == 0 and (tmp_path / "report.html").is_file() and str(tmp_path / "report.html") in printed
    code, printed, _ = run(capsys, "--store", str(store), "report", "-o", "two.html", "--json")
    size = (tmp_path / "two.html").stat().st_size
    assert (code, json.loads(printed)) == (0, {"file": str(tmp_path / "two.html"), "sites": 2, "bytes": size})
    code, printed, err = run(capsys, "--store", str(store), "report", "-o", "-", "--json")
    assert (code, printed) == (2, "") and "with -o - the page is the output" in err


def hostile_store(path: Path) -> None:
    with SiteMemory(path, durability="none") as memory:
        url = "https://evil.example/"
        memory.record_visit_sync(url, 1.0, status=200)
        memory.record_visit_sync(url, 1.0, error=HOSTILE)
        memory.cache_selector_sync(url, HOSTILE, HOSTILE, ["a[title='</td>']"])
        memory.record_quirk_sync(url, HOSTILE, HOSTILE)
        memory.cache_action_pattern_sync(url, HOSTILE, [{"click": [HOSTILE]}])


ALLOWED_TAGS = {
    "html", "head", "meta", "link", "title", "style", "body", "header", "h1", "h2", "h3", "p", "main",
    "section", "dl", "div", "dt", "dd", "span", "table", "caption", "thead", "tbody", "tr", "th", "td",
    "a", "code", "time", "figure", "figcaption", "svg", "path", "polyline", "text", "script",
}


def test_stored_text_is_escaped_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile_store(tmp_path / "store")
    history = {"evil.example": [VisitRecord(NOW, "/" + HOSTILE, 1.0, None, HOSTILE[:80])]}
    with SiteMemory(tmp_path / "store") as memory:
        profile = memory.get_profile_sync("evil.example")
    assert profile is not None
    for html in (render(report_data([profile], history, NOW, 30 * DAY)),
                 run(capsys, "--store", str(tmp_path / "store"), "report", "-o", "-")[1]):
        page = Page(html)
        assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS  # no <img>, nothing stored became a tag
        assert page.scripts == [SCRIPT] and page.styles == [STYLE]
        for _, attrs in page.tags:
            assert not [name for name in attrs if name.startswith("on")]
        assert "\u202e" not in html and "\\u202e" in html  # the override is shown, never applied
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "a[title=&#x27;&lt;/td&gt;&#x27;]" in html


def test_the_page_references_nothing_outside_itself(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, html, _ = run(capsys, "--store", str(store), "report", "-o", "-")
    assert not re.search(r"https?://", html)
    page = Page(html)
    for tag, attrs in page.tags:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#") or href == "data:,", href
    assert "url(" not in page.styles[0] and "@import" not in page.styles[0]
    policy = next(a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None and "default-src 'none'" in policy and "unsafe-inline" not in policy


def _luminance(color: str) -> float:
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_both_themes_have_aa_contrast() -> None:
    light = re.search(r":root\{(.*?)\}", STYLE, re.S)
    dark = re.search(r"prefers-color-scheme:dark\)\{:root\{(.*?)\}", STYLE, re.S)
    assert light and dark
    for block in (light.group(1), dark.group(1)):
        colors = dict(re.findall(r"--([\w-]+):(#[0-9a-f]{6})", block))
        for background in ("bg", "head"):
            for text in ("fg", "muted", "link", "ok", "st", "fail", "to"):  # text, and the glyphs' colours
                assert contrast(colors[text], colors[background]) >= 4.5, (text, background, block)
        for mark in ("bar", "mark"):  # the histogram's bars and marks (its dots and lines are the above)
            assert contrast(colors[mark], colors["bg"]) >= 3.0, mark  # WCAG's 3:1 for graphics
        # The dashed p50/p95 lines cross the bars (the review found 2.55:1 in the dark theme).
        assert contrast(colors["mark"], colors["bar"]) >= 3.0, block


def test_a_thousand_sites_render_and_stay_small() -> None:
    profiles, histories = [], {}
    for i in range(1000):
        key = f"site{i:04d}.example"
        history = history_of(500)
        candidates = {"#a": CandidateStats(10, 2, 0, NOW - DAY, NOW - 60, NOW - 600),
                      "#b": CandidateStats(3, 1, 1, NOW - DAY, NOW - 900, NOW - 30)}
        profiles.append(SiteProfile(
            key, visit_count=500, success_count=450, failure_count=50, last_visit=history[-1].at,
            load_times=tuple(r.duration for r in history if r.measures_load)[-LOAD_WINDOW:],
            selectors={f"purpose {k}": Selector(f"purpose {k}", "#a", ("#b",), candidates=candidates)
                       for k in range(3)},
        ))
        histories[key] = history
    html = render(report_data(profiles, histories, NOW, 30 * DAY))
    assert html.count("<tr data-site=") == 1000 and len(sections(html)) == 1000
    assert 'id="total-visits">500,000<' in html and '<main class="many">' in html
    # Bounded per site whatever the history's length: the charts plot at most MAX_SCATTER visits.
    assert len(html.encode()) < 12_000_000, len(html.encode())


def test_histogram_marks_the_percentiles_of_what_it_plots() -> None:
    history = history_of(150)
    loaded = tuple(r.duration for r in history if r.measures_load)
    profile = SiteProfile("a.example", load_times=loaded[-LOAD_WINDOW:])
    html = render(report_data([profile], {"a.example": history}, NOW, 30 * DAY))
    loads = report_data([profile], {"a.example": history}, NOW, 30 * DAY).sites[0].loads
    p50, p95 = percentile(loads, 50), percentile(loads, 95)
    assert p50 == profile.p50_load_time and p95 == profile.p95_load_time  # the same window, same figures
    title = re.search(r'<title id="dist-site-a\.example">([^<]*)</title>', html)
    assert title and f"p50 {seconds(p50)}, p95 {seconds(p95)}" in title.group(1)
    for chart in ("load", "dist", "rate"):
        assert f'role="img" aria-labelledby="{chart}-site-a.example"' in html


def test_the_reader_reads_a_history_again_only_when_its_site_changed(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = SiteMemory(store, cache_ttl=0)
    real, calls = memory.visit_history_sync, []

    def counted(url: str, limit: int | None = None) -> list[VisitRecord]:
        calls.append(url)
        return real(url, limit)

    monkeypatch.setattr(memory, "visit_history_sync", counted)
    reader = StoreReader(memory)
    first = reader.read()
    assert sorted(calls) == ["shop.example", "slow.example"]
    calls.clear()
    assert reader.read().fingerprint == first.fingerprint and calls == []
    with SiteMemory(store) as writer:
        writer.record_visit_sync("https://slow.example/", 1.0, status=200)
    changed = reader.read()
    assert calls == ["slow.example"] and changed.fingerprint != first.fingerprint
    assert len(changed.histories["slow.example"]) == 2
    assert changed.histories["shop.example"] is first.histories["shop.example"]
    calls.clear()
    reader.read()
    assert calls == ["slow.example"]  # once more: a history may lag its document
    calls.clear()
    reader.read()
    assert calls == []
    memory.close_sync()


# -- the server --------------------------------------------------------------------------------


@pytest.fixture
def server(store: Path) -> Iterator[tuple[ReportServer, Path]]:
    memory = SiteMemory(store, cache_ttl=0.1)
    srv = ReportServer(LiveReport(memory, ttl=0.1), 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, store
    srv.shutdown()
    srv.server_close()
    thread.join(5)
    memory.close_sync()


def request(
    srv: ReportServer, method: str, path: str = "/", host: str | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    headers = {} if host is None else {"Host": host}
    conn.request(method, path, body=b"x" if method == "POST" else None, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def body(srv: ReportServer, path: str = "/") -> str:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", path)
    text = conn.getresponse().read().decode()
    conn.close()
    return text


@pytest.mark.asyncio
async def test_the_server_listens_on_loopback_and_only_reads(server: tuple[ReportServer, Path]) -> None:
    srv, store = server
    assert srv.server_address[0] == "127.0.0.1" and srv.url == f"http://127.0.0.1:{srv.port}/"
    page = request(srv, "GET", "/")
    assert page.status == 200 and page.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in (page.getheader("Content-Security-Policy") or "")
    html = body(srv)
    assert 'data-live="2"' in html and 'data-site="shop.example"' in html
    head = request(srv, "HEAD", "/")
    assert head.status == 200 and int(head.getheader("Content-Length") or 0) == len(html.encode())
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        refused = request(srv, method, "/")
        assert refused.status == 405 and refused.getheader("Allow") == "GET, HEAD", method
    assert request(srv, "GET", "/elsewhere").status == 404
    assert request(srv, "GET", "/", host="attacker.example").status == 421
    assert request(srv, "GET", "/", host=f"localhost:{srv.port}").status == 200
    before = body(srv, "/version")
    with SiteMemory(store) as memory:
        assert memory.get_profile_sync(SHOP).visit_count == 7  # the refused writes wrote nothing
        memory.record_visit_sync(SHOP, 0.5, status=200)
    await until(lambda: body(srv, "/version") != before, what="a new version after a visit")
    assert 'data-v="8"' in body(srv)


def test_serve_prints_its_url_and_stops_on_sigterm_and_sigint(store: Path) -> None:
    for sig, code, json_out in ((signal.SIGTERM, 0, False), (signal.SIGINT, 130, True)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "sitememory_plugin", "--store", str(store), "serve", "--port", "0",
             *(["--json"] if json_out else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout is not None
            # The JSON is indented over lines: read up to its closing brace.
            line = "".join(iter(proc.stdout.readline, "}\n")) + "}" if json_out else proc.stdout.readline()
            if json_out:
                assert json.loads(line)["store"] == str(store)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert match, line
            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
            proc.send_signal(sig)
            assert proc.wait(timeout=15) == code
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_serve_refuses_a_missing_site(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--store", str(store), "serve", "--port", "0", "--site", "nowhere.example")
    assert code == 1 and "no site 'nowhere.example'" in err


def test_every_id_in_the_page_is_unique_even_for_keys_that_look_like_chart_ids(tmp_path: Path) -> None:
    """The review's case: a site "a.example-load" must not share an id with a.example's chart."""
    memory = SiteMemory(tmp_path / "store", durability="none")
    for key in ("a.example", "a.example-load", "a.example-dist", "load-site-a.example"):
        memory.record_visit_sync(f"https://{key}/", 0.5, status=200)
    snapshot = read(memory)
    page = render(report_data(snapshot.profiles, snapshot.histories, NOW, DEFAULT_HALF_LIFE))
    ids = re.findall(r'\bid="([^"]*)"', page)
    assert len(ids) == len(set(ids)) and len(ids) > 12


@pytest.mark.asyncio
async def test_a_store_moved_away_is_no_store_not_an_empty_one(server: tuple[ReportServer, Path]) -> None:
    srv, store = server
    assert request(srv, "GET", "/").status == 200
    store.rename(store.with_name("moved"))
    await until(lambda: request(srv, "GET", "/version").status == 503, what="a 503")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/")
    answer = conn.getresponse()
    assert (answer.status, f"no store at {store}" in answer.read().decode()) == (503, True)
    conn.close()
    assert not store.exists()  # and nothing made a new one there


def test_output_errors_are_bad_usage_and_a_new_page_is_private(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--store", str(store), "report", "-o", str(tmp_path / "nodir" / "r.html"))
    assert code == 2 and f"cannot write {tmp_path / 'nodir' / 'r.html'}: No such file" in err
    assert run(capsys, "--store", str(store), "report", "-o", str(tmp_path))[0] == 2
    assert run(capsys, "--store", str(store), "export", "-o", str(tmp_path / "nodir" / "x.jsonl"))[0] == 2
    page = tmp_path / "r.html"
    assert run(capsys, "--store", str(store), "report", "-o", str(page))[0] == 0
    assert page.stat().st_mode & 0o777 == 0o600
    page.chmod(0o644)  # the user's choice is kept
    assert run(capsys, "--store", str(store), "report", "-o", str(page))[0] == 0
    assert page.stat().st_mode & 0o777 == 0o644


def test_a_taken_port_is_bad_usage(server: tuple[ReportServer, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    srv, store = server
    code, _, err = run(capsys, "--store", str(store), "serve", "--port", str(srv.port))
    assert code == 2 and "--port 0 picks a free port" in err
