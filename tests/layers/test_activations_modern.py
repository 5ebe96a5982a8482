"""GELU (exact and tanh), SiLU, ELU, SELU, Softplus, Hardsigmoid, Hardswish, Mish and PReLU kernels: float64
numerical gradients, the accuracy of the hand-written erf against math.erf, stability at 1e4, dtype, values at
the kinks, and bad input. (Parity with torch: tests/parity/test_parity_activations_modern.py.)"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers import activations as act

KERNELS = {
    "gelu": (act.gelu_forward, act.gelu_backward),
    "gelu_tanh": (lambda x: act.gelu_forward(x, approximate="tanh"), act.gelu_backward),
    "silu": (act.silu_forward, act.silu_backward),
    "elu": (lambda x: act.elu_forward(x, alpha=0.7), act.elu_backward),
    "selu": (act.selu_forward, act.selu_backward),
    "softplus": (act.softplus_forward, act.softplus_backward),
    "softplus_beta_threshold": (lambda x: act.softplus_forward(x, beta=2.0, threshold=3.0), act.softplus_backward),
    "hardsigmoid": (act.hardsigmoid_forward, act.hardsigmoid_backward),
    "hardswish": (act.hardswish_forward, act.hardswish_backward),
    "mish": (act.mish_forward, act.mish_backward),
}
KINKS = {"elu": [0.0], "selu": [0.0], "softplus_beta_threshold": [1.5], "hardsigmoid": [-3.0, 3.0],
         "hardswish": [-3.0, 3.0]}


def _away_from(x: np.ndarray, kinks: list[float], gap: float = 1e-2) -> np.ndarray:
    """Move entries within ``gap`` of a kink to ``kink + gap`` (finite differences need a smooth neighbourhood)."""
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + gap, x)
    return x


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 7), (2, 3, 5)])
def test_activation_backward_matches_numerical_gradient(rng, name, shape):
    forward, backward = KERNELS[name]
    x = _away_from(1.5 * rng.standard_normal(shape), KINKS.get(name, []))
    dout = rng.standard_normal(shape)
    dx = backward(dout, forward(x)[1])
    dx_num = eval_numerical_gradient_array(lambda x: forward(x)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-7


def test_erf_matches_math_erf_to_double_precision(rng):
    x = np.concatenate([np.linspace(-8, 8, 200_001), 4 * rng.standard_normal(20_000),
                        [0.0, -0.0, 1e-300, -1e-20, 0.46875, -0.46875, 4.0, -4.0, 26.0, 27.5, 40.0, -40.0]])
    ref = np.array([math.erf(v) for v in x])
    err = np.abs(act.erf(x) - ref)
    assert err.max() <= 4.5e-16  # two ulps of 1
    small = np.abs(x) < 1
    assert (err[small] / np.maximum(np.abs(ref[small]), 1e-300)).max() < 5e-16  # relative, near zero too
    assert act.erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert np.isnan(act.erf(np.array([np.nan])))[0]


def test_erf_and_gelu_keep_float32(rng):
    x = (3 * rng.standard_normal(1000)).astype(np.float32)
    ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert act.erf(x).dtype == np.float32 and np.abs(act.erf(x) - ref).max() < 5e-7


def test_float32_erf_rational_within_its_stated_error_and_never_above_one():
    x = np.concatenate([np.linspace(-6, 6, 400_001), [0.0, -0.0, 4.0, -4.0, 30.0, -30.0]]).astype(np.float32)
    ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    got = act.erf(x)
    assert got.dtype == np.float32
    assert np.abs(got.astype(np.float64) - ref).max() < 4e-7  # measured 3.76e-7 (docstring of _erf_float32)
    assert np.abs(got).max() <= 1.0 and act.erf(np.array([np.inf, -np.inf], np.float32)).tolist() == [1.0, -1.0]
    assert np.isnan(act.erf(np.array([np.nan], np.float32)))[0]
    assert np.diff(got[:400_001]).min() >= -8e-7  # monotone within the approximation error (float32 rounding)


def test_gelu_values():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(act.gelu_forward(x)[0], exact, rtol=1e-15, atol=1e-300)
    tanh = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x]
    np.testing.assert_allclose(act.gelu_forward(x, "tanh")[0], tanh, rtol=1e-15, atol=1e-300)


def test_kinks_take_torchs_one_sided_values():
    x = np.array([-3.0, 3.0])
    np.testing.assert_array_equal(act.hardsigmoid_backward(np.ones(2), act.hardsigmoid_forward(x)[1]), [0, 0])
    np.testing.assert_array_equal(act.hardswish_backward(np.ones(2), act.hardswish_forward(x)[1]), [0, 1])
    np.testing.assert_array_equal(act.hardswish_forward(x)[0], [0.0, 3.0])
    out, cache = act.elu_forward(np.array([0.0]), alpha=2.0)
    assert out[0] == 0 and act.elu_backward(np.ones(1), cache)[0] == 2.0  # the x <= 0 branch: alpha * exp(0)


def test_selu_constants_and_softplus_threshold():
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(act.selu_forward(x)[0], [1.0507009873554805 * 1.6732632423543772 * math.expm1(-1),
                                                        1.0507009873554805 * 2.0], rtol=1e-15)
    out, cache = act.softplus_forward(np.array([10.0, 1.0]), beta=2.0, threshold=5.0)
    np.testing.assert_allclose(out, [10.0, math.log1p(math.exp(2.0)) / 2], rtol=1e-15)
    dx = act.softplus_backward(np.ones(2), cache)
    np.testing.assert_allclose(dx, [1.0, 1 / (1 + math.exp(-2.0))], rtol=1e-15)


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_stable_at_1e4_and_keep_dtype(name, dtype):
    forward, backward = KERNELS[name]
    x = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = forward(x)
        dx = backward(np.ones_like(x), cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("shape", [(1, 3), (4, 3), (2, 3, 5), (1, 3, 4, 2)])
@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu_gradients_match_numerical(rng, shape, per_channel):
    x = _away_from(rng.standard_normal(shape), [0.0])
    w = rng.uniform(0.05, 0.5, shape[1] if per_channel else 1)
    dout = rng.standard_normal(shape)
    out, cache = act.prelu_forward(x, w)
    dx, dw = act.prelu_backward(dout, cache)
    assert dw.shape == w.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda x: act.prelu_forward(x, w)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda w: act.prelu_forward(x, w)[0], w, dout)) < 1e-7
    slope = w.reshape((1, -1) + (1,) * (len(shape) - 2)) if per_channel else w[0]
    np.testing.assert_array_equal(out, np.where(x > 0, x, slope * x))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="gelu_forward: approximate must be 'none' or 'tanh', got 'fast'"):
        act.gelu_forward(np.zeros(2), approximate="fast")
    with pytest.raises(TypeError, match="silu_forward: x must have a floating-point dtype"):
        act.silu_forward(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="softplus_forward: beta must be non-zero"):
        act.softplus_forward(np.zeros(2), beta=0.0)
    with pytest.raises(ValueError, match="prelu_forward: weight has 4 slopes but x of shape \\(2, 3\\) has 3 channels"):
        act.prelu_forward(np.zeros((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match="prelu_forward: weight must be 1-D"):
        act.prelu_forward(np.zeros((2, 3)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="mish_backward: dout has shape \\(3,\\) but x has shape \\(2,\\)"):
        act.mish_backward(np.ones(3), act.mish_forward(np.zeros(2))[1])
