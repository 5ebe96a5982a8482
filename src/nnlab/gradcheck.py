"""Numerical gradients and relative error, for verifying hand-written backward passes.

The numerical functions perturb ``x`` **in place** (one entry at a time, restoring it afterwards), so a closure
that ignores its argument and reads a captured array -- ``lambda _: model.loss(X, y)[0]`` over
``model.params[name]`` -- still sees the perturbation. Use float64: with float32 the centered difference is
dominated by rounding error, and these functions warn.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from random import randrange

import numpy as np

from .validation import check_callable, check_numeric

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse", "rel_error"]


def _warn_if_low_precision(fn: str, x: np.ndarray) -> None:
    if x.dtype != np.float64:
        warnings.warn(
            f"{fn}: x has dtype {x.dtype}; numerical gradients need float64 to be meaningful",
            RuntimeWarning,
            stacklevel=3,
        )


def _centered_pair(f: Callable, x: np.ndarray, ix: tuple, h: float):
    """``(f(x + h e_ix), f(x - h e_ix))`` with ``x`` perturbed in place and restored afterwards.
    Array results are copied, since ``f`` may return a view that the next evaluation overwrites."""
    old = x[ix]
    try:
        x[ix] = old + h
        plus = f(x)
        plus = np.array(plus, copy=True) if isinstance(plus, np.ndarray) else plus
        x[ix] = old - h
        minus = f(x)
        minus = np.array(minus, copy=True) if isinstance(minus, np.ndarray) else minus
    finally:
        x[ix] = old
    return plus, minus


def rel_error(x, y) -> float:
    r"""Maximum elementwise relative error, the CS231n definition.

    .. math:: \max_i \frac{|x_i - y_i|}{\max(10^{-8}, |x_i| + |y_i|)}

    Parameters
    ----------
    x, y : array_like
        Arrays of the same shape (or broadcastable), compared in float64.

    Returns
    -------
    float
        The largest relative error; below 1e-7 means a backward pass agrees with its numerical gradient.

    Examples
    --------
    >>> from nnlab.gradcheck import rel_error
    >>> rel_error([1.0, 2.0], [1.0, 3.0])  # |2 - 3| / (2 + 3)
    0.2
    """
    check_numeric("rel_error", "x", x)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True,
                            h: float = 1e-5) -> np.ndarray:
    r"""Centered-difference gradient of a scalar function at ``x``.

    .. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to a scalar.
    x : ndarray
        The point, any shape, float64; perturbed in place (one entry at a time) and restored.
    verbose : bool
        Print each index and its gradient.
    h : float
        Step size.

    Returns
    -------
    ndarray
        ``grad`` shaped like ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from nnlab.gradcheck import eval_numerical_gradient
    >>> eval_numerical_gradient(lambda v: np.sum(v ** 2), np.array([1.0, -2.0]), verbose=False).round(6)
    array([ 2., -4.])
    """
    check_callable("eval_numerical_gradient", "f", f, "a callable f(x)")
    _warn_if_low_precision("eval_numerical_gradient", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        fxph, fxmh = _centered_pair(f, x, ix, h)
        grad[ix] = (float(fxph) - float(fxmh)) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray,
                                  h: float = 1e-5) -> np.ndarray:
    r"""Centered-difference gradient of ``sum(f(x) * df)`` for an array-valued ``f``: what a backward pass
    ``*_backward(df, cache)`` must return for ``x``.

    .. math:: g_i \approx \sum_j \frac{f_j(x + h e_i) - f_j(x - h e_i)}{2h}\, df_j

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to an array shaped like ``df``.
    x : ndarray
        The point, any shape, float64; perturbed in place and restored.
    df : ndarray
        Upstream gradient, shaped like ``f(x)``.
    h : float
        Step size.

    Returns
    -------
    ndarray
        ``grad`` shaped like ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from nnlab.gradcheck import eval_numerical_gradient_array
    >>> from nnlab.layers import relu_forward
    >>> x, dout = np.array([-1.0, 2.0]), np.array([5.0, 7.0])
    >>> eval_numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout).round(6)
    array([0., 7.])
    """
    check_callable("eval_numerical_gradient_array", "f", f, "a callable f(x)")
    _warn_if_low_precision("eval_numerical_gradient_array", x)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        ix = it.multi_index
        pos, neg = _centered_pair(f, x, ix, h)
        grad[ix] = np.sum((np.asarray(pos) - np.asarray(neg)) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f: Callable[[np.ndarray], float], x: np.ndarray, analytic_grad: np.ndarray,
                      num_checks: int = 10, h: float = 1e-5, verbose: bool = True) -> list[float]:
    """Compare ``analytic_grad`` with centered differences at ``num_checks`` random indices of ``x``.

    Prints ``numerical: %f analytic: %f, relative error: %e`` per check, as the course code does.

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to a scalar.
    x : ndarray
        The point, float64; perturbed in place and restored.
    analytic_grad : ndarray
        The gradient to check, shaped like ``x``.
    num_checks : int
        How many random indices (drawn with Python's ``random``).
    h : float
        Step size.
    verbose : bool
        Print each check.

    Returns
    -------
    list of float
        The relative errors ``|num - ana| / (|num| + |ana|)`` (0 where both are 0).

    Examples
    --------
    >>> import numpy as np
    >>> from nnlab.gradcheck import grad_check_sparse
    >>> x = np.array([[1.0, -2.0], [0.5, 3.0]])
    >>> max(grad_check_sparse(lambda v: np.sum(v ** 2), x, 2 * x, num_checks=3, verbose=False)) < 1e-8
    True
    """
    check_callable("grad_check_sparse", "f", f, "a callable f(x)")
    _warn_if_low_precision("grad_check_sparse", x)
    if tuple(analytic_grad.shape) != tuple(x.shape):
        raise ValueError(
            f"grad_check_sparse: analytic_grad has shape {tuple(analytic_grad.shape)} but x has {tuple(x.shape)}"
        )
    errors = []
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        fxph, fxmh = _centered_pair(f, x, ix, h)
        grad_numerical = (float(fxph) - float(fxmh)) / (2 * h)
        grad_analytic = float(analytic_grad[ix])
        denom = abs(grad_numerical) + abs(grad_analytic)
        err = abs(grad_numerical - grad_analytic) / denom if denom > 0 else 0.0
        errors.append(err)
        if verbose:
            print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {err:e}")
    return errors
