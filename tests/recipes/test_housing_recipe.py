"""housing-softsign: the seed-003 network on the seed's data starts at the seed's printed loss and follows its
full-batch GD trajectory; the quick run of the four set-ups, its artifacts and bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.io import load_arrays
from nnlab.nn import Dropout, Identity
from nnlab.recipes import get_recipe
from nnlab.recipes.housing import SETUPS, SPEC_LOSSES, _batch_rows, build_housing_net, train_housing_net


@pytest.fixture
def housing(data_dir):
    from nnlab.data import load_housing_3class

    return load_housing_3class(data_dir / "california_housing")


def test_minibatches_wrap_around_without_reshuffling_as_the_seed():
    # seed 003's docstring: data [1..9] with batch 6 gives [1..6], [7, 8, 9, 1, 2, 3], [4..9]
    data = np.arange(1, 10)
    assert [data[_batch_rows(i, 6, 9)].tolist() for i in range(3)] == [
        [1, 2, 3, 4, 5, 6], [7, 8, 9, 1, 2, 3], [4, 5, 6, 7, 8, 9]]
    assert _batch_rows(5, None, 9) == slice(None)


def test_housing_net_has_dropout_only_after_the_first_hidden_layer():
    model = build_housing_net([15, 7], 0.3)
    assert isinstance(model.module[2], Dropout) and model.module[2].p == 0.3
    assert not any(isinstance(m, Dropout) for i, m in enumerate(model.module) if i != 2)
    assert isinstance(build_housing_net([15, 7], 0.0).module[2], Identity)
    assert [tuple(model.params[f"{k}.weight"].shape) for k in "035"] == [(15, 8), (7, 15), (3, 7)]
    # the seed's init_parameters: np.random.seed(0); theta1 = randn(8, 15) / sqrt(8)
    np.testing.assert_array_equal(model.params["0.weight"].T, np.random.RandomState(0).randn(8, 15) / np.sqrt(8))


@pytest.mark.data
def test_full_batch_gd_reproduces_the_seeds_first_losses(housing):
    # seed 003 test_gradient_descent (lr 0.01, no dropout), losses printed to 6 decimals
    model = build_housing_net([15, 7], 0.0)
    losses = train_housing_net(model, housing["X_train"], housing["y_train"], "sgd", 0.01, None, 3, 1)
    np.testing.assert_allclose(losses, [1.086384, 1.086313, 1.086242], atol=6e-7)
    # GD + Adam starts from the same loss (the seed logs it before the first update)
    adam = build_housing_net([15, 7], 0.0)
    assert abs(train_housing_net(adam, housing["X_train"], housing["y_train"], "adam", 1e-4, None, 1, 1)[0]
               - 1.086384) < 6e-7


@pytest.mark.data
def test_housing_quick_run_follows_the_seed_and_writes_artifacts(tmp_path, data_dir):
    metrics = get_recipe("housing-softsign").run(tmp_path, quick=True, progress=False,
                                                 data_path=str(data_dir / "california_housing"))
    gd = metrics["setups"]["gd"]["losses"]
    assert len(gd) == 20  # 2000 iterations logged every 100
    # deterministic full-batch GD on the seed's data and weights: the seed's losses at iterations 0 and 1000
    np.testing.assert_allclose([gd[0], gd[10]], SPEC_LOSSES["gd"][:2], atol=6e-7)
    assert metrics["gd_spec_loss_max_abs_diff"] < 6e-7
    for name in SETUPS:
        res = metrics["setups"][name]
        assert res["losses"][-1] < res["losses"][0] - 0.1, name  # measured drops 0.18-0.23
        assert res["test_acc"] > 0.5, name  # three balanced classes: chance is 1/3; measured 0.58-0.64
        assert np.sum(res["confusion"]) == 125
        arrays, meta = load_arrays(tmp_path / f"model_{name}.npz")
        assert arrays["0.weight"].shape == (15, 8) and meta["setup"] == name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["gd_test_ce"] == metrics["gd_test_ce"]
    for png in ("losses.png", "confusion.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_housing_recipe_rejects_unknown_setups(tmp_path):
    with pytest.raises(ValueError, match="setups must be a non-empty list of"):
        get_recipe("housing-softsign").run(tmp_path, quick=True, setups=["sgd_nesterov"])


@pytest.mark.slow
@pytest.mark.data
def test_housing_gd_full_run_meets_the_seeds_test_cross_entropy(tmp_path, data_dir):
    metrics = get_recipe("housing-softsign").run(tmp_path, setups=["gd"], progress=False,
                                                 data_path=str(data_dir / "california_housing"))
    assert round(metrics["gd_test_ce"], 3) <= 0.681
    np.testing.assert_allclose(metrics["setups"]["gd"]["losses"], SPEC_LOSSES["gd"], atol=2e-4)
