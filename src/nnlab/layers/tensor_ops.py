"""Kernels of the tensor algebra: arithmetic, powers, ``matmul``, reductions, reshapes, indexing, joins.

The same ``name_forward(...) -> (out, cache)`` / ``name_backward(dout, cache) -> grads`` contract as every other
kernel, so that the autograd tape (:mod:`nnlab.autograd`) records each Tensor operation as one node whose
backward is one of these functions. Binary kernels broadcast as NumPy does and return each input's gradient in
the **broadcast** shape: the tape sums it back to the input's shape in one place (``sum_to``). Backwards take
``needs`` (which inputs want a gradient) and return ``None`` for the others.

The math, with ``g`` the upstream gradient:
``a*b -> (g*b, g*a)``; ``a/b -> (g/b, -g*a/b**2)``; ``a**p -> g*p*a**(p-1)`` and ``g*out*log(a)``;
``A@B -> (g @ B^T, A^T @ g)``; ``exp -> g*out``; ``log -> g/a``; ``sqrt -> g/(2*out)``; ``|a| -> g*sign(a)``;
``clip -> g*(lo <= a <= hi)``; ``sum -> g`` broadcast back; ``mean -> g/n`` broadcast back;
``a[idx] -> zeros with g scatter-added at idx`` (repeated indices accumulate); ``max(a, b) -> g`` to the larger
(half to each at ties, as torch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of

__all__ = [
    "add_forward", "add_backward", "sub_forward", "sub_backward", "mul_forward", "mul_backward",
    "div_forward", "div_backward", "pow_forward", "pow_backward", "neg_forward", "neg_backward",
    "matmul_forward", "matmul_backward", "exp_forward", "exp_backward", "log_forward", "log_backward",
    "sqrt_forward", "sqrt_backward", "abs_forward", "abs_backward", "clip_forward", "clip_backward",
    "sum_forward", "sum_backward", "mean_forward", "mean_backward", "reshape_forward", "reshape_backward",
    "permute_forward", "permute_backward", "getitem_forward", "getitem_backward", "cat_forward", "cat_backward",
    "stack_forward", "stack_backward", "unbind_forward", "unbind_backward",
    "where_forward", "where_backward", "maximum_forward", "maximum_backward",
    "minimum_forward", "minimum_backward", "normalize_axes",
]


# ---- arithmetic ---------------------------------------------------------------------------------------------
def add_forward(a: Any, b: Any) -> tuple[Any, None]:
    """``a + b`` (broadcasting)."""
    return a + b, None


def add_backward(dout: Any, cache: None, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g, g)``: both inputs get the upstream gradient."""
    return dout, dout


def sub_forward(a: Any, b: Any) -> tuple[Any, None]:
    """``a - b`` (broadcasting)."""
    return a - b, None


def sub_backward(dout: Any, cache: None, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g, -g)``."""
    return dout, (-dout if needs[1] else None)


def mul_forward(a: Any, b: Any) -> tuple[Any, tuple]:
    """``a * b`` (broadcasting); the cache keeps both factors."""
    return a * b, (a, b)


def mul_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g * b, g * a)``."""
    a, b = cache
    return (dout * b if needs[0] else None), (dout * a if needs[1] else None)


def div_forward(a: Any, b: Any) -> tuple[Any, tuple]:
    """``a / b`` (broadcasting)."""
    return a / b, (a, b)


