"""Scaled dot-product attention, MultiheadAttention and TransformerEncoderLayer against torch 2.13: a torch module's
state_dict() loads into the nnlab module, then outputs, attention weights, input gradients and every parameter
gradient agree, float64 (1e-10) and float32 (1e-5), with masks on and off, pre- and post-norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from nnlab.layers.attention import scaled_dot_product_attention_backward as sdpa_backward
from nnlab.layers.attention import scaled_dot_product_attention_forward as sdpa_forward
from nnlab.nn import MultiheadAttention, TransformerEncoderLayer, generate_square_subsequent_mask
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]
_TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _load(ours, theirs) -> None:
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []


def _randomize(theirs, rng) -> None:
    """Move every torch parameter off its init (zero biases, unit norms) so that each gradient is exercised."""
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.from_numpy(0.1 * rng.standard_normal(tuple(p.shape))).to(p.dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
@pytest.mark.parametrize("shape", [((1,), 1, 1, 1, 1), ((3,), 5, 7, 4, 6), ((2, 3), 6, 6, 8, 8)])
def test_sdpa_kernel_matches_torch(rng, shape, mask, dtype):
    lead, L, S, E, Ev = shape
    q, k = rng.standard_normal(lead + (L, E)).astype(dtype), rng.standard_normal(lead + (S, E)).astype(dtype)
    v = rng.standard_normal(lead + (S, Ev)).astype(dtype)
    dout = rng.standard_normal(lead + (L, Ev)).astype(dtype)
    allowed = rng.random((L, S)) < 0.7
    allowed[:, 0] = True
    kwargs = {"none": {}, "bool": {"attn_mask": allowed}, "causal": {"is_causal": True},
              "float": {"attn_mask": rng.standard_normal(lead + (L, S)).astype(dtype)}}[mask]
    out, cache = sdpa_forward(q, k, v, **kwargs)
    dq, dk, dv = sdpa_backward(dout, cache)
    qt, kt, vt = to_torch(q, True), to_torch(k, True), to_torch(v, True)
    tkw = {key: (to_torch(val) if isinstance(val, np.ndarray) else val) for key, val in kwargs.items()}
    out_t = TF.scaled_dot_product_attention(qt, kt, vt, **tkw)
    out_t.backward(to_torch(dout))
    for name, a, b in (("out", out, out_t), ("dq", dq, qt.grad), ("dk", dk, kt.grad), ("dv", dv, vt.grad)):
        assert_close(name, a, b, dtype)


MHA_MASKS = ["none", "attn_bool", "attn_float", "attn_per_head", "padding_bool", "padding_float", "both_bool",
             "causal"]


def _mha_masks(rng, kind, N, h, L, S, dtype):
    blocked = rng.random((L, S)) < 0.3
    blocked[:, 0] = False
    padding = np.zeros((N, S), dtype=bool)
    padding[:, S - 1] = S > 1
    causal = generate_square_subsequent_mask(L, dtype)[:, :S] if L == S else None
    return {"none": {}, "attn_bool": {"attn_mask": blocked},
            "attn_float": {"attn_mask": rng.standard_normal((L, S)).astype(dtype)},
            "attn_per_head": {"attn_mask": rng.standard_normal((N * h, L, S)).astype(dtype)},
            "padding_bool": {"key_padding_mask": padding},
            "padding_float": {"key_padding_mask": np.where(padding, -1e9, 0.5).astype(dtype)},
            "both_bool": {"attn_mask": blocked, "key_padding_mask": padding},
            "causal": {"attn_mask": causal, "is_causal": True}}[kind]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", MHA_MASKS)
@pytest.mark.parametrize(("N", "L", "S", "E", "h", "bias"), [(1, 1, 1, 4, 1, True), (2, 5, 5, 6, 3, True),
                                                             (3, 4, 4, 8, 2, False), (2, 3, 6, 4, 2, True)])
def test_multihead_attention_loads_torch_state_dict_and_matches(rng, N, L, S, E, h, bias, mask, dtype):
    if mask == "causal" and L != S:
        pytest.skip("torch's causal hint needs a square mask")
    theirs = torch.nn.MultiheadAttention(E, h, bias=bias, batch_first=True, dtype=_TORCH_DTYPE[dtype])
    _randomize(theirs, rng)
    ours = MultiheadAttention(E, h, bias=bias, dtype=dtype)
    _load(ours, theirs)
    q, k, v = (rng.standard_normal((N, n, E)).astype(dtype) for n in (L, S, S))
    dout = rng.standard_normal((N, L, E)).astype(dtype)
    kwargs = _mha_masks(rng, mask, N, h, L, S, dtype)
    for average in (True, False):
        out, weights = ours(q, k, v, average_attn_weights=average, **kwargs)
        dq, dk, dv = ours.backward(dout)
        qt, kt, vt = to_torch(q, True), to_torch(k, True), to_torch(v, True)
        theirs.zero_grad()
        out_t, weights_t = theirs(qt, kt, vt, average_attn_weights=average,
                                  **{key: (to_torch(val) if isinstance(val, np.ndarray) else val)
                                     for key, val in kwargs.items()})
        out_t.backward(to_torch(dout))
        assert_close("out", out, out_t, dtype)
        assert_close("weights", weights, weights_t, dtype)
        assert_close("dquery", dq, qt.grad, dtype)
        assert_close("dkey", dk, kt.grad, dtype)
        assert_close("dvalue", dv, vt.grad, dtype)
        for name, p in theirs.named_parameters():
            assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_self_attention_matches_torch_in_both_layouts(rng, batch_first, dtype):
    theirs = torch.nn.MultiheadAttention(6, 2, batch_first=batch_first, dtype=_TORCH_DTYPE[dtype])
    _randomize(theirs, rng)
    ours = MultiheadAttention(6, 2, batch_first=batch_first, dtype=dtype)
    _load(ours, theirs)
    x = rng.standard_normal((3, 5, 6)).astype(dtype)
    dout = rng.standard_normal((3, 5, 6)).astype(dtype)
    out, weights = ours(x, x, x)
    dx = sum(ours.backward(dout))
    xt = to_torch(x, True)
    out_t, weights_t = theirs(xt, xt, xt)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("weights", weights, weights_t, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "causal", "padding", "both"])
def test_transformer_encoder_layer_loads_torch_state_dict_and_matches(rng, mask, norm_first, activation, dtype):
    N, T, d, heads, ff = 3, 6, 8, 2, 12
    theirs = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=activation, batch_first=True,
                                              norm_first=norm_first, dtype=_TORCH_DTYPE[dtype])
    _randomize(theirs, rng)
    ours = TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=activation, norm_first=norm_first,
                                   dtype=dtype)
    _load(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.standard_normal((N, T, d)).astype(dtype)
    dout = rng.standard_normal((N, T, d)).astype(dtype)
    padding = np.zeros((N, T), dtype=bool)
    padding[1:, -2:] = True
    causal = generate_square_subsequent_mask(T, dtype)
    kwargs = {"none": {}, "causal": {"src_mask": causal, "is_causal": True},
              "padding": {"src_key_padding_mask": padding},
              "both": {"src_mask": causal != 0, "src_key_padding_mask": padding}}[mask]
    out = ours(x, **kwargs)
    dx = ours.backward(dout)
    xt = to_torch(x, True)
    out_t = theirs(xt, **{key: (to_torch(val) if isinstance(val, np.ndarray) else val) for key, val in kwargs.items()})
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("dsrc", dx, xt.grad, dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transformer_encoder_layer_sequence_first_matches_torch(rng, dtype):
    theirs = torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=False, dtype=_TORCH_DTYPE[dtype])
    _randomize(theirs, rng)
    ours = TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=False, dtype=dtype)
    _load(ours, theirs)
    x = rng.standard_normal((5, 1, 4)).astype(dtype)  # (T, N, d), batch 1
    dout = rng.standard_normal((5, 1, 4)).astype(dtype)
    out = ours(x)
    dx = ours.backward(dout)
    xt = to_torch(x, True)
    out_t = theirs(xt)
    out_t.backward(to_torch(dout))
    assert_close("out", out, out_t, dtype)
    assert_close("dsrc", dx, xt.grad, dtype)
    for name, p in theirs.named_parameters():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)
