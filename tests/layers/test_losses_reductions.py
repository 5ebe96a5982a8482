"""The loss kernel pairs with torch's ``reduction``: float64 numerical gradients and torch values."""

import numpy as np
import pytest
import torch

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers import (
    mse_loss_backward,
    mse_loss_forward,
    nll_loss_backward,
    nll_loss_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    softmax_loss,
)

REDUCTIONS = ("none", "sum", "mean")


def _data(seed=0, n=5, c=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)), rng.integers(0, c, n)


def _dout(loss, rng):
    return rng.standard_normal(np.shape(loss))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_numerical_gradient_and_torch(reduction, smoothing):
    x, y = _data()
    loss, cache = softmax_cross_entropy_forward(x, y, smoothing, reduction)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(y), reduction=reduction,
                                            label_smoothing=smoothing)
    assert rel_error(np.asarray(loss), ref.numpy()) < 1e-12
    dout = _dout(loss, np.random.default_rng(1))
    dx = softmax_cross_entropy_backward(dout, cache)
    num = eval_numerical_gradient_array(
        lambda a: np.asarray(softmax_cross_entropy_forward(a, y, smoothing, reduction)[0]), x, np.asarray(dout))
    assert rel_error(dx, num) < 1e-8


def test_softmax_cross_entropy_mean_equals_softmax_loss():
    x, y = _data(3)
    loss, cache = softmax_cross_entropy_forward(x, y, 0.1, "mean")
    ref_loss, ref_dx = softmax_loss(x, y, 0.1)
    assert rel_error(loss, ref_loss) < 1e-14
    assert rel_error(softmax_cross_entropy_backward(np.float64(1.0), cache), ref_dx) < 1e-14


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_numerical_gradient_and_torch(reduction):
    x, y = _data(2)
    loss, cache = nll_loss_forward(x, y, reduction)
    ref = torch.nn.functional.nll_loss(torch.tensor(x), torch.tensor(y), reduction=reduction)
    assert rel_error(np.asarray(loss), ref.numpy()) < 1e-12
    dout = _dout(loss, np.random.default_rng(4))
    num = eval_numerical_gradient_array(lambda a: np.asarray(nll_loss_forward(a, y, reduction)[0]), x,
                                        np.asarray(dout))
    assert rel_error(nll_loss_backward(dout, cache), num) < 1e-8


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_numerical_gradients_and_torch(reduction):
    rng = np.random.default_rng(5)
    p, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss, cache = mse_loss_forward(p, t, reduction)
    ref = torch.nn.functional.mse_loss(torch.tensor(p), torch.tensor(t), reduction=reduction)
    assert rel_error(np.asarray(loss), ref.numpy()) < 1e-12
    dout = _dout(loss, rng)
    dp, dt = mse_loss_backward(dout, cache)
    num_p = eval_numerical_gradient_array(lambda a: np.asarray(mse_loss_forward(a, t, reduction)[0]), p,
                                          np.asarray(dout))
    num_t = eval_numerical_gradient_array(lambda a: np.asarray(mse_loss_forward(p, a, reduction)[0]), t,
                                          np.asarray(dout))
    assert rel_error(dp, num_p) < 1e-8
    assert rel_error(dt, num_t) < 1e-8


def test_float32_stays_float32():
    x, y = _data(6)
    x = x.astype(np.float32)
    for reduction in REDUCTIONS:
        loss, cache = softmax_cross_entropy_forward(x, y, 0.1, reduction)
        assert np.asarray(loss).dtype == np.float32
        assert softmax_cross_entropy_backward(np.ones(np.shape(loss), np.float32), cache).dtype == np.float32
        loss, cache = nll_loss_forward(x, y, reduction)
        assert np.asarray(loss).dtype == np.float32
        assert nll_loss_backward(np.ones(np.shape(loss), np.float32), cache).dtype == np.float32
        loss, cache = mse_loss_forward(x, x * 0, reduction)
        assert np.asarray(loss).dtype == np.float32
        assert mse_loss_backward(np.ones(np.shape(loss), np.float32), cache)[0].dtype == np.float32


@pytest.mark.parametrize("fn,args", [
    (softmax_cross_entropy_forward, (np.zeros((2, 3)), np.array([0, 1]), 0.0, "avg")),
    (nll_loss_forward, (np.zeros((2, 3)), np.array([0, 1]), "all")),
    (mse_loss_forward, (np.zeros(3), np.zeros(3), None)),
])
def test_bad_reduction_names_function_and_argument(fn, args):
    with pytest.raises(ValueError, match=f"{fn.__name__}: reduction must be"):
        fn(*args)


def test_bad_dout_shape_names_the_kernel():
    x, y = _data()
    _, cache = softmax_cross_entropy_forward(x, y, 0.0, "none")
    with pytest.raises(ValueError, match="softmax_cross_entropy_backward: dout must have shape"):
        softmax_cross_entropy_backward(np.ones(3), cache)
