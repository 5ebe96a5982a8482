"""Conv sandwich layers: numerical gradients (float64), equality with their parts, bn_param write-back."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array
from nnlab.layers import relu_forward, spatial_batchnorm_forward
from nnlab.layers.conv import conv_forward_fast
from nnlab.layers.conv_composite import (
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from nnlab.layers.pooling import max_pool_forward_fast

POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def scaled_error(ours, numerical) -> float:
    """max |ours - numerical| / max(max |numerical|, 1): relative for O(1) gradients, absolute for ~0 ones."""
    return float(np.abs(ours - numerical).max() / max(np.abs(numerical).max(), 1.0))


def _inputs(rng, N=2, C=3, H=6, W=5, F=4, K=3):
    return rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, K, K)), rng.standard_normal(F)


def _check(rng, forward, backward, args, n_grads):
    """Numerical gradient of every array argument among the first ``n_grads`` of ``args``."""
    out, cache = forward(*args)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    assert len(grads) == n_grads
    for i in range(n_grads):
        def f(a, i=i):
            return forward(*args[:i], a, *args[i + 1:])[0]
        numerical = eval_numerical_gradient_array(f, args[i], dout)
        assert grads[i].shape == args[i].shape
        assert scaled_error(grads[i], numerical) < 1e-7, f"gradient {i}: {scaled_error(grads[i], numerical):.2e}"


@pytest.mark.parametrize("conv_param", [{"stride": 1, "pad": 1}, {"stride": 2, "pad": 0}])
def test_conv_relu_gradients_match_numerical(rng, conv_param):
    x, w, b = _inputs(rng)
    _check(rng, conv_relu_forward, conv_relu_backward, (x, w, b, conv_param), 3)


@pytest.mark.parametrize("shape", [(2, 3, 8, 6), (1, 2, 7, 9)])  # tiled and non-tiled pooling
def test_conv_relu_pool_gradients_match_numerical(rng, shape):
    N, C, H, W = shape
    x, w, b = _inputs(rng, N, C, H, W)
    _check(rng, conv_relu_pool_forward, conv_relu_pool_backward, (x, w, b, {"stride": 1, "pad": 1}, POOL), 3)


def test_conv_bn_relu_gradients_match_numerical(rng):
    x, w, b = _inputs(rng, N=3)
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)

    def forward(x, w, b, gamma, beta, conv_param):
        return conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, {"mode": "train"})

    # db is (numerically) zero: the batch mean cancels the conv bias; the check covers it too
    _check(rng, forward, conv_bn_relu_backward, (x, w, b, gamma, beta, {"stride": 1, "pad": 1}), 5)


def test_conv_relu_pool_equals_its_parts(rng):
    x, w, b = _inputs(rng, H=8, W=8)
    out, _ = conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 1}, POOL)
    a, _ = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    expected, _ = max_pool_forward_fast(np.maximum(a, 0), POOL)
    np.testing.assert_array_equal(out, expected)


def test_conv_bn_relu_writes_running_stats_and_uses_them_at_test_time(rng):
    x, w, b = _inputs(rng, N=4)
    gamma, beta = np.ones(4), np.zeros(4)
    bn_param = {"mode": "train"}
    conv_bn_relu_forward(x, w, b, gamma, beta, {"stride": 1, "pad": 1}, bn_param)
    a, _ = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * a.mean(axis=(0, 2, 3)), rtol=1e-12)
    bn_param["mode"] = "test"
    out, _ = conv_bn_relu_forward(x, w, b, gamma, beta, {"stride": 1, "pad": 1}, bn_param)
    an, _ = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    np.testing.assert_array_equal(out, relu_forward(an)[0])


def test_conv_sandwiches_keep_float32(rng):
    x, w, b = (a.astype(np.float32) for a in _inputs(rng, H=8, W=8))
    g, be = np.ones(4, np.float32), np.zeros(4, np.float32)
    for forward, backward, extra in [(conv_relu_forward, conv_relu_backward, ()),
                                     (conv_relu_pool_forward, conv_relu_pool_backward, (POOL,))]:
        out, cache = forward(x, w, b, {"stride": 1, "pad": 1}, *extra)
        assert out.dtype == np.float32
        assert all(gr.dtype == np.float32 for gr in backward(np.ones_like(out), cache))
    out, cache = conv_bn_relu_forward(x, w, b, g, be, {"stride": 1, "pad": 1}, {"mode": "train"})
    assert out.dtype == np.float32
    assert all(gr.dtype == np.float32 for gr in conv_bn_relu_backward(np.ones_like(out), cache))


@pytest.mark.parametrize("name", ["conv_relu", "conv_relu_pool", "conv_bn_relu"])
def test_conv_sandwich_backward_need_dx_false_skips_only_dx(rng, name):
    x, w, b = _inputs(rng, H=6, W=6)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    if name == "conv_relu":
        out, cache = conv_relu_forward(x, w, b, conv_param)
        backward = conv_relu_backward
    elif name == "conv_relu_pool":
        out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
        backward = conv_relu_pool_backward
    else:
        gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
        out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, {"mode": "train"})
        backward = conv_bn_relu_backward
    dout = rng.standard_normal(out.shape)
    full, skipped = backward(dout, cache), backward(dout, cache, need_dx=False)
    assert full[0].shape == x.shape and skipped[0] is None
    for a, c in zip(full[1:], skipped[1:]):
        np.testing.assert_array_equal(a, c)
