"""Winograd minimal filtering for 3x3 stride-1 convolutions, forward and backward (NCHW contract).

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016, arXiv:1509.09308), section 4:
F(m x m, 3 x 3) computes an m x m block of outputs from an a x a input tile (a = m + 2) as

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

with ``g`` the 3x3 filter, ``d`` the tile and ``(.)`` the elementwise product: a*a multiplications per tile and
channel pair instead of 9*m*m (F(2x2,3x3): 16 vs 36, 2.25x fewer; F(4x4,3x3): 36 vs 144, 4x fewer). The
matrices B^T, G, A^T below are the ones the paper gives for F(2, 3) and F(4, 3); they come from Toom-Cook
interpolation at the points 0, 1, -1 (m = 2) and 0, 1, -1, 2, -2 (m = 4), plus the point at infinity, and
``test_winograd.py`` checks the 1-D identity ``A^T [(G g) (.) (B^T d)] = correlate(d, g)`` to 1e-13.

Over channels the product is a sum, so for each of the a*a tile positions ``xi`` it is one GEMM:
``M[xi] = V[xi] @ U[xi]`` with ``V[xi]`` the (T, C) transformed tiles (T = N * tiles per image) and ``U[xi]``
the (C, F) transformed filters — a*a GEMMs in one batched ``matmul``. Everything is linear in ``d`` and in ``g``,
so the backward pass stays in the transformed domain: with ``dM`` the adjoint output transform of ``dout``,
``dU[xi]^T = dM[xi]^T @ V[xi]`` (then ``dw = G^T dU G``) and ``dV[xi] = dM[xi] @ U[xi]^T`` (then ``dx`` is the
adjoint input transform: ``B dV B^T`` scattered back onto the overlapping tiles).

Layout: internally "HWNC" (rows, columns, samples, channels), so that every transform is a handful of
elementwise passes over long contiguous runs of N*C values (NHWC's runs of C values measured 3-4x slower);
x is transposed in and the output out once. Each pass of a transform is one NumPy call over all the a rows
(or columns) of a chunk's tiles, not one per row: 3x fewer calls, each a times larger, which is what lets two
threads share the work (a call of a few hundred KiB spends its time handing the GIL over; see
``nnlab.threads``). Measured (issue 21, round three; wall ms fwd + bwd at 1 / 2 threads, load 1.0, before ->
after): MRI C32->32 x(32,32,42,42) 23.2 / 23.0 -> 23.3 / 16.6; C16->16 x(128,16,32,32) 32.2 / 29.7 -> 30.4 /
20.2; C32->32 x(128,32,16,16) 12.8 / 14.3 -> 12.9 / 9.7; C64->64 x(128,64,16,16) 34.2 / 24.8 -> 35.2 / 22.1;
the bits are the same. The work goes a few tile rows at a time (see ``_chunks``), so
that the temporaries stay in the cache; only V (a*a/m^2 times the size of x) is kept for the backward. Any
padding P; H' = H + 2P - 2 and W' need not be multiples of m (the last tiles are zero-padded, their extra
outputs dropped).

Accuracy, float32, as ``max |error| / max |reference|`` against a float64 direct convolution (measured by
``benchmarks/bench_conv.py``, section accuracy, C = 64 and 128, x and w at unit scale, He scale and
x * 30, w * 0.03 — the relative error does not depend on the scale): im2col 5-6e-7 (out), 2-3e-7 (dx, dw);
F(2x2) 3-5e-7 (out, dx), 5-7e-7 (dw); F(4x4) 6-9e-6 (out), 3-6e-6 (dx), 4-7e-6 (dw), about 15x im2col's,
from the transform entries up to 8 and the 1/24, 1/6 that are not exact in binary. Tested bounds against
torch: float32 1e-5 (F(2x2)) and 4e-5 (F(4x4)); float64 1e-12 (measured ~1e-15 and ~3e-15). Training a
4-conv network on digits with F(4x4) gives the same final loss and accuracy as im2col (the trajectories
differ from float64 as much as im2col's do from float64 with weights perturbed by 1e-7).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..backend import as_strided, parallel_for, scratch, split, xp_of
from ..threads import GEMM_CHUNK_MACS
from ..validation import check_array

__all__ = ["conv_forward_winograd", "conv_backward_winograd", "winograd_matrices", "WINOGRAD_TILES"]

WINOGRAD_TILES = (2, 4)
_CHUNK_BYTES = 1 << 22  # transformed data per chunk of tile rows (see _chunks)
_FILTER_CHUNK_BYTES = 1 << 22  # transformed filters per block (see _filter_transform)
_TRANSPOSE_BLOCK = 512  # (n, c) pairs per block of the NCHW -> HWNC transpose (see _load_rows)
_STRIDE_PAD = 16  # extra entries between the rows of the grids that are transposed to NCHW (see _padded)

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


# Factored F(4x4, 3x3) transforms: the same linear maps as _combine with the matrices above, with common
# subexpressions shared (19, 13, 13 and 22 passes instead of 28, 20, 22 and 30).


def _bt4(d: list, t: list, tmp) -> None:
    """``t = B^T d`` for F(4, 3): t0 = 4(d0 - d2) + (d4 - d2), t1 = (d3 + d4) - 4(d1 + d2),
    t2 = 4(d1 - d2) + (d4 - d3), t3/t4 = (d4 - d2) -/+ 2(d1 - d3), t5 = 4(d1 - d3) + (d5 - d3)."""
    xp = xp_of(t[0])
    xp.subtract(d[4], d[2], out=t[3])
    xp.subtract(d[0], d[2], out=t[0])
    xp.multiply(t[0], 4, out=t[0])
    xp.add(t[0], t[3], out=t[0])
    xp.subtract(d[1], d[3], out=tmp)
    xp.multiply(tmp, 2, out=tmp)
    xp.add(t[3], tmp, out=t[4])
    xp.subtract(t[3], tmp, out=t[3])
    xp.subtract(d[5], d[3], out=t[5])
    xp.multiply(tmp, 2, out=tmp)
    xp.add(t[5], tmp, out=t[5])
    xp.add(d[1], d[2], out=t[1])
    xp.multiply(t[1], -4, out=t[1])
    xp.add(d[3], d[4], out=tmp)
    xp.add(t[1], tmp, out=t[1])
    xp.subtract(d[1], d[2], out=t[2])
    xp.multiply(t[2], 4, out=t[2])
    xp.subtract(d[4], d[3], out=tmp)
    xp.add(t[2], tmp, out=t[2])


def _at4(mm: list, y: list, tmp) -> None:
    """``y = A^T m`` for F(4, 3): with a, b = m1 +/- m2 and c, d = m3 +/- m4: y0 = m0 + a + c, y1 = b + 2d,
    y2 = a + 4c, y3 = b + 8d + m5."""
    xp = xp_of(y[0])
    xp.add(mm[1], mm[2], out=y[0])
    xp.add(mm[3], mm[4], out=tmp)
    xp.multiply(tmp, 4, out=y[2])
    xp.add(y[2], y[0], out=y[2])
    xp.add(y[0], tmp, out=y[0])
    xp.add(y[0], mm[0], out=y[0])
    xp.subtract(mm[1], mm[2], out=y[1])
    xp.subtract(mm[3], mm[4], out=tmp)
    xp.multiply(tmp, 8, out=y[3])
    xp.add(y[3], y[1], out=y[3])
    xp.add(y[3], mm[5], out=y[3])
    xp.multiply(tmp, 2, out=tmp)
    xp.add(y[1], tmp, out=y[1])


def _a4(g: list, dm: list, tmp) -> None:
    """``dm = A g`` (adjoint of :func:`_at4`): dm1/dm2 = (g0 + g2) +/- (g1 + g3), dm3/dm4 = (g0 + 4 g2) +/-
    2 (g1 + 4 g3), dm0 = g0, dm5 = g3."""
    xp = xp_of(dm[0])
    xp.add(g[0], g[2], out=dm[1])
    xp.add(g[1], g[3], out=tmp)
    xp.subtract(dm[1], tmp, out=dm[2])
    xp.add(dm[1], tmp, out=dm[1])
    xp.multiply(g[2], 4, out=dm[3])
    xp.add(dm[3], g[0], out=dm[3])
    xp.multiply(g[3], 4, out=tmp)
    xp.add(tmp, g[1], out=tmp)
    xp.multiply(tmp, 2, out=tmp)
    xp.subtract(dm[3], tmp, out=dm[4])
    xp.add(dm[3], tmp, out=dm[3])
    dm[0][...] = g[0]
    dm[5][...] = g[3]


def _b4(v: list, d: list, tmp) -> None:
    """``d = B v`` (adjoint of :func:`_bt4`): d0 = 4 v0, d4 = v0 + s12 + s34, d2 = -5 v0 - 4 s12 - s34 with
    s12 = v1 + v2, s34 = v3 + v4; with p = v2 - v1, q = v4 - v3: d1 = 4p + 2q + 4 v5, d3 = -p - 2q - 5 v5;
    d5 = v5."""
    xp = xp_of(d[0])
    xp.add(v[1], v[2], out=d[4])
    xp.add(v[3], v[4], out=tmp)
    xp.multiply(d[4], -4, out=d[2])
    xp.subtract(d[2], tmp, out=d[2])
    xp.add(d[4], tmp, out=d[4])
    xp.add(d[4], v[0], out=d[4])
    xp.multiply(v[0], 5, out=tmp)
    xp.subtract(d[2], tmp, out=d[2])
    xp.multiply(v[0], 4, out=d[0])
    xp.subtract(v[2], v[1], out=d[1])
    xp.subtract(v[4], v[3], out=tmp)
    xp.multiply(tmp, -2, out=d[3])
    xp.subtract(d[3], d[1], out=d[3])
    xp.multiply(tmp, 2, out=tmp)
    xp.multiply(d[1], 4, out=d[1])
    xp.add(d[1], tmp, out=d[1])
    xp.multiply(v[5], 4, out=tmp)
    xp.add(d[1], tmp, out=d[1])
    xp.add(tmp, v[5], out=tmp)
    xp.subtract(d[3], tmp, out=d[3])
    d[5][...] = v[5]


_FACTORED = {"BT": _bt4, "AT": _at4, "A": _a4, "B": _b4}


def _transform(kind: str, mat: np.ndarray, ins, outs, tmp) -> None:
    """``outs = mat @ ins`` along the list axis; ``kind`` names the matrix (``'BT'``, ``'AT'`` or their
    transposes ``'B'``, ``'A'``). F(4) uses the factored passes above, F(2) (entries +-1) :func:`_combine`."""
    if mat.shape[1] == 6 or mat.shape[0] == 6:
        _FACTORED[kind](list(ins), list(outs), tmp)
    else:
        _combine(mat, ins, outs, tmp)


class Stages:
    """Adds the CPU time (``time.process_time``: every thread of the process, so at one BLAS thread the work
    itself, whatever else loads the machine) of named stages into ``profile`` (a dict) when one is given;
    otherwise free."""

    def __init__(self, profile: dict | None) -> None:
        self.profile = profile
        self.t = time.process_time() if profile is not None else 0.0

    def lap(self, name: str) -> None:
        if self.profile is not None:
            now = time.process_time()
            self.profile[name] = self.profile.get(name, 0.0) + now - self.t
            self.t = now


def _chunks(n_rows: int, row_bytes: int) -> list[tuple[int, int]]:
    """Split ``n_rows`` tile rows into chunks of about ``_CHUNK_BYTES`` of transformed data each.

    Working on a few tile rows at a time keeps every temporary (the GEMM output, the transforms' scratch) in the
    cache and small enough for the allocator to reuse: one big temporary per stage costs a page fault per 4 KiB
    (measured: two fresh 17 MB arrays take 5 ms, as long as the GEMM they feed). F(4x4) forward + backward
    on x(32,32,42,42), C32->64, CPU time: 80 ms in 2 MiB chunks, 130 ms in one piece; 1-4 MiB measure alike.
    4 MiB rather than 2 (issue 21, round two; wall ms at 1 / 2 threads, load 0.5): the MRI network's C32->32 on
    x(32,32,42,42), one tile row per chunk at 2 MiB, 32.3 / 27.6 -> 31.0 / 22.9 (fewer, larger NumPy calls:
    less time holding the GIL per byte); C32->64 x(128,32,32,32), C64->64 x(128,64,16,16), C128->128
    x(128,128,8,8) unchanged (8 MiB put the last in one piece: 1.0x at 2 threads).
    A problem of at most two chunks' worth goes in one piece (half the NumPy calls: C128->128 on x(32,128,8,8),
    2.4 MB, fwd + bwd 13.4 -> 11.7 ms).
    """
    if n_rows * row_bytes <= 2 * _CHUNK_BYTES:
        return [(0, n_rows)]
    k = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    return [(r, min(n_rows, r + k)) for r in range(0, n_rows, k)]


def _run(chunk, chunks: list, xp) -> list:
    """The chunks on nnlab's threads (``parallel_for``) for NumPy arrays; one after another for CuPy (its
    kernels queue on one GPU stream anyway). The results in chunk order."""
    return parallel_for(chunk, chunks) if xp is np else [chunk(c) for c in chunks]


def _bmm(a, b, out=None):
    """``a @ b`` for stacks of matrices (the a*a tile positions' GEMMs), groups of positions on nnlab's threads.

    A chunk of tile rows that runs alone (small images: one tile row at 4x4 with F(4x4)) would otherwise keep
    the second thread idle; inside a chunk that shares a region with others, ``parallel_for`` runs the groups
    one after another. Each position is still one BLAS call on the same operands, so the bits are those of
    one ``matmul`` at any thread count. Groups of at least ``GEMM_CHUNK_MACS`` multiply-adds (C256->256 at
    4x4, batch 128: 9 groups of 4 positions). Measured (issue 21, round three, idle), that layer at 2 threads:
    forward 9.1 -> 8.1 ms, backward 10.5 -> 8.3 ms (1 thread unchanged; the rest is the filter transforms and
    passes of a few hundred KiB, which gain nothing on two threads: see ``nnlab.threads``).
    """
    if xp_of(a) is not np:
        return xp_of(a).matmul(a, b, out=out)
    P, M, K = a.shape
    groups = split(P, M * K * b.shape[-1], GEMM_CHUNK_MACS)
    if len(groups) < 2:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((P, M, b.shape[-1]), dtype=np.result_type(a.dtype, b.dtype))
    parallel_for(lambda g: np.matmul(a[g[0]:g[1]], b[g[0]:g[1]], out=out[g[0]:g[1]]), groups)
    return out


def _sum_in_order(terms: list, xp):
    """``terms[0] + terms[1] + ...`` added in list order into ``terms[0]`` (the same bits at any thread count), in
    slices of the flattened arrays on nnlab's threads (each element's additions keep their order; the dU of
    C256->256 is 9.4 MB per chunk of tile rows)."""
    total = terms[0]
    if len(terms) == 1:
        return total
    flat = [t.reshape(-1) for t in terms]

    def part(bounds: tuple[int, int]) -> None:
        a, b = bounds
        acc = flat[0][a:b]
        for t in flat[1:]:
            acc += t[a:b]

    _run(part, split(flat[0].size, flat[0].itemsize * len(terms), _CHUNK_BYTES // 2), xp)
    return total


def _scratch(buf, *shape):
    """A C-contiguous view of the first prod(shape) entries of the flat scratch ``buf``."""
    return buf[:int(np.prod(shape))].reshape(shape)


def _load_rows(x, buf, first: int, P: int) -> None:
    """``buf`` (R, Wp, N, C) <- padded rows ``first .. first+R-1`` of x (N, C, H, W), channels last, zeros
    outside x. A transpose, done ``_TRANSPOSE_BLOCK`` (n, c) pairs at a time over all the rows, so that the
    lines written stay in the L1 cache (measured 1.3-1.5x faster than one image row at a time, and than one
    whole transpose)."""
    N, C, H, W = x.shape
    x2 = x.reshape(N * C, H, W)
    buf2 = buf.reshape(buf.shape[0], buf.shape[1], N * C)
    buf[:, :P] = 0
    buf[:, P + W:] = 0
    r0, r1 = max(0, P - first), max(0, min(buf.shape[0], H + P - first))
    buf[:r0] = 0
    buf[max(r0, r1):] = 0
    if r1 > r0:
        h0, h1 = first + r0 - P, first + r1 - P
        for j in range(0, N * C, _TRANSPOSE_BLOCK):
            buf2[r0:r1, P:P + W, j:j + _TRANSPOSE_BLOCK] = x2[j:j + _TRANSPOSE_BLOCK, h0:h1, :].transpose(1, 2, 0)


def _store_rows(grid, out, first: int) -> None:
    """``out[:, :, first + r, :] = grid[r]`` for each row r of the (R, W, N, F) grid, ``_TRANSPOSE_BLOCK``
    (n, f) pairs at a time over all the rows. The grid's rows should be padded (see ``_STRIDE_PAD``)."""
    N, F, H, W = out.shape
    R = grid.shape[0]
    o2 = out.reshape(N * F, H, W)
    g2 = grid.reshape(R, grid.shape[1], N * F) if grid.flags.c_contiguous else _as_rows(grid)
    for j in range(0, N * F, _TRANSPOSE_BLOCK):
        o2[j:j + _TRANSPOSE_BLOCK, first:first + R, :] = g2[:, :, j:j + _TRANSPOSE_BLOCK].transpose(2, 0, 1)


