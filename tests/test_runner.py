"""The recipe contract, the runner and the run format, on the real digits-mlp recipe: typed settings, --help,
load_run / evaluate / predict reproducing the in-memory model exactly, batch-norm statistics in the saved file,
nnlab predict on PNG files, nnlab runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab import runner
from nnlab.cli import main
from nnlab.io import load_arrays
from nnlab.recipes import get_recipe
from nnlab.recipes.contract import Setting, SettingError, resolve_settings
from nnlab.runs import list_runs, load_recipe_data, load_run, predict_scores


# ---------------------------------------------------------------------------------------------------- settings
def test_setting_parses_text_to_the_declared_type_and_checks_the_range():
    lr = Setting("learning_rate", "float", 1e-3, "lr", low=0, low_open=True)
    assert lr.parse("2e-3", from_text=True) == 2e-3 and isinstance(lr.parse(1, from_text=False), float)
    for bad in ("abc", "-1", "0", "nan", "[1]"):
        with pytest.raises(SettingError, match=r"'learning_rate' must be float > 0"):
            lr.parse(bad, from_text=True)
    with pytest.raises(SettingError, match="learning_rate"):
        lr.parse("1e-3")  # a Python string is not a number (only command-line text is parsed)
    dims = Setting("hidden_dims", "ints", [8], "dims", low=1)
    assert dims.parse("[64, 32]", from_text=True) == [64, 32] and dims.parse(16) == [16]
    with pytest.raises(SettingError, match="list of int >= 1"):
        dims.parse("[64, 0]", from_text=True)
    norm = Setting("normalization", "str", None, "n", choices=("batchnorm", "layernorm", None), nullable=True)
    assert norm.parse("None", from_text=True) is None and norm.parse("layernorm", from_text=True) == "layernorm"
    with pytest.raises(SettingError, match="did you mean 'layernorm'"):
        norm.parse("layernrom", from_text=True)
    flag = Setting("sweep", "bool", True, "s")
    assert flag.parse("False", from_text=True) is False and flag.parse("yes", from_text=True) is True
    decay = Setting("lr_decay", "float", 1.0, "d", low=0, high=1, low_open=True)
    assert decay.describe() == "float in (0, 1]"
    with pytest.raises(SettingError, match=r"\(0, 1\]"):
        decay.parse(0.0)


def test_resolve_settings_applies_quick_then_overrides_and_rejects_unknown_names():
    recipe = get_recipe("digits-mlp")
    cfg = resolve_settings(recipe, {"learning_rate": "1e-2"}, quick=True, from_text=True)
    assert cfg["num_epochs"] == 3 and cfg["learning_rate"] == 1e-2 and cfg["hidden_dims"] == [256, 128]
    assert resolve_settings(recipe, {"num_epochs": 5}, quick=True)["num_epochs"] == 5  # explicit beats quick
    with pytest.raises(SettingError, match="did you mean 'learning_rate'"):
        resolve_settings(recipe, {"learnig_rate": 1.0})


def test_every_recipe_declares_typed_settings_and_its_defaults_parse():
    from nnlab.recipes import list_recipes

    for recipe in list_recipes():
        assert recipe.summary and recipe.expected and recipe.settings, recipe.name
        cfg = resolve_settings(recipe)
        assert set(cfg) == {s.name for s in recipe.settings}
        resolve_settings(recipe, quick=True)
        assert recipe.model is not None or recipe.fit is not None or recipe.variants is not None, recipe.name


def test_train_help_lists_the_recipe_settings_with_types_and_defaults(capsys):
    assert main(["train", "digits-mlp", "--help"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate" in out and "float > 0" in out and "default 0.002" in out
    assert "hidden_dims" in out and "list of int >= 1" in out
    assert "--quick sets: num_epochs=3" in out


# ---------------------------------------------------------------------------------------------- run format
@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A --quick digits-mlp run trained through the runner, with the model as it was in memory."""
    out = tmp_path_factory.mktemp("runs")
    recipe, cfg = runner.prepare("digits-mlp", quick=True)
    data = load_recipe_data(recipe, cfg)
    outcome = runner.train(recipe, cfg, quick=True, out=out)
    return outcome, data


