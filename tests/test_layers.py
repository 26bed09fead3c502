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
    ("hooks", ("_drive", "_hooktypes", "hookspecs", "_hookcall", "_builtins", "_plugins")),
    ("adapters", ("_browser", "_playwright", "integrations", "pytest_plugin")),
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


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (relative to the package), and outside packages."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                found.add(name.removeprefix("sitememory_plugin.") if name.startswith("sitememory_plugin.")
                          else "!" + name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                if name == "sitememory_plugin" or name.startswith("sitememory_plugin."):
                    base = name.removeprefix("sitememory_plugin").lstrip(".")
                    found.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
                else:
                    found.add("!" + name)
                continue
            base_parts = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            base = ".".join([*base_parts, *(node.module.split(".") if node.module else [])])
            if node.module:
                found.add(base)
            else:  # "from . import flows": each name is a module of that package
                found.update(f"{base}.{a.name}".lstrip(".") for a in node.names)
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
        if theirs is None and target.split(".")[0] in ("", "__init__"):
            upward.append(f"{target} (the public API)")
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
