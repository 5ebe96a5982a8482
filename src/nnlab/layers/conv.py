"""2-D convolution (cross-correlation, NCHW): a readable loop reference and a fast im2col + GEMM version.

Both versions share the CS231n contract::

    out, cache = conv_forward_*(x, w, b, conv_param)      # conv_param = {'stride': S, 'pad': P}
    dx, dw, db = conv_backward_*(dout, cache)

with ``x`` (N, C, H, W), ``w`` (F, C, KH, KW), ``b`` (F,) and ``out`` (N, F, H', W') where
``H' = floor((H + 2P - KH) / S) + 1`` (as ``torch.nn.functional.conv2d``: trailing rows that do not fill a
window are dropped) and ``out[n, f, i, j] = b[f] + sum_{c,p,q} xpad[n, c, i*S + p, j*S + q] * w[f, c, p, q]``
(no kernel flip). Zero padding of P on every side; ``x`` is never modified. Caches of the naive and the fast
versions are not interchangeable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..validation import check_array

__all__ = ["conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast"]


def _conv_geometry(fn: str, x: Any, w: Any, b: Any, conv_param: dict) -> tuple[int, int, int, int]:
    """Validate a convolution's inputs; return ``(stride, pad, H', W')``."""
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", float_only=True)
    check_array(fn, "w", w, ndim=4, shape_hint="(F, C, KH, KW)", float_only=True)
    check_array(fn, "b", b, ndim=1, shape_hint="(F,)", float_only=True)
    if not isinstance(conv_param, dict):
        raise TypeError(f"{fn}: conv_param must be a dict with keys 'stride' and 'pad', "
                        f"got {type(conv_param).__name__}")
    _, C, H, W = x.shape
    F, Cw, KH, KW = w.shape
    if C != Cw:
        raise ValueError(f"{fn}: x has {C} channels but w expects {Cw} (x shape {tuple(x.shape)}, "
                         f"w shape {tuple(w.shape)})")
    if b.shape[0] != F:
        raise ValueError(f"{fn}: b has shape {tuple(b.shape)} but w has {F} filters")
    stride = conv_param.get("stride", 1)
    pad = conv_param.get("pad", 0)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride <= 0:
        raise ValueError(f"{fn}: stride must be a positive integer, got {stride!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"{fn}: pad must be a non-negative integer, got {pad!r}")
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if KH > Hp or KW > Wp:
        raise ValueError(f"{fn}: kernel {KH}x{KW} is larger than the padded input {Hp}x{Wp} "
                         f"(x shape {tuple(x.shape)}, pad {pad})")
    return int(stride), int(pad), (Hp - KH) // stride + 1, (Wp - KW) // stride + 1


def _pad_hw(x, pad: int):
    """Zero-pad the last two axes of ``x`` by ``pad`` on each side (a new array; ``x`` is untouched)."""
    if pad == 0:
        return x
    xp = xp_of(x)
    return xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


# ------------------------------------------------------------------------------------------------ naive


def conv_forward_naive(x, w, b, conv_param: dict) -> tuple[Any, tuple]:
    """Convolution forward pass, the readable reference (loops over n, f, i, j).

    Inputs:
    - x: (N, C, H, W) input.
    - w: (F, C, KH, KW) filters.
    - b: (F,) biases.
    - conv_param: ``{'stride': S, 'pad': P}``.

    Returns:
    - out: (N, F, H', W'), ``out[n, f, i, j] = sum(xpad[n, :, iS:iS+KH, jS:jS+KW] * w[f]) + b[f]``.
    - cache: ``(x, w, b, conv_param)``.
    """
    S, P, OH, OW = _conv_geometry("conv_forward_naive", x, w, b, conv_param)
    N, F = x.shape[0], w.shape[0]
    KH, KW = w.shape[2:]
    xpad = _pad_hw(x, P)
    out = xp_of(x).zeros((N, F, OH, OW), dtype=np.result_type(x.dtype, w.dtype))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xpad[n, :, i * S:i * S + KH, j * S:j * S + KW]
                    out[n, f, i, j] = (window * w[f]).sum() + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache: tuple) -> tuple[Any, Any, Any]:
    """Convolution backward pass, the readable reference.

    Inputs:
    - dout: (N, F, H', W') upstream gradient.
    - cache: from :func:`conv_forward_naive`.

    Returns ``(dx, dw, db)`` shaped like x, w, b: every window receives ``dout[n, f, i, j] * w[f]``,
    ``dw[f] += dout[n, f, i, j] * window``, ``db[f] = sum_{n,i,j} dout[n, f, i, j]``.
    """
    x, w, b, conv_param = cache
    S, P, OH, OW = _conv_geometry("conv_backward_naive", x, w, b, conv_param)
    check_array("conv_backward_naive", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    N, F = x.shape[0], w.shape[0]
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"conv_backward_naive: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    xp = xp_of(x)
    xpad = _pad_hw(x, P)
    dxpad = xp.zeros(xpad.shape, dtype=dout.dtype)
    dw = xp.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    g = dout[n, f, i, j]
                    dxpad[n, :, i * S:i * S + KH, j * S:j * S + KW] += g * w[f]
                    dw[f] += g * xpad[n, :, i * S:i * S + KH, j * S:j * S + KW]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxpad[:, :, P:P + H, P:P + W]
    return xp.ascontiguousarray(dx), dw, db


# ------------------------------------------------------------------------------------------------- fast


def _im2col(x, KH: int, KW: int, S: int, P: int, OH: int, OW: int):
    """Gather every receptive field into columns: ``(C*KH*KW, N*H'*W')`` with rows ordered (c, p, q).

    ``cols[(c, p, q), (n, i, j)] = xpad[n, c, i*S + p, j*S + q]``. The windows are a strided view of the
    padded input (no data moved); one copy lays them out for the GEMM.
    """
    xp = xp_of(x)
    N, C = x.shape[:2]
    xpad = _pad_hw(x, P)
    # (N, C, Hp-KH+1, Wp-KW+1, KH, KW): every window, a view of xpad
    windows = xp.lib.stride_tricks.sliding_window_view(xpad, (KH, KW), axis=(2, 3))
    windows = windows[:, :, :(OH - 1) * S + 1:S, :(OW - 1) * S + 1:S]  # (N, C, OH, OW, KH, KW)
    cols = xp.ascontiguousarray(windows.transpose(1, 4, 5, 0, 2, 3))  # (C, KH, KW, N, OH, OW)
    return cols.reshape(C * KH * KW, N * OH * OW)


def _col2im(dcols, x_shape: tuple, KH: int, KW: int, S: int, P: int, OH: int, OW: int):
    """Adjoint of :func:`_im2col`: sum the columns back onto the (padded) input grid.

    One strided-slice accumulation per kernel offset (p, q): ``dxpad[:, :, p::S, q::S] += dcols[:, p, q]``.
    """
    xp = xp_of(dcols)
    N, C, H, W = x_shape
    dcols = dcols.reshape(C, KH, KW, N, OH, OW)
    dxpad = xp.zeros((N, C, H + 2 * P, W + 2 * P), dtype=dcols.dtype)
    dxpad_t = dxpad.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view, matches the column layout
    for p in range(KH):
        for q in range(KW):
            dxpad_t[:, :, p:p + (OH - 1) * S + 1:S, q:q + (OW - 1) * S + 1:S] += dcols[:, p, q]
    if P == 0:
        return dxpad
    return xp.ascontiguousarray(dxpad[:, :, P:P + H, P:P + W])


def conv_forward_fast(x, w, b, conv_param: dict) -> tuple[Any, tuple]:
    """Convolution forward pass: im2col through strided views, then one GEMM.

    Inputs and output as :func:`conv_forward_naive`. ``out = (w.reshape(F, -1) @ cols + b)`` with ``cols`` the
    (C*KH*KW, N*H'*W') matrix of receptive fields, reshaped to (N, F, H', W'). Keeps the input dtype.

    Returns ``(out, cache)`` with cache ``(x.shape, w, cols, conv_param)`` for :func:`conv_backward_fast`.
    """
    S, P, OH, OW = _conv_geometry("conv_forward_fast", x, w, b, conv_param)
    xp = xp_of(x, w)
    N, F = x.shape[0], w.shape[0]
    KH, KW = w.shape[2:]
    cols = _im2col(x, KH, KW, S, P, OH, OW)
    out = w.reshape(F, -1) @ cols  # (F, N*OH*OW)
    out += b.reshape(F, 1)
    out = xp.ascontiguousarray(out.reshape(F, N, OH, OW).transpose(1, 0, 2, 3))
    return out, (tuple(x.shape), w, cols, conv_param)


def conv_backward_fast(dout, cache: tuple) -> tuple[Any, Any, Any]:
    """Convolution backward pass for :func:`conv_forward_fast`.

    With ``G = dout`` laid out as (F, N*H'*W'): ``dw = G @ cols.T``, ``db = G.sum(1)``,
    ``dcols = w.T @ G`` and ``dx = col2im(dcols)`` (a loop over the KH*KW kernel offsets).

    Returns ``(dx, dw, db)`` shaped like x, w, b.
    """
    x_shape, w, cols, conv_param = cache
    xp = xp_of(dout, w)
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    S, P = int(conv_param.get("stride", 1)), int(conv_param.get("pad", 0))
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    check_array("conv_backward_fast", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"conv_backward_fast: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    g = xp.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, -1)  # (F, N*OH*OW)
    db = g.sum(axis=1)
    dw = (g @ cols.T).reshape(w.shape)
    dcols = w.reshape(F, -1).T @ g  # (C*KH*KW, N*OH*OW)
    dx = _col2im(dcols, x_shape, KH, KW, S, P, OH, OW)
    return dx, dw, db
