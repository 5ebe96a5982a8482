"""Linear, convolution, pooling, embedding and attention as tape nodes (kernels of :mod:`nnlab.layers`:
``affine``, ``conv`` (``conv_forward_fast`` picks the algorithm), ``pooling``, ``recurrent`` (word embedding)
and ``attention``). Torch's names, argument order, defaults and parameter layouts."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..layers import affine as aff
from ..layers import attention as att
from ..layers import conv as cv
from ..layers import pooling as pl
from ..layers import recurrent as rec
from ._common import Tensor, array_arg, pair, record, single, unary_backward, unsupported

__all__ = ["linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "embedding",
           "scaled_dot_product_attention"]


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:  # noqa: A002
    """``y = x W^T + b`` over the last axis (torch's layout).

    Parameters
    ----------
    input : (..., in_features).
    weight : (out_features, in_features).
    bias : (out_features,) or None.

    Returns
    -------
    Tensor (..., out_features). Kernel: ``affine_forward(x.reshape(-1, in), W^T, b)``.
    """
    fn = "linear"
    x = array_arg(fn, "input", input)
    w = array_arg(fn, "weight", weight, (2,), "(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{fn}: input has {x.shape[-1] if x.ndim else 0} features (shape {tuple(x.shape)}) "
                         f"but weight expects {w.shape[1]} (weight shape {tuple(w.shape)})")
    b = xp_of(w).zeros(w.shape[0], dtype=w.dtype) if bias is None else array_arg(fn, "bias", bias, (1,))
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"{fn}: bias has shape {tuple(b.shape)} but weight has {w.shape[0]} outputs")
    x2 = x if x.ndim == 2 else x.reshape(-1, w.shape[1])
    out, cache = aff.affine_forward(x2, w.T, b)
    if x.ndim != 2:
        out = out.reshape(x.shape[:-1] + (w.shape[0],))
    return record(fn, aff.affine_backward, out, (cache, x.shape), _linear_bwd, (input, weight, bias))


def _linear_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, shape = c
    dx, dw, db = aff.affine_backward(g.reshape(-1, g.shape[-1]), cache)
    return (dx.reshape(shape) if n[0] else None), (dw.T if n[1] else None), (db if n[2] else None)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,  # noqa: A002
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation (torch's ``conv2d``), by the fastest algorithm for the shapes.

    Parameters
    ----------
    input : (N, C, H, W).
    weight : (F, C, KH, KW).
    bias : (F,) or None.
    stride, padding : an int or a pair of equal ints; padding may be ``'valid'`` (0) or ``'same'`` (stride 1,
        odd square kernel). dilation 1 and groups 1 only.

    Returns
    -------
    Tensor (N, F, H', W'), ``H' = (H + 2 padding - KH) // stride + 1``. Kernels ``conv_forward_fast`` /
    ``conv_backward_fast`` (which skips the input gradient when the input needs none).
    """
    fn = "conv2d"
    x = array_arg(fn, "input", input, (4,), "(N, C, H, W)")
    w = array_arg(fn, "weight", weight, (4,), "(F, C, KH, KW)")
    unsupported(fn, dilation=(single(fn, "dilation", dilation), 1), groups=(groups, 1))
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{fn}: input has {x.shape[1]} channels but weight expects {w.shape[1]} (input shape "
                         f"{tuple(x.shape)}, weight shape {tuple(w.shape)})")
    s = single(fn, "stride", stride)
    if padding == "valid":
        p = 0
    elif padding == "same":
        kh, kw = w.shape[2:]
        if s != 1 or kh != kw or kh % 2 == 0:
            raise ValueError(f"{fn}: padding='same' needs stride 1 and an odd square kernel, got stride {s} and "
                             f"kernel {kh}x{kw}")
        p = (kh - 1) // 2
    else:
        p = single(fn, "padding", padding, minimum=0)
    b = xp_of(w).zeros(w.shape[0], dtype=w.dtype) if bias is None else array_arg(fn, "bias", bias, (1,))
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"{fn}: bias has shape {tuple(b.shape)} but weight has {w.shape[0]} filters")
    out, cache = cv.conv_forward_fast(x, w, b, {"stride": s, "pad": p})
    return record(fn, cv.conv_backward_fast, out, cache, _conv2d_bwd, (input, weight, bias))


def _conv2d_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    dx, dw, db = cv.conv_backward_fast(g, c, need_dx=n[0])
    return dx, (dw if n[1] else None), (db if n[2] else None)


