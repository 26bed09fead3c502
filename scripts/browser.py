"""``make browser``: the Chromium the tests and the demo launch, installed if missing.

``python -m scripts.browser`` (from the repository's root) prints ``browser: `` and the Chromium
the library will launch (see :func:`sitememory_plugin._browser.chromium_executable`), installing
Debian's ``chromium`` first when none is found and it runs as root; otherwise it exits non-zero
with ``browser: `` and what to install.
"""

from __future__ import annotations

import subprocess
import sys

from sitememory_plugin._browser import chromium_executable

from .apt import apt_install, can_install


def ensure_chromium() -> str:
    """Describe the Chromium found; install Debian's ``chromium`` first if none is and we are root.

    :raises RuntimeError: none found and none could be installed (the message says what to run).
    :raises subprocess.CalledProcessError: ``apt-get`` failed.
    """
    try:
        found = chromium_executable()
    except RuntimeError:
        if not can_install():
            raise
        apt_install("chromium")
        found = chromium_executable()
    return found if found is not None else "Playwright's own Chromium"


def main() -> None:
    try:
        print(f"browser: {ensure_chromium()}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"browser: {exc}")


if __name__ == "__main__":
    main()
