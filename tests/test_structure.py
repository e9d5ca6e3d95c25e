"""The package's shape: chapter subpackages in the notebooks' order over a base, under the layer that runs things;
imports point down the layers (a module may import its own subpackage or one below it, never one above), no import
cycle at any depth; every function or class a notebook calls names that notebook in its docstring's ``Notebook:``
line; notebook functions take few parameters."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gtzan_utils"

#: The layers, bottom to top: the base, the chapters in the notebooks' order, the layer that runs things.
LAYERS = ("base", "data", "features", "classify", "generate", "report", "run")


def modules() -> dict[str, Path]:
    """Dotted name (relative to gtzan_utils, e.g. ``features.store``) → file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts) or "__init__"] = path
    return out


def _resolve(importer: str, node: ast.ImportFrom, mods: dict[str, Path]) -> set[str]:
    """The package modules an ``from ... import ...`` statement of ``importer`` loads."""
    if node.level:
        package = importer.split(".")
        if mods[importer].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        base = ".".join(package + ([node.module] if node.module else []))
    elif (node.module or "") == "gtzan_utils" or (node.module or "").startswith("gtzan_utils."):
        base = node.module[len("gtzan_utils") :].lstrip(".")
    else:
        return set()
    found = set()
    for alias in node.names:
        full = f"{base}.{alias.name}" if base else alias.name
        if full in mods:
            found.add(full)
        elif base in mods:
            found.add(base)
    return found


def import_graph() -> dict[str, set[str]]:
    """module → the package modules it imports, counting imports inside functions too (static, via ast)."""
    mods = modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                deps |= _resolve(name, node, mods)
            elif isinstance(node, ast.Import):
                deps |= {a.name[len("gtzan_utils.") :] for a in node.names if a.name.startswith("gtzan_utils.")}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def layer(module: str) -> int | None:
    """Rank of the module's layer (0 = base), None for the package's own ``__init__``/``__main__``."""
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


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


def test_the_package_reads_in_story_order():
    tops = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops == set(LAYERS), f"subpackages {sorted(tops)} are not the layers {LAYERS}"
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not flat, f"modules outside the layers: {flat}"


def test_import_graph_reads_nested_and_relative_imports(tmp_path):
    mods = modules()
    assert "features.store" in mods and "base.errors" in mods
    graph = import_graph()
    assert "base.errors" in graph["features.store"]
    assert "__init__" in mods and graph["__init__"] <= {m for m in mods if m.startswith("base.")}


def test_imports_form_a_dag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_imports_point_down_the_layers():
    upward = [
        f"{m} ({LAYERS[layer(m)]}) imports {d} ({LAYERS[layer(d)]})"
        for m, deps in import_graph().items()
        for d in deps
        if layer(m) is not None and layer(d) is not None and layer(d) > layer(m)
    ]
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_layer_check_catches_an_upward_import():
    graph = {"base.errors": {"classify.models"}, "classify.models": set()}
    bad = [(m, d) for m, ds in graph.items() for d in ds if layer(d) > layer(m)]
    assert bad == [("base.errors", "classify.models")]


def test_base_imports_only_the_base():
    graph = import_graph()
    for m, deps in graph.items():
        if m.startswith("base."):
            assert all(d.startswith("base.") for d in deps), f"{m} imports {deps}"
    assert graph["base.errors"] == set() and graph["base.constants"] == set()


NOTEBOOKS = PACKAGE.parent / "notebooks"


def _code_trees(notebook: Path) -> list[ast.AST]:
    """The code cells as ASTs; magics and shell lines (``%...``, ``!...``) become ``pass``, keeping indentation."""
    import json

    trees = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        src = "\n".join(
            line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in lines
        )
        trees.append(ast.parse(src))
    return trees


def notebook_calls(notebook: Path) -> set[tuple[str, str]]:
    """(module, attr) of each ``module.attr(...)`` call in the code cells on a module imported from the package
    (``from gtzan_utils.features import store`` → ``("features.store", attr)``)."""
    mods = modules()
    trees = _code_trees(notebook)
    aliases = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gtzan_utils") and not node.level:
                base = node.module[len("gtzan_utils") :].lstrip(".")
                for a in node.names:
                    full = f"{base}.{a.name}" if base else a.name
                    if full in mods:
                        aliases[a.asname or a.name] = full
    calls = set()
    for tree in trees:
        for node in ast.walk(tree):
            f = node.func if isinstance(node, ast.Call) else None
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in aliases:
                calls.add((aliases[f.value.id], f.attr))
    return calls


def top_level_defs(module: str) -> dict[str, ast.AST]:
    """Name → node of every top-level function and class of a package module."""
    tree = ast.parse(modules()[module].read_text())
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {n.name: n for n in tree.body if isinstance(n, defs)}


def test_notebook_calls_are_documented_with_their_notebook():
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, f"no notebooks in {NOTEBOOKS}"
    problems, n_calls = [], 0
    for nb in notebooks:
        for module, attr in sorted(notebook_calls(nb)):
            n_calls += 1
            defs = top_level_defs(module)
            if attr not in defs:
                problems.append(f"{nb.stem}: {module}.{attr} is not a function or class defined in {module}")
                continue
            doc = ast.get_docstring(defs[attr])
            if not doc or "Notebook:" not in doc:
                problems.append(f"{nb.stem}: {module}.{attr} has no docstring with a 'Notebook:' line")
            elif nb.stem not in doc.split("Notebook:", 1)[1]:
                problems.append(f"{nb.stem}: the 'Notebook:' line of {module}.{attr} does not name {nb.stem}")
    assert n_calls, "found no gtzan_utils calls in the notebooks"
    assert not problems, "\n".join(problems)


#: The most parameters a function a notebook calls may take (settings travel as objects).
MAX_PARAMETERS = 8


def _n_parameters(node) -> int:
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        return _n_parameters(init) - 1 if init else 0
    a = node.args
    return len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)


def test_notebook_functions_take_settings_objects_not_long_argument_lists():
    too_many = []
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for module, attr in sorted(notebook_calls(nb)):
            node = top_level_defs(module).get(attr)
            if node is not None and _n_parameters(node) > MAX_PARAMETERS:
                too_many.append(f"{module}.{attr}: {_n_parameters(node)} parameters ({nb.stem})")
    assert not too_many, "functions a notebook calls with more than 8 parameters:\n" + "\n".join(sorted(set(too_many)))


#: The most lines (docstring aside) of a function a notebook calls.
MAX_LINES = 60


def _n_lines(node) -> int:
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and len(body) > 1:
        first = body[1]
    return node.end_lineno - first.lineno + 1


def test_notebook_functions_are_short():
    long = []
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for module, attr in sorted(notebook_calls(nb)):
            node = top_level_defs(module).get(attr)
            if isinstance(node, ast.FunctionDef) and _n_lines(node) > MAX_LINES:
                long.append(f"{module}.{attr}: {_n_lines(node)} lines ({nb.stem})")
    assert not long, "functions a notebook calls longer than 60 lines:\n" + "\n".join(sorted(set(long)))
