"""``MultiheadAttention`` with torch's parameter names and layouts, over the scaled dot-product attention kernel.

Parameters as ``torch.nn.MultiheadAttention`` (kdim = vdim = embed_dim, no bias_k/bias_v, no zero attention):
``in_proj_weight`` (3E, E) stacking the query, key and value projections, ``in_proj_bias`` (3E,),
``out_proj.weight`` (E, E), ``out_proj.bias`` (E,), so a torch module's ``state_dict()`` loads 1:1.

Masks follow ``torch.nn.MultiheadAttention`` (the OPPOSITE boolean sense of the SDPA kernel):
``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N*num_heads, L, S) are True where attention is NOT
allowed, or floats added to the scores; both may be given (they are combined). ``is_causal=True`` blocks the
keys after each query; unlike torch, it needs no ``attn_mask`` (given both, both apply).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, uniform, xp_of
from ..validation import check_array, check_float_dtype, check_int, check_probability
from .helpers import ensure_forward
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]

Seed = Any


def _merge_masks(fn: str, attn_mask: Any, key_padding_mask: Any, N: int, h: int, L: int, S: int,
                 batched: bool) -> Any:
    """Torch-convention masks -> one kernel mask broadcastable to (N, h, L, S): boolean True = may attend when
    both are boolean (or only one is given), else a float sum with -inf where a boolean blocks."""
    parts = []
    if attn_mask is not None:
        check_array(fn, "attn_mask", attn_mask)
        if attn_mask.shape == (L, S):
            parts.append(attn_mask)
        elif attn_mask.shape == (N * h, L, S):
            parts.append(attn_mask.reshape(N, h, L, S))
        else:
            raise ValueError(f"{fn}: attn_mask must have shape (L, S) = {(L, S)} or (N*num_heads, L, S) = "
                             f"{(N * h, L, S)}, got {tuple(attn_mask.shape)}")
    if key_padding_mask is not None:
        check_array(fn, "key_padding_mask", key_padding_mask)
        want = (N, S) if batched else (S,)
        if tuple(key_padding_mask.shape) != want:
            raise ValueError(f"{fn}: key_padding_mask must have shape {'(N, S)' if batched else '(S,)'} = {want}, "
                             f"got {tuple(key_padding_mask.shape)}")
        parts.append(key_padding_mask.reshape(N, 1, 1, S))
    for name, m in zip(("attn_mask", "key_padding_mask"), parts):
        if m.dtype != bool and not np.issubdtype(m.dtype, np.floating):
            raise TypeError(f"{fn}: {name} must be boolean (True = not allowed) or floating, got dtype {m.dtype}")
    if not parts:
        return None
    if all(m.dtype == bool for m in parts):
        blocked = parts[0] if len(parts) == 1 else parts[0] | parts[1]
        return ~blocked
    xp = xp_of(*parts)
    total = 0
    for m in parts:
        total = total + (xp.where(m, -xp.inf, 0.0) if m.dtype == bool else m)
    return total


class MultiheadAttention(Module):
    """Multi-head attention (torch.nn.MultiheadAttention): ``out = concat_h(attn(q W_q^h, k W_k^h, v W_v^h)) W_o^T``.

    Constructor: embed_dim E (divisible by num_heads), num_heads h, dropout (drop probability on the attention
    weights, training mode only), bias, batch_first (True: (N, L, E) inputs; False: (L, N, E)), seed (init and
    dropout masks; None = NumPy's global RNG), dtype. Init as torch: ``in_proj_weight`` xavier-uniform, biases
    zero, ``out_proj.weight`` ~ U(+-1/sqrt(E)).

    ``forward(query, key, value, ...)`` returns ``(out, weights)`` like torch: out shaped like query; weights
    (N, L, S) averaged over heads, (N, h, L, S) with ``average_attn_weights=False``, None with
    ``need_weights=False``. Unbatched (L, E) inputs work too. ``backward(dout)`` returns
    ``(dquery, dkey, dvalue)`` and stores the parameter gradients; for self-attention, where the three are one
    array, its gradient is their sum, which ``backward(dout, sum_inputs=True)`` returns directly. The returned
    weights are not differentiated.
    """

    _tape_grad_outputs = 1  # on the tape, only the output gets a gradient (not the attention weights)

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = True, seed: Seed = None, dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "MultiheadAttention"
        self.embed_dim = check_int(fn, "embed_dim", embed_dim)
        self.num_heads = check_int(fn, "num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"{fn}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.head_dim = self.embed_dim // self.num_heads
        check_probability(fn, "dropout", dropout)
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        dtype = check_float_dtype(fn, dtype)
        rng = get_rng(seed)
        self._rng = None if seed is None else rng  # None: NumPy's global RNG, also for the submodules and dropout
        E = self.embed_dim
        bound = float(np.sqrt(6.0 / (E + 3 * E)))
        self.in_proj_weight = (bound * (2.0 * uniform(rng, (3 * E, E)) - 1.0)).astype(dtype)
        self.register_parameter("in_proj_bias", np.zeros(3 * E, dtype=dtype) if bias else None)
        self.out_proj = Linear(E, E, bias=bias, seed=self._rng, dtype=dtype)
        if bias:
            self.out_proj.bias = np.zeros(E, dtype=dtype)

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _to_batch_first(self, fn: str, name: str, x: Any) -> tuple[Any, bool]:
        check_array(fn, name, x, ndim=(2, 3), shape_hint="(N, L, E), (L, N, E) or unbatched (L, E)",
                    float_only=True)
        if x.shape[-1] != self.embed_dim:
            raise ValueError(f"{fn}: {name} has {x.shape[-1]} features on its last axis (shape {tuple(x.shape)}) "
                             f"but embed_dim={self.embed_dim}")
        if x.ndim == 2:
            return x[None], False
        return (x if self.batch_first else x.swapaxes(0, 1)), True

    def _project(self, x: Any, i: int) -> Any:
        """x (N, L, E) -> heads (N, h, L, d) of projection i (0 query, 1 key, 2 value)."""
        E = self.embed_dim
        w = self.in_proj_weight[i * E:(i + 1) * E]
        y = (x.reshape(-1, E) @ w.T).reshape(x.shape)  # one 2-D GEMM (a 3-D @ 2-D matmul is ~4x slower)
        if self.in_proj_bias is not None:
            y = y + self.in_proj_bias[i * E:(i + 1) * E]
        return self._split(y)

    def _split(self, y: Any) -> Any:
        N, L, _ = y.shape
        return y.reshape(N, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge(self, y: Any) -> Any:
        N, h, L, d = y.shape
        return y.transpose(0, 2, 1, 3).reshape(N, L, h * d)

    # ---- computation ------------------------------------------------------------------------------------------
    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False) -> tuple[Any, Any]:
        fn = "MultiheadAttention.forward"
        self_attention = query is key and key is value
        q_in, batched = self._to_batch_first(fn, "query", query)
        k_in, k_batched = self._to_batch_first(fn, "key", key)
        v_in, v_batched = self._to_batch_first(fn, "value", value)
        if not batched == k_batched == v_batched:
            raise ValueError(f"{fn}: query, key and value must all be batched (3-D) or all unbatched (2-D), got "
                             f"shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        if k_in.shape != v_in.shape or k_in.shape[0] != q_in.shape[0]:
            raise ValueError(f"{fn}: key and value must have the same shape and the batch size of query, got "
                             f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
        N, L, E = q_in.shape
        S = k_in.shape[1]
        mask = _merge_masks(fn, attn_mask, key_padding_mask, N, self.num_heads, L, S, batched)
        if self_attention:
            y = (q_in.reshape(-1, E) @ self.in_proj_weight.T).reshape(N, L, 3 * E)
            if self.in_proj_bias is not None:
                y = y + self.in_proj_bias
            q, k, v = (self._split(y[..., i * E:(i + 1) * E]) for i in range(3))
        else:
            q, k, v = self._project(q_in, 0), self._project(k_in, 1), self._project(v_in, 2)
        p = self.dropout if self.training else 0.0
        heads, attn_cache = F.scaled_dot_product_attention_forward(q, k, v, attn_mask=mask, is_causal=is_causal,
                                                                   dropout_p=p, seed=self._rng)
        out = self.out_proj(self._merge(heads))
        self._cache = {"inputs": (q_in, k_in, v_in), "attn": attn_cache, "batched": batched,
                       "self_attention": self_attention}
        weights = None
        if need_weights:
            weights = attn_cache["weights"]
            if average_attn_weights:
                weights = weights.mean(axis=1)
            if not batched:
                weights = weights[0]
        if not batched:
            out = out[0]
        elif not self.batch_first:
            out = out.swapaxes(0, 1)
        return out, weights


    def backward(self, dout: Any, sum_inputs: bool = False) -> Any:
        """Gradients of query, key and value (each shaped like its input) from ``dout`` (shaped like out).

        With ``sum_inputs=True`` returns one array, ``dquery + dkey + dvalue``: the input gradient of
        self-attention, which then takes one GEMM for all three projections instead of three.
        """
        fn = "MultiheadAttention.backward"
        cache = ensure_forward(self)
        q_in, k_in, v_in = cache["inputs"]
        check_array(fn, "dout", dout)
        if not cache["batched"]:
            dout = dout[None]
        elif not self.batch_first:
            dout = dout.swapaxes(0, 1)
        if tuple(dout.shape) != tuple(q_in.shape):
            raise ValueError(f"{fn}: dout must have the output's shape, got {tuple(dout.shape)}")
        dheads = self._split(self.out_proj.backward(dout))
        grads = F.scaled_dot_product_attention_backward(dheads, cache["attn"])
        E, W = self.embed_dim, self.in_proj_weight
        xp = xp_of(dout)
        if sum_inputs and cache["self_attention"]:
            N, L, _ = q_in.shape
            dqkv = xp.empty((N, L, 3, self.num_heads, self.head_dim), dtype=grads[0].dtype)
            for i, g in enumerate(grads):
                dqkv[:, :, i] = g.transpose(0, 2, 1, 3)
            dqkv = dqkv.reshape(N * L, 3 * E)
            self._set_grad("in_proj_weight", dqkv.T @ q_in.reshape(-1, E))
            if self.in_proj_bias is not None:
                self._set_grad("in_proj_bias", dqkv.sum(axis=0))
            dxs = [(dqkv @ W).reshape(q_in.shape)]
        else:
            dw = xp.empty_like(W)
            db = xp.empty(3 * E, dtype=W.dtype)
            dxs = []
            for i, (x, g) in enumerate(zip((q_in, k_in, v_in), grads)):
                g2 = self._merge(g).reshape(-1, E)
                dw[i * E:(i + 1) * E] = g2.T @ x.reshape(-1, E)
                db[i * E:(i + 1) * E] = g2.sum(axis=0)
                dxs.append((g2 @ W[i * E:(i + 1) * E]).reshape(x.shape))
            self._set_grad("in_proj_weight", dw)
            if self.in_proj_bias is not None:
                self._set_grad("in_proj_bias", db)
            if sum_inputs:
                if not dxs[0].shape == dxs[1].shape == dxs[2].shape:
                    raise ValueError(f"{fn}: sum_inputs needs query, key and value of one shape")
                dxs = [dxs[0] + dxs[1] + dxs[2]]
        if not cache["batched"]:
            dxs = [d[0] for d in dxs]
        elif not self.batch_first:
            dxs = [d.swapaxes(0, 1) for d in dxs]
        return dxs[0] if sum_inputs else tuple(dxs)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")
