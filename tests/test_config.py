"""Constructor options: where the store lives, and invalid settings."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from sitememory_plugin import SiteMemory


def test_default_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEMEMORY_PATH", str(tmp_path / "env-store"))
    memory = SiteMemory()
    memory.record_visit_sync("env.example", 1.0)
    assert memory.storage_path == tmp_path / "env-store"
    assert list((tmp_path / "env-store").glob("sites/*/env.example.json"))


def test_default_path_is_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SITEMEMORY_PATH", raising=False)
    assert SiteMemory().storage_path == Path(platformdirs.user_data_dir("sitememory"))


def test_invalid_options(store_path: Path) -> None:
    with pytest.raises(ValueError):
        SiteMemory(store_path, durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SiteMemory(store_path, cache_ttl=-1)
    for interval in (-1, 0):
        with pytest.raises(ValueError):
            SiteMemory(store_path, flush_interval=interval)
