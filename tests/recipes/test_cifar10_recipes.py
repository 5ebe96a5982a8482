"""The CIFAR-10 recipes (cifar10-softmax, cifar10-two-layer, cifar10-fc, cifar10-fc-bn-dropout): --quick runs on
the real (JPEG) CIFAR-10 far above chance (0.10), their artifacts, the grid sweep run through nnlab.tune, reloading
a trained net from its run directory, and bad settings."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from nnlab.recipes import get_recipe
from nnlab.recipes.artifacts import UnknownSettingError
from nnlab.recipes.cifar10 import load_data, plot_class_templates, sweep_command

PNG = b"\x89PNG\r\n\x1a\n"
COMMON = {"config.json", "metrics.json", "curves.png", "confusion.png", "model.npz"}


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _assert_pngs(run_dir, names):
    for name in names:
        assert (run_dir / name).read_bytes()[:8] == PNG, name


@pytest.mark.data
def test_cifar10_softmax_quick_sweep_runs_every_grid_config_through_tune(tmp_path, data_dir):
    with _one_blas_thread():
        metrics = get_recipe("cifar10-softmax").run(tmp_path, quick=True, data_path=str(data_dir / "cifar10"))
    # the quick grid (lr 1e-6, 3e-6 x reg 1e3): both configurations ran as COMPLETE trials of one SQLite study
    with sqlite3.connect(tmp_path / "tune-sweep" / "study.db") as db:
        states = [s for (s,) in db.execute("SELECT state FROM trials")]
    assert states == ["COMPLETE", "COMPLETE"]
    rows = metrics["sweep"]
    assert [(r["learning_rate"], r["reg"]) for r in rows] == [(1e-6, 1e3), (3e-6, 1e3)]
    best = max(rows, key=lambda r: r["val_acc"])
    assert metrics["val_acc"] == best["val_acc"] and metrics["test_acc"] == best["test_acc"]
    assert metrics["best_settings"] == {"learning_rate": best["learning_rate"], "reg": 1e3}
    # 2500 images, 80 SGD steps of a linear classifier: measured val ~0.30; chance is 0.10
    assert metrics["val_acc"] > 0.22 and metrics["test_acc"] > 0.2
    assert {p.name for p in tmp_path.iterdir()} >= COMMON | {"templates.png", "sweep.png", "tune-sweep"}
    _assert_pngs(tmp_path, ["curves.png", "confusion.png", "templates.png", "sweep.png"])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["learning_rate"] == best["learning_rate"] and config["sweep"] is True
    assert config["equivalent_command"].startswith("nnlab tune cifar10-softmax --sampler grid --pruner none")
    with np.load(tmp_path / "model.npz") as z:
        assert z["W"].shape == (3073, 10)


@pytest.mark.data
def test_nnlab_tune_on_cifar10_two_layer_trains_the_single_given_configuration(tmp_path, data_dir):
    from nnlab.tune import tune

    with _one_blas_thread():
        study = tune("cifar10-two-layer", ["learning_rate=grid:2e-3"], sampler="grid", pruner="none", quick=True,
                     out=tmp_path, study="s", fixed={"hidden_size": 50, "data_path": str(data_dir / "cifar10")},
                     live=False)
    (trial,) = study.trials
    run_dir = tmp_path / "tune-s" / "trials" / "0000"
    # no nested sweep: one configuration trained, its settings, metrics and weights in the trial's run directory
    assert not (run_dir / "tune-sweep").exists()
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "metrics.json", "model.npz"}
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["hidden_size"], config["learning_rate"], config["sweep"]) == (50, 2e-3, False)
    # 3 epochs of 25 SGD steps on 2500 images: measured val ~0.37; chance 0.10
    assert trial.value > 0.25 and trial.user_attrs["test_acc"] > 0.22
    with np.load(run_dir / "model.npz") as z:
        assert z["W1"].shape == (3072, 50) and z["W1"].dtype == np.float32


@pytest.mark.data
@pytest.mark.parametrize("name, extra", [("cifar10-fc", set()), ("cifar10-fc-bn-dropout", {"running_mean1"})])
def test_cifar10_fc_quick_beats_chance_and_reloads_from_its_run_dir(tmp_path, data_dir, name, extra):
    from nnlab.recipes.cifar10_fc import load_model

    path = str(data_dir / "cifar10")
    with _one_blas_thread():
        metrics = get_recipe(name).run(tmp_path, quick=True, data_path=path, num_epochs=2)
    # 2 epochs (50 Adam steps) of a [100, 100] net on 2500 images: measured val ~0.35; chance 0.10
    assert metrics["val_acc"] > 0.25 and metrics["test_acc"] > 0.22
    assert {p.name for p in tmp_path.iterdir()} >= COMMON | {"weights.png"}
    _assert_pngs(tmp_path, ["curves.png", "confusion.png", "weights.png"])
    with np.load(tmp_path / "model.npz") as z:
        assert extra <= set(z.files) and z["W1"].shape == (3072, 100)
    model = load_model(tmp_path)  # weights and batch-norm running statistics: the test accuracy comes back
    data = load_data(path, quick=True)
    acc = float(np.mean(np.argmax(model.loss(data["X_test"]), axis=1) == data["y_test"]))
    assert acc == pytest.approx(metrics["test_acc"], abs=1e-12)


def test_cifar10_recipes_reject_unknown_settings_and_bad_values(tmp_path):
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) hidden_dim"):
        get_recipe("cifar10-two-layer").run(tmp_path, quick=True, hidden_dim=3)
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) momentum"):
        get_recipe("cifar10-softmax").run(tmp_path, quick=True, momentum=0.9)
    with pytest.raises(ValueError, match="preset must be one of 4x500, 5x200"):
        get_recipe("cifar10-fc").run(tmp_path, quick=True, preset="bn-dropout")
    with pytest.raises(ValueError, match="sweep_grid names unknown setting\\(s\\) lr"):
        get_recipe("cifar10-softmax").run(tmp_path, quick=True, sweep_grid={"lr": [1e-7]})
    with pytest.raises(ValueError, match="sweep_grid must map setting names to non-empty lists"):
        get_recipe("cifar10-two-layer").run(tmp_path, quick=True, sweep_grid={"reg": []})
    assert list(tmp_path.iterdir()) == []


def test_sweep_command_is_the_equivalent_nnlab_tune_grid():
    cmd = sweep_command("cifar10-two-layer", {"hidden_size": [50, 100], "reg": [0.0, 0.5]})
    assert cmd == ("nnlab tune cifar10-two-layer --sampler grid --pruner none "
                   "--param 'hidden_size=grid:50,100' --param 'reg=grid:0.0,0.5'")


def test_class_templates_plot_writes_a_png(tmp_path, rng):
    path = plot_class_templates(rng.standard_normal((3073, 10)), tmp_path / "t.png")
    assert path.read_bytes()[:8] == PNG
