"""Activation modules (torch.nn names and arguments): ``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Softsign``,
the modern ``GELU``, ``SiLU``, ``ELU``, ``SELU``, ``Softplus``, ``Hardsigmoid``, ``Hardswish``, ``Mish`` and the
learnable ``PReLU``.

Each ``forward`` calls the matching kernel of :mod:`nnlab.layers.activations` and keeps its cache; ``backward``
returns ``dx`` (and, for ``PReLU``, stores ``grads['weight']``). Any input shape; ``PReLU`` reads channels on
axis 1 as torch does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import layers as F
from ..validation import check_float_dtype, check_int, check_number
from .helpers import ensure_forward
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softsign", "GELU", "SiLU", "ELU", "SELU", "Softplus", "Hardsigmoid",
           "Hardswish", "Mish", "PReLU"]


class Elementwise(Module):
    """An activation without parameters: ``forward`` calls ``F.<_kernel>_forward``, ``backward`` the
    matching ``_backward``; any input shape."""

    _kernel = ""

    def forward(self, x: Any) -> Any:
        out, self._cache = getattr(F, f"{self._kernel}_forward")(x)
        return out

    def backward(self, dout: Any) -> Any:
        return getattr(F, f"{self._kernel}_backward")(dout, ensure_forward(self))


class ReLU(Elementwise):
    """``max(0, x)`` via ``relu_forward``."""

    _kernel = "relu"


class Sigmoid(Elementwise):
    """``1 / (1 + exp(-x))`` via ``sigmoid_forward``."""

    _kernel = "sigmoid"


class Tanh(Elementwise):
    """``tanh(x)`` via ``tanh_forward``."""

    _kernel = "tanh"


class Softsign(Elementwise):
    """``x / (1 + |x|)`` via ``softsign_forward``."""

    _kernel = "softsign"


class LeakyReLU(Module):
    """``x`` where ``x > 0`` else ``negative_slope * x`` via ``leaky_relu_forward``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_number("LeakyReLU", "negative_slope", negative_slope, -math.inf)

    def forward(self, x: Any) -> Any:
        out, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: Any) -> Any:
        return F.leaky_relu_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """``x * Phi(x)`` (``approximate='none'``, exact erf) or its tanh approximation (``'tanh'``) via
    ``gelu_forward``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        out, self._cache = F.gelu_forward(x, self.approximate)
        return out

    def backward(self, dout: Any) -> Any:
        return F.gelu_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class SiLU(Elementwise):
    """``x * sigmoid(x)`` via ``silu_forward``."""

    _kernel = "silu"


class SELU(Elementwise):
    """``scale * elu(x, alpha)`` with torch's constants via ``selu_forward``."""

    _kernel = "selu"


class Hardsigmoid(Elementwise):
    """``clip(x/6 + 1/2, 0, 1)`` via ``hardsigmoid_forward``."""

    _kernel = "hardsigmoid"


class Hardswish(Elementwise):
    """``x * clip(x + 3, 0, 6) / 6`` via ``hardswish_forward``."""

    _kernel = "hardswish"


class Mish(Elementwise):
    """``x * tanh(softplus(x))`` via ``mish_forward``."""

    _kernel = "mish"


class ELU(Module):
    """``x`` where ``x > 0`` else ``alpha * (exp(x) - 1)`` via ``elu_forward``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_number("ELU", "alpha", alpha, -math.inf)

    def forward(self, x: Any) -> Any:
        out, self._cache = F.elu_forward(x, self.alpha)
        return out

    def backward(self, dout: Any) -> Any:
        return F.elu_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold``, via ``softplus_forward``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if not check_number("Softplus", "beta", beta, -math.inf) != 0:
            raise ValueError(f"Softplus: beta must be non-zero, got {beta!r}")
        self.beta, self.threshold = float(beta), check_number("Softplus", "threshold", threshold, -math.inf)

    def forward(self, x: Any) -> Any:
        out, self._cache = F.softplus_forward(x, self.beta, self.threshold)
        return out

    def backward(self, dout: Any) -> Any:
        return F.softplus_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, threshold={self.threshold:g}"


class PReLU(Module):
    """``x`` where ``x > 0`` else ``weight[c] * x`` (torch.nn.PReLU) via ``prelu_forward``.

    Parameter ``weight`` (num_parameters,), every slope ``init`` (0.25): one shared slope, or one per channel
    of axis 1 (num_parameters = C). ``backward`` stores ``grads['weight']``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_parameters = check_int("PReLU", "num_parameters", num_parameters)
        self.weight = np.full(self.num_parameters, init, dtype=check_float_dtype("PReLU", dtype))

    def forward(self, x: Any) -> Any:
        out, self._cache = F.prelu_forward(x, self.weight)
        return out

    def backward(self, dout: Any) -> Any:
        dx, dweight = F.prelu_backward(dout, ensure_forward(self))
        self._set_grad("weight", dweight)
        return dx

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
