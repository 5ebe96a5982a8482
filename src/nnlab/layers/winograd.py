"""Winograd minimal filtering for 3x3 stride-1 convolutions, forward and backward (NCHW contract).

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016, arXiv:1509.09308), section 4:
F(m x m, 3 x 3) computes an m x m block of outputs from an a x a input tile (a = m + 2) as

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

with ``g`` the 3x3 filter, ``d`` the tile and ``(.)`` the elementwise product: a*a multiplications per tile and
channel pair instead of 9*m*m (F(2x2,3x3): 16 vs 36, 2.25x fewer; F(4x4,3x3): 36 vs 144, 4x fewer). The
matrices are the paper's (its eqs. 7-8 for m = 2, its section 4.2 for m = 4); they come from Toom-Cook
interpolation at the points 0, 1, -1 (m = 2) and 0, 1, -1, 2, -2 (m = 4), plus the point at infinity, and
``test_winograd.py`` checks the 1-D identity ``A^T [(G g) (.) (B^T d)] = correlate(d, g)`` exactly.

Over channels the product is a sum, so for each of the a*a tile positions ``xi`` it is one GEMM:
``M[xi] = V[xi] @ U[xi]`` with ``V[xi]`` the (T, C) transformed tiles (T = N * tiles per image) and ``U[xi]``
the (C, F) transformed filters — a*a GEMMs in one batched ``matmul``. Everything is linear in ``d`` and in ``g``,
so the backward pass stays in the transformed domain: with ``dM`` the adjoint output transform of ``dout``,
``dU[xi] = V[xi]^T @ dM[xi]`` (then ``dw = G^T dU G``) and ``dV[xi] = dM[xi] @ U[xi]^T`` (then ``dx`` is the
adjoint input transform: ``B dV B^T`` scattered back onto the overlapping tiles).

Layout: internally "HWNC" (rows, columns, samples, channels), so that every transform is a handful of
elementwise passes over long contiguous runs of N*C values; x is transposed in once and the output out once.
Any padding P; H' = H + 2P - 2 and W' need not be multiples of m (the last tiles are zero-padded, their extra
outputs dropped). The input transform is computed separably, rows then columns, straight from the padded input.

Accuracy (float32, relative to max |out| of a float64 direct convolution; x, w standard normal; measured by
``test_winograd.py`` and ``benchmarks/bench_conv.py``): F(2x2) ~3-5e-7 (im2col ~2-3e-7) for C = 64..128,
F(4x4) ~5e-6 - 1e-5 — its transform entries up to 8 and 1/24 lose about 4 bits. The error is relative to the
output's scale, so it does not depend on the scale of x or w. float64: F(2x2) ~1e-15, F(4x4) ~1e-14.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..validation import check_array

__all__ = ["conv_forward_winograd", "conv_backward_winograd", "winograd_matrices", "WINOGRAD_TILES"]

WINOGRAD_TILES = (2, 4)

# Lavin & Gray (2015), F(2x2, 3x3): interpolation points 0, 1, -1 and infinity.
_BT2 = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
_G2 = [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]
_AT2 = [[1, 1, 1, 0], [0, 1, -1, -1]]
# Lavin & Gray (2015), F(4x4, 3x3): interpolation points 0, 1, -1, 2, -2 and infinity.
_BT4 = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
_G4 = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
       [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
_AT4 = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


def winograd_matrices(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(B^T, G, A^T)`` of F(m, 3) as float64 arrays: shapes (a, a), (a, 3), (m, a) with a = m + 2."""
    if m == 2:
        return np.array(_BT2, float), np.array(_G2, float), np.array(_AT2, float)
    if m == 4:
        return np.array(_BT4, float), np.array(_G4, float), np.array(_AT4, float)
    raise ValueError(f"winograd_matrices: m must be one of {WINOGRAD_TILES}, got {m!r}")


# ------------------------------------------------------------------------------------------ helpers


