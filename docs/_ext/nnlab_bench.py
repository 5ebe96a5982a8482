"""Sphinx extension: the benchmark ratio tables as bar charts, drawn at build time from ``docs/data/benchmarks.csv``.

The CSV holds the ratios nnlab/torch measured by the scripts in ``benchmarks/`` (one row per measurement:
``group,case,ratio,goal``); ``builder-inited`` draws one horizontal bar chart per group into
``docs/_generated/bench-<group>.png`` (1.0 = torch's time; the goal as a tick), which ``benchmarks.md`` shows.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path


def read_rows(path: Path) -> dict[str, list[dict[str, str]]]:
    """Rows of the CSV grouped by their ``group`` column, in file order."""
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(newline="") as fh:
        for row in csv.DictReader(line for line in fh if not line.startswith("#")):
            groups[row["group"]].append(row)
    return groups


def slug(group: str) -> str:
    """File-name form of a group: ``"conv float32"`` -> ``"conv-float32"``."""
    return "-".join(group.lower().split())


def draw(groups: dict[str, list[dict[str, str]]], out: Path) -> list[Path]:
    """One PNG per group: a bar per case (its ratio), the goal as a black tick, 1.0 as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for group, rows in groups.items():
        cases = [r["case"] for r in rows]
        ratios = [float(r["ratio"]) for r in rows]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
        colors = ["#2a9d8f" if (r["goal"] and float(r["ratio"]) <= float(r["goal"])) or
                  (not r["goal"] and float(r["ratio"]) <= 1.0) else "#e76f51" for r in rows]
        ys = range(len(rows))
        ax.barh(ys, ratios, color=colors)
        for y, r in zip(ys, rows):
            if r["goal"]:
                ax.plot([float(r["goal"])] * 2, [y - 0.4, y + 0.4], color="black", lw=2)
            ax.text(float(r["ratio"]) + 0.02, y, f"{float(r['ratio']):.2f}", va="center", fontsize=8)
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.set_yticks(list(ys), cases, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("time ratio of the two settings named (below 1: the first is faster); black tick: goal"
                      if group == "tools" else "time nnlab / time torch (below 1: nnlab faster); black tick: goal")
        ax.set_title(group)
        ax.set_xlim(0, max(max(ratios), *(float(r["goal"] or 0) for r in rows)) * 1.15)
        fig.tight_layout()
        path = out / f"bench-{slug(group)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def generate(app) -> None:
    src = Path(app.srcdir)
    draw(read_rows(src / "data" / "benchmarks.csv"), src / "_generated")


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "version": "1"}
