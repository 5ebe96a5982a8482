"""The printed checks of spec seed 004 §9.1-9.6 (conv, max pool, fast layers, conv sandwich layers).

Each test ports one notebook cell: same seed (``np.random.seed(231)`` == ``RandomState(231)``), same shapes,
the expected arrays written out, and the printed relative errors as bounds (exact where the spec verified the
value, 10x the printed value for gradient checks, spec §12 class B).
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.conv import conv_backward_fast, conv_backward_naive, conv_forward_fast, conv_forward_naive
from nnlab.layers.conv_composite import (
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from nnlab.layers.pooling import (
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
)

CONV_CORRECT_OUT = np.array([[[[-0.08759809, -0.10987781],
                               [-0.18387192, -0.2109216]],
                              [[0.21027089, 0.21661097],
                               [0.22847626, 0.23004637]],
                              [[0.50813986, 0.54309974],
                               [0.64082444, 0.67101435]]],
                             [[[-0.98053589, -1.03143541],
                               [-1.19128892, -1.24695841]],
                              [[0.69108355, 0.66880383],
                               [0.59480972, 0.56776003]],
                              [[2.36270298, 2.36904306],
                               [2.38090835, 2.38247847]]]])

POOL_CORRECT_OUT = np.array([[[[-0.26315789, -0.24842105],
                               [-0.20421053, -0.18947368]],
                              [[-0.14526316, -0.13052632],
                               [-0.08631579, -0.07157895]],
                              [[-0.02736842, -0.01263158],
                               [0.03157895, 0.04631579]]],
                             [[[0.09052632, 0.10526316],
                               [0.14947368, 0.16421053]],
                              [[0.20842105, 0.22315789],
                               [0.26736842, 0.28210526]],
                              [[0.32631579, 0.34105263],
                               [0.38526316, 0.4]]]])


@pytest.mark.parametrize("forward", [conv_forward_naive, conv_forward_fast])
def test_conv_forward_matches_spec_correct_out(forward):
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
    err = rel_error(out, CONV_CORRECT_OUT)
    # printed: "difference:  2.2121476417505994e-08" (the error of the 8-digit expected array)
    assert err == pytest.approx(2.2121476e-08, rel=1e-6)


@pytest.mark.parametrize(("forward", "backward"), [
    (conv_forward_naive, conv_backward_naive),
    (conv_forward_fast, conv_backward_fast),
])
def test_conv_backward_errors_match_spec(forward, backward):
    rs = np.random.RandomState(231)
    x = rs.randn(4, 3, 5, 5)
    w = rs.randn(2, 3, 3, 3)
    b = rs.randn(2)
    dout = rs.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    dx_num = eval_numerical_gradient_array(lambda x_: forward(x_, w, b, conv_param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_: forward(x, w_, b, conv_param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b_: forward(x, w, b_, conv_param)[0], b, dout)
    _, cache = forward(x, w, b, conv_param)
    dx, dw, db = backward(dout, cache)
    # printed: dx error 1.159803161159293e-08, dw error 2.2471264748452487e-10, db error 3.37264006649648e-11
    assert rel_error(dx, dx_num) < 1.16e-07
    assert rel_error(dw, dw_num) < 2.25e-09
    assert rel_error(db, db_num) < 3.38e-10


@pytest.mark.parametrize("forward", [max_pool_forward_naive, max_pool_forward_fast])
def test_max_pool_forward_matches_spec_correct_out(forward):
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = forward(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    # printed: "difference:  4.1666665157267834e-08"
    assert rel_error(out, POOL_CORRECT_OUT) == pytest.approx(4.1666665e-08, rel=1e-6)


@pytest.mark.parametrize(("forward", "backward"), [
    (max_pool_forward_naive, max_pool_backward_naive),
    (max_pool_forward_fast, max_pool_backward_fast),
])
def test_max_pool_backward_error_matches_spec(forward, backward):
    rs = np.random.RandomState(231)
    x = rs.randn(3, 2, 8, 8)
    dout = rs.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = eval_numerical_gradient_array(lambda x_: forward(x_, pool_param)[0], x, dout)
    _, cache = forward(x, pool_param)
    # printed: dx error 3.27562514223145e-12
    assert rel_error(backward(dout, cache), dx_num) < 3.3e-11


def _spec_fast_conv_case(n: int):
    rs = np.random.RandomState(231)
    x = rs.randn(100, 3, 31, 31)
    w = rs.randn(25, 3, 3, 3)
    b = rs.randn(25)
    dout = rs.randn(100, 25, 16, 16)
    return x[:n], w, b, dout[:n], {"stride": 2, "pad": 1}


def _check_fast_conv_against_naive(n: int):
    x, w, b, dout, conv_param = _spec_fast_conv_case(n)
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
    dx_n, dw_n, db_n = conv_backward_naive(dout, cache_naive)
    dx_f, dw_f, db_f = conv_backward_fast(dout, cache_fast)
    # printed: Difference 4.926407851494105e-11; dx 1.949764775345631e-11, dw 3.681156828004736e-13,
    # db 3.481354613192702e-14 ("around e-9 or less")
    assert rel_error(out_naive, out_fast) < 4.9e-10
    assert rel_error(dx_n, dx_f) < 1.9e-10
    assert rel_error(dw_n, dw_f) < 3.7e-12
    assert rel_error(db_n, db_f) < 3.5e-13


def test_conv_fast_matches_naive_on_spec_case_first_samples():
    _check_fast_conv_against_naive(4)


@pytest.mark.slow
def test_conv_fast_matches_naive_on_spec_case_full_batch():
    _check_fast_conv_against_naive(100)


def test_max_pool_fast_matches_naive_on_spec_case():
    rs = np.random.RandomState(231)
    x = rs.randn(100, 3, 32, 32)
    dout = rs.randn(100, 3, 16, 16)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
    # printed: difference 0.0; dx difference 0.0
    assert rel_error(out_naive, out_fast) == 0.0
    assert rel_error(max_pool_backward_naive(dout, cache_naive), max_pool_backward_fast(dout, cache_fast)) == 0.0


def test_conv_relu_pool_errors_match_spec():
    rs = np.random.RandomState(231)
    x = rs.randn(2, 3, 16, 16)
    w = rs.randn(3, 3, 3, 3)
    b = rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    dx, dw, db = conv_relu_pool_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_: conv_relu_pool_forward(x_, w, b, conv_param, pool_param)[0],
                                           x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_: conv_relu_pool_forward(x, w_, b, conv_param, pool_param)[0],
                                           w, dout)
    db_num = eval_numerical_gradient_array(lambda b_: conv_relu_pool_forward(x, w, b_, conv_param, pool_param)[0],
                                           b, dout)
    # printed: dx error 9.591132621921372e-09, dw error 5.802391137330214e-09, db error 1.0146343411762047e-09
    assert rel_error(dx, dx_num) < 9.6e-08
    assert rel_error(dw, dw_num) < 5.8e-08
    assert rel_error(db, db_num) < 1.02e-08


def test_conv_relu_errors_match_spec():
    rs = np.random.RandomState(231)
    x = rs.randn(2, 3, 8, 8)
    w = rs.randn(3, 3, 3, 3)
    b = rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = conv_relu_forward(x, w, b, conv_param)
    dx, dw, db = conv_relu_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda x_: conv_relu_forward(x_, w, b, conv_param)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w_: conv_relu_forward(x, w_, b, conv_param)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b_: conv_relu_forward(x, w, b_, conv_param)[0], b, dout)
    # printed: dx error 1.5218619980349303e-09, dw error 2.702022646099404e-10, db error 1.451272393591721e-10
    assert rel_error(dx, dx_num) < 1.53e-08
    assert rel_error(dw, dw_num) < 2.71e-09
    assert rel_error(db, db_num) < 1.46e-09
