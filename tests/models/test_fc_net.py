"""TwoLayerNet and FullyConnectedNet: gradient checks of every configuration, modes, dtypes, RNG use, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.models import ACTIVATIONS, FullyConnectedNet, TwoLayerNet

D, HIDDEN, C = 4, [5, 3], 3


def grad_errors(model, X, y) -> dict[str, float]:
    """rel_error(analytic, numerical with h=1e-5) per parameter (float64).

    Entries where both gradients are below 1e-7 are zero in exact arithmetic (a bias followed by batchnorm,
    anything under a batch-of-one normalization); their centered difference is rounding noise (~1e-11), which
    rel_error's 1e-8 floor would blow up, so they are required to agree to 1e-9 absolutely instead.
    """
    _, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    errors = {}
    for name in grads:
        assert grads[name].shape == model.params[name].shape, name
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)
        ana = grads[name]
        zero = (np.abs(num) < 1e-7) & (np.abs(ana) < 1e-7)
        assert np.all(np.abs(num - ana)[zero] < 1e-9), name
        errors[name] = rel_error(ana[~zero], num[~zero]) if np.any(~zero) else 0.0
    return errors


def jitter_non_weights(model, rng) -> None:
    """Move biases, gamma and beta off their initial 0/1 values. With zero biases a sample whose previous
    layer was entirely dropped (or dead) sits exactly on the ReLU kink, where the centered difference is wrong."""
    for name, value in model.params.items():
        if not name.startswith("W"):
            base = 1.0 if name.startswith("gamma") else 0.0
            model.params[name] = base + 0.1 * rng.standard_normal(value.shape).astype(value.dtype)


def tiny_problem(rng, n: int):
    X = rng.standard_normal((n, D))
    y = rng.integers(C, size=n)
    return X, y


@pytest.mark.parametrize(("normalization", "activation", "dropout"),
                         list(itertools.product([None, "batchnorm", "layernorm"], ACTIVATIONS, [0.0, 0.3])))
def test_fc_net_gradients_match_numerical_for_every_configuration(rng, normalization, activation, dropout):
    np.random.seed(3)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization=normalization,
                              activation=activation, dropout=dropout, seed=7, reg=0.1, weight_scale=0.5,
                              dtype=np.float64)
    jitter_non_weights(model, rng)
    X, y = tiny_problem(rng, 6)
    errors = grad_errors(model, X, y)
    expected = {"W1", "b1", "W2", "b2", "W3", "b3"}
    if normalization:
        expected |= {"gamma1", "beta1", "gamma2", "beta2"}
    assert set(errors) == expected
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_fc_net_gradients_match_numerical_for_a_batch_of_one(rng, normalization, activation):
    np.random.seed(4)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization=normalization,
                              activation=activation, dropout=0.2, seed=1, reg=0.05, weight_scale=0.5,
                              dtype=np.float64)
    jitter_non_weights(model, rng)
    X, y = tiny_problem(rng, 1)
    errors = grad_errors(model, X, y)
    assert max(errors.values()) < 1e-6, errors


def test_fc_net_accepts_image_shaped_input(rng):
    model = FullyConnectedNet([6], input_dim=2 * 3 * 2, num_classes=C, dtype=np.float64)
    X = rng.standard_normal((4, 2, 3, 2))
    np.testing.assert_allclose(model.loss(X), model.loss(X.reshape(4, -1)), atol=0)
    _, grads = model.loss(X, rng.integers(C, size=4))
    assert grads["W1"].shape == (12, 6)


def test_fc_net_l2_penalty_is_half_reg_sum_of_weight_squares(rng):
    X, y = tiny_problem(rng, 5)
    np.random.seed(0)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization="layernorm", dtype=np.float64)
    base_loss, base_grads = model.loss(X, y)
    model.reg = 0.8
    loss, grads = model.loss(X, y)
    penalty = 0.4 * sum(np.sum(model.params[f"W{i}"] ** 2) for i in (1, 2, 3))
    assert loss - base_loss == pytest.approx(penalty, rel=1e-12)
    for name in grads:  # weights only: biases, gamma and beta are not regularized
        expected = base_grads[name] + (0.8 * model.params[name] if name.startswith("W") else 0)
        np.testing.assert_allclose(grads[name], expected, rtol=1e-12, atol=1e-15)


def test_fc_net_weights_are_drawn_from_the_global_rng_in_layer_order():
    np.random.seed(231)
    model = FullyConnectedNet([7, 6], input_dim=5, num_classes=4, weight_scale=0.1, normalization="batchnorm",
                              dtype=np.float64)
    np.random.seed(231)
    np.testing.assert_array_equal(model.params["W1"], 0.1 * np.random.randn(5, 7))
    np.testing.assert_array_equal(model.params["W2"], 0.1 * np.random.randn(7, 6))
    np.testing.assert_array_equal(model.params["W3"], 0.1 * np.random.randn(6, 4))
    for i, size in ((1, 7), (2, 6)):
        np.testing.assert_array_equal(model.params[f"gamma{i}"], np.ones(size))
        np.testing.assert_array_equal(model.params[f"beta{i}"], np.zeros(size))
    assert all(np.all(model.params[f"b{i}"] == 0) for i in (1, 2, 3))
    assert "gamma3" not in model.params and "beta3" not in model.params  # the output layer is not normalized


def test_fc_net_seeded_dropout_leaves_the_global_rng_alone(rng):
    X, y = tiny_problem(rng, 4)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, dropout=0.5, seed=3, dtype=np.float64)
    state = np.random.get_state()[1].copy()
    first, _ = model.loss(X, y)
    second, _ = model.loss(X, y)
    assert first == second  # the same masks every call
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_fc_net_test_mode_turns_dropout_off(rng):
    X, y = tiny_problem(rng, 4)
    np.random.seed(5)
    with_dropout = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, dropout=0.5, seed=3, dtype=np.float64)
    plain = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, dtype=np.float64)
    plain.params = {k: v.copy() for k, v in with_dropout.params.items()}
    with_dropout.loss(X, y)
    assert with_dropout.dropout_param["mode"] == "train"
    np.testing.assert_array_equal(with_dropout.loss(X), plain.loss(X))
    assert with_dropout.dropout_param["mode"] == "test"
    train_loss, _ = with_dropout.loss(X, y)
    assert train_loss != plain.loss(X, y)[0]


def test_fc_net_batchnorm_test_mode_uses_running_stats(rng):
    X, y = tiny_problem(rng, 8)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization="batchnorm", dtype=np.float64)
    for _ in range(3):
        model.loss(X, y)
    assert all(p["mode"] == "train" for p in model.bn_params)
    assert all("running_mean" in p and "running_var" in p for p in model.bn_params)
    scores = model.loss(X)
    assert all(p["mode"] == "test" for p in model.bn_params)
    # running statistics make each sample's scores independent of the rest of the batch
    np.testing.assert_allclose(model.loss(X[:1]), scores[:1], rtol=1e-12)


def test_fc_net_layernorm_scores_do_not_depend_on_the_batch(rng):
    X, y = tiny_problem(rng, 8)
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization="layernorm", dtype=np.float64)
    np.testing.assert_allclose(model.loss(X[2:3]), model.loss(X)[2:3], rtol=1e-12)
    assert model.bn_params == [{"mode": "test"}, {"mode": "test"}]


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_fc_net_float32_model_keeps_float32(rng, normalization, activation):
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization=normalization,
                              activation=activation, dropout=0.1, seed=0)
    assert all(p.dtype == np.float32 for p in model.params.values())
    X, y = tiny_problem(rng, 5)  # float64 input is cast to the model's dtype
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, y)
    assert np.asarray(loss).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    model64 = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, normalization=normalization,
                                activation=activation, dropout=0.1, seed=0, dtype=np.float64)
    model64.params = {k: v.astype(np.float64) for k, v in model.params.items()}
    loss64, grads64 = model64.loss(X, y)
    assert float(loss) == pytest.approx(float(loss64), rel=1e-5)
    # errors relative to the largest gradient entry: batchnorm makes the bias grads ~0, i.e. pure rounding noise
    scale = max(float(np.max(np.abs(g))) for g in grads64.values())
    for name in grads:
        assert np.max(np.abs(grads[name] - grads64[name])) / scale < 1e-5, name


def test_fc_net_dropout_keep_ratio_one_means_no_dropout():
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, dropout_keep_ratio=1)
    assert not model.use_dropout and model.dropout_param == {}
    both = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, dropout=0.4, dropout_keep_ratio=0.6)
    assert both.dropout_param["p"] == pytest.approx(0.4)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"hidden_dims": [5, 0]}, ValueError, r"hidden_dims\[1\] must be a positive integer, got 0"),
    ({"hidden_dims": [2.5]}, ValueError, r"hidden_dims\[0\] must be a positive integer"),
    ({"hidden_dims": 5}, TypeError, "hidden_dims must be a list of positive ints"),
    ({"hidden_dims": "100"}, TypeError, "hidden_dims must be a list of positive ints"),
    ({"input_dim": -1}, ValueError, "input_dim must be a positive integer"),
    ({"num_classes": 0}, ValueError, "num_classes must be a positive integer"),
    ({"normalization": "groupnorm"}, ValueError, "normalization must be one of"),
    ({"activation": "elu"}, ValueError, "activation must be one of"),
    ({"weight_scale": 0.0}, ValueError, "weight_scale must be > 0"),
    ({"reg": -0.1}, ValueError, "reg must be >= 0"),
    ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
    ({"dropout": -0.1}, ValueError, r"dropout must be in \[0, 1\)"),
    ({"dropout_keep_ratio": 0.0}, ValueError, r"dropout_keep_ratio must be in \(0, 1\]"),
    ({"dropout": 0.2, "dropout_keep_ratio": 0.5}, ValueError, "contradicts dropout_keep_ratio"),
    ({"dtype": np.int32}, TypeError, "dtype must be a floating-point type"),
])
def test_fc_net_rejects_bad_constructor_arguments(kwargs, error, match):
    args = {"hidden_dims": HIDDEN, "input_dim": D, "num_classes": C, **kwargs}
    with pytest.raises(error, match=match):
        FullyConnectedNet(**args)


def test_fc_net_loss_rejects_bad_inputs():
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C)
    with pytest.raises(ValueError, match="X has 5 features per sample .* expects input_dim=4"):
        model.loss(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="X must be"):
        model.loss(np.zeros(4))
    with pytest.raises(ValueError, match=r"y must be in \[0, 3\)"):
        model.loss(np.zeros((2, 4)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        model.loss(np.zeros((2, 4)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        model.loss(np.zeros((2, 4)), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="X must be an array"):
        model.loss([[0.0] * 4])


# ----------------------------------------------------------------------------------------------------------
# TwoLayerNet
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 4])
def test_two_layer_net_gradients_match_numerical(rng, n):
    np.random.seed(6)
    model = TwoLayerNet(input_dim=D, hidden_dim=7, num_classes=C, weight_scale=0.5, reg=0.3)
    jitter_non_weights(model, rng)
    X, y = tiny_problem(rng, n)
    errors = grad_errors(model, X, y)
    assert max(errors.values()) < 1e-7, errors


def test_two_layer_net_matches_fc_net_with_one_hidden_layer(rng):
    X, y = tiny_problem(rng, 5)
    two = TwoLayerNet(input_dim=D, hidden_dim=6, num_classes=C, weight_scale=0.3, reg=0.2)
    fc = FullyConnectedNet([6], input_dim=D, num_classes=C, reg=0.2, dtype=np.float64)
    fc.params = {k: v.copy() for k, v in two.params.items()}
    loss_two, grads_two = two.loss(X, y)
    loss_fc, grads_fc = fc.loss(X, y)
    assert loss_two == pytest.approx(loss_fc, rel=1e-14)
    for name in grads_two:
        np.testing.assert_allclose(grads_two[name], grads_fc[name], rtol=1e-13, atol=1e-16)


def test_two_layer_net_float32(rng):
    model = TwoLayerNet(input_dim=D, hidden_dim=6, num_classes=C, dtype=np.float32, reg=0.1)
    X, y = tiny_problem(rng, 3)
    assert model.loss(X).dtype == np.float32
    loss, grads = model.loss(X, y)
    assert np.asarray(loss).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_two_layer_net_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_dim must be a positive integer"):
        TwoLayerNet(hidden_dim=0)
    with pytest.raises(ValueError, match="weight_scale must be > 0"):
        TwoLayerNet(weight_scale=-1.0)
    model = TwoLayerNet(input_dim=D, hidden_dim=6, num_classes=C)
    with pytest.raises(ValueError, match="expects input_dim=4"):
        model.loss(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"y must be in \[0, 3\)"):
        model.loss(np.zeros((2, 4)), np.array([-1, 0]))


def test_fc_batchnorm_buffers_round_trip_and_drive_test_time_scores():
    np.random.seed(0)
    X = np.random.randn(8, 6)
    y = np.random.randint(3, size=8)
    model = FullyConnectedNet([5, 4], input_dim=6, num_classes=3, normalization="batchnorm", dtype=np.float64)
    initial = model.buffer_arrays()  # present from the start, at zero (so a rejected first step can be undone)
    assert sorted(initial) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    assert all(not v.any() for v in initial.values())
    model.loss(X, y)
    bufs = {k: v.copy() for k, v in model.buffer_arrays().items()}
    assert sorted(bufs) == ["running_mean1", "running_mean2", "running_var1", "running_var2"]
    scores = model.loss(X)
    model.loss(X + 1.0, y)  # moves the running stats
    assert not np.allclose(model.loss(X), scores)
    model.load_buffer_arrays(bufs)
    np.testing.assert_array_equal(model.loss(X), scores)
    with pytest.raises(ValueError, match="unknown buffer 'running_mean3'"):
        model.load_buffer_arrays({"running_mean3": np.zeros(4)})
    plain = FullyConnectedNet([5], input_dim=6, num_classes=3)
    assert plain.buffer_arrays() == {}
