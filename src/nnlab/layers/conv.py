"""2-D convolution (cross-correlation, NCHW): a readable loop reference and a fast im2col + GEMM version.

Both versions share the CS231n contract::

    out, cache = conv_forward_*(x, w, b, conv_param)      # conv_param = {'stride': S, 'pad': P}
    dx, dw, db = conv_backward_*(dout, cache)

with ``x`` (N, C, H, W), ``w`` (F, C, KH, KW), ``b`` (F,) and ``out`` (N, F, H', W') where
``H' = floor((H + 2P - KH) / S) + 1`` (as ``torch.nn.functional.conv2d``: trailing rows that do not fill a
window are dropped) and ``out[n, f, i, j] = b[f] + sum_{c,p,q} xpad[n, c, i*S + p, j*S + q] * w[f, c, p, q]``
(no kernel flip). Zero padding of P on every side; ``x`` is never modified. Caches of the naive and the fast
versions are not interchangeable.

``conv_forward_fast`` runs one of several algorithms, chosen per call by ``conv_param['algo']``:

- ``'im2col'``: receptive fields by strided views, one batched GEMM (any kernel, stride, pad).
- ``'mec'``: memory-efficient convolution (``nnlab.layers.mec``): the input lowered along its columns only
  (KW copies instead of ``KH*KW``), one GEMM per output row on overlapping windows (any kernel, stride, pad).
- ``'winograd2'`` / ``'winograd4'``: Winograd F(2x2, 3x3) / F(4x4, 3x3) (``nnlab.layers.winograd``; 3x3
  kernels, stride 1, any pad), 2.25x / 4x fewer multiplications.
- ``'auto'`` (the default): :func:`choose_conv_algo`, a rule measured with ``benchmarks/bench_conv.py``.

The cache is ``(algo, inner_cache)``: it records which algorithm ran, and ``conv_backward_fast`` uses the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import parallel_for, scratch, split, xp_of
from ..validation import check_array
from .mec import conv_backward_mec, conv_forward_mec
from .winograd import conv_backward_winograd, conv_forward_winograd

__all__ = ["conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast",
           "choose_conv_algo", "CONV_ALGOS"]

CONV_ALGOS = ("auto", "im2col", "mec", "winograd2", "winograd4")
_WINOGRAD_TILE = {"winograd2": 2, "winograd4": 4}
_IM2COL_CHUNK_BYTES = 1 << 22  # im2col matrix per chunk of samples (see _samples_per_chunk)
_IM2COL_KEEP_BYTES = 1 << 25  # largest im2col matrix the forward keeps for the backward (see _samples_per_chunk)
_GROUP_FLOPS = 1 << 25  # multiply-adds per group of samples (see _batch_groups)


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


def _taps(a, KH: int, KW: int, S: int, OH: int, OW: int):
    """For each kernel offset (p, q), the (N, C, H', W') strided view ``a[:, :, p + i*S, q + j*S]`` of ``a``.

    ``a`` is a padded input (or its gradient); the view of offset (p, q) holds, at output position (i, j), the
    pixel that filter tap (p, q) meets there. No data is moved.
    """
    for p in range(KH):
        for q in range(KW):
            yield p, q, a[:, :, p:p + (OH - 1) * S + 1:S, q:q + (OW - 1) * S + 1:S]


def _im2col(x, KH: int, KW: int, S: int, P: int, OH: int, OW: int, reuse: bool = False):
    """Receptive fields as a stack of per-sample matrices, plus a row of ones for the bias.

    Returns ``cols`` of shape (N, C*KH*KW + 1, H'*W'): ``cols[n, (c, p, q), (i, j)] = xpad[n, c, i*S + p,
    j*S + q]`` (rows ordered (c, p, q) like ``w.reshape(F, -1)``'s columns) and ``cols[n, -1] = 1``. Filled
    by one strided copy per kernel offset (``KH*KW`` copies, each of N*C*H'*W' values). This layout makes
    ``[w | b] @ cols`` (a batched GEMM) land directly in NCHW order: no transpose of the output, no bias pass.
    ``reuse=True``: ``cols`` is the scratch buffer of the chunked path (valid until the next call), not a new array.
    """
    xp = xp_of(x)
    N, C, H, W = x.shape
    K = C * KH * KW
    size = N * (K + 1) * OH * OW
    cols = (scratch(xp, "im2col.cols", size, x.dtype) if reuse else xp.empty(size, dtype=x.dtype))
    cols = cols.reshape(N, K + 1, OH * OW)
    fields = cols[:, :K].reshape(N, C, KH, KW, OH, OW)  # a view of the first K rows
    xpad = x
    if P:  # the padded input in scratch: it does not outlive the call
        xpad = scratch(xp, "im2col.xpad", N * C * (H + 2 * P) * (W + 2 * P), x.dtype)
        xpad = xpad.reshape(N, C, H + 2 * P, W + 2 * P)
        xpad[:, :, :P] = 0
        xpad[:, :, H + P:] = 0
        xpad[:, :, P:H + P, :P] = 0
        xpad[:, :, P:H + P, W + P:] = 0
        xpad[:, :, P:H + P, P:W + P] = x
    for p, q, tap in _taps(xpad, KH, KW, S, OH, OW):
        fields[:, :, p, q] = tap
    cols[:, K] = 1
    return cols


def _col2im(dcols, x_shape: tuple, KH: int, KW: int, S: int, P: int, OH: int, OW: int, out=None):
    """Adjoint of :func:`_im2col` (without the ones row): sum the columns back onto the input grid.

    ``dcols`` is (N, C*KH*KW, H'*W'); one strided accumulation per kernel offset,
    ``dxpad[:, :, p + i*S, q + j*S] += dcols[:, (c, p, q), (i, j)]`` into a zeroed scratch grid, then the padding
    is cropped off into ``out`` (N, C, H, W) (a new array when None), which is returned.
    """
    xp = xp_of(dcols)
    N, C, H, W = x_shape
    dfields = dcols.reshape(N, C, KH, KW, OH, OW)
    Hp, Wp = H + 2 * P, W + 2 * P
    dxpad = scratch(xp, "im2col.dxpad", N * C * Hp * Wp, dcols.dtype).reshape(N, C, Hp, Wp)
    dxpad[...] = 0
    for p, q, tap in _taps(dxpad, KH, KW, S, OH, OW):
        tap += dfields[:, :, p, q]
    if out is None:
        out = xp.empty(x_shape, dtype=dcols.dtype)
    out[...] = dxpad[:, :, P:P + H, P:P + W]
    return out


def choose_conv_algo(x_shape: tuple, w_shape: tuple, stride: int, pad: int, dtype: Any) -> str:
    """The algorithm ``conv_param['algo'] = 'auto'`` runs for these shapes: ``'im2col'``, ``'mec'``,
    ``'winograd2'`` or ``'winograd4'``.

    Rule, measured at 1 thread with ``benchmarks/bench_conv.py --algos`` (README, Benchmarks):

    - Winograd for 3x3 kernels at stride 1 with at least 16 input and 16 output channels (but MEC for 16 to 23
      input channels on outputs of at least 24x24, and with F <= C for 16 to 23 channels from 16x16 and 24 to 31
      from 24x24: the few-channel tables below). Below that its
      GEMMs (inner dimension C) run far from the BLAS peak and the transforms (memory passes over the tiles)
      dominate: on 3x3 C3->32 F(2x2)/F(4x4) take 2.6x torch's time against im2col's 0.7-0.9x, on the MRI
      network's C8->32 at 84x84 1.4x against 1.1x.
    - F(4x4) rather than F(2x2) (both dtypes) unless its ragged last tiles waste the saving: F(4x4) when its
      multiplications, 36 * ceil(H'/4) * ceil(W'/4) per image and channel pair, are at most 3/4 of F(2x2)'s
      16 * ceil(H'/2) * ceil(W'/2) (square outputs: 3, 4, 7, 8 and from 11 up; 1, 2, 5, 6, 9, 10 take F(2x2)).
      Measured F(4x4) vs F(2x2), fwd + bwd float32, ratio to torch: C64->64 x(64,64,16,16) 1.17 vs 1.40,
      C32->64 1.19 vs 1.59, C128->128 x(32,128,8,8) 0.95 vs 0.98. Its float32 error, 6-9e-6 of ``max |out|``
      (15x im2col's, flat from C = 64 to 128), left the training of a 4-conv network unchanged
      (``nnlab.layers.winograd``, Accuracy), so float32 uses it too.
    - MEC for large kernels, when its lowered input is at least 3.5x smaller than the im2col matrix
      (KH / stride >= 3.5: 7x7 at stride 1 or 2, 5x5 and 4x4 at stride 1) and the GEMMs' inner dimension
      ``C*KH*KW`` is at least 64. Measured fwd + bwd (float32, ms, im2col -> MEC): 7x7 C3->32 x(50,3,32,32)
      37.0 -> 24.6 (without dx, as a first layer: 23.3 -> 16.1), 7x7 stride 2 C3->64 x(8,3,112,112) 25.6 ->
      23.0, 5x5 C3->32 19.0 -> 14.9, 5x5 C16->32 31.4 -> 20.8; where the saving is smaller it loses: 3x3 C3->32
      (inner dimension 27) 18.2 -> 21.1 (float64), 3x3 stride 2 C16->32 14.7 -> 21.0, 5x5 C1->32 4.8 -> 5.9.
    - 3x3 stride 1 on few channels (issue 21's sweep, CPU time at 1 thread, fwd + bwd float32, ms, im2col /
      MEC / F(4x4)): MEC where its KW-fold lowering beats both the 9-fold im2col copy and Winograd's transforms,
      which cost as much as the GEMMs at C < 24:

      ========================  ======  ======  =======  =========
      layer                     im2col   MEC    F(4x4)   chosen
      ========================  ======  ======  =======  =========
      C16->16 x(128,16,32,32)    35.5    29.6    37.5    MEC (ResNet-20's 1st stage; float64 68.6/61.9/78.7)
      C16->32 x(48,16,24,24)     11.6     9.6    10.0    MEC
      C16->32 x(192,16,16,16)    23.8    17.9    15.3    F(4x4) (H' < 24)
      C16->32 x(32,16,64,64)     45.8    46.2    55.6    MEC (~im2col)
      C12->24 x(128,12,16,16)    10.3     7.9     9.1    MEC
      C8->16 x(64,8,64,64)       34.4    29.6    55.6    MEC
      C8->16 x(96,8,32,32)       16.2    12.5    20.7    MEC (float64: 27.3 / 27.3 / 30.6)
      C8->32 x(32,8,84,84)       42.4    43.8    52.2    im2col (H'W' > 64^2: the MRI network's 2nd layer)
      C24->48 x(32,24,32,32)     25.1    23.7    22.1    F(4x4) (from C = 24 on, Winograd everywhere)
      C3->32 x(64,3,32,32)        5.7     7.3    18.4    im2col (C < 8)
      ========================  ======  ======  =======  =========

      So: 3x3 stride 1 with 16 <= C < 24 (and F >= 16) takes MEC when min(H', W') >= 24, Winograd below; with
      8 <= C < 16 MEC when ``H'*W' <= 64*64``, im2col above.

      With F <= C, MEC's backward computes dx as a transposed convolution (``nnlab.layers.mec``), which moved
      the line (issue 21, round two; same measure, float32, ms; load average 1.4-2 on the 2 CPUs):

      ========================  ======  ======  =======  =========
      layer (F = C)             im2col   MEC    F(4x4)   chosen
      ========================  ======  ======  =======  =========
      C16->16 x(128,16,32,32)    34.9    26.9    38.6    MEC (was 29.5 with the fold)
      C16->16 x(32,16,64,64)     31.5    26.5    40.3    MEC
      C16->16 x(128,16,16,16)    12.5     7.5     8.2    MEC (from min(H', W') >= 16 when F <= C)
      C16->16 x(256,16,8,8)       8.6     4.0     3.0    F(4x4)
      C24->24 x(16,24,64,64)     27.8    24.6    27.0    MEC
      C24->24 x(64,24,32,32)     31.6    25.8    29.4    MEC (24 <= C < 32 from min(H', W') >= 24 when F <= C)
      C28->28 x(64,28,32,32)     40.4    34.9    36.6    MEC
      C24->24 x(32,24,42,42)     27.1    23.1    23.2    MEC (~F(4x4))
      C24->24 x(128,24,16,16)    22.2    13.4    12.2    F(4x4)
      C32->32 x(64,32,32,32)     49.1    43.0    40.7    F(4x4) (from C = 32 on, Winograd)
      ========================  ======  ======  =======  =========

      Re-checked with the rule above (``bench_conv_sweep.py --repeats 3``, F = 2C below 64 channels, load 0.6,
      OpenBLAS Haswell kernels): over C in {8, 16, 24, 32, 48, 64, 96, 128} and sizes 8-64 (28 cases) ``auto``
      ran the fastest algorithm in 27, and C8->16 x(256,8,8,8) at 1.09x (MEC 2.57 ms, F(4x4) 2.36).
    - im2col otherwise (small kernels on few channels, strided 3x3, 1x1).
    """
    for name, shape in (("x_shape", x_shape), ("w_shape", w_shape)):
        if not isinstance(shape, (tuple, list)) or len(shape) != 4:
            raise ValueError(f"choose_conv_algo: {name} must be a shape of 4 ints, got {shape!r}")
    _, C, H, W = x_shape
    F, _, KH, KW = w_shape
    OH, OW = H + 2 * pad - KH + 1, W + 2 * pad - KW + 1
    if (KH, KW) == (3, 3) and stride == 1 and 16 <= C < 24 and F >= 16 and min(OH, OW) >= 24:
        return "mec"
    if (KH, KW) == (3, 3) and stride == 1 and 16 <= F <= C and min(OH, OW) >= (16 if C < 24 else 24) and C < 32:
        return "mec"
    if (KH, KW) == (3, 3) and stride == 1 and 8 <= C < 16 and OH * OW <= 64 * 64:
        return "mec"
    if (KH, KW) == (3, 3) and stride == 1 and C >= 16 and F >= 16:
        mults4 = 36 * -(-OH // 4) * -(-OW // 4)
        mults2 = 16 * -(-OH // 2) * -(-OW // 2)
        return "winograd4" if 4 * mults4 <= 3 * mults2 else "winograd2"
    if 2 * KH >= 7 * stride and C * KH * KW >= 64:
        return "mec"
    return "im2col"


def _algo(fn: str, x, w, conv_param: dict, stride: int) -> str:
    """The algorithm to run: ``conv_param['algo']`` checked against the shapes, or the automatic choice."""
    algo = conv_param.get("algo", "auto")
    if algo not in CONV_ALGOS:
        raise ValueError(f"{fn}: conv_param['algo'] must be one of {', '.join(map(repr, CONV_ALGOS))}, "
                         f"got {algo!r}")
    KH, KW = w.shape[2:]
    if algo in _WINOGRAD_TILE and ((KH, KW) != (3, 3) or stride != 1):
        raise ValueError(f"{fn}: conv_param['algo'] = {algo!r} needs a 3x3 kernel and stride 1, "
                         f"got a {KH}x{KW} kernel with stride {stride}")
    if algo == "auto":
        algo = choose_conv_algo(tuple(x.shape), tuple(w.shape), stride, int(conv_param.get("pad", 0)), x.dtype)
    return algo


def _samples_per_chunk(bytes_per_sample: int) -> int:
    """Samples per chunk of the im2col path: about ``_IM2COL_CHUNK_BYTES`` of im2col matrix each.

    An im2col matrix above ``_IM2COL_KEEP_BYTES`` is not kept: the forward builds it a chunk of samples at a
    time and the backward rebuilds it the same way; the backward's column gradient always goes a chunk at a
    time. Measured (CPU time, 1 thread): the MRI network's C8->32 84x84 layer, whose 66 MB matrix is beyond the
    size that the C allocator recycles (so each allocation costs ~16k page faults), fwd + bwd 126 -> 79 ms;
    below that size, rebuilding costs more than it saves (ThreeLayerConvNet's 30 MB: 40 -> 56 ms), so it is
    kept.
    """
    return max(1, _IM2COL_CHUNK_BYTES // max(bytes_per_sample, 1))


def conv_forward_fast(x, w, b, conv_param: dict) -> tuple[Any, tuple]:
    """Convolution forward pass by the fastest algorithm for the shapes (or the one ``conv_param['algo']`` names).

    Inputs and output as :func:`conv_forward_naive`; ``conv_param`` may also hold ``'algo'``: ``'auto'``
    (default, :func:`choose_conv_algo`), ``'im2col'``, ``'mec'``, ``'winograd2'`` or ``'winograd4'`` (3x3,
    stride 1 only).

    im2col: with ``cols`` the ``(N, C*KH*KW + 1, H'*W')`` receptive fields of :func:`_im2col` (last row: ones),
    ``out[n] = [w.reshape(F, -1) | b] @ cols[n]`` — one GEMM per sample in a single ``matmul`` call, written
    straight into ``(N, F, H'*W') = (N, F, H', W')``, the bias added by the GEMM itself. MEC: see
    :func:`nnlab.layers.mec.conv_forward_mec`; Winograd: :func:`nnlab.layers.winograd.conv_forward_winograd`.
    Keeps the input dtype.

    Threads: the batch is cut into groups of samples by :func:`_batch_groups` (a function of the shapes
    only), each group convolved on its own on nnlab's pool (``nnlab.parallel_for``); outputs and gradients
    are therefore the same at any thread count.

    Returns ``(out, cache)`` with cache ``(algo, inner_cache)`` for :func:`conv_backward_fast`; ``cache[0]``
    names the algorithm that ran.
    """
    S, P, OH, OW = _conv_geometry("conv_forward_fast", x, w, b, conv_param)
    algo = _algo("conv_forward_fast", x, w, conv_param, S)
    split_batch = algo not in _WINOGRAD_TILE and isinstance(x, np.ndarray)  # CuPy: one piece, on the GPU
    groups = _batch_groups(tuple(x.shape), tuple(w.shape), OH, OW) if split_batch else [(0, 0)]
    keep = x.shape[0] * (w[0].size + 1) * OH * OW * x.dtype.itemsize <= _IM2COL_KEEP_BYTES
    if len(groups) == 1:
        out, inner = _forward_one(algo, x, w, b, conv_param, S, P, OH, OW, keep)
        return out, (algo, inner)
    xp = xp_of(x, w)
    out = xp.empty((x.shape[0], w.shape[0], OH, OW), dtype=np.result_type(x.dtype, w.dtype))

    def group(bounds: tuple[int, int]):
        n0, n1 = bounds
        out_g, inner_g = _forward_one(algo, x[n0:n1], w, b, conv_param, S, P, OH, OW, keep)
        out[n0:n1] = out_g
        return inner_g

    return out, (algo, _BatchGroups(tuple(x.shape), groups, parallel_for(group, groups)))


class _BatchGroups:
    """The inner cache of a convolution run in groups of samples: the bounds and each group's own cache."""

    def __init__(self, x_shape: tuple, bounds: list, caches: list) -> None:
        self.x_shape, self.bounds, self.caches = x_shape, bounds, caches


def _batch_groups(x_shape: tuple, w_shape: tuple, OH: int, OW: int) -> list[tuple[int, int]]:
    """Groups of consecutive samples convolved one at a time (and on nnlab's threads), from the shapes only.

    A group holds about ``_GROUP_FLOPS`` multiply-adds of a direct convolution (``F*C*KH*KW*H'*W'`` per sample),
    so a problem below two groups' worth stays in one piece. Measured at 1 thread (CPU time, fwd + bwd,
    float32, one piece -> groups of 2^25): the MRI layer C8->32 x(32,8,84,84) 40.7 -> 40.8 ms, 7x7 C3->32
    (MEC) 17.2 -> 16.9, 3x3 C3->32 x(128,3,32,32) 12.9 -> 12.6, 3x3 stride 2 C16->32 18.5 -> 17.2: the split
    costs nothing at 1 thread; at 2 threads (load 0.7) the MRI layer 42.7 -> 23.3 ms and the 7x7 layer
    16.3 -> 9.3. Winograd is not split by samples (its tile-row chunks run on the threads instead): at 2
    threads its batch groups measured no faster and at 1 thread slower (C16->16 x(128,16,32,32) 36 -> 45 ms in
    groups of 2^24).
    """
    F, C, KH, KW = w_shape
    return split(x_shape[0], F * C * KH * KW * OH * OW, _GROUP_FLOPS)


def _forward_one(algo: str, x, w, b, conv_param: dict, S: int, P: int, OH: int, OW: int, keep: bool):
    """One group's forward by ``algo``: ``(out, inner_cache)``."""
    if algo in _WINOGRAD_TILE:
        return conv_forward_winograd(x, w, b, conv_param, m=_WINOGRAD_TILE[algo])
    if algo == "mec":
        return conv_forward_mec(x, w, b, conv_param)
    xp = xp_of(x, w)
    N, F = x.shape[0], w.shape[0]
    KH, KW = w.shape[2:]
    wb = xp.concatenate([w.reshape(F, -1), b.reshape(F, 1).astype(w.dtype, copy=False)], axis=1)  # (F, K+1)
    sample_bytes = wb.shape[1] * OH * OW * x.dtype.itemsize
    if keep:
        cols = _im2col(x, KH, KW, S, P, OH, OW)
        return xp.matmul(wb, cols).reshape(N, F, OH, OW), (x, w, cols, conv_param)
    out = xp.empty((N, F, OH * OW), dtype=np.result_type(wb.dtype, x.dtype))
    step = _samples_per_chunk(sample_bytes)
    for n0 in range(0, N, step):
        xp.matmul(wb, _im2col(x[n0:n0 + step], KH, KW, S, P, OH, OW, reuse=True), out=out[n0:n0 + step])
    return out.reshape(N, F, OH, OW), (x, w, None, conv_param)


def conv_backward_fast(dout, cache: tuple, need_dx: bool = True) -> tuple[Any, Any, Any]:
    """Convolution backward pass for :func:`conv_forward_fast`, by the algorithm its cache records.

    im2col: with ``g[n] = dout[n]`` as an ``(F, H'*W')`` matrix (a free reshape): ``[dw | db] = sum_n g[n] @
    cols[n].T`` (the ones row of ``cols`` gives ``db``), ``dcols[n] = w.reshape(F, -1).T @ g[n]`` and
    ``dx = col2im(dcols)`` (a loop over the ``KH*KW`` kernel offsets), a few samples at a time. MEC: see
    :func:`nnlab.layers.mec.conv_backward_mec`; Winograd: :func:`nnlab.layers.winograd.conv_backward_winograd`
    (all three gradients in the transformed domain).

    ``need_dx=False`` skips the input gradient (dcols and col2im, or dV and the adjoint input transform: about
    a third of the work) and returns ``dx = None``: for a network's first layer, whose input needs no gradient
    (what torch skips when the input has ``requires_grad=False``).

    A forward run in groups of samples goes back group by group on nnlab's threads; ``dw`` and ``db`` are
    the sums of the groups' in group order (the same at any thread count).

    Returns ``(dx, dw, db)`` shaped like x, w, b.
    """
    if not (isinstance(cache, tuple) and len(cache) == 2 and cache[0] in CONV_ALGOS[1:]):
        raise TypeError("conv_backward_fast: cache must be the (algo, inner_cache) pair from conv_forward_fast")
    algo, inner = cache
    if not isinstance(inner, _BatchGroups):
        return _backward_one(dout, algo, inner, need_dx)
    check_array("conv_backward_fast", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    N = inner.x_shape[0]
    if dout.shape[0] != N:
        raise ValueError(f"conv_backward_fast: dout must have {N} samples (as x), got shape {tuple(dout.shape)}")
    xp = xp_of(dout)
    dx = xp.empty(inner.x_shape, dtype=dout.dtype) if need_dx else None

    def group(i: int):
        n0, n1 = inner.bounds[i]
        dx_g, dw_g, db_g = _backward_one(dout[n0:n1], algo, inner.caches[i], need_dx)
        if need_dx:
            dx[n0:n1] = dx_g
        return dw_g, db_g

    parts = parallel_for(group, len(inner.bounds))
    dw, db = parts[0]
    for dw_g, db_g in parts[1:]:  # a fixed order: the result does not depend on the threads
        dw = dw + dw_g
        db = db + db_g
    return dx, dw, db


def _backward_one(dout, algo: str, inner, need_dx: bool) -> tuple[Any, Any, Any]:
    """One group's backward by ``algo`` (its forward's ``inner`` cache): ``(dx, dw, db)``."""
    if algo in _WINOGRAD_TILE:
        check_array("conv_backward_fast", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
        x_shape, w = inner[0], inner[1]
        expected = (x_shape[0], w.shape[0], x_shape[2] + 2 * inner[4].get("pad", 0) - 2,
                    x_shape[3] + 2 * inner[4].get("pad", 0) - 2)
        if tuple(dout.shape) != expected:
            raise ValueError(f"conv_backward_fast: dout must have shape {expected}, got {tuple(dout.shape)}")
        return conv_backward_winograd(dout, inner, need_dx=need_dx)
    if algo == "mec":
        check_array("conv_backward_fast", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
        (N, _, H, W), w, S, P = inner[0], inner[1], inner[4], inner[5]
        expected = (N, w.shape[0], (H + 2 * P - w.shape[2]) // S + 1, (W + 2 * P - w.shape[3]) // S + 1)
        if tuple(dout.shape) != expected:
            raise ValueError(f"conv_backward_fast: dout must have shape {expected}, got {tuple(dout.shape)}")
        return conv_backward_mec(dout, inner, need_dx=need_dx)
    x, w, cols, conv_param = inner
    xp = xp_of(dout, w)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    S, P = int(conv_param.get("stride", 1)), int(conv_param.get("pad", 0))
    OH, OW = (H + 2 * P - KH) // S + 1, (W + 2 * P - KW) // S + 1
    check_array("conv_backward_fast", "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"conv_backward_fast: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    g = xp.ascontiguousarray(dout).reshape(N, F, OH * OW)
    K = C * KH * KW
    step = _samples_per_chunk((K + 1) * OH * OW * x.dtype.itemsize)
    if cols is not None:
        dwb = xp.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)  # (F, K+1)
    else:  # the forward did not keep the im2col matrix: rebuild it a chunk at a time
        dwb = xp.zeros((F, K + 1), dtype=np.result_type(dout.dtype, x.dtype))
        for n0 in range(0, N, step):
            chunk = _im2col(x[n0:n0 + step], KH, KW, S, P, OH, OW, reuse=True)
            dwb += xp.matmul(g[n0:n0 + step], chunk.transpose(0, 2, 1)).sum(axis=0)
    dw, db = xp.ascontiguousarray(dwb[:, :-1]).reshape(w.shape), dwb[:, -1].copy()
    if not need_dx:
        return None, dw, db
    dx = xp.empty(x.shape, dtype=dout.dtype)
    wT = w.reshape(F, K).T
    for n0 in range(0, N, step):  # dcols and col2im a chunk at a time, in reused scratch: no second matrix
        n = min(N, n0 + step) - n0
        dcols = scratch(xp, "im2col.dcols", n * K * OH * OW, dx.dtype).reshape(n, K, OH * OW)
        xp.matmul(wT, g[n0:n0 + n], out=dcols)
        _col2im(dcols, (n, C, H, W), KH, KW, S, P, OH, OW, out=dx[n0:n0 + n])
    return dx, dw, db
