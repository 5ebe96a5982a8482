"""Memory-efficient convolution (MEC): lower the input along one axis only, then GEMMs on overlapping windows.

Cho & Brand, "MEC: Memory-efficient Convolution for Deep Neural Network" (ICML 2017): im2col copies every
input pixel KH*KW times; MEC copies it only KW times, into a matrix ``L`` whose consecutive row blocks are the
receptive fields of consecutive output rows, so that each output row is one GEMM on a *window* of ``L`` (a
strided view, no copy). Here, with stride S and padding P (xpad the padded input)::

    L[i', c, q, n, j] = xpad[n, c, i', j*S + q]            (Hp, C, KW, N, W')   "lowering", KW copies of x
    out[n, f, i, j] = b[f] + sum_{p, c, q} w[f, c, p, q] L[i*S + p, c, q, n, j]

For a fixed output row ``i`` the rows ``i*S .. i*S + KH - 1`` of L are contiguous, so their (p, c, q) entries
form one (KH*C*KW, N*W') matrix ``L_i`` with a single row stride, and ``Y_i = W_m @ L_i`` with ``W_m`` the
(F, KH*C*KW) filters in (p, c, q) order gives output row i of every sample and filter: H' GEMMs of size
F x KH*C*KW x N*W' in one batched ``matmul`` over the overlapping windows (``as_strided``). Backward, with
``dY_i`` the (F, N*W') output-row gradients: ``dW_m = sum_i dY_i @ L_i^T``; ``dL_i = W_m^T @ dY_i`` added back
onto the overlapping windows (KH strided adds), then the KW column copies of L folded back onto x.

Versus im2col (``nnlab.layers.conv``): the same multiply-adds, KH times less data written and read around the
GEMMs (the 7x7 C3->32 layer of ThreeLayerConvNet on x(50,3,32,32): a 5 MB L instead of a 30 MB im2col matrix),
and only L is kept for the backward. The GEMMs' inner dimension is KH*C*KW, as im2col's, so it pays for large
kernels on few channels (the first layer of a network); with small kernels (3x3 on 3 channels: inner dimension
27) the per-row GEMMs are too small and im2col is faster (``choose_conv_algo`` holds the measured rule).
Outputs are computed in (H', F, N, W') order and transposed into NCHW a few rows at a time, in the cache.

Accuracy: the same sums as im2col in another order. Against a float64 direct convolution (max |error| / max
|reference|): float64 1e-15; float32 5e-7 (out), 2e-7 (dx), 3-4e-7 (dw), as im2col (``bench_conv.py``
accuracy section; ``test_mec.py`` asserts 2e-6). Training: Adam turns rounding-level differences into
different trajectories within ~50 steps whatever the algorithm (a float32 ThreeLayerConvNet on CIFAR-10
differs from its float64 twin by 0.2 in loss after 50 steps with im2col, MEC, or im2col with W1 scaled by
1 + 1e-7 noise alike). One epoch of ``cifar10-convnet`` from one seed with W1 so perturbed reached val
0.421-0.457 with im2col and 0.416-0.486 with MEC (four perturbations each): the same distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import as_strided, scratch, xp_of
from ..validation import check_array
from .winograd import Stages

__all__ = ["conv_forward_mec", "conv_backward_mec"]

_ROWS_BYTES = 1 << 21  # output-row gradients / outputs per chunk of rows (see _row_chunks)


def _row_chunks(OH: int, row_bytes: int) -> list[tuple[int, int]]:
    """Output rows in chunks of about ``_ROWS_BYTES`` of (F, N*W') data, so that the GEMM's output is still in
    the cache when it is transposed into NCHW (and the backward's per-row gradients likewise)."""
    k = max(1, _ROWS_BYTES // max(row_bytes, 1))
    return [(i, min(OH, i + k)) for i in range(0, OH, k)]


def _columns(q: int, S: int, P: int, W: int, OW: int) -> tuple[int, int]:
    """Output columns ``j0 <= j < j1`` whose tap ``q`` lands inside x: ``0 <= j*S + q - P < W``."""
    j0 = max(0, -(-(P - q) // S))
    j1 = min(OW, (W - 1 + P - q) // S + 1)
    return j0, max(j0, j1)


def _geometry(fn: str, x, w, b, conv_param: dict) -> tuple[int, int, int, int]:
    """Validate an MEC convolution; return ``(S, P, H', W')``."""
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", float_only=True)
    check_array(fn, "w", w, ndim=4, shape_hint="(F, C, KH, KW)", float_only=True)
    check_array(fn, "b", b, ndim=1, shape_hint="(F,)", float_only=True)
    if not isinstance(conv_param, dict):
        raise TypeError(f"{fn}: conv_param must be a dict, got {type(conv_param).__name__}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{fn}: x has {x.shape[1]} channels but w expects {w.shape[1]}")
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"{fn}: b has shape {tuple(b.shape)} but w has {w.shape[0]} filters")
    S, P = conv_param.get("stride", 1), conv_param.get("pad", 0)
    for name, v, low in (("stride", S, 1), ("pad", P, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"{fn}: {name} must be an integer >= {low}, got {v!r}")
    KH, KW = w.shape[2:]
    Hp, Wp = x.shape[2] + 2 * P, x.shape[3] + 2 * P
    if KH > Hp or KW > Wp:
        raise ValueError(f"{fn}: kernel {KH}x{KW} is larger than the padded input {Hp}x{Wp}")
    return int(S), int(P), (Hp - KH) // S + 1, (Wp - KW) // S + 1


def _lower(x, KW: int, S: int, P: int, OW: int):
    """``L[i', c, q, n, j] = xpad[n, c, i', j*S + q]``, shape (H + 2P, C, KW, N, W'): KW strided copies of x
    (zeros where the tap falls in the padding)."""
    xp = xp_of(x)
    N, C, H, W = x.shape
    L = xp.empty((H + 2 * P, C, KW, N, OW), dtype=x.dtype)
    L[:P] = 0
    L[P + H:] = 0
    xt = x.transpose(2, 1, 0, 3)  # (H, C, N, W), a view
    for q in range(KW):
        j0, j1 = _columns(q, S, P, W, OW)
        L[P:P + H, :, q, :, :j0] = 0
        L[P:P + H, :, q, :, j1:] = 0
        if j1 > j0:
            L[P:P + H, :, q, :, j0:j1] = xt[:, :, :, j0 * S + q - P:(j1 - 1) * S + q - P + 1:S]
    return L


def _windows(L, KH: int, S: int, OH: int):
    """The (H', KH*C*KW, N*W') overlapping windows of L: window i is rows ``i*S .. i*S + KH - 1`` (no copy)."""
    Hp, C, KW, N, OW = L.shape
    s = L.strides
    return as_strided(L, (OH, KH * C * KW, N * OW), (S * s[0], s[2], s[4]))


def conv_forward_mec(x, w, b, conv_param: dict, profile: dict | None = None) -> tuple[Any, tuple]:
    """Convolution forward pass by MEC (any kernel size, stride and pad).

    Inputs: x (N, C, H, W), w (F, C, KH, KW), b (F,), conv_param ``{'stride': S, 'pad': P}``; ``profile``: a
    dict that receives the CPU seconds of each stage ("lower", "gemm", "store").
    Returns ``out`` (N, F, H', W') and a cache for :func:`conv_backward_mec` (it holds L, not an im2col matrix).

    ``Y = W_m @ L_i`` for all output rows i in one batched GEMM per chunk of rows, ``W_m`` = w in (f, p, c, q)
    order; the bias is added to the (rows, F, N*W') chunk, which is then transposed into ``out``.
    """
    fn = "conv_forward_mec"
    S, P, OH, OW = _geometry(fn, x, w, b, conv_param)
    clock = Stages(profile)
    xp = xp_of(x, w)
    dt = x.dtype
    N = x.shape[0]
    F, C, KH, KW = w.shape
    L = _lower(x, KW, S, P, OW)
    Lw = _windows(L, KH, S, OH)
    Wm = xp.ascontiguousarray(w.astype(dt, copy=False).transpose(0, 2, 1, 3)).reshape(F, KH * C * KW)
    bias = b.astype(dt, copy=False).reshape(F, 1)
    clock.lap("lower")
    out = xp.empty((N, F, OH, OW), dtype=dt)
    chunks = _row_chunks(OH, F * N * OW * dt.itemsize)
    Ybuf = scratch(xp, "mec.Y", (chunks[0][1] - chunks[0][0]) * F * N * OW, dt)
    for i0, i1 in chunks:
        Y = Ybuf[:(i1 - i0) * F * N * OW].reshape(i1 - i0, F, N * OW)
        xp.matmul(Wm, Lw[i0:i1], out=Y)
        xp.add(Y, bias, out=Y)
        clock.lap("gemm")
        out[:, :, i0:i1] = Y.reshape(i1 - i0, F, N, OW).transpose(2, 1, 0, 3)
        clock.lap("store")
    return out, (tuple(x.shape), w, L, Wm, S, P)


def conv_backward_mec(dout, cache: tuple, need_dx: bool = True, profile: dict | None = None) -> tuple[Any, Any, Any]:
    """Backward pass of :func:`conv_forward_mec`, a chunk of output rows at a time.

    With ``dY_i`` (F, N*W') the gradient of output row i (dout transposed, "load"): ``dW_m += L_i @ dY_i^T``
    summed over the rows ("dw gemm"), ``db = sum dout``; ``dL_i = W_m^T @ dY_i`` ("dx gemm") added onto rows
    ``i*S + p`` of dL, then ``dx[n, c, h, j*S + q - P] += dL[h + P, c, q, n, j]`` ("fold"). ``need_dx=False``
    skips dL and dx and returns ``dx = None``.

    With stride 1, a square kernel, ``P <= KH - 1`` and ``F <= C``, dx is instead the forward MEC convolution of
    dout with the flipped, transposed filters (``dx = conv(dout, w[:, :, ::-1, ::-1]^T, pad KH - 1 - P)``, "dx
    conv"): the same multiply-adds without the dL accumulation and its fold. Measured (CPU time, 1 thread,
    float32, the batch groups ``conv_forward_fast`` runs): C16->16 x(14,16,32,32) backward 1.81 -> 1.62 ms,
    x(8,16,64,64) 4.96 -> 4.30 ms; with F = 2C it measured equal (lowering dout costs more than the fold saves)
    and with C8 -> 16 slower, hence ``F <= C``.

    Returns ``(dx, dw, db)`` shaped like x, w, b.
    """
    x_shape, w, L, Wm, S, P = cache
    fn = "conv_backward_mec"
    check_array(fn, "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    xp = xp_of(dout, w)
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"{fn}: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    clock = Stages(profile)
    dt = L.dtype
    K = KH * C * KW
    Lw = _windows(L, KH, S, OH)
    dout = dout.astype(dt, copy=False)
    db = dout.sum(axis=(0, 2, 3)).astype(w.dtype, copy=False)
    chunks = _row_chunks(OH, F * N * OW * dt.itemsize)
    k = chunks[0][1] - chunks[0][0]
    dYbuf = scratch(xp, "mec.Y", k * F * N * OW, dt)
    dWbuf = scratch(xp, "mec.dW", k * K * F, dt)
    dWt = xp.zeros((K, F), dtype=dt)
    transposed = need_dx and S == 1 and KH == KW and P <= KH - 1 and F <= C
    fold = need_dx and not transposed
    if fold:
        dL = xp.zeros(L.shape, dtype=dt).reshape(L.shape[0], C * KW, N * OW)
        dLbuf = scratch(xp, "mec.dL", k * K * N * OW, dt)
    clock.lap("setup")
    for i0, i1 in chunks:
        dY = dYbuf[:(i1 - i0) * F * N * OW].reshape(i1 - i0, F, N, OW)
        dY[...] = dout[:, :, i0:i1].transpose(2, 1, 0, 3)
        dY = dY.reshape(i1 - i0, F, N * OW)
        clock.lap("load")
        dWc = dWbuf[:(i1 - i0) * K * F].reshape(i1 - i0, K, F)
        xp.matmul(Lw[i0:i1], dY.transpose(0, 2, 1), out=dWc)
        dWt += dWc.sum(axis=0)
        clock.lap("dw gemm")
        if not fold:
            continue
        dLc = dLbuf[:(i1 - i0) * K * N * OW].reshape(i1 - i0, KH, C * KW, N * OW)
        xp.matmul(Wm.T, dY, out=dLc.reshape(i1 - i0, K, N * OW))
        clock.lap("dx gemm")
        for p in range(KH):
            rows = dL[i0 * S + p:(i1 - 1) * S + p + 1:S]
            xp.add(rows, dLc[:, p], out=rows)
        clock.lap("fold")
    dw = xp.ascontiguousarray(dWt.T.reshape(F, KH, C, KW).transpose(0, 2, 1, 3)).astype(w.dtype, copy=False)
    if not need_dx:
        return None, dw, db
    if transposed:
        w_t = xp.ascontiguousarray(w.astype(dt, copy=False).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
        dx = conv_forward_mec(dout, w_t, xp.zeros(C, dtype=dt), {"stride": 1, "pad": KH - 1 - P})[0]
        clock.lap("dx conv")
        return dx, dw, db
    dL = dL.reshape(L.shape)
    dx = xp.zeros((N, C, H, W), dtype=dt)
    dxt = dx.transpose(2, 1, 0, 3)  # (H, C, N, W), a view
    for q in range(KW):
        j0, j1 = _columns(q, S, P, W, OW)
        if j1 > j0:
            view = dxt[:, :, :, j0 * S + q - P:(j1 - 1) * S + q - P + 1:S]
            xp.add(view, dL[P:P + H, :, q, :, j0:j1], out=view)
    clock.lap("fold")
    return dx, dw, db
