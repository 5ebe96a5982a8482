"""The runner hands every recipe hook one result object (issue 23, item 1) and runs sweeps itself.

A small recipe on the digits (a two-layer net, 'sample' batches: iterations per epoch = N // batch) records what
its ``score``, ``plots`` and ``summarize`` hooks receive; the values are checked against the Solver's own
(``metrics.json``), the recipe's data and settings, and the folder the run was written to. Its declared sweep is
run by :func:`nnlab.runner.train` when the caller names the settings it gave, in the grid's order, the best
configuration kept as the run straight from memory (no files copied, no model reloaded).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnlab import runner
from nnlab.recipes.contract import Recipe, RunResult, Setting, StudyResult, resolve_settings, standard_solver_settings


def _data(cfg: dict[str, Any]) -> dict[str, Any]:
    from nnlab.data import load_digits

    d = load_digits(dtype=np.float64)
    data = {k: d[k] for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")}
    data["X_train"], data["y_train"] = data["X_train"][:1000], data["y_train"][:1000]
    data["info"] = {"class_names": [str(k) for k in range(10)]}
    return data


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import FullyConnectedNet

    return FullyConnectedNet([16], input_dim=64, num_classes=10, reg=cfg["reg"], weight_scale=1e-2, seed=0,
                             dtype=np.float64)


class Recorder:
    """The hooks of the test recipe; each keeps what it was handed."""

    def __init__(self) -> None:
        self.scored: list[RunResult] = []
        self.plotted: list[RunResult] = []
        self.studies: list[StudyResult] = []

    def score(self, run: RunResult) -> dict[str, Any]:
        self.scored.append(dataclasses.replace(run, metrics=dict(run.metrics)))  # as it was at scoring time
        acc = {f"{split}_acc": float(np.mean(np.argmax(run.model.loss(run.data[f"X_{split}"]), axis=1)
                                             == run.data[f"y_{split}"])) for split in ("train", "val", "test")}
        return {**acc, "epoch_means": run.epoch_means()}

    def plots(self, run: RunResult) -> None:
        self.plotted.append(run)

    def summarize(self, study: StudyResult) -> dict[str, Any]:
        self.studies.append(study)
        return {"best": max(study.metrics, key=lambda k: study.metrics[k]["val_acc"])}


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    from nnlab.callbacks import Callback

    class Records(Callback):  # what a recipe's callback records goes to solver.records
        def on_epoch_end(self, solver: Any, epoch: int) -> None:
            solver.records.setdefault("epochs_seen", []).append(float(epoch))

    return {"callbacks": [Records()]}


def _recipe(rec: Recorder, **extra: Any) -> Recipe:
    return Recipe(name="digits-hooks", summary="test", expected="test", data=_data, model=_model, solver=_solver,
                  settings=[Setting("reg", "float", 0.0, "L2", low=0), Setting("sweep", "bool", True, "sweep"),
                            *standard_solver_settings(update_rule="sgd", learning_rate=0.5, num_epochs=2,
                                                      batch_size=100, num_train_samples=None)],
                  score=rec.score, plots=rec.plots, summarize=rec.summarize, **extra)


def test_score_and_plots_receive_one_result_with_the_solvers_histories(tmp_path):
    rec = Recorder()
    recipe = _recipe(rec)
    outcome = runner.train(recipe, resolve_settings(recipe), out=tmp_path, progress=False)
    (scored,), (plotted,) = rec.scored, rec.plotted
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert scored.run_dir == plotted.run_dir == outcome.run_dir
    assert scored.iterations_per_epoch == 1000 // 100 and scored.epochs_done == 2
    assert scored.loss_history == metrics["loss_history"] and len(scored.loss_history) == 20
    assert scored.val_acc_history == metrics["val_acc_history"] == outcome.result.val_acc_history
    assert scored.records == {"epochs_seen": [1.0, 2.0]}
    assert metrics["epoch_means"] == [float(np.mean(metrics["loss_history"][i:i + 10])) for i in (0, 10)]
    assert scored.metrics["status"] == "finished" and "test_acc" not in scored.metrics  # before scoring
    assert plotted.metrics["test_acc"] == metrics["test_acc"]  # after: what metrics.json holds
    assert scored.info["class_names"][3] == "3" and scored.info["input_shape"] == [64]
    assert "run_dir" not in scored.cfg and scored.cfg == resolve_settings(recipe)  # no setting carries a folder
    assert scored.model is outcome.result.model and plotted.data["X_train"].shape == (1000, 64)


def test_a_study_summary_receives_every_variants_result_and_its_folder(tmp_path):
    rec = Recorder()
    recipe = _recipe(rec, variants=lambda cfg: [("a", {"reg": 0.0}), ("b", {"reg": 0.1})])
    outcome = runner.train(recipe, resolve_settings(recipe), out=tmp_path, progress=False)
    (study,) = rec.studies
    assert study.run_dir == outcome.run_dir and list(study.variants) == ["a", "b"]
    for name, run in study.variants.items():
        written = json.loads((outcome.run_dir / name / "metrics.json").read_text())
        assert run.run_dir == outcome.run_dir / name and run.metrics == written
        assert run.cfg["reg"] == {"a": 0.0, "b": 0.1}[name] and run.iterations_per_epoch == 10
    assert outcome.metrics["best"] in ("a", "b") and "run_dir" not in study.cfg


def test_the_runner_sweeps_the_grid_when_the_caller_names_what_it_gave(tmp_path):
    rec = Recorder()
    grid = {"learning_rate": [0.05, 0.5], "reg": [0.0, 1e-3]}
    recipe = _recipe(rec, sweep=grid)
    cfg = resolve_settings(recipe)
    assert runner.sweep_grid(recipe, cfg, given=()) == grid
    assert runner.sweep_grid(recipe, cfg, given={"reg"}) is None  # a swept setting given: that one configuration
    assert runner.sweep_grid(recipe, {**cfg, "sweep": False}, given=()) is None
    outcome = runner.train(recipe, cfg, out=tmp_path / "sweep", progress=False, given=set())
    run_dir = outcome.run_dir
    rows = outcome.metrics["sweep"]
    # the grid's loop order (the last setting fastest), each configuration a complete run of its own
    assert [(r["learning_rate"], r["reg"]) for r in rows] == [(0.05, 0.0), (0.05, 1e-3), (0.5, 0.0), (0.5, 1e-3)]
    assert sorted(p.name for p in (run_dir / "sweep").iterdir()) == ["0000", "0001", "0002", "0003"]
    trials = [json.loads((run_dir / "sweep" / f"{i:04d}" / "metrics.json").read_text()) for i in range(4)]
    assert [r["val_acc"] for r in rows] == [m["val_acc"] for m in trials]
    best = max(range(4), key=lambda i: (rows[i]["val_acc"], -i))  # strictly greater wins: the first on ties
    assert outcome.metrics["best_trial"] == best
    assert outcome.metrics["best_settings"] == {k: rows[best][k] for k in grid}
    assert {k: v for k, v in outcome.metrics.items() if k in trials[best]} == {
        k: v for k, v in trials[best].items() if k not in ("train_seconds",)} | {
        "train_seconds": outcome.metrics["train_seconds"]}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["learning_rate"] == rows[best]["learning_rate"] and config["sweep_grid"] == grid
    # the best model, kept in memory, is the run's model: its weights are the best trial's
    from nnlab.io import load_arrays

    kept, _ = load_arrays(run_dir / "model.npz")
    trial_weights, _ = load_arrays(run_dir / "sweep" / f"{best:04d}" / "model.npz")
    assert kept.keys() == trial_weights.keys() and all(np.array_equal(kept[k], trial_weights[k]) for k in kept)
    # trials draw no plots; the run's plots hook ran once, on the best configuration, in the run folder
    (plotted,) = rec.plotted
    assert plotted.run_dir == run_dir and plotted.cfg["learning_rate"] == rows[best]["learning_rate"]
    assert (run_dir / "sweep.png").is_file() and not list((run_dir / "sweep").glob("*/*.png"))

    rec.plotted.clear()
    one = runner.train(recipe, {**cfg, "reg": 1e-3}, out=tmp_path / "one", progress=False, given={"reg"})
    assert "sweep" not in one.metrics and not (one.run_dir / "sweep").exists()


def test_nothing_is_written_when_a_sweep_configuration_is_refused(tmp_path):
    rec = Recorder()
    recipe = _recipe(rec, sweep={"batch_size": [100, 5000]})
    with pytest.raises(Exception, match="batch_size"):
        runner.train(recipe, resolve_settings(recipe), out=tmp_path / "runs", progress=False, given=())
    assert not Path(tmp_path / "runs").exists()


@pytest.mark.parametrize("order, drop_last, expected", [("sample", False, 3), ("cyclic", False, 3),
                                                         ("shuffle", False, 4), ("sequential", False, 4),
                                                         ("shuffle", True, 3)])
def test_the_epoch_length_recipes_size_schedules_with_is_the_solvers(order, drop_last, expected):
    """One rule for iterations per epoch (100 samples, batch 30): the Solver's property and the recipes that size a
    schedule before the Solver exists (cifar10-resnet, the char transformers) read it from one function."""
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver
    from nnlab.solver.options import epoch_length

    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((100, 4)), "y_train": rng.integers(0, 3, 100),
            "X_val": rng.standard_normal((10, 4)), "y_val": rng.integers(0, 3, 10)}
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, seed=0, dtype=np.float64)
    solver = Solver(model, data, batch_size=30, batch_order=order, drop_last=drop_last, progress=False)
    assert epoch_length(100, 30, order, drop_last) == solver.iterations_per_epoch == expected
