"""Scrapy with scrapy-playwright and SiteMemoryMiddleware: a real crawl of the test site with
Debian's Chromium, in a child process (a Twisted reactor cannot be restarted), checked against
what Scrapy saw."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sitememory_plugin import SiteMemory, SiteProfile, site_key

from ._env import unavailable
from ._net import free_port
from ._site import TestSite

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Crawl:
    web: TestSite
    dead: str
    seen: dict[str, dict[str, Any]]
    stats: dict[str, Any]
    expected_timeout: float | None
    site: SiteProfile
    dead_site: SiteProfile
    pages_held: int


def _environ(store: Path) -> dict[str, str]:
    environ = {**os.environ, "SITEMEMORY_PATH": str(store), "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for name in ("SITEMEMORY_PLUGINS", "SITEMEMORY_DISABLE_PLUGINS"):
        environ.pop(name, None)
    return environ


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    """One crawl for the module (tests/_scrapy_crawl.py): one browser, every kind of request."""
    if not _playwright_chromium():
        unavailable("no Chromium: run `make browser`")
    tmp = tmp_path_factory.mktemp("scrapy")
    store, out = tmp / "store", tmp / "out.json"
    dead = f"http://127.0.0.1:{free_port()}"
    with TestSite() as web:
        done = subprocess.run(
            [sys.executable, "-m", "tests._scrapy_crawl", web.base, dead, str(store), str(out)],
            capture_output=True, text=True, timeout=180, cwd=ROOT, env=_environ(store),
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(out.read_text())
        with SiteMemory(store) as memory:
            site = memory.get_profile_sync(web.base)
            dead_site = memory.get_profile_sync(dead)
            assert sorted(memory.list_sites_sync()) == sorted([site_key(web.base), site_key(dead)])
        assert site is not None and dead_site is not None
        seen = {s["label"]: s for s in result["seen"]}
        yield Crawl(
            web, dead, seen, result["stats"], result["expected_timeout"], site, dead_site,
            result["pages_held"],
        )


def _playwright_chromium() -> bool:
    try:
        from sitememory_plugin._browser import launch_kwargs

        launch_kwargs()
    except RuntimeError:
        return False
    return True


def test_every_download_is_one_visit_as_scrapy_counted_it(crawl: Crawl) -> None:
    stats, site = crawl.stats, crawl.site
    # Scrapy's own figures: 12 responses (two 302s, one of them followed), two of them 404s, one
    # navigation timeout; two submits by click navigated the page once more each.
    assert stats["downloader/response_count"] == 12
    assert stats["downloader/response_status_count/302"] == 2
    assert stats["downloader/response_status_count/404"] == 2
    assert stats["downloader/exception_type_count/playwright._impl._errors.TimeoutError"] == 1
    clicks = 2
    assert site.visit_count == 12 - 1 + clicks + 1 == 14
    assert site.failure_count == 2 + 1 == 3
    assert site.success_count == 11
    # What the spider got: 10 responses from the site (4 plain, 3 Playwright, 3 in the second
    # phase), the 302 not followed (HttpError: not in handle_httpstatus_list), a timeout and a
    # refusal in errbacks; the refusal is no visit.
    responses = [s for s in crawl.seen.values() if "status" in s and s["url"].startswith(crawl.web.base)]
    errors = sorted(
        s["error"] for s in crawl.seen.values() if "error" in s and s["url"].startswith(crawl.web.base)
    )
    assert len(responses) == 10
    assert errors == [
        "playwright._impl._errors.TimeoutError", "scrapy.exceptions.IgnoreRequest",
        "scrapy.spidermiddlewares.httperror.HttpError",
    ]
    assert site.visit_count == len(responses) + 1 + clicks + 1
    assert site.failure_count == sum(s["status"] == 404 for s in responses) + 1
    # The slow pages (plain, Playwright) and the timeout took their time; timeouts are load
    # times too (the adaptive timeout must cover them).
    assert sum(t >= 0.3 for t in site.load_times) >= 3
    assert len(site.load_times) == 10 + 1 + 1


def test_a_connection_failure_is_a_visit_per_attempt_scrapy_made(crawl: Crawl) -> None:
    stats, dead = crawl.stats, crawl.dead_site
    # The plain request was retried twice (Scrapy's RetryMiddleware): three downloads; the
    # Playwright one failed once (a requestfailed event recorded it; process_exception did not).
    assert stats["retry/count"] == 2
    assert stats["downloader/exception_type_count/scrapy.exceptions.DownloadConnectionRefusedError"] == 3
    assert stats["downloader/exception_type_count/playwright._impl._errors.Error"] == 1
    assert (dead.visit_count, dead.failure_count) == (3 + 1, 4)
    assert crawl.seen["plain refused"]["error"] == "scrapy.exceptions.DownloadConnectionRefusedError"
    assert crawl.seen["pw refused"]["error"] == "playwright._impl._errors.Error"


def test_statuses_and_redirects_reach_the_spider_as_before(crawl: Crawl) -> None:
    seen, web = crawl.seen, crawl.web
    assert {label: s.get("status") for label, s in seen.items() if label.startswith("plain")} == {
        "plain 200": 200, "plain 404": 404, "plain slow": 200, "plain redirect": 200, "plain refused": None,
        "plain redirect not followed": None,
    }
    assert seen["plain redirect"]["url"] == web.url("/page/landing")
    assert (seen["pw 200"]["status"], seen["pw 404"]["status"], seen["pw slow"]["status"]) == (200, 404, 200)
    assert seen["pw timeout"]["error"] == "playwright._impl._errors.TimeoutError"
    # Each page was fetched once by whoever made the request: nothing downloads it twice.
    assert (web.hits("/page/a"), web.hits("/page/pw"), web.hits("/status/404"), web.hits("/redirect")) == (
        1, 1, 2, 2,
    )


def test_playwright_requests_get_the_adapted_timeout_unless_they_set_one(crawl: Crawl) -> None:
    seen = crawl.seen
    # By the second phase the site has 6 measured load times: the timeout is AdaptiveTimeouts' answer
    # for what the store held then (4 x p95 within 5-120 s), in ms.
    assert crawl.expected_timeout is not None and 5000 <= crawl.expected_timeout <= 120_000
    assert seen["pw adapted"]["goto_timeout"] == crawl.expected_timeout
    assert seen["pw search, from memory"]["goto_timeout"] is not None
    # The request's own timeout won (and fired: 500 ms on a 3 s page).
    assert seen["pw timeout"]["error"] == "playwright._impl._errors.TimeoutError"
    # A plain request is not given one: Scrapy's DOWNLOAD_TIMEOUT applies.
    assert seen["plain 200"]["goto_timeout"] is None


def test_page_methods_act_by_purpose_and_the_memory_heals_the_next_request(crawl: Crawl) -> None:
    seen, site = crawl.seen, crawl.site
    assert seen["pw search, selectors given"]["used"] == ["#search", "#go"]
    assert seen["pw search, selectors given"]["url"] == crawl.web.url("/results?q=shoes")
    # The second request passed no selector: the memory had them.
    assert seen["pw search, from memory"]["used"] == ["#search", "#go"]
    assert seen["pw search, from memory"]["url"] == crawl.web.url("/results?q=boots")
    assert site.selectors["search box"].ranked() == ("#search",)
    assert site.selectors["search button"].ranked() == ("#go",)
    box = site.selectors["search box"].candidates["#search"]
    assert (box.ok, box.failed) == (2, 0)


def test_a_plugins_refusal_is_ignore_request_and_nothing_is_fetched(crawl: Crawl) -> None:
    assert crawl.seen["pw refused by a plugin"]["error"] == "scrapy.exceptions.IgnoreRequest"
    assert crawl.web.hits("/page/refused") == 0


def test_the_middleware_holds_no_page_after_the_crawl(crawl: Crawl) -> None:
    # 9 Playwright requests each had a page attached (the refused one too); every handle, which
    # holds its page, is gone from site_of's table once its page closed or was refused.
    assert crawl.pages_held == 0


@pytest.mark.parametrize(("mode", "says"), [
    ("reactor", 'needs the asyncio reactor: set TWISTED_REACTOR = "twisted.internet.asyncioreactor.'),
    ("threaded", "does not support scrapy-playwright's threaded loop (the _PLAYWRIGHT_THREADED_LOOP"),
])
def test_a_crawl_the_middleware_cannot_record_does_not_start(tmp_path: Path, mode: str, says: str) -> None:
    # A non-asyncio reactor records nothing, and scrapy-playwright's threaded loop runs the pages'
    # recordings on another loop than the middleware's: the middleware refuses to be built, and
    # Scrapy logs why and downloads nothing.
    done = subprocess.run(
        [sys.executable, "-m", "tests._scrapy_crawl", "--small", mode, "http://127.0.0.1:9/"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=_environ(tmp_path / "store"),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"responses": 0}
    assert f"RuntimeError: SiteMemoryMiddleware {says}" in done.stderr


def test_a_playwright_request_scrapy_downloads_itself_is_a_plain_visit(tmp_path: Path) -> None:
    # DOWNLOAD_HANDLERS forgotten: Scrapy's own handler downloads meta["playwright"] requests.
    store = tmp_path / "store"
    with TestSite() as web:
        done = subprocess.run(
            [sys.executable, "-m", "tests._scrapy_crawl", "--small", "no-handler", web.url("/page/a"),
             web.url("/status/404")],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env=_environ(store),
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"responses": 2}
        with SiteMemory(store) as memory:
            site = memory.get_profile_sync(web.base)
    assert site is not None
    assert (site.visit_count, site.failure_count) == (2, 1)
    assert done.stderr.count("are downloaded by Scrapy's own handler") == 1


def test_without_the_extra_the_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['scrapy_playwright'] = None; import sitememory_plugin.integrations.scrapy"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "pip install 'sitememory-plugin[scrapy]'" in done.stderr


def test_the_package_never_imports_scrapy_itself() -> None:
    code = ("import sys, sitememory_plugin, sitememory_plugin.integrations, sitememory_plugin._cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scrapy', 'scrapy_playwright')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_scrapy_example_crawls_and_shows_what_the_memory_learned(tmp_path: Path) -> None:
    if not _playwright_chromium():
        unavailable("no Chromium: run `make browser`")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "scrapy_spider.py")], capture_output=True, text=True,
        timeout=180, env=_environ(tmp_path / "memory"),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"Site memory for 127\.0\.0\.1:\d+:\n- 5 visits, 80% succeeded", out), out
    assert '- selector for "search box": "#q"' in out
    assert "results for shoes, results for boots" in out
