"""A picture of the tape: ``draw_graph(t, path)`` (re-exported as ``nnlab.viz.draw_graph``).

One box per recorded operation (its name, the backward kernel, the output shape and the bytes its cache keeps for
the backward) and one oval per leaf (inputs and parameters, with their shapes), arrows in the direction of the
forward pass. Graphviz lays it out where both the ``graphviz`` Python package and its ``dot`` program are
installed; otherwise a plain matplotlib layout (one column of boxes per depth) is drawn. What learners see:
which operations keep which activations alive until the backward, and how much memory that is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .autograd import Tensor
from .autograd.engine import cache_nbytes, topological_order

__all__ = ["draw_graph", "graph_of"]


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def graph_of(t: Tensor, names: dict[int, str] | None = None) -> tuple[list[dict], list[tuple[str, str]]]:
    """The tape behind ``t`` as ``(vertices, edges)``: vertices are dicts with ``id``, ``kind`` ("op" or
    "leaf") and ``label``; edges are ``(from_id, to_id)`` in the forward direction. ``names`` maps ``id(tensor)``
    of leaves to a label (e.g. a module's parameter names)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"draw_graph: t must be a Tensor, got {type(t).__name__}")
    if t._node is None:
        raise ValueError("draw_graph: t has no recorded operations (a leaf, or computed under no_grad())")
    names = names or {}
    vertices: list[dict] = []
    edges: list[tuple[str, str]] = []
    leaves: dict[int, str] = {}
    seen: set = set()
    for node in topological_order([t._node]):
        nid = f"n{id(node)}"
        shape = " ".join(str(s) for s in node.out_shapes)
        saved = cache_nbytes(node.cache, seen)
        kernel = node.kernel_name.rsplit(".", 1)[-1]
        state = "freed" if node.released else f"saves {_fmt_bytes(saved)}"
        vertices.append({"id": nid, "kind": "op", "label": f"{node.name}\n{kernel}\nout {shape}\n{state}"})
        for edge in node.edges:
            if edge is None:
                continue
            target, index = edge
            if index < 0:
                lid = leaves.get(id(target))
                if lid is None:
                    lid = leaves[id(target)] = f"l{id(target)}"
                    label = names.get(id(target), "leaf")
                    vertices.append({"id": lid, "kind": "leaf", "label": f"{label}\n{tuple(target.shape)}"})
                edges.append((lid, nid))
            else:
                edges.append((f"n{id(target)}", nid))
    return vertices, edges


def draw_graph(t: Tensor, path: str | os.PathLike, names: dict[int, str] | None = None,
               engine: str = "auto") -> Path:
    """Write a PNG of the tape behind ``t`` to ``path`` and return the path.

    ``engine``: ``"graphviz"`` (needs the ``graphviz`` package and ``dot``), ``"matplotlib"``, or ``"auto"``
    (Graphviz when available). ``names``: labels for leaves by ``id(tensor)``, e.g.
    ``{id(p): n for n, p in model.named_parameter_tensors()}``.
    """
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"draw_graph: engine must be 'auto', 'graphviz' or 'matplotlib', got {engine!r}")
    vertices, edges = graph_of(t, names)
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise FileNotFoundError(f"draw_graph: folder {str(path.parent)!r} does not exist")
    use_graphviz = engine == "graphviz"
    if engine == "auto":
        try:
            import graphviz  # noqa: F401
            use_graphviz = shutil.which("dot") is not None
        except ImportError:
            use_graphviz = False
    if use_graphviz:
        return _draw_graphviz(vertices, edges, path)
    return _draw_matplotlib(vertices, edges, path)


def _draw_graphviz(vertices: list[dict], edges: list, path: Path) -> Path:
    try:
        import graphviz
    except ImportError:
        raise ImportError("draw_graph: engine='graphviz' needs the graphviz package (pip install graphviz) and "
                          "Graphviz's dot program (apt-get install graphviz)") from None
    dot = graphviz.Digraph(format="png", graph_attr={"rankdir": "BT"})
    for v in vertices:
        shape = "box" if v["kind"] == "op" else "ellipse"
        fill = "#dbe8f6" if v["kind"] == "op" else "#f3f3f3"
        dot.node(v["id"], v["label"], shape=shape, style="filled", fillcolor=fill, fontsize="10")
    for a, b in edges:
        dot.edge(a, b)
    out = dot.render(outfile=str(path), cleanup=True)
    return Path(out)


def _draw_matplotlib(vertices: list[dict], edges: list, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # depth = longest path from any leaf, so each arrow goes left to right
    preds: dict[str, list[str]] = {v["id"]: [] for v in vertices}
    for a, b in edges:
        preds[b].append(a)
    depth: dict[str, int] = {}
    order = [v["id"] for v in vertices]
    remaining = set(order)
    while remaining:
        progressed = False
        for vid in order:
            if vid in remaining and all(p in depth for p in preds[vid]):
                depth[vid] = 1 + max((depth[p] for p in preds[vid]), default=-1)
                remaining.discard(vid)
                progressed = True
        if not progressed:  # pragma: no cover - a tape is acyclic
            break
    columns: dict[int, list[str]] = {}
    for vid in order:
        columns.setdefault(depth.get(vid, 0), []).append(vid)
    n_cols = max(columns) + 1
    n_rows = max(len(c) for c in columns.values())
    pos = {vid: (d, -(i - (len(ids) - 1) / 2)) for d, ids in columns.items() for i, vid in enumerate(ids)}
    fig = Figure(figsize=(max(4.0, 2.6 * n_cols), max(2.5, 1.25 * n_rows)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    by_id = {v["id"]: v for v in vertices}
    for a, b in edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1 - 0.38, y1), xytext=(x0 + 0.38, y0),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 0.8})
    for vid, (x, y) in pos.items():
        v = by_id[vid]
        style = ({"boxstyle": "round,pad=0.3", "fc": "#dbe8f6", "ec": "#3a6ea5"} if v["kind"] == "op"
                 else {"boxstyle": "ellipse,pad=0.3", "fc": "#f3f3f3", "ec": "#777777"})
        ax.text(x, y, v["label"], ha="center", va="center", fontsize=7, bbox=style)
    ax.set_xlim(-0.6, n_cols - 0.4)
    ax.set_ylim(-(n_rows / 2) - 0.2, n_rows / 2 + 0.2)
    ax.set_axis_off()
    ax.set_title("Tape: forward left to right; boxes are operations (their backward kernel and saved bytes), "
                 "ovals are leaves", fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
