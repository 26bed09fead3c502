"""``make browser``: the Chromium the tests and the demo launch, installed if missing.

``python -m scripts.browser`` (from the repository's root) prints ``browser: `` and the Chromium
the library will launch (see :func:`sitememory_plugin._browser.chromium_executable`). When none is
found it installs one first: Debian's ``chromium`` when it runs as root, else Playwright's own
(``python -m playwright install chromium``); when there is still none it exits non-zero with
``browser: `` and what to install.
"""

from __future__ import annotations

import subprocess
import sys

from sitememory_plugin._browser import chromium_executable

from .apt import apt_install, can_install


def playwright_install() -> bool:
    """``python -m playwright install chromium`` with this interpreter; whether it succeeded."""
    install = [sys.executable, "-m", "playwright", "install", "chromium"]
    return subprocess.run(install, check=False).returncode == 0


def ensure_chromium() -> str:
    """Describe the Chromium found; if none is, install Debian's ``chromium`` first as root, else
    Playwright's own.

    :raises RuntimeError: none found and none could be installed (the message says what to run).
    :raises subprocess.CalledProcessError: ``apt-get`` failed.
    """
    try:
        found = chromium_executable()
    except RuntimeError:
        if can_install():
            apt_install("chromium")
        elif not playwright_install():
            raise
        found = chromium_executable()
    return found if found is not None else "Playwright's own Chromium"


def main() -> None:
    try:
        print(f"browser: {ensure_chromium()}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"browser: {exc}")


if __name__ == "__main__":
    main()
