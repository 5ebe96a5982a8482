"""Batch / layer / spatial batch / group norm: gradient checks, running statistics, dtype, invariants, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers import normalization as nz

# Shapes avoid normalizing groups of exactly 2 values: there xhat = +-1 and dx is ~eps-sized, so centred
# differences are dominated by rounding (rel. error ~1e-5) although the analytic gradient is right.
# Batch 1 is included: every gradient except dbeta is then exactly zero, numerically and analytically.


def _check_grads(forward, backward, args, dout, names):
    """Numerically check backward(dout, cache) against forward over each array in ``args`` named in names."""
    grads = backward(dout, forward(*args)[1])
    for i, (name, grad) in enumerate(zip(names, grads)):
        arg = args[i]

        def f(a, i=i):
            return forward(*args[:i], a, *args[i + 1:])[0]

        num = eval_numerical_gradient_array(f, arg, dout)
        assert grad.shape == arg.shape, f"{name}: shape {grad.shape} vs {arg.shape}"
        assert rel_error(grad, num) < 1e-6, f"{name}: rel error {rel_error(grad, num):.2e}"


@pytest.mark.parametrize("backward", [nz.batchnorm_backward, nz.batchnorm_backward_alt])
@pytest.mark.parametrize("shape", [(1, 4), (3, 2), (5, 1), (7, 4)])
def test_batchnorm_backward_matches_numerical_gradient(rng, backward, shape):
    x = 3 * rng.standard_normal(shape) + 2
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    dout = rng.standard_normal(shape)

    def forward(x, gamma, beta):
        return nz.batchnorm_forward(x, gamma, beta, {"mode": "train"})

    _check_grads(forward, backward, (x, gamma, beta), dout, ("dx", "dgamma", "dbeta"))


def test_batchnorm_test_mode_backward_matches_numerical_gradient(rng):
    x = rng.standard_normal((4, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    param = {"mode": "test", "running_mean": rng.standard_normal(3), "running_var": rng.uniform(0.5, 2, 3)}

    def forward(x, gamma, beta):
        return nz.batchnorm_forward(x, gamma, beta, dict(param))

    _check_grads(forward, nz.batchnorm_backward, (x, gamma, beta), rng.standard_normal((4, 3)),
                 ("dx", "dgamma", "dbeta"))


@pytest.mark.parametrize(("shape", "param_shape"), [((1, 5), (5,)), ((3, 7), (7,)), ((2, 3, 4), (4,)),
                                                    ((2, 3, 4), (1, 1, 4))])
def test_layernorm_backward_matches_numerical_gradient(rng, shape, param_shape):
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta = rng.standard_normal(param_shape), rng.standard_normal(param_shape)

    def forward(x, gamma, beta):
        return nz.layernorm_forward(x, gamma, beta, {})

    _check_grads(forward, nz.layernorm_backward, (x, gamma, beta), rng.standard_normal(shape),
                 ("dx", "dgamma", "dbeta"))


@pytest.mark.parametrize("param_shape", ["(C,)", "(1,C,1,1)"])
@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 1, 2, 5), (2, 3, 1, 1)])
def test_spatial_batchnorm_backward_matches_numerical_gradient(rng, shape, param_shape):
    c = shape[1]
    pshape = (c,) if param_shape == "(C,)" else (1, c, 1, 1)
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta = rng.standard_normal(pshape), rng.standard_normal(pshape)

    def forward(x, gamma, beta):
        return nz.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})

    _check_grads(forward, nz.spatial_batchnorm_backward, (x, gamma, beta), rng.standard_normal(shape),
                 ("dx", "dgamma", "dbeta"))


@pytest.mark.parametrize(("shape", "G"), [((2, 6, 3, 3), 1), ((2, 6, 3, 3), 2), ((1, 6, 2, 3), 3),
                                          ((2, 6, 1, 3), 6), ((1, 4, 1, 3), 2)])
def test_spatial_groupnorm_backward_matches_numerical_gradient(rng, shape, G):
    c = shape[1]
    x = 2 * rng.standard_normal(shape) + 1
    gamma, beta = rng.standard_normal((1, c, 1, 1)), rng.standard_normal((1, c, 1, 1))

    def forward(x, gamma, beta):
        return nz.spatial_groupnorm_forward(x, gamma, beta, G, {})

    _check_grads(forward, nz.spatial_groupnorm_backward, (x, gamma, beta), rng.standard_normal(shape),
                 ("dx", "dgamma", "dbeta"))


def test_batchnorm_running_stats_start_at_zero_and_are_written_back(rng):
    x = rng.standard_normal((8, 3)) * 2 + 5
    param = {"mode": "train", "momentum": 0.8}
    nz.batchnorm_forward(x, np.ones(3), np.zeros(3), param)
    np.testing.assert_allclose(param["running_mean"], 0.2 * x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(param["running_var"], 0.2 * x.var(axis=0), rtol=1e-13)
    x2 = rng.standard_normal((8, 3))
    rm, rv = param["running_mean"].copy(), param["running_var"].copy()
    nz.batchnorm_forward(x2, np.ones(3), np.zeros(3), param)
    np.testing.assert_allclose(param["running_mean"], 0.8 * rm + 0.2 * x2.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(param["running_var"], 0.8 * rv + 0.2 * x2.var(axis=0), rtol=1e-13)
    param["mode"] = "test"
    out, _ = nz.batchnorm_forward(x2, np.ones(3), np.zeros(3), param)
    np.testing.assert_allclose(out, (x2 - param["running_mean"]) / np.sqrt(param["running_var"] + 1e-5),
                               rtol=1e-13)


def test_spatial_batchnorm_equals_batchnorm_on_channel_rows(rng):
    x = rng.standard_normal((3, 4, 2, 5))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    p1, p2 = {"mode": "train"}, {"mode": "train"}
    out, _ = nz.spatial_batchnorm_forward(x, gamma, beta, p1)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    ref, _ = nz.batchnorm_forward(rows, gamma, beta, p2)
    np.testing.assert_allclose(out, ref.reshape(3, 2, 5, 4).transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p1["running_var"], p2["running_var"], rtol=1e-12)
    assert p1["running_mean"].shape == (4,)


def test_groupnorm_with_one_group_per_channel_is_instance_norm(rng):
    x = rng.standard_normal((2, 3, 4, 4)) * 3 + 1
    out, _ = nz.spatial_groupnorm_forward(x, np.ones((1, 3, 1, 1)), np.zeros((1, 3, 1, 1)), 3, {})
    ref = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(lead=st.lists(st.integers(1, 4), min_size=1, max_size=3), d=st.integers(2, 6))
def test_layernorm_any_rank_equals_rowwise_layernorm(lead, d):
    r = np.random.default_rng(sum(lead) * 7 + d)
    x = r.standard_normal((*lead, d)) * 4 + 2
    gamma, beta = r.standard_normal(d), r.standard_normal(d)
    out, _ = nz.layernorm_forward(x, gamma, beta, {})
    ref, _ = nz.layernorm_forward(x.reshape(-1, d), gamma, beta, {})
    np.testing.assert_allclose(out, ref.reshape(x.shape), rtol=1e-12, atol=1e-12)
    xhat = (out - beta) / gamma
    np.testing.assert_allclose(xhat.mean(axis=-1), 0.0, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 9), d=st.integers(1, 5))
def test_batchnorm_train_output_has_beta_mean_and_gamma_scale(n, d):
    r = np.random.default_rng(n * 13 + d)
    x = r.standard_normal((n, d)) * 10 + 3
    gamma, beta = r.uniform(0.5, 2, d), r.standard_normal(d)
    out, _ = nz.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 0.0})
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-10)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-8)


def test_normalizations_keep_float32(rng):
    x2 = rng.standard_normal((4, 3)).astype(np.float32)
    x4 = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    g3, b3 = np.ones(3, np.float32), np.zeros(3, np.float32)
    g4, b4 = np.ones((1, 4, 1, 1), np.float32), np.zeros((1, 4, 1, 1), np.float32)
    param = {"mode": "train"}
    cases = [
        (nz.batchnorm_forward(x2, g3, b3, param), nz.batchnorm_backward),
        (nz.batchnorm_forward(x2, g3, b3, {"mode": "train"}), nz.batchnorm_backward_alt),
        (nz.layernorm_forward(x2, g3, b3, {}), nz.layernorm_backward),
        (nz.spatial_batchnorm_forward(x4, g4, b4, {"mode": "train"}), nz.spatial_batchnorm_backward),
        (nz.spatial_groupnorm_forward(x4, g4, b4, 2, {}), nz.spatial_groupnorm_backward),
    ]
    for (out, cache), backward in cases:
        assert out.dtype == np.float32
        assert all(g.dtype == np.float32 for g in backward(np.ones_like(out), cache))
    assert param["running_mean"].dtype == np.float32 and param["running_var"].dtype == np.float32


def test_normalizations_refuse_bad_input():
    x, g, b = np.zeros((4, 3)), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match=r"batchnorm_forward: x must be 2-D \(N, D\)"):
        nz.batchnorm_forward(np.zeros((2, 3, 4)), g, b, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm_forward: gamma must have shape \(3,\)"):
        nz.batchnorm_forward(x, np.ones(4), b, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm_forward: beta must have shape \(3,\)"):
        nz.batchnorm_forward(x, g, np.zeros((1, 3)), {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm_forward: bn_param\['mode'\] must be 'train' or 'test'"):
        nz.batchnorm_forward(x, g, b, {})
    with pytest.raises(ValueError, match=r"layernorm_forward: gamma must have shape"):
        nz.layernorm_forward(x, np.ones(4), b, {})
    with pytest.raises(ValueError, match=r"spatial_batchnorm_forward: x must be 4-D"):
        nz.spatial_batchnorm_forward(x, g, b, {"mode": "train"})
    x4 = np.zeros((2, 6, 2, 2))
    g6, b6 = np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1))
    with pytest.raises(ValueError, match=r"spatial_batchnorm_forward: gamma must have shape \(6,\) or"):
        nz.spatial_batchnorm_forward(x4, np.ones((6, 1)), b6, {"mode": "train"})
    with pytest.raises(ValueError, match="spatial_groupnorm_forward: G must be a positive divisor of the 6"):
        nz.spatial_groupnorm_forward(x4, g6, b6, 4, {})
    with pytest.raises(ValueError, match="spatial_groupnorm_forward: G must be a positive divisor"):
        nz.spatial_groupnorm_forward(x4, g6, b6, 0, {})
    with pytest.raises(TypeError, match="spatial_groupnorm_forward: G must be an integer"):
        nz.spatial_groupnorm_forward(x4, g6, b6, 2.0, {})
    _, cache = nz.spatial_groupnorm_forward(x4, g6, b6, 2, {})
    with pytest.raises(ValueError, match="spatial_groupnorm_backward: dout must have the forward output's shape"):
        nz.spatial_groupnorm_backward(np.zeros((2, 6, 2)), cache)
    _, cache = nz.batchnorm_forward(x, g, b, {"mode": "train"})
    with pytest.raises(ValueError, match="batchnorm_backward: dout must have the forward output's shape"):
        nz.batchnorm_backward(np.zeros((3, 3)), cache)
