"""The svm-kernels recipe (a `fit` hook, no Solver) reproduces spec seed 003 §6 through `nnlab train` and writes
its metrics and decision-boundary plots."""

from __future__ import annotations

import json

import pytest

from nnlab.cli import main
from nnlab.recipes import get_recipe
from nnlab.recipes.contract import SettingError, resolve_settings
from nnlab.runs import RunError, load_run


def test_svm_kernels_recipe_quick_reproduces_spec_figures_and_writes_plots(tmp_path):
    assert main(["train", "svm-kernels", "--quick", "--out", str(tmp_path), "--set", "grid_steps=30"]) == 0
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["matches_spec"] is True
    printed = metrics["picking"]["printed"]
    assert [printed[f"f{k}"]["train_acc"] for k in range(1, 6)] == [0.5, 0.5, 0.5, 0.75, 0.625]
    assert not any(v["separable"] for v in printed.values())
    assert [k for k, v in metrics["picking"]["kernel"].items() if v["separable"]] == ["f4"]
    assert metrics["feature_engineering"]["engineered_linear_train_acc"] == 1.0
    assert metrics["feature_engineering"]["raw_linear_train_acc"] < 1.0
    assert metrics["degree2_kernel"]["example_a_train_acc"] == 1.0
    assert metrics["degree2_kernel"]["example_b_train_acc"] == pytest.approx(8 / 9, abs=1e-15)
    assert metrics["rbf_kernel"]["example_b_train_acc"] == 1.0
    low = metrics["rbf_kernel"]["moons70_low_gamma"]
    assert low["nnlab_precomputed_acc"] == low["sklearn_precomputed_acc"] == low["sklearn_rbf_acc"]
    assert "digits_ovr" not in metrics                     # quick skips the digits comparison
    config = json.loads((run_dir / "config.json").read_text())
    assert config["recipe"] == "svm-kernels" and config["settings"]["grid_steps"] == 30 and config["quick"] is True
    for name in metrics["plots"]:
        data = (run_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert len(metrics["plots"]) == 5
    assert (metrics["degree2_example_a_acc"], metrics["feature_engineering_acc"], metrics["rbf_example_b_acc"]) == (
        1.0, 1.0, 1.0)
    assert metrics["degree2_example_b_acc"] == pytest.approx(0.8888888888888888, abs=1e-15)
    with pytest.raises(RunError, match="does not train a reloadable model|saved no model"):
        load_run(run_dir)


def test_svm_kernels_recipe_rejects_unknown_or_bad_settings(tmp_path, capsys):
    recipe = get_recipe("svm-kernels")
    with pytest.raises(SettingError, match="did you mean 'rbf_gamma'"):
        resolve_settings(recipe, {"rbf_gama": 1.0})
    with pytest.raises(SettingError, match="'C' must be float > 0"):
        resolve_settings(recipe, {"C": "0"}, from_text=True)
    assert main(["train", "svm-kernels", "--out", str(tmp_path), "--set", "gama=1.0"]) == 2
    assert "gama" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
