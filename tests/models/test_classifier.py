"""Classifier: the model contract over any module (live params, L2 on weights only, gradient check, Solver)."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.nn as nn
from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.layers import softmax_loss, svm_loss
from nnlab.models.classifier import Classifier


def conv_net(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, seed=seed), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(3, 4, 2, seed=seed + 1), nn.GroupNorm(2, 4), nn.Softsign(), nn.Flatten(),
        nn.Linear(4 * 1 * 1, 6, seed=seed + 2), nn.LayerNorm(6), nn.Sigmoid(), nn.Linear(6, 5, seed=seed + 3),
    )


def test_params_is_a_live_mapping_that_writes_into_the_module():
    net = nn.Sequential(nn.Linear(3, 2, seed=0))
    model = Classifier(net)
    assert list(model.params) == ["0.weight", "0.bias"]
    assert model.params["0.weight"] is net[0].weight
    new_w = np.ones((2, 3), np.float32)
    model.params["0.weight"] = new_w
    assert net[0].weight is new_w
    model.params = {"0.bias": np.full(2, 7.0, np.float32)}
    np.testing.assert_array_equal(net[0].bias, [7.0, 7.0])
    with pytest.raises(ValueError, match=r"Classifier.params: 0.weight must have shape \(2, 3\), got \(3, 2\)"):
        model.params["0.weight"] = np.ones((3, 2), np.float32)
    with pytest.raises(KeyError, match="unknown parameter names"):
        model.params = {"1.weight": new_w}
    with pytest.raises(KeyError):
        model.params["nope"]


def test_loss_without_labels_returns_eval_mode_scores(rng):
    net = nn.Sequential(nn.Linear(4, 3, seed=0), nn.Dropout(0.5, seed=0))
    model = Classifier(net)
    X = rng.standard_normal((5, 4)).astype(np.float32)
    scores = model.loss(X)
    assert not net.training
    np.testing.assert_array_equal(scores, net[0](X))
    model.loss(X, np.zeros(5, dtype=np.int64))
    assert net.training


@pytest.mark.parametrize("loss_name, loss_fn", [("softmax", softmax_loss), ("svm", svm_loss)])
def test_loss_adds_half_reg_sum_of_linear_and_conv_weights_only(rng, loss_name, loss_fn):
    net = conv_net().to(np.float64)
    for p in net.parameters():
        p[...] = rng.standard_normal(p.shape)
    X, y = rng.standard_normal((3, 2, 4, 4)), np.array([0, 4, 2])
    reg = 0.7
    model = Classifier(net, loss=loss_name, reg=reg)
    assert model.regularized_names() == ["0.weight", "4.weight", "8.weight", "11.weight"]
    loss, grads = model.loss(X, y)
    data_loss, _ = loss_fn(net(X), y)  # BatchNorm in train mode both times: same batch, same output
    l2 = sum((model.params[k] ** 2).sum() for k in model.regularized_names())
    assert abs(loss - (data_loss + 0.5 * reg * l2)) < 1e-12
    model.reg = 0.0
    _, grads0 = model.loss(X, y)
    for k in model.params:
        expected = grads0[k] + (reg * model.params[k] if k in model.regularized_names() else 0)
        np.testing.assert_allclose(grads[k], expected, rtol=1e-12, atol=1e-15)


def conv_bn_net(seed: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False, seed=seed), nn.BatchNorm2d(4), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16, 6, seed=seed + 2), nn.LayerNorm(6), nn.Softsign(), nn.Linear(6, 5, seed=seed + 3),
    )


def conv_gn_net(seed: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False, seed=seed), nn.GroupNorm(2, 4), nn.Sigmoid(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 8, bias=False, seed=seed + 2), nn.BatchNorm1d(8),
        nn.Tanh(), nn.Linear(8, 5, seed=seed + 3),
    )


@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("make", [conv_bn_net, conv_gn_net])
def test_gradient_check_of_a_sequential_through_classifier_float64(rng, make, reg):
    # No bias right before a normalization: its exact gradient is 0 and a relative error meaningless. The error
    # is taken relative to the tensor's largest gradient: entries far below it (1e-10 here, under the float64
    # finite-difference noise floor of ~1e-11) would make CS231n's elementwise rel_error measure noise.
    net = make(0).to(np.float64)
    for module in net.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            module.weight[...] = 1 + 0.5 * rng.standard_normal(module.weight.shape)
            module.bias[...] = 1 + 0.5 * rng.standard_normal(module.bias.shape)
    model = Classifier(net, reg=reg)
    X, y = rng.standard_normal((4, 2, 4, 4)), np.array([1, 0, 4, 3])
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    for name in model.params:
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)
        err = np.abs(num - grads[name]).max() / (np.abs(num) + np.abs(grads[name])).max()
        assert err < 1e-7, f"{name}: relative error {err:.2e} (elementwise rel_error {rel_error(num, grads[name]):.1e})"


def test_predict_returns_argmax_in_batches(rng):
    net = nn.Sequential(nn.Linear(4, 3, seed=0))
    model = Classifier(net)
    X = rng.standard_normal((7, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(X, batch_size=3), np.argmax(net(X), axis=1))


def test_constructor_rejects_bad_arguments():
    with pytest.raises(TypeError, match="module must be an nnlab.nn.Module"):
        Classifier(lambda x: x)
    with pytest.raises(ValueError, match="loss must be one of"):
        Classifier(nn.Linear(2, 2), loss="mse")
    with pytest.raises(ValueError, match="reg must be >= 0"):
        Classifier(nn.Linear(2, 2), reg=-1)


def test_sequential_with_batchnorm_learns_digits_through_solver():
    from nnlab.data import load_digits
    from nnlab.solver import Solver

    data = load_digits()
    net = nn.Sequential(nn.Linear(64, 128, seed=0), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.1, seed=1),
                        nn.Linear(128, 10, seed=2))
    model = Classifier(net, reg=1e-4)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, num_epochs=15,
                    batch_size=64, verbose=False, seed=0, progress=False)
    solver.train()
    test_acc = float((model.predict(data["X_test"]) == data["y_test"]).mean())
    assert test_acc >= 0.97, f"test accuracy {test_acc:.4f}"
    assert solver.best_val_acc >= 0.96
    # The Solver restored its best parameters through the params mapping and their BatchNorm statistics through
    # buffer_arrays()/load_buffer_arrays().
    assert set(solver.best_buffers) == {"1.running_mean", "1.running_var"}
    for k, v in solver.best_buffers.items():
        np.testing.assert_array_equal(model.buffer_arrays()[k], v)
    for k, v in solver.best_params.items():
        np.testing.assert_array_equal(model.params[k], v)


def test_buffers_expose_and_restore_batchnorm_running_statistics():
    net = nn.Sequential(nn.Linear(3, 2, seed=0), nn.BatchNorm1d(2))
    model = Classifier(net)
    assert list(model.buffer_arrays()) == ["1.running_mean", "1.running_var"]
    assert model.buffer_arrays()["1.running_var"] is net[1].running_var
    model.load_buffer_arrays({"1.running_mean": np.array([1.0, 2.0], np.float32)})
    np.testing.assert_array_equal(net[1].running_mean, [1.0, 2.0])
    with pytest.raises(KeyError, match="unknown buffer names"):
        model.load_buffer_arrays({"0.running_mean": np.zeros(2)})
    with pytest.raises(ValueError, match=r"1.running_var must have shape \(2,\), got \(3,\)"):
        model.load_buffer_arrays({"1.running_var": np.zeros(3)})


def test_solver_checkpoint_resumes_into_a_fresh_classifier(tmp_path, rng):
    from nnlab.solver import Solver

    data = {"X_train": rng.standard_normal((40, 5)).astype(np.float32), "y_train": rng.integers(0, 3, 40),
            "X_val": rng.standard_normal((10, 5)).astype(np.float32), "y_val": rng.integers(0, 3, 10)}

    def make() -> Classifier:
        return Classifier(nn.Sequential(nn.Linear(5, 4, seed=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3, seed=1)))

    model = make()
    solver = Solver(model, data, update_rule="adam", num_epochs=2, batch_size=10, verbose=False, progress=False,
                    seed=0, checkpoint_name=str(tmp_path / "run"))
    solver.train()
    from nnlab.io import load_arrays

    saved, _ = load_arrays(tmp_path / "run_latest.npz")  # the last iterate (train() then restores the best)
    fresh = make()
    resumed = Solver.resume(tmp_path / "run_latest.npz", fresh, data)
    assert resumed.epoch == 2
    for k in fresh.params:
        np.testing.assert_array_equal(fresh.params[k], saved[f"params/{k}"])
    for k in ("1.running_mean", "1.running_var"):
        np.testing.assert_array_equal(fresh.buffer_arrays()[k], saved[f"buffers/{k}"])
    for k, v in resumed.best_params.items():
        np.testing.assert_array_equal(v, solver.best_params[k])


def test_first_conv_skips_the_input_gradient_and_parameter_grads_are_unchanged(rng):
    X = rng.standard_normal((4, 2, 5, 5))
    y = rng.integers(0, 5, size=4)
    lean = Classifier(conv_net().astype(np.float64))
    full = Classifier(conv_net().astype(np.float64), input_grad=True)
    assert lean.module[0].input_grad is False and full.module[0].input_grad is True
    loss_lean, grads_lean = lean.loss(X, y)
    loss_full, grads_full = full.loss(X, y)
    assert loss_lean == loss_full
    for name in grads_full:
        np.testing.assert_array_equal(grads_lean[name], grads_full[name], err_msg=name)
    assert lean.module[0].backward(np.ones((4, 3, 5, 5))) is None  # no input gradient computed
    assert full.module[0].backward(np.ones((4, 3, 5, 5))).shape == X.shape

