"""nnlab.nn.Embedding/RNN/LSTM against torch.nn.Embedding/RNN/LSTM (batch_first): outputs, final states and
every gradient (inputs, initial states, all four weight tensors), float64 (1e-10) and float32 (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.nn import LSTM, RNN, Embedding
from tests.parity.conftest import assert_close, to_torch

SHAPES = [(1, 1, 3, 2), (2, 5, 4, 3), (3, 7, 6, 5), (4, 3, 8, 16)]  # (N, T, D, H), batch 1 included
DTYPES = [np.float64, np.float32]
_TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _twin(ours, cls, dtype):
    theirs = cls(ours.input_size, ours.hidden_size, batch_first=True).to(_TORCH_DTYPE[dtype])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_rnn_module_matches_torch_outputs_states_and_gradients(shape, dtype, rng):
    N, T, D, H = shape
    ours = RNN(D, H, seed=1, dtype=dtype)
    theirs = _twin(ours, torch.nn.RNN, dtype)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.standard_normal((1, N, H)).astype(dtype)
    dout = rng.standard_normal((N, T, H)).astype(dtype)
    dh_n = rng.standard_normal((1, N, H)).astype(dtype)

    out, h_n = ours(x, h0)
    dx = ours.backward(dout, dh_n)
    xt, h0t = to_torch(x, True), to_torch(h0, True)
    out_t, h_n_t = theirs(xt, h0t)
    torch.autograd.backward([out_t, h_n_t], [to_torch(dout), to_torch(dh_n)])

    assert_close("output", out, out_t, dtype)
    assert_close("h_n", h_n, h_n_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", ours.state_grads[0], h0t.grad, dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_module_matches_torch_outputs_states_and_gradients(shape, dtype, rng):
    N, T, D, H = shape
    ours = LSTM(D, H, seed=2, dtype=dtype)
    theirs = _twin(ours, torch.nn.LSTM, dtype)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0, c0 = (rng.standard_normal((1, N, H)).astype(dtype) for _ in range(2))
    dout = rng.standard_normal((N, T, H)).astype(dtype)
    dh_n, dc_n = (rng.standard_normal((1, N, H)).astype(dtype) for _ in range(2))

    out, (h_n, c_n) = ours(x, (h0, c0))
    dx = ours.backward(dout, dh_n, dc_n)
    xt, h0t, c0t = to_torch(x, True), to_torch(h0, True), to_torch(c0, True)
    out_t, (h_n_t, c_n_t) = theirs(xt, (h0t, c0t))
    torch.autograd.backward([out_t, h_n_t, c_n_t], [to_torch(dout), to_torch(dh_n), to_torch(dc_n)])

    assert_close("output", out, out_t, dtype)
    assert_close("h_n", h_n, h_n_t, dtype)
    assert_close("c_n", c_n, c_n_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", ours.state_grads[0], h0t.grad, dtype)
    assert_close("dc0", ours.state_grads[1], c0t.grad, dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_module_default_zero_state_matches_torch(dtype, rng):
    ours = LSTM(4, 3, seed=3, dtype=dtype)
    theirs = _twin(ours, torch.nn.LSTM, dtype)
    x = rng.standard_normal((2, 6, 4)).astype(dtype)
    out, (h_n, c_n) = ours(x)
    out_t, (h_n_t, c_n_t) = theirs(to_torch(x))
    assert_close("output", out, out_t, dtype)
    assert_close("c_n", c_n, c_n_t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_trained_lstm_weights_load_into_nnlab(dtype, rng):
    """The other direction: weights of a torch LSTM load into nnlab's and give the same outputs."""
    theirs = torch.nn.LSTM(5, 4, batch_first=True).to(_TORCH_DTYPE[dtype])
    ours = LSTM(5, 4, dtype=dtype)
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    assert_close("output", ours(x)[0], theirs(to_torch(x))[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (4, 30)])
def test_embedding_module_matches_torch_forward_and_weight_gradient(shape, dtype, rng):
    V, D = 11, 6
    ours = Embedding(V, D, seed=4, dtype=dtype)
    theirs = torch.nn.Embedding(V, D).to(_TORCH_DTYPE[dtype])
    theirs.load_state_dict({"weight": torch.from_numpy(ours.weight)})
    ids = rng.integers(0, V, shape)
    ids[0, 0] = ids[-1, -1]  # a repeated id must accumulate
    dout = rng.standard_normal(shape + (D,)).astype(dtype)
    out = ours(ids)
    assert ours.backward(dout) is None
    out_t = theirs(torch.from_numpy(ids))
    out_t.backward(to_torch(dout))
    assert_close("output", out, out_t, dtype)
    assert_close("dweight", ours.grads["weight"], theirs.weight.grad, dtype)
