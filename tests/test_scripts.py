"""The repository's setup helpers in ``scripts/``: ``make browser`` finds or installs a Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import browser
from sitememory_plugin._browser import NOT_FOUND, chromium_executable

ROOT = Path(__file__).parent.parent


def no_chromium() -> str | None:
    raise RuntimeError(NOT_FOUND)


def test_a_chromium_found_is_described_without_installing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "apt_install", lambda package: pytest.fail(f"installed {package}"))
    monkeypatch.setattr(browser, "playwright_install", lambda: pytest.fail("installed Playwright's Chromium"))
    monkeypatch.setattr(browser, "chromium_executable", lambda: "/usr/bin/chromium")
    assert browser.ensure_chromium() == "/usr/bin/chromium"
    monkeypatch.setattr(browser, "chromium_executable", lambda: None)
    assert browser.ensure_chromium() == "Playwright's own Chromium"


def test_none_found_as_root_installs_debians_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []
    monkeypatch.setattr(browser, "can_install", lambda: True)
    monkeypatch.setattr(browser, "apt_install", installed.append)
    monkeypatch.setattr(browser, "playwright_install", lambda: pytest.fail("installed Playwright's Chromium"))
    monkeypatch.setattr(browser, "chromium_executable",
                        lambda: "/usr/bin/chromium" if installed else no_chromium())
    assert browser.ensure_chromium() == "/usr/bin/chromium"
    assert installed == ["chromium"]


def test_none_found_without_apt_installs_playwrights_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[str] = []

    def playwright_install() -> bool:
        installed.append("playwright chromium")
        return True

    monkeypatch.setattr(browser, "can_install", lambda: False)
    monkeypatch.setattr(browser, "apt_install", lambda package: pytest.fail(f"installed {package}"))
    monkeypatch.setattr(browser, "playwright_install", playwright_install)
    monkeypatch.setattr(browser, "chromium_executable", lambda: None if installed else no_chromium())
    assert browser.ensure_chromium() == "Playwright's own Chromium"
    assert installed == ["playwright chromium"]


@pytest.mark.parametrize("install_succeeds", [False, True])
def test_none_found_and_none_installable_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                              install_succeeds: bool) -> None:
    # Playwright's install failed (offline, say), or left no Chromium the library finds.
    tried: list[bool] = []

    def playwright_install() -> bool:
        tried.append(install_succeeds)
        return install_succeeds

    monkeypatch.setattr(browser, "can_install", lambda: False)
    monkeypatch.setattr(browser, "playwright_install", playwright_install)
    monkeypatch.setattr(browser, "chromium_executable", no_chromium)
    with pytest.raises(SystemExit) as exit_:
        browser.main()
    assert exit_.value.code == f"browser: {NOT_FOUND}"  # printed on stderr, exit status 1
    assert tried == [install_succeeds]
    assert "playwright install chromium" in NOT_FOUND and "apt-get install chromium" in NOT_FOUND


@pytest.mark.parametrize("returncode", [0, 1])
def test_playwright_install_uses_this_interpreter(monkeypatch: pytest.MonkeyPatch, returncode: int) -> None:
    commands: list[list[str]] = []

    def run(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, returncode)

    monkeypatch.setattr(subprocess, "run", run)
    assert browser.playwright_install() is (returncode == 0)
    assert commands == [[sys.executable, "-m", "playwright", "install", "chromium"]]


def test_a_failed_install_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    def apt_install(package: str) -> None:
        raise subprocess.CalledProcessError(100, ["apt-get", "install", "-y", package])

    monkeypatch.setattr(browser, "can_install", lambda: True)
    monkeypatch.setattr(browser, "apt_install", apt_install)
    monkeypatch.setattr(browser, "chromium_executable", no_chromium)
    with pytest.raises(SystemExit) as exit_:
        browser.main()
    assert str(exit_.value.code).startswith("browser: Command '['apt-get', 'install', '-y', 'chromium']'")


def test_make_browser_runs_from_the_repository_root() -> None:
    # What `make browser` runs; only where a Chromium is found, so that it installs nothing.
    try:
        chromium_executable()
    except RuntimeError:
        pytest.skip("no Chromium: the script would install one")
    result = subprocess.run([sys.executable, "-m", "scripts.browser"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("browser: ")
