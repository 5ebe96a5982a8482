"""Conv, pooling and conv sandwich kernels against torch.nn.functional + autograd (forward and every gradient)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnlab.layers.conv import (
    choose_conv_algo,
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
)
from nnlab.layers.conv_composite import (
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from nnlab.layers.pooling import (
    adaptive_avg_pool_backward,
    adaptive_avg_pool_forward,
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
)
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]


def _conv_case(C, K, S, P):
    """Odd spatial size 9x7; batch 1 for C = 64 (and so batch 1 is covered), else 2."""
    return (1 if C == 64 else 2, C, 9, 7, 4, K, S, P)


KSP = list(itertools.product((1, 3, 5, 7), (1, 2), (0, 1, 3)))
# Default: every kernel x stride x pad combination once, the channel count cycling through 1, 3, 64.
CONV_GRID = [_conv_case((1, 3, 64)[i % 3], K, S, P) for i, (K, S, P) in enumerate(KSP)]
# Slow: the full product with every channel count.
CONV_GRID_FULL = [_conv_case(C, K, S, P) for C in (1, 3, 64) for K, S, P in KSP]


def _torch_conv(x, w, b, S, P, dout):
    xt, wt, bt = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    out = F.conv2d(xt, wt, bt, stride=S, padding=P)
    out.backward(to_torch(dout))
    return out, xt.grad, wt.grad, bt.grad


def _case_id(c):
    return "N{}C{}H{}W{}F{}K{}S{}P{}".format(*c)


# Channel counts where 'auto' picks Winograd (C, F >= 16), on the 3x3 stride-1 cases of the grid.
WINOGRAD_GRID = [(2, C, 9, 7, F, 3, 1, P) for C, F in ((16, 16), (64, 32)) for P in (0, 1, 2, 3)]
ALGOS = ["auto", "im2col", "mec", "winograd2", "winograd4"]
# max |nnlab - torch| / max |torch| allowed, per algorithm and dtype: im2col and auto-on-the-small-grid as the
# other kernels (conftest.assert_close); Winograd's stated bounds (module docstring of nnlab.layers.winograd).
BOUNDS = {("im2col", np.float64): 1e-10, ("im2col", np.float32): 1e-5,
          ("mec", np.float64): 1e-10, ("mec", np.float32): 1e-5,
          ("winograd2", np.float64): 1e-12, ("winograd2", np.float32): 1e-5,
          ("winograd4", np.float64): 1e-12, ("winograd4", np.float32): 4e-5}


def _with_algos(grid):
    """(case, algo) pairs: every algorithm that applies to the case (Winograd: 3x3 kernels at stride 1 only)."""
    return [(case, algo) for case in grid for algo in ALGOS
            if algo in ("auto", "im2col", "mec") or (case[5] == 3 and case[6] == 1)]


def _pair_id(pair):
    return f"{_case_id(pair[0])}-{pair[1]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("case", "algo"), _with_algos(CONV_GRID + WINOGRAD_GRID),
                         ids=list(map(_pair_id, _with_algos(CONV_GRID + WINOGRAD_GRID))))
def test_conv_fast_matches_torch(rng, case, algo, dtype):
    _check_conv_fast_against_torch(rng, case, dtype, algo)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("case", "algo"), _with_algos(CONV_GRID_FULL),
                         ids=list(map(_pair_id, _with_algos(CONV_GRID_FULL))))
def test_conv_fast_matches_torch_full_grid(rng, case, algo, dtype):
    _check_conv_fast_against_torch(rng, case, dtype, algo)


def _check_conv_fast_against_torch(rng, case, dtype, algo="auto"):
    N, C, H, W, Fn, K, S, P = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Fn, C, K, K)).astype(dtype)
    b = rng.standard_normal(Fn).astype(dtype)
    out, cache = conv_forward_fast(x, w, b, {"stride": S, "pad": P, "algo": algo})
    ran = cache[0]
    assert ran == (choose_conv_algo(x.shape, w.shape, S, P, dtype) if algo == "auto" else algo)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv_backward_fast(dout, cache)
    out_t, dx_t, dw_t, db_t = _torch_conv(x, w, b, S, P, dout)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == dtype
    for name, ours, theirs in [("out", out, out_t), ("dx", dx, dx_t), ("dw", dw, dw_t), ("db", db, db_t)]:
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} (nnlab) vs {theirs.shape} (torch)"
        err = float(np.abs(ours.astype(np.float64) - theirs).max() / max(np.abs(theirs).max(), 1e-30))
        assert err < BOUNDS[ran, dtype], f"{name} ({ran}): max |nnlab - torch| / max|torch| = {err:.3e}"


@pytest.mark.parametrize("algo", ALGOS)
def test_conv_relu_with_algo_matches_torch(rng, algo):
    """The sandwich layers pass conv_param (with 'algo') through to conv_forward_fast."""
    x, w, b = _conv_inputs(rng, np.float64, C=16, Fn=16)
    out, cache = conv_relu_forward(x, w, b, {"stride": 1, "pad": 1, "algo": algo})
    assert cache[0][0] == (choose_conv_algo(x.shape, w.shape, 1, 1, x.dtype) if algo == "auto" else algo)
    dout = rng.standard_normal(out.shape)
    xt, wt, bt = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    out_t = F.relu(F.conv2d(xt, wt, bt, padding=1))
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, np.float64)
    for name, ours, t in zip(("dx", "dw", "db"), conv_relu_backward(dout, cache), (xt, wt, bt)):
        assert_close(name, ours, t.grad, np.float64)


@pytest.mark.parametrize("case", [(1, 3, 7, 5, 2, 3, 2, 1), (2, 2, 6, 6, 3, 5, 1, 3), (1, 1, 5, 7, 2, 1, 2, 0)])
def test_conv_naive_matches_torch(rng, case):
    N, C, H, W, Fn, K, S, P = case
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((Fn, C, K, K)), rng.standard_normal(Fn)
    out, cache = conv_forward_naive(x, w, b, {"stride": S, "pad": P})
    dout = rng.standard_normal(out.shape)
    out_t, *grads_t = _torch_conv(x, w, b, S, P, dout)
    assert_close("out", out, out_t, np.float64)
    for name, ours, theirs in zip(("dx", "dw", "db"), conv_backward_naive(dout, cache), grads_t):
        assert_close(name, ours, theirs, np.float64)


# (N, C, H, W, PH, PW, S): tiled, overlapping, gappy, non-divisible, rectangular windows, batch 1, C = 64.
POOL_GRID = [
    (2, 3, 8, 8, 2, 2, 2),
    (1, 3, 9, 7, 2, 2, 2),
    (2, 1, 7, 9, 3, 3, 2),
    (1, 2, 9, 9, 3, 3, 3),
    (2, 2, 7, 7, 2, 3, 3),
    (1, 64, 5, 7, 2, 2, 1),
    (2, 3, 11, 6, 5, 2, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_ties", [False, True])
@pytest.mark.parametrize("case", POOL_GRID)
@pytest.mark.parametrize(("forward", "backward"), [
    (max_pool_forward_fast, max_pool_backward_fast),
    (max_pool_forward_naive, max_pool_backward_naive),
])
def test_max_pool_matches_torch(rng, forward, backward, case, with_ties, dtype):
    N, C, H, W, PH, PW, S = case
    x = rng.standard_normal((N, C, H, W))
    if with_ties:  # few distinct values: many windows hold several maxima; torch routes to the first
        x = np.round(x)
    x = x.astype(dtype)
    out, cache = forward(x, {"pool_height": PH, "pool_width": PW, "stride": S})
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = backward(dout, cache)
    xt = to_torch(x, True)
    out_t = F.max_pool2d(xt, (PH, PW), stride=S)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert dx.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_GRID)
def test_avg_pool_matches_torch(rng, case, dtype):
    N, C, H, W, PH, PW, S = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    out, cache = avg_pool_forward(x, {"pool_height": PH, "pool_width": PW, "stride": S})
    dout = rng.standard_normal(out.shape).astype(dtype)
    xt = to_torch(x, True)
    out_t = F.avg_pool2d(xt, (PH, PW), stride=S)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("dx", avg_pool_backward(dout, cache), xt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "output_size"), [
    ((2, 3, 7, 9), (3, 4)),    # non-divisible: overlapping bins
    ((1, 2, 10, 6), (4, 4)),
    ((2, 1, 5, 5), 7),         # output larger than input
    ((1, 64, 21, 21), 7),      # the MRI network's case (divisible)
    ((2, 3, 13, 11), (5, None)),
    ((1, 1, 6, 6), 1),         # global average pooling
])
def test_adaptive_avg_pool_matches_torch(rng, shape, output_size, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = adaptive_avg_pool_forward(x, output_size)
    dout = rng.standard_normal(out.shape).astype(dtype)
    xt = to_torch(x, True)
    out_t = torch.nn.AdaptiveAvgPool2d(output_size)(xt)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("dx", adaptive_avg_pool_backward(dout, cache), xt.grad, dtype)


def _conv_inputs(rng, dtype, N=2, C=3, H=9, W=8, Fn=4, K=3):
    return (rng.standard_normal((N, C, H, W)).astype(dtype), rng.standard_normal((Fn, C, K, K)).astype(dtype),
            rng.standard_normal(Fn).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_relu_matches_torch(rng, dtype):
    x, w, b = _conv_inputs(rng, dtype)
    out, cache = conv_relu_forward(x, w, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(out.shape).astype(dtype)
    xt, wt, bt = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    out_t = F.relu(F.conv2d(xt, wt, bt, padding=1))
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    for name, ours, t in zip(("dx", "dw", "db"), conv_relu_backward(dout, cache), (xt, wt, bt)):
        assert_close(name, ours, t.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_relu_pool_matches_torch(rng, dtype):
    x, w, b = _conv_inputs(rng, dtype, H=8, W=10, K=5)
    out, cache = conv_relu_pool_forward(x, w, b, {"stride": 1, "pad": 2},
                                        {"pool_height": 2, "pool_width": 2, "stride": 2})
    dout = rng.standard_normal(out.shape).astype(dtype)
    xt, wt, bt = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    out_t = F.max_pool2d(F.relu(F.conv2d(xt, wt, bt, padding=2)), 2, 2)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    for name, ours, t in zip(("dx", "dw", "db"), conv_relu_pool_backward(dout, cache), (xt, wt, bt)):
        assert_close(name, ours, t.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_bn_relu_matches_torch(rng, dtype):
    x, w, b = _conv_inputs(rng, dtype, N=3, H=7, W=6)
    gamma = rng.standard_normal(4).astype(dtype)
    beta = rng.standard_normal(4).astype(dtype)
    bn_param = {"mode": "train"}
    out, cache = conv_bn_relu_forward(x, w, b, gamma, beta, {"stride": 2, "pad": 1}, bn_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = conv_bn_relu_backward(dout, cache)
    ts = [to_torch(a, True) for a in (x, w, b, gamma, beta)]
    xt, wt, bt, gt, bet = ts
    a = F.conv2d(xt, wt, bt, stride=2, padding=1)
    out_t = F.relu(F.batch_norm(a, None, None, gt, bet, training=True, eps=1e-5))
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    for name, ours, t in zip(("dx", "dw", "dgamma", "dbeta"), grads[:2] + grads[3:], (xt, wt, gt, bet)):
        assert_close(name, ours, t.grad, dtype)
    # the conv bias is cancelled by the batch mean: db is zero up to rounding, in both libraries
    assert np.abs(grads[2]).max() < (1e-12 if dtype == np.float64 else 1e-5) * np.abs(grads[1]).max()
    # running mean: 0.9 * 0 + 0.1 * batch mean of the conv output (per channel)
    assert_close("running_mean", bn_param["running_mean"], 0.1 * a.detach().mean(dim=(0, 2, 3)), dtype)


def test_max_pool_fast_propagates_nan_like_torch(rng):
    x = rng.standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = np.nan  # one NaN in a tiled window
    x[0, 1, 2, 3] = np.nan  # and one in overlapping windows
    dout = rng.standard_normal((1, 2, 3, 3))
    xt = to_torch(x, True)
    out_t = F.max_pool2d(xt, 2, 2)
    out_t.backward(to_torch(dout))
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, out_t.detach().numpy())  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(max_pool_backward_fast(dout, cache), xt.grad.numpy())
    out2, _ = max_pool_forward_fast(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
    np.testing.assert_array_equal(out2, F.max_pool2d(to_torch(x), 3, 1).numpy())
