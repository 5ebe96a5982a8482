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

from ..backend import get_rng, parallel_for, split, uniform, xp_of
from ..validation import check_array, check_probability

__all__ = ["scaled_dot_product_attention_forward", "scaled_dot_product_attention_backward"]

_BLOCK_BYTES = 1 << 20  # attention scores per block of samples run on one thread (see _batch_blocks)


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
    allowed = add = None
    if attn_mask is not None:
        _check_mask(fn, attn_mask, scores_shape)
        if attn_mask.dtype == bool:
            allowed = attn_mask
        else:
            add = attn_mask
    if is_causal:
        causal = xp.tril(xp.ones((L, S), dtype=bool))
        allowed = causal if allowed is None else allowed & causal
    s_dtype = np.result_type(q.dtype, k.dtype)
    u = None
    if dropout_p > 0:  # one draw for every score, whatever the blocks: the RNG stream of one call
        u = xp.asarray(uniform(get_rng(seed), scores_shape))
    q_scaled = xp.empty(q.shape, dtype=q.dtype)
    p = xp.empty(scores_shape, dtype=s_dtype)
    drop = xp.empty(scores_shape, dtype=s_dtype) if u is not None else None
    weights = xp.empty(scores_shape, dtype=s_dtype) if u is not None else p
    out = xp.empty(tuple(q.shape[:-1]) + (v.shape[-1],), dtype=np.result_type(s_dtype, v.dtype))
    keep = 1.0 - float(dropout_p)

    def block(bounds: tuple[int, int] | None) -> None:
        r = slice(*bounds) if bounds is not None else slice(None)
        qs, sc = q_scaled[r], p[r]
        xp.multiply(q[r], q.dtype.type(scale), out=qs)
        xp.matmul(qs, k[r].swapaxes(-1, -2), out=sc)
        if add is not None:
            sc += _rows(add, r, q.ndim).astype(s_dtype, copy=False)
        if allowed is not None:
            xp.copyto(sc, -xp.inf, where=~_rows(allowed, r, q.ndim))
        # softmax over keys, in place; a row with every key masked (max = -inf) gets exp(-inf) = 0 everywhere
        m = sc.max(axis=-1, keepdims=True)
        sc -= xp.where(xp.isfinite(m), m, 0)
        xp.exp(sc, out=sc)
        denom = sc.sum(axis=-1, keepdims=True)
        sc /= xp.where(denom == 0, 1, denom)
        if u is not None:
            d = drop[r]
            d[...] = u[r] < keep
            d /= d.dtype.type(keep)
            xp.multiply(sc, d, out=weights[r])
        xp.matmul(weights[r], v[r], out=out[r])

    blocks = _batch_blocks(q, scores_shape, s_dtype)
    _run(block, blocks, xp)
    cache = {"q_scaled": q_scaled, "k": k, "v": v, "p": p, "weights": weights, "drop": drop, "scale": scale}
    return out, cache


def _run(block, blocks: list, xp) -> None:
    """The blocks on nnlab's threads for NumPy arrays, one after another for CuPy (one GPU stream)."""
    if xp is np:
        parallel_for(block, blocks)
    else:
        for bounds in blocks:
            block(bounds)


def _rows(mask: Any, r: slice, ndim: int) -> Any:
    """The part of a mask (broadcastable to the scores) for the samples ``r`` of the first axis: the mask
    itself when it has fewer axes than the scores or one sample (it broadcasts), else ``mask[r]``."""
    return mask[r] if mask.ndim == ndim and mask.shape[0] != 1 else mask


def _batch_blocks(q: Any, scores_shape: tuple, dtype: Any) -> list:
    """Blocks of samples (the first axis of q, k, v) attended one per task on nnlab's threads: about
    ``_BLOCK_BYTES`` of scores each, from the shapes only; ``[None]`` (everything at once) for 2-D inputs,
    ``[(0, N)]`` for non-NumPy arrays. Every sample's attention is computed by the same operations whatever
    the blocks (no sum across samples), so the split changes nothing in the results."""
    if len(scores_shape) < 3:
        return [None]
    n = scores_shape[0]
    if not isinstance(q, np.ndarray):
        return [(0, n)]
    per_sample = int(np.prod(scores_shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    return split(n, per_sample, _BLOCK_BYTES) or [(0, n)]


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
    xp = xp_of(dout, v)
    dv = xp.empty(v.shape, dtype=np.result_type(weights.dtype, dout.dtype))
    dq = xp.empty(q_scaled.shape, dtype=np.result_type(p.dtype, dout.dtype, v.dtype, k.dtype, q_scaled.dtype))
    dk = xp.empty(k.shape, dtype=np.result_type(p.dtype, dout.dtype, v.dtype, q_scaled.dtype))
    scale = q_scaled.dtype.type(cache["scale"])

    def block(bounds: tuple[int, int] | None) -> None:
        r = slice(*bounds) if bounds is not None else slice(None)
        d, pr = dout[r], p[r]
        xp.matmul(weights[r].swapaxes(-1, -2), d, out=dv[r])
        dp = d @ v[r].swapaxes(-1, -2)
        if drop is not None:
            dp *= drop[r]
        ds = pr * (dp - (dp * pr).sum(axis=-1, keepdims=True))
        dq[r] = (ds @ k[r]) * scale
        xp.matmul(ds.swapaxes(-1, -2), q_scaled[r], out=dk[r])

    blocks = _batch_blocks(q_scaled, p.shape, p.dtype)
    _run(block, blocks, xp)
    return dq, dk, dv
