"""Every printed check of the spec for the core layers, ported to nnlab's API with the values written out.

Sources: spec/seed_004.md §5.1-5.5, §7.2-7.3, §8.2-8.5, §8.10, §9.8-9.9; spec/seeds_000_002.md 000.3-000.5 and
001.B (column layout ported to rows: arrays are transposed); spec/seed_003.md §3.4.
Gradient-check errors are floating-point-order dependent, so they are tested as upper bounds (10x the printed
value, or the notebook's stated range); deterministic statistics are tested to the printed digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnlab.layers.activations import (
    relu_backward,
    relu_forward,
    softmax_forward,
    softsign_backward,
    softsign_forward,
)
from nnlab.layers.affine import affine_backward, affine_forward
from nnlab.layers.composite import affine_relu_backward, affine_relu_forward
from nnlab.layers.dropout import dropout_backward, dropout_forward
from nnlab.layers.losses import cross_entropy_loss, softmax_loss
from nnlab.layers.normalization import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)


def _close(actual, expected, atol=5e-9):
    """Printed arrays have 8 significant digits: compare to half a unit of the last printed place."""
    np.testing.assert_allclose(actual, np.array(expected), rtol=5e-8, atol=atol)


# --------------------------------------------------------------------------------------- §5 affine / relu
def test_affine_forward_difference_matches_spec():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct_out) == pytest.approx(9.769849468192957e-10, rel=1e-6)


def test_affine_backward_errors_below_spec_bounds():
    np.random.seed(231)
    x = np.random.randn(10, 2, 3)
    w = np.random.randn(6, 5)
    b = np.random.randn(5)
    dout = np.random.randn(10, 5)
    dx_num = eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert rel_error(dx_num, dx) < 10 * 5.399100368651805e-11
    assert rel_error(dw_num, dw) < 10 * 9.904211865398145e-11
    assert rel_error(db_num, db) < 10 * 2.4122867568119087e-11


def test_relu_forward_difference_matches_spec():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array([[0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.04545455, 0.13636364],
                            [0.22727273, 0.31818182, 0.40909091, 0.5]])
    assert rel_error(out, correct_out) == pytest.approx(4.999999798022158e-08, rel=1e-6)


def test_relu_backward_error_below_spec_bound():
    np.random.seed(231)
    x = np.random.randn(10, 10)
    dout = np.random.randn(*x.shape)
    dx_num = eval_numerical_gradient_array(lambda x: relu_forward(x)[0], x, dout)
    dx = relu_backward(dout, relu_forward(x)[1])
    assert rel_error(dx_num, dx) < 10 * 3.2756349136310288e-12


def test_affine_relu_errors_below_spec_bounds():
    np.random.seed(231)
    x = np.random.randn(2, 3, 4)
    w = np.random.randn(12, 10)
    b = np.random.randn(10)
    dout = np.random.randn(2, 10)
    dx, dw, db = affine_relu_backward(dout, affine_relu_forward(x, w, b)[1])
    dx_num = eval_numerical_gradient_array(lambda x: affine_relu_forward(x, w, b)[0], x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: affine_relu_forward(x, w, b)[0], w, dout)
    db_num = eval_numerical_gradient_array(lambda b: affine_relu_forward(x, w, b)[0], b, dout)
    assert rel_error(dx_num, dx) < 10 * 2.299579177309368e-11
    assert rel_error(dw_num, dw) < 10 * 8.162011105764925e-11
    assert rel_error(db_num, db) < 10 * 7.826724021458994e-12


def test_softmax_loss_value_and_gradient_match_spec():
    np.random.seed(231)
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    loss, dx = softmax_loss(x, y)
    assert abs(float(loss) - 2.3025458445007376) < 1e-12
    dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
    assert rel_error(dx_num, dx) < 1e-7  # printed 8.234e-09 ("around e-8")


# ------------------------------------------------------------------------------------------------ §7 dropout
@pytest.mark.parametrize(("keep", "train_mean", "zero_fraction"), [
    (0.25, 10.014059116977283, 0.749784),
    (0.4, 9.977917658761159, 0.600796),
    (0.7, 9.987811912159426, 0.30074),
])
def test_dropout_forward_stats_match_spec(keep, train_mean, zero_fraction):
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    assert x.mean() == pytest.approx(10.000207878477502, abs=1e-12)
    for earlier in (0.25, 0.4, 0.7):  # the notebook draws one mask per keep value, in this order
        out, _ = dropout_forward(x, {"mode": "train", "p": 1 - earlier})
        if earlier == keep:
            break
    out_test, _ = dropout_forward(x, {"mode": "test", "p": 1 - keep})
    assert out.mean() == pytest.approx(train_mean, abs=1e-12)
    assert (out == 0).mean() == zero_fraction
    assert np.array_equal(out_test, x)
    assert (out_test == 0).mean() == 0.0


def test_dropout_backward_error_below_spec_bound():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 1 - 0.2, "seed": 123}  # CS231n keep 0.2 == drop 0.8
    out, cache = dropout_forward(x, dropout_param)
    dx = dropout_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)
    assert rel_error(dx, dx_num) < 10 * 5.44560814873387e-11


# ------------------------------------------------------------------------------------------- §8 batch norm
def test_batchnorm_forward_train_stats_match_spec():
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    _close(a.mean(axis=0), [-2.3814598, -13.18038246, 1.91780462], atol=5e-8)
    _close(a.std(axis=0), [27.18502186, 34.21455511, 37.68611762], atol=5e-8)

    out, _ = batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    _close(out.mean(axis=0), [0.0, 0.0, 0.0], atol=1e-15)  # printed 5.3e-17, 7.0e-17, 1.9e-17
    _close(out.std(axis=0), [0.99999999, 1.0, 1.0])

    out, _ = batchnorm_forward(a, np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0]), {"mode": "train"})
    _close(out.mean(axis=0), [11.0, 12.0, 13.0], atol=1e-12)
    _close(out.std(axis=0), [0.99999999, 1.99999999, 2.99999999])


def test_batchnorm_forward_test_time_stats_match_spec():
    np.random.seed(231)
    N, D1, D2, D3 = 200, 50, 60, 3
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        X = np.random.randn(N, D1)
        a = np.maximum(0, X.dot(W1)).dot(W2)
        batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    X = np.random.randn(N, D1)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    _close(out.mean(axis=0), [-0.03927354, -0.04349152, -0.10452688])
    _close(out.std(axis=0), [1.01531428, 1.01238373, 0.97819988])


def test_batchnorm_backward_errors_below_spec_bounds():
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    bn_param = {"mode": "train"}
    fx = lambda x: batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fg = lambda a: batchnorm_forward(x, a, beta, bn_param)[0]  # noqa: E731
    fb = lambda b: batchnorm_forward(x, gamma, b, bn_param)[0]  # noqa: E731
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    da_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
    db_num = eval_numerical_gradient_array(fb, beta.copy(), dout)
    _, cache = batchnorm_forward(x, gamma, beta, bn_param)
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        dx, dgamma, dbeta = backward(dout, cache)
        assert rel_error(dx_num, dx) < 10 * 1.7029235612572515e-09
        assert rel_error(da_num, dgamma) < 1e-8   # printed 7.4e-13; stated range 1e-13..1e-8
        assert rel_error(db_num, dbeta) < 1e-8    # printed 2.9e-12


def test_batchnorm_backward_alt_matches_graph_version():
    np.random.seed(231)
    N, D = 100, 500
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx1, dgamma1, dbeta1 = batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    assert rel_error(dx1, dx2) < 1e-11        # printed 1.6697540272642257e-12
    assert rel_error(dgamma1, dgamma2) == 0.0  # printed 0.0
    assert rel_error(dbeta1, dbeta2) == 0.0    # printed 0.0


# ------------------------------------------------------------------------------------------- §8.10 layer norm
def test_layernorm_forward_stats_match_spec():
    np.random.seed(231)
    N, D1, D2, D3 = 4, 50, 60, 3
    X = np.random.randn(N, D1)
    W1 = np.random.randn(D1, D2)
    W2 = np.random.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    _close(a.mean(axis=1), [-59.06673243, -47.60782686, -43.31137368, -26.40991744], atol=5e-8)
    _close(a.std(axis=1), [10.07429373, 28.39478981, 35.28360729, 4.01831507], atol=5e-8)

    out, _ = layernorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    _close(out.mean(axis=1), [0.0, 0.0, 0.0, 0.0], atol=1e-15)  # printed 4.8e-16, -7.4e-17, ...
    _close(out.std(axis=1), [0.99999995, 0.99999999, 1.0, 0.99999969])

    out, _ = layernorm_forward(a, 3 * np.ones(D3), 5 * np.ones(D3), {"mode": "train"})
    _close(out.mean(axis=1), [5.0, 5.0, 5.0, 5.0], atol=1e-12)
    _close(out.std(axis=1), [2.99999985, 2.99999998, 2.99999999, 2.99999907])


def test_layernorm_backward_errors_below_spec_bounds():
    np.random.seed(231)
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma = np.random.randn(D)
    beta = np.random.randn(D)
    dout = np.random.randn(N, D)
    ln_param = {}
    fx = lambda x: layernorm_forward(x, gamma, beta, ln_param)[0]  # noqa: E731
    fg = lambda a: layernorm_forward(x, a, beta, ln_param)[0]  # noqa: E731
    fb = lambda b: layernorm_forward(x, gamma, b, ln_param)[0]  # noqa: E731
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    da_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
    db_num = eval_numerical_gradient_array(fb, beta.copy(), dout)
    dx, dgamma, dbeta = layernorm_backward(dout, layernorm_forward(x, gamma, beta, ln_param)[1])
    assert rel_error(dx_num, dx) < 10 * 1.4336161049967258e-09
    assert rel_error(da_num, dgamma) < 1e-8  # printed 4.5e-12; stated range 1e-12..1e-8
    assert rel_error(db_num, dbeta) < 1e-8   # printed 2.3e-12


# ----------------------------------------------------------------------------------- §9.8 spatial batch norm
def test_spatial_batchnorm_forward_train_stats_match_spec():
    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 4 * np.random.randn(N, C, H, W) + 10
    _close(x.mean(axis=(0, 2, 3)), [9.33463814, 8.90909116, 9.11056338])
    _close(x.std(axis=(0, 2, 3)), [3.61447857, 3.19347686, 3.5168142])

    out, _ = spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), {"mode": "train"})
    assert out.shape == (2, 3, 4, 5)
    _close(out.mean(axis=(0, 2, 3)), [0.0, 0.0, 0.0], atol=1e-14)  # printed 6.2e-16, 6.0e-16, -1.2e-16
    _close(out.std(axis=(0, 2, 3)), [0.99999962, 0.99999951, 0.9999996])

    gamma, beta = np.asarray([3, 4, 5]), np.asarray([6, 7, 8])  # int arrays, as in the notebook
    out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert out.shape == (2, 3, 4, 5)
    _close(out.mean(axis=(0, 2, 3)), [6.0, 7.0, 8.0], atol=1e-12)
    _close(out.std(axis=(0, 2, 3)), [2.99999885, 3.99999804, 4.99999798])


def test_spatial_batchnorm_forward_test_time_stats_match_spec():
    np.random.seed(231)
    N, C, H, W = 10, 4, 11, 12
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(50):
        x = 2.3 * np.random.randn(N, C, H, W) + 13
        spatial_batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = 2.3 * np.random.randn(N, C, H, W) + 13
    out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    _close(out.mean(axis=(0, 2, 3)), [-0.08034406, 0.07562881, 0.05716371, 0.04378383])
    _close(out.std(axis=(0, 2, 3)), [0.96718744, 1.0299714, 1.02887624, 1.00585577])


def test_spatial_batchnorm_backward_errors_below_spec_bounds():
    np.random.seed(231)
    N, C, H, W = 2, 3, 4, 5
    x = 5 * np.random.randn(N, C, H, W) + 12
    gamma = np.random.randn(C)
    beta = np.random.randn(C)
    dout = np.random.randn(N, C, H, W)
    bn_param = {"mode": "train"}
    fx = lambda x: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fg = lambda a: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731  (reads gamma)
    fb = lambda b: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731  (reads beta)
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    da_num = eval_numerical_gradient_array(fg, gamma, dout)  # in-place perturbation of the captured gamma
    db_num = eval_numerical_gradient_array(fb, beta, dout)
    _, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
    assert rel_error(dx_num, dx) < 1e-6       # printed 2.786648193872555e-07; stated 1e-12..1e-6
    assert rel_error(da_num, dgamma) < 10 * 7.0974817113608705e-12
    assert rel_error(db_num, dbeta) < 10 * 3.275608725278405e-12


# ----------------------------------------------------------------------------------------- §9.9 group norm
def test_spatial_groupnorm_forward_stats_match_spec():
    np.random.seed(231)
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 4 * np.random.randn(N, C, H, W) + 10
    x_g = x.reshape((N * G, -1))
    _close(x_g.mean(axis=1), [9.72505327, 8.51114185, 8.9147544, 9.43448077])
    _close(x_g.std(axis=1), [3.67070958, 3.09892597, 4.27043622, 3.97521327])
    gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
    out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
    assert out.shape == (2, 6, 4, 5)
    out_g = out.reshape((N * G, -1))
    _close(out_g.mean(axis=1), [0.0, 0.0, 0.0, 0.0], atol=1e-14)  # printed -2.1e-16, 5.3e-16, ...
    _close(out_g.std(axis=1), [0.99999963, 0.99999948, 0.99999973, 0.99999968])


def test_spatial_groupnorm_backward_errors_below_spec_bounds():
    np.random.seed(231)
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 5 * np.random.randn(N, C, H, W) + 12
    gamma = np.random.randn(1, C, 1, 1)
    beta = np.random.randn(1, C, 1, 1)
    dout = np.random.randn(N, C, H, W)
    gn_param = {}
    fx = lambda x: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    fg = lambda a: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    fb = lambda b: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    dx_num = eval_numerical_gradient_array(fx, x, dout)
    da_num = eval_numerical_gradient_array(fg, gamma, dout)
    db_num = eval_numerical_gradient_array(fb, beta, dout)
    _, cache = spatial_groupnorm_forward(x, gamma, beta, G, gn_param)
    dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
    assert dgamma.shape == (1, C, 1, 1) and dbeta.shape == (1, C, 1, 1)
    assert rel_error(dx_num, dx) < 1e-7       # printed 7.413109332145332e-08; stated 1e-12..1e-7
    assert rel_error(da_num, dgamma) < 10 * 9.468195772749234e-12
    assert rel_error(db_num, dbeta) < 10 * 3.354494437653335e-12


# ----------------------------------------------------------------------------------------------- seed 000
def test_seed000_bchw_batchnorm_example_output():
    B, C, H, W = 2, 2, 2, 2
    np.random.seed(42)
    X = np.random.randn(B, C, H, W)
    gamma = np.ones(C).reshape(1, C, 1, 1)
    beta = np.zeros(C).reshape(1, C, 1, 1)
    out, _ = spatial_batchnorm_forward(X, gamma, beta, {"mode": "train"})
    expected = [[[[0.42859934, -0.51776438], [0.65360963, 1.95820707]],
                 [[0.02353721, 0.02355215], [1.67355207, 0.93490043]]],
                [[[-1.01139563, 0.49692747], [-1.00236882, -1.00581468]],
                 [[0.45676349, -1.50433085], [-1.33293647, -0.27503802]]]]
    _close(out, expected)


@pytest.mark.parametrize("param_shape", [(1, 1, 3), (3,)])
def test_seed000_sequence_layernorm_example_output(param_shape):
    np.random.seed(42)
    X = np.random.randn(2, 2, 3)
    gamma = np.ones(3).reshape(param_shape)
    beta = np.zeros(3).reshape(param_shape)
    out, cache = layernorm_forward(X, gamma, beta, {})
    expected = [[[0.47373971, -1.39079736, 0.91705765],
                 [1.41420326, -0.70711154, -0.70709172]],
                [[1.13192477, 0.16823009, -1.30015486],
                 [1.4141794, -0.70465482, -0.70952458]]]
    _close(out, expected)
    _, dgamma, dbeta = layernorm_backward(np.ones_like(X), cache)
    assert dgamma.shape == param_shape and dbeta.shape == param_shape
    _close(dbeta.reshape(-1), [4.0, 4.0, 4.0], atol=1e-12)


def test_seed000_dropout_layer_scales_survivors_and_masks_gradient():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    grad = np.array([0.1, 0.2, 0.3, 0.4])
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    dx = dropout_backward(grad, cache)
    kept = out != 0
    np.testing.assert_array_equal(out[kept], x[kept] / (1 - 0.5))  # survivors scaled by 1/(1-p) = 2
    np.testing.assert_array_equal(dx, np.where(kept, grad * 2, 0.0))  # the same mask, the same scale
    out_eval, _ = dropout_forward(x, {"mode": "test", "p": 0.5})
    assert np.array_equal(out_eval, x)


# ------------------------------------------------------------------------------------- seed 001 (row layout)
def test_seed001_softmax_cross_entropy_loss_and_gradient_row_layout():
    np.random.seed(1)
    Z_t = np.random.randn(3, 4)  # (classes, samples) in the seed; rows are samples here
    y = np.array([1, 0, 1, 2])
    A_t = np.array([[0.57495949, 0.38148818, 0.05547572, 0.36516899],
                    [0.26917503, 0.07040735, 0.53857622, 0.49875847],
                    [0.15586548, 0.54810447, 0.40594805, 0.13607254]])
    dZ_t = np.array([[0.14373987, -0.15462795, 0.01386893, 0.09129225],
                     [-0.18270624, 0.01760184, -0.11535594, 0.12468962],
                     [0.03896637, 0.13702612, 0.10148701, -0.21598186]])
    loss, dx = softmax_loss(Z_t.T, y)
    assert abs(float(loss) - 1.2223655548779273) < 1e-12
    _close(softmax_forward(Z_t.T)[0], A_t.T)
    _close(dx, dZ_t.T)


def test_seed001_batchnorm_example_row_layout():
    A_t = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (features, samples) in the seed
    beta = np.array([1.0, 2.0, 3.0])
    gamma = np.array([4.0, 5.0, 6.0])
    out, cache = batchnorm_forward(A_t.T, gamma, beta, {"mode": "train"})
    expected = np.array([[-2.9999200024, 4.9999200024], [-2.999900003, 6.999900003],
                         [-2.9998800036, 8.9998800036]])
    np.testing.assert_allclose(out, expected.T, rtol=0, atol=1e-9)
    dA_in = np.array([[4.0, 5.0], [8.0, 10.0], [12.0, 15.0]])
    dx, dgamma, dbeta = batchnorm_backward(dA_in.T, cache)
    np.testing.assert_allclose(dx, np.array([[-1.599904e-4, 1.599904e-4], [-3.99976e-4, 3.99976e-4],
                                             [-7.199568e-4, 7.199568e-4]]).T, rtol=1e-6, atol=0)
    np.testing.assert_allclose(dbeta, [9.0, 18.0, 27.0], rtol=1e-12)
    np.testing.assert_allclose(dgamma, [0.99998, 1.99996, 2.99994], rtol=1e-6)


def test_seed001_dropout_forward_row_layout_mask():
    np.random.seed(1)
    x_t = np.random.rand(3, 4)
    out, cache = dropout_forward(x_t, {"mode": "train", "p": 0.3})  # drop_prob 0.3, global RNG
    expected = [[5.95745721e-01, 0.0, 1.63392596e-04, 4.31903675e-01],
                [2.09651273e-01, 1.31912278e-01, 2.66086016e-01, 4.93658181e-01],
                [0.0, 0.0, 5.98849306e-01, 9.78885001e-01]]
    mask = [[1.42857143, 0.0, 1.42857143, 1.42857143],
            [1.42857143, 1.42857143, 1.42857143, 1.42857143],
            [0.0, 0.0, 1.42857143, 1.42857143]]
    np.testing.assert_allclose(out, expected, rtol=5e-8, atol=5e-12)
    _close(cache[1], mask)
    state = np.random.get_state()[2]
    out0, cache0 = dropout_forward(x_t, {"mode": "train", "p": 0})  # p == 0: identity, no draw
    assert out0 is x_t and cache0[1] is None and np.random.get_state()[2] == state


# ----------------------------------------------------------------------------------------------- seed 003
def test_seed003_cross_entropy_matches_spec():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=np.float64)
    yh = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.05, 0.1, 0.85], [0.9, 0.05, 0.05], [0.1, 0.3, 0.6]])
    loss, _ = cross_entropy_loss(yh, y, eps=1e-15)
    assert float(loss) == pytest.approx(0.2717047128349055, abs=1e-15)


def test_seed003_softmax_and_softsign_match_closed_forms():
    out, _ = softmax_forward(np.array([[2.0, 0.0, 1.0], [1.0, 0.0, 2.0]]))
    _close(out, [[0.66524096, 0.09003057, 0.24472847], [0.24472847, 0.09003057, 0.66524096]])
    u = np.array([[-3.0, -0.5, 0.0], [0.25, 1.0, 7.0]])
    u_before = u.copy()
    s, cache = softsign_forward(u)
    np.testing.assert_allclose(s, u / (1 + np.abs(u)), rtol=1e-15)
    ds = softsign_backward(np.ones_like(u), cache)
    np.testing.assert_allclose(ds, 1 / (1 + np.abs(u)) ** 2, rtol=1e-15)
    assert np.array_equal(u, u_before)  # the input is not mutated
