"""Affine (fully-connected) layer: ``out = x.reshape(N, D) @ w + b``.

The three GEMMs (forward, dx, dw) go through ``nnlab.threads.matmul``: a large product is split into chunks of
output rows or columns fixed by the shapes, one BLAS call each on nnlab's threads (the same result at any thread
count; each output element is still one dot product over the whole inner dimension)."""

from __future__ import annotations

from typing import Any

from ..backend import matmul
from ..validation import check_array, check_min_ndim

__all__ = ["affine_forward", "affine_backward"]


def affine_forward(x: Any, w: Any, b: Any) -> tuple[Any, tuple]:
    """Affine layer forward pass.

    Inputs:
    - x: (N, d_1, ..., d_k) input; each sample is flattened to a row of D = d_1 * ... * d_k values.
    - w: (D, M) weights.
    - b: (M,) biases.

    Returns ``(out, cache)``: ``out = x.reshape(N, D) @ w + b`` of shape (N, M), and ``cache = (x, w, b)``.
    """
    fn = "affine_forward"
    check_min_ndim(fn, "x", x, 2, "(N, d_1, ..., d_k)", numeric=True)
    check_array(fn, "w", w, ndim=2, shape_hint="(D, M)")
    check_array(fn, "b", b, ndim=1, shape_hint="(M,)")
    n = x.shape[0]
    d = 1
    for size in x.shape[1:]:
        d *= int(size)
    if w.shape[0] != d:
        raise ValueError(f"{fn}: x has {d} features per sample (shape {tuple(x.shape)}) but w expects "
                         f"{w.shape[0]} (w has shape {tuple(w.shape)})")
    if b.shape[0] != w.shape[1]:
        raise ValueError(f"{fn}: b has shape {tuple(b.shape)} but w has {w.shape[1]} outputs, expected "
                         f"({w.shape[1]},)")
    out = matmul(x.reshape(n, d), w) + b
    return out, (x, w, b)


def affine_backward(dout: Any, cache: tuple) -> tuple[Any, Any, Any]:
    """Affine layer backward pass.

    Inputs:
    - dout: (N, M) upstream gradient.
    - cache: ``(x, w, b)`` from :func:`affine_forward`.

    Returns ``(dx, dw, db)``: ``dx = (dout @ w.T).reshape(x.shape)`` (N, d_1, ..., d_k),
    ``dw = x.reshape(N, D).T @ dout`` (D, M), ``db = dout.sum(0)`` (M,).
    """
    x, w, _ = cache
    check_array("affine_backward", "dout", dout, ndim=2, shape_hint="(N, M)")
    if tuple(dout.shape) != (x.shape[0], w.shape[1]):
        raise ValueError(f"affine_backward: dout must have shape {(x.shape[0], w.shape[1])}, "
                         f"got {tuple(dout.shape)}")
    x2 = x.reshape(x.shape[0], w.shape[0])
    dx = matmul(dout, w.T).reshape(x.shape)
    dw = matmul(x2.T, dout)
    db = dout.sum(axis=0)
    return dx, dw, db
