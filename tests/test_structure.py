"""The package's shape: imports point down (no module imports one that imports it back, at any depth)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gtzan_utils"


def import_graph() -> dict[str, set[str]]:
    """module → the package modules it imports, counting imports inside functions too (static, via ast)."""
    mods = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for m in mods:
        deps = set()
        for node in ast.walk(ast.parse((PACKAGE / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
                deps.update(names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gtzan_utils."):
                deps.add(node.module.split(".")[1])
        graph[m] = {d for d in deps if d in mods and d != m}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (cycle := visit(d)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_find_cycle_sees_indirect_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imports_form_a_dag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_base_modules_import_nothing_of_the_package():
    graph = import_graph()
    assert graph["config"] == set() and graph["errors"] == set()
