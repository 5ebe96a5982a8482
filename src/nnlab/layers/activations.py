"""Elementwise activations (ReLU, leaky ReLU, sigmoid, tanh, softsign) and softmax / log-softmax.

Every forward returns ``(out, cache)``; every backward ``dx`` shaped like ``x``. All are numerically stable
for inputs of magnitude 1e4 (no overflow, no warnings) and keep the input's dtype.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ..validation import check_array, check_same_shape

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "softsign_forward", "softsign_backward",
    "softmax_forward", "softmax_backward",
    "log_softmax_forward", "log_softmax_backward",
]


def _check_dout(fn: str, dout: Any, ref: Any) -> None:
    check_array(fn, "dout", dout)
    check_same_shape(fn, "dout", dout, "x", ref)


def _check_axis(fn: str, x: Any, axis: int) -> int:
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for x of shape {tuple(x.shape)}")
    return axis % x.ndim


def relu_forward(x: Any) -> tuple[Any, Any]:
    """ReLU forward: ``out = max(0, x)``, any shape. Returns ``(out, cache)`` with ``cache = x``."""
    check_array("relu_forward", "x", x)
    xp = xp_of(x)
    return xp.maximum(x, 0), x


def relu_backward(dout: Any, cache: Any) -> Any:
    """ReLU backward: ``dx = dout * (x > 0)`` (the gradient at 0 is 0), shaped like ``x``.

    A product with the boolean mask rather than ``where`` (about 9x faster on a conv activation); an upstream
    gradient that is already inf/NaN where ``x <= 0`` stays NaN there instead of becoming 0.
    """
    x = cache
    _check_dout("relu_backward", dout, x)
    return dout * (x > 0)


def leaky_relu_forward(x: Any, negative_slope: float = 0.01) -> tuple[Any, tuple]:
    """Leaky ReLU forward: ``out = x`` where ``x > 0`` else ``negative_slope * x``, any shape.

    Returns ``(out, cache)`` with ``cache = (x, negative_slope)``.
    """
    check_array("leaky_relu_forward", "x", x)
    xp = xp_of(x)
    if 0 <= negative_slope <= 1:  # then max(x, slope * x) is the same function, and ~10x faster than where
        out = xp.maximum(x, x * x.dtype.type(negative_slope))
    else:
        out = xp.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)
    return out, (x, negative_slope)


def leaky_relu_backward(dout: Any, cache: tuple) -> Any:
    """Leaky ReLU backward: ``dx = dout`` where ``x > 0`` else ``negative_slope * dout``."""
    x, negative_slope = cache
    _check_dout("leaky_relu_backward", dout, x)
    # slope + (1 - slope) * (x > 0), built in place in dout's dtype, times dout
    dx = (x > 0).astype(dout.dtype)
    dx *= 1 - negative_slope
    dx += negative_slope
    dx *= dout
    return dx


def sigmoid_forward(x: Any) -> tuple[Any, Any]:
    """Logistic sigmoid ``out = 1 / (1 + exp(-x))``, any shape; ``cache = out``.

    Stable form: with ``e = exp(-|x|)`` (never overflows), ``out = 1/(1+e)`` for ``x >= 0`` and ``e/(1+e)``
    otherwise.
    """
    check_array("sigmoid_forward", "x", x)
    xp = xp_of(x)
    e = xp.exp(-xp.abs(x))
    out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype, copy=False)
    return out, out


def sigmoid_backward(dout: Any, cache: Any) -> Any:
    """Sigmoid backward: ``dx = dout * out * (1 - out)``."""
    out = cache
    _check_dout("sigmoid_backward", dout, out)
    return dout * out * (1 - out)


def tanh_forward(x: Any) -> tuple[Any, Any]:
    """Hyperbolic tangent ``out = tanh(x)``, any shape; ``cache = out``."""
    check_array("tanh_forward", "x", x)
    out = xp_of(x).tanh(x)
    return out, out


def tanh_backward(dout: Any, cache: Any) -> Any:
    """Tanh backward: ``dx = dout * (1 - out**2)``."""
    out = cache
    _check_dout("tanh_backward", dout, out)
    return dout * (1 - out * out)


def softsign_forward(x: Any) -> tuple[Any, Any]:
    """Softsign ``out = x / (1 + |x|)``, any shape; ``cache = x`` (the input is not modified)."""
    check_array("softsign_forward", "x", x)
    xp = xp_of(x)
    return x / (1 + xp.abs(x)), x


def softsign_backward(dout: Any, cache: Any) -> Any:
    """Softsign backward: ``dx = dout / (1 + |x|)**2``."""
    x = cache
    _check_dout("softsign_backward", dout, x)
    xp = xp_of(dout, x)
    denom = 1 + xp.abs(x)
    return dout / (denom * denom)


def softmax_forward(x: Any, axis: int = -1) -> tuple[Any, tuple]:
    """Softmax along ``axis``: ``out = exp(x - max) / sum(exp(x - max))``, shape of ``x``.

    Subtracting the maximum makes every exponent <= 0, so logits of any magnitude are safe.
    Returns ``(out, cache)`` with ``cache = (out, axis)``.
    """
    fn = "softmax_forward"
    check_array(fn, "x", x)
    axis = _check_axis(fn, x, axis)
    xp = xp_of(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout: Any, cache: tuple) -> Any:
    """Softmax backward: ``dx = out * (dout - sum(dout * out, axis))`` (the Jacobian-vector product)."""
    out, axis = cache
    _check_dout("softmax_backward", dout, out)
    return out * (dout - (dout * out).sum(axis=axis, keepdims=True))


def log_softmax_forward(x: Any, axis: int = -1) -> tuple[Any, tuple]:
    """Log-softmax along ``axis``: ``out = (x - max) - log(sum(exp(x - max)))``, shape of ``x``.

    Returns ``(out, cache)`` with ``cache = (out, axis)``.
    """
    fn = "log_softmax_forward"
    check_array(fn, "x", x)
    axis = _check_axis(fn, x, axis)
    xp = xp_of(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return out, (out, axis)


def log_softmax_backward(dout: Any, cache: tuple) -> Any:
    """Log-softmax backward: ``dx = dout - softmax(x) * sum(dout, axis)`` with ``softmax(x) = exp(out)``."""
    out, axis = cache
    _check_dout("log_softmax_backward", dout, out)
    xp = xp_of(dout, out)
    return dout - xp.exp(out) * dout.sum(axis=axis, keepdims=True)
