"""Parity of the recurrent kernels with torch.nn.RNN / LSTM / RNNCell / LSTMCell / Embedding and
torch cross_entropy: forward outputs, final states and every gradient (input, initial states, weights,
biases), through the documented weight converters, in float64 (1e-10) and float32 (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.layers.losses import temporal_softmax_loss
from nnlab.layers.recurrent import (
    lstm_backward_with_state,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    word_embedding_backward,
    word_embedding_forward,
)
from nnlab.layers.torch_convert import (
    lstm_weights_from_torch,
    lstm_weights_to_torch,
    rnn_weights_from_torch,
    rnn_weights_to_torch,
)
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
SHAPES = [(1, 1, 3, 2), (1, 6, 4, 5), (4, 5, 3, 7), (3, 9, 8, 4)]  # (N, T, D, H), batch 1 included


def _module_grads(module):
    return {name: p.grad for name, p in module.named_parameters()}


def _torch_weights(module, from_torch):
    """The torch module's own (randomly initialised) weights in nnlab layout, with both biases nonzero."""
    with torch.no_grad():
        module.bias_hh_l0.uniform_(-0.5, 0.5)
    return from_torch(module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)


def _load_our_weights(module, weights, to_torch_fn):
    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_fn(*weights).items()})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("direction", ["nnlab->torch", "torch->nnlab"])
