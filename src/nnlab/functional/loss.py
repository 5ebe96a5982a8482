"""Losses as tape nodes: ``cross_entropy``, ``nll_loss``, ``mse_loss`` (kernels of :mod:`nnlab.layers.losses`).

Targets are constants (integer labels for the classification losses); ``mse_loss`` also differentiates a
target Tensor that requires grad. Where a kernel returns the loss and its gradient at once
(``softmax_loss``, ``mse_loss`` for ``reduction='mean'``), the node keeps that gradient and its backward scales
it by the upstream gradient; the other reductions use the ``*_forward``/``*_backward`` pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..layers import losses as ls
from ._common import Tensor, array_arg, needs_grad, record, unary_backward, unsupported

__all__ = ["cross_entropy", "nll_loss", "mse_loss"]

_REDUCTIONS = ("none", "sum", "mean")


def _check(fn: str, input: Any, target: Any, reduction: str, size_average: Any, reduce: Any,  # noqa: A002
           weight: Any = None, ignore_index: int = -100) -> tuple[Any, Any]:
    unsupported(fn, weight=(weight, None), size_average=(size_average, None), reduce=(reduce, None))
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    x = array_arg(fn, "input", input, (2,), "(N, C)")
    y = array_arg(fn, "target", target, (1,), "(N,) integer labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: target must hold integer class labels, got dtype {y.dtype}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{fn}: input has {x.shape[0]} rows (shape {tuple(x.shape)}) but target has "
                         f"{y.shape[0]} labels")
    if ignore_index != -100 and y.size and bool((y == ignore_index).any()):
        raise NotImplementedError(f"{fn}: ignore_index is not supported (target holds {ignore_index})")
    return x, y


def _scaled_dx_bwd(g: Any, c: Any, n: tuple) -> tuple:
    """The gradient the loss kernel returned with the loss, scaled by the upstream gradient."""
    return (c * g,)


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of (N, C) logits against (N,) integer labels.

    Per sample ``l_i = -sum_j q_ij log softmax(x_i)_j`` with ``q_i = (1 - eps) onehot(y_i) + eps / C``
    (``eps = label_smoothing``); reduced by ``reduction``: 'mean' (kernel ``softmax_loss``), 'sum' or 'none'
    (``softmax_cross_entropy_forward``/``_backward``). Class weights and ignore_index are not supported.
    Returns a scalar Tensor, or (N,) for 'none'.
    """
    fn = "cross_entropy"
    x, y = _check(fn, input, target, reduction, size_average, reduce, weight, ignore_index)
    if reduction == "mean":
        loss, dx = ls.softmax_loss(x, y, label_smoothing)
        return record(fn, ls.softmax_loss, xp_of(x).asarray(loss, dtype=x.dtype), dx, _scaled_dx_bwd, (input,))
    out, cache = ls.softmax_cross_entropy_forward(x, y, label_smoothing, reduction)
    return record(fn, ls.softmax_cross_entropy_backward, xp_of(x).asarray(out), cache, _CE_BWD, (input,))


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of (N, C) log-probabilities: ``l_i = -x[i, y_i]``, reduced by ``reduction``.
    Kernels ``nll_loss_forward``/``nll_loss_backward``. Returns a scalar Tensor, or (N,) for 'none'."""
    fn = "nll_loss"
    x, y = _check(fn, input, target, reduction, size_average, reduce, weight, ignore_index)
    out, cache = ls.nll_loss_forward(x, y, reduction)
    return record(fn, ls.nll_loss_backward, xp_of(x).asarray(out), cache, _NLL_BWD, (input,))


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target)**2``, reduced by ``reduction`` (input and target of one shape).

    With reduction 'mean' and a constant target: kernel ``mse_loss`` (loss and gradient at once); otherwise
    ``mse_loss_forward``/``mse_loss_backward``, which also gives the target's gradient.
    """
    fn = "mse_loss"
    unsupported(fn, size_average=(size_average, None), reduce=(reduce, None))
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    p = array_arg(fn, "input", input)
    t = array_arg(fn, "target", target)
    if tuple(p.shape) != tuple(t.shape):
        raise ValueError(f"{fn}: input has shape {tuple(p.shape)} but target has shape {tuple(t.shape)}")
    if reduction == "mean" and not needs_grad(target):
        loss, dpred = ls.mse_loss(p, t)
        return record(fn, ls.mse_loss, xp_of(p).asarray(loss, dtype=p.dtype), dpred, _scaled_dx_bwd, (input,))
    out, cache = ls.mse_loss_forward(p, t, reduction)
    return record(fn, ls.mse_loss_backward, xp_of(p).asarray(out), cache, _mse_bwd, (input, target))


def _mse_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    dpred, dtarget = ls.mse_loss_backward(g, c)
    return (dpred if n[0] else None), (dtarget if n[1] else None)


_CE_BWD = unary_backward(ls.softmax_cross_entropy_backward)
_NLL_BWD = unary_backward(ls.nll_loss_backward)
