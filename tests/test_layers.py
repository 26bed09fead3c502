"""The package's layers import only downward: core, memory, hooks, adapters, then the CLI and
the demo; the public ``__init__`` re-exports from all of them.

Read from the source with ``ast`` (imports inside functions count too), so a new upward arrow
fails here before it tangles the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sitememory_plugin"

#: Each layer by the module prefixes it holds, lowest first.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("_core",)),
    ("memory", ("_gates", "_memory")),
    ("hooks", (
        "_drive", "_hooktypes", "hookspecs", "_hookcall", "_builtins", "_plugins", "_sitekeys", "_context",
    )),
    ("adapters", ("_browser", "_playwright", "integrations", "pytest_plugin", "_report")),
    ("cli", ("_cli", "_demo", "__main__")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def _resolved(base: str, name: str) -> str:
    """What ``from <base> import <name>`` imports: the submodule if there is one, else ``base``
    itself (``"__init__"`` for the package: the public API)."""
    candidate = ".".join(p for p in (base, name) if p)
    path = PACKAGE.joinpath(*candidate.split("."))
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return candidate
    return base or "__init__"


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (relative to the package), and outside packages
    (prefixed ``!``)."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> set[str]:
    """:func:`imports` of ``source``, the text of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name == "sitememory_plugin" or name.startswith("sitememory_plugin."):
                    found.add(name.removeprefix("sitememory_plugin").lstrip(".") or "__init__")
                else:
                    found.add("!" + name)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 0 and not (name == "sitememory_plugin" or name.startswith("sitememory_plugin.")):
                found.add("!" + name)
                continue
            if node.level == 0:
                base = name.removeprefix("sitememory_plugin").lstrip(".")
            else:
                parts = package[: len(package) - (node.level - 1)]
                base = ".".join([*parts, *(name.split(".") if name else [])])
            found.update(_resolved(base, a.name) for a in node.names)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_imports_only_its_layer_and_those_below(path: Path) -> None:
    module = module_name(path)
    if module == "":
        return  # the public API re-exports every layer
    mine = layer_of(module)
    assert mine is not None, f"{module} belongs to no layer: add it to LAYERS"
    upward = []
    for target in imports(path):
        if target.startswith("!"):
            continue
        theirs = layer_of(target)
        if target == "__init__" and mine < len(LAYERS) - 1:  # the top layer may use it as users do
            upward.append("sitememory_plugin (the public API)")
        elif theirs is not None and theirs > mine:
            upward.append(f"{target} ({LAYERS[theirs][0]})")
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports upward: {upward}"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if module_name(p).split(".")[0] in ("_builtins", "hookspecs", "_hooktypes")],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_hook_specs_types_and_builtins_know_no_browser(path: Path) -> None:
    found = imports(path)
    assert not [t for t in found if t.startswith("_playwright") or t.startswith("!playwright")], found


def test_the_reader_sees_relative_and_absolute_imports() -> None:
    # The checks above are only as good as this reader.
    assert "_playwright.flows" in imports(PACKAGE / "_playwright" / "async_site.py")
    assert "_hooktypes" in imports(PACKAGE / "hookspecs.py")
    assert "_core.models" in imports(PACKAGE / "_builtins" / "selectors.py")
    assert "!playwright.async_api" in imports(PACKAGE / "_playwright" / "flows.py")
    assert "hookspecs" in imports(PACKAGE / "_plugins.py")  # "from . import hookspecs"
    assert "_playwright.flows" in imports(PACKAGE / "_playwright" / "handle.py")  # "from . import flows"
    assert "__init__" in imports(PACKAGE / "_demo" / "tables.py")  # "from .. import SiteProfile"


@pytest.mark.parametrize("source", [
    "import sitememory_plugin", "from sitememory_plugin import SiteMemory", "from .. import SiteMemory",
])
def test_an_import_of_the_public_api_below_the_top_is_upward(source: str) -> None:
    assert imports_in(source, "_core.planted") == {"__init__"}