def _combine(mat: np.ndarray, ins: list, outs: list, tmp) -> None:
    """``outs[i] = sum_k mat[i, k] * ins[k]`` with in-place ufuncs (no temporaries but ``tmp``).

    The transform matrices are small and sparse with entries mostly +-1, so this costs one pass per nonzero
    term (two for a term whose coefficient is not +-1): far cheaper than a GEMM with an inner dimension of 4 or 6.
    ``ins`` and ``outs`` are arrays (or strided views) of one shape; ``tmp`` is scratch of that shape.
    """
    xp = xp_of(outs[0])
    for i, out in enumerate(outs):
        terms = [(k, float(c)) for k, c in enumerate(mat[i]) if c != 0]
        (k0, c0), rest = terms[0], terms[1:]
        if rest and c0 == 1 and abs(rest[0][1]) == 1:
            (xp.add if rest[0][1] == 1 else xp.subtract)(ins[k0], ins[rest[0][0]], out=out)
            rest = rest[1:]
        elif rest and c0 == -1 and rest[0][1] == 1:
            xp.subtract(ins[rest[0][0]], ins[k0], out=out)
            rest = rest[1:]
        elif c0 == 1:
            out[...] = ins[k0]
        else:
            xp.multiply(ins[k0], c0, out=out)
        for k, c in rest:
            if c == 1:
                xp.add(out, ins[k], out=out)
            elif c == -1:
                xp.subtract(out, ins[k], out=out)
            else:
                xp.multiply(ins[k], c, out=tmp)
                xp.add(out, tmp, out=out)


def _nchw_to_hwnc(x, out) -> None:
    """Copy x (N, C, H, W) into ``out`` (H, W, N, C), one image row at a time (a cache-friendly transpose)."""
    for h in range(x.shape[2]):
        out[h] = x[:, :, h, :].transpose(2, 0, 1)


def _hwnc_to_nchw(y, out, bias=None) -> None:
    """Copy y (H, W, N, F) into ``out`` (N, F, H, W), plus ``bias`` (F,) if given, one row at a time."""
    xp = xp_of(y)
    for h in range(out.shape[2]):
        src = y[h].transpose(1, 2, 0)  # (N, F, W)
        if bias is None:
            out[:, :, h, :] = src
        else:
            xp.add(src, bias[:, None], out=out[:, :, h, :])


