"""Transformer blocks (torch.nn names and parameter layouts): ``TransformerEncoderLayer``, a learned
``PositionalEmbedding`` and the causal mask helper ``generate_square_subsequent_mask``.

``TransformerEncoderLayer`` has torch's submodules ``self_attn`` (MultiheadAttention), ``linear1``, ``linear2``,
``norm1``, ``norm2`` (and the parameter-free ``dropout``, ``dropout1``, ``dropout2``), so the state dict of a
``torch.nn.TransformerEncoderLayer`` loads 1:1. Post-norm (``norm_first=False``, torch's default)::

    x = norm1(x + dropout1(self_attn(x)));  x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))

pre-norm (``norm_first=True``): ``x = x + dropout1(self_attn(norm1(x)))``, ``x = x + ff(norm2(x))``.
(The token ``Embedding`` lives in :mod:`nnlab.nn.recurrent`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_rng, normal, xp_of
from ..validation import check_array, check_float_dtype, check_int, check_probability
from .activations import GELU, ReLU
from .attention import MultiheadAttention
from .dropout import Dropout
from .helpers import ensure_forward
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "PositionalEmbedding", "generate_square_subsequent_mask"]

Seed = Any
_ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
    """Causal mask (torch.nn.Transformer.generate_square_subsequent_mask): (sz, sz) floats, 0 on and below the
    diagonal and -inf above it, so query i attends to keys 0..i. Pass it as ``attn_mask``/``src_mask``."""
    sz = check_int("generate_square_subsequent_mask", "sz", sz)
    return np.triu(np.full((sz, sz), -np.inf, dtype=check_float_dtype("generate_square_subsequent_mask", dtype)), k=1)


class PositionalEmbedding(Module):
    """Learned absolute positions: ``out[n, t] = x[n, t] + weight[t]``.

    Parameter ``weight`` (max_len, embedding_dim) ~ N(0, std^2) (std 0.02 as GPT-2). Input x (N, T, E) or
    (T, E) with T <= max_len; output shaped like x. ``backward(dout)`` stores ``weight``'s gradient (the
    positions' sums over the batch; zero beyond T) and returns ``dout``.
    """

    def __init__(self, max_len: int, embedding_dim: int, std: float = 0.02, seed: Seed = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "PositionalEmbedding"
        self.max_len = check_int(fn, "max_len", max_len)
        self.embedding_dim = check_int(fn, "embedding_dim", embedding_dim)
        dtype = check_float_dtype(fn, dtype)
        self.weight = (float(std) * normal(get_rng(seed), (self.max_len, self.embedding_dim))).astype(dtype)

    def forward(self, x: Any) -> Any:
        fn = "PositionalEmbedding.forward"
        check_array(fn, "x", x, ndim=(2, 3), shape_hint="(N, T, embedding_dim) or (T, embedding_dim)",
                    float_only=True)
        T, E = x.shape[-2], x.shape[-1]
        if E != self.embedding_dim:
            raise ValueError(f"{fn}: x has {E} features (shape {tuple(x.shape)}) but embedding_dim="
                             f"{self.embedding_dim}")
        if T > self.max_len:
            raise ValueError(f"{fn}: x has {T} positions but the table holds max_len={self.max_len}; "
                             "use shorter sequences or a larger max_len")
        self._cache = x.shape
        return x + self.weight[:T]

    def backward(self, dout: Any) -> Any:
        shape = ensure_forward(self)
        T = shape[-2]
        grad = xp_of(dout).zeros_like(self.weight)
        grad[:T] = dout.reshape(-1, T, self.embedding_dim).sum(axis=0)
        self._set_grad("weight", grad)
        return dout

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.embedding_dim}"


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward block (torch.nn.TransformerEncoderLayer), post- or pre-norm.

    Constructor as torch: d_model, nhead, dim_feedforward (2048), dropout (0.1; on the attention weights, after
    attention, inside and after the feed-forward), activation ``'relu'`` or ``'gelu'``, layer_norm_eps, batch_first
    (True: (N, T, d_model); False: (T, N, d_model)), norm_first, bias; plus seed and dtype.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`` with the masks of
    :class:`~nnlab.nn.attention.MultiheadAttention` (``src_mask`` (T, T) or (N*nhead, T, T), True/-inf = blocked;
    ``src_key_padding_mask`` (N, T)); ``is_causal=True`` alone applies the causal mask. ``backward(dout)`` returns
    ``dsrc`` and stores every parameter's gradient.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 norm_first: bool = False, bias: bool = True, seed: Seed = None, dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "TransformerEncoderLayer"
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{fn}: activation must be 'relu' or 'gelu', got {activation!r}")
        check_probability(fn, "dropout", dropout)
        d_model, nhead = check_int(fn, "d_model", d_model), check_int(fn, "nhead", nhead)
        if d_model % nhead:
            raise ValueError(f"{fn}: d_model ({d_model}) must be divisible by nhead ({nhead})")
        dim_feedforward = check_int(fn, "dim_feedforward", dim_feedforward)
        rng = None if seed is None else get_rng(seed)
        self.batch_first, self.norm_first, self.activation_name = bool(batch_first), bool(norm_first), activation
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=True, seed=rng,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, seed=rng, dtype=dtype)
        self.dropout = Dropout(dropout, seed=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, seed=rng, dtype=dtype)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(dropout, seed=rng)
        self.dropout2 = Dropout(dropout, seed=rng)
        self.activation = _ACTIVATIONS[activation]()

    def _sa(self, x: Any, src_mask: Any, key_padding_mask: Any, is_causal: bool) -> Any:
        out, _ = self.self_attn(x, x, x, attn_mask=src_mask, key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)
        return self.dropout1(out)

    def _sa_backward(self, dout: Any) -> Any:
        return self.self_attn.backward(self.dropout1.backward(dout), sum_inputs=True)

    def _ff(self, x: Any) -> Any:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_backward(self, dout: Any) -> Any:
        d = self.linear2.backward(self.dropout2.backward(dout))
        return self.linear1.backward(self.activation.backward(self.dropout.backward(d)))

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Any:
        fn = "TransformerEncoderLayer.forward"
        check_array(fn, "src", src, ndim=(2, 3), shape_hint="(N, T, d_model), (T, N, d_model) or (T, d_model)",
                    float_only=True)
        x = src.swapaxes(0, 1) if src.ndim == 3 and not self.batch_first else src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff(self.norm2(x))
        else:
            x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff(x))
        self._cache = src.shape
        return x.swapaxes(0, 1) if src.ndim == 3 and not self.batch_first else x


    def backward(self, dout: Any) -> Any:
        shape = ensure_forward(self)
        swap = len(shape) == 3 and not self.batch_first
        d = dout.swapaxes(0, 1) if swap else dout
        if self.norm_first:
            d = d + self.norm2.backward(self._ff_backward(d))
            d = d + self.norm1.backward(self._sa_backward(d))
        else:
            d = self.norm2.backward(d)
            d = self.norm1.backward(d + self._ff_backward(d))
            d = d + self._sa_backward(d)
        return d.swapaxes(0, 1) if swap else d

    def extra_repr(self) -> str:
        return f"activation={self.activation_name!r}, norm_first={self.norm_first}, batch_first={self.batch_first}"
