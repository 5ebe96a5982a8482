"""Affine modules (torch.nn.Linear's names and shapes): ``Linear`` through ``affine_forward``, and ``Identity``.

Initialisation follows torch: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's kaiming-uniform
with a = sqrt(5)), drawn from ``seed`` (None -> NumPy's global RNG, an int -> a private ``RandomState``, or a
Generator/RandomState used as is). Parameters are float32 by default (``dtype=``), like torch; ``module.to(np.float64)``
casts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, xp_of
from ..validation import check_float_dtype, check_int, check_min_ndim
from .helpers import Seed, ensure_forward, uniform_init
from .module import Module

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """``y = x @ weight.T + bias`` on the last axis (torch.nn.Linear).

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,). Input (..., in_features),
    output (..., out_features). Calls ``affine_forward(x2d, weight.T, bias)`` (a view, no copy) and maps
    ``dw`` back as ``dweight = dw.T``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, seed: Seed = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "Linear"
        self.in_features = check_int(fn, "in_features", in_features)
        self.out_features = check_int(fn, "out_features", out_features)
        dtype = check_float_dtype(fn, dtype)
        rng = get_rng(seed)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = uniform_init(rng, (self.out_features, self.in_features), bound, dtype)
        self.register_parameter("bias", uniform_init(rng, (self.out_features,), bound, dtype) if bias else None)

    def forward(self, x: Any) -> Any:
        fn = "Linear.forward"
        check_min_ndim(fn, "x", x, 1, "(..., in_features)")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{fn}: x has {x.shape[-1]} features on its last axis (shape {tuple(x.shape)}) "
                             f"but in_features={self.in_features}")
        bias = self.bias if self.bias is not None else xp_of(x).zeros(self.out_features, dtype=self.weight.dtype)
        out, cache = F.affine_forward(x.reshape(-1, self.in_features), self.weight.T, bias)
        self._cache = (cache, x.shape)
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dout: Any) -> Any:
        cache, x_shape = ensure_forward(self)
        dx, dw, db = F.affine_backward(dout.reshape(-1, self.out_features), cache)
        self._set_grad("weight", dw.T)
        if self.bias is not None:
            self._set_grad("bias", db)
        return dx.reshape(x_shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"



class Identity(Module):
    """``out = x``."""

    def forward(self, x: Any) -> Any:
        return x

    def backward(self, dout: Any) -> Any:
        return dout
