"""A recipe's declared sweep, executed by the tuner: ``nnlab train cifar10-softmax`` runs its lr x reg grid.

A recipe declares ``sweep`` (and ``quick_sweep``) as a grid ``{setting: [values]}``. :func:`run_sweep` runs every
configuration as one trial of an ``nnlab.tune`` grid study on the recipe itself (SQLite in
``<run_dir>/tune-sweep/study.db``, trial runs in ``<run_dir>/tune-sweep/trials/NNNN/``), then copies the best
trial's run (weights, config, metrics, plots) into the run folder, so ``load_run`` / ``evaluate`` / ``predict``
work on it as on any run, and adds the sweep table (``metrics.json["sweep"]``) and ``sweep.png``. The best trial
is the strictly greatest validation accuracy, the first in the grid's order on ties (as the notebooks' ``>``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .io import make_run_dir
from .recipes.contract import Recipe
from .runner import Outcome, draw_plots
from .runs import load_recipe_data, load_run, read_json, write_config, write_metrics
from .search_space import TuneError

__all__ = ["run_sweep", "sweep_command", "grid_texts"]


def grid_texts(grid: Mapping[str, list]) -> list[str]:
    """``--param`` texts of a grid: ``name=grid:v1,v2``."""
    return [f"{name}=grid:" + ",".join(repr(v) for v in values) for name, values in grid.items()]


def sweep_command(name: str, grid: Mapping[str, list], quick: bool = False) -> str:
    """The ``nnlab tune`` command line equivalent to a recipe's sweep."""
    params = " ".join(f"--param '{t}'" for t in grid_texts(grid))
    return f"nnlab tune {name} --sampler grid --pruner none {params}{' --quick' if quick else ''}"


def run_sweep(recipe: Recipe, cfg: Mapping[str, Any], grid: Mapping[str, list], *, quick: bool = False,
              out: str | Path = "runs", progress: bool | None = None) -> Outcome:
    """Run the grid as a tune study and make the best trial the run; returns its :class:`Outcome`."""
    from .tune import tune
    from .viz import plot_sweep

    grid = {k: list(v) for k, v in grid.items()}
    fixed = {k: v for k, v in cfg.items() if k not in grid and k != "sweep"}
    if "sweep" in cfg:
        fixed["sweep"] = False
    if recipe.data is not None:  # data errors before the run folder exists (the recipe keeps the load for the trials)
        recipe.data(dict(cfg))
    run_dir = make_run_dir(out, recipe.name)
    start = time.perf_counter()
    study = tune(recipe.name, grid_texts(grid), sampler="grid", pruner="none", jobs=1, fixed=fixed, out=run_dir,
                 study="sweep", quick=quick, keep_weights=True, live=progress is not False)
    seconds = time.perf_counter() - start
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name != "COMPLETE":
            continue
        settings = {k: json.loads(json.dumps(t.params[k])) for k in grid}
        rows.append({**settings, "trial": t.number, "train_acc": t.user_attrs.get("train_acc"),
                     "val_acc": t.user_attrs.get("val_acc"), "test_acc": t.user_attrs.get("test_acc"),
                     "seconds": t.duration.total_seconds() if t.duration else None})
    if not rows:
        raise TuneError(f"{recipe.name}: no sweep trial completed; see {run_dir / 'tune-sweep'}")
    order = {k: {repr(v): i for i, v in enumerate(vals)} for k, vals in grid.items()}
    rows.sort(key=lambda r: tuple(order[k].get(repr(r[k]), 0) for k in grid))  # the grid's loop order
    best = max(rows, key=lambda r: (r["val_acc"], -rows.index(r)))
    best_dir = Path(study.trials[best["trial"]].user_attrs["run_dir"])
    for item in best_dir.iterdir():
        if item.is_file() and item.name not in ("config.json", "metrics.json"):
            shutil.copy2(item, run_dir / item.name)
    config = read_json(best_dir / "config.json")
    write_config(run_dir, recipe.name, config["settings"], config.get("info", {}), quick,
                 extra={"task": config.get("task", "classification"), "sweep_grid": grid,
                        "equivalent_command": sweep_command(recipe.name, grid, quick)})
    metrics = read_json(best_dir / "metrics.json")
    metrics.update({"sweep": rows, "best_settings": {k: best[k] for k in grid}, "best_trial": best["trial"],
                    "sweep_seconds": seconds, "train_seconds": seconds,
                    "study": str(run_dir / "tune-sweep" / "study.db")})
    write_metrics(run_dir, metrics)
    plot_sweep(rows, grid, run_dir / "sweep.png", title=f"{recipe.name}: grid sweep")
    run = load_run(run_dir)  # the trials drew no plots: draw the best model's
    draw_plots(recipe, run_dir, run.model, load_recipe_data(recipe, run.settings), metrics, run.info)
    return Outcome(run_dir, metrics)
