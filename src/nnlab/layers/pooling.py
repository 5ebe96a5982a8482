"""2-D pooling over NCHW inputs: max (naive and fast), average and adaptive average.

``pool_param = {'pool_height': PH, 'pool_width': PW, 'stride': S}``; no padding. Output size
``H' = floor((H - PH) / S) + 1``, ``W' = floor((W - PW) / S) + 1`` (trailing rows/columns that do not fill a
window are dropped, as ``torch.nn.functional.max_pool2d`` with ``ceil_mode=False``).

Max pooling routes the gradient of each window to its *first* maximum in row-major order, as torch does for
ties (so ties never split or duplicate the gradient); in the fast version a NaN in a window wins, as in torch.
The fast versions loop over the PH*PW window offsets, never over samples or pixels: when the windows tile the
input exactly (``S == PH``, ``S == PW``, H and W divisible) the input is reshaped to (N, C, H', PH, W', PW)
and the backward writes each offset once; otherwise each offset is a strided slice and the backward
accumulates.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import parallel_for, split, xp_of
from ..validation import check_array, check_positive_int

_BLOCK_BYTES = 1 << 20  # bytes of x (or dx) per block of samples pooled on one thread (see _sample_blocks)

__all__ = [
    "max_pool_forward_naive", "max_pool_backward_naive",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "avg_pool_forward", "avg_pool_backward",
    "adaptive_avg_pool_forward", "adaptive_avg_pool_backward",
]


def _pool_geometry(fn: str, x: Any, pool_param: dict) -> tuple[int, int, int, int, int]:
    """Validate a pooling call; return ``(PH, PW, S, H', W')``."""
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", float_only=True)
    if not isinstance(pool_param, dict):
        raise TypeError(f"{fn}: pool_param must be a dict with keys 'pool_height', 'pool_width', 'stride', "
                        f"got {type(pool_param).__name__}")
    PH = check_positive_int(fn, "pool_height", pool_param.get("pool_height", 2))
    PW = check_positive_int(fn, "pool_width", pool_param.get("pool_width", 2))
    S = check_positive_int(fn, "stride", pool_param.get("stride", 2))
    H, W = x.shape[2:]
    if PH > H or PW > W:
        raise ValueError(f"{fn}: pool window {PH}x{PW} is larger than the input {H}x{W} (x shape {tuple(x.shape)})")
    return PH, PW, S, (H - PH) // S + 1, (W - PW) // S + 1


def _tiles(x_shape: tuple, PH: int, PW: int, S: int) -> bool:
    """True when the pooling windows tile the input exactly (no overlap, no gap, nothing dropped)."""
    H, W = x_shape[2:]
    return S == PH and S == PW and H % PH == 0 and W % PW == 0


def _offset_views(a, PH: int, PW: int, S: int, OH: int, OW: int, tiled: bool) -> Iterator[tuple[int, Any]]:
    """For each window offset k = p*PW + q, the (N, C, H', W') view ``a[:, :, p + i*S, q + j*S]``.

    Tiled: from the free reshape (N, C, H', PH, W', PW). Otherwise: strided slices.
    """
    if tiled:
        N, C = a.shape[:2]
        a6 = a.reshape(N, C, OH, PH, OW, PW)
        for p in range(PH):
            for q in range(PW):
                yield p * PW + q, a6[:, :, :, p, :, q]
    else:
        for p in range(PH):
            for q in range(PW):
                yield p * PW + q, a[:, :, p:p + (OH - 1) * S + 1:S, q:q + (OW - 1) * S + 1:S]


# ------------------------------------------------------------------------------------------- max, naive


def max_pool_forward_naive(x, pool_param: dict) -> tuple[Any, tuple]:
    """Max pooling forward pass, the readable reference (loops over n, c, i, j).

    Inputs:
    - x: (N, C, H, W).
    - pool_param: ``{'pool_height': PH, 'pool_width': PW, 'stride': S}``.

    Returns ``out`` (N, C, H', W') with ``out[n, c, i, j] = max(x[n, c, iS:iS+PH, jS:jS+PW])`` and
    ``cache = (x, pool_param)``.
    """
    PH, PW, S, OH, OW = _pool_geometry("max_pool_forward_naive", x, pool_param)
    N, C = x.shape[:2]
    out = xp_of(x).empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    out[n, c, i, j] = x[n, c, i * S:i * S + PH, j * S:j * S + PW].max()
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache: tuple):
    """Max pooling backward pass, the reference: each ``dout[n, c, i, j]`` goes to the first argmax of its window.

    Returns ``dx`` (N, C, H, W).
    """
    check_array("max_pool_backward_naive", "dout", dout)
    x, pool_param = cache
    PH, PW, S, OH, OW = _pool_geometry("max_pool_backward_naive", x, pool_param)
    N, C = x.shape[:2]
    if tuple(dout.shape) != (N, C, OH, OW):
        raise ValueError(f"max_pool_backward_naive: dout must have shape {(N, C, OH, OW)}, got {tuple(dout.shape)}")
    xp = xp_of(x)
    dx = xp.zeros(x.shape, dtype=dout.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    window = x[n, c, i * S:i * S + PH, j * S:j * S + PW]
                    p, q = np.unravel_index(int(window.argmax()), (PH, PW))
                    dx[n, c, i * S + p, j * S + q] += dout[n, c, i, j]
    return dx


# -------------------------------------------------------------------------------------------- max, fast


def max_pool_forward_fast(x, pool_param: dict) -> tuple[Any, tuple]:
    """Max pooling forward pass without loops over samples or pixels.

    Same inputs and output as :func:`max_pool_forward_naive`. Keeps a running maximum over the PH*PW window
    offsets and the offset index of the first maximum (``argmax``, what the backward needs): each offset that
    is strictly larger than the running maximum moves the argmax to itself (so ties keep the earlier offset,
    as torch). Four passes per offset into preallocated buffers (``copyto(argmax, k, where=better)`` measured 9x
    slower than ``maximum(argmax, k * better)``; a two-stage maximum, rows then columns, measured slower: its
    argmax gather costs more than it saves). A NaN makes the running maximum NaN
    (``maximum`` propagates it) and compares false; windows whose maximum is NaN get the offset of their first
    NaN afterwards, as torch (``val > maxval || isnan(val)``).

    Returns ``(out, cache)`` with cache ``(x.shape, argmax, pool_param)``.
    """
    PH, PW, S, OH, OW = _pool_geometry("max_pool_forward_fast", x, pool_param)
    xp = xp_of(x)
    tiled = _tiles(x.shape, PH, PW, S)
    N, C = x.shape[:2]
    out = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty(out.shape, dtype=np.uint8 if PH * PW <= 256 else np.int32)

    def block(bounds: tuple[int, int]) -> None:
        n = slice(*bounds)
        _max_pool_into(x[n], out[n], argmax[n], PH, PW, S, tiled)

    parallel_for(block, _sample_blocks(x))
    return out, (tuple(x.shape), argmax, pool_param)


def _sample_blocks(a) -> list[tuple[int, int]]:
    """Blocks of samples pooled one per task on nnlab's threads: about ``_BLOCK_BYTES`` of ``a`` (the input
    of the forward, the output of the backward) each. Every output value is computed by the same operations
    whatever the blocks, so the split changes nothing in the results."""
    if not isinstance(a, np.ndarray) or a.shape[0] == 0:
        return [(0, a.shape[0])]
    return split(a.shape[0], a[0].nbytes, _BLOCK_BYTES)


def _max_pool_into(x, out, argmax, PH: int, PW: int, S: int, tiled: bool) -> None:
    """The max pooling of :func:`max_pool_forward_fast` for the samples of ``x``, into ``out`` and ``argmax``."""
    xp = xp_of(x)
    OH, OW = out.shape[2:]
    views = list(_offset_views(x, PH, PW, S, OH, OW, tiled))
    out[...] = views[0][1]
    argmax[...] = 0
    better = xp.empty(out.shape, dtype=bool)
    moved = xp.empty_like(argmax)
    for k, v in views[1:]:
        xp.greater(v, out, out=better)  # strict: ties keep the earlier offset
        xp.maximum(out, v, out=out)  # propagates NaN
        # each improvement moves the argmax to a later offset: argmax = max(argmax, k * better)
        xp.maximum(argmax, xp.multiply(better, argmax.dtype.type(k), out=moved), out=argmax)
    nan = xp.isnan(out, out=better)
    if nan.any():  # rare: the first NaN of each NaN window wins
        for k, v in reversed(views):
            xp.copyto(argmax, k, where=nan & xp.isnan(v))


def max_pool_backward_fast(dout, cache: tuple):
    """Max pooling backward pass for :func:`max_pool_forward_fast`: ``dout`` goes to each window's first argmax.

    Returns ``dx`` (N, C, H, W).
    """
    check_array("max_pool_backward_fast", "dout", dout)
    x_shape, argmax, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C = x_shape[:2]
    OH, OW = argmax.shape[2:]
    if tuple(dout.shape) != (N, C, OH, OW):
        raise ValueError(f"max_pool_backward_fast: dout must have shape {(N, C, OH, OW)}, got {tuple(dout.shape)}")
    xp = xp_of(dout)
    tiled = _tiles(x_shape, PH, PW, S)
    dx = (xp.empty if tiled else xp.zeros)(x_shape, dtype=dout.dtype)

    def block(bounds: tuple[int, int]) -> None:
        n = slice(*bounds)
        d, am = dout[n], argmax[n]
        for k, view in _offset_views(dx[n], PH, PW, S, OH, OW, tiled):
            if tiled:
                xp.multiply(d, am == k, out=view)
            else:
                view += d * (am == k)

    parallel_for(block, _sample_blocks(dx))
    return dx


# ---------------------------------------------------------------------------------------------- average


def avg_pool_forward(x, pool_param: dict) -> tuple[Any, tuple]:
    """Average pooling forward pass: ``out[n, c, i, j] = mean(x[n, c, iS:iS+PH, jS:jS+PW])``.

    Inputs as :func:`max_pool_forward_naive` (no padding, so torch's ``count_include_pad`` does not arise).
    Returns ``out`` (N, C, H', W') and ``cache = (x.shape, pool_param)``.
    """
    PH, PW, S, OH, OW = _pool_geometry("avg_pool_forward", x, pool_param)
    tiled = _tiles(x.shape, PH, PW, S)
    views = _offset_views(x, PH, PW, S, OH, OW, tiled)
    _, first = next(views)
    out = first.copy()
    for _, v in views:
        out += v
    out /= x.dtype.type(PH * PW)
    return out, (tuple(x.shape), pool_param)


def avg_pool_backward(dout, cache: tuple):
    """Average pooling backward pass: every input of a window receives ``dout / (PH*PW)``.

    Returns ``dx`` (N, C, H, W).
    """
    check_array("avg_pool_backward", "dout", dout)
    x_shape, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x_shape
    OH, OW = (H - PH) // S + 1, (W - PW) // S + 1
    if tuple(dout.shape) != (N, C, OH, OW):
        raise ValueError(f"avg_pool_backward: dout must have shape {(N, C, OH, OW)}, got {tuple(dout.shape)}")
    xp = xp_of(dout)
    tiled = _tiles(x_shape, PH, PW, S)
    dx = (xp.empty if tiled else xp.zeros)(x_shape, dtype=dout.dtype)
    share = dout / dout.dtype.type(PH * PW)
    for _, view in _offset_views(dx, PH, PW, S, OH, OW, tiled):
        if tiled:
            view[...] = share
        else:
            view += share
    return dx


# ------------------------------------------------------------------------------------- adaptive average


def _adaptive_size(fn: str, output_size: Any, H: int, W: int) -> tuple[int, int]:
    """``int`` or ``(oh, ow)``; ``None`` in a slot keeps that input size (as torch)."""
    if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise ValueError(f"{fn}: output_size must be an int or a pair (oh, ow), got {output_size!r}")
    oh = H if output_size[0] is None else check_positive_int(fn, "output_size[0]", output_size[0])
    ow = W if output_size[1] is None else check_positive_int(fn, "output_size[1]", output_size[1])
    return oh, ow


def _bin_matrix(xp, n_in: int, n_out: int, dtype) -> Any:
    """(n_out, n_in) averaging matrix of adaptive pooling: row i averages ``[floor(i*n/o), ceil((i+1)*n/o))``."""
    A = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):  # a loop over output bins, not pixels
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        A[i, start:end] = 1.0 / (end - start)
    return xp.asarray(A)


def adaptive_avg_pool_forward(x, output_size: int | tuple[int | None, int | None]) -> tuple[Any, tuple]:
    """Adaptive average pooling, as ``torch.nn.AdaptiveAvgPool2d(output_size)``.

    Inputs:
    - x: (N, C, H, W).
    - output_size: ``o`` or ``(oh, ow)``.

    Output bin (i, j) averages rows ``[floor(i*H/oh), ceil((i+1)*H/oh))`` and the same for columns (bins may
    overlap when the size does not divide). Computed as ``out = A_h @ x @ A_w.T`` with the (oh, H) and (ow, W)
    averaging matrices.

    Returns ``out`` (N, C, oh, ow) and ``cache = (x.shape, A_h, A_w)``.
    """
    fn = "adaptive_avg_pool_forward"
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", float_only=True)
    xp = xp_of(x)
    N, C, H, W = x.shape
    oh, ow = _adaptive_size(fn, output_size, H, W)
    A_h, A_w = _bin_matrix(xp, H, oh, x.dtype), _bin_matrix(xp, W, ow, x.dtype)
    rows = (x.reshape(-1, W) @ A_w.T).reshape(N * C, H, ow)  # average over columns
    out = xp.tensordot(A_h, rows, axes=(1, 1))  # (oh, N*C, ow): average over rows
    out = xp.ascontiguousarray(out.transpose(1, 0, 2)).reshape(N, C, oh, ow)
    return out, (tuple(x.shape), A_h, A_w)


def adaptive_avg_pool_backward(dout, cache: tuple):
    """Backward pass of :func:`adaptive_avg_pool_forward`: ``dx = A_h.T @ dout @ A_w``.

    Returns ``dx`` (N, C, H, W).
    """
    check_array("adaptive_avg_pool_backward", "dout", dout)
    x_shape, A_h, A_w = cache
    N, C, H, W = x_shape
    oh, ow = A_h.shape[0], A_w.shape[0]
    if tuple(dout.shape) != (N, C, oh, ow):
        raise ValueError(f"adaptive_avg_pool_backward: dout must have shape {(N, C, oh, ow)}, "
                         f"got {tuple(dout.shape)}")
    xp = xp_of(dout)
    cols = (dout.reshape(-1, ow) @ A_w.astype(dout.dtype, copy=False)).reshape(N * C, oh, W)
    dx = xp.tensordot(A_h.astype(dout.dtype, copy=False), cols, axes=(0, 1))  # (H, N*C, W)
    return xp.ascontiguousarray(dx.transpose(1, 0, 2)).reshape(N, C, H, W)
