"""Bad calls to ``nnlab.functional``: one exception naming the function, the argument and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.functional as F
from nnlab.autograd import tensor

R = np.random.default_rng(0)


def t(*shape):
    return tensor(R.standard_normal(shape), requires_grad=True)


CASES = [
    (lambda: F.conv2d(t(2, 3, 5, 5), t(2, 4, 3, 3)), ValueError,
     r"conv2d: input has 3 channels but weight expects 4 \(input shape \(2, 3, 5, 5\), weight shape \(2, 4, 3, 3\)\)"),
    (lambda: F.conv2d(t(3, 5, 5), t(2, 3, 3, 3)), ValueError,
     r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), dilation=2), NotImplementedError,
     "conv2d: dilation=2 is not supported"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), groups=3), NotImplementedError, "conv2d: groups=3"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), stride=(1, 2)), ValueError, "conv2d: stride must be an int"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 3, 3), t(3)), ValueError,
     r"conv2d: bias has shape \(3,\) but weight has 2"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 3, 2, 2), padding="same"), ValueError, "conv2d: padding='same' needs"),
    (lambda: F.linear(t(4, 5), t(3, 6)), ValueError,
     r"linear: input has 5 features \(shape \(4, 5\)\) but weight expects 6 \(weight shape \(3, 6\)\)"),
    (lambda: F.linear(t(4, 5), t(3, 5), t(4)), ValueError, r"linear: bias has shape \(4,\) but weight has 3 outputs"),
    (lambda: F.max_pool2d(t(1, 1, 4, 4), 2, padding=1), NotImplementedError, "max_pool2d: padding=1 is not supported"),
    (lambda: F.max_pool2d(t(1, 1, 4, 4), (2, 3)), ValueError, "max_pool2d: a 2x3 window needs an explicit stride"),
    (lambda: F.avg_pool2d(t(1, 1, 4, 4), 0), ValueError, "avg_pool2d: kernel_size must be a positive int"),
    (lambda: F.avg_pool2d(t(4, 4), 2), ValueError, r"avg_pool2d: input must be 4-D \(N, C, H, W\), got shape \(4, 4\)"),
    (lambda: F.batch_norm(t(4, 3), None, None), ValueError,
     "batch_norm: running_mean and running_var are required when training=False"),
    (lambda: F.batch_norm(t(1, 3), None, None, training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel when training, got input of shape \(1, 3\)"),
    (lambda: F.batch_norm(t(4, 3), np.zeros(2), np.ones(2)), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) for input \(4, 3\), got \(2,\)"),
    (lambda: F.batch_norm(t(4, 3), None, None, t(4), training=True), ValueError,
     r"batch_norm: weight has shape \(4,\) but the input has 3 features"),
    (lambda: F.layer_norm(t(2, 5), (4,)), ValueError,
     r"layer_norm: input of shape \(2, 5\) does not end with normalized_shape \(4,\)"),
    (lambda: F.group_norm(t(2, 4, 3, 3), 3), ValueError,
     "group_norm: num_groups 3 must be a positive divisor of the 4"),
    (lambda: F.cross_entropy(t(3, 4), np.array([0.0, 1.0, 2.0])), TypeError,
     "cross_entropy: target must hold integer class labels, got dtype float64"),
    (lambda: F.cross_entropy(t(3, 4), np.array([0, 1])), ValueError,
     r"cross_entropy: input has 3 rows \(shape \(3, 4\)\) but target has 2 labels"),
    (lambda: F.cross_entropy(t(3, 4), np.array([0, 1, 2]), reduction="avg"), ValueError,
     "cross_entropy: reduction must be 'none', 'sum' or 'mean', got 'avg'"),
    (lambda: F.cross_entropy(t(3, 4), np.array([0, 1, 2]), weight=np.ones(4)), NotImplementedError,
     "cross_entropy: weight="),
    (lambda: F.cross_entropy(t(3, 4), np.array([0, 1, 4])), ValueError, r"softmax_loss: y must be in \[0, 4\)"),
    (lambda: F.nll_loss(t(3, 4, 2), np.array([0, 1, 2])), ValueError, r"nll_loss: input must be 2-D \(N, C\)"),
    (lambda: F.mse_loss(t(3, 4), t(4, 3)), ValueError,
     r"mse_loss: input has shape \(3, 4\) but target has shape \(4, 3\)"),
    (lambda: F.embedding(np.array([0.0, 1.0]), t(4, 2)), TypeError,
     "embedding: input must hold integer ids, got dtype float64"),
    (lambda: F.embedding(np.array([0, 1]), t(4, 2), padding_idx=0), NotImplementedError, "embedding: padding_idx=0"),
    (lambda: F.rnn(t(2, 3, 4), None, t(5, 3), t(5, 5)), ValueError,
     r"rnn: input has 4 features \(shape \(2, 3, 4\)\) but weight_ih expects 3 \(shape \(5, 3\)\)"),
    (lambda: F.lstm(t(2, 3, 4), t(1, 2, 5), t(20, 4), t(20, 5)), ValueError,
     r"lstm: hx must be None or a pair \(h0, c0\)"),
    (lambda: F.gru(t(2, 3, 4), t(1, 3, 5), t(15, 4), t(15, 5)), ValueError,
     r"gru: hx must have shape \(1, N, H\) = \(1, 2, 5\) for input \(2, 3, 4\), got \(1, 3, 5\)"),
    (lambda: F.gru(t(2, 3, 4), None, t(12, 4), t(15, 5)), ValueError, r"gru: weight_ih must be \(3H, D\)"),
    (lambda: F.dropout(t(2, 3), 1.5), ValueError, "dropout: p"),
    (lambda: F.relu(t(2, 3), inplace=True), ValueError, "relu: inplace=True is not supported"),
    (lambda: F.softmax(t(2, 3), dim=2), ValueError, r"softmax: dim 2 is out of range for input of shape \(2, 3\)"),
    (lambda: F.scaled_dot_product_attention(t(2, 3, 4), t(2, 5, 3), t(2, 5, 4)), ValueError,
     "scaled_dot_product_attention_forward: q has 4 features per position but k has 3"),
    (lambda: F.prelu(t(2, 3, 4), t(4)), ValueError, "prelu_forward: weight has 4 slopes but x of shape"),
    (lambda: F.linear("x", t(2, 2)), TypeError, "linear: input must be a Tensor or an array, got str"),
]


@pytest.mark.parametrize("call,exc,message", CASES, ids=[f"{i}:{c[2][:30]}" for i, c in enumerate(CASES)])
def test_bad_call_raises_one_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_valid_padding_and_pair_arguments_are_accepted():
    x, w = t(1, 2, 5, 5), t(3, 2, 3, 3)
    assert F.conv2d(x, w, padding="valid").shape == (1, 3, 3, 3)
    assert F.conv2d(x, w, stride=(2, 2), padding=(1, 1)).shape == (1, 3, 3, 3)
    assert F.max_pool2d(x, (2, 2), stride=(1, 1)).shape == (1, 2, 4, 4)
    assert F.dropout(x, 0.5, training=False) is x


def test_torch_defaults_spelled_as_pairs_are_accepted():
    x, w = t(1, 2, 4, 4), t(3, 2, 3, 3)
    assert F.conv2d(x, w, dilation=(1, 1), groups=1).shape == (1, 3, 2, 2)
    assert F.max_pool2d(x, 2, padding=(0, 0), dilation=(1, 1)).shape == (1, 2, 2, 2)
    assert F.avg_pool2d(x, 2, padding=(0, 0)).shape == (1, 2, 2, 2)
