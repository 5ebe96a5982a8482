"""housing-softsign through the Solver: the seed's wrap-around batches, the network, the seed's printed first
losses and full-batch GD trajectory; the --quick study of the four set-ups through `nnlab train` with the figures
of the pre-Solver loop, each set-up's run reloading to its exact test figures; bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.cli import main
from nnlab.nn import Dropout, Identity
from nnlab.recipes import get_recipe
from nnlab.recipes.contract import SettingError, resolve_settings
from nnlab.recipes.housing import SETUPS, SPEC_LOSSES, build_housing_net
from nnlab.runs import load_recipe_data, load_run
from nnlab.solver import Solver


@pytest.fixture
def housing(data_dir):
    from nnlab.data import load_housing_3class

    return load_housing_3class(data_dir / "california_housing")


class _Recorder:
    """A model that records the rows of every training batch (X holds the row values)."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}
        self.batches = []

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((len(X), 2))
        self.batches.append(X[:, 0].tolist())
        return 0.5, {"w": np.zeros(1)}


def test_cyclic_batches_wrap_around_without_reshuffling_as_the_seed():
    # seed 003's docstring: data [1..9] with batch 6 gives [1..6], [7, 8, 9, 1, 2, 3], [4..9]
    X = np.arange(1, 10, dtype=float)[:, None]
    data = {"X_train": X, "y_train": np.zeros(9, dtype=int), "X_val": X, "y_val": np.zeros(9, dtype=int)}
    model = _Recorder()
    Solver(model, data, batch_size=6, batch_order="cyclic", num_epochs=3, iterations_per_epoch=1, verbose=False,
           keep_best=False).train()
    assert model.batches == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 1, 2, 3], [4, 5, 6, 7, 8, 9]]


def test_housing_net_has_dropout_only_after_the_first_hidden_layer():
    model = build_housing_net([15, 7], 0.3)
    assert isinstance(model.module[2], Dropout) and model.module[2].p == 0.3
    assert not any(isinstance(m, Dropout) for i, m in enumerate(model.module) if i != 2)
    assert isinstance(build_housing_net([15, 7], 0.0).module[2], Identity)
    assert [tuple(model.params[f"{k}.weight"].shape) for k in "035"] == [(15, 8), (7, 15), (3, 7)]
    # the seed's init_parameters: np.random.seed(0); theta1 = randn(8, 15) / sqrt(8)
    np.testing.assert_array_equal(model.params["0.weight"].T, np.random.RandomState(0).randn(8, 15) / np.sqrt(8))


@pytest.mark.data
def test_full_batch_gd_through_the_solver_reproduces_the_seeds_first_losses(housing):
    # seed 003 test_gradient_descent (lr 0.01, no dropout), losses printed to 6 decimals
    def first_losses(rule, lr, n):
        solver = Solver(build_housing_net([15, 7], 0.0), housing, update_rule=rule, optim_config={"learning_rate": lr},
                        batch_size=len(housing["X_train"]), batch_order="cyclic", num_epochs=n, iterations_per_epoch=1,
                        keep_best=False, verbose=False)
        solver.train()
        return solver.loss_history

    np.testing.assert_allclose(first_losses("sgd", 0.01, 3), [1.086384, 1.086313, 1.086242], atol=6e-7)
    # GD + Adam starts from the same loss (the seed logs it before the first update)
    assert abs(first_losses("adam", 1e-4, 1)[0] - 1.086384) < 6e-7


# figures of the pre-Solver training loop (--quick: 2000 iterations logged every 100), measured before the change
_QUICK_BEFORE = {"gd": (0.8685607846823797, 0.584), "mbgd": (0.907234522408818, 0.592),
                 "gd_adam": (0.8461650447263941, 0.64), "mbgd_adam": (0.9113675287719285, 0.616)}


@pytest.mark.data
def test_housing_quick_follows_the_seed_and_each_setup_reloads_exactly(tmp_path, data_dir):
    assert main(["train", "housing-softsign", "--quick", "--out", str(tmp_path), "--set",
                 f"data_path={data_dir / 'california_housing'}"]) == 0
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    gd = metrics["setups"]["gd"]["losses"]
    assert len(gd) == 20  # 2000 iterations logged every 100
    # deterministic full-batch GD on the seed's data and weights: the seed's losses at iterations 0 and 1000
    np.testing.assert_allclose([gd[0], gd[10]], SPEC_LOSSES["gd"][:2], atol=6e-7)
    assert metrics["gd_spec_loss_max_abs_diff"] < 6e-7
    data = load_recipe_data(get_recipe("housing-softsign"), {"data_path": str(data_dir / "california_housing")})
    for name in SETUPS:
        res = metrics["setups"][name]
        assert res["losses"][-1] < res["losses"][0] - 0.1, name  # measured drops 0.18-0.23
        assert res["test_acc"] > 0.5, name  # three balanced classes: chance is 1/3; measured 0.58-0.64
        assert np.sum(res["confusion"]) == 125
        # the same figures as the hand-written loop gave (dropout masks from the same private RNG)
        assert res["test_ce"] == pytest.approx(_QUICK_BEFORE[name][0], abs=1e-12), name
        assert res["test_acc"] == _QUICK_BEFORE[name][1], name
        run = load_run(run_dir / name)
        assert run.model.params["0.weight"].shape == (15, 8) and run.config["variant"] == name
        again = run.evaluate("test", data=data)
        assert again["test_ce"] == res["test_ce"] and again["test_acc"] == res["test_acc"]
        assert again["test_confusion"] == res["confusion"]
        assert np.mean(run.predict(data["X_test"]) == data["y_test"]) == res["test_acc"]
        assert (run_dir / name / "curves.png").is_file()
    for png in ("losses.png", "confusion.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_housing_recipe_rejects_unknown_setups_and_uneven_logging(tmp_path, capsys):
    recipe = get_recipe("housing-softsign")
    with pytest.raises(SettingError, match="'setups' must be a comma-separated list of gd, mbgd"):
        recipe.variants(resolve_settings(recipe, {"setups": "gd,sgd_nesterov"}))
    with pytest.raises(SettingError, match="must be a multiple of 'log_every'"):
        recipe.variants(resolve_settings(recipe, {"num_iterations": 2500}))
    assert [n for n, _ in recipe.variants(resolve_settings(recipe, {"setups": "mbgd_adam,gd"}))] == ["mbgd_adam", "gd"]
    assert main(["train", "housing-softsign", "--out", str(tmp_path), "--set", "setups=sgd"]) == 2
    assert "setups" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.data
def test_housing_gd_full_run_meets_the_seeds_test_cross_entropy(tmp_path, data_dir):
    assert main(["train", "housing-softsign", "--out", str(tmp_path), "--set", "setups=gd", "--set",
                 f"data_path={data_dir / 'california_housing'}"]) == 0
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert round(metrics["gd_test_ce"], 3) <= 0.681
    np.testing.assert_allclose(metrics["setups"]["gd"]["losses"], SPEC_LOSSES["gd"], atol=5e-7)
