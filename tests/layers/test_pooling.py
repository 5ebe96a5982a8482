"""Pooling kernels: numerical gradients (float64), fast == naive, tie routing, output sizes, dtypes, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array
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

# (N, C, H, W, PH, PW, S): tiled (reshape path), overlapping, gappy, non-divisible, rectangular, batch 1.
POOL_CASES = [
    (2, 3, 8, 8, 2, 2, 2),
    (1, 2, 7, 9, 3, 3, 2),
    (2, 1, 6, 6, 3, 3, 3),
    (1, 3, 9, 7, 2, 3, 3),
    (2, 2, 5, 6, 2, 2, 1),
    (1, 1, 7, 7, 3, 2, 2),
]


def _pool_param(PH, PW, S):
    return {"pool_height": PH, "pool_width": PW, "stride": S}


def scaled_error(ours, numerical) -> float:
    return float(np.abs(ours - numerical).max() / max(np.abs(numerical).max(), 1e-12))


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize(("forward", "backward"), [
    (max_pool_forward_fast, max_pool_backward_fast),
    (max_pool_forward_naive, max_pool_backward_naive),
    (avg_pool_forward, avg_pool_backward),
])
def test_pool_gradients_match_numerical(rng, case, forward, backward):
    N, C, H, W, PH, PW, S = case
    x = rng.standard_normal((N, C, H, W))  # distinct values: the max is differentiable
    pp = _pool_param(PH, PW, S)
    out, cache = forward(x, pp)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_: forward(x_, pp)[0], x, dout)
    assert scaled_error(dx, dx_num) < 1e-8


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_fast_equals_naive(rng, case):
    N, C, H, W, PH, PW, S = case
    x = rng.standard_normal((N, C, H, W))
    x[0, 0, :3, :3] = 0.5  # ties
    pp = _pool_param(PH, PW, S)
    out_f, cache_f = max_pool_forward_fast(x, pp)
    out_n, cache_n = max_pool_forward_naive(x, pp)
    np.testing.assert_array_equal(out_f, out_n)
    dout = rng.standard_normal(out_f.shape)
    dx_f, dx_n = max_pool_backward_fast(dout, cache_f), max_pool_backward_naive(dout, cache_n)
    if S >= PH and S >= PW:  # windows do not overlap: each dx entry gets at most one term, bit-exact
        np.testing.assert_array_equal(dx_f, dx_n)
    else:  # overlapping windows: sums in another order
        assert np.abs(dx_f - dx_n).max() < 1e-12 * np.abs(dx_n).max()


@pytest.mark.parametrize(("forward", "backward"), [
    (max_pool_forward_fast, max_pool_backward_fast),
    (max_pool_forward_naive, max_pool_backward_naive),
])
def test_max_pool_ties_route_to_first_max(forward, backward):
    x = np.zeros((1, 1, 4, 4))  # every window is a 4-way tie
    out, cache = forward(x, _pool_param(2, 2, 2))
    dx = backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.array([[[[1.0, 0, 2.0, 0], [0, 0, 0, 0], [3.0, 0, 4.0, 0], [0, 0, 0, 0]]]])
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_overlapping_windows_accumulate():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    x[0, 0, 1, 1] = 100.0  # the centre is the max of all four 2x2 stride-1 windows
    out, cache = max_pool_forward_fast(x, _pool_param(2, 2, 1))
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 100.0))
    dx = max_pool_backward_fast(np.ones((1, 1, 2, 2)), cache)
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_avg_pool_forward_values():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, _ = avg_pool_forward(x, _pool_param(2, 2, 2))
    np.testing.assert_array_equal(out, [[[[2.5, 4.5], [10.5, 12.5]]]])


@pytest.mark.parametrize(("H", "W", "output_size", "expected_shape"), [
    (7, 9, (3, 4), (3, 4)),
    (5, 5, 7, (7, 7)),      # larger than the input: overlapping bins
    (10, 6, (3, None), (3, 6)),
    (8, 8, 4, (4, 4)),
    (1, 1, 1, (1, 1)),
])
def test_adaptive_avg_pool_gradients_match_numerical(rng, H, W, output_size, expected_shape):
    x = rng.standard_normal((2, 3, H, W))
    out, cache = adaptive_avg_pool_forward(x, output_size)
    assert out.shape == (2, 3, *expected_shape)
    dout = rng.standard_normal(out.shape)
    dx = adaptive_avg_pool_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_: adaptive_avg_pool_forward(x_, output_size)[0], x, dout)
    assert scaled_error(dx, dx_num) < 1e-8


def test_adaptive_avg_pool_bins_follow_floor_ceil_rule():
    # H = 5 into 3 bins: [floor(0*5/3), ceil(5/3)) = [0, 2), [1, 4), [3, 5)
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0]).reshape(1, 1, 5, 1)
    out, _ = adaptive_avg_pool_forward(x, (3, 1))
    np.testing.assert_allclose(out.ravel(), [1.5, 14.0 / 3.0, 12.0], rtol=1e-15)


@pytest.mark.parametrize(("H", "PH", "S", "expected"), [(7, 2, 2, 3), (8, 3, 2, 3), (9, 3, 4, 2), (5, 5, 1, 1)])
def test_pool_output_size_floors_like_torch(rng, H, PH, S, expected):
    x = rng.standard_normal((1, 2, H, H))
    for forward in (max_pool_forward_fast, max_pool_forward_naive, avg_pool_forward):
        out, _ = forward(x, _pool_param(PH, PH, S))
        assert out.shape == (1, 2, expected, expected), forward.__name__


def test_pool_keeps_float32(rng):
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    pp = _pool_param(2, 2, 2)
    for forward, backward, args in [(max_pool_forward_fast, max_pool_backward_fast, (pp,)),
                                    (avg_pool_forward, avg_pool_backward, (pp,)),
                                    (adaptive_avg_pool_forward, adaptive_avg_pool_backward, ((3, 5),))]:
        out, cache = forward(x, *args)
        assert out.dtype == np.float32, forward.__name__
        assert backward(np.ones_like(out), cache).dtype == np.float32, backward.__name__


@pytest.mark.parametrize("forward", [max_pool_forward_fast, max_pool_forward_naive, avg_pool_forward])
@pytest.mark.parametrize(("x_shape", "pool_param", "message"), [
    ((2, 3, 4), _pool_param(2, 2, 2), r"x must be 4-D \(N, C, H, W\), got shape \(2, 3, 4\)"),
    ((1, 1, 3, 3), _pool_param(4, 2, 2), r"pool window 4x2 is larger than the input 3x3"),
    ((1, 1, 4, 4), _pool_param(2, 2, 0), r"stride must be a positive integer, got 0"),
    ((1, 1, 4, 4), _pool_param(0, 2, 2), r"pool_height must be a positive integer, got 0"),
])
def test_pool_rejects_bad_input(forward, x_shape, pool_param, message):
    with pytest.raises(ValueError, match=forward.__name__ + ": " + message):
        forward(np.zeros(x_shape), pool_param)


@pytest.mark.parametrize(("output_size", "message"), [
    (0, r"output_size\[0\] must be a positive integer, got 0"),
    ((2, 3, 4), r"output_size must be an int or a pair"),
])
def test_adaptive_avg_pool_rejects_bad_output_size(output_size, message):
    with pytest.raises(ValueError, match="adaptive_avg_pool_forward: " + message):
        adaptive_avg_pool_forward(np.zeros((1, 1, 4, 4)), output_size)


def test_max_pool_backward_rejects_wrong_dout_shape(rng):
    out, cache = max_pool_forward_fast(rng.standard_normal((2, 3, 4, 4)), _pool_param(2, 2, 2))
    with pytest.raises(ValueError, match=r"max_pool_backward_fast: dout must have shape \(2, 3, 2, 2\)"):
        max_pool_backward_fast(np.ones((2, 3, 2, 1)), cache)
