"""The shape of glasnost's code: no module imports itself back through others (no import circles),
and no package imports one above it (the layers of the project's architecture note:
``economy`` at the bottom; ``compute``, then ``procedures``; the loaders of ``data``; ``simulate``
and ``report``; ``ledger`` and ``db``; ``control``; ``service``; the command line on top).

Imports are read from the source with :mod:`ast`: every ``import`` statement, at module level or
inside a function, absolute or relative. Imports under ``if TYPE_CHECKING:`` never run, so they
cannot close a circle, but they still name a part that a module depends on: the circle test
leaves them out, the layer tests count them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CORE = {"economy"}
# What each layer may import besides itself. A layer is a package of glasnost (``glasnost.data``),
# a top-level module (``glasnost.sweeps``), or "cli": ``glasnost.cli``, ``glasnost.clitools`` and
# the command group each package keeps in its own ``cli`` module, which present and may use anything.
ALLOWED: dict[str, set[str]] = {
    "glasnost": set(),  # the package's __init__
    "economy": set(),
    "compute": {"economy"},
    "procedures": {"economy", "compute"},  # a procedure may price at labour values or plan (labour time)
    "data": {"economy", "compute", "procedures"},  # loaders into the core (pequod files are procedures' input)
    "simulate": {"economy", "compute", "procedures", "data"},
    "sweeps": {"economy", "compute", "procedures", "data", "simulate"},
    "report": {"economy", "compute", "procedures", "data", "simulate"},
    "ledger": {"economy"},  # knows nothing of planning; takes glasnost's error classes
    "db": {"economy"},  # engine, migrations, settings: below service and control
    "control": {"economy", "compute", "procedures", "data", "report", "ledger", "db"},
    "service": {"economy", "compute", "procedures", "data", "simulate", "report", "ledger", "db", "control"},
}
ALLOWED["cli"] = set(ALLOWED) - {"glasnost"}

# Imports that break the layers today, each with why and the change that will remove it, as
# ``(importing layer, imported layer): reason``. The test fails once a listed edge no longer
# occurs, so the list cannot go stale. (control's use of service.db and service.settings, the
# last one, went with the db package.)
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


# ---- the import graph -----------------------------------------------------------------------------


def modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) of every module under ``src``, compiled ones included."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(src.rglob("*")):
        if path.suffix not in {".py", ".c", ".pyx"} or "__pycache__" in path.parts:
            continue
        parts = [*path.relative_to(src).parent.parts, path.name.split(".")[0]]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        if path.suffix == ".py" or name not in found:
            found[name] = (path, is_package)
    return found


def _runs(tree: ast.AST, type_checking: bool) -> Iterator[ast.AST]:
    """Every node of ``tree``; without ``type_checking``, not the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if (
            not type_checking
            and isinstance(child, ast.If)
            and ast.unparse(child.test).split(".")[-1] == "TYPE_CHECKING"
        ):
            for other in child.orelse:
                yield other
                yield from _runs(other, type_checking)
            continue
        yield child
        yield from _runs(child, type_checking)


def _imported(name: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    # ``from pkg import sub`` imports the module pkg.sub where there is one, else a name of pkg
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target for alias in node.names]


def import_graph(src: Path, root: str = "glasnost", *, type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of ``root`` it imports (anywhere in it, as written; with
    ``type_checking``, also those imported only for type checkers)."""
    found = modules(src)
    known = set(found)
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, (path, is_package) in found.items():
        if path.suffix != ".py":
            continue
        for node in _runs(ast.parse(path.read_text(), str(path)), type_checking):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(name, is_package, node, known):
                if target != root and not target.startswith(root + "."):
                    continue
                while target not in known and "." in target:  # a name defined in a module
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return parts[0]
    if parts[1] in {"cli", "clitools"} or parts[-1] == "cli":
        return "cli"
    return parts[1]


def layer_edges(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """(importing layer, imported layer) -> the module imports that make the edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            if layer(source) != layer(target):
                edges.setdefault((layer(source), layer(target)), []).append(f"{source} -> {target}")
    return edges


# ---- the tests ------------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph(SRC))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_every_package_has_a_place_in_the_layers() -> None:
    layers = {layer(module) for module in import_graph(SRC, type_checking=True)}
    assert layers <= set(ALLOWED), f"place {sorted(layers - set(ALLOWED))} in ALLOWED"


def test_no_package_imports_one_above_it() -> None:
    edges = layer_edges(import_graph(SRC, type_checking=True))
    wrong = {
        edge: imports
        for edge, imports in edges.items()
        if edge[1] not in ALLOWED[edge[0]] and edge not in KNOWN_VIOLATIONS
    }
    assert not wrong, "imports against the layers:\n" + "\n".join(i for imports in wrong.values() for i in imports)
    stale = [f"{a} -> {b}" for a, b in KNOWN_VIOLATIONS if (a, b) not in edges]
    assert not stale, f"no longer happens, remove from KNOWN_VIOLATIONS: {stale}"


def test_the_core_imports_only_the_core() -> None:
    edges = layer_edges(import_graph(SRC, type_checking=True))
    core = {"economy", "compute", "procedures"}
    assert all(b in core for a, b in edges if a in core), sorted(edge for edge in edges if edge[0] in core)


def test_the_reader_finds_what_python_would_run(tmp_path: Path) -> None:
    """The graph sees relative, function-level and ``from pkg import module`` imports, and leaves
    out ``if TYPE_CHECKING:``; a circle through a function-level import is found."""
    package = tmp_path / "glasnost"
    (package / "inner").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from glasnost.high import High\n",
        "high.py": "from . import low\nfrom .inner import deep\n",
        "inner/__init__.py": "",
        "inner/deep.py": "def late():\n    from ..low import something\n",
        "inner/_fast.c": "",
        "inner/uses_c.py": "from glasnost.inner import _fast\nimport numpy\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph["glasnost.low"] == set()
    assert import_graph(tmp_path, type_checking=True)["glasnost.low"] == {"glasnost.high"}
    assert graph["glasnost.high"] == {"glasnost.low", "glasnost.inner.deep"}
    assert graph["glasnost.inner.deep"] == {"glasnost.low"}
    assert graph["glasnost.inner.uses_c"] == {"glasnost.inner._fast"}
    assert find_cycle(graph) is None
    (package / "low.py").write_text("def later():\n    from glasnost import high\n")
    cycle = find_cycle(import_graph(tmp_path))
    assert cycle is not None and cycle[0] == cycle[-1] and {"glasnost.low", "glasnost.high"} <= set(cycle)
    assert layer_edges({"glasnost.compute.x": {"glasnost.service.y"}}) == {
        ("compute", "service"): ["glasnost.compute.x -> glasnost.service.y"]
    }
