"""Update rules, get_update_rule, clip_grad_norm, minimize and gradient_descent: closed-form values, state and
dtype handling, and errors on bad input. (Spec values: tests/spec/test_spec_optim.py; torch: tests/parity.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.optim import (
    RULE_KEYS,
    UPDATE_RULES,
    adagrad,
    adam,
    adamax,
    adamw,
    check_optim_config,
    clip_grad_norm,
    get_update_rule,
    gradient_descent,
    minimize,
    rmsprop,
    sgd,
    sgd_momentum,
)

RULE_NAMES = list(UPDATE_RULES)


def test_update_rules_registry_names_every_rule():
    assert RULE_NAMES == ["sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam", "adamax", "adagrad",
                          "adamw"]
    assert all(UPDATE_RULES[name].__name__ == name for name in RULE_NAMES)


def test_get_update_rule_by_name_and_callable_passthrough():
    assert get_update_rule("adam") is adam

    def custom(w, dw, config=None):
        return w, config

    assert get_update_rule(custom) is custom


def test_get_update_rule_unknown_name_lists_known_rules():
    with pytest.raises(ValueError, match=r'Invalid update_rule "adamq" \(did you mean \'adam\'\?\); known rules: '
                                         r'sgd, sgd_momentum'):
        get_update_rule("adamq")


@pytest.mark.parametrize(("rule", "defaults"), [
    (sgd, {"learning_rate": 1e-2}),
    (sgd_momentum, {"learning_rate": 1e-2, "momentum": 0.9}),
    (rmsprop, {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}),
    (adam, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1}),
    (adamax, {"learning_rate": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1}),
    (adagrad, {"learning_rate": 1e-2, "epsilon": 1e-10}),
    (adamw, {"learning_rate": 1e-3, "weight_decay": 1e-2, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 1}),
])
def test_rule_without_config_fills_documented_defaults(rule, defaults):
    _, config = rule(np.ones(3), np.ones(3))
    assert {k: config[k] for k in defaults} == defaults


@pytest.mark.parametrize(("rule", "lr", "step"), [
    # first step from zero state, g = +-2: closed forms of each rule
    (sgd, 0.1, lambda g: 0.1 * g),
    (sgd_momentum, 0.1, lambda g: 0.1 * g),
    (rmsprop, 0.01, lambda g: 0.01 * g / (np.sqrt(0.01) * np.abs(g) + 1e-8)),  # cache = 0.01 g^2
    (adam, 0.01, lambda g: 0.01 * g / (np.abs(g) + 1e-8)),  # bias-corrected moments are g and g^2
    (adamax, 0.01, lambda g: 0.01 * g / (np.abs(g) + 1e-8)),  # m/(1-b1) = g, u = |g| + eps
    (adagrad, 0.01, lambda g: 0.01 * g / (np.abs(g) + 1e-10)),
    # decoupled decay of w = [0.5, -1.5, 3.0] by lr * wd = 1e-4, then Adam's first step
    (adamw, 0.01, lambda g: 1e-4 * np.array([0.5, -1.5, 3.0]) + 0.01 * g / (np.abs(g) + 1e-8)),
])
def test_first_step_from_zero_state_matches_closed_form(rule, lr, step):
    w = np.array([0.5, -1.5, 3.0])
    g = np.array([2.0, -2.0, 2.0])
    next_w, _ = rule(w, g, {"learning_rate": lr})
    np.testing.assert_allclose(next_w, w - step(g), rtol=1e-14)


def test_sgd_momentum_second_step_accumulates_velocity():
    w, g = np.zeros(2), np.array([1.0, -2.0])
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w, config = sgd_momentum(w, g, config)
    w, config = sgd_momentum(w, g, config)
    np.testing.assert_allclose(config["velocity"], [-0.15, 0.3])  # 0.5 * (-0.1 g) - 0.1 g
    np.testing.assert_allclose(w, [-0.25, 0.5])


def test_adagrad_cache_sums_squared_gradients():
    config = {"learning_rate": 0.1}
    w = np.zeros(2)
    for g in ([1.0, 2.0], [3.0, -1.0]):
        w, config = adagrad(w, np.array(g), config)
    np.testing.assert_allclose(config["cache"], [10.0, 5.0])


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_keeps_float32_and_does_not_modify_w(name, rng):
    rule = UPDATE_RULES[name]
    w = rng.standard_normal((4, 3)).astype(np.float32)
    w_before = w.copy()
    config = {"learning_rate": np.float64(1e-2)}  # a NumPy-2 float64 scalar must not promote float32 arrays
    for _ in range(3):
        next_w, config = rule(w, rng.standard_normal((4, 3)).astype(np.float32), config)
    assert next_w.dtype == np.float32
    assert next_w is not w
    np.testing.assert_array_equal(w, w_before)
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("name", RULE_NAMES)
@pytest.mark.parametrize("lr", [-1e-3, float("nan"), float("inf")])
def test_rule_rejects_negative_or_nonfinite_learning_rate(name, lr):
    with pytest.raises(ValueError, match=f"{name}: learning_rate must be a finite number"):
        UPDATE_RULES[name](np.ones(3), np.ones(3), {"learning_rate": lr})


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_rejects_gradient_of_other_shape(name):
    with pytest.raises(ValueError, match=rf"{name}: dw has shape \(3, 2\) but w has shape \(2, 3\)"):
        UPDATE_RULES[name](np.ones((2, 3)), np.ones((3, 2)))


@pytest.mark.parametrize(("name", "key"), [("sgd_momentum", "velocity"), ("rmsprop", "cache"), ("adam", "m"),
                                           ("adamax", "u"), ("adagrad", "cache")])
def test_rule_rejects_state_of_other_shape(name, key):
    with pytest.raises(ValueError, match=rf"{name}: config\['{key}'\] has shape \(4,\) but w has shape \(3,\)"):
        UPDATE_RULES[name](np.ones(3), np.ones(3), {key: np.zeros(4)})


@pytest.mark.parametrize(("rule", "key", "value"), [
    (sgd_momentum, "momentum", -0.1),
    (rmsprop, "decay_rate", 1.0),
    (adam, "beta1", 1.0),
    (adam, "beta2", -0.5),
    (adam, "epsilon", -1e-8),
])
def test_rule_rejects_out_of_range_hyperparameter(rule, key, value):
    with pytest.raises(ValueError, match=f"{rule.__name__}: {key} must be"):
        rule(np.ones(3), np.ones(3), {key: value})


def test_rule_rejects_integer_weights():
    with pytest.raises(TypeError, match="sgd: w must have a floating-point dtype"):
        sgd(np.ones(3, dtype=np.int64), np.ones(3))


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(RULE_NAMES), seed=st.integers(0, 2**16))
def test_rule_with_zero_learning_rate_leaves_w_unchanged(name, seed):
    r = np.random.default_rng(seed)
    w = r.standard_normal(5)
    next_w, _ = UPDATE_RULES[name](w, r.standard_normal(5), {"learning_rate": 0.0})
    np.testing.assert_array_equal(next_w, w)


# --------------------------------------------------------------------------------------------------- clipping
def test_clip_grad_norm_scales_dict_in_place_to_max_norm():
    grads = {"W": np.array([[3.0, 0.0]]), "b": np.array([4.0])}  # global norm 5
    norm = clip_grad_norm(grads, 1.0)
    assert norm == 5.0
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(grads["W"], [[3.0 * scale, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(grads["b"], [4.0 * scale], rtol=1e-15)


def test_clip_grad_norm_leaves_small_gradients_and_accepts_lists():
    grads = [np.array([0.3, 0.4]), np.array([[0.0]], dtype=np.float64)]
    assert clip_grad_norm(grads, 1.0) == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(grads[0], [0.3, 0.4])


def test_clip_grad_norm_keeps_float32():
    g = np.full(4, 10.0, dtype=np.float32)
    assert clip_grad_norm(g, 2.0) == pytest.approx(20.0)
    assert g.dtype == np.float32
    assert float(np.linalg.norm(g)) == pytest.approx(2.0, rel=1e-6)


def test_clip_grad_norm_rejects_negative_max_norm_and_integer_grads():
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be a finite number"):
        clip_grad_norm([np.ones(2)], -1.0)
    with pytest.raises(TypeError, match="clip_grad_norm: b must have a floating-point dtype"):
        clip_grad_norm({"b": np.ones(2, dtype=np.int32)}, 1.0)


# --------------------------------------------------------------------------------------------------- minimize
def test_minimize_sgd_on_quadratic_follows_geometric_decay():
    """grad(x) = 2x, so each sgd step multiplies x by (1 - 2 lr)."""
    x = minimize(None, lambda x: 2 * x, np.array([1.0, -3.0]), rule="sgd", num_iterations=7, learning_rate=0.1)
    np.testing.assert_allclose(x, np.array([1.0, -3.0]) * 0.8**7, rtol=1e-14)


def test_minimize_promotes_integer_start_and_does_not_modify_x0():
    x0 = np.array([2, 2])
    x = minimize(None, lambda x: 2 * x, x0, rule="sgd_momentum", num_iterations=300, learning_rate=0.05)
    np.testing.assert_array_equal(x0, [2, 2])
    assert x.dtype == np.float64
    np.testing.assert_allclose(x, [0.0, 0.0], atol=1e-6)


def test_minimize_rejects_unknown_rule_and_negative_iterations():
    with pytest.raises(ValueError, match='Invalid update_rule "newton"'):
        minimize(None, lambda x: x, np.ones(2), rule="newton")
    with pytest.raises(ValueError, match="minimize: num_iterations must be >= 0"):
        minimize(None, lambda x: x, np.ones(2), num_iterations=-1)


# --------------------------------------------------------------------------------------------------- gradient_descent
def test_gradient_descent_last_partial_minibatch_is_averaged_over_its_own_size():
    """n=5, batch_size=2: slices of 2, 2 and 1 rows; the 1-row slice uses 2/1 (its mean gradient)."""
    X = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0], [5.0, 1.0]])
    y = np.array([2.0, 3.0, 4.0, 5.0, 7.0])
    w = np.array([0.1, -0.2])
    expected = w.copy()
    for rows in (slice(0, 2), slice(2, 4), slice(4, 5)):
        Xb, yb = X[rows], y[rows]
        expected = expected - 0.01 * (2.0 / len(yb)) * Xb.T @ (Xb @ expected - yb)
    got = gradient_descent(X, y, w, 0.01, 1, batch_size=2, method="mini_batch")
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_array_equal(w, [0.1, -0.2])  # the caller's weights are untouched


def test_gradient_descent_full_minibatch_equals_batch():
    X = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]])
    y = np.array([2.0, 3.0, 4.0, 5.0])
    batch = gradient_descent(X, y, np.zeros(2), 0.01, 50, method="batch")
    mini = gradient_descent(X, y, np.zeros(2), 0.01, 50, batch_size=4, method="mini_batch")
    np.testing.assert_allclose(mini, batch, rtol=1e-15)


def test_gradient_descent_keeps_float32():
    X = np.array([[1.0, 1.0], [2.0, 1.0]], dtype=np.float32)
    w = gradient_descent(X, np.array([1.0, 2.0], dtype=np.float32), np.zeros(2, dtype=np.float32), 0.1, 3)
    assert w.dtype == np.float32


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"method": "newton"}, ValueError, "method must be one of batch, stochastic, mini_batch"),
    ({"method": "mini_batch"}, ValueError, "batch_size is required for method 'mini_batch'"),
    ({"method": "mini_batch", "batch_size": 0}, ValueError, "batch_size must be > 0"),
    ({"method": "mini_batch", "batch_size": 1.5}, TypeError, "batch_size must be an integer"),
    ({"learning_rate": -0.1}, ValueError, "learning_rate must be a finite number"),
    ({"n_iterations": -1}, ValueError, "n_iterations must be >= 0"),
    ({"y": np.ones(3)}, ValueError, r"y must have shape \(4,\)"),
    ({"weights": np.zeros(3)}, ValueError, r"weights must have shape \(2,\)"),
])
def test_gradient_descent_rejects_bad_arguments(kwargs, error, message):
    args = {"X": np.ones((4, 2)), "y": np.ones(4), "weights": np.zeros(2), "learning_rate": 0.01,
            "n_iterations": 2}
    args.update(kwargs)
    with pytest.raises(error, match=f"gradient_descent: {message}"):
        gradient_descent(**args)


def test_adam_accepts_integral_float_step_count_and_rejects_negative():
    _, config = adam(np.ones(2), np.ones(2), {"t": 5.0})
    assert config["t"] == 6 and isinstance(config["t"], int)
    with pytest.raises(ValueError, match=r"adam: config\['t'\] must be >= 0"):
        adam(np.ones(2), np.ones(2), {"t": -1})


# ---------------------------------------------------------------------------------------------------------------
# AdamW, declared keys and optim_config checks
# ---------------------------------------------------------------------------------------------------------------
def test_adamw_decay_is_decoupled_from_the_moments():
    """With a zero gradient the Adam step is 0, so only the decay acts: w * (1 - lr*wd)**k; the moments stay 0."""
    w = np.array([1.0, -2.0])
    config = {"learning_rate": 0.1, "weight_decay": 0.5}
    for _ in range(3):
        w, config = adamw(w, np.zeros(2), config)
    np.testing.assert_allclose(w, np.array([1.0, -2.0]) * 0.95**3, rtol=1e-15)
    assert not config["m"].any() and not config["v"].any() and config["t"] == 3


def test_adamw_without_decay_is_adam(rng):
    w, g = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_array_equal(adamw(w, g, {"learning_rate": 0.01, "weight_decay": 0.0})[0],
                                  adam(w, g, {"learning_rate": 0.01})[0])


@pytest.mark.parametrize("name", RULE_NAMES)
def test_every_rule_declares_its_keys_and_writes_no_other(name):
    rule = UPDATE_RULES[name]
    assert RULE_KEYS[name] == rule.hyperparameters + rule.state_keys
    assert rule.hyperparameters[0] == "learning_rate"
    _, config = rule(np.ones(3), np.ones(3))
    assert set(config) <= set(RULE_KEYS[name]), set(config) - set(RULE_KEYS[name])
    assert set(rule.hyperparameters) <= set(config)


@pytest.mark.parametrize(("rule", "config", "error", "message"), [
    ("adam", {"lr": 1e-3}, ValueError,
     r"unknown key 'lr' for update rule 'adam'; did you mean 'learning_rate'\? \(it accepts learning_rate, beta1"),
    ("sgd_momentum", {"momentun": 0.9}, ValueError, r"unknown key 'momentun'.*did you mean 'momentum'\?"),
    ("sgd", {"momentum": 0.9}, ValueError,
     r"unknown key 'momentum' for update rule 'sgd' \(it accepts learning_rate\)"),
    ("adamw", {"eps": 1e-6}, ValueError, "did you mean 'epsilon'"),
    ("rmsprop", {"alpha": 0.9}, ValueError, "did you mean 'decay_rate'"),
    ("adam", {"learning_rate": "1e-3"}, TypeError, r"optim_config\['learning_rate'\] must be a number, got str '1e-3'"),
    ("adam", {"beta1": True}, TypeError, r"optim_config\['beta1'\] must be a number, got bool"),
    ("sgd", {"learning_rate": -1.0}, ValueError, "optim_config: sgd: learning_rate must be a finite number in"),
    ("adam", {"beta2": 1.0}, ValueError, r"optim_config: adam: beta2 must be a finite number in \[0, 1\)"),
    ("adamw", {"weight_decay": -0.1}, ValueError, "optim_config: adamw: weight_decay must be"),
])
def test_check_optim_config_names_the_bad_key(rule, config, error, message):
    with pytest.raises(error, match=message):
        check_optim_config(rule, config)


def test_check_optim_config_returns_resolved_hyperparameters():
    assert check_optim_config("adamw", {"learning_rate": 0.1}) == {
        "learning_rate": 0.1, "weight_decay": 1e-2, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    # state entries (a resumed config) are accepted and left to the rule
    assert check_optim_config("adam", {"m": np.zeros(3), "t": 4})["learning_rate"] == 1e-3


def test_check_optim_config_skips_key_check_for_undeclared_callables():
    def custom(w, dw, config=None):
        return w, config or {}

    assert check_optim_config(custom, {"anything": 1.0}) == {"anything": 1.0}
    with pytest.raises(TypeError, match="must be a number"):
        check_optim_config(custom, {"anything": "1"})
