"""Inverted dropout with p = DROP probability: mask values, RNG handling, modes, dtype, gradients, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.dropout import dropout_backward, dropout_forward


def test_train_mask_is_zero_or_inverse_keep_and_drop_rate_is_p(rng):
    x = rng.standard_normal((400, 250)) + 3
    out, (_, mask) = dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 7})
    assert set(np.unique(mask)) == {0.0, 1 / 0.7}
    np.testing.assert_array_equal(out, x * mask)
    assert abs((out == 0).mean() - 0.3) < 0.005
    assert abs(out.mean() / x.mean() - 1) < 0.01  # inverted scaling keeps the expectation


def test_seed_gives_the_numpy_seed_stream_without_touching_global_state():
    x = np.ones((6, 5))
    np.random.seed(99)
    before = np.random.get_state()[1].copy()
    _, (_, mask_a) = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    _, (_, mask_b) = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # global RNG untouched
    np.testing.assert_array_equal(mask_a, mask_b)                    # same seed, same mask on every call
    np.random.seed(123)
    np.testing.assert_array_equal(mask_a, (np.random.rand(6, 5) < 0.5) / 0.5)


def test_without_seed_the_global_rng_is_used():
    x = np.ones((3, 4))
    np.random.seed(5)
    _, (_, mask) = dropout_forward(x, {"mode": "train", "p": 0.25})
    np.random.seed(5)
    np.testing.assert_array_equal(mask, (np.random.rand(3, 4) < 0.75) / 0.75)


def test_test_mode_and_zero_p_are_identity_without_drawing(rng):
    x = rng.standard_normal((3, 4))
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    for param in ({"mode": "test", "p": 0.5}, {"mode": "test"}, {"mode": "train", "p": 0.0}):
        out, cache = dropout_forward(x, param)
        assert out is x and cache[1] is None
        dout = rng.standard_normal(x.shape)
        assert dropout_backward(dout, cache) is dout
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5)])
def test_dropout_backward_matches_numerical_gradient(rng, shape):
    x = rng.standard_normal(shape)
    dout = rng.standard_normal(shape)
    param = {"mode": "train", "p": 0.4, "seed": 3}
    dx = dropout_backward(dout, dropout_forward(x, param)[1])
    dx_num = eval_numerical_gradient_array(lambda x: dropout_forward(x, param)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-7


def test_dropout_keeps_float32(rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 1})
    assert out.dtype == np.float32 and cache[1].dtype == np.float32
    assert dropout_backward(np.ones_like(x), cache).dtype == np.float32


def test_dropout_refuses_bad_parameters():
    x = np.zeros((2, 3))
    for p in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"dropout_forward: p must be in \[0, 1\)"):
            dropout_forward(x, {"mode": "train", "p": p})
    with pytest.raises(TypeError, match="dropout_forward: p must be a number"):
        dropout_forward(x, {"mode": "train", "p": "half"})
    with pytest.raises(ValueError, match="dropout_forward: dropout_param\\['mode'\\] must be 'train' or 'test'"):
        dropout_forward(x, {"mode": "eval", "p": 0.5})
    with pytest.raises(ValueError, match="dropout_forward: dropout_param\\['mode'\\]"):
        dropout_forward(x, {"p": 0.5})
    with pytest.raises(ValueError, match="dropout_forward: dropout_param\\['p'\\] .* is required"):
        dropout_forward(x, {"mode": "train"})
    with pytest.raises(TypeError, match="dropout_forward: dropout_param must be a dict"):
        dropout_forward(x, 0.5)
    _, cache = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 0})
    with pytest.raises(ValueError, match="dropout_backward: dout has shape"):
        dropout_backward(np.zeros((3, 2)), cache)
