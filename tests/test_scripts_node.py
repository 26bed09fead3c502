"""``make node``: the pinned Playwright MCP server in ``node/``, and the command that starts it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scripts import node
from tests._env import unavailable


def test_the_lockfile_holds_the_pinned_versions() -> None:
    lock = json.loads((node.NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    pinned = node.pinned_versions()
    assert pinned[node.PACKAGE] == node.pinned_version()
    assert {"vanilla-cookieconsent", "cookieconsent"} <= pinned.keys()  # the consent tests' managers
    assert lock["packages"][""]["dependencies"] == pinned
    for name, version in pinned.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_the_hosts_example_runs_the_pinned_server() -> None:
    # The example a user copies names a version: the one `make node` installs and tests.
    hosts = json.loads((Path(__file__).parent.parent / "examples" / "mcp_hosts.json").read_text())
    assert f"{node.PACKAGE}@{node.pinned_version()}" in hosts["mcpServers"]["playwright"]["args"]


def test_the_pinned_version_installed_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "installed_version", lambda name=node.PACKAGE: node.pinned_versions()[name])
    monkeypatch.setattr(node, "ensure_node", lambda: pytest.fail("looked for npm"))
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: pytest.fail(f"ran {args}"))
    assert node.ensure_playwright_mcp() == node.pinned_version()


@pytest.mark.parametrize("before", [None, "0.0.1"])
def test_another_version_or_none_runs_npm_ci(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    installed = [before]
    commands: list[tuple[list[str], Path, str]] = []

    def run(command: list[str], cwd: Path, env: dict[str, str], check: bool) -> Any:
        commands.append((command, cwd, env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"]))
        installed.append(node.pinned_version())

    monkeypatch.setattr(node, "all_installed", lambda: installed[-1] == node.pinned_version())
    monkeypatch.setattr(node, "ensure_node", lambda: ("/usr/bin/node", "/usr/bin/npm"))
    monkeypatch.setattr(subprocess, "run", run)
    assert node.ensure_playwright_mcp() == node.pinned_version()
    assert commands == [(["/usr/bin/npm", "ci", "--no-audit", "--no-fund"], node.NODE_DIR, "1")]


def test_a_node_too_old_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "can_install", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda command: f"/usr/bin/{command}")
    monkeypatch.setattr(node, "node_major", lambda path: 18)
    with pytest.raises(RuntimeError) as error:
        node.ensure_node()
    needs = f"/usr/bin/node is Node.js 18, {node.PACKAGE} needs {node.minimum_node()} or newer"
    assert str(error.value).startswith(needs)


def test_the_installed_server_starts_with_node() -> None:
    # The real server, without npx or the network: it answers --version with the pinned version.
    if node.installed_version() != node.pinned_version():
        unavailable(f"{node.PACKAGE} {node.pinned_version()} is not installed in node/: run 'make node'")
    result = subprocess.run([*node.playwright_mcp_command(), "--version"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Version {node.pinned_version()}"
