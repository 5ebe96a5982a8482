"""Activations, softmax / log-softmax and dropout as tape nodes (kernels of :mod:`nnlab.layers.activations`
and :mod:`nnlab.layers.dropout`). Each op accepts a Tensor or an array and returns a Tensor."""

from __future__ import annotations

from typing import Any

from ..layers import activations as act
from ..layers import dropout as drop
from ..validation import check_probability
from ._common import Tensor, array_arg, record, unary_backward

__all__ = ["relu", "leaky_relu", "gelu", "silu", "elu", "selu", "softplus", "sigmoid", "tanh", "softsign",
           "hardswish", "mish", "prelu", "softmax", "log_softmax", "dropout"]

_BWD = {k: unary_backward(k) for k in (
    act.relu_backward, act.leaky_relu_backward, act.gelu_backward, act.silu_backward, act.elu_backward,
    act.selu_backward, act.softplus_backward, act.sigmoid_backward, act.tanh_backward, act.softsign_backward,
    act.hardswish_backward, act.mish_backward, act.softmax_backward, act.log_softmax_backward,
    drop.dropout_backward)}


def _elementwise(name: str, fwd: Any, bwd: Any, input: Any, *args: Any) -> Tensor:  # noqa: A002
    out, cache = fwd(array_arg(name, "input", input), *args)
    return record(name, bwd, out, cache, _BWD[bwd], (input,))


def _no_inplace(fn: str, inplace: bool) -> None:
    if inplace:
        raise ValueError(f"{fn}: inplace=True is not supported (Tensors have no in-place operators)")


def relu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``max(x, 0)`` elementwise, any shape (gradient 0 at 0)."""
    _no_inplace("relu", inplace)
    return _elementwise("relu", act.relu_forward, act.relu_backward, input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` where ``x > 0`` else ``negative_slope * x``."""
    _no_inplace("leaky_relu", inplace)
    return _elementwise("leaky_relu", act.leaky_relu_forward, act.leaky_relu_backward, input, negative_slope)


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """``x * Phi(x)`` (exact, erf) or its tanh approximation (``approximate='tanh'``)."""
    return _elementwise("gelu", act.gelu_forward, act.gelu_backward, input, approximate)


def silu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * sigmoid(x)``."""
    _no_inplace("silu", inplace)
    return _elementwise("silu", act.silu_forward, act.silu_backward, input)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x`` where ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    _no_inplace("elu", inplace)
    return _elementwise("elu", act.elu_forward, act.elu_backward, input, alpha)


def selu(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``scale * elu(x, alpha)`` with torch's constants."""
    _no_inplace("selu", inplace)
    return _elementwise("selu", act.selu_forward, act.selu_backward, input)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold``."""
    return _elementwise("softplus", act.softplus_forward, act.softplus_backward, input, beta, threshold)


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    """``1 / (1 + exp(-x))``."""
    return _elementwise("sigmoid", act.sigmoid_forward, act.sigmoid_backward, input)


def tanh(input: Any) -> Tensor:  # noqa: A002
    """Hyperbolic tangent."""
    return _elementwise("tanh", act.tanh_forward, act.tanh_backward, input)


def softsign(input: Any) -> Tensor:  # noqa: A002
    """``x / (1 + |x|)``."""
    return _elementwise("softsign", act.softsign_forward, act.softsign_backward, input)


def hardswish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * clip(x + 3, 0, 6) / 6``."""
    _no_inplace("hardswish", inplace)
    return _elementwise("hardswish", act.hardswish_forward, act.hardswish_backward, input)


def mish(input: Any, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x * tanh(softplus(x))``."""
    _no_inplace("mish", inplace)
    return _elementwise("mish", act.mish_forward, act.mish_backward, input)


def prelu(input: Any, weight: Any) -> Tensor:  # noqa: A002
    """``x`` where ``x > 0`` else ``weight[c] * x``; input (N, C, ...) channels on axis 1, weight (C,) or (1,)."""
    out, cache = act.prelu_forward(array_arg("prelu", "input", input), array_arg("prelu", "weight", weight))
    return record("prelu", act.prelu_backward, out, cache, _prelu_bwd, (input, weight))


def _prelu_bwd(g: Any, c: Any, n: tuple) -> tuple:
    dx, dw = act.prelu_backward(g, c)
    return (dx if n[0] else None), (dw if n[1] else None)


def _softmax_dim(fn: str, x: Any, dim: int | None) -> int:
    if dim is None:  # torch's legacy implicit choice
        return 0 if x.ndim in (0, 1, 3) else 1
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise ValueError(f"{fn}: dim {dim} is out of range for input of shape {tuple(x.shape)}")
    return dim


def softmax(input: Any, dim: int | None = None) -> Tensor:  # noqa: A002
    """``exp(x) / sum(exp(x), dim)`` (max-shifted). ``dim=None`` picks torch's legacy implicit axis."""
    x = array_arg("softmax", "input", input)
    out, cache = act.softmax_forward(x, _softmax_dim("softmax", x, dim))
    return record("softmax", act.softmax_backward, out, cache, _BWD[act.softmax_backward], (input,))


def log_softmax(input: Any, dim: int | None = None) -> Tensor:  # noqa: A002
    """``x - logsumexp(x, dim)``. ``dim=None`` picks torch's legacy implicit axis."""
    x = array_arg("log_softmax", "input", input)
    out, cache = act.log_softmax_forward(x, _softmax_dim("log_softmax", x, dim))
    return record("log_softmax", act.log_softmax_backward, out, cache, _BWD[act.log_softmax_backward], (input,))


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False, *,  # noqa: A002
            seed: Any = None) -> Any:
    """Inverted dropout: in training ``x * mask`` with ``mask = (u < 1 - p) / (1 - p)``, ``u ~ U[0, 1)``;
    the identity (the input itself, no node) when ``training=False`` or ``p == 0``.

    ``p`` is the DROP probability in [0, 1). ``seed``: None draws from NumPy's global RNG (so
    ``np.random.seed`` reproduces a run), an int gives the same mask on every call (a private RandomState).
    """
    _no_inplace("dropout", inplace)
    check_probability("dropout", "p", p)
    if not training or float(p) == 0.0:
        return input
    param = {"mode": "train", "p": float(p)}
    if seed is not None:
        param["seed"] = seed
    out, cache = drop.dropout_forward(array_arg("dropout", "input", input), param)
    return record("dropout", drop.dropout_backward, out, cache, _BWD[drop.dropout_backward], (input,))
