"""Finding a Chromium to launch: Playwright's own if installed, else the system's.

Playwright's own Chromium is used when it is installed; otherwise a system Chromium
(``$SITEMEMORY_CHROMIUM``, ``/usr/bin/chromium`` ...) is passed as ``executable_path``; when there
is neither, the error says what to install. Chromium's sandbox stays on unless it cannot work (as
root) or is asked off: :func:`launch_kwargs`. Installing a Chromium is left to the user (and, in
the repository, to ``make browser``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

#: Flags for every launch. ``--no-sandbox`` is not one: :func:`launch_kwargs` leaves it to
#: Playwright's ``chromium_sandbox`` option, so a caller who wants the sandbox gets it.
CHROMIUM_ARGS: list[str] = [
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


SANDBOX_ENV = "SITEMEMORY_CHROMIUM_SANDBOX"
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def _running_as_root() -> bool:
    return sys.platform != "win32" and os.geteuid() == 0


def sandbox_wanted(sandbox: bool | None = None) -> bool:
    """Whether Chromium's sandbox should be on: ``sandbox`` when given, else
    ``$SITEMEMORY_CHROMIUM_SANDBOX`` (``1``/``0``) when set, else on unless running as root
    (euid 0), where Chromium refuses to start sandboxed.

    :raises ValueError: ``$SITEMEMORY_CHROMIUM_SANDBOX`` is neither on nor off.
    """
    if sandbox is not None:
        return sandbox
    configured = os.environ.get(SANDBOX_ENV, "").strip().lower()
    if configured in _ON:
        return True
    if configured in _OFF:
        return False
    if configured:
        raise ValueError(f"{SANDBOX_ENV}={os.environ[SANDBOX_ENV]!r}: expected 1 (sandbox on) or 0 (off)")
    return not _running_as_root()


def launch_kwargs(*, sandbox: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch()`` that work on this machine: headless, quieter
    startup, Chromium's sandbox where it can work, and the executable when Playwright's own
    Chromium is not installed.

    ``sandbox=None`` (the default) keeps the sandbox on unless ``$SITEMEMORY_CHROMIUM_SANDBOX=0``
    or the process runs as root; ``True`` always asks for it (as root Chromium then refuses to
    start: "Running as root without --no-sandbox is not supported"); ``False`` turns it off.
    Where user namespaces are blocked (Ubuntu 23.10+ AppArmor for Playwright's own Chromium,
    containers' seccomp) a sandboxed launch fails with "No usable sandbox!": allow them, or turn
    the sandbox off. The choice travels as ``chromium_sandbox``; keep that key, since Playwright
    adds ``--no-sandbox`` itself when it is missing or false.

    :raises ValueError: ``$SITEMEMORY_CHROMIUM_SANDBOX`` is neither on nor off.
    :raises RuntimeError: no Chromium found (the message says what to install).

    Public as :func:`sitememory_plugin.chromium_launch_options`.
    """
    kwargs: dict[str, Any] = {
        "args": list(CHROMIUM_ARGS),
        "headless": True,
        "chromium_sandbox": sandbox_wanted(sandbox),
    }
    executable = chromium_executable()
    if executable is not None:
        kwargs["executable_path"] = executable
    return kwargs
