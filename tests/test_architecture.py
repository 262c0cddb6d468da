"""The shape of the house: no import cycle between modules, and no module too long to read.

Imports are read with `ast`, so every one counts: at the top, inside functions,
and under ``if TYPE_CHECKING:`` (a cycle that only the type checker sees is still
two modules that cannot be understood one without the other).  A package's
``__init__`` is not counted as imported by its own submodules: Python runs it
first, but nothing in it is used unless named.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "compliance", "storage", "scripts_library")
# Longest a module may be (lines); migrations are generated history, not read as code.
MAX_LINES = 500
# Modules still over the limit, each with who is splitting it.  The test fails
# when one of them has come under the limit, so the list only ever shrinks.
OVERSIZED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the packages checked."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every module of `known` that `module` imports, wherever in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                if not is_package:
                    anchor = anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            # `from a.b import c` imports a.b.c when c is a module, else a name of a.b.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(f"{name}."):
                yield name


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    return {module: set(_imported(module, path, known)) for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_imports_are_read_everywhere_in_a_file(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.a import Thing\n"
        "def f():\n    import pkg.b\n    from . import c\n",
        encoding="utf-8",
    )
    known = {"pkg.m": source, "pkg.a": source, "pkg.b": source, "pkg.c": source}
    assert sorted(set(_imported("pkg.m", source, known))) == ["pkg.a", "pkg.b", "pkg.c"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def _lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for path in _modules().values():
        relative = path.relative_to(REPO).as_posix()
        if "/migrations/" in relative:
            continue
        lengths[relative] = len(path.read_text(encoding="utf-8").splitlines())
    return lengths


def test_no_module_is_too_long() -> None:
    long = {
        name: lines
        for name, lines in _lengths().items()
        if lines > MAX_LINES and name not in OVERSIZED
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_the_oversized_list_only_shrinks() -> None:
    lengths = _lengths()
    shrunk = sorted(name for name in OVERSIZED if lengths.get(name, 0) <= MAX_LINES)
    assert shrunk == [], f"within {MAX_LINES} lines now: take them off OVERSIZED: {shrunk}"
