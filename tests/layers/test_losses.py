"""Losses: hand-computed values, numerical gradients, 1e4-logit stability, dtype, and refused bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.layers.losses import cross_entropy_loss, mse_loss, softmax_loss, svm_loss


@pytest.mark.parametrize(("n", "c"), [(1, 1), (1, 4), (5, 3), (7, 10)])
@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
def test_classification_loss_gradient_matches_numerical(rng, loss_fn, n, c):
    x = rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    _, dx = loss_fn(x, y)
    dx_num = eval_numerical_gradient(lambda x: loss_fn(x, y)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < 1e-7


def test_svm_loss_hand_computed_example():
    x = np.array([[1.0, 2.0, 3.0], [0.0, -5.0, 0.5]])
    y = np.array([0, 2])
    loss, dx = svm_loss(x, y)
    # row 0: margins 2 + 3 = 5; row 1: max(0, -0.5 + 1) + max(0, -5.5 + 1) = 0.5
    assert float(loss) == pytest.approx((5 + 0.5) / 2, abs=1e-15)
    np.testing.assert_allclose(dx, np.array([[-2.0, 1.0, 1.0], [1.0, 0.0, -1.0]]) / 2, rtol=1e-15)


def test_softmax_loss_hand_computed_example():
    x = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    y = np.array([0, 1])
    loss, dx = softmax_loss(x, y)
    assert float(loss) == pytest.approx((np.log(2.0) + np.log(4.0)) / 2, abs=1e-15)
    np.testing.assert_allclose(dx, np.array([[-0.5, 0.5], [0.75, -0.75]]) / 2, rtol=1e-14)


def test_softmax_loss_is_stable_for_1e4_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]])
    y = np.array([1, 1])
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        loss, dx = softmax_loss(x, y)
    assert float(loss) == pytest.approx(1e4 / 2, rel=1e-15)
    np.testing.assert_allclose(dx, np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]), atol=1e-300)


def test_mse_loss_mean_over_all_elements_and_gradient(rng):
    loss, dpred = mse_loss(np.array([[1.0, 2.0], [0.0, -1.0]]), np.zeros((2, 2)))
    assert float(loss) == pytest.approx(6.0 / 4, abs=1e-15)
    np.testing.assert_allclose(dpred, np.array([[1.0, 2.0], [0.0, -1.0]]) * 2 / 4, rtol=1e-15)
    pred, target = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    dnum = eval_numerical_gradient(lambda p: mse_loss(p, target)[0], pred, verbose=False)
    assert rel_error(mse_loss(pred, target)[1], dnum) < 1e-7


def test_cross_entropy_loss_gradient_matches_numerical(rng):
    probs = rng.uniform(0.05, 0.95, size=(4, 3))
    y = np.eye(3)[rng.integers(0, 3, size=4)]
    _, dprobs = cross_entropy_loss(probs, y)
    dnum = eval_numerical_gradient(lambda p: cross_entropy_loss(p, y)[0], probs, verbose=False)
    assert rel_error(dprobs, dnum) < 1e-7


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
def test_classification_losses_keep_float32(rng, loss_fn):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    loss, dx = loss_fn(x, np.array([0, 1, 2, 0]))
    assert dx.dtype == np.float32 and np.asarray(loss).dtype == np.float32


def test_regression_losses_keep_float32(rng):
    a = rng.uniform(0.1, 0.9, size=(4, 3)).astype(np.float32)
    loss, d = mse_loss(a, np.zeros((4, 3), dtype=np.float32))
    assert d.dtype == np.float32 and np.asarray(loss).dtype == np.float32
    loss, d = cross_entropy_loss(a, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    assert d.dtype == np.float32 and np.asarray(loss).dtype == np.float32


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss])
def test_classification_losses_refuse_bad_input(loss_fn):
    name = loss_fn.__name__
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=rf"{name}: x must be 2-D"):
        loss_fn(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match=rf"{name}: y must have shape \(3,\)"):
        loss_fn(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=rf"{name}: y must have shape \(3,\)"):
        loss_fn(x, np.zeros((3, 1), dtype=int))
    with pytest.raises(TypeError, match=rf"{name}: y must hold integer class labels"):
        loss_fn(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=rf"{name}: y must be in \[0, 4\)"):
        loss_fn(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=rf"{name}: y must be in \[0, 4\)"):
        loss_fn(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=rf"{name}: x contains NaN or inf"):
        loss_fn(np.array([[0.0, np.nan], [1.0, 2.0], [0.0, 0.0]]), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match=rf"{name}: x contains NaN or inf"):
        loss_fn(np.array([[0.0, np.inf], [1.0, 2.0], [0.0, 0.0]]), np.array([0, 1, 0]))
    with pytest.raises(TypeError, match=rf"{name}: x must have a floating-point dtype"):
        loss_fn(np.zeros((3, 4), dtype=int), np.array([0, 1, 2]))


def test_regression_losses_refuse_bad_input():
    with pytest.raises(ValueError, match=r"mse_loss: pred has shape \(2, 3\) but target has shape \(3, 2\)"):
        mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="mse_loss: target contains NaN or inf"):
        mse_loss(np.zeros(2), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="cross_entropy_loss: probs must be 2-D"):
        cross_entropy_loss(np.full(3, 0.3), np.eye(3)[0])
    with pytest.raises(ValueError, match="cross_entropy_loss: probs has shape"):
        cross_entropy_loss(np.full((2, 3), 0.3), np.eye(3))
    with pytest.raises(ValueError, match=r"cross_entropy_loss: probs must lie in \[0, 1\]"):
        cross_entropy_loss(np.array([[1.5, -0.5]]), np.array([[1.0, 0.0]]))
