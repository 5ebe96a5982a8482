"""GRU against torch 2.13: the functional kernels against torch.nn.GRUCell / GRU through the converters, and
nnlab.nn.GRU loaded from a torch nn.GRU's state_dict() (1-3 layers, with and without bias): outputs, h_n and
every gradient (input, initial state, every weight and bias), float64 (1e-10) and float32 (1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.layers.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from nnlab.layers.torch_convert import gru_weights_from_torch
from nnlab.nn import GRU
from tests.parity.conftest import assert_close, to_torch

SHAPES = [(1, 1, 3, 2), (2, 5, 4, 3), (3, 7, 6, 5), (4, 3, 8, 16)]  # (N, T, D, H), batch 1 included
DTYPES = [np.float64, np.float32]
_TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _torch_grads_as_kernel_layout(w_ih, w_hh, b_ih, b_hh):
    return gru_weights_from_torch(w_ih.grad, w_hh.grad, b_ih.grad, b_hh.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_gru_step_kernels_match_torch_gru_cell(shape, dtype, rng):
    N, _, D, H = shape
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(D, H).to(_TORCH_DTYPE[dtype])
    Wx, Wh, bx, bh = gru_weights_from_torch(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    x = rng.standard_normal((N, D)).astype(dtype)
    h = rng.standard_normal((N, H)).astype(dtype)
    dnext = rng.standard_normal((N, H)).astype(dtype)
    out, cache = gru_step_forward(x, h, Wx, Wh, bx, bh)
    dx, dh, dWx, dWh, dbx, dbh = gru_step_backward(dnext, cache)
    xt, ht = to_torch(x, True), to_torch(h, True)
    out_t = cell(xt, ht)
    out_t.backward(to_torch(dnext))
    assert_close("next_h", out, out_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dprev_h", dh, ht.grad, dtype)
    tWx, tWh, tbx, tbh = _torch_grads_as_kernel_layout(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    for name, ours, theirs in (("dWx", dWx, tWx), ("dWh", dWh, tWh), ("dbx", dbx, tbx), ("dbh", dbh, tbh)):
        assert_close(name, ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_gru_sequence_kernels_match_torch_gru(shape, dtype, rng):
    N, T, D, H = shape
    torch.manual_seed(1)
    gru = torch.nn.GRU(D, H, batch_first=True).to(_TORCH_DTYPE[dtype])
    params = gru_weights_from_torch(gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)
    h, cache = gru_forward(x, h0, *params)
    dx, dh0, *dparams = gru_backward(dh, cache)
    xt, h0t = to_torch(x, True), to_torch(h0[None], True)
    out_t, h_n_t = gru(xt, h0t)
    out_t.backward(to_torch(dh))
    assert_close("h", h, out_t, dtype)
    assert_close("h_n", h[:, -1], h_n_t[0], dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", dh0, h0t.grad[0], dtype)
    theirs = _torch_grads_as_kernel_layout(gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    for name, a, b in zip(("dWx", "dWh", "dbx", "dbh"), dparams, theirs):
        assert_close(name, a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers,bias", [(1, True), (2, True), (3, False)])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_gru_module_loads_torch_state_dict_and_matches_outputs_and_gradients(shape, num_layers, bias, dtype, rng):
    N, T, D, H = shape
    torch.manual_seed(2)
    theirs = torch.nn.GRU(D, H, num_layers=num_layers, bias=bias, batch_first=True).to(_TORCH_DTYPE[dtype])
    ours = GRU(D, H, num_layers=num_layers, bias=bias, seed=0, dtype=dtype)
    assert ours.state_dict_keys() == list(theirs.state_dict().keys())
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = rng.standard_normal((num_layers, N, H)).astype(dtype)
    dout = rng.standard_normal((N, T, H)).astype(dtype)
    dh_n = rng.standard_normal((num_layers, N, H)).astype(dtype)

    out, h_n = ours(x, h0)
    dx = ours.backward(dout, dh_n)
    xt, h0t = to_torch(x, True), to_torch(h0, True)
    out_t, h_n_t = theirs(xt, h0t)
    torch.autograd.backward([out_t, h_n_t], [to_torch(dout), to_torch(dh_n)])

    assert out.dtype == h_n.dtype == dx.dtype == dtype
    assert_close("output", out, out_t, dtype)
    assert_close("h_n", h_n, h_n_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", ours.state_grads[0], h0t.grad, dtype)
    assert sorted(ours.grads) == sorted(name for name, _ in theirs.named_parameters())
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gru_module_default_zero_state_and_state_dict_back_into_torch(dtype, rng):
    ours = GRU(4, 3, num_layers=2, seed=3, dtype=dtype)
    theirs = torch.nn.GRU(4, 3, num_layers=2, batch_first=True).to(_TORCH_DTYPE[dtype])
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = rng.standard_normal((2, 6, 4)).astype(dtype)
    out, h_n = ours(x)
    dx = ours.backward(None, np.ones_like(h_n))
    xt = to_torch(x, True)
    out_t, h_n_t = theirs(xt)
    h_n_t.sum().backward()
    assert_close("output", out, out_t, dtype)
    assert_close("h_n", h_n, h_n_t, dtype)
    assert_close("dx (only h_n upstream)", dx, xt.grad, dtype)