def div_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g / b, -g * a / b**2)``."""
    a, b = cache
    da = dout / b if needs[0] else None
    db = -dout * a / (b * b) if needs[1] else None
    return da, db


def pow_forward(a: Any, p: Any) -> tuple[Any, tuple]:
    """``a ** p`` with ``p`` a number or an array (broadcasting)."""
    out = a ** p
    return out, (a, p, out)


def pow_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g * p * a**(p-1), g * out * log(a))``; the exponent's gradient is 0 where ``a == 0`` (as torch)."""
    a, p, out = cache
    da = dout * p * a ** (p - 1) if needs[0] else None
    dp = None
    if len(needs) > 1 and needs[1]:
        xp = xp_of(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            dp = dout * xp.where(a == 0, 0, out * xp.log(xp.where(a == 0, 1, a)))
    return da, dp


def neg_forward(a: Any) -> tuple[Any, None]:
    """``-a``."""
    return -a, None


def neg_backward(dout: Any, cache: None) -> Any:
    """``-g``."""
    return -dout


# ---- matrix product -----------------------------------------------------------------------------------------
def matmul_forward(a: Any, b: Any) -> tuple[Any, tuple]:
    """``a @ b`` with NumPy's rules (1-D operands promoted, batch dimensions broadcast).

    Raises ``ValueError`` naming both shapes when the inner dimensions differ.
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands must have at least one dimension, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align: "
                         f"{k_a} (last dimension of a) != {k_b} (" + ("first" if b.ndim == 1 else "second-to-last")
                         + " dimension of b)")
    return a @ b, (a, b)


def matmul_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``(g @ B^T, A^T @ g)`` on the 1-D-promoted operands; batch dimensions are left broadcast (summed by the
    tape's ``sum_to``)."""
    a, b = cache
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g = dout
    if a.ndim == 1:
        g = g[..., None, :] if b.ndim > 1 else g[..., None]
    if b.ndim == 1:
        g = g[..., None]
    da = db = None
    if needs[0]:
        da = g @ b2.swapaxes(-1, -2)
        if a.ndim == 1:
            da = da[..., 0, :]
    if needs[1]:
        db = a2.swapaxes(-1, -2) @ g
        if b.ndim == 1:
            db = db[..., 0]
    return da, db


# ---- elementwise functions ----------------------------------------------------------------------------------
def exp_forward(a: Any) -> tuple[Any, Any]:
    """``exp(a)``; the cache is the output."""
    out = xp_of(a).exp(a)
    return out, out


def exp_backward(dout: Any, cache: Any) -> Any:
    """``g * exp(a)``."""
    return dout * cache


def log_forward(a: Any) -> tuple[Any, Any]:
    """Natural ``log(a)``."""
    return xp_of(a).log(a), a


def log_backward(dout: Any, cache: Any) -> Any:
    """``g / a``."""
    return dout / cache


def sqrt_forward(a: Any) -> tuple[Any, Any]:
    """``sqrt(a)``; the cache is the output."""
    out = xp_of(a).sqrt(a)
    return out, out


def sqrt_backward(dout: Any, cache: Any) -> Any:
    """``g / (2 sqrt(a))``."""
    return dout / (2 * cache)


def abs_forward(a: Any) -> tuple[Any, Any]:
    """``|a|``."""
    return xp_of(a).abs(a), a


def abs_backward(dout: Any, cache: Any) -> Any:
    """``g * sign(a)`` (0 at 0, as torch)."""
    return dout * xp_of(cache).sign(cache)


def clip_forward(a: Any, low: float | None = None, high: float | None = None) -> tuple[Any, tuple]:
    """``a`` clipped to ``[low, high]`` (either bound may be None)."""
    if low is None and high is None:
        raise ValueError("clip: at least one of low and high must be given")
    return xp_of(a).clip(a, low, high), (a, low, high)


def clip_backward(dout: Any, cache: tuple) -> Any:
    """``g`` where ``low <= a <= high`` (bounds included, as torch's ``clamp``), else 0."""
    a, low, high = cache
    mask = True
    if low is not None:
        mask = a >= low
    if high is not None:
        mask = mask & (a <= high)
    return dout * mask


# ---- reductions ---------------------------------------------------------------------------------------------
def normalize_axes(fn: str, shape: tuple, axis: Any) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints, negatives allowed) as a sorted tuple of non-negative axes.

    Raises ``ValueError`` naming ``fn`` when an axis is out of range or repeated.
    """
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or not -max(ndim, 1) <= ax < max(ndim, 1):
            raise ValueError(f"{fn}: dim {ax!r} is out of range for a tensor of shape {tuple(shape)}")
        out.append(int(ax) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: dim {axis!r} repeats an axis")
    return tuple(sorted(out))


def sum_forward(a: Any, axis: Any = None, keepdims: bool = False) -> tuple[Any, tuple]:
    """``a.sum(axis, keepdims)``; the cache keeps the input shape and the reduced axes."""
    axes = normalize_axes("sum", a.shape, axis)
    return a.sum(axis=axes, keepdims=keepdims), (a.shape, axes, keepdims)


def sum_backward(dout: Any, cache: tuple) -> Any:
    """``g`` broadcast back over the reduced axes (a read-only view, no copy)."""
    shape, axes, keepdims = cache
    xp = xp_of(dout)
    if not keepdims:
        dout = xp.expand_dims(dout, axes) if axes else dout
    return xp.broadcast_to(dout, shape)


def mean_forward(a: Any, axis: Any = None, keepdims: bool = False) -> tuple[Any, tuple]:
    """``a.mean(axis, keepdims)``."""
    axes = normalize_axes("mean", a.shape, axis)
    count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
    return a.mean(axis=axes, keepdims=keepdims), (a.shape, axes, keepdims, count)


def mean_backward(dout: Any, cache: tuple) -> Any:
    """``g / n`` broadcast back over the ``n`` averaged entries."""
    shape, axes, keepdims, count = cache
    return sum_backward(dout / count if count != 1 else dout, (shape, axes, keepdims))


# ---- shapes -------------------------------------------------------------------------------------------------
def reshape_forward(a: Any, shape: tuple) -> tuple[Any, tuple]:
    """``a.reshape(shape)`` (a view where NumPy can make one)."""
    try:
        out = a.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} ({a.size} elements) "
                         f"into shape {tuple(shape)}") from None
    return out, a.shape


def reshape_backward(dout: Any, cache: tuple) -> Any:
    """``g`` reshaped back to the input's shape."""
    return dout.reshape(cache)


