"""``chromium_launch_options()``: Chromium's sandbox on unless it cannot work (root) or is asked off.

The options are checked for a root and a non-root euid; then Chromium is launched for real, as
root and as an unprivileged user, and the browser's own command line and sandbox report say
what it ran with.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sitememory_plugin
from sitememory_plugin import _browser, chromium_launch_options
from sitememory_plugin._browser import CHROMIUM_ARGS, SANDBOX_ENV

from ._env import unavailable
from ._sandbox_probe import UNREACHABLE

PROBE = Path(__file__).with_name("_sandbox_probe.py")
PACKAGE_ROOT = Path(sitememory_plugin.__file__).resolve().parent.parent
ROOT_REFUSES = "Running as root without --no-sandbox is not supported"
SANDBOXED, NOT_SANDBOXED = "You are adequately sandboxed.", "You are NOT adequately sandboxed."

as_root_only = pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() != 0, reason="needs root (to run Chromium as root and as nobody)"
)


def as_euid(monkeypatch: pytest.MonkeyPatch, uid: int, setting: str | None = None) -> None:
    """Compute the options as if the euid were ``uid``, with ``$SITEMEMORY_CHROMIUM_SANDBOX=setting``."""
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    if setting is None:
        monkeypatch.delenv(SANDBOX_ENV, raising=False)
    else:
        monkeypatch.setenv(SANDBOX_ENV, setting)


def test_non_root_default_asks_playwright_for_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    as_euid(monkeypatch, 1000)
    # Playwright's own Chromium: no executable_path, and nothing else but these.
    monkeypatch.setattr(_browser, "_playwright_chromium_installed", lambda: True)
    assert chromium_launch_options() == {"args": CHROMIUM_ARGS, "headless": True, "chromium_sandbox": True}
    assert "--no-sandbox" not in CHROMIUM_ARGS


def test_root_default_leaves_the_flag_to_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    as_euid(monkeypatch, 0)
    options = chromium_launch_options()
    assert options["chromium_sandbox"] is False  # Playwright then adds --no-sandbox, once
    assert "--no-sandbox" not in options["args"]
    assert options["executable_path"] == _browser.chromium_executable()


@pytest.mark.parametrize("uid", [0, 1000])
def test_an_explicit_choice_wins_over_euid_and_environment(monkeypatch: pytest.MonkeyPatch, uid: int) -> None:
    as_euid(monkeypatch, uid, "0")
    asked = chromium_launch_options(sandbox=True)
    assert asked["chromium_sandbox"] is True
    assert "--no-sandbox" not in asked["args"]
    as_euid(monkeypatch, uid, "1")
    assert chromium_launch_options(sandbox=False)["chromium_sandbox"] is False


@pytest.mark.parametrize(
    ("uid", "setting", "expected"),
    [(1000, "0", False), (1000, "off", False), (0, "1", True), (0, " TRUE ", True),
     (0, "", False), (1000, "", True)],
)
def test_the_environment_sets_the_default(
    monkeypatch: pytest.MonkeyPatch, uid: int, setting: str, expected: bool
) -> None:
    as_euid(monkeypatch, uid, setting)
    assert chromium_launch_options()["chromium_sandbox"] is expected


def test_a_setting_that_is_neither_on_nor_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    as_euid(monkeypatch, 1000, "sometimes")
    with pytest.raises(ValueError, match="SITEMEMORY_CHROMIUM_SANDBOX='sometimes'"):
        chromium_launch_options()


# -- real launches --------------------------------------------------------------------------------


def probe(mode: str, home: Path, user: int | None = None) -> dict[str, Any]:
    """Run tests/_sandbox_probe.py, as ``user`` if given, with ``home`` as HOME and TMPDIR."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),  # the profile Playwright creates there identifies our browser process
        "PYTHONPATH": str(PACKAGE_ROOT),
    }
    if os.environ.get("SITEMEMORY_CHROMIUM"):
        env["SITEMEMORY_CHROMIUM"] = os.environ["SITEMEMORY_CHROMIUM"]
    if _browser.chromium_executable() is None:
        # Playwright's own Chromium, found where this user keeps it rather than in ``home``.
        env["PLAYWRIGHT_BROWSERS_PATH"] = str(_browser._browsers_dirs()[0])
    command = [sys.executable, str(PROBE), mode, *([] if user is None else [str(user)])]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=home, timeout=180)
    if done.returncode == UNREACHABLE:
        unavailable(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["euid"] == (os.geteuid() if user is None else user)
    return report


@pytest.fixture
def nobody() -> Iterator[tuple[int, Path]]:
    """The unprivileged ``nobody`` and a HOME it owns, under /tmp (tmp_path is root's alone)."""
    try:
        uid = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        unavailable("no user 'nobody'")
    home = Path(tempfile.mkdtemp(prefix="sitememory-sandbox-"))
    os.chown(home, uid, pwd.getpwuid(uid).pw_gid)
    try:
        yield uid, home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def only_one_no_sandbox(report: dict[str, Any]) -> None:
    assert report["cmdlines"], report  # the browser process was found
    for argv in report["cmdlines"]:
        assert argv.count("--no-sandbox") == 1, argv


def verdict(report: dict[str, Any]) -> str | None:
    """The last line of chrome://sandbox; ``None`` from Playwright's headless shell, which lacks the page."""
    if report["sandbox_report"] is None:
        # A system Chromium is a full browser: the page must be there.
        assert "executable_path" not in report["options"], report["sandbox_report_error"]
        return None
    return str(report["sandbox_report"]).strip().splitlines()[-1]


@as_root_only
def test_as_root_the_default_launches_without_the_sandbox(tmp_path: Path) -> None:
    report = probe("default", tmp_path)
    only_one_no_sandbox(report)  # Playwright's, from chromium_sandbox=False; not a second of ours
    assert report["title"] == "loaded"
    assert verdict(report) in (NOT_SANDBOXED, None)
    assert report["options"]["chromium_sandbox"] is False


@as_root_only
def test_as_root_asking_for_the_sandbox_adds_no_no_sandbox(tmp_path: Path) -> None:
    # Chromium refuses to start sandboxed as root: the caller learns it, rather than the sandbox
    # being dropped quietly.
    report = probe("on", tmp_path)
    assert ROOT_REFUSES in report["error"], report["error"]
    assert report["launched"], report["error"]
    assert "--no-sandbox" not in report["launched"]


@as_root_only
def test_a_non_root_user_gets_the_sandbox(nobody: tuple[int, Path]) -> None:
    uid, home = nobody
    report = probe("default", home, uid)
    if "error" in report:
        assert "--no-sandbox" not in report["launched"], report["error"]
        assert "Chromium sandboxing failed" in report["error"], report["error"]
        pytest.skip(f"Chromium cannot sandbox itself for a non-root user here: {report['error']}")
    assert report["cmdlines"], report
    for argv in report["cmdlines"]:
        assert "--no-sandbox" not in argv, argv
    assert report["title"] == "loaded"
    assert verdict(report) in (SANDBOXED, None)
    assert report["options"]["chromium_sandbox"] is True


@as_root_only
def test_a_non_root_user_can_turn_the_sandbox_off(nobody: tuple[int, Path]) -> None:
    uid, home = nobody
    report = probe("off", home, uid)
    only_one_no_sandbox(report)
    assert report["title"] == "loaded"
    assert verdict(report) in (NOT_SANDBOXED, None)