def _as_rows(grid):
    """The (R, W, N*F) view of an (R, W, N, F) grid whose (N, F) planes are contiguous but padded apart."""
    R, W, N, F = grid.shape
    s = grid.strides
    return as_strided(grid, (R, W, N * F), (s[0], s[1], s[3]))


def _padded(buf, rows: int, cols: int, N: int, F: int):
    """A (rows, cols, N, F) view of the flat scratch ``buf`` whose (N, F) planes lie ``_STRIDE_PAD`` entries
    apart more than needed: a power-of-two stride (N*F = 4096 floats) makes the transposes of
    :func:`_store_rows` thrash the cache's sets (measured 2.4x slower at x(32,64,42,42))."""
    return _scratch(buf, rows, cols, N * F + _STRIDE_PAD)[..., :N * F].reshape(rows, cols, N, F)


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
    if not isinstance(conv_param, dict):
        raise TypeError(f"{fn}: conv_param must be a dict, got {type(conv_param).__name__}")
    S, P = conv_param.get("stride", 1), conv_param.get("pad", 0)
    if S != 1:
        raise ValueError(f"{fn}: Winograd needs stride 1, got {S!r}")
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 0:
        raise ValueError(f"{fn}: pad must be a non-negative integer, got {P!r}")
    OH, OW = x.shape[2] + 2 * P - 2, x.shape[3] + 2 * P - 2
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: kernel 3x3 is larger than the padded input (x shape {tuple(x.shape)}, pad {P})")
    return int(P), OH, OW, -(-OH // m), -(-OW // m)


def _filter_transform(w, G):
    """``U[(i, j), f, c] = sum_{p,q} G[i, p] G[j, q] w[f, c, p, q]`` in the two orders the GEMMs want: returns
    ``(U_cf, U_fc)``, shapes (a*a, C, F) and (a*a, F, C), each one GEMM with kron(G, G).

    The batched GEMMs run fastest with a plain (not transposed) operand U: the forward's ``V @ U_cf`` and the
    backward's ``dM @ U_fc`` (measured, 1 thread, C32->64: 1.46 vs 2.08 ms and 1.44 vs 2.03 ms with the other
    order as a transposed operand). U_fc comes straight out of the GEMM; U_cf from w transposed to (9, C, F)
    first (9 values per filter pair to move instead of a*a). U_cf serves the forward only, so it and the
    transposed w live in this thread's scratch (``nnlab.backend.scratch``); U_fc is kept for the backward and is
    a fresh array. Measured, C256->256 F(4x4) (U: 9.4 MB), 1 thread: 5.9 -> 2.1 ms (the fresh pages of a 9.4 MB
    array cost more than the GEMM that fills them).

    Large filter banks go in blocks of filters (U_fc) and of channels (U_cf) of ``_FILTER_CHUNK_BYTES`` on
    nnlab's threads: these run between the parallel chunks of the convolution, and were 5% of ``resnet_fast``'s
    2-thread step on the calling thread alone (py-spy). The blocks depend on the shapes only; BLAS may round a
    block's 9-term products differently from the whole matrix's (1e-6 relative in float32), so a bank that is
    split gives other last bits than one piece, the same at any thread count. Measured, idle, ms at 1 / 2
    threads: C256->256 transform 3.08 / 3.72 -> 3.08 / 1.73, adjoint 1.03 / 0.84 -> 0.86 / 0.49; banks below
    two blocks (C128->128: 0.66 ms) stay in one piece.
    """
    xp = xp_of(w)
    F, C = w.shape[:2]
    K = xp.asarray(np.kron(G, G)).astype(w.dtype, copy=False)
    a2, size = K.shape[0], w.dtype.itemsize
    w9 = w.reshape(F * C, 9)
    U_fc = xp.empty((a2, F * C), dtype=w.dtype)
    wt = scratch(xp, "winograd.wt", 9 * C * F, w.dtype).reshape(9, C, F)
    U_cf = scratch(xp, "winograd.U", a2 * C * F, w.dtype).reshape(a2, C * F)

    def filters(bounds: tuple[int, int]) -> None:
        f0, f1 = bounds
        xp.matmul(K, w9[f0 * C:f1 * C].T, out=U_fc[:, f0 * C:f1 * C])

    def channels(bounds: tuple[int, int]) -> None:
        c0, c1 = bounds
        wt[:, c0:c1] = w.reshape(F, C, 9)[:, c0:c1].transpose(2, 1, 0)
        xp.matmul(K, wt.reshape(9, C * F)[:, c0 * F:c1 * F], out=U_cf[:, c0 * F:c1 * F])

    _run(filters, split(F, a2 * C * size, _FILTER_CHUNK_BYTES), xp)
    _run(channels, split(C, a2 * F * size, _FILTER_CHUNK_BYTES), xp)
    return U_cf.reshape(a2, C, F), U_fc.reshape(a2, F, C)


def _filter_transform_adjoint(dU, G, w_shape: tuple):
    """Adjoint of :func:`_filter_transform`: dU (a*a, F, C) -> dw (F, C, 3, 3) = G^T dU G per (f, c), as
    ``dU^T @ kron(G, G)`` (a transposed operand, no copy) straight into (F*C, 9), dw's layout."""
    xp = xp_of(dU)
    F, C = w_shape[:2]
    K = xp.asarray(np.kron(G, G)).astype(dU.dtype, copy=False)
    dU2 = dU.reshape(dU.shape[0], F * C)
    dw = xp.empty((F * C, 9), dtype=np.result_type(dU.dtype, K.dtype))

    def filters(bounds: tuple[int, int]) -> None:  # blocks of filters on the threads, as _filter_transform
        f0, f1 = bounds
        xp.matmul(dU2[:, f0 * C:f1 * C].T, K, out=dw[f0 * C:f1 * C])

    _run(filters, split(F, dU.shape[0] * C * dU.dtype.itemsize, _FILTER_CHUNK_BYTES), xp)
    return dw.reshape(w_shape)


# ------------------------------------------------------------------------------------------ kernels


def conv_forward_winograd(x, w, b, conv_param: dict, m: int = 2, profile: dict | None = None) -> tuple[Any, tuple]:
    """Convolution forward pass (3x3 kernel, stride 1, any pad) by Winograd F(m x m, 3 x 3), m = 2 or 4.

    Inputs: x (N, C, H, W), w (F, C, 3, 3), b (F,), conv_param ``{'stride': 1, 'pad': P}``; ``profile``: a
    dict that receives the seconds of each stage (for ``benchmarks/bench_conv.py --profile``).
    Returns ``out`` (N, F, H + 2P - 2, W + 2P - 2) (x's dtype) and a cache for :func:`conv_backward_winograd`.

    Stages, a few tile rows at a time (a = m + 2; T tiles of the chunk): the padded input rows are transposed
    to (rows, Wp, N, C) ("load"); ``V = B^T d B`` for every tile, rows then columns -> (a*a, T, C), kept for the
    backward ("input transform"); one batched GEMM ``M = V @ U`` with ``U = G g G^T`` (a*a, C, F), plus the
    bias on ``M[1, 1]`` (column 1 of A^T is all ones, so that adds b to all m*m outputs of a tile) ("gemm");
    ``Y = A^T M A`` -> (m, m, T, F) as output rows (H', W', N, F) ("output transform"); transposed into
    ``out`` ("store").
    """
    fn = "conv_forward_winograd"
    P, OH, OW, TH, TW = _geometry(fn, x, w, b, conv_param, m)
    clock = Stages(profile)
    xp = xp_of(x, w)
    dt = x.dtype
    BT, G, AT = (mat.astype(dt) for mat in winograd_matrices(m))
    a = m + 2
    N, C, H, W = x.shape
    F = w.shape[0]
    Wp = TW * m + 2
    U, U_fc = _filter_transform(w.astype(dt, copy=False), G)
    bias = b.astype(dt, copy=False)
    clock.lap("filter transform")
    V = xp.empty((a, a, TH, TW, N, C), dtype=dt)
    out = xp.empty((N, F, OH, OW), dtype=dt)
    chunks = _chunks(TH, a * a * TW * N * max(C, F) * dt.itemsize)

    def chunk(bounds: tuple[int, int]) -> None:  # tile rows th0..th1-1: independent of the other chunks
        th0, th1 = bounds
        kk, Tc = th1 - th0, (th1 - th0) * TW * N
        xb = scratch(xp, "winograd.x", (kk * m + 2) * Wp * N * C, dt).reshape(kk * m + 2, Wp, N, C)
        t = scratch(xp, "winograd.t", a * kk * Wp * N * C, dt)
        tmp = scratch(xp, "winograd.tmp", a * kk * max(Wp * C, TW * max(C, F)) * N, dt)
        _load_rows(x, xb, th0 * m, P)
        clock.lap("load")
        tt = _scratch(t, a, kk, Wp, N, C)
        _transform("BT", BT, [xb[r:r + (kk - 1) * m + 1:m] for r in range(a)], tt, _scratch(tmp, kk, Wp, N, C))
        Vc = V[:, :, th0:th1]
        _transform("BT", BT, [tt[:, :, c:c + (TW - 1) * m + 1:m] for c in range(a)], [Vc[:, j] for j in range(a)],
                   _scratch(tmp, a, kk, TW, N, C))
        clock.lap("input transform")
        M = scratch(xp, "winograd.M", a * a * Tc * F, dt).reshape(a * a, Tc, F)
        _bmm(Vc.reshape(a * a, Tc, C), U, out=M)
        xp.add(M[a + 1], bias, out=M[a + 1])  # column 1 of A^T is all ones: M[1, 1] + b adds b to every output
        clock.lap("gemm")
        s = scratch(xp, "winograd.s", m * a * Tc * F, dt).reshape(m, a, kk, TW, N, F)
        _transform("AT", AT, M.reshape(a, a, kk, TW, N, F), s, _scratch(tmp, a, kk, TW, N, F))
        Y = _padded(scratch(xp, "winograd.Y", kk * m * TW * m * (N * F + _STRIDE_PAD), dt), kk * m, TW * m, N, F)
        Y = Y.reshape(kk, m, TW, m, N, F)
        _transform("AT", AT, [s[:, j] for j in range(a)], [Y[:, :, :, c].transpose(1, 0, 2, 3, 4) for c in range(m)],
                   _scratch(tmp, m, kk, TW, N, F))
        clock.lap("output transform")
        rows = min(kk * m, OH - th0 * m)
        _store_rows(Y.reshape(kk * m, TW * m, N, F)[:rows, :OW], out, th0 * m)
        clock.lap("store")

    _run(chunk, chunks, xp)
    return out, (tuple(x.shape), w, V, U_fc, conv_param, m)


def conv_backward_winograd(dout, cache: tuple, need_dx: bool = True,
                           profile: dict | None = None) -> tuple[Any, Any, Any]:
    """Backward pass of :func:`conv_forward_winograd`, in the transformed domain, a few tile rows at a time.

    With ``dM = A dY A^T`` per tile (the adjoint of the output transform; dY the m x m blocks of dout):
    ``dU[xi]^T = sum_tiles dM[xi]^T @ V[xi]`` and ``dw[f, c] = G^T dU[.., c, f] G``; ``db = sum_{n,i,j} dout``;
    ``dV[xi] = dM[xi] @ U[xi]^T`` and ``dx`` = ``B dV B^T`` added back onto the overlapping input tiles
    (columns then rows; two rows carried to the next chunk), the padding cropped off. ``need_dx=False``
    skips dV and dx and returns ``dx = None`` (a network's first layer). ``profile`` as in the forward.

    Returns ``(dx, dw, db)`` shaped like x, w, b.
    """
    x_shape, w, V, U_fc, conv_param, m = cache
    fn = "conv_backward_winograd"
    check_array(fn, "dout", dout, ndim=4, shape_hint="(N, F, H', W')")
    xp = xp_of(dout, w)
    N, C, H, W = x_shape
    F = w.shape[0]
    P = int(conv_param.get("pad", 0))
    OH, OW = H + 2 * P - 2, W + 2 * P - 2
    if tuple(dout.shape) != (N, F, OH, OW):
        raise ValueError(f"{fn}: dout must have shape {(N, F, OH, OW)}, got {tuple(dout.shape)}")
    clock = Stages(profile)
    dt = V.dtype
    BT, G, AT = (mat.astype(dt) for mat in winograd_matrices(m))
    A, B = np.ascontiguousarray(AT.T), np.ascontiguousarray(BT.T)
    a = m + 2
    TH, TW = V.shape[2], V.shape[3]
    Wp = TW * m + 2
    dout = dout.astype(dt, copy=False)
    db = xp.empty(F, dtype=dt)

    def bias(bounds: tuple[int, int]) -> None:  # blocks of filters on the threads (each sum as in one piece)
        db[bounds[0]:bounds[1]] = dout[:, bounds[0]:bounds[1]].sum(axis=(0, 2, 3))

    _run(bias, split(F, dout[:, 0].nbytes, _CHUNK_BYTES // 4), xp)
    db = db.astype(w.dtype, copy=False)
    chunks = _chunks(TH, a * a * TW * N * max(C, F) * dt.itemsize)
    dx = xp.empty((N, C, H, W), dtype=dt) if need_dx else None
    clock.lap("setup")

    def chunk(bounds: tuple[int, int]):
        """Tile rows th0..th1-1: returns this chunk's dU and the two padded rows of dx it adds onto the next
        chunk's first rows (None for the last chunk, which stores them itself)."""
        th0, th1 = bounds
        kk, Tc = th1 - th0, (th1 - th0) * TW * N
        tmp = scratch(xp, "winograd.tmp", a * kk * max(Wp * C, TW * max(C, F)) * N, dt)
        rows = min(kk * m, OH - th0 * m)
        dY = _scratch(scratch(xp, "winograd.Y", kk * m * TW * m * N * F, dt), kk * m, TW * m, N, F)
        if rows < kk * m or OW < TW * m:
            dY[...] = 0
        _load_rows(dout[:, :, th0 * m:th0 * m + rows], dY[:rows, :OW], 0, 0)
        clock.lap("load")
        dY = dY.reshape(kk, m, TW, m, N, F)
        ds = _scratch(scratch(xp, "winograd.s", a * kk * TW * m * N * F, dt), a, kk, TW, m, N, F)
        _transform("A", A, [dY[:, r] for r in range(m)], ds, _scratch(tmp, kk, TW, m, N, F))
        dM = _scratch(scratch(xp, "winograd.M", a * a * Tc * F, dt), a, a, kk, TW, N, F)
        _transform("A", A, [ds[:, :, :, c] for c in range(m)], [dM[:, j] for j in range(a)],
                   _scratch(tmp, a, kk, TW, N, F))
        clock.lap("output transform adjoint")
        dM = dM.reshape(a * a, Tc, F)
        dU_chunk = _bmm(dM.transpose(0, 2, 1), V[:, :, th0:th1].reshape(a * a, Tc, C))
        clock.lap("dw gemm")
        if not need_dx:
            return dU_chunk, None
        dV = _scratch(scratch(xp, "winograd.dV", a * a * Tc * C, dt), a * a, Tc, C)
        _bmm(dM, U_fc, out=dV)
        clock.lap("dx gemm")
        dV = dV.reshape(a, a, kk, TW, N, C)
        dtt = _scratch(scratch(xp, "winograd.t", a * kk * Wp * N * C, dt), a, kk, Wp, N, C)
        dtt[:, :, TW * m:] = 0
        partbuf = scratch(xp, "winograd.part", (a - m) * a * kk * max(TW, Wp) * N * C, dt)
        part = _scratch(partbuf, a - m, a, kk, TW, N, C)
        cols = [dtt[:, :, c:c + (TW - 1) * m + 1:m] for c in range(m)] + list(part)
        _transform("B", B, [dV[:, j] for j in range(a)], cols, _scratch(tmp, a, kk, TW, N, C))
        for c in range(m, a):
            view = dtt[:, :, c:c + (TW - 1) * m + 1:m]
            xp.add(view, part[c - m], out=view)
        acc = _padded(scratch(xp, "winograd.x", (kk * m + 2) * Wp * (N * C + _STRIDE_PAD), dt), kk * m + 2, Wp, N, C)
        acc[kk * m:] = 0
        part = _scratch(partbuf, a - m, kk, Wp, N, C)
        _transform("B", B, dtt, [acc[r:r + (kk - 1) * m + 1:m] for r in range(m)] + list(part),
                   _scratch(tmp, kk, Wp, N, C))
        for r in range(m, a):
            view = acc[r:r + (kk - 1) * m + 1:m]
            xp.add(view, part[r - m], out=view)
        clock.lap("input transform adjoint")
        last = kk * m + 2 if th1 == TH else kk * m
        lo, hi = max(th0 * m, P), min(th0 * m + last, P + H)  # padded rows that are rows of x
        if hi > lo:
            _store_rows(acc[lo - th0 * m:hi - th0 * m, P:P + W], dx, lo - P)
        clock.lap("store")
        return dU_chunk, (None if th1 == TH else xp.array(acc[kk * m:kk * m + 2, P:P + W]))

    parts = _run(chunk, chunks, xp)
    dU = _sum_in_order([dU_chunk for dU_chunk, _ in parts], xp)

    def add_carry(item) -> None:  # the two rows a chunk adds onto the next one's first two (disjoint rows)
        th1, carry = item
        for r in range(2):
            row = th1 * m + r - P
            if 0 <= row < H:
                dx[:, :, row, :] += carry[r].transpose(1, 2, 0)

    _run(add_carry, [(th1, carry) for (_, th1), (_, carry) in zip(chunks, parts) if carry is not None], xp)
    clock.lap("reduce")
    dw = _filter_transform_adjoint(dU, G, tuple(w.shape)).astype(w.dtype, copy=False)
    clock.lap("filter transform adjoint")
    return (dx if need_dx else None), dw, db
