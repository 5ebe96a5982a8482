"""Fully-connected sandwich layers: gradient checks and equality with the composed kernels."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.activations import relu_forward
from nnlab.layers.affine import affine_forward
from nnlab.layers.composite import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from nnlab.layers.normalization import batchnorm_forward, layernorm_forward


@pytest.mark.parametrize(("x_shape", "m"), [((1, 3), 4), ((4, 2, 3), 5)])
def test_affine_relu_backward_matches_numerical_gradient(rng, x_shape, m):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((int(np.prod(x_shape[1:])), m))
    b = rng.standard_normal(m)
    dout = rng.standard_normal((x_shape[0], m))
    grads = affine_relu_backward(dout, affine_relu_forward(x, w, b)[1])
    args = (x, w, b)
    for i, grad in enumerate(grads):
        def f(a, i=i):
            return affine_relu_forward(*args[:i], a, *args[i + 1:])[0]
        assert rel_error(grad, eval_numerical_gradient_array(f, args[i], dout)) < 1e-7


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_backward_matches_numerical_gradient(rng, normalization):
    x = rng.standard_normal((5, 2, 3))
    w = rng.standard_normal((6, 7))
    b = rng.standard_normal(7)
    gamma, beta = rng.uniform(0.5, 1.5, 7), rng.standard_normal(7)
    dout = rng.standard_normal((5, 7))
    args = (x, w, b, gamma, beta)

    def forward(*a):
        return affine_norm_relu_forward(*a, {"mode": "train"}, normalization=normalization)

    grads = affine_norm_relu_backward(dout, forward(*args)[1])
    assert len(grads) == 5
    for i, (name, grad) in enumerate(zip(("dx", "dw", "db", "dgamma", "dbeta"), grads)):
        def f(a, i=i):
            return forward(*args[:i], a, *args[i + 1:])[0]
        assert grad.shape == args[i].shape
        num = eval_numerical_gradient_array(f, args[i], dout)
        if name == "db" and normalization == "batchnorm":  # batch norm removes the bias: db is exactly 0
            assert np.abs(grad).max() < 1e-12 and np.abs(num).max() < 1e-8
            continue
        assert rel_error(grad, num) < 1e-6, name


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_equals_composed_kernels_and_writes_running_stats(rng, normalization):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b, gamma, beta = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
    param, ref_param = {"mode": "train"}, {"mode": "train"}
    out, cache = affine_norm_relu_forward(x, w, b, gamma, beta, param, normalization=normalization)
    norm = batchnorm_forward if normalization == "batchnorm" else layernorm_forward
    ref = relu_forward(norm(affine_forward(x, w, b)[0], gamma, beta, ref_param)[0])[0]
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in affine_norm_relu_backward(np.ones_like(out), cache))
    if normalization == "batchnorm":
        np.testing.assert_array_equal(param["running_mean"], ref_param["running_mean"])


def test_affine_norm_relu_refuses_unknown_normalization():
    with pytest.raises(ValueError, match="affine_norm_relu_forward: normalization must be 'batchnorm' or 'layernorm'"):
        affine_norm_relu_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4), np.ones(4), np.zeros(4),
                                 {"mode": "train"}, normalization="groupnorm")
