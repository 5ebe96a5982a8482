"""Parity of batch / layer / spatial batch / group norm with torch 2.13 autograd, float64 and float32.

Running statistics: torch updates ``running_var`` with the UNBIASED batch variance (factor m/(m-1), m the number
of values per channel) while nnlab (like CS231n) uses the biased one; running means agree directly, and the
running variances agree once torch's is multiplied by (m-1)/m (both starting from zeros).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnlab.layers import normalization as nz
from nnlab.layers.composite import affine_norm_relu_backward, affine_norm_relu_forward
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]


def _torch_grads(fn, arrays, dout):
    ts = [to_torch(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(to_torch(dout))
    return out, [t.grad for t in ts]


def _compare(label, out, grads, t_out, t_grads, dtype):
    assert_close(f"{label} out", out, t_out, dtype)
    assert out.dtype == dtype
    for name, ours, theirs in zip(("dx", "dgamma", "dbeta"), grads, t_grads):
        assert_close(f"{label} {name}", ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backward", [nz.batchnorm_backward, nz.batchnorm_backward_alt])
def test_batchnorm_train_matches_torch_including_running_stats(rng, dtype, backward):
    n, d = 9, 5
    x = (3 * rng.standard_normal((n, d)) + 2).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    dout = rng.standard_normal((n, d)).astype(dtype)
    bn_param = {"mode": "train", "momentum": 0.9, "eps": 1e-5}
    out, cache = nz.batchnorm_forward(x, gamma, beta, bn_param)
    rm, rv = torch.zeros(d, dtype=to_torch(x).dtype), torch.zeros(d, dtype=to_torch(x).dtype)
    t_out, t_grads = _torch_grads(
        lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=1e-5), (x, gamma, beta), dout)
    _compare("batchnorm", out, backward(dout, cache), t_out, t_grads, dtype)
    assert_close("batchnorm running_mean", bn_param["running_mean"], rm, dtype)
    assert_close("batchnorm running_var (biased)", bn_param["running_var"], rv * (n - 1) / n, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_test_mode_matches_torch_eval(rng, dtype):
    d = 4
    x = rng.standard_normal((6, d)).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    rmean, rvar = rng.standard_normal(d).astype(dtype), rng.uniform(0.5, 2.0, d).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    bn_param = {"mode": "test", "running_mean": rmean, "running_var": rvar}
    out, cache = nz.batchnorm_forward(x, gamma, beta, bn_param)
    t_out, t_grads = _torch_grads(
        lambda x, g, b: F.batch_norm(x, to_torch(rmean), to_torch(rvar), g, b, training=False, eps=1e-5),
        (x, gamma, beta), dout)
    _compare("batchnorm test-mode", out, nz.batchnorm_backward(dout, cache), t_out, t_grads, dtype)
    np.testing.assert_array_equal(bn_param["running_mean"], rmean)  # test mode leaves the statistics alone


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 6)])
def test_layernorm_matches_torch(rng, dtype, shape):
    d = shape[-1]
    x = (2 * rng.standard_normal(shape) + 1).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, cache = nz.layernorm_forward(x, gamma, beta, {})
    t_out, t_grads = _torch_grads(lambda x, g, b: F.layer_norm(x, (d,), g, b, eps=1e-5), (x, gamma, beta), dout)
    _compare("layernorm", out, nz.layernorm_backward(dout, cache), t_out, t_grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_batchnorm_matches_torch_including_running_stats(rng, dtype):
    n, c, h, w = 3, 4, 5, 2
    x = (2 * rng.standard_normal((n, c, h, w)) + 3).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    bn_param = {"mode": "train"}
    out, cache = nz.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    rm, rv = torch.zeros(c, dtype=to_torch(x).dtype), torch.zeros(c, dtype=to_torch(x).dtype)
    t_out, t_grads = _torch_grads(
        lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=1e-5), (x, gamma, beta), dout)
    _compare("spatial_batchnorm", out, nz.spatial_batchnorm_backward(dout, cache), t_out, t_grads, dtype)
    m = n * h * w
    assert_close("spatial_batchnorm running_mean", bn_param["running_mean"], rm, dtype)
    assert_close("spatial_batchnorm running_var (biased)", bn_param["running_var"], rv * (m - 1) / m, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("G", [1, 2, 3, 6])
def test_spatial_groupnorm_matches_torch(rng, dtype, G):
    n, c, h, w = 2, 6, 3, 4
    x = (4 * rng.standard_normal((n, c, h, w)) + 10).astype(dtype)
    gamma = rng.standard_normal((1, c, 1, 1)).astype(dtype)
    beta = rng.standard_normal((1, c, 1, 1)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache = nz.spatial_groupnorm_forward(x, gamma, beta, G, {})
    t_out, t_grads = _torch_grads(
        lambda x, g, b: F.group_norm(x, G, g.reshape(c), b.reshape(c), eps=1e-5), (x, gamma, beta), dout)
    _compare("spatial_groupnorm", out, nz.spatial_groupnorm_backward(dout, cache), t_out, t_grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_affine_norm_relu_matches_torch(rng, dtype, normalization):
    x = rng.standard_normal((6, 4)).astype(dtype)
    w = rng.standard_normal((4, 5)).astype(dtype)
    b, gamma, beta = (rng.standard_normal(5).astype(dtype) for _ in range(3))
    dout = rng.standard_normal((6, 5)).astype(dtype)
    out, cache = affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"}, normalization=normalization)
    grads = affine_norm_relu_backward(dout, cache)

    def torch_fn(x, w, b, g, be):
        a = F.linear(x, w.T, b)
        if normalization == "batchnorm":
            a = F.batch_norm(a, None, None, g, be, training=True, eps=1e-5)
        else:
            a = F.layer_norm(a, (5,), g, be, eps=1e-5)
        return F.relu(a)

    t_out, t_grads = _torch_grads(torch_fn, (x, w, b, gamma, beta), dout)
    assert_close("affine_norm_relu out", out, t_out, dtype)
    for name, ours, theirs in zip(("dx", "dw", "db", "dgamma", "dbeta"), grads, t_grads):
        if name == "db" and normalization == "batchnorm":  # exactly zero in exact arithmetic: compare absolutely
            assert float(np.max(np.abs(ours))) < (1e-12 if dtype == np.float64 else 1e-5)
            continue
        assert_close(f"affine_norm_relu[{normalization}] {name}", ours, theirs, dtype)
