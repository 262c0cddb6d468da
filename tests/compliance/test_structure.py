"""The shape of the compliance package: no import cycles, no module too long to read.

Every import counts, wherever it is written: at the top, inside a function (a
deferred import is still a dependency), and under ``TYPE_CHECKING`` (a type the
module names is part of what it depends on).  Read with the standard library's
`ast`, so nothing is imported to find out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "compliance"
MAX_LINES = 500

EXEMPT_FROM_LENGTH = {
    # Rewritten by issue 13 (the matchers' rewrite), which owns its split.
    "compliance.matchers",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module `name` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # ``from package import module`` imports the module too.
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # ``import a.b.c`` runs a, a.b and a.b.c.
            pieces = target.split(".")
            for end in range(1, len(pieces) + 1):
                candidate = ".".join(pieces[:end])
                if candidate in known and candidate != name:
                    found.add(candidate)
    # A module's own package runs first; that is not an import it chose.
    return {target for target in found if not name.startswith(target + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    # A top-level import, one inside a function and one under TYPE_CHECKING.
    assert "compliance.policy" in graph["compliance.checker"]
    assert "compliance.dbsource" in graph["compliance.run"]
    assert "compliance.calendar" in graph["compliance.policy"]
    # ``from compliance.reports import json`` style imports name the module.
    assert "compliance.reports.summary" in graph["compliance.reports"]


def test_find_cycles_reports_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_in_compliance() -> None:
    assert find_cycles(import_graph()) == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_is_short_enough_to_read(name: str) -> None:
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    if name in EXEMPT_FROM_LENGTH:
        pytest.skip(f"{name} ({lines} lines) is split by issue 13")
    assert lines <= MAX_LINES, f"{name} is {lines} lines; split it (about {MAX_LINES} at most)"
