"""Launch Chromium with ``chromium_launch_options()`` and print, as JSON, what the browser ran with.

``python _sandbox_probe.py default|on|off [UID]``: ``default`` calls it with no argument, as the
README's examples do; ``on``/``off`` pass ``sandbox=True``/``False``. With a UID (run as root),
the probe first becomes that user for good, so Playwright's driver and Chromium start
unprivileged. It prints the options, the browser process's command line (from ``/proc``, found by
the profile directory Playwright makes under ``$TMPDIR``), whether a page loads, Chromium's own
sandbox report (``chrome://sandbox``; Playwright's headless shell has no such page), or the
launch error with the command line from Playwright's call log.
"""

from __future__ import annotations

import inspect
import json
import os
import pwd
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import playwright
from playwright.sync_api import Error, sync_playwright

from sitememory_plugin import chromium_launch_options

#: Exit status when the unprivileged user cannot run Playwright's driver (a venv under /root).
UNREACHABLE = 3


def become(uid: int) -> None:
    """Drop to ``uid`` (and its group, no others) for good; here, not in ``subprocess``: the
    interpreter was reachable to start, and may live where that user cannot look (``/root``)."""
    os.setgroups([])
    os.setgid(pwd.getpwuid(uid).pw_gid)
    os.setuid(uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise SystemExit("still able to become root")


def browser_cmdlines(profile_root: str) -> list[list[str]]:
    """Command lines of the browser processes whose profile lies under ``profile_root``."""
    marker = f"--user-data-dir={profile_root}"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue  # gone, or not ours to read
        # The browser process itself; its zygote, utility and renderer processes carry --type=.
        if any(a.startswith(marker) for a in argv) and not any(a.startswith("--type=") for a in argv):
            found.append(argv)
    return found


def launched_command(error: str) -> list[str]:
    """The command line Playwright logged as ``<launching>`` in a launch error."""
    for line in error.splitlines():
        _, sep, command = line.partition("<launching> ")
        if sep:
            return command.split()
    return []


def main(mode: str) -> dict[str, Any]:
    if mode == "default":
        options = chromium_launch_options()
    else:
        options = chromium_launch_options(sandbox=mode == "on")
    report: dict[str, Any] = {"euid": os.geteuid(), "options": options}
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(**options)
        except Error as exc:
            report["error"] = str(exc)
            report["launched"] = launched_command(str(exc))
            return report
        try:
            page = browser.new_page()
            report["cmdlines"] = browser_cmdlines(tempfile.gettempdir())
            page.goto("data:text/html,<title>loaded</title>")
            report["title"] = page.title()
            try:
                page.goto("chrome://sandbox")
                report["sandbox_report"] = page.inner_text("body")
            except Error as exc:
                # Playwright's headless shell has no such page; the test decides if it may lack it.
                report["sandbox_report"] = None
                report["sandbox_report_error"] = str(exc)
        finally:
            browser.close()
    return report


def reachable_driver(uid: int) -> None:
    """Make Playwright's driver runnable by ``uid``: when the installed package lies under a
    directory that others may not enter (a checkout in a private directory), run again, still
    as root, with a copy of the package in the user's HOME first on the path."""
    package = Path(inspect.getfile(playwright)).parent
    if all(d.stat().st_mode & stat.S_IXOTH for d in package.parents) or os.environ.get(_COPIED):
        return
    copy = Path(os.environ["HOME"]) / "site-packages"
    shutil.copytree(package, copy / "playwright", symlinks=True)
    gid = pwd.getpwuid(uid).pw_gid
    for root, dirs, files in os.walk(copy):
        for name in (root, *(os.path.join(root, n) for n in dirs + files)):
            os.lchown(name, uid, gid)
    env = {**os.environ, _COPIED: "1",
           "PYTHONPATH": os.pathsep.join([str(copy), os.environ.get("PYTHONPATH", "")])}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


_COPIED = "SITEMEMORY_PROBE_DRIVER_COPIED"


if __name__ == "__main__":
    if len(sys.argv) > 2:
        reachable_driver(int(sys.argv[2]))
        become(int(sys.argv[2]))
        node = Path(inspect.getfile(playwright)).parent / "driver" / "node"
        if not os.access(node, os.X_OK):
            print(f"{node} is out of reach of uid {os.getuid()}", file=sys.stderr)
            sys.exit(UNREACHABLE)
    print(json.dumps(main(sys.argv[1])))
