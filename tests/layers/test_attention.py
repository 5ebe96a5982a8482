"""Scaled dot-product attention kernel: float64 numerical gradients of q, k and v (one head and several, odd
sizes, batch 1, L != S, boolean / additive / causal masks, dropout), the softmax weights, masking semantics, and
bad input. (Parity with torch: tests/parity/test_parity_attention.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.attention import scaled_dot_product_attention_backward as sdpa_backward
from nnlab.layers.attention import scaled_dot_product_attention_forward as sdpa_forward

SHAPES = [  # (leading axes, L, S, E, Ev)
    ((1,), 1, 1, 1, 1),
    ((1,), 3, 5, 4, 2),
    ((3,), 5, 5, 3, 7),
    ((2, 3), 4, 6, 5, 3),
    ((1, 2), 7, 7, 4, 4),
]


def _qkv(rng, lead, L, S, E, Ev):
    return (0.7 * rng.standard_normal(lead + (L, E)), 0.7 * rng.standard_normal(lead + (S, E)),
            rng.standard_normal(lead + (S, Ev)))


# The float64 analytic gradients are compared with numerical ones taken through the same kernel in extended
# precision where the platform has it: dk has entries near 0 by construction (a softmax row's gradient sums to 0),
# and a float64 finite difference carries ~5e-11 of rounding, which alone can push their elementwise rel_error
# past 1e-7. With 80-bit long doubles that rounding is ~1e-14 and the check stays at rel_error < 1e-7 everywhere.
_WIDE = np.longdouble if np.finfo(np.longdouble).eps < 1e-18 else np.float64
_H = 1e-6 if _WIDE is not np.float64 else 1e-5


def _check_gradients(q, k, v, dout, **kwargs):
    _, cache = sdpa_forward(q, k, v, **kwargs)
    grads = sdpa_backward(dout, cache)
    wide = {key: (val.astype(_WIDE) if isinstance(val, np.ndarray) and val.dtype != bool else val)
            for key, val in kwargs.items()}
    qw, kw, vw, dw = (a.astype(_WIDE) for a in (q, k, v, dout))
    for name, arr, grad in zip("qkv", (qw, kw, vw), grads):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # gradcheck's "use float64" hint: here wider on purpose
            num = eval_numerical_gradient_array(lambda _: sdpa_forward(qw, kw, vw, **wide)[0], arr, dw, h=_H)
        assert grad.shape == arr.shape and grad.dtype == np.float64
        assert rel_error(grad, num.astype(np.float64)) < 1e-7, name


def _masks(rng, lead, L, S):
    allowed = rng.random(lead + (L, S)) < 0.7
    allowed[..., 0] = True  # every query sees at least one key
    return {"none": None, "bool": allowed, "bool_broadcast": allowed[(0,) * len(lead)],
            "additive": rng.standard_normal((1,) * len(lead) + (L, S))}


@pytest.mark.parametrize("mask", ["none", "bool", "bool_broadcast", "additive"])
@pytest.mark.parametrize("shape", SHAPES)
def test_sdpa_gradients_match_numerical(rng, shape, mask):
    lead, L, S, E, Ev = shape
    q, k, v = _qkv(rng, lead, L, S, E, Ev)
    dout = rng.standard_normal(lead + (L, Ev))
    _check_gradients(q, k, v, dout, attn_mask=_masks(rng, lead, L, S)[mask])


@pytest.mark.parametrize("shape", SHAPES)
def test_sdpa_causal_gradients_match_numerical(rng, shape):
    lead, L, S, E, Ev = shape
    q, k, v = _qkv(rng, lead, L, S, E, Ev)
    dout = rng.standard_normal(lead + (L, Ev))
    _check_gradients(q, k, v, dout, is_causal=True)
    _check_gradients(q, k, v, dout, is_causal=True, attn_mask=_masks(rng, lead, L, S)["bool"], scale=0.3)


def test_sdpa_dropout_gradients_match_numerical_with_a_fixed_seed(rng):
    q, k, v = _qkv(rng, (2, 2), 5, 6, 3, 4)
    dout = rng.standard_normal((2, 2, 5, 4))
    _check_gradients(q, k, v, dout, dropout_p=0.3, seed=7)
    out_a, cache = sdpa_forward(q, k, v, dropout_p=0.3, seed=7)
    out_b, _ = sdpa_forward(q, k, v, dropout_p=0.3, seed=7)
    np.testing.assert_array_equal(out_a, out_b)
    dropped = cache["weights"] == 0
    assert 0.1 < dropped.mean() < 0.5
    np.testing.assert_allclose(cache["weights"][~dropped], cache["p"][~dropped] / 0.7, rtol=1e-15)


def test_sdpa_weights_are_a_masked_softmax(rng):
    q, k, v = _qkv(rng, (2,), 4, 6, 3, 2)
    allowed = rng.random((4, 6)) < 0.5
    allowed[:, 2] = True
    out, cache = sdpa_forward(q, k, v, attn_mask=allowed, scale=0.5)
    p = cache["weights"]
    s = 0.5 * q @ k.swapaxes(-1, -2)
    e = np.where(allowed, np.exp(s - s.max(-1, keepdims=True)), 0.0)
    np.testing.assert_allclose(p, e / e.sum(-1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(out, p @ v, rtol=1e-13)
    # causal: query i sees keys 0..i, so the first output row is v[0] exactly
    out, cache = sdpa_forward(q, k, v, is_causal=True)
    assert np.all(np.triu(cache["weights"][0], k=1) == 0)
    np.testing.assert_allclose(out[:, 0], v[:, 0], rtol=1e-15)
    # an additive mask of -inf is the same as a boolean False
    additive = np.where(allowed, 0.0, -np.inf)
    np.testing.assert_allclose(sdpa_forward(q, k, v, attn_mask=additive)[0],
                               sdpa_forward(q, k, v, attn_mask=allowed)[0], rtol=1e-14)


def test_sdpa_fully_masked_query_gets_zero_weights_and_zero_gradient(rng):
    q, k, v = _qkv(rng, (1,), 3, 4, 2, 2)
    allowed = np.ones((3, 4), dtype=bool)
    allowed[1] = False
    with np.errstate(all="raise"):
        out, cache = sdpa_forward(q, k, v, attn_mask=allowed)
        dq, dk, dv = sdpa_backward(np.ones_like(out), cache)
    assert np.all(out[:, 1] == 0) and np.all(cache["weights"][:, 1] == 0) and np.all(dq[:, 1] == 0)
    assert np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))


def test_sdpa_keeps_float32(rng):
    q, k, v = (a.astype(np.float32) for a in _qkv(rng, (2, 2), 3, 3, 4, 4))
    out, cache = sdpa_forward(q, k, v, is_causal=True, dropout_p=0.1, seed=0)
    grads = sdpa_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


def test_sdpa_bad_input_is_named(rng):
    q, k, v = _qkv(rng, (2,), 3, 4, 5, 6)
    with pytest.raises(ValueError, match="q has 5 features per position but k has 4"):
        sdpa_forward(q, k[..., :4], v)
    with pytest.raises(ValueError, match="k has 4 positions but v has 3"):
        sdpa_forward(q, k, v[:, :3])
    with pytest.raises(ValueError, match="q, k and v must share their leading"):
        sdpa_forward(q, k[:1], v[:1])
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 3\) does not broadcast to the attention scores "
                                         r"\(\.\.\., L, S\) = \(2, 3, 4\)"):
        sdpa_forward(q, k, v, attn_mask=np.ones((4, 3), dtype=bool))
    with pytest.raises(TypeError, match="attn_mask must be boolean"):
        sdpa_forward(q, k, v, attn_mask=np.ones((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="dropout_p must be in \\[0, 1\\)"):
        sdpa_forward(q, k, v, dropout_p=1.0)
    with pytest.raises(ValueError, match="q must have at least 2 dimensions"):
        sdpa_forward(q[0, 0], k, v)
    out, cache = sdpa_forward(q, k, v)
    with pytest.raises(ValueError, match=r"dout must have the output's shape \(2, 3, 6\)"):
        sdpa_backward(out[:, :2], cache)
