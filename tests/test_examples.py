"""Every example runs, so none rots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("quickstart_async.py", "try selectors in this order: ('#q', 'input[name=q]')"),
        ("quickstart_sync.py", "news.example: 2 visits, success rate 50%, p95 load 7.5 s"),
    ],
)
def test_quickstarts(script: str, expected: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


def test_parallel_agents_demo(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "parallel_agents.py"), "--agents", "3", "--tasks", "40",
         "--store", str(tmp_path / "store")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "visits recorded: 120 of 120 sent (exact)" in done.stdout
    assert "('input[name=q]', '#search')" in done.stdout