def _pool_param(fn: str, kernel_size: Any, stride: Any) -> dict:
    ph, pw = pair(fn, "kernel_size", kernel_size)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        if ph != pw:
            raise ValueError(f"{fn}: a {ph}x{pw} window needs an explicit stride (the kernels use one stride "
                             "for both axes)")
        stride = ph
    return {"pool_height": ph, "pool_width": pw, "stride": single(fn, "stride", stride)}


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Max over ``kernel_size`` windows of an (N, C, H, W) input, ``stride`` apart (default: the window);
    ties and NaNs as torch. Padding 0, dilation 1, floor mode only. Returns (N, C, H', W')."""
    fn = "max_pool2d"
    unsupported(fn, padding=(single(fn, "padding", padding, minimum=0), 0),
                dilation=(single(fn, "dilation", dilation), 1), ceil_mode=(bool(ceil_mode), False),
                return_indices=(bool(return_indices), False))
    x = array_arg(fn, "input", input, (4,), "(N, C, H, W)")
    out, cache = pl.max_pool_forward_fast(x, _pool_param(fn, kernel_size, stride))
    return record(fn, pl.max_pool_backward_fast, out, cache, _MAX_POOL_BWD, (input,))


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Any = None) -> Tensor:
    """Mean over ``kernel_size`` windows of an (N, C, H, W) input, ``stride`` apart (default: the window).
    Padding 0 and floor mode only (so ``count_include_pad`` does not arise). Returns (N, C, H', W')."""
    fn = "avg_pool2d"
    unsupported(fn, padding=(single(fn, "padding", padding, minimum=0), 0), ceil_mode=(bool(ceil_mode), False),
                divisor_override=(divisor_override, None))
    x = array_arg(fn, "input", input, (4,), "(N, C, H, W)")
    out, cache = pl.avg_pool_forward(x, _pool_param(fn, kernel_size, stride))
    return record(fn, pl.avg_pool_backward, out, cache, _AVG_POOL_BWD, (input,))


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Adaptive average pooling of (N, C, H, W) to ``output_size`` (an int or (oh, ow); None keeps a size),
    bins as torch's. Returns (N, C, oh, ow)."""
    fn = "adaptive_avg_pool2d"
    x = array_arg(fn, "input", input, (4,), "(N, C, H, W)")
    out, cache = pl.adaptive_avg_pool_forward(x, output_size)
    return record(fn, pl.adaptive_avg_pool_backward, out, cache, _ADAPTIVE_BWD, (input,))


_MAX_POOL_BWD = unary_backward(pl.max_pool_backward_fast)
_AVG_POOL_BWD = unary_backward(pl.avg_pool_backward)
_ADAPTIVE_BWD = unary_backward(pl.adaptive_avg_pool_backward)


def embedding(input: Any, weight: Any, padding_idx: Any = None, max_norm: Any = None,  # noqa: A002
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (V, D) picked by the integer ids ``input`` (any shape): ``out[...] = weight[ids[...]]``,
    shape ``ids.shape + (D,)``. Repeated ids sum their gradients. Only torch's default options."""
    fn = "embedding"
    unsupported(fn, padding_idx=(padding_idx, None), max_norm=(max_norm, None),
                scale_grad_by_freq=(scale_grad_by_freq, False), sparse=(sparse, False))
    ids = array_arg(fn, "input", input)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{fn}: input must hold integer ids, got dtype {ids.dtype}")
    w = array_arg(fn, "weight", weight, (2,), "(num_embeddings, embedding_dim)")
    out, cache = rec.word_embedding_forward(ids, w)
    return record(fn, rec.word_embedding_backward, out, cache, _embedding_bwd, (None, weight))


def _embedding_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    return None, rec.word_embedding_backward(g, c)


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None, *, seed: Any = None) -> Tensor:
    """``softmax(q k^T * scale + mask) v`` over the last two axes (torch's SDPA conventions).

    Parameters
    ----------
    query : (..., L, E); key : (..., S, E); value : (..., S, Ev), the same leading (batch, head) axes.
    attn_mask : broadcastable to (..., L, S): boolean (True = may attend) or float (added); a constant.
    dropout_p : drop probability on the attention weights (``seed`` as :func:`dropout`).
    is_causal : query i sees keys 0..i (combined with ``attn_mask`` when both are given).
    scale : default ``1 / sqrt(E)``.

    Returns
    -------
    Tensor (..., L, Ev).
    """
    fn = "scaled_dot_product_attention"
    q = array_arg(fn, "query", query)
    k = array_arg(fn, "key", key)
    v = array_arg(fn, "value", value)
    mask = None if attn_mask is None else array_arg(fn, "attn_mask", attn_mask)
    out, cache = att.scaled_dot_product_attention_forward(q, k, v, mask, is_causal, dropout_p, scale, seed)
    return record(fn, att.scaled_dot_product_attention_backward, out, cache, _sdpa_bwd, (query, key, value))


def _sdpa_bwd(g: Any, c: dict, n: tuple) -> tuple:
    dq, dk, dv = att.scaled_dot_product_attention_backward(g, c)
    return (dq if n[0] else None), (dk if n[1] else None), (dv if n[2] else None)
