"""The svm-kernels recipe reproduces spec seed 003 §6 and writes its metrics and decision-boundary plots."""

from __future__ import annotations

import json

import pytest

from nnlab.recipes.artifacts import UnknownSettingError
from nnlab.recipes.svm_kernels import run


def test_svm_kernels_recipe_quick_reproduces_spec_figures_and_writes_plots(tmp_path):
    metrics = run(tmp_path, quick=True, grid_steps=30)
    assert metrics["matches_spec"] is True
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
    assert json.loads((tmp_path / "metrics.json").read_text())["matches_spec"] is True
    assert json.loads((tmp_path / "config.json").read_text())["grid_steps"] == 30
    for name in metrics["plots"]:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert len(metrics["plots"]) == 5
    assert (metrics["degree2_example_a_acc"], metrics["feature_engineering_acc"], metrics["rbf_example_b_acc"]) == (
        1.0, 1.0, 1.0)
    assert metrics["degree2_example_b_acc"] == pytest.approx(0.8888888888888888, abs=1e-15)


def test_svm_kernels_recipe_rejects_unknown_setting(tmp_path):
    with pytest.raises(UnknownSettingError, match="has no setting"):
        run(tmp_path, quick=True, gama=1.0)
