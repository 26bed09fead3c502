"""``make node``: Microsoft's Playwright MCP server (``@playwright/mcp``), pinned in ``node/``.

``python -m scripts.node`` (from the repository's root) prints ``node: `` and the server's pinned
version, running ``npm ci`` in ``node/`` first unless every package ``node/package.json`` pins
is installed there at its version (the server, and the consent managers the consent tests serve).
Without ``node`` or ``npm`` it installs Debian's ``nodejs`` and ``npm`` when it runs as root; when
there is still no Node.js new enough it exits non-zero with ``node: `` and what to install.
:func:`playwright_mcp_command` starts the installed server without npx and without the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .apt import apt_install, can_install

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PACKAGE = "@playwright/mcp"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def pinned_version() -> str:
    """The version of ``@playwright/mcp`` that ``node/package.json`` pins."""
    return str(read_json(NODE_DIR / "package.json")["dependencies"][PACKAGE])


def pinned_versions() -> dict[str, str]:
    """Every package ``node/package.json`` pins (the consent tests' consent managers too)."""
    pinned = read_json(NODE_DIR / "package.json")["dependencies"]
    return {name: str(version) for name, version in pinned.items()}


def installed_version(package: str = PACKAGE) -> str | None:
    """The version of ``package`` in ``node/node_modules``, or None."""
    try:
        return str(read_json(NODE_DIR / "node_modules" / package / "package.json")["version"])
    except (OSError, ValueError, KeyError):
        return None


def all_installed() -> bool:
    """Whether every pinned package is installed at its pinned version."""
    return all(installed_version(name) == version for name, version in pinned_versions().items())


def minimum_node() -> int:
    """The oldest Node.js major version ``node/package.json`` accepts (its ``engines``: ``>=N``)."""
    found = re.fullmatch(r">=\s*(\d+)", read_json(NODE_DIR / "package.json")["engines"]["node"].strip())
    if found is None:
        raise ValueError("node/package.json: engines.node must read '>=N'")
    return int(found.group(1))


def node_major(node: str) -> int:
    """The major version of the Node.js at ``node`` (``v20.20.2`` -> 20)."""
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return int(version.strip().lstrip("v").split(".")[0])


def ensure_node() -> tuple[str, str]:
    """The paths of ``node`` and ``npm``, installing Debian's ``nodejs`` and ``npm`` first as root.

    :raises RuntimeError: none found or too old (the message says what to install).
    :raises subprocess.CalledProcessError: ``apt-get`` failed.
    """
    if can_install():
        for command, package in (("node", "nodejs"), ("npm", "npm")):
            if shutil.which(command) is None:
                apt_install(package)
    node, npm, minimum = shutil.which("node"), shutil.which("npm"), minimum_node()
    if node is None or npm is None:
        raise RuntimeError(f"node or npm not found: install Node.js {minimum} or newer with npm "
                           f"(https://nodejs.org/), or run 'make node' as root on Debian 13")
    if (major := node_major(node)) < minimum:
        raise RuntimeError(f"{node} is Node.js {major}, {PACKAGE} needs {minimum} or newer: install a newer "
                           f"one (https://nodejs.org/; Debian 12's nodejs is 18)")
    return node, npm


def ensure_playwright_mcp() -> str:
    """The pinned ``@playwright/mcp`` version, installed into ``node/`` with ``npm ci`` (with every
    other pinned package) if any is not.

    :raises RuntimeError: no usable Node.js (see :func:`ensure_node`).
    :raises subprocess.CalledProcessError: ``apt-get`` or ``npm ci`` failed.
    """
    pinned = pinned_version()
    if not all_installed():
        _, npm = ensure_node()
        # No browser downloads: the tests drive a Chromium of their own over CDP.
        env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, env=env, check=True)
        if not all_installed():
            raise RuntimeError(f"npm ci did not install {pinned_versions()} into {NODE_DIR / 'node_modules'}")
    return pinned


def playwright_mcp_command() -> list[str]:
    """The command line that starts the installed Playwright MCP server (stdio) with ``node``.

    :raises RuntimeError: ``node`` or the server is missing (run ``make node``).
    """
    node, cli = shutil.which("node"), NODE_DIR / "node_modules" / PACKAGE / "cli.js"
    if node is None or not cli.is_file():
        raise RuntimeError(f"{PACKAGE} is not installed in {NODE_DIR}: run 'make node'")
    return [node, str(cli)]


def main() -> None:
    try:
        print(f"node: {PACKAGE} {ensure_playwright_mcp()}")
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"node: {exc}")


if __name__ == "__main__":
    main()
