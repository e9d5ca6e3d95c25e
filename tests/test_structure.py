"""The package's shape: imports point down (no module imports one that imports it back, at any depth), and every
function or class a notebook calls names that notebook in its docstring's ``Notebook:`` line."""

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


NOTEBOOKS = PACKAGE.parent / "notebooks"


def notebook_calls(notebook: Path) -> set[tuple[str, str]]:
    """(module, attr) of each ``module.attr(...)`` call in the code cells on a module of ``from gtzan_utils import``.

    Magics and shell lines (``%...``, ``!...``) become ``pass`` before parsing, keeping their indentation.
    """
    import json

    cells = json.loads(notebook.read_text())["cells"]
    trees = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        lines = src.splitlines()
        src = "\n".join(
            line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in lines
        )
        trees.append(ast.parse(src))
    aliases = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "gtzan_utils" and node.level == 0:
                aliases.update({a.asname or a.name: a.name for a in node.names})
    calls = set()
    for tree in trees:
        for node in ast.walk(tree):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in aliases:
                calls.add((aliases[f.value.id], f.attr))
    return calls


def top_level_docstrings(module: str) -> dict[str, str | None]:
    """Name → docstring (None when missing) of every top-level function and class of a package module."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {n.name: ast.get_docstring(n) for n in tree.body if isinstance(n, defs)}


def test_notebook_calls_are_documented_with_their_notebook():
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, f"no notebooks in {NOTEBOOKS}"
    problems, n_calls = [], 0
    for nb in notebooks:
        for module, attr in sorted(notebook_calls(nb)):
            n_calls += 1
            if not (PACKAGE / f"{module}.py").exists():
                problems.append(f"{nb.stem}: {module}.{attr}: gtzan_utils has no module {module}")
                continue
            docs = top_level_docstrings(module)
            if attr not in docs:
                problems.append(f"{nb.stem}: {module}.{attr} is not a function or class defined in {module}.py")
            elif not docs[attr] or "Notebook:" not in docs[attr]:
                problems.append(f"{nb.stem}: {module}.{attr} has no docstring with a 'Notebook:' line")
            elif nb.stem not in docs[attr].split("Notebook:", 1)[1]:
                problems.append(f"{nb.stem}: the 'Notebook:' line of {module}.{attr} does not name {nb.stem}")
    assert n_calls, "found no gtzan_utils calls in the notebooks"
    assert not problems, "\n".join(problems)
