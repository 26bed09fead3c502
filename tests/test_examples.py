"""Every example runs, so none rots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._env import unavailable
from ._site import TestSite

EXAMPLES = Path(__file__).parent.parent / "examples"


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``python *args`` with a store in ``tmp_path`` and no plugins from the environment; its stdout."""
    environ = {**os.environ, "SITEMEMORY_PATH": str(tmp_path / "memory"), **(env or {})}
    for name in ("SITEMEMORY_PLUGINS", "SITEMEMORY_DISABLE_PLUGINS"):
        environ.pop(name, None)
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=environ)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("quickstart_async.py", "try selectors in this order: ('#q', 'input[name=q]')"),
        ("quickstart_sync.py", "news.example: 2 visits, success rate 50%, p95 load 7.5 s"),
    ],
)
def test_quickstarts(script: str, expected: str, tmp_path: Path) -> None:
    assert expected in run(tmp_path, str(EXAMPLES / script), str(tmp_path / "store"))


def test_parallel_agents_demo(tmp_path: Path) -> None:
    out = run(tmp_path, str(EXAMPLES / "parallel_agents.py"), "--agents", "3", "--tasks", "40",
              "--store", str(tmp_path / "store"), timeout=300)
    assert "visits recorded: 120 of 120 sent (exact)" in out
    assert "('input[name=q]', '#search')" in out


def test_parallel_agents_share_a_redis_store(tmp_path: Path, redis_url: str) -> None:
    out = run(tmp_path, str(EXAMPLES / "parallel_agents.py"), "--agents", "3", "--tasks", "40",
              "--store", redis_url, timeout=300)
    assert "visits recorded: 120 of 120 sent (exact)" in out
    assert "('input[name=q]', '#search')" in out


@pytest.mark.parametrize("script", ["browser_sync.py", "browser_async.py"])
def test_browser_examples_record_visits_and_selectors(script: str, tmp_path: Path) -> None:
    out = run(tmp_path, str(EXAMPLES / script))
    # Two searches: two visits each to the form and the results; the second search found its
    # elements from memory alone.
    assert re.search(r"Site memory for 127\.0\.0\.1:\d+:\n- 4 visits, 100% succeeded", out), out
    assert '- selector for "search box": "#q" (confirmed 0 s ago)\n' in out
    assert '- selector for "search button": "button' in out
    assert (tmp_path / "memory" / "store.json").exists()


def test_custom_hook_example_logs_slow_navigations_and_adds_a_prompt_line(tmp_path: Path) -> None:
    out = run(tmp_path, str(EXAMPLES / "custom_hook.py"))
    slow = re.findall(r"slow navigation: http://127\.0\.0\.1:\d+/(\S+) took", out)
    assert slow == ["slow"], out  # /fast is not logged
    assert re.search(r"- 2 visits, 100% succeeded.*\n- team note: 127\.0\.0\.1:\d+ is our staging", out), out


# The plugin package's own documentation says it joins make_plugin_manager() once installed.
PLUGIN_SCRIPT = """
import sys

from playwright.sync_api import sync_playwright

from sitememory_plugin import SiteMemory, attach, make_plugin_manager
from sitememory_plugin._browser import launch_kwargs

plugins = make_plugin_manager()
print("plugins:", [name for name, _ in plugins.list_name_plugin()])
with SiteMemory() as memory, sync_playwright() as p:
    browser = p.chromium.launch(**launch_kwargs())
    with attach(browser.new_context(), memory, plugins=plugins) as site:
        site.goto(sys.argv[1])
        print(site.prompt_context())
    browser.close()
"""


def test_plugin_package_installs_and_joins_attach(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(EXAMPLES / "plugin_package", tmp_path / "plugin_package",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site-packages"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / "use_plugin.py"
    script.write_text(PLUGIN_SCRIPT)
    log = tmp_path / "slow.tsv"
    with TestSite() as web:
        out = run(tmp_path, str(script), web.url("/page/a"), env={
            "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])),
            "SITEMEMORY_SLOWLOG": str(log),
            "SITEMEMORY_SLOWLOG_SECONDS": "0",  # every visit is "slow", so the test needs no slow page
        })
        expected = f"\t127.0.0.1:{web.port}\t"
    assert "'slowlog'" in out
    assert re.search(r"- slow site: p95 load \d+\.\d s, allow extra time", out), out
    [line] = log.read_text().splitlines()
    assert expected in line and line.endswith(f"\t200\t{web.url('/page/a')}")


def test_mcp_agent_runs_both_servers_of_the_hosts_configuration(tmp_path: Path) -> None:
    # As a host would: `sitememory` from the venv on PATH, `npx` fetching the pinned Playwright
    # MCP (from npm's cache, which `make node` filled).
    if shutil.which("npx") is None:
        unavailable("npx is missing (make node)")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SITEMEMORY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = run(tmp_path, str(EXAMPLES / "mcp_agent.py"), env=env, timeout=300)
    assert re.search(r"The memory knows nothing about 127\.0\.0\.1:\d+ yet\.", out), out
    assert re.search(r"Site memory for 127\.0\.0\.1:\d+:\n- 2 visits, 100% succeeded", out), out
    assert '- selector for "search box": "#q"' in out
    assert '- known steps for "search": 2 actions' in out
