"""The CIFAR-10 recipes (cifar10-softmax, cifar10-two-layer, cifar10-fc, cifar10-fc-bn-dropout) on the recipe
contract: --quick runs on the real (JPEG) CIFAR-10 far above chance (0.10); every run reloads with ``load_run``,
``evaluate`` reproduces metrics.json exactly and ``predict`` equals the in-memory model; the declared sweep runs
through ``nnlab train``; ``nnlab predict`` on PNGs of dataset images prepares them exactly as the training data;
the shared data plumbing equals ``get_CIFAR10_data``; presets and bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab import cli, runner
from nnlab.recipes import SettingError
from nnlab.runs import load_run, predict_scores
from tests.recipes.recipe_helpers import KeepModel, one_blas_thread

PNG = b"\x89PNG\r\n\x1a\n"
COMMON = {"config.json", "metrics.json", "curves.png", "confusion.png", "model.npz", "checkpoint_latest.npz"}


def _assert_pngs(run_dir, names):
    for name in names:
        assert (run_dir / name).read_bytes()[:8] == PNG, name


def _quick_data(name: str, overrides: dict | None = None) -> dict:
    recipe, cfg = runner.prepare(name, overrides or {}, quick=True)
    np.random.seed(cfg["seed"])
    return recipe.data(cfg)


# (recipe, overrides, val floor, test floor, extra plot); measured quick figures in the comments (chance 0.10)
QUICK_RUNS = [
    # 80 SGD steps at the quick sweep's best configuration: val 0.288, test 0.266
    ("cifar10-softmax", {"sweep": False, "learning_rate": 3e-6, "reg": 1e3}, 0.22, 0.2, "templates.png"),
    # 75 SGD steps of TwoLayerNet(200): val 0.370, test 0.324
    ("cifar10-two-layer", {"sweep": False}, 0.3, 0.27, "weights.png"),
    # 75 Adam steps of a [100, 100] net: val 0.362, test 0.344
    ("cifar10-fc", {}, 0.3, 0.28, "weights.png"),
    # the same with batch norm and dropout 0.25: val 0.338, test 0.320
    ("cifar10-fc-bn-dropout", {}, 0.28, 0.26, "weights.png"),
]


@pytest.mark.data
@pytest.mark.parametrize("name, overrides, val_floor, test_floor, plot", QUICK_RUNS, ids=[r[0] for r in QUICK_RUNS])
def test_quick_run_beats_chance_and_reloads_to_the_same_predictions(tmp_path, data_dir, monkeypatch, name,
                                                                    overrides, val_floor, test_floor, plot):
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    recipe, cfg = runner.prepare(name, overrides, quick=True)
    keep = KeepModel()
    with one_blas_thread():
        outcome = runner.train(recipe, cfg, quick=True, out=tmp_path, progress=False, callbacks=[keep])
    metrics = outcome.metrics
    assert outcome.status == "finished"
    assert metrics["val_acc"] > val_floor and metrics["test_acc"] > test_floor
    assert metrics["best_val_acc"] == max(metrics["val_acc_history"])
    run_dir = outcome.run_dir
    assert {p.name for p in run_dir.iterdir()} >= COMMON | {plot}
    _assert_pngs(run_dir, ["curves.png", "confusion.png", plot])
    assert json.loads((run_dir / "metrics.json").read_text())["test_acc"] == metrics["test_acc"]

    run = load_run(run_dir)
    assert run.evaluate("test") == {"test_acc": metrics["test_acc"]}  # exactly, from the reloaded weights
    assert run.evaluate("val") == {"val_acc": metrics["val_acc"]}
    data = _quick_data(name, overrides)
    expected = np.argmax(predict_scores(keep.model, data["X_test"]), axis=1)
    np.testing.assert_array_equal(run.predict(data["X_test"]), expected)
    assert run.class_names[:3] == ["plane", "car", "bird"]
    np.testing.assert_allclose(run.predict_proba(data["X_test"][:5]).sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.data
def test_cifar10_fc_bn_dropout_saves_the_running_statistics(tmp_path, data_dir, monkeypatch):
    """Batch-norm buffers are in model.npz; without them the reloaded net would not reproduce its test figure."""
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    recipe, cfg = runner.prepare("cifar10-fc-bn-dropout", {"num_epochs": 1}, quick=True)
    with one_blas_thread():
        outcome = runner.train(recipe, cfg, quick=True, out=tmp_path, progress=False)
    with np.load(outcome.run_dir / "model.npz") as z:
        assert {"buffers/running_mean1", "buffers/running_var1", "buffers/running_mean2"} <= set(z.files)
        assert z["params/W1"].shape == (3072, 100) and z["params/W1"].dtype == np.float32
        assert np.abs(z["buffers/running_var1"]).sum() > 0
    run = load_run(outcome.run_dir)
    assert run.evaluate("test")["test_acc"] == outcome.metrics["test_acc"]
    run.model.load_buffer_arrays({k: np.zeros_like(v) for k, v in run.model.buffer_arrays().items()})
    assert run.evaluate("test")["test_acc"] != outcome.metrics["test_acc"]


def _write_pngs(tmp_path, images: np.ndarray) -> list[str]:
    from PIL import Image

    files = []
    for i, img in enumerate(images):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.ascontiguousarray(img)).save(path)
        files.append(str(path))
    return files


@pytest.mark.data
def test_cifar10_softmax_quick_sweep_and_predict_on_pngs_through_the_cli(tmp_path, data_dir, monkeypatch, capsys):
    from nnlab.data.cifar10 import CLASS_NAMES, load_cifar10_raw

    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    out = tmp_path / "runs"
    with one_blas_thread():
        assert cli.main(["train", "cifar10-softmax", "--quick", "--out", str(out)]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    # the quick grid (lr 1e-6, 3e-6 x reg 1e3): the runner trained both configurations, each a complete run of
    # its own under sweep/NNNN/ (finished, with its settings and weights), in the grid's order
    trials = sorted((run_dir / "sweep").iterdir())
    assert [t.name for t in trials] == ["0000", "0001"]
    trial_metrics = [json.loads((t / "metrics.json").read_text()) for t in trials]
    assert [m["status"] for m in trial_metrics] == ["finished", "finished"]
    assert [json.loads((t / "config.json").read_text())["settings"]["learning_rate"] for t in trials] == [1e-6, 3e-6]
    assert all((t / "model.npz").is_file() for t in trials)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = metrics["sweep"]
    assert [(r["learning_rate"], r["reg"]) for r in rows] == [(1e-6, 1e3), (3e-6, 1e3)]
    assert [r["trial"] for r in rows] == [0, 1]
    assert [r["val_acc"] for r in rows] == [m["val_acc"] for m in trial_metrics]
    assert metrics["best_trial"] == max(range(2), key=lambda i: (rows[i]["val_acc"], -i))
    best = max(rows, key=lambda r: r["val_acc"])
    assert metrics["val_acc"] == best["val_acc"] and metrics["test_acc"] == best["test_acc"]
    assert metrics["best_settings"] == {"learning_rate": best["learning_rate"], "reg": 1e3}
    # 2500 images, 80 SGD steps of a linear classifier: measured best val 0.288 (lr 3e-6), test 0.266
    assert metrics["val_acc"] > 0.22 and metrics["test_acc"] > 0.2
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "metrics.json", "model.npz", "templates.png",
                                                  "sweep.png", "curves.png", "confusion.png", "sweep"}
    _assert_pngs(run_dir, ["curves.png", "confusion.png", "templates.png", "sweep.png"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["learning_rate"] == best["learning_rate"]
    assert config["equivalent_command"].startswith("nnlab tune cifar10-softmax --sampler grid --pruner none")
    run = load_run(run_dir)
    assert run.model.params["W"].shape == (3073, 10)
    assert run.evaluate("test") == {"test_acc": metrics["test_acc"]}

    # three test images as PNG files, from the decoded uint8 pixels: predict prepares them exactly as training did
    _, _, X_raw, y_raw = load_cifar10_raw(data_dir / "cifar10", limit=300)
    picks = [0, 7, 123]
    files = _write_pngs(tmp_path, X_raw[picks])
    data = _quick_data("cifar10-softmax")
    np.testing.assert_array_equal(run.load_images(files), data["X_test"][picks])  # mean image, bias column
    expected = run.predict(data["X_test"][picks])
    capsys.readouterr()
    assert cli.main(["predict", str(run_dir), *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[f, CLASS_NAMES[k]] for f, k in zip(files, expected)]
    proba = run.predict_proba(data["X_test"][picks])
    assert [float(line.split("\t")[2]) for line in lines] == pytest.approx(proba.max(axis=1), abs=1e-4)


@pytest.mark.data
def test_nnlab_tune_on_cifar10_two_layer_trains_the_single_given_configuration(tmp_path, data_dir, monkeypatch):
    from nnlab.tune import tune

    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    with one_blas_thread():
        study = tune("cifar10-two-layer", ["learning_rate=grid:2e-3"], sampler="grid", pruner="none", quick=True,
                     out=tmp_path, study="s", fixed={"hidden_size": 50}, live=False)
    (trial,) = study.trials
    run_dir = tmp_path / "tune-s" / "trials" / "0000"
    # no nested sweep: one configuration trained, its settings, metrics and weights in the trial's run folder
    assert not (run_dir / "sweep").exists()
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "metrics.json", "model.npz"}
    settings = json.loads((run_dir / "config.json").read_text())["settings"]
    assert (settings["hidden_size"], settings["learning_rate"]) == (50, 2e-3)
    # 3 epochs of 25 SGD steps on 2500 images: measured val ~0.37; chance 0.10
    assert trial.value > 0.25 and trial.user_attrs["test_acc"] > 0.22
    run = load_run(run_dir)
    assert run.model.params["W1"].shape == (3072, 50) and run.model.params["W1"].dtype == np.float32
    assert run.evaluate("test") == {"test_acc": trial.user_attrs["test_acc"]}


@pytest.mark.data
def test_cifar10_data_equals_get_CIFAR10_data_and_keeps_its_mean_image(data_dir):
    from nnlab.data.cifar10 import get_CIFAR10_data, load_cifar10_raw
    from nnlab.recipes.cifar10 import QUICK_DATA, cifar10_data

    path = str(data_dir / "cifar10")
    cfg = {**QUICK_DATA, "data_path": path, "num_train": None}
    ours, ref = cifar10_data(cfg), get_CIFAR10_data(path=path, **QUICK_DATA)
    for key in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        assert ours[key].dtype == ref[key].dtype
        np.testing.assert_array_equal(ours[key], ref[key])
    X_raw = load_cifar10_raw(path, limit=300)[0]
    mean = ours["info"]["mean"]
    assert mean.shape == (3, 32, 32) and mean.dtype == np.float64
    np.testing.assert_array_equal(mean, X_raw[:2500].mean(axis=0, dtype=np.float64).transpose(2, 0, 1))
    flat = cifar10_data({**cfg, "num_train": 100}, layout="flat", bias=True)
    assert flat["X_train"].shape == (100, 3073) and flat["X_test"].shape == (500, 3073)
    np.testing.assert_array_equal(flat["X_test"][:, :-1], ref["X_test"].reshape(500, -1))
    assert np.all(flat["X_val"][:, -1] == 1.0)
    assert flat["info"]["image"] == {"height": 32, "width": 32, "mode": "RGB", "scale": 1.0, "layout": "flat",
                                     "bias": True, "dtype": "float32"}


def test_cifar10_fc_presets_fill_the_settings_left_at_none():
    from nnlab.recipes.cifar10_fc import preset_values

    recipe, cfg = runner.prepare("cifar10-fc", {"preset": "5x200"})
    opts = runner.solver_options(recipe, cfg, {})
    assert (opts["update_rule"], opts["optim_config"], opts["lr_decay"], opts["num_epochs"], opts["batch_size"]) == \
        ("adam", {"learning_rate": 1e-3}, 0.95, 10, 256)
    model = recipe.model(cfg, {"input_shape": [3, 32, 32]})
    assert [model.params[f"W{i}"].shape[1] for i in range(1, 6)] == [200, 200, 200, 200, 10]
    assert model.reg == 1e-3 and model.normalization is None
    # explicit settings win over the preset; --quick gives a [100, 100] net for 3 epochs
    recipe, cfg = runner.prepare("cifar10-fc", {"preset": "5x200", "batch_size": 64, "lr_decay": 0.5}, quick=True)
    opts = runner.solver_options(recipe, cfg, {})
    assert (opts["batch_size"], opts["lr_decay"], opts["num_epochs"]) == (64, 0.5, 3)
    assert preset_values(cfg)["hidden_dims"] == [100, 100]
    _, cfg = runner.prepare("cifar10-fc-bn-dropout", {})
    values = preset_values(cfg)
    assert (values["normalization"], values["dropout"], values["hidden_dims"]) == ("batchnorm", 0.25, [500] * 4)


def test_cifar10_recipes_reject_unknown_settings_and_bad_values():
    with pytest.raises(SettingError, match="no setting 'hidden_dim'; did you mean 'hidden_size'"):
        runner.prepare("cifar10-two-layer", {"hidden_dim": 3}, quick=True)
    with pytest.raises(SettingError, match="no setting 'momentum'"):
        runner.prepare("cifar10-softmax", {"momentum": 0.9})
    with pytest.raises(SettingError, match="setting 'preset' must be one of '4x500', '5x200', got 'bn-dropout'"):
        runner.prepare("cifar10-fc", {"preset": "bn-dropout"})
    with pytest.raises(SettingError, match="setting 'reg' must be float >= 0"):
        runner.prepare("cifar10-two-layer", {"reg": "0.0:0.1"}, from_text=True)
    with pytest.raises(SettingError, match="setting 'num_train' must be int >= 1 or None"):
        runner.prepare("cifar10-softmax", {"num_train": 0})
    # typed from the command line: a list, a float, None
    _, cfg = runner.prepare("cifar10-fc", {"hidden_dims": "[300, 300]", "learning_rate": "2e-3", "reg": "None"},
                            from_text=True)
    assert (cfg["hidden_dims"], cfg["learning_rate"], cfg["reg"]) == ([300, 300], 2e-3, None)


def test_sweeps_are_declared_on_the_recipes():
    from nnlab.recipes import get_recipe

    softmax, two_layer = get_recipe("cifar10-softmax"), get_recipe("cifar10-two-layer")
    assert softmax.sweep == {"learning_rate": [3e-7, 5e-7, 1e-6], "reg": [1e3, 2.5e3, 5e3]}
    assert softmax.quick_sweep == {"learning_rate": [1e-6, 3e-6], "reg": [1e3]}
    assert two_layer.sweep == {"hidden_size": [100, 200], "learning_rate": [1e-3, 1.5e-3, 2e-3],
                               "reg": [0.0, 0.25, 0.5]}
    assert len([1 for h in two_layer.sweep["hidden_size"] for lr in two_layer.sweep["learning_rate"]
                for r in two_layer.sweep["reg"]]) == 18
    for recipe in (softmax, two_layer):
        assert recipe.setting("sweep").default is True


def test_viz_class_templates_and_sweep_plots_write_pngs_and_honour_plots_disabled(tmp_path, rng):
    from nnlab.data.cifar10 import CLASS_NAMES
    from nnlab.viz import plot_class_templates, plot_sweep, plots_disabled

    path = plot_class_templates(rng.standard_normal((3073, 10)), tmp_path / "t.png", CLASS_NAMES)
    assert path.read_bytes()[:8] == PNG
    rows = [{"learning_rate": lr, "reg": reg, "train_acc": 0.3, "val_acc": 0.2 + lr * 1e5}
            for lr in (1e-6, 3e-6) for reg in (0.0, 1e3)]
    assert plot_sweep(rows, {"learning_rate": [1e-6, 3e-6], "reg": [0.0, 1e3]}, tmp_path / "s.png").read_bytes()[:8] \
        == PNG
    with plots_disabled():
        assert plot_class_templates(rng.standard_normal((3072, 10)), tmp_path / "n.png", CLASS_NAMES) is None
        assert plot_sweep(rows, {"learning_rate": [1e-6, 3e-6]}, tmp_path / "n2.png") is None
    assert not (tmp_path / "n.png").exists() and not (tmp_path / "n2.png").exists()
    with pytest.raises(ValueError, match="plot_class_templates: 9 class_names for 10 weight columns"):
        plot_class_templates(rng.standard_normal((3072, 10)), tmp_path / "x.png", CLASS_NAMES[:9])
