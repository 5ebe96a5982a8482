"""Loss functions: each returns ``(loss, dscores)`` with the loss averaged as documented.

- :func:`softmax_loss`: softmax cross-entropy on integer labels, mean over N (log-sum-exp, stable for 1e4 logits).
- :func:`svm_loss`: multiclass hinge (Weston-Watkins, margin 1), mean over N.
- :func:`mse_loss`: mean squared error, mean over ALL elements (``torch.nn.MSELoss()`` default).
- :func:`cross_entropy_loss`: cross-entropy of given probabilities against one-hot targets (seed-003 form).
- :func:`temporal_softmax_loss`: masked softmax cross-entropy over (N, T, V) sequences, summed over steps, mean
  over N (CS231n).
- ``softmax_cross_entropy_forward/backward``, ``nll_loss_forward/backward``, ``mse_loss_forward/backward``:
  ``(loss, cache)`` / ``backward(dout, cache)`` pairs with torch's ``reduction`` ('none', 'sum', 'mean'), for
  the variants :func:`softmax_loss` and :func:`mse_loss` (mean only, gradient returned at once) do not cover;
  :mod:`nnlab.functional` wraps them.

Bad input (wrong ranks, mismatched shapes, non-integer or out-of-range labels, NaN/inf scores) raises a
``ValueError``/``TypeError`` naming the function and the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..validation import check_array, check_finite, check_labels, check_same_shape

__all__ = ["softmax_loss", "svm_loss", "mse_loss", "cross_entropy_loss", "temporal_softmax_loss",
           "softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "nll_loss_forward",
           "nll_loss_backward", "mse_loss_forward", "mse_loss_backward"]

_REDUCTIONS = ("none", "sum", "mean")


def _check_scores_and_labels(fn: str, x: Any, y: Any) -> None:
    check_array(fn, "x", x, ndim=2, shape_hint="(N, C) of class scores", float_only=True)
    if x.shape[1] == 0:
        raise ValueError(f"{fn}: x must have at least one class column, got shape {tuple(x.shape)}")
    check_finite(fn, "x", x)
    check_labels(fn, "y", y, x.shape[0], x.shape[1])


def _smoothing(fn: str, label_smoothing: Any) -> float:
    """``label_smoothing`` checked to be a number in [0, 1], as a float."""
    if isinstance(label_smoothing, (str, bytes)) or not hasattr(label_smoothing, "__float__"):
        raise TypeError(f"{fn}: label_smoothing must be a number, got {type(label_smoothing).__name__}")
    eps = float(label_smoothing)
    if isinstance(label_smoothing, bool) or not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return eps


def _reduction(fn: str, reduction: Any) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    return reduction


def _reduce(losses: Any, reduction: str) -> Any:
    """Per-element losses reduced as torch: unchanged ('none'), summed, or averaged."""
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / losses.dtype.type(losses.size) if reduction == "mean" else total


def _upstream(fn: str, dout: Any, reduction: str, shape: tuple, dtype: Any) -> Any:
    """The upstream gradient of a reduced loss, broadcastable against the per-element losses of ``shape``
    (divided by their count for 'mean')."""
    if isinstance(dout, (str, bytes)) or getattr(getattr(dout, "dtype", None), "kind", "f") not in "biufc":
        raise TypeError(f"{fn}: dout must be a number or a numeric array, got {type(dout).__name__}")
    xp = xp_of(dout) if hasattr(dout, "shape") else np
    d = xp.asarray(dout, dtype=dtype)
    want = tuple(shape) if reduction == "none" else ()
    if tuple(d.shape) != want:
        raise ValueError(f"{fn}: dout must have shape {want} (reduction={reduction!r}), got {tuple(d.shape)}")
    if reduction == "mean":
        size = 1
        for s in shape:
            size *= int(s)
        d = d / dtype.type(size)
    return d


def softmax_loss(x: Any, y: Any, label_smoothing: float = 0.0) -> tuple[Any, Any]:
    """Softmax cross-entropy loss and its gradient, optionally with label smoothing.

    Inputs:
    - x: (N, C) class scores (logits), float.
    - y: (N,) integer labels with ``0 <= y[i] < C``.
    - label_smoothing: eps in [0, 1]. The target of row i is ``q_i = (1 - eps) * onehot(y_i) + eps / C``
      (torch.nn.CrossEntropyLoss(label_smoothing=eps)); 0 (default) is the plain loss, computed as before.

    Returns ``(loss, dx)``:
    ``loss = -(1/N) sum_i sum_j q_ij log softmax(x_i)_j`` (a scalar of x's dtype; with eps = 0 this is
    ``(1/N) sum_i [logsumexp(x_i) - x_i[y_i]]``) and ``dx = (softmax(x) - q) / N`` of shape (N, C).
    """
    fn = "softmax_loss"
    _check_scores_and_labels(fn, x, y)
    eps = _smoothing(fn, label_smoothing)
    xp = xp_of(x)
    n, c = x.shape
    rows = xp.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_z
    if eps == 0.0:
        loss = -log_probs[rows, y].sum() / n
    else:
        loss = -((1.0 - eps) * log_probs[rows, y].sum() + (eps / c) * log_probs.sum()) / n
    dx = xp.exp(log_probs)
    if eps:
        dx -= eps / c
    dx[rows, y] -= 1 - eps
    dx /= n
    return loss, dx


def svm_loss(x: Any, y: Any) -> tuple[Any, Any]:
    """Multiclass hinge (SVM) loss and its gradient.

    Inputs:
    - x: (N, C) class scores, float.
    - y: (N,) integer labels with ``0 <= y[i] < C``.

    Returns ``(loss, dx)``: ``loss = (1/N) sum_i sum_{j != y_i} max(0, x_ij - x_i,y_i + 1)`` and ``dx`` (N, C).
    Note: ``torch.nn.functional.multi_margin_loss`` also divides by C; ``svm_loss = C * multi_margin_loss``.
    """
    _check_scores_and_labels("svm_loss", x, y)
    xp = xp_of(x)
    n = x.shape[0]
    rows = xp.arange(n)
    correct = x[rows, y][:, None]
    margins = xp.maximum(x - correct + 1, 0)
    margins[rows, y] = 0
    loss = margins.sum() / n
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] -= dx.sum(axis=1)
    dx /= n
    return loss, dx


def mse_loss(pred: Any, target: Any) -> tuple[Any, Any]:
    """Mean squared error over all elements and its gradient.

    Inputs:
    - pred: predictions of any shape, float.
    - target: targets of the same shape.

    Returns ``(loss, dpred)``: ``loss = mean((pred - target)**2)`` over ALL S elements (as
    ``torch.nn.MSELoss()`` with ``reduction='mean'``), ``dpred = 2 (pred - target) / S`` shaped like ``pred``.
    """
    fn = "mse_loss"
    check_array(fn, "pred", pred, float_only=True)
    check_array(fn, "target", target)
    check_same_shape(fn, "pred", pred, "target", target)
    if pred.size == 0:
        raise ValueError(f"{fn}: pred is empty (shape {tuple(pred.shape)})")
    check_finite(fn, "pred", pred)
    check_finite(fn, "target", target)
    diff = pred - target.astype(pred.dtype, copy=False)
    loss = (diff * diff).sum() / diff.size
    dpred = diff * (2 / diff.size)
    return loss, dpred


def cross_entropy_loss(probs: Any, y_onehot: Any, eps: float = 1e-15) -> tuple[Any, Any]:
    """Cross-entropy of predicted probabilities against one-hot (or soft) targets, and its gradient.

    Inputs:
    - probs: (N, C) predicted probabilities (e.g. a softmax output), float.
    - y_onehot: (N, C) targets (one-hot rows).
    - eps: added inside the log to avoid ``log(0)``.

    Returns ``(loss, dprobs)``: ``loss = -(1/N) sum_ij y_ij log(p_ij + eps)`` and
    ``dprobs = -y / (p + eps) / N`` (N, C). Pair it with :func:`~nnlab.layers.softmax_backward`, or use
    :func:`softmax_loss` on logits, whose combined gradient is simpler and more stable.
    """
    fn = "cross_entropy_loss"
    check_array(fn, "probs", probs, ndim=2, shape_hint="(N, C) of probabilities", float_only=True)
    check_array(fn, "y_onehot", y_onehot, ndim=2, shape_hint="(N, C) one-hot targets")
    check_same_shape(fn, "probs", probs, "y_onehot", y_onehot)
    check_finite(fn, "probs", probs)
    xp = xp_of(probs)
    if bool((probs < 0).any()) or bool((probs > 1).any()):
        raise ValueError(f"{fn}: probs must lie in [0, 1]")
    n = probs.shape[0]
    y = y_onehot.astype(probs.dtype, copy=False)
    shifted = probs + eps
    loss = -(y * xp.log(shifted)).sum() / n
    dprobs = -y / shifted / n
    return loss, dprobs


def temporal_softmax_loss(x: Any, y: Any, mask: Any = None) -> tuple[float, Any]:
    """Softmax cross-entropy summed over the unmasked time steps and averaged over the batch (CS231n).

    ``loss = -(1/N) sum_{n,t} mask[n, t] log softmax(x[n, t])[y[n, t]]`` -- divided by N only, not by the
    number of unmasked steps (torch's ``cross_entropy(reduction="sum") / N`` on the masked entries).

    Inputs: x (N, T, V) scores; y (N, T) integer targets in [0, V); mask (N, T) boolean (or 0/1), which steps
    count (all of them when None).
    Returns ``(loss, dx)``: a Python float and dx (N, T, V) in x's dtype.
    """
    fn = "temporal_softmax_loss"
    check_array(fn, "x", x, ndim=3, shape_hint="(N, T, V)", float_only=True)
    check_array(fn, "y", y, ndim=2, shape_hint="(N, T)")
    N, T, V = x.shape
    if tuple(y.shape) != (N, T):
        raise ValueError(f"{fn}: y must have shape (N, T) = {(N, T)} to match x {tuple(x.shape)}, "
                         f"got {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= V):
        raise ValueError(f"{fn}: y must be in [0, {V}), got values from {int(y.min())} to {int(y.max())}")
    xp = xp_of(x)
    if mask is None:
        mask = xp.ones((N, T), dtype=x.dtype)
    else:
        check_array(fn, "mask", mask, ndim=2, shape_hint="(N, T)")
        if tuple(mask.shape) != (N, T):
            raise ValueError(f"{fn}: mask must have shape (N, T) = {(N, T)}, got {tuple(mask.shape)}")
        mask = mask.astype(x.dtype, copy=False)
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_z
    rows = xp.arange(N * T)
    m = mask.reshape(N * T)
    labels = y.reshape(N * T)
    loss = -float((m * log_probs[rows, labels]).sum()) / N
    dx = xp.exp(log_probs)
    dx[rows, labels] -= 1
    dx *= (m / N)[:, None]
    return loss, dx.reshape(N, T, V)


def softmax_cross_entropy_forward(x: Any, y: Any, label_smoothing: float = 0.0,
                                  reduction: str = "none") -> tuple[Any, tuple]:
    """Softmax cross-entropy with torch's ``reduction`` (``torch.nn.functional.cross_entropy`` on (N, C)).

    Inputs: x (N, C) logits, float; y (N,) integer labels in [0, C); label_smoothing eps in [0, 1] (target
    ``q_i = (1 - eps) onehot(y_i) + eps / C``); reduction 'none' | 'sum' | 'mean'.

    Per sample ``l_i = -sum_j q_ij log softmax(x_i)_j`` (log-sum-exp form, stable for 1e4 logits). Returns
    ``(loss, cache)``: loss (N,) for 'none', else the scalar sum or mean, in x's dtype.
    """
    fn = "softmax_cross_entropy_forward"
    _check_scores_and_labels(fn, x, y)
    eps = _smoothing(fn, label_smoothing)
    _reduction(fn, reduction)
    xp = xp_of(x)
    n, c = x.shape
    rows = xp.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    losses = -log_probs[rows, y]
    if eps:
        losses = (1.0 - eps) * losses - (eps / c) * log_probs.sum(axis=1)
    return _reduce(losses.astype(x.dtype, copy=False), reduction), (log_probs, y, eps, reduction)


def softmax_cross_entropy_backward(dout: Any, cache: tuple) -> Any:
    """Backward of :func:`softmax_cross_entropy_forward`: ``dx_i = (softmax(x_i) - q_i) * dl_i`` with
    ``dl_i = dout[i]`` ('none'), ``dout`` ('sum') or ``dout / N`` ('mean'). Returns dx (N, C)."""
    log_probs, y, eps, reduction = cache
    n, c = log_probs.shape
    d = _upstream("softmax_cross_entropy_backward", dout, reduction, (n,), log_probs.dtype)
    dx = xp_of(log_probs).exp(log_probs)
    if eps:
        dx -= eps / c
    dx[xp_of(log_probs).arange(n), y] -= 1 - eps
    dx *= d[:, None] if d.ndim else d
    return dx


def nll_loss_forward(x: Any, y: Any, reduction: str = "mean") -> tuple[Any, tuple]:
    """Negative log-likelihood of log-probabilities (``torch.nn.functional.nll_loss`` on (N, C)).

    Inputs: x (N, C) log-probabilities (e.g. a log-softmax output), float; y (N,) integer labels in [0, C);
    reduction 'none' | 'sum' | 'mean'. Per sample ``l_i = -x[i, y_i]``. Returns ``(loss, cache)``: (N,) for
    'none', else the scalar sum or mean.
    """
    fn = "nll_loss_forward"
    _check_scores_and_labels(fn, x, y)
    _reduction(fn, reduction)
    losses = -x[xp_of(x).arange(x.shape[0]), y]
    return _reduce(losses, reduction), (tuple(x.shape), x.dtype, y, reduction)


def nll_loss_backward(dout: Any, cache: tuple) -> Any:
    """Backward of :func:`nll_loss_forward`: ``dx[i, y_i] = -dl_i`` (``dl_i`` as in
    :func:`softmax_cross_entropy_backward`), zero elsewhere. Returns dx (N, C)."""
    shape, dtype, y, reduction = cache
    d = _upstream("nll_loss_backward", dout, reduction, shape[:1], dtype)
    xp = xp_of(y)
    dx = xp.zeros(shape, dtype=dtype)
    dx[xp.arange(shape[0]), y] = -d
    return dx


def mse_loss_forward(pred: Any, target: Any, reduction: str = "mean") -> tuple[Any, tuple]:
    """Squared error with torch's ``reduction`` (``torch.nn.functional.mse_loss``).

    Inputs: pred and target of the same shape, float; reduction 'none' | 'sum' | 'mean'. Per element
    ``l = (pred - target)**2``. Returns ``(loss, cache)``: shaped like pred for 'none', else a scalar.
    """
    fn = "mse_loss_forward"
    check_array(fn, "pred", pred, float_only=True)
    check_array(fn, "target", target)
    check_same_shape(fn, "pred", pred, "target", target)
    _reduction(fn, reduction)
    diff = pred - target.astype(pred.dtype, copy=False)
    return _reduce(diff * diff, reduction), (diff, reduction)


def mse_loss_backward(dout: Any, cache: tuple) -> tuple[Any, Any]:
    """Backward of :func:`mse_loss_forward`: ``dpred = 2 (pred - target) * dl`` and ``dtarget = -dpred``
    (``dl`` = dout, or dout / S for 'mean' over S elements). Returns ``(dpred, dtarget)``."""
    diff, reduction = cache
    d = _upstream("mse_loss_backward", dout, reduction, diff.shape, diff.dtype)
    dpred = diff * (2 * d)
    return dpred, -dpred
