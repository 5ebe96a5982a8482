"""Imports flow one way: the import graph of ``src/nnlab`` (read with ``ast``, imports inside functions
included, ``if TYPE_CHECKING:`` blocks excluded) has no cycle, no module imports a higher layer (the table below,
from DESIGN.md), no private name crosses modules, and no module is over 700 lines.

A new module must be placed in :data:`LAYERS` (by its own name or its package's): the test says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 700

#: DESIGN.md's layering, lowest first; a module may import its own layer and those below. A package's entry
#: covers its submodules unless they have their own.
LAYERS: dict[str, int] = {
    # backend: array namespace, threads, argument checks, file I/O, the version string, optional imports
    "nnlab.version": 0, "nnlab.backend": 0, "nnlab.threads": 0, "nnlab.validation": 0, "nnlab.io": 0,
    "nnlab.optional": 0,  # optional dependencies, imported or named with their install command
    "nnlab.layers": 1,  # functional kernels
    "nnlab.autograd": 2, "nnlab.functional": 2,  # the tape over the kernels
    "nnlab.optim": 3, "nnlab.schedules": 3,  # update rules, optimizers, learning-rate schedules
    "nnlab.nn": 4,  # modules
    "nnlab.models": 5,  # models with the CS231n contract
    # the training loop and what it needs from the model contract only
    "nnlab.solver": 6, "nnlab.callbacks": 6, "nnlab.scores": 6,
    # the flat paths of the solver package's modules before it was one, kept as re-exports for old imports
    "nnlab.solver_guard": 6, "nnlab.solver_options": 6, "nnlab.solver_progress": 6, "nnlab.solver_signals": 6,
    "nnlab.solver_state": 6,
    # beside viz: data, kernel methods, plots, exchange and tracking, sampling
    "nnlab.gradcheck": 7, "nnlab.data": 7, "nnlab.kernels": 7, "nnlab.viz": 7, "nnlab.viz_tape": 7,
    "nnlab.onnx": 7, "nnlab.tracking": 7, "nnlab.emissions": 7, "nnlab.generate": 7,
    "nnlab.recipes": 8,  # one declaration per experiment
    "nnlab.run_format": 9, "nnlab.runs": 9, "nnlab.runner": 9, "nnlab.runhooks": 9,  # the run format, reading
    # runs back, running a recipe, the run hooks
    "nnlab.sweep": 9,  # kept for old imports: the runner runs sweeps
    "nnlab.tune": 10, "nnlab.search_space": 10,  # hyperparameter search
    "nnlab.api": 11, "nnlab.cli": 11, "nnlab": 11,  # the entry points (nnlab.train, the nnlab command)
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted((SRC / "nnlab").rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return skip


def imports_of(module: str) -> list[tuple[str, list[str], int]]:
    """``(imported nnlab module, names taken from it, line)`` for every import statement of ``module``.

    ``from . import x`` / ``from .pkg import x`` count as importing the submodule ``x`` when it is one, else
    the package; ``import nnlab.a.b`` counts as ``nnlab.a.b`` (the nearest existing module)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nnlab":
                    target = alias.name
                    while target not in MODULES:
                        target = target.rsplit(".", 1)[0]
                    found.append((target, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                base = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "nnlab":
                base = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, [], node.lineno) if sub in MODULES else (base, [alias.name], node.lineno))
    return [(target, names, line) for target, names, line in found if target != module]


GRAPH = {m: imports_of(m) for m in MODULES}


def layer_of(module: str) -> int | None:
    """The layer of ``module``: its own entry, else its package's (never the top package's); None if unplaced."""
    name = module
    while name not in LAYERS and name.count(".") > 1:
        name = name.rsplit(".", 1)[0]
    return LAYERS.get(name)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if layer_of(m) is None]
    assert not missing, f"place these modules in tests/test_imports.py LAYERS (see DESIGN.md): {missing}"


def test_the_import_graph_has_no_cycle():
    graph = {m: {t for t, _, _ in edges} for m, edges in GRAPH.items()}
    cycles = find_cycles(graph)
    detail = "; ".join("{" + ", ".join(c) + "}" for c in cycles)
    assert not cycles, f"modules that import each other (directly or through others): {detail}"


def test_no_module_imports_a_higher_layer():
    upward = [f"{m}:{line} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
              for m, edges in GRAPH.items() for t, _, line in edges
              if layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m)]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def test_no_private_name_is_imported_across_modules():
    private = [f"{m}:{line} imports {name} from {t}" for m, edges in GRAPH.items() for t, names, line in edges
               for name in names if name.startswith("_") and not name.startswith("__")]
    assert not private, "private names across modules (make them public where they live):\n" + "\n".join(private)


def test_no_module_is_over_700_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by family): {long}"


# ---- the checker itself ---------------------------------------------------------------------------------------
def test_the_checker_finds_a_cycle_and_reads_relative_imports():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    edges = {t: names for t, names, _ in GRAPH["nnlab.onnx.export"]}
    assert "nnlab.onnx.graph" in edges and "nnlab.onnx.export_nn" in edges  # `from . import export_nn`
    assert "nnlab.version" in edges  # `from ..version import __version__`
    assert layer_of("nnlab.layers.conv") == 1 and layer_of("nnlab.recipes.digits") == 8 and layer_of("nnlab") == 11
    assert layer_of("nnlab.not_placed") is None and layer_of("nnlab.not_placed.sub") is None


@pytest.mark.parametrize("module, target", [("nnlab.layers.conv", "nnlab.nn"), ("nnlab.recipes.digits", "nnlab.runs"),
                                            ("nnlab.optim.rules", "nnlab.nn.module")])
def test_the_table_forbids_the_arrows_back_up(module, target):
    assert layer_of(target) > layer_of(module)
