"""softmax_loss(x, y, label_smoothing) against torch.nn.functional.cross_entropy(label_smoothing=...)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.layers import softmax_loss
from tests.parity.conftest import assert_close, to_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.37, 1.0])
@pytest.mark.parametrize("shape", [(1, 2), (7, 5), (64, 10), (33, 101)])
def test_label_smoothing_loss_and_gradient_match_torch(rng, dtype, eps, shape):
    n, c = shape
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    y = rng.integers(0, c, size=n)
    loss, dx = softmax_loss(x, y, label_smoothing=eps)
    xt = to_torch(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(y), label_smoothing=eps)
    lt.backward()
    assert dx.dtype == dtype
    assert_close(f"loss eps={eps}", np.asarray(loss), lt, dtype)
    assert_close(f"dx eps={eps}", dx, xt.grad, dtype)


def test_label_smoothing_zero_is_the_plain_loss_bit_for_bit(rng):
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.integers(0, 6, size=20)
    plain, dplain = softmax_loss(x, y)
    smooth0, dsmooth0 = softmax_loss(x, y, label_smoothing=0.0)
    assert plain == smooth0 and np.array_equal(dplain, dsmooth0)


@pytest.mark.parametrize("bad, err", [(-0.1, ValueError), (1.5, ValueError), ("0.1", TypeError),
                                      (True, ValueError)])
def test_label_smoothing_out_of_range_is_named(bad, err):
    with pytest.raises(err, match="softmax_loss: label_smoothing must be"):
        softmax_loss(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=bad)
