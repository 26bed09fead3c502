"""Installing a Debian package the repository's setup needs (Chromium, and ``redis-server`` for the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess


def can_install() -> bool:
    """Whether :func:`apt_install` can work here: Debian-like, and running as root."""
    return os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get") is not None


def apt_install(package: str) -> None:
    """``apt-get install -y package``, refreshing the package lists once if that fails.

    :raises subprocess.CalledProcessError: the package could not be installed.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", package]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        # A fresh machine's package lists may be empty or stale.
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
