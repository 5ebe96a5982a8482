"""mnist-mlp: seed 001's initialization reproduced, a short real-data run far above chance for both experiments,
its artifacts, and bad settings refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.io import load_arrays
from nnlab.recipes import get_recipe
from nnlab.recipes.artifacts import UnknownSettingError
from nnlab.recipes.mnist import EXPERIMENTS, SPEC_TEST_ACC, kaiming_init


def test_kaiming_init_reproduces_seed_001_initialize_network():
    # seed 001's initialize_network test: np.random.seed(1), net_dims [3, 4, 1], W = randn(4, 3) * 2 / sqrt(3)
    params = kaiming_init([3, 4, 1], np.random.RandomState(1), dtype=np.float64)
    expected_w1 = np.array([[1.87563247, -0.70639546, -0.60988021],
                            [-1.23895745, 0.99928666, -2.65758797],
                            [2.01473508, -0.87896602, 0.36839462],
                            [-0.28794811, 1.68829682, -2.37884559]])
    assert params["W1"].shape == (3, 4) and params["W2"].shape == (4, 1)
    np.testing.assert_allclose(params["W1"].T, expected_w1, atol=5e-8)


def test_mnist_recipe_carries_the_spec_settings_of_both_experiments():
    assert EXPERIMENTS[1] == {"hidden_dims": [100, 100, 64], "learning_rate": 1e-2, "decay_rate": 1.0}
    assert EXPERIMENTS[2] == {"hidden_dims": [100, 100], "learning_rate": 1e-3, "decay_rate": 0.1}
    assert SPEC_TEST_ACC == {1: 0.9610, 2: 0.9664}


@pytest.mark.data
def test_mnist_mlp_quick_run_learns_both_experiments_and_writes_artifacts(tmp_path, data_dir):
    metrics = get_recipe("mnist-mlp").run(tmp_path, quick=True, progress=False, data_path=str(data_dir / "mnist"))
    # 156 Adam steps on 5000 images: chance is 10 %; measured 0.91 / 0.88 on the first 2000 test images
    assert metrics["exp1_test_acc"] > 0.85 and metrics["exp2_test_acc"] > 0.82
    assert metrics["exp1_val_acc"] > 0.88 and metrics["exp2_val_acc"] > 0.88
    assert json.loads((tmp_path / "metrics.json").read_text())["exp1_test_acc"] == metrics["exp1_test_acc"]
    for exp, dims in ((1, [784, 100, 100, 64, 10]), (2, [784, 100, 100, 10])):
        sub = tmp_path / f"exp{exp}"
        assert {p.name for p in sub.iterdir()} >= {"config.json", "metrics.json", "curves.png", "confusion.png",
                                                  "model.npz"}
        assert (sub / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        cfg = json.loads((sub / "config.json").read_text())
        assert cfg["experiment"] == exp and cfg["hidden_dims"] == dims[1:-1] and cfg["quick"] is True
        assert cfg["learning_rate"] == EXPERIMENTS[exp]["learning_rate"] and cfg["beta2"] == 0.99
        arrays, _ = load_arrays(sub / "model.npz")
        shapes = [arrays[f"W{i}"].shape for i in range(1, len(dims))]
        assert shapes == list(zip(dims[:-1], dims[1:]))
        assert "gamma1" in arrays  # batch norm on the hidden layers


@pytest.mark.data
def test_mnist_mlp_rejects_bad_settings(tmp_path, data_dir):
    recipe = get_recipe("mnist-mlp")
    with pytest.raises(ValueError, match="experiment must be 1, 2 or 'both', got 3"):
        recipe.run(tmp_path, quick=True, experiment=3)
    with pytest.raises(ValueError, match="num_validation must be >= 1"):
        recipe.run(tmp_path, quick=True, num_validation=0, data_path=str(data_dir / "mnist"))
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) hidden"):
        recipe.run(tmp_path, quick=True, hidden=[10])