def test_run_folder_holds_config_metrics_plots_and_weights_with_buffers(digits):
    outcome, _ = digits
    names = {p.name for p in outcome.run_dir.iterdir()}
    assert {"config.json", "metrics.json", "model.npz", "curves.png", "confusion.png",
            "checkpoint_latest.npz"} <= names
    config = json.loads((outcome.run_dir / "config.json").read_text())
    assert config["format"] == "nnlab.run/1" and config["recipe"] == "digits-mlp"
    assert config["settings"]["num_epochs"] == 3 and config["info"]["class_names"][3] == "3"
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test_acc"] > 0.85
    arrays, meta = load_arrays(outcome.run_dir / "model.npz")
    assert meta["recipe"] == "digits-mlp"
    # batch norm: the running statistics are saved with the parameters (the old model.npz lacked them)
    assert {"buffers/running_mean1", "buffers/running_var1", "buffers/running_mean2"} <= set(arrays)
    assert np.abs(arrays["buffers/running_var1"] - 1).max() > 0.01  # trained statistics, not the initial ones


def test_evaluate_reproduces_metrics_exactly_and_predict_matches_memory(digits, capsys):
    outcome, data = digits
    run = load_run(outcome.run_dir)
    for split in ("train", "val", "test"):
        assert run.evaluate(split)[f"{split}_acc"] == outcome.metrics[f"{split}_acc"]
    assert main(["evaluate", str(outcome.run_dir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["test_acc"] == outcome.metrics["test_acc"]
    pred = run.predict(data["X_test"])
    assert np.mean(pred == data["y_test"]) == outcome.metrics["test_acc"]
    proba = run.predict_proba(data["X_test"][:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(np.argmax(proba, axis=1), pred[:5])


def test_reloaded_model_differs_if_buffers_are_dropped(digits):
    """The saved buffers matter: without them (as the old model.npz) the reloaded net scores differently."""
    outcome, data = digits
    run = load_run(outcome.run_dir)
    fresh = load_run(outcome.run_dir).model
    fresh.load_buffer_arrays({k: np.zeros_like(v) + (1 if "var" in k else 0)
                              for k, v in fresh.buffer_arrays().items()})
    a = predict_scores(run.model, data["X_test"])
    b = predict_scores(fresh, data["X_test"])
    assert not np.allclose(a, b)


def test_predict_png_files_gives_the_classes_of_load_run_predict(digits, tmp_path, capsys):
    from PIL import Image

    outcome, data = digits
    run = load_run(outcome.run_dir)
    from nnlab.data import load_digits

    raw = load_digits(seed=run.settings["seed"], standardize=False)  # pixels / 16 in [0, 1]
    files = []
    for i in range(6):
        img = np.round(raw["X_test"][i].reshape(8, 8) * 255).astype(np.uint8)
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(img, mode="L").save(path)
        files.append(str(path))
    X = run.load_images(files)
    assert X.shape == (6, 64) and np.abs(X - data["X_test"][:6]).max() < 3e-3
    assert main(["predict", str(outcome.run_dir), *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    printed = [line.split("\t")[1] for line in lines]
    assert printed == [str(c) for c in run.predict(data["X_test"][:6])]
    assert all(0 < float(line.split("\t")[2]) <= 1 for line in lines)


def test_runs_lists_and_sorts_run_folders(digits, tmp_path, capsys):
    outcome, _ = digits
    rows = list_runs(outcome.run_dir.parent)
    (row,) = [r for r in rows if r["run"] == outcome.run_dir.name]
    assert row["recipe"] == "digits-mlp" and row["status"] == "finished" and row["metric"] == "test_acc"
    assert row["value"] == pytest.approx(outcome.metrics["test_acc"])
    assert main(["runs", str(outcome.run_dir.parent), "--sort", "value"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "recipe", "started", "status"]
    assert any("digits-mlp" in line and "finished" in line for line in out[1:])


def test_failed_run_leaves_a_folder_marked_failed(tmp_path, monkeypatch):
    recipe, cfg = runner.prepare("digits-mlp", quick=True)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runner, "save_model", boom)
    with pytest.raises(RuntimeError):
        runner.train(recipe, cfg, quick=True, out=tmp_path)
    (run_dir,) = list(tmp_path.iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "disk on fire" in metrics["reason"]
    assert list_runs(tmp_path)[0]["status"] == "failed"
