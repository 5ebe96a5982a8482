"""Parity of the core kernels with torch 2.13 autograd: forward and every gradient, float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnlab.layers import activations as act
from nnlab.layers.affine import affine_backward, affine_forward
from nnlab.layers.composite import affine_relu_backward, affine_relu_forward
from nnlab.layers.dropout import dropout_backward, dropout_forward
from nnlab.layers.losses import cross_entropy_loss, mse_loss, softmax_loss, svm_loss
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]


def _torch_grads(fn, arrays, dout):
    """Run ``fn`` on torch copies of ``arrays`` (all requiring grad), backprop ``dout``; return (out, grads)."""
    ts = [to_torch(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(to_torch(dout) if dout is not None else None)
    return out, [t.grad for t in ts]


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_matches_torch_linear(rng, dtype):
    x = rng.standard_normal((5, 2, 3)).astype(dtype)
    w = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    dout = rng.standard_normal((5, 4)).astype(dtype)
    out, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    t_out, (tx, tw, tb) = _torch_grads(lambda x, w, b: F.linear(x.reshape(5, 6), w.T, b), (x, w, b), dout)
    for name, ours, theirs in (("out", out, t_out), ("dx", dx, tx), ("dw", dw, tw), ("db", db, tb)):
        assert_close(f"affine {name}", ours, theirs, dtype)
        assert ours.dtype == dtype


ELEMENTWISE = {
    "relu": (act.relu_forward, act.relu_backward, F.relu),
    "leaky_relu": (lambda x: act.leaky_relu_forward(x, 0.05), act.leaky_relu_backward,
                   lambda t: F.leaky_relu(t, 0.05)),
    "sigmoid": (act.sigmoid_forward, act.sigmoid_backward, torch.sigmoid),
    "tanh": (act.tanh_forward, act.tanh_backward, torch.tanh),
    "softsign": (act.softsign_forward, act.softsign_backward, F.softsign),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_activation_matches_torch(rng, name, dtype):
    forward, backward, torch_fn = ELEMENTWISE[name]
    x = (8 * rng.standard_normal((4, 3, 5))).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache = forward(x)
    dx = backward(dout, cache)
    t_out, (tx,) = _torch_grads(torch_fn, (x,), dout)
    assert_close(f"{name} out", out, t_out, dtype)
    assert_close(f"{name} dx", dx, tx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(rng, name, axis, dtype):
    forward = getattr(act, f"{name}_forward")
    backward = getattr(act, f"{name}_backward")
    x = (5 * rng.standard_normal((3, 4, 5))).astype(dtype)
    x[0, 0, 0] = 1e4  # large logits must stay finite
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache = forward(x, axis=axis)
    dx = backward(dout, cache)
    t_out, (tx,) = _torch_grads(lambda t: getattr(F, name)(t, dim=axis), (x,), dout)
    assert_close(f"{name} out", out, t_out, dtype)
    assert_close(f"{name} dx", dx, tx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_loss_matches_torch_cross_entropy(rng, dtype):
    x = (3 * rng.standard_normal((7, 5))).astype(dtype)
    x[2, 1] = 1e4
    y = rng.integers(0, 5, size=7)
    loss, dx = softmax_loss(x, y)
    t_loss, (tx,) = _torch_grads(lambda t: F.cross_entropy(t, torch.from_numpy(y)), (x,), None)
    assert_close("softmax_loss loss", np.asarray(loss), t_loss, dtype)
    assert_close("softmax_loss dx", dx, tx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_svm_loss_matches_torch_multi_margin_loss_times_classes(rng, dtype):
    x = rng.standard_normal((8, 6)).astype(dtype)
    y = rng.integers(0, 6, size=8)
    loss, dx = svm_loss(x, y)
    # torch averages the hinge terms over the C classes as well; svm_loss does not: svm = C * multi_margin
    t_loss, (tx,) = _torch_grads(lambda t: 6 * F.multi_margin_loss(t, torch.from_numpy(y)), (x,), None)
    assert_close("svm_loss loss", np.asarray(loss), t_loss, dtype)
    assert_close("svm_loss dx", dx, tx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_loss_matches_torch(rng, dtype):
    pred = rng.standard_normal((4, 3, 2)).astype(dtype)
    target = rng.standard_normal((4, 3, 2)).astype(dtype)
    loss, dpred = mse_loss(pred, target)
    t_loss, (tp,) = _torch_grads(lambda p: F.mse_loss(p, to_torch(target)), (pred,), None)
    assert_close("mse_loss loss", np.asarray(loss), t_loss, dtype)
    assert_close("mse_loss dpred", dpred, tp, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_loss_matches_torch_autograd(rng, dtype):
    probs = rng.uniform(0.01, 1.0, size=(5, 4)).astype(dtype)
    probs /= probs.sum(axis=1, keepdims=True)
    y = np.eye(4, dtype=dtype)[rng.integers(0, 4, size=5)]
    loss, dprobs = cross_entropy_loss(probs, y)
    t_loss, (tp,) = _torch_grads(lambda p: -(to_torch(y) * torch.log(p + 1e-15)).sum() / 5, (probs,), None)
    assert_close("cross_entropy_loss loss", np.asarray(loss), t_loss, dtype)
    assert_close("cross_entropy_loss dprobs", dprobs, tp, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_torch_with_the_same_mask(rng, dtype):
    x = rng.standard_normal((6, 7)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 11})
    dx = dropout_backward(dout, cache)
    mask = cache[1]
    kept = torch.from_numpy(mask != 0)
    # torch's dropout semantics with an explicit mask: keep where the mask is set, scale by 1/(1-p)
    t_out, (tx,) = _torch_grads(lambda t: torch.where(kept, t / (1 - 0.3), torch.zeros_like(t)), (x,), dout)
    assert_close("dropout out", out, t_out, dtype)
    assert_close("dropout dx", dx, tx, dtype)
    assert abs(float((mask == 0).mean()) - 0.3) < 0.2
    t_eval = F.dropout(to_torch(x), p=0.3, training=False)
    assert_close("dropout test-mode out", dropout_forward(x, {"mode": "test", "p": 0.3})[0], t_eval, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_relu_matches_torch(rng, dtype):
    x = rng.standard_normal((4, 5)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dout = rng.standard_normal((4, 3)).astype(dtype)
    out, cache = affine_relu_forward(x, w, b)
    grads = affine_relu_backward(dout, cache)
    t_out, t_grads = _torch_grads(lambda x, w, b: F.relu(F.linear(x, w.T, b)), (x, w, b), dout)
    assert_close("affine_relu out", out, t_out, dtype)
    for name, ours, theirs in zip(("dx", "dw", "db"), grads, t_grads):
        assert_close(f"affine_relu {name}", ours, theirs, dtype)
