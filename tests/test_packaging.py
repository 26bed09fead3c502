"""The wheel: what it holds, and that it installs and runs in a clean virtual environment;
the version, written once in pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import sitememory_plugin

ROOT = Path(__file__).parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def test_the_version_is_the_one_in_pyproject() -> None:
    assert sitememory_plugin.__version__ == importlib.metadata.version("sitememory-plugin") == VERSION


def test_the_version_of_a_source_tree_without_metadata_is_unknown() -> None:
    without_metadata = (
        "import importlib.metadata as m\n"
        "def version(name): raise m.PackageNotFoundError(name)\n"
        "m.version = version\n"
        "import sitememory_plugin; print(sitememory_plugin.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", without_metadata], capture_output=True, text=True,
                         check=True, cwd=ROOT, timeout=60).stdout
    assert out.strip() == "0+unknown"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "sitememory_plugin", src / "sitememory_plugin",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("sitememory_plugin-*.whl")
    return built


def test_the_wheel_holds_the_package_typed_with_its_entry_points(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert "sitememory_plugin/py.typed" in names
    for module in ("__init__.py", "hookspecs.py", "pytest_plugin.py", "_core/filestore.py",
                   "_core/redisstore.py", "_cli/__init__.py", "_playwright/attach.py",
                   "_builtins/recorder.py", "_demo/__init__.py"):
        assert f"sitememory_plugin/{module}" in names, module
    assert not any(n.startswith(("tests/", "bench/", "hooks/", "examples/", "scripts/")) for n in names)
    # The setup's helpers (apt-get as root) stay in the repository's scripts/.
    assert not any(n.startswith("sitememory_plugin/_apt") for n in names)
    assert "[console_scripts]\nsitememory = sitememory_plugin._cli:main" in entry_points
    assert "[pytest11]\nsitememory = sitememory_plugin.pytest_plugin" in entry_points
    for requirement in ("Requires-Dist: playwright", "Requires-Dist: pluggy", "Requires-Dist: portalocker",
                        "Provides-Extra: dev", "Provides-Extra: hooks", "Classifier: Typing :: Typed"):
        assert requirement in metadata, requirement


def test_the_wheel_installs_and_runs_in_a_clean_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    # The dependencies come from this environment (no network); the package itself from the wheel.
    (site_packages / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    where = subprocess.run(  # not from the repository's directory: it would import the sources
        [str(python), "-c", "import sitememory_plugin as s; print(s.__file__, s.__version__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout
    assert where.startswith(str(site_packages)), where
    assert where.split()[-1] == VERSION, where
    helpers = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('sitememory_plugin._apt'), "
         "u.find_spec('scripts'))"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout
    assert helpers.split() == ["None", "None"], helpers
    store = tmp_path / "store"
    cli = subprocess.run(
        [str(env_dir / "bin" / "sitememory"), "--store", str(store), "plugins", "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert "recorder" in cli.stdout


def test_the_sdk_is_imported_only_by_the_mcp_command() -> None:
    probe = ("import sys, sitememory_plugin, sitememory_plugin._cli; "
             "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    # Without the extra, the command says what to install.
    missing = ("import sys; sys.modules['mcp'] = None; from sitememory_plugin._cli import main; "
               "sys.exit(main(['mcp']))")
    done = subprocess.run([sys.executable, "-c", missing], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'sitememory-plugin[mcp]'" in done.stderr
