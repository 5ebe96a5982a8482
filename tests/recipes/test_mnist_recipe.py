"""mnist-mlp: seed 001's initialization reproduced; the --quick study (both experiments) through `nnlab train`,
far above chance; each experiment's run reloads with its batch-norm statistics and reproduces its test figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.cli import main
from nnlab.io import load_arrays
from nnlab.recipes import get_recipe
from nnlab.recipes.contract import SettingError, resolve_settings
from nnlab.recipes.mnist import EXPERIMENTS, SPEC_TEST_ACC, kaiming_init
from nnlab.runs import load_recipe_data, load_run


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
    recipe = get_recipe("mnist-mlp")
    cfg = resolve_settings(recipe)
    assert recipe.variants(cfg) == [("exp1", {"experiment": 1, **EXPERIMENTS[1]}),
                                    ("exp2", {"experiment": 2, **EXPERIMENTS[2]})]
    assert recipe.variants({**cfg, "experiment": 2, "learning_rate": 5e-4})[0][1]["learning_rate"] == 5e-4


@pytest.mark.data
def test_mnist_mlp_quick_learns_both_experiments_and_each_run_reloads_exactly(tmp_path, data_dir):
    assert main(["train", "mnist-mlp", "--quick", "--out", str(tmp_path), "--set",
                 f"data_path={data_dir / 'mnist'}"]) == 0
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    # 156 Adam steps on 5000 images: chance is 10 %; measured 0.909 / 0.882 on the first 2000 test images
    assert metrics["exp1_test_acc"] > 0.85 and metrics["exp2_test_acc"] > 0.82
    assert metrics["exp1_val_acc"] > 0.88 and metrics["exp2_val_acc"] > 0.88
    data = None
    for exp, dims in ((1, [784, 100, 100, 64, 10]), (2, [784, 100, 100, 10])):
        sub = run_dir / f"exp{exp}"
        assert {p.name for p in sub.iterdir()} >= {"config.json", "metrics.json", "curves.png", "confusion.png",
                                                  "model.npz"}
        cfg = json.loads((sub / "config.json").read_text())["settings"]
        assert cfg["experiment"] == exp and cfg["hidden_dims"] == dims[1:-1] and cfg["num_train"] == 5000
        assert cfg["learning_rate"] == EXPERIMENTS[exp]["learning_rate"] and cfg["beta2"] == 0.99
        arrays, _ = load_arrays(sub / "model.npz")
        assert [arrays[f"params/W{i}"].shape for i in range(1, len(dims))] == list(zip(dims[:-1], dims[1:]))
        # batch norm on the hidden layers, with its trained running statistics saved
        assert "params/gamma1" in arrays and np.abs(arrays["buffers/running_var1"] - 1).max() > 0.01

        run = load_run(sub)
        sub_metrics = json.loads((sub / "metrics.json").read_text())
        assert sub_metrics["test_acc"] == metrics[f"exp{exp}_test_acc"]
        if data is None:
            data = load_recipe_data(get_recipe("mnist-mlp"), run.settings)
        assert run.evaluate("test", data=data)["test_acc"] == sub_metrics["test_acc"]
        assert run.evaluate("val", data=data)["val_acc"] == sub_metrics["val_acc"]
        pred = run.predict(data["X_test"])
        assert np.mean(pred == data["y_test"]) == sub_metrics["test_acc"]
        assert np.array_equal(np.argmax(run.predict_proba(data["X_test"][:50]), axis=1), pred[:50])


def test_mnist_mlp_rejects_bad_settings_before_loading_data(tmp_path, capsys):
    recipe = get_recipe("mnist-mlp")
    with pytest.raises(SettingError, match="'experiment' must be one of 1, 2 or None, got 3"):
        resolve_settings(recipe, {"experiment": "3"}, from_text=True)
    assert resolve_settings(recipe, {"experiment": "2"}, from_text=True)["experiment"] == 2
    with pytest.raises(SettingError, match="'num_validation' must be int >= 1"):
        resolve_settings(recipe, {"num_validation": 0})
    with pytest.raises(SettingError, match="has no setting 'hidden'"):
        resolve_settings(recipe, {"hidden": [10]})
    assert main(["train", "mnist-mlp", "--quick", "--out", str(tmp_path), "--set", "experiment=3"]) == 2
    assert "experiment" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