def permute_forward(a: Any, axes: tuple) -> tuple[Any, tuple]:
    """``a.transpose(axes)`` (a view)."""
    if sorted(int(ax) % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)) or len(axes) != a.ndim:
        raise ValueError(f"permute: dims {tuple(axes)} are not a permutation of the {a.ndim} dimensions of a "
                         f"tensor of shape {tuple(a.shape)}")
    axes = tuple(int(ax) % a.ndim for ax in axes)
    return a.transpose(axes), axes


def permute_backward(dout: Any, cache: tuple) -> Any:
    """``g`` transposed by the inverse permutation."""
    return dout.transpose(np.argsort(cache))


# ---- indexing and joins -------------------------------------------------------------------------------------
def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer)) for i in items)


def getitem_forward(a: Any, index: Any) -> tuple[Any, tuple]:
    """``a[index]``: slices, integers, ``None``, ``...``, integer arrays and boolean masks, as NumPy."""
    return a[index], (a.shape, a.dtype, index)


def getitem_backward(dout: Any, cache: tuple) -> Any:
    """Zeros of the input's shape with ``g`` written at ``index``; advanced indices scatter-add
    (``np.add.at``), so an element picked twice gets both gradients."""
    shape, dtype, index = cache
    xp = xp_of(dout)
    dx = xp.zeros(shape, dtype=dout.dtype)
    if _is_basic(index):
        dx[index] = dout
    else:
        xp.add.at(dx, index, dout)
    return dx


def cat_forward(arrays: list, axis: int = 0) -> tuple[Any, tuple]:
    """``concatenate(arrays, axis)``; the cache keeps the split points."""
    if not arrays:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    xp = xp_of(*arrays)
    out = xp.concatenate(arrays, axis=axis)
    ax = axis % out.ndim
    return out, (ax, np.cumsum([a.shape[ax] for a in arrays])[:-1])


def cat_backward(dout: Any, cache: tuple) -> tuple:
    """``g`` split back into the inputs' pieces (views)."""
    ax, splits = cache
    return tuple(xp_of(dout).split(dout, splits, axis=ax))


def stack_forward(arrays: list, axis: int = 0) -> tuple[Any, int]:
    """``stack(arrays, axis)`` (a new axis)."""
    if not arrays:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: every tensor must have the same shape, got {sorted(shapes)}")
    out = xp_of(*arrays).stack(arrays, axis=axis)
    return out, axis % out.ndim


def stack_backward(dout: Any, cache: int) -> tuple:
    """The slices of ``g`` along the stacked axis."""
    return tuple(xp_of(dout).moveaxis(dout, cache, 0))


def unbind_forward(a: Any, axis: int = 0) -> tuple[tuple, int]:
    """The slices of ``a`` along ``axis`` (views; the axis removed), as torch's ``unbind``."""
    if a.ndim == 0:
        raise ValueError("unbind: a 0-d tensor has no axis to unbind")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"unbind: dim {axis} is out of range for a tensor of shape {tuple(a.shape)}")
    axis %= a.ndim
    return tuple(xp_of(a).moveaxis(a, axis, 0)), axis


def unbind_backward(douts: tuple, cache: int) -> Any:
    """The slices' gradients stacked back along the axis (the tape passes zeros for unused slices)."""
    return xp_of(douts[0]).stack(douts, axis=cache)


def where_forward(cond: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` where ``cond`` else ``b`` (broadcasting); ``cond`` is a constant."""
    cond = xp_of(cond).asarray(cond, dtype=bool)
    return xp_of(a, b).where(cond, a, b), cond


def where_backward(dout: Any, cache: Any, needs: tuple = (False, True, True)) -> tuple:
    """``(None, g where cond, g where not cond)``."""
    cond = cache
    da = dout * cond if needs[1] else None
    db = dout * ~cond if needs[2] else None
    return None, da, db


def maximum_forward(a: Any, b: Any) -> tuple[Any, tuple]:
    """Elementwise ``max(a, b)`` (broadcasting)."""
    return xp_of(a, b).maximum(a, b), (a, b)


def maximum_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``g`` to the larger input; at ties each input gets ``g / 2`` (as torch)."""
    a, b = cache
    share = (a > b).astype(dout.dtype) + (a == b) * dout.dtype.type(0.5)
    return (dout * share if needs[0] else None), (dout * (1 - share) if needs[1] else None)


def minimum_forward(a: Any, b: Any) -> tuple[Any, tuple]:
    """Elementwise ``min(a, b)`` (broadcasting)."""
    return xp_of(a, b).minimum(a, b), (a, b)


def minimum_backward(dout: Any, cache: tuple, needs: tuple = (True, True)) -> tuple[Any, Any]:
    """``g`` to the smaller input; at ties each input gets ``g / 2`` (as torch)."""
    a, b = cache
    share = (a < b).astype(dout.dtype) + (a == b) * dout.dtype.type(0.5)
    return (dout * share if needs[0] else None), (dout * (1 - share) if needs[1] else None)
