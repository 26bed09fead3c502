"""Finding a Chromium to launch: Playwright's own if installed, else the system's.

Playwright's own Chromium is used when it is installed; otherwise a system Chromium
(``$SITEMEMORY_CHROMIUM``, ``/usr/bin/chromium`` ...) is passed as ``executable_path``.
``python -m sitememory_plugin._browser`` says which one, and installs Debian's ``chromium``
when none is found and it runs as root (the setup of ``make test`` and ``make demo``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ._apt import apt_install, can_install

CHROMIUM_ARGS: list[str] = [
    # Containers and CI often run as root without user namespaces.
    "--no-sandbox",
    "--disable-gpu",
    # Background fetches would add noise to request counts and slow startup offline.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_BROWSER_PREFIXES = ("chromium-", "chromium_headless_shell-")
_EXECUTABLE_NAMES = frozenset(
    {
        "chrome",
        "chrome.exe",
        "headless_shell",
        "headless_shell.exe",
        "chrome-headless-shell",
        "chrome-headless-shell.exe",
        "Chromium",
        "Google Chrome for Testing",
    }
)


def _browsers_dirs() -> list[Path]:
    """Where Playwright keeps downloaded browsers, per its own lookup rules."""
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":
        # "0" means "inside the installed package", next to the driver.
        spec = importlib.util.find_spec("playwright")
        if spec is None or spec.origin is None:
            return []
        return [Path(spec.origin).parent / "driver" / "package" / ".local-browsers"]
    if configured:
        return [Path(configured).expanduser()]
    if sys.platform == "darwin":
        return [Path.home() / "Library" / "Caches" / "ms-playwright"]
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return [Path(local) / "ms-playwright"] if local else []
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(cache) / "ms-playwright"]


def _wanted_revisions() -> set[str]:
    """Chromium revisions the installed Playwright expects, or an empty set if unknown."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or spec.origin is None:
        return set()
    manifest = Path(spec.origin).parent / "driver" / "package" / "browsers.json"
    try:
        browsers = json.loads(manifest.read_text(encoding="utf-8"))["browsers"]
        return {
            str(b["revision"]) for b in browsers if b.get("name") in ("chromium", "chromium-headless-shell")
        }
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _has_executable(root: Path, depth: int = 4) -> bool:
    try:
        entries = list(root.iterdir())
    except OSError:
        return False
    for entry in entries:
        if entry.is_file() and entry.name in _EXECUTABLE_NAMES and os.access(entry, os.X_OK):
            return True
    return depth > 0 and any(_has_executable(e, depth - 1) for e in entries if e.is_dir())


def _playwright_chromium_installed() -> bool:
    # A Chromium left by another Playwright version would not be used by this one, so match
    # the revision when the manifest says which one it wants.
    revisions = _wanted_revisions()
    for browsers in _browsers_dirs():
        try:
            candidates = [
                d for d in browsers.iterdir() if d.is_dir() and d.name.startswith(_BROWSER_PREFIXES)
            ]
        except OSError:
            continue
        for directory in candidates:
            revision = directory.name.rpartition("-")[2]
            if revisions and revision not in revisions:
                continue
            if _has_executable(directory):
                return True
    return False


NOT_FOUND = (
    "No Chromium found. Install Playwright's browser with 'python -m playwright install chromium', "
    "or a system Chromium (e.g. 'sudo apt-get install chromium'), or set SITEMEMORY_CHROMIUM to a "
    "Chromium executable."
)


def chromium_executable() -> str | None:
    """The Chromium to pass as ``executable_path``, or ``None`` to let Playwright use its own."""
    if _playwright_chromium_installed():
        return None
    override = os.environ.get("SITEMEMORY_CHROMIUM")
    if override:
        return override
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(NOT_FOUND)


def launch_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch()`` that work on this machine: headless, flags a
    container needs, and the executable when Playwright's own Chromium is not installed.

    Public as :func:`sitememory_plugin.chromium_launch_options`.
    """
    kwargs: dict[str, Any] = {"args": list(CHROMIUM_ARGS), "headless": True}
    executable = chromium_executable()
    if executable is not None:
        kwargs["executable_path"] = executable
    return kwargs


def ensure_chromium() -> str:
    """Describe the Chromium found; install Debian's ``chromium`` first if none is and we are root.

    :raises RuntimeError: none found and none could be installed (the message says what to run).
    """
    try:
        found = chromium_executable()
    except RuntimeError:
        if not can_install():
            raise
        apt_install("chromium")
        found = chromium_executable()
    return found if found is not None else "Playwright's own Chromium"


if __name__ == "__main__":
    try:
        print(f"browser: {ensure_chromium()}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"browser: {exc}")
