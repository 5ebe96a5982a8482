"""Activations and softmax / log-softmax: numerical gradients, stability at 1e4, dtype, invariants, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers import activations as act

ELEMENTWISE = {
    "relu": (act.relu_forward, act.relu_backward),
    "leaky_relu": (lambda x: act.leaky_relu_forward(x, 0.1), act.leaky_relu_backward),
    "sigmoid": (act.sigmoid_forward, act.sigmoid_backward),
    "tanh": (act.tanh_forward, act.tanh_backward),
    "softsign": (act.softsign_forward, act.softsign_backward),
}
AXIS_KERNELS = {
    "softmax": (act.softmax_forward, act.softmax_backward),
    "log_softmax": (act.log_softmax_forward, act.log_softmax_backward),
}


def _away_from_kink(x):
    """Move entries off the kink at 0 by more than the finite-difference step."""
    return np.where(np.abs(x) < 1e-3, x + np.sign(x + 1e-12) * 1e-2, x)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 7), (2, 3, 5)])
def test_elementwise_backward_matches_numerical_gradient(rng, name, shape):
    forward, backward = ELEMENTWISE[name]
    x = _away_from_kink(2 * rng.standard_normal(shape))
    dout = rng.standard_normal(shape)
    dx = backward(dout, forward(x)[1])
    dx_num = eval_numerical_gradient_array(lambda x: forward(x)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-7


@pytest.mark.parametrize("name", sorted(AXIS_KERNELS))
@pytest.mark.parametrize(("shape", "axis"), [((1, 1), -1), ((1, 6), -1), ((4, 3), 0), ((2, 3, 5), 1), ((3, 5), 1)])
def test_softmax_family_backward_matches_numerical_gradient(rng, name, shape, axis):
    forward, backward = AXIS_KERNELS[name]
    x = 3 * rng.standard_normal(shape)
    dout = rng.standard_normal(shape)
    dx = backward(dout, forward(x, axis=axis)[1])
    dx_num = eval_numerical_gradient_array(lambda x: forward(x, axis=axis)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-7


def test_relu_and_leaky_relu_values_and_zero_gradient_at_zero():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(act.relu_forward(x)[0], [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(act.relu_backward(np.ones(3), act.relu_forward(x)[1]), [0.0, 0.0, 1.0])
    out, cache = act.leaky_relu_forward(x, negative_slope=0.2)
    np.testing.assert_allclose(out, [-0.4, 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(act.leaky_relu_backward(np.ones(3), cache), [0.2, 0.2, 1.0], rtol=1e-15)
    np.testing.assert_allclose(act.leaky_relu_forward(x)[0], [-0.02, 0.0, 3.0], rtol=1e-15)  # default 0.01


def test_large_inputs_give_finite_results_without_warnings():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1, 5e3]])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        sig, _ = act.sigmoid_forward(x)
        sm, _ = act.softmax_forward(x)
        lsm, _ = act.log_softmax_forward(x)
        th, _ = act.tanh_forward(x)
        ss, _ = act.softsign_forward(x)
    for out in (sig, sm, lsm, th, ss):
        assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(sig[0], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(sm[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(lsm[0], [0.0, -1e4, -2e4])
    np.testing.assert_array_equal(lsm[1], [-15000.0, -14999.0, 0.0])


def test_sigmoid_matches_naive_formula_on_moderate_inputs(rng):
    x = 5 * rng.standard_normal((4, 6))
    np.testing.assert_allclose(act.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + sorted(AXIS_KERNELS))
def test_activations_keep_float32(rng, name):
    forward, backward = {**ELEMENTWISE, **AXIS_KERNELS}[name]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, cache = forward(x)
    dx = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 7), shift=st.floats(-1e3, 1e3), scale=st.floats(0.1, 100.0))
def test_softmax_rows_sum_to_one_and_ignore_shifts(n, c, shift, scale):
    x = scale * np.random.default_rng(n * 10 + c).standard_normal((n, c))
    p, _ = act.softmax_forward(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(act.softmax_forward(x + shift)[0], p, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(np.exp(act.log_softmax_forward(x)[0]), p, rtol=1e-10, atol=1e-300)


def test_activations_reject_bad_input():
    with pytest.raises(TypeError, match="relu_forward: x must be an array"):
        act.relu_forward([1.0, -1.0])
    with pytest.raises(ValueError, match="softmax_forward: axis 2 is out of range"):
        act.softmax_forward(np.zeros((2, 3)), axis=2)
    _, cache = act.tanh_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"tanh_backward: dout has shape \(3, 2\) but x has shape \(2, 3\)"):
        act.tanh_backward(np.zeros((3, 2)), cache)
    _, cache = act.log_softmax_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="log_softmax_backward: dout has shape"):
        act.log_softmax_backward(np.zeros(3), cache)
