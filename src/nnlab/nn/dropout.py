"""The dropout module ``Dropout`` (torch.nn.Dropout: ``p`` is the probability to DROP) through
:mod:`nnlab.layers.dropout`."""

from __future__ import annotations

from typing import Any

from .. import layers as F
from ..backend import get_rng
from ..validation import check_probability
from .helpers import Seed, ensure_forward
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Inverted dropout with DROP probability ``p`` (torch.nn.Dropout) via ``dropout_forward``.

    Training: ``out = x * mask``, ``mask = (u < 1-p) / (1-p)``; evaluation: the identity. Masks come from
    ``seed`` (None -> NumPy's global RNG; an int -> a private RandomState that keeps advancing).
    """

    def __init__(self, p: float = 0.5, seed: Seed = None) -> None:
        super().__init__()
        check_probability("Dropout", "p", p)
        self.p = float(p)
        self._rng = None if seed is None else get_rng(seed)

    def forward(self, x: Any) -> Any:
        param: dict[str, Any] = {"mode": "train" if self.training else "test", "p": self.p}
        if self._rng is not None:
            param["seed"] = self._rng
        out, self._cache = F.dropout_forward(x, param)
        return out

    def backward(self, dout: Any) -> Any:
        return F.dropout_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"
