"""The CIFAR-10 study recipes (optimizers, batchnorm, dropout): quick runs on the real data whose effects cannot
happen by chance, their artifacts, reloading a saved model, and the spec-claim bookkeeping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnlab.io import load_arrays
from nnlab.models import FullyConnectedNet
from nnlab.recipes import get_recipe
from nnlab.recipes.artifacts import UnknownSettingError
from nnlab.recipes.studies import _optimizer_claims, load_cifar10_subset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_bytes, path


def _run(name, tmp_path, data_dir, **overrides):
    with _one_blas_thread():
        metrics = get_recipe(name).run(tmp_path, quick=True, progress=False,
                                       data_path=str(data_dir / "cifar10"), **overrides)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["claims"] == metrics["claims"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["recipe"] == name and config["quick"] is True
    return metrics


@pytest.mark.data
def test_optimizers_quick_every_rule_learns_from_the_same_start(tmp_path, data_dir):
    m = _run("optimizers", tmp_path, data_dir)
    rules = ["sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam"]
    assert list(m["runs"]) == rules
    firsts = {m["runs"][r]["first_loss"] for r in rules}
    assert len(firsts) == 1  # same seed: same initial weights and first minibatch for every rule
    for rule in rules:
        run = m["runs"][rule]
        assert len(run["loss_history"]) == 10 and len(run["train_acc_history"]) == 3  # 500 images, batch 100, 2 ep
        # 10 steps bring the last-epoch mean loss far below the first (measured 2.98 -> 2.29 for plain sgd, the
        # slowest); a net that does not learn stays within ~0.1 of it
        assert run["final_loss"] < run["first_loss"] - 0.5, rule
    # the adaptive rules reach 3-4x chance on the 500 training images (measured 0.44 / 0.38; chance 0.1)
    assert m["runs"]["rmsprop"]["final_train_acc"] > 0.3 and m["runs"]["adam"]["final_train_acc"] > 0.3
    assert m["claims"]["sgd_momentum_beats_sgd_final_loss"] and m["claims"]["adam_beats_sgd_final_train_acc"]
    _assert_png(tmp_path / "optimizers.png")
    for rule in rules:
        arrays, meta = load_arrays(tmp_path / f"model_{rule}.npz")
        assert arrays["W1"].shape == (3072, 100) and arrays["W6"].shape == (100, 10) and meta["label"] == rule


@pytest.mark.data
def test_batchnorm_quick_rescues_vanishing_and_exploding_initialisations(tmp_path, data_dir):
    m = _run("batchnorm", tmp_path, data_dir)
    sweep = m["weight_scale"]
    assert sweep["weight_scales"] == [1e-4, 1.0]
    base, bn = sweep["results"]["baseline"], sweep["results"]["batchnorm"]
    # weight scale 1e-4 through 8 layers: the plain net's scores are ~0, so its loss sits at log(10) and nothing
    # moves (measured 2.30264); at scale 1 its activations explode (measured loss 2.4e8); batch norm keeps both sane
    assert abs(base["final_loss"][0] - math.log(10)) < 1e-3
    assert base["final_loss"][1] > 1e4
    assert bn["final_loss"][1] < 20 and bn["final_loss"][0] < base["final_loss"][0]
    deep = m["deep"]["runs"]
    assert len(deep["batchnorm"]["loss_history"]) == 16  # 200 images, batch 50, 4 epochs
    assert m["claims"]["batchnorm_beats_baseline_final_loss"]
    for name in ("batchnorm_deep.png", "batchnorm_weight_scale.png", "batch_size_batchnorm.png"):
        _assert_png(tmp_path / name)
    arrays, meta = load_arrays(tmp_path / "model_deep_batchnorm.npz")
    assert meta["normalization"] == "batchnorm" and {"gamma5", "beta5", "running_mean5", "running_var5"} <= set(arrays)
    assert set(m["batch_size"]["batchnorm"]) == {"batchnorm_bs10", "batchnorm_bs50"}
    assert len(m["batch_size"]["batchnorm"]["batchnorm_bs10"]["loss_history"]) == 4 * 20


@pytest.mark.data
def test_dropout_quick_lowers_train_accuracy_and_the_saved_model_reloads(tmp_path, data_dir):
    m = _run("dropout", tmp_path, data_dir)
    full, dropped = m["runs"]["keep_1.00"], m["runs"]["keep_0.25"]
    # without dropout the [500] net memorises 200 images fast (measured 0.85 after 8 epochs; chance 0.1)
    assert full["final_train_acc"] > 0.7
    assert dropped["final_train_acc"] < full["final_train_acc"]  # measured 0.785 vs 0.85
    # inverted dropout with keep 0.25 scales kept units by 4: the first loss is far above the no-dropout one
    assert dropped["first_loss"] > full["first_loss"] + 3  # measured 13.98 vs 7.82
    assert m["claims"]["dropout_lowers_final_train_acc"]
    _assert_png(tmp_path / "dropout.png")

    arrays, meta = load_arrays(tmp_path / "model_keep_0.25.npz")
    assert meta["dropout"] == pytest.approx(0.75) and meta["hidden_dims"] == [500]
    model = FullyConnectedNet(meta["hidden_dims"], dropout=meta["dropout"])
    model.params = arrays
    data = load_cifar10_subset(200, 200, data_dir / "cifar10")
    val_acc = float(np.mean(np.argmax(model.loss(data["X_val"]), axis=1) == data["y_val"]))
    assert val_acc == pytest.approx(dropped["best_val_acc"], abs=1e-12)  # the Solver kept the best-val weights


def test_optimizer_claims_on_the_spec_numbers():
    spec = {"sgd": (0.372, 1.9), "sgd_momentum": (0.536, 1.4), "rmsprop": (0.531, 1.45), "adam": (0.619, 1.2)}
    summaries = {r: {"final_train_acc": a, "final_loss": loss} for r, (a, loss) in spec.items()}
    claims = _optimizer_claims(summaries)
    assert claims == {"sgd_momentum_beats_sgd_final_loss": True, "sgd_momentum_beats_sgd_final_train_acc": True,
                      "rmsprop_beats_sgd_final_train_acc": True, "adam_beats_sgd_final_train_acc": True,
                      "adam_beats_rmsprop_final_train_acc": True, "adam_highest_final_train_acc": True,
                      "adam_highest_final_train_acc_of_004_rules": True}
    summaries["sgd_nesterov_momentum"] = {"final_train_acc": 0.65, "final_loss": 1.6}
    claims = _optimizer_claims(summaries)
    assert not claims["adam_highest_final_train_acc"] and claims["adam_highest_final_train_acc_of_004_rules"]
    assert claims["nesterov_beats_momentum_final_train_acc"]
    assert not claims["nesterov_beats_momentum_final_loss"]
    assert not claims["rmsprop_adam_nesterov_similar_final_loss"]  # 1.2 .. 1.6 is not "about the same"


def test_study_recipes_reject_unknown_settings_and_rules_without_a_learning_rate(tmp_path):
    for name in ("optimizers", "batchnorm", "dropout"):
        with pytest.raises(UnknownSettingError, match="no setting\\(s\\) epochs"):
            get_recipe(name).run(tmp_path, quick=True, epochs=3)
    with pytest.raises(ValueError, match="no learning rate for adagrad"):
        get_recipe("optimizers").run(tmp_path, quick=True, update_rules=["sgd", "adagrad"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.data
@pytest.mark.slow
def test_load_cifar10_subset_equals_slices_of_get_cifar10_data(data_dir):
    from nnlab.data.cifar10 import get_CIFAR10_data

    full = get_CIFAR10_data(path=data_dir / "cifar10", num_test=0)
    sub = load_cifar10_subset(300, 50, data_dir / "cifar10")
    for key, n in (("X_train", 300), ("y_train", 300), ("X_val", 50), ("y_val", 50)):
        assert sub[key].dtype == full[key].dtype
        np.testing.assert_array_equal(sub[key], full[key][:n])
