"""Convolution kernels: numerical gradients (float64), fast == naive, output sizes, dtypes and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array
from nnlab.layers.conv import conv_backward_fast, conv_backward_naive, conv_forward_fast, conv_forward_naive

# (N, C, H, W, F, K, stride, pad): kernels 1/3/5/7, strides 1/2, pads 0/1/3, C 1/3/8, odd H/W, batch 1.
GRAD_CASES = [
    (2, 3, 5, 5, 2, 3, 1, 1),
    (1, 1, 7, 5, 2, 3, 2, 0),
    (2, 2, 6, 7, 3, 1, 1, 0),
    (1, 3, 5, 6, 2, 5, 2, 3),
    (1, 2, 7, 7, 2, 7, 1, 3),
    (2, 8, 4, 5, 3, 3, 2, 1),
]
SLOW_GRAD_CASES = [
    (n, c, h, w, f, k, s, p)
    for (n, c, h, w, f) in [(1, 1, 9, 7, 2), (2, 3, 8, 7, 3)]
    for k in (1, 3, 5, 7)
    for s in (1, 2)
    for p in (0, 1, 3)
    if k <= h + 2 * p and k <= w + 2 * p
]


def _case(rng, N, C, H, W, F, K, dtype=np.float64):
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, K, K)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def scaled_error(ours, numerical) -> float:
    """max |ours - numerical| / max |numerical|: robust to entries near zero (unlike elementwise rel_error)."""
    return float(np.abs(ours - numerical).max() / max(np.abs(numerical).max(), 1e-12))


def _check_gradients(rng, forward, backward, case):
    N, C, H, W, F, K, S, P = case
    x, w, b = _case(rng, N, C, H, W, F, K)
    conv_param = {"stride": S, "pad": P}
    out, cache = forward(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_: forward(x_, w, b, conv_param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_: forward(x, w_, b, conv_param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b_: forward(x, w, b_, conv_param)[0], b, dout)
    for name, ours, numerical in (("dx", dx, dx_num), ("dw", dw, dw_num), ("db", db, db_num)):
        assert scaled_error(ours, numerical) < 1e-8, f"{name}: scaled error {scaled_error(ours, numerical):.2e}"


@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv_fast_gradients_match_numerical(rng, case):
    _check_gradients(rng, conv_forward_fast, conv_backward_fast, case)


@pytest.mark.parametrize("case", GRAD_CASES[:3])
def test_conv_naive_gradients_match_numerical(rng, case):
    _check_gradients(rng, conv_forward_naive, conv_backward_naive, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_GRAD_CASES)
def test_conv_fast_gradients_match_numerical_full_grid(rng, case):
    _check_gradients(rng, conv_forward_fast, conv_backward_fast, case)


@pytest.mark.parametrize("case", GRAD_CASES + [(1, 1, 1, 1, 1, 1, 1, 0), (2, 3, 3, 3, 2, 3, 1, 0)])
def test_conv_fast_equals_naive_float64(rng, case):
    N, C, H, W, F, K, S, P = case
    x, w, b = _case(rng, N, C, H, W, F, K)
    conv_param = {"stride": S, "pad": P}
    out_f, cache_f = conv_forward_fast(x, w, b, conv_param)
    out_n, cache_n = conv_forward_naive(x, w, b, conv_param)
    scale = np.abs(out_n).max()
    assert np.abs(out_f - out_n).max() / scale < 1e-12
    dout = rng.standard_normal(out_f.shape)
    for name, gf, gn in zip(("dx", "dw", "db"), conv_backward_fast(dout, cache_f), conv_backward_naive(dout, cache_n)):
        assert gf.shape == gn.shape
        assert np.abs(gf - gn).max() / np.abs(gn).max() < 1e-12, name


@pytest.mark.parametrize(("H", "K", "S", "P", "expected"), [
    (8, 3, 2, 0, 3),   # (8 - 3) / 2 = 2.5 -> floor
    (7, 3, 2, 1, 4),   # exact
    (10, 5, 3, 1, 3),  # (10 + 2 - 5) / 3 = 2.33 -> floor
    (6, 2, 4, 0, 2),
    (5, 7, 1, 1, 1),   # kernel equal to the padded input
])
def test_conv_output_size_floors_like_torch(rng, H, K, S, P, expected):
    x, w, b = _case(rng, 1, 2, H, H + 1, 3, K)
    out, _ = conv_forward_fast(x, w, b, {"stride": S, "pad": P})
    out_naive, _ = conv_forward_naive(x, w, b, {"stride": S, "pad": P})
    expected_w = (H + 1 + 2 * P - K) // S + 1
    assert out.shape == (1, 3, expected, expected_w)
    assert out_naive.shape == out.shape


def test_conv_fast_keeps_float32(rng):
    x, w, b = _case(rng, 2, 3, 6, 5, 4, 3, dtype=np.float32)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float32
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert all(g.dtype == np.float32 for g in conv_backward_fast(dout, cache))
    out64, _ = conv_forward_fast(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                 {"stride": 1, "pad": 1})
    assert np.abs(out - out64).max() < 1e-5


def test_conv_does_not_modify_input(rng):
    x, w, b = _case(rng, 2, 3, 5, 5, 2, 3)
    x_before = x.copy()
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 2})
    conv_backward_fast(np.ones_like(out), cache)
    conv_forward_naive(x, w, b, {"stride": 1, "pad": 2})
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("forward", [conv_forward_fast, conv_forward_naive])
@pytest.mark.parametrize(("x_shape", "w_shape", "b_shape", "conv_param", "message"), [
    ((2, 3, 5, 5), (2, 4, 3, 3), (2,), {"stride": 1, "pad": 1}, r"x has 3 channels but w expects 4"),
    ((2, 3, 3, 3), (2, 3, 7, 7), (2,), {"stride": 1, "pad": 1}, r"kernel 7x7 is larger than the padded input 5x5"),
    ((3, 5, 5), (2, 3, 3, 3), (2,), {"stride": 1, "pad": 1}, r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    ((2, 3, 5, 5), (2, 3, 3), (2,), {"stride": 1, "pad": 1}, r"w must be 4-D \(F, C, KH, KW\), got shape"),
    ((2, 3, 5, 5), (2, 3, 3, 3), (3,), {"stride": 1, "pad": 1}, r"b has shape \(3,\) but w has 2 filters"),
    ((2, 3, 5, 5), (2, 3, 3, 3), (2,), {"stride": 0, "pad": 1}, r"stride must be a positive integer, got 0"),
    ((2, 3, 5, 5), (2, 3, 3, 3), (2,), {"stride": -2, "pad": 1}, r"stride must be a positive integer, got -2"),
    ((2, 3, 5, 5), (2, 3, 3, 3), (2,), {"stride": 1, "pad": -1}, r"pad must be a non-negative integer, got -1"),
])
def test_conv_rejects_bad_input(forward, x_shape, w_shape, b_shape, conv_param, message):
    x, w, b = np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape)
    with pytest.raises(ValueError, match=forward.__name__ + ": " + message):
        forward(x, w, b, conv_param)


def test_conv_backward_rejects_wrong_dout_shape(rng):
    x, w, b = _case(rng, 2, 3, 5, 5, 2, 3)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    message = r"conv_backward_fast: dout must have shape \(2, 2, 5, 5\), got \(2, 2, 4, 5\)"
    with pytest.raises(ValueError, match=message):
        conv_backward_fast(out[:, :, :4], cache)


def test_conv_rejects_integer_input():
    with pytest.raises(TypeError, match="conv_forward_fast: x must have a floating-point dtype"):
        conv_forward_fast(np.zeros((1, 1, 3, 3), dtype=np.int64), np.zeros((1, 1, 1, 1)), np.zeros(1),
                          {"stride": 1, "pad": 0})


@pytest.mark.parametrize("case", [(2, 3, 6, 5, 4, 3, 1, 1), (3, 2, 7, 7, 2, 3, 2, 0)])
def test_conv_backward_fast_need_dx_false_gives_same_dw_db_and_no_dx(rng, case):
    N, C, H, W, F, K, S, P = case
    x, w, b = _case(rng, N, C, H, W, F, K)
    out, cache = conv_forward_fast(x, w, b, {"stride": S, "pad": P})
    dout = rng.standard_normal(out.shape)
    _, dw, db = conv_backward_fast(dout, cache)
    dx_skipped, dw_skipped, db_skipped = conv_backward_fast(dout, cache, need_dx=False)
    assert dx_skipped is None
    np.testing.assert_array_equal(dw_skipped, dw)
    np.testing.assert_array_equal(db_skipped, db)


def test_conv_fast_bias_gradient_is_dout_sum(rng):
    """db comes out of the dw GEMM (the ones row of the im2col matrix): it must equal sum_{n,i,j} dout."""
    x, w, b = _case(rng, 3, 2, 5, 6, 4, 3)
    out, cache = conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    dout = rng.standard_normal(out.shape)
    _, dw, db = conv_backward_fast(dout, cache)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    assert dw.flags.c_contiguous and dw.shape == w.shape


@pytest.mark.parametrize("case", [(5, 3, 7, 6, 4, 3, 1, 1), (4, 2, 9, 7, 3, 5, 2, 2)])
def test_conv_fast_im2col_in_chunks_equals_naive(rng, monkeypatch, case):
    """Past _IM2COL_KEEP_BYTES the im2col matrix is built a few samples at a time and rebuilt in the backward;
    with tiny limits (one or two samples per chunk) the results equal the naive kernel's."""
    import nnlab.layers.conv as conv

    monkeypatch.setattr(conv, "_IM2COL_KEEP_BYTES", 1)
    monkeypatch.setattr(conv, "_IM2COL_CHUNK_BYTES", 4000)
    N, C, H, W, F, K, S, P = case
    x, w, b = _case(rng, N, C, H, W, F, K)
    conv_param = {"stride": S, "pad": P, "algo": "im2col"}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    assert cache[0] == "im2col" and cache[1][2] is None  # the matrix was not kept
    out_n, cache_n = conv_forward_naive(x, w, b, conv_param)
    assert np.abs(out - out_n).max() / np.abs(out_n).max() < 1e-12
    dout = rng.standard_normal(out.shape)
    for name, gf, gn in zip(("dx", "dw", "db"), conv_backward_fast(dout, cache), conv_backward_naive(dout, cache_n)):
        assert np.abs(gf - gn).max() / np.abs(gn).max() < 1e-12, name
    _, dw, db = conv_backward_fast(dout, cache, need_dx=False)
    np.testing.assert_allclose(dw, conv_backward_naive(dout, cache_n)[1], rtol=1e-12, atol=1e-12)