def test_rnn_matches_torch_rnn_forward_final_state_and_all_gradients(rng, dtype, N, T, D, H, direction):
    torch.manual_seed(N * 100 + T)
    module = torch.nn.RNN(D, H, nonlinearity="tanh", batch_first=True).to(TORCH_DTYPE[dtype])
    if direction == "torch->nnlab":
        Wx, Wh, b = _torch_weights(module, rnn_weights_from_torch)
    else:
        Wx, Wh, b = (rng.standard_normal(s).astype(dtype) * 0.5 for s in [(D, H), (H, H), (H,)])
        _load_our_weights(module, (Wx, Wh, b), rnn_weights_to_torch)
    x, h0 = rng.standard_normal((N, T, D)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dh, dh_n = rng.standard_normal((N, T, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)

    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh_total = dh.copy()
    dh_total[:, -1] += dh_n  # the final state is h[:, -1]
    dx, dh0, dWx, dWh, db = rnn_backward(dh_total, cache)

    xt, h0t = to_torch(x, True), to_torch(h0[None], True)
    out, h_n = module(xt, h0t)
    ((out * to_torch(dh)).sum() + (h_n[0] * to_torch(dh_n)).sum()).backward()
    g = _module_grads(module)
    tWx, tWh, _ = rnn_weights_from_torch(g["weight_ih_l0"], g["weight_hh_l0"], g["bias_ih_l0"], g["bias_hh_l0"])

    assert_close("h", h, out, dtype)
    assert_close("h_n", h[:, -1], h_n[0], dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", dh0, h0t.grad[0], dtype)
    assert_close("dWx", dWx, tWx, dtype)
    assert_close("dWh", dWh, tWh, dtype)
    assert_close("db vs bias_ih.grad", db, g["bias_ih_l0"], dtype)
    assert_close("db vs bias_hh.grad", db, g["bias_hh_l0"], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("direction", ["nnlab->torch", "torch->nnlab"])
def test_lstm_matches_torch_lstm_forward_final_states_and_all_gradients(rng, dtype, N, T, D, H, direction):
    torch.manual_seed(N * 100 + T)
    module = torch.nn.LSTM(D, H, batch_first=True).to(TORCH_DTYPE[dtype])
    if direction == "torch->nnlab":
        Wx, Wh, b = _torch_weights(module, lstm_weights_from_torch)
    else:
        Wx, Wh, b = (rng.standard_normal(s).astype(dtype) * 0.5 for s in [(D, 4 * H), (H, 4 * H), (4 * H,)])
        _load_our_weights(module, (Wx, Wh, b), lstm_weights_to_torch)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0, c0 = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)
    dh_n, dc_n = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)

    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    dh_total = dh.copy()
    dh_total[:, -1] += dh_n
    dx, dh0, dc0, dWx, dWh, db = lstm_backward_with_state(dh_total, cache, dc_last=dc_n)

    xt, h0t, c0t = to_torch(x, True), to_torch(h0[None], True), to_torch(c0[None], True)
    out, (h_n, c_n) = module(xt, (h0t, c0t))
    loss = (out * to_torch(dh)).sum() + (h_n[0] * to_torch(dh_n)).sum() + (c_n[0] * to_torch(dc_n)).sum()
    loss.backward()
    g = _module_grads(module)
    zero = torch.zeros_like(g["bias_hh_l0"])
    tWx, tWh, tb = lstm_weights_from_torch(g["weight_ih_l0"], g["weight_hh_l0"], g["bias_ih_l0"], zero)

    assert_close("h", h, out, dtype)
    assert_close("h_n", h[:, -1], h_n[0], dtype)
    assert_close("c_n", cache.c[:, -1], c_n[0], dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", dh0, h0t.grad[0], dtype)
    assert_close("dc0", dc0, c0t.grad[0], dtype)
    assert_close("dWx", dWx, tWx, dtype)
    assert_close("dWh", dWh, tWh, dtype)
    assert_close("db", db, tb, dtype)
    _, _, tb_hh = lstm_weights_from_torch(g["weight_ih_l0"], g["weight_hh_l0"], zero, g["bias_hh_l0"])
    assert_close("db vs bias_hh.grad", db, tb_hh, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,D,H", [(1, 3, 2), (5, 4, 6)])
def test_rnn_step_matches_torch_rnncell(rng, dtype, N, D, H):
    cell = torch.nn.RNNCell(D, H).to(TORCH_DTYPE[dtype])
    Wx, Wh, b = rnn_weights_from_torch(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    x, prev_h = rng.standard_normal((N, D)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dnext = rng.standard_normal((N, H)).astype(dtype)
    next_h, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)
    dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext, cache)
    xt, ht = to_torch(x, True), to_torch(prev_h, True)
    out = cell(xt, ht)
    out.backward(to_torch(dnext))
    assert_close("next_h", next_h, out, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dprev_h", dprev_h, ht.grad, dtype)
    assert_close("dWx", dWx, cell.weight_ih.grad.T, dtype)
    assert_close("dWh", dWh, cell.weight_hh.grad.T, dtype)
    assert_close("db", db, cell.bias_ih.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,D,H", [(1, 3, 2), (5, 4, 6)])
def test_lstm_step_matches_torch_lstmcell(rng, dtype, N, D, H):
    cell = torch.nn.LSTMCell(D, H).to(TORCH_DTYPE[dtype])
    Wx, Wh, b = lstm_weights_from_torch(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    x = rng.standard_normal((N, D)).astype(dtype)
    prev_h, prev_c = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dnext_h, dnext_c = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    dx, dprev_h, dprev_c, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c, cache)
    xt, ht, ct = to_torch(x, True), to_torch(prev_h, True), to_torch(prev_c, True)
    h_t, c_t = cell(xt, (ht, ct))
    ((h_t * to_torch(dnext_h)).sum() + (c_t * to_torch(dnext_c)).sum()).backward()
    tWx, tWh, tb = lstm_weights_from_torch(cell.weight_ih.grad, cell.weight_hh.grad, cell.bias_ih.grad,
                                           torch.zeros_like(cell.bias_hh.grad))
    assert_close("next_h", next_h, h_t, dtype)
    assert_close("next_c", next_c, c_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dprev_h", dprev_h, ht.grad, dtype)
    assert_close("dprev_c", dprev_c, ct.grad, dtype)
    assert_close("dWx", dWx, tWx, dtype)
    assert_close("dWh", dWh, tWh, dtype)
    assert_close("db", db, tb, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V,N,T,D", [(37, 4, 30, 8), (300, 2, 50, 5), (10, 1, 1, 3)])
def test_word_embedding_matches_torch_embedding(rng, dtype, V, N, T, D):
    W = rng.standard_normal((V, D)).astype(dtype)
    x = rng.integers(0, min(V, 20), size=(N, T))  # few distinct ids, so many repeats to accumulate
    dout = rng.standard_normal((N, T, D)).astype(dtype)
    out, cache = word_embedding_forward(x, W)
    dW = word_embedding_backward(dout, cache)
    emb = torch.nn.Embedding(V, D).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        emb.weight.copy_(to_torch(W))
    tout = emb(torch.from_numpy(x))
    tout.backward(to_torch(dout))
    assert_close("out", out, tout, dtype)
    assert_close("dW", dW, emb.weight.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_temporal_affine_matches_torch_linear(rng, dtype):
    N, T, D, M = 3, 7, 5, 11
    x, w = rng.standard_normal((N, T, D)).astype(dtype), rng.standard_normal((D, M)).astype(dtype)
    b, dout = rng.standard_normal(M).astype(dtype), rng.standard_normal((N, T, M)).astype(dtype)
    out, cache = temporal_affine_forward(x, w, b)
    dx, dw, db = temporal_affine_backward(dout, cache)
    xt, wt, bt = to_torch(x, True), to_torch(w.T.copy(), True), to_torch(b, True)
    tout = torch.nn.functional.linear(xt, wt, bt)
    tout.backward(to_torch(dout))
    assert_close("out", out, tout, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dw", dw, wt.grad.T, dtype)
    assert_close("db", db, bt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,T,V", [(1, 1, 4), (5, 8, 37)])
def test_temporal_softmax_loss_matches_masked_torch_cross_entropy(rng, dtype, N, T, V):
    x = (3 * rng.standard_normal((N, T, V))).astype(dtype)
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) > 0.4
    mask[0, 0] = True
    loss, dx = temporal_softmax_loss(x, y, mask)
    xt = to_torch(x, True)
    per_step = torch.nn.functional.cross_entropy(xt.reshape(N * T, V), torch.from_numpy(y.reshape(-1)),
                                                 reduction="none")
    tloss = (per_step * torch.from_numpy(mask.reshape(-1)).to(xt.dtype)).sum() / N
    tloss.backward()
    assert_close("loss", np.array(loss), tloss, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert dx.dtype == dtype
