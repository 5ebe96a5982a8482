"""FullyConnectedNet against the same network written with torch.nn.functional + autograd: loss, every gradient,
test-time scores; float64 (1e-10) and float32 (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnlab.layers import dropout_forward
from nnlab.models import FullyConnectedNet
from tests.parity.conftest import assert_close, to_torch

N, D, H1, H2, C = 7, 11, 9, 8, 5
REG = 0.37

TORCH_ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda h: F.leaky_relu(h, negative_slope=0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softsign": F.softsign,
}


def build_model(normalization, activation, dtype, dropout=0.0):
    np.random.seed(11)
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, normalization=normalization,
                              activation=activation, reg=REG, weight_scale=0.3, dtype=dtype, dropout=dropout, seed=5)
    rs = np.random.RandomState(12)  # non-trivial biases, gamma and beta
    for name, value in model.params.items():
        if not name.startswith("W"):
            base = 1.0 if name.startswith("gamma") else 0.0
            model.params[name] = (base + 0.2 * rs.randn(*value.shape)).astype(dtype)
    X = rs.randn(N, D).astype(dtype)
    y = rs.randint(C, size=N)
    return model, X, y


def torch_forward(model, params, X, masks=None, training=True):
    """The reference network: {affine - [norm] - activation - [dropout mask]} x 2 - affine."""
    act = TORCH_ACTIVATIONS[model.activation]
    h = to_torch(X)
    for i in range(1, model.num_layers):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if model.normalization == "batchnorm":
            bn = model.bn_params[i - 1]
            running = (None, None) if training else (to_torch(bn["running_mean"]), to_torch(bn["running_var"]))
            h = F.batch_norm(h, *running, weight=params[f"gamma{i}"], bias=params[f"beta{i}"],
                             training=training, eps=1e-5)
        elif model.normalization == "layernorm":
            h = F.layer_norm(h, (h.shape[1],), params[f"gamma{i}"], params[f"beta{i}"], eps=1e-5)
        h = act(h)
        if masks is not None:
            h = h * to_torch(masks[i - 1])
    last = model.num_layers
    return h @ params[f"W{last}"] + params[f"b{last}"]


def torch_loss_and_grads(model, X, y, masks=None):
    params = {name: to_torch(value, requires_grad=True) for name, value in model.params.items()}
    scores = torch_forward(model, params, X, masks)
    weights = [params[f"W{i}"] for i in range(1, model.num_layers + 1)]
    loss = F.cross_entropy(scores, torch.tensor(y)) + 0.5 * REG * sum((w * w).sum() for w in weights)
    loss.backward()
    return loss, {name: p.grad for name, p in params.items()}


def assert_grads_close(model, grads, grads_t, dtype) -> None:
    """assert_close for every gradient, except the hidden biases of a batchnorm net: batchnorm subtracts the
    batch mean, so their true gradient is exactly 0 and both sides hold only rounding noise (~1e-17), which a
    relative comparison cannot judge; they must be ~0 relative to the largest gradient on both sides."""
    assert set(grads) == set(grads_t)
    scale = max(float(g.abs().max()) for g in grads_t.values())
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    for name in sorted(grads):
        assert grads[name].dtype == dtype, name
        hidden_bias = name[0] == "b" and name[1:].isdigit() and name != f"b{model.num_layers}"
        if model.normalization == "batchnorm" and hidden_bias:
            assert np.max(np.abs(grads[name])) < tol * scale, name
            assert float(grads_t[name].abs().max()) < tol * scale, name
        else:
            assert_close(name, grads[name], grads_t[name], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu", "sigmoid", "softsign"])
def test_fc_net_loss_and_grads_match_torch(normalization, activation, dtype):
    model, X, y = build_model(normalization, activation, dtype)
    loss, grads = model.loss(X, y)
    loss_t, grads_t = torch_loss_and_grads(model, X, y)
    assert_close("loss", np.asarray(loss), loss_t, dtype)
    assert_grads_close(model, grads, grads_t, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fc_net_with_dropout_matches_torch_with_the_same_masks(normalization, dtype):
    model, X, y = build_model(normalization, "relu", dtype, dropout=0.4)
    # the seeded kernel draws the same mask every call; read it off by passing ones through dropout_forward
    masks = [dropout_forward(np.ones((N, h), dtype=dtype), model.dropout_param)[0] for h in (H1, H2)]
    assert all(0 < np.mean(m == 0) < 1 for m in masks)
    loss, grads = model.loss(X, y)
    loss_t, grads_t = torch_loss_and_grads(model, X, y, masks)
    assert_close("loss", np.asarray(loss), loss_t, dtype)
    assert_grads_close(model, grads, grads_t, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
def test_fc_net_test_time_scores_match_torch(normalization, dtype):
    model, X, y = build_model(normalization, "relu", dtype, dropout=0.4)
    for _ in range(3):  # fill batchnorm's running statistics
        model.loss(X, y)
    scores = model.loss(X)
    with torch.no_grad():
        params = {name: to_torch(value) for name, value in model.params.items()}
        scores_t = torch_forward(model, params, X, masks=None, training=False)
    assert scores.dtype == dtype
    assert_close("scores", scores, scores_t, dtype)
