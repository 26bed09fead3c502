"""The drop-in hooks in hooks/, each loaded as a user would: ``SITEMEMORY_PLUGINS=<path>``.

Browser tests use real Chromium, the local TestSite and a real store in tmp_path. The built-in
``politeness`` plugin is disabled where a site is made to fail on purpose: it spaces navigations
to a failing site by a second or more, which would only slow these tests down.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest
from playwright.sync_api import Browser, BrowserContext
from playwright.sync_api import Error as PlaywrightError

from sitememory_plugin import (
    NavigationRefused,
    PluginError,
    SiteMemory,
    SiteProfile,
    Visit,
    attach,
    make_plugin_manager,
    site_key,
)

from ._browser import sync_browser as sync_browser
from ._net import free_port
from ._site import TestSite

HOOKS = Path(__file__).resolve().parent.parent / "hooks"
REPO = HOOKS.parent


def plugins(
    monkeypatch: pytest.MonkeyPatch, *names: str, disable: tuple[str, ...] = ()
) -> pluggy.PluginManager:
    """A fresh plugin manager with ``hooks/<name>.py`` named in ``$SITEMEMORY_PLUGINS``."""
    monkeypatch.setenv("SITEMEMORY_PLUGINS", ",".join(str(HOOKS / f"{name}.py") for name in names))
    pm = make_plugin_manager(disable=disable)
    for name in names:
        assert pm.get_plugin(name) is not None, f"{name} not registered"
    return pm


def hook_module(monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    """The module ``$SITEMEMORY_PLUGINS`` loads for ``hooks/<name>.py``."""
    module = plugins(monkeypatch, name).get_plugin(name)
    assert isinstance(module, ModuleType)
    return module


@pytest.fixture(scope="module")
def registrable_domain() -> Iterator[Any]:
    """hooks/registrable_domain.py as ``$SITEMEMORY_PLUGINS`` loads it, once for the many URL cases."""
    with pytest.MonkeyPatch.context() as patch:
        yield hook_module(patch, "registrable_domain")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[SiteMemory]:
    mem = SiteMemory(tmp_path / "store")
    yield mem
    mem.close_sync()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SITEMEMORY_DISABLE_PLUGINS", "SITEMEMORY_REGISTRABLE_PRIVATE", "SITEMEMORY_GUARD_THRESHOLD",
        "SITEMEMORY_GUARD_MIN_VISITS", "SITEMEMORY_GUARD_RETRY_AFTER", "SITEMEMORY_AUDIT_LOG",
    ):
        monkeypatch.delenv(name, raising=False)


# -- registrable_domain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example.co.uk/cart", "example.co.uk"),
        ("http://www.example.co.uk", "example.co.uk"),
        ("https://EXAMPLE.co.uk./", "example.co.uk"),
        ("https://a.b.c.example.com/x?y=1#z", "example.com"),
        ("example.com/path", "example.com"),
        # The port: kept unless it is the scheme's default, as the default key does.
        ("https://a.example.com:8080/", "example.com:8080"),
        ("https://a.example.com:443/", "example.com"),
        ("http://a.example.com:80/", "example.com"),
        ("http://a.example.com:443/", "example.com:443"),
        # IDN: keys are IDNA (punycode), like the default key; IDN suffixes are known too.
        ("https://shop.bücher.de/", "xn--bcher-kva.de"),
        ("https://www.例子.中国/", "xn--fsqu00a.xn--fiqs8s"),
        ("https://shop.пример.рф:8443/", "xn--e1afmkfd.xn--p1ai:8443"),
        ("https://shop.xn--e1afmkfd.xn--p1ai/", "xn--e1afmkfd.xn--p1ai"),
        # Wildcard and exception rules of the list.
        ("https://a.b.kawasaki.jp/", "a.b.kawasaki.jp"),
        ("https://www.city.kawasaki.jp/", "city.kawasaki.jp"),
        # The private section counts by default, as for browsers.
        ("https://alice.github.io/blog", "alice.github.io"),
        ("https://x.y.alice.github.io/", "alice.github.io"),
        # No registrable domain: the default key applies.
        ("https://github.io/", None),
        ("https://co.uk/", None),
        ("http://127.0.0.1:8000/", None),
        ("http://10.1.2.3/", None),
        ("http://[::1]:8000/", None),
        ("http://localhost:3000/", None),
        ("http://intranet.corp/", None),
        ("http://printer/", None),
        ("about:blank", None),
        ("data:text/html,hi", None),
        ("ftp://example.com/", None),
        # "www.co.uk" is no key of its own (its key folds the "www."): leave it to the default.
        ("https://shop.www.co.uk/", None),
    ],
)
def test_registrable_domain_keys(registrable_domain: Any, url: str, expected: str | None) -> None:
    answer = registrable_domain.sitememory_site_key(url=url)
    assert answer == expected
    if answer is not None:
        assert site_key(answer) == answer


def test_registrable_domain_private_section_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    module = hook_module(monkeypatch, "registrable_domain")
    monkeypatch.setenv("SITEMEMORY_REGISTRABLE_PRIVATE", "0")  # read at call time
    assert module.sitememory_site_key(url="https://alice.github.io/") == "github.io"
    assert module.sitememory_site_key(url="https://shop.example.co.uk/") == "example.co.uk"
    monkeypatch.setenv("SITEMEMORY_REGISTRABLE_PRIVATE", "yes")
    assert module.sitememory_site_key(url="https://alice.github.io/") == "alice.github.io"
    monkeypatch.setenv("SITEMEMORY_REGISTRABLE_PRIVATE", "maybe")
    with pytest.raises(ValueError, match="SITEMEMORY_REGISTRABLE_PRIVATE"):
        module.sitememory_site_key(url="https://alice.github.io/")

    # An instance's arguments win over the environment.
    plain = module.RegistrableDomain(private_domains=False, extra_suffixes=["corp.example"])
    assert plain.sitememory_site_key("https://alice.github.io/") == "github.io"
    assert plain.sitememory_site_key("https://a.team.corp.example/") == "team.corp.example"


def test_registrable_domain_uses_no_network_and_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    module = hook_module(monkeypatch, "registrable_domain")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tldextract tried the network or its disk cache: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(os, "makedirs", refuse)  # how tldextract's cache makes its directory
    fresh = module.RegistrableDomain()  # builds its suffix list on first use, here
    assert fresh.sitememory_site_key("https://shop.example.co.uk/") == "example.co.uk"


def test_registrable_domain_in_browser(
    context: BrowserContext, memory: SiteMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = plugins(monkeypatch, "registrable_domain")
    with TestSite() as web:
        site = attach(context, memory, plugins=pm)
        local = f"127.0.0.1:{web.port}"
        assert site.goto(web.url("/page/one")).status == 200
        site.settle()
        assert site.goto(web.url("/page/two")).status == 200
        site.settle()
        # An IP address keeps its default key.
        assert site.key(web.url("/page/one")) == local
        assert memory.get_profile_sync(local).visit_count == 2
        assert site.errors == []
        # Subdomains group under one key through the handle, ports kept apart.
        assert site.key("https://shop.example.co.uk/a") == "example.co.uk"
        assert site.key("https://www.example.co.uk/b") == "example.co.uk"
        assert site.key("https://example.co.uk:8443/") == "example.co.uk:8443"
        assert site.key("http://localhost:3000/") == "localhost:3000"
        site.detach()


# -- failure_guard --------------------------------------------------------------------------------


def test_guard_refuses_failing_site_only(
    context: BrowserContext, memory: SiteMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = plugins(monkeypatch, "failure_guard", disable=("politeness",))
    guard = pm.get_plugin("failure_guard")
    with TestSite() as bad, TestSite() as good:
        site = attach(context, memory, plugins=pm)
        for _ in range(5):  # the default min_visits: judged only from the fifth outcome on
            assert site.goto(bad.url("/status/503")).status == 503
            site.settle()
        with pytest.raises(NavigationRefused) as refused:
            site.goto(bad.url("/status/503"))
        assert bad.hits("/status/503") == 5  # refused before page.goto
        error = refused.value
        assert isinstance(error, guard.SiteFailing)
        bad_key = f"127.0.0.1:{bad.port}"
        assert error.key == bad_key and error.rate == 1.0 and error.outcomes == 5
        message = str(error)
        for part in (bad_key, "failed 5 of its last 5 visits", "100%", "threshold of 50%",
                     "SITEMEMORY_GUARD_THRESHOLD", "SITEMEMORY_GUARD_MIN_VISITS"):
            assert part in message

        # The whole site is refused, not the one path, and a refusal records no visit.
        with pytest.raises(NavigationRefused):
            site.goto(bad.url("/page/fine"))
        assert bad.hits("/page/fine") == 0
        assert memory.get_profile_sync(bad_key).visit_count == 5

        # Another site is unaffected.
        assert site.goto(good.url("/page/a")).status == 200
        site.settle()
        assert good.hits("/page/a") == 1
        assert site.errors == []
        site.detach()


def test_guard_thresholds_from_environment(
    context: BrowserContext, memory: SiteMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = plugins(monkeypatch, "failure_guard", disable=("politeness",))
    monkeypatch.setenv("SITEMEMORY_GUARD_MIN_VISITS", "2")
    monkeypatch.setenv("SITEMEMORY_GUARD_THRESHOLD", "0.6")
    with TestSite() as web:
        site = attach(context, memory, plugins=pm)
        flaky = web.url("/flaky")  # 503, 200, 503, ...
        assert site.goto(flaky).status == 503
        site.settle()
        assert site.goto(flaky).status == 200  # recent failure rate 1/2
        site.settle()

        monkeypatch.setenv("SITEMEMORY_GUARD_THRESHOLD", "0.4")  # read at each navigation
        with pytest.raises(NavigationRefused, match="threshold of 40%"):
            site.goto(flaky)
        assert web.hits("/flaky") == 2

        monkeypatch.setenv("SITEMEMORY_GUARD_THRESHOLD", "0.6")
        assert site.goto(flaky).status == 503  # 1/2 is not above 0.6; now 2/3
        site.settle()
        with pytest.raises(NavigationRefused, match="failed 2 of its last 3"):
            site.goto(flaky)
        monkeypatch.setenv("SITEMEMORY_GUARD_MIN_VISITS", "4")  # 3 outcomes: too few to judge
        assert site.goto(flaky).status == 200
        site.settle()
        assert web.hits("/flaky") == 4

        # Invalid settings stop the navigation with the plugin named and the ValueError as cause.
        for name, value in (
            ("SITEMEMORY_GUARD_THRESHOLD", "lots"), ("SITEMEMORY_GUARD_THRESHOLD", "1.5"),
            ("SITEMEMORY_GUARD_MIN_VISITS", "0"), ("SITEMEMORY_GUARD_MIN_VISITS", "2.5"),
            ("SITEMEMORY_GUARD_RETRY_AFTER", "-1"),
        ):
            monkeypatch.setenv(name, value)
            with pytest.raises(PluginError) as failed:
                site.goto(flaky)
            assert failed.value.plugin == "failure_guard"
            assert isinstance(failed.value.__cause__, ValueError)
            assert name in str(failed.value) and repr(value) in str(failed.value)
            monkeypatch.delenv(name)
        assert web.hits("/flaky") == 4
        site.detach()


def test_guard_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    module = hook_module(monkeypatch, "failure_guard")
    url, key, now = "https://example.com/", "example.com", time.time()

    def profile(outcomes: str, last_visit: float | None = now) -> SiteProfile:
        return SiteProfile(
            domain=key, visit_count=len(outcomes) + 10, last_visit=last_visit,
            recent_outcomes=tuple(ch == "1" for ch in outcomes),
        )

    check = module.sitememory_before_navigation
    check(url=url, key=key, profile=None)  # a new site
    check(url=url, key=key, profile=profile("0000"))  # too few outcomes
    check(url=url, key=key, profile=profile("00111"))  # 40%
    check(url=url, key=key, profile=profile("000111"))  # 50% is not above 50%
    with pytest.raises(module.SiteFailing, match=r"failed 3 of its last 5 visits \(60%, 15 visits in all\)"):
        check(url=url, key=key, profile=profile("00011"))
    # After retry_after (default 300 s) since the last visit, one probe goes through.
    check(url=url, key=key, profile=profile("00000", last_visit=now - 301))
    monkeypatch.setenv("SITEMEMORY_GUARD_RETRY_AFTER", "inf")
    with pytest.raises(module.SiteFailing):
        check(url=url, key=key, profile=profile("00000", last_visit=now - 10**6))

    strict = module.FailureGuard(threshold=0.0, min_visits=1, retry_after=60)
    with pytest.raises(NavigationRefused, match="probe is let through in"):
        strict.sitememory_before_navigation(url, key, profile("1110"))
    strict.sitememory_before_navigation(url, key, profile("1110", last_visit=now - 61))
    for bad in ({"threshold": 1.5}, {"threshold": float("nan")}, {"min_visits": 0}, {"min_visits": True},
                {"retry_after": -1.0}, {"retry_after": float("nan")}):
        with pytest.raises(ValueError):
            module.FailureGuard(**bad)


# -- audit_log ------------------------------------------------------------------------------------


def read_log(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("ascii").splitlines()]


def test_audit_log_one_line_per_navigation(
    context: BrowserContext, memory: SiteMemory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "audit.jsonl"  # its directory does not exist yet
    monkeypatch.setenv("SITEMEMORY_AUDIT_LOG", str(log))
    pm = plugins(monkeypatch, "audit_log", disable=("politeness",))
    started = datetime.now(UTC)
    with TestSite() as web:
        site = attach(context, memory, plugins=pm)
        key = f"127.0.0.1:{web.port}"
        down = f"http://127.0.0.1:{free_port()}/nothing"
        site.goto(web.url("/page/a"))
        site.goto(web.url("/status/503"))
        site.goto(web.url("/redirect?to=/page/landing"))
        with pytest.raises(PlaywrightError):
            site.goto(down)
        site.settle()
        assert site.errors == []
        assert web.hits("/redirect") == 1 and web.hits("/page/landing") == 1
        assert memory.get_profile_sync(key).visit_count == 3  # the recorder still ran
        site.detach()

    lines = read_log(log)
    assert [line["url"] for line in lines] == [
        web.url("/page/a"), web.url("/status/503"), web.url("/page/landing"), down,
    ]
    assert [line["key"] for line in lines] == [key, key, key, site_key(down)]
    assert [line["ok"] for line in lines] == [True, False, True, False]
    assert [line["status"] for line in lines] == [200, 503, 200, None]
    assert [line["error"] is None for line in lines] == [True, True, True, False]
    assert "ERR_CONNECTION_REFUSED" in lines[3]["error"]
    for line in lines:
        assert list(line) == ["time", "url", "key", "ok", "status", "error", "duration", "timings"]
        assert line["time"].endswith("Z")
        when = datetime.fromisoformat(line["time"])
        assert when.utcoffset() == timedelta(0)
        assert started - timedelta(seconds=1) <= when <= datetime.now(UTC)
        assert isinstance(line["duration"], float) and 0 <= line["duration"] < 30
        assert isinstance(line["timings"], dict)
    assert lines[0]["timings"]["load"] > 0
    assert lines[2]["timings"]["redirects"] == 1
    assert lines[3]["timings"] == {}
    assert log.stat().st_mode & 0o777 == 0o600


def test_audit_log_default_path_and_instance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = hook_module(monkeypatch, "audit_log")
    monkeypatch.chdir(tmp_path)
    visit = Visit(url="https://example.com/é\n", duration=0.25, status=404)
    module.sitememory_after_navigation(url=visit.url, key="example.com", visit=visit)
    (line,) = read_log(tmp_path / "sitememory-audit.jsonl")  # newline in the URL: still one line
    assert line["url"] == visit.url and line["ok"] is False and line["status"] == 404

    own = module.AuditLog(tmp_path / "own.jsonl")
    monkeypatch.setenv("SITEMEMORY_AUDIT_LOG", str(tmp_path / "ignored.jsonl"))
    own.sitememory_after_navigation(url=visit.url, key="example.com", visit=visit)
    own.sitememory_after_navigation(url=visit.url, key="example.com", visit=visit)
    assert len(read_log(tmp_path / "own.jsonl")) == 2
    assert not (tmp_path / "ignored.jsonl").exists()


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from sitememory_plugin import Visit, make_plugin_manager

    go, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    plugin = make_plugin_manager().get_plugin("audit_log")
    open(f"{go}.ready{worker}", "w").close()
    while not os.path.exists(go):
        time.sleep(0.002)
    for i in range(count):
        url = f"https://w{worker}.example/{i}?pad=" + "x" * 3000
        visit = Visit(url=url, duration=0.1, status=200, timings={"load": 0.1})
        plugin.sitememory_after_navigation(url=url, key=f"w{worker}.example", visit=visit)
    """
)


def test_audit_log_concurrent_processes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    go = tmp_path / "go"
    workers, count = 3, 400
    env = {
        **os.environ,
        "SITEMEMORY_PLUGINS": str(HOOKS / "audit_log.py"),
        "SITEMEMORY_AUDIT_LOG": str(log),
    }
    env.pop("SITEMEMORY_DISABLE_PLUGINS", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(go), str(n), str(count)], env=env, cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for n in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(Path(f"{go}.ready{n}").exists() for n in range(workers)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "writers not ready"
            time.sleep(0.01)
        go.touch()  # all start writing at once
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    lines = read_log(log)  # every line parses
    assert len(lines) == workers * count
    seen = {(line["key"], line["url"].split("/")[3].split("?")[0]) for line in lines}
    assert seen == {(f"w{n}.example", str(i)) for n in range(workers) for i in range(count)}