def _geometry(fn: str, x, w, b, conv_param: dict, m: int) -> tuple[int, int, int, int, int]:
    """Validate a Winograd convolution; return ``(P, H', W', tiles_h, tiles_w)``."""
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", float_only=True)
    check_array(fn, "w", w, ndim=4, shape_hint="(F, C, 3, 3)", float_only=True)
    check_array(fn, "b", b, ndim=1, shape_hint="(F,)", float_only=True)
    if m not in WINOGRAD_TILES:
        raise ValueError(f"{fn}: m must be one of {WINOGRAD_TILES}, got {m!r}")
    if tuple(w.shape[2:]) != (3, 3):
        raise ValueError(f"{fn}: Winograd F(m x m, 3 x 3) needs a 3x3 kernel, got {w.shape[2]}x{w.shape[3]}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{fn}: x has {x.shape[1]} channels but w expects {w.shape[1]}")
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"{fn}: b has shape {tuple(b.shape)} but w has {w.shape[0]} filters")
    S, P = conv_param.get("stride", 1), conv_param.get("pad", 0)
    if S != 1:
        raise ValueError(f"{fn}: Winograd needs stride 1, got {S!r}")
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 0:
        raise ValueError(f"{fn}: pad must be a non-negative integer, got {P!r}")
    OH, OW = x.shape[2] + 2 * P - 2, x.shape[3] + 2 * P - 2
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: kernel 3x3 is larger than the padded input (x shape {tuple(x.shape)}, pad {P})")
    return int(P), OH, OW, -(-OH // m), -(-OW // m)


def _filter_transform(w, G) -> Any:
    """``U[i, j, c, f] = sum_{p,q} G[i, p] w[f, c, p, q] G[j, q]``: (a, a, C, F), C-contiguous."""
    Gw = G @ w  # (F, C, a, 3)
    U = Gw @ G.T  # (F, C, a, a)
    return xp_of(w).ascontiguousarray(U.transpose(2, 3, 1, 0))


# ------------------------------------------------------------------------------------------ kernels


def conv_forward_winograd(x, w, b, conv_param: dict, m: int = 2) -> tuple[Any, tuple]:
    """Convolution forward pass (3x3 kernel, stride 1, any pad) by Winograd F(m x m, 3 x 3), m = 2 or 4.

    Inputs: x (N, C, H, W), w (F, C, 3, 3), b (F,), conv_param ``{'stride': 1, 'pad': P}``.
    Returns ``out`` (N, F, H + 2P - 2, W + 2P - 2) (same dtype as x) and a cache for
    :func:`conv_backward_winograd`.

    Stages (with a = m + 2, T = N * ceil(H'/m) * ceil(W'/m) tiles): the zero-padded input is transposed to
    (Hp, Wp, N, C); ``V = B^T d B`` for every tile, rows then columns -> (a, a, T, C); ``U = G g G^T`` ->
    (a, a, C, F); one batched GEMM ``M = V @ U`` -> (a, a, T, F); ``Y = A^T M A`` -> (m, m, T, F), written as
    the (H', W', N, F) output grid; transposed to NCHW with the bias added.
    """
    fn = "conv_forward_winograd"
    P, OH, OW, TH, TW = _geometry(fn, x, w, b, conv_param, m)
    xp = xp_of(x, w)
    dt = x.dtype
    BT, G, AT = (mat.astype(dt) for mat in winograd_matrices(m))
    a = m + 2
    N, C, H, W = x.shape
    F = w.shape[0]
    Hp, Wp = TH * m + 2, TW * m + 2
    # padded input, channels last
    xpad = xp.zeros((Hp, Wp, N, C), dtype=dt)
    _nchw_to_hwnc(x, xpad[P:P + H, P:P + W])
    # input transform: rows (k -> i) then columns (l -> j)
    t = xp.empty((a, TH, Wp, N, C), dtype=dt)
    _combine(BT, [xpad[k:k + (TH - 1) * m + 1:m] for k in range(a)], t, xp.empty(t.shape[1:], dt))
    V = xp.empty((a, a, TH, TW, N, C), dtype=dt)
    tmp = xp.empty(V.shape[2:], dt)
    for i in range(a):
        _combine(BT, [t[i][:, k:k + (TW - 1) * m + 1:m] for k in range(a)], V[i], tmp)
    del t
    U = _filter_transform(w.astype(dt, copy=False), G)
    T = TH * TW * N
    M = xp.matmul(V.reshape(a * a, T, C), U.reshape(a * a, C, F)).reshape(a, a, TH, TW, N, F)
    Y = _output_transform(M, AT, m)  # (TH*m, TW*m, N, F)
    out = xp.empty((N, F, OH, OW), dtype=dt)
    _hwnc_to_nchw(Y[:OH, :OW], out, b.astype(dt, copy=False))
    return out, (tuple(x.shape), w, V, U, conv_param, m)


def _output_transform(M, AT, m: int):
    """``Y = A^T M A`` per tile: M (a, a, TH, TW, N, F) -> the output grid (TH*m, TW*m, N, F)."""
    xp = xp_of(M)
    a, _, TH, TW, N, F = M.shape
    s = xp.empty((m, a, TH, TW, N, F), dtype=M.dtype)
    _combine(AT, M, s, xp.empty(s.shape[1:], M.dtype))
    Y = xp.empty((TH, m, TW, m, N, F), dtype=M.dtype)
    tmp = xp.empty((TH, TW, N, F), M.dtype)
    for r in range(m):
        _combine(AT, s[r], [Y[:, r, :, c] for c in range(m)], tmp)
    return Y.reshape(TH * m, TW * m, N, F)


def conv_backward_winograd(dout, cache: tuple, need_dx: bool = True) -> tuple[Any, Any, Any]:
    """Backward pass of :func:`conv_forward_winograd`, in the transformed domain.

    With ``dM = A dY A^T`` per tile (the adjoint of the output transform; dY the tiles of dout):
    ``dU[xi] = V[xi]^T @ dM[xi]`` and ``dw[f, c] = G^T dU[.., c, f] G``; ``db = sum_{n,i,j} dout``;
    ``dV[xi] = dM[xi] @ U[xi]^T`` and ``dx`` = ``B dV B^T`` added back onto the overlapping input tiles
    (columns then rows), the padding cropped off. ``need_dx=False`` skips dV and dx (returns ``dx = None``).

    Returns ``(dx, dw, db)`` shaped like x, w, b.
    """
    x_shape, w, V, U, conv_param, m = cache
    fn = "conv_backward_winograd"
    check_array(fn, "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    xp = xp_of(dout, w)
    N, C, H, W = x_shape
    F = w.shape[0]
    P = int(conv_param.get("pad", 0))
    OH, OW = H + 2 * P - 2, W + 2 * P - 2
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"{fn}: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    dt = V.dtype
    BT, G, AT = (mat.astype(dt) for mat in winograd_matrices(m))
    a = m + 2
    TH, TW = V.shape[2], V.shape[3]
    T = TH * TW * N
    dout = dout.astype(dt, copy=False)
    # dY: dout as the (TH*m, TW*m, N, F) output grid, zero beyond (H', W')
    dY = xp.empty((TH * m, TW * m, N, F), dtype=dt) if (OH, OW) == (TH * m, TW * m) \
        else xp.zeros((TH * m, TW * m, N, F), dtype=dt)
    _nchw_to_hwnc(dout, dY[:OH, :OW])
    dY = dY.reshape(TH, m, TW, m, N, F)
    # dM = A dY A^T: rows (r -> i), then columns (c -> j)
    A = np.ascontiguousarray(AT.T)
    ds = xp.empty((a, TH, TW, m, N, F), dtype=dt)
    _combine(A, [dY[:, r] for r in range(m)], ds, xp.empty(ds.shape[1:], dt))
    dM = xp.empty((a, a, TH, TW, N, F), dtype=dt)
    tmp = xp.empty((TH, TW, N, F), dt)
    for i in range(a):
        _combine(A, [ds[i][:, :, c] for c in range(m)], dM[i], tmp)
    dM = dM.reshape(a * a, T, F)
    dU = xp.matmul(V.reshape(a * a, T, C).transpose(0, 2, 1), dM)  # (a*a, C, F)
    dU = dU.reshape(a, a, C, F)
    dw = xp.ascontiguousarray((G.T @ dU.transpose(3, 2, 0, 1) @ G).astype(w.dtype, copy=False))  # (F, C, 3, 3)
    db = dout.sum(axis=(0, 2, 3)).astype(w.dtype, copy=False)
    if not need_dx:
        return None, dw, db
    dV = xp.matmul(dM, U.reshape(a * a, C, F).transpose(0, 2, 1)).reshape(a, a, TH, TW, N, C)
    del dM
    dx = _input_transform_adjoint(dV, BT, m, H, W, P)
    return dx, dw, db


def _input_transform_adjoint(dV, BT, m: int, H: int, W: int, P: int):
    """Adjoint of the input transform: dV (a, a, TH, TW, N, C) -> dx (N, C, H, W).

    Columns first: ``dt[i][:, l + m*tw] += sum_j B^T[j, l] dV[i, j][:, tw]`` (tiles overlap by 2 columns: the
    first m offsets are written, the last 2 added); then rows the same way into the padded (Hp, Wp, N, C) grid.
    """
    xp = xp_of(dV)
    a, _, TH, TW, N, C = dV.shape
    Hp, Wp = TH * m + 2, TW * m + 2
    B = np.ascontiguousarray(BT.T)
    dt = xp.zeros((a, TH, Wp, N, C), dtype=dV.dtype)
    part = xp.empty((a - m, TH, TW, N, C), dtype=dV.dtype)
    tmp = xp.empty((TH, TW, N, C), dtype=dV.dtype)
    for i in range(a):
        cols = [dt[i][:, k:k + (TW - 1) * m + 1:m] for k in range(m)] + list(part)
        _combine(B, dV[i], cols, tmp)
        for k in range(m, a):
            view = dt[i][:, k:k + (TW - 1) * m + 1:m]
            xp.add(view, part[k - m], out=view)
    del part, tmp
    dxpad = xp.zeros((Hp, Wp, N, C), dtype=dV.dtype)
    rows = [dxpad[k:k + (TH - 1) * m + 1:m] for k in range(m)] + [xp.empty((TH, Wp, N, C), dV.dtype)
                                                                   for _ in range(a - m)]
    _combine(B, dt, rows, xp.empty((TH, Wp, N, C), dV.dtype))
    for k in range(m, a):
        view = dxpad[k:k + (TH - 1) * m + 1:m]
        xp.add(view, rows[k], out=view)
    dx = xp.empty((N, C, H, W), dtype=dV.dtype)
    _hwnc_to_nchw(dxpad[P:P + H, P:P + W], dx)
    return dx
