"""The house's seams hold: no import cycle among the project's modules (function-local imports
count too: they still tie the modules together), the read side never imports the study runner,
estimators/ and search_spaces/ stay below dse/, and only dse/finn/ imports finn or qonnx."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dse", "estimators", "search_spaces")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imported_names(mod: str, path: Path) -> set[str]:
    """Every absolute name a module imports, at module level, inside functions or under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.update([base] + [f"{base}.{a.name}" for a in node.names])
    return names


def _graph() -> dict[str, set[str]]:
    files = _files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        for name in _imported_names(mod, path):
            # The deepest project module the import names (a package's __init__ counts as itself).
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != mod:
                graph[mod].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_face(module: str) -> bool:
    # A package's __init__ that imports its own submodules (to hand names on) is not a cycle with them.
    return (ROOT / Path(*module.split(".")) / "__init__.py").exists()


def test_no_import_cycle() -> None:
    graph = _graph()
    for mod in graph:
        if _is_package_face(mod):
            graph[mod] = {m for m in graph[mod] if not m.startswith(mod + ".")}
    assert _cycles(graph) == []


def test_the_graph_sees_a_cycle() -> None:
    """The checker itself: a two-module loop is found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


@pytest.mark.parametrize("reader", ["dse.results", "dse.report.page", "dse.report.pareto", "dse.report.figures",
                                    "dse.dashboard", "dse.storage.database", "dse.storage.urls",
                                    "dse.storage.claims", "dse.storage.orphans"])
def test_the_read_side_and_storage_never_import_the_study_runner(reader: str) -> None:
    graph = _graph()
    seen, todo = set(), [reader]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    assert "dse.study" not in seen, f"{reader} reaches dse.study"


def test_lower_floors_never_import_dse() -> None:
    graph = _graph()
    bad = {m: sorted(d for d in deps if d.split(".")[0] == "dse")
           for m, deps in graph.items() if m.split(".")[0] in ("estimators", "search_spaces")}
    assert {m: d for m, d in bad.items() if d} == {}


FINN_ROOM = "dse.finn"


def _finn_imports() -> dict[str, list[str]]:
    """Modules of dse/ outside dse/finn/ that import finn or qonnx, with what they import."""
    return {mod: sorted(n for n in _imported_names(mod, path) if n.split(".")[0] in ("finn", "qonnx"))
            for mod, path in _files().items()
            if mod.split(".")[0] == "dse" and mod != FINN_ROOM and not mod.startswith(FINN_ROOM + ".")}


def test_only_the_finn_room_imports_finn_or_qonnx() -> None:
    bad = {m: names for m, names in _finn_imports().items() if names}
    assert bad == {}, f"import finn/qonnx only in dse/finn/: {bad}"


def test_the_finn_room_check_sees_a_function_local_import(tmp_path: Path) -> None:
    """The checker itself: a qonnx import inside a function, a plain `import finn` and a TYPE_CHECKING one count."""
    path = tmp_path / "m.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import finn.util\n"
                    "def f():\n    from qonnx.core.modelwrapper import ModelWrapper\n    import finnish\n",
                    encoding="utf-8")
    found = {n.split(".")[0] for n in _imported_names("dse.m", path)}
    assert {"finn", "qonnx"} <= found and "finnish" in found
    assert sorted(n for n in _imported_names("dse.m", path) if n.split(".")[0] in ("finn", "qonnx")) == [
        "finn.util", "qonnx.core.modelwrapper", "qonnx.core.modelwrapper.ModelWrapper"]
