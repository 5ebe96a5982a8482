"""The reshape module ``Flatten`` (torch.nn.Flatten)."""

from __future__ import annotations

import sys
from typing import Any

from ..validation import check_array, check_int
from .helpers import ensure_forward
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Flatten axes ``start_dim..end_dim`` into one (torch.nn.Flatten): (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = (check_int("Flatten", name, value, -sys.maxsize, type_error=True)
                                        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)))

    def forward(self, x: Any) -> Any:
        fn = "Flatten.forward"
        check_array(fn, "x", x)
        start, end = self.start_dim % max(x.ndim, 1), self.end_dim % max(x.ndim, 1)
        if x.ndim == 0 or start > end:
            raise ValueError(f"{fn}: cannot flatten axes {self.start_dim}..{self.end_dim} of x with shape "
                             f"{tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])

    def backward(self, dout: Any) -> Any:
        return dout.reshape(ensure_forward(self))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
