"""Scaled dot-product attention (Vaswani et al., 2017), forward and backward.

``out = dropout(softmax(q k^T * scale + mask)) v`` over the last two axes, for any leading batch axes:
(N, T, d) for one head or (N, h, T, d) for several. The mask conventions are torch's
``F.scaled_dot_product_attention``: a boolean mask is True where a query MAY attend to a key, a float mask is
added to the scores, and ``is_causal`` lets query i see keys 0..i only (top-left aligned when L != S).
A query whose keys are all masked gets zero weights and a zero output (torch's SDPA, not NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_rng, uniform, xp_of
from ..validation import check_array, check_probability

__all__ = ["scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward"]


def _check_qkv(fn: str, q: Any, k: Any, v: Any) -> None:
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_array(fn, name, a, float_only=True)
        if a.ndim < 2:
            raise ValueError(f"{fn}: {name} must have at least 2 dimensions (..., T, d), got shape {tuple(a.shape)}")
    if not q.ndim == k.ndim == v.ndim or q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"{fn}: q, k and v must share their leading (batch, head) axes, got shapes "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{fn}: q has {q.shape[-1]} features per position but k has {k.shape[-1]} "
                         f"(shapes {tuple(q.shape)} and {tuple(k.shape)})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{fn}: k has {k.shape[-2]} positions but v has {v.shape[-2]} "
                         f"(shapes {tuple(k.shape)} and {tuple(v.shape)})")


def _check_mask(fn: str, mask: Any, scores_shape: tuple[int, ...]) -> None:
    check_array(fn, "attn_mask", mask)
    if mask.dtype != bool and not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"{fn}: attn_mask must be boolean (True = may attend) or floating (added to the scores), "
                        f"got dtype {mask.dtype}")
    try:
        ok = mask.ndim <= len(scores_shape) and np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{fn}: attn_mask of shape {tuple(mask.shape)} does not broadcast to the attention "
                         f"scores (..., L, S) = {scores_shape}")


def scaled_dot_product_attention_forward(q: Any, k: Any, v: Any, attn_mask: Any = None, is_causal: bool = False,
                                         dropout_p: float = 0.0, scale: float | None = None,
                                         seed: Any = None) -> tuple[Any, dict]:
    """Attention of L queries over S keys/values.

    Inputs:
    - q: (..., L, E) queries; k: (..., S, E) keys; v: (..., S, Ev) values (same leading axes, e.g. (N, h)).
    - attn_mask: optional, broadcastable to (..., L, S): boolean (True = may attend) or float (added).
    - is_causal: also block key j > query i (combined with ``attn_mask`` when both are given).
    - dropout_p: drop probability on the attention weights (inverted dropout, applied whenever > 0: the
      caller passes 0 at evaluation); seed: None (NumPy's global RNG), an int or a Generator/RandomState.
    - scale: multiplies the scores; default ``1 / sqrt(E)``.

    Returns ``(out, cache)``: out (..., L, Ev) = ``A v`` with ``A = dropout(softmax(q k^T scale + mask))``;
    ``cache['weights']`` holds A (..., L, S) (after dropout, as torch's ``need_weights``).
    """
    fn = "scaled_dot_product_attention_forward"
    _check_qkv(fn, q, k, v)
    check_probability(fn, "dropout_p", dropout_p)
    xp = xp_of(q, k, v)
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    scores_shape = tuple(q.shape[:-2]) + (L, S)
    scale = 1.0 / np.sqrt(E) if scale is None else float(scale)
    q_scaled = q * q.dtype.type(scale)
    s = q_scaled @ k.swapaxes(-1, -2)
    allowed = None
    if attn_mask is not None:
        _check_mask(fn, attn_mask, scores_shape)
        if attn_mask.dtype == bool:
            allowed = attn_mask
        else:
            s = s + attn_mask.astype(s.dtype, copy=False)
    if is_causal:
        causal = xp.tril(xp.ones((L, S), dtype=bool))
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        xp.copyto(s, -xp.inf, where=~allowed)
    # softmax over keys, in place in s; a row with every key masked (max = -inf) gets exp(-inf) = 0 everywhere
    m = s.max(axis=-1, keepdims=True)
    s -= xp.where(xp.isfinite(m), m, 0)
    p = xp.exp(s, out=s)
    denom = p.sum(axis=-1, keepdims=True)
    p /= xp.where(denom == 0, 1, denom)
    drop = None
    if dropout_p > 0:
        keep = 1.0 - float(dropout_p)
        u = xp.asarray(uniform(get_rng(seed), scores_shape))
        drop = (u < keep).astype(p.dtype)
        drop /= p.dtype.type(keep)
        weights = p * drop
    else:
        weights = p
    out = weights @ v
    cache = {"q_scaled": q_scaled, "k": k, "v": v, "p": p, "weights": weights, "drop": drop, "scale": scale}
    return out, cache


def scaled_dot_product_attention_backward(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Backward of :func:`scaled_dot_product_attention_forward`.

    With ``A = P * drop``: ``dv = A^T dout``, ``dP = (dout v^T) * drop``, the softmax Jacobian
    ``dS = P * (dP - sum(dP * P, keys))``, then ``dq = dS k * scale`` and ``dk = dS^T q * scale``.
    Returns ``(dq, dk, dv)`` shaped like q, k, v.
    """
    fn = "scaled_dot_product_attention_backward"
    q_scaled, k, v, p, weights, drop = (cache[n] for n in ("q_scaled", "k", "v", "p", "weights", "drop"))
    check_array(fn, "dout", dout)
    expected = tuple(weights.shape[:-1]) + (v.shape[-1],)
    if tuple(dout.shape) != expected:
        raise ValueError(f"{fn}: dout must have the output's shape {expected}, got {tuple(dout.shape)}")
    dv = weights.swapaxes(-1, -2) @ dout
    dp = dout @ v.swapaxes(-1, -2)
    if drop is not None:
        dp *= drop
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    dq = (ds @ k) * q_scaled.dtype.type(cache["scale"])
    dk = ds.swapaxes(-1, -2) @ q_scaled
    return dq, dk, dv
