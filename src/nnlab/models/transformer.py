"""``CharTransformer``: a decoder-only character language model (GPT-style, pre-norm by default).

``X (N, T) -> Embedding(V, d) + PositionalEmbedding(max_len, d) -> dropout -> num_layers x causal
TransformerEncoderLayer -> LayerNorm -> Linear(d, V)`` gives the logits of the next character after every
prefix. With ``tie_weights`` the read-out reuses the token embedding (``logits = h E^T + head.bias``; the
embedding's gradient is the sum of both uses). Parameter names follow the modules: ``embedding.weight``,
``pos_embedding.weight``, ``layers.0.self_attn.in_proj_weight``, ..., ``norm.weight``, ``head.weight``,
``head.bias``, so a torch twin built from the same torch modules loads the ``state_dict``.

Model contract (as :class:`nnlab.models.char_rnn.CharRNN` with ``seq_loss=True``): ``model.params`` and
``model.loss(X, y=None)`` with X (N, T) integer ids, T <= max_len. ``loss(X, y)`` with y (N, T) (the next
character after each prefix) returns the cross-entropy averaged over all N*T positions and the gradients;
``loss(X)`` returns the (N, V) scores of the character after each window (last position), which is what
:func:`nnlab.generate.generate` samples from, with dropout off. ``forward(X)`` gives all (N, T, V) scores.
Dropout is active in ``loss(X, y)`` while the model is in training mode (``model.eval()`` turns it off).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng
from ..nn.containers import Sequential
from ..nn.dropout import Dropout
from ..nn.helpers import ensure_forward
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.normalization import LayerNorm
from ..nn.parameter_view import ParameterView, ParamsAttribute
from ..nn.recurrent import Embedding
from ..nn.transformer import PositionalEmbedding, TransformerEncoderLayer
from ..validation import check_array

__all__ = ["CharTransformer"]


class _TiedHead(Module):
    """Read-out that reuses the token embedding ``weight`` (V, d): ``logits = h weight^T + bias``.

    Owns only ``bias`` (V,); the embedding matrix's gradient from this use is kept in ``_weight_grad`` for the
    model to add to the embedding's own.
    """

    def __init__(self, embedding: Embedding) -> None:
        super().__init__()
        object.__setattr__(self, "_embedding", embedding)
        self.bias = np.zeros(embedding.num_embeddings, dtype=embedding.weight.dtype)

    def forward(self, h: Any) -> Any:
        self._cache = h
        V, d = self._embedding.weight.shape
        return (h.reshape(-1, d) @ self._embedding.weight.T + self.bias).reshape(*h.shape[:-1], V)  # 2-D GEMM

    def backward(self, dout: Any) -> Any:
        h = ensure_forward(self)
        V, d = self._embedding.weight.shape
        d2 = dout.reshape(-1, V)
        self._set_grad("bias", d2.sum(axis=0))
        object.__setattr__(self, "_weight_grad", d2.T @ h.reshape(-1, d))
        return (d2 @ self._embedding.weight).reshape(h.shape)


class CharTransformer(Module):
    """Decoder-only character transformer.

    Inputs of the constructor:
    - vocab_size: V, the number of characters.
    - d_model: width of the embeddings and blocks (divisible by ``nhead``).
    - nhead: attention heads per block.
    - num_layers: transformer blocks (causal self-attention + feed-forward).
    - dim_feedforward: hidden width of each block's feed-forward layer.
    - max_len: the longest window, the size of the positional table.
    - dropout: drop probability inside the blocks.
    - tie_weights: the read-out reuses the token embedding.
    - activation: ``'gelu'`` or ``'relu'``.
    - norm_first: pre-norm blocks (default True).
    - seed: None = NumPy's global RNG.
    - dtype: float32 by default.
    - vocab: optional string of the V characters in index order, kept for sampling.

    Embeddings start ~ N(0, 0.02^2), the linear layers as torch's.
    """

    seq_loss = True  # trained on every position, like CharRNN(seq_loss=True): y is (N, T)

    def __init__(self, vocab_size: int, d_model: int = 128, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 512, max_len: int = 256, dropout: float = 0.1, tie_weights: bool = False,
                 activation: str = "gelu", norm_first: bool = True, seed: Any = None, dtype: Any = np.float32,
                 vocab: str | None = None) -> None:
        super().__init__()
        fn = "CharTransformer"
        for name, value in (("vocab_size", vocab_size), ("d_model", d_model), ("nhead", nhead),
                            ("num_layers", num_layers), ("dim_feedforward", dim_feedforward), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{fn}: {name} must be an integer >= 1, got {value!r}")
        if d_model % nhead:
            raise ValueError(f"{fn}: d_model ({d_model}) must be divisible by nhead ({nhead})")
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(f"{fn}: vocab has {len(vocab)} characters but vocab_size={vocab_size}")
        rng = None if seed is None else get_rng(seed)
        self.vocab = vocab
        self.max_len, self.tie_weights = int(max_len), bool(tie_weights)
        self.embedding = Embedding(vocab_size, d_model, seed=rng, dtype=dtype)
        self.embedding.weight = (self.embedding.weight * 0.02).astype(dtype)
        self.pos_embedding = PositionalEmbedding(max_len, d_model, seed=rng, dtype=dtype)
        self.drop = Dropout(dropout, seed=rng)
        self.layers = Sequential(*[
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=dropout, activation=activation,
                                    norm_first=norm_first, seed=rng, dtype=dtype)
            for _ in range(num_layers)])
        self.norm = LayerNorm(d_model, dtype=dtype)
        self.head = _TiedHead(self.embedding) if tie_weights else Linear(d_model, vocab_size, seed=rng, dtype=dtype)
        object.__setattr__(self, "_params", ParameterView(self, "CharTransformer.params"))

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    params = ParamsAttribute()  # live mapping name -> parameter (``model.params[k] = w`` writes into the module)

    def _check_ids(self, X: Any) -> None:
        fn = "CharTransformer.loss"
        check_array(fn, "X", X, ndim=2, shape_hint="(N, T) integer token ids")
        if not np.issubdtype(X.dtype, np.integer):
            raise TypeError(f"{fn}: X must hold integer token ids, got dtype {X.dtype}")
        if X.shape[1] > self.max_len:
            raise ValueError(f"{fn}: X has windows of T={X.shape[1]} characters but max_len={self.max_len} "
                             "(the positional table); use shorter windows or a larger max_len")
        V = self.vocab_size
        if X.size and (int(X.min()) < 0 or int(X.max()) >= V):
            raise ValueError(f"{fn}: X must hold token ids in [0, {V}), got values from "
                             f"{int(X.min())} to {int(X.max())}")

    def forward(self, X: Any) -> Any:
        """Scores (N, T, V): the logits of the character after each prefix ``X[:, :t+1]``."""
        self._check_ids(X)
        h = self.drop(self.pos_embedding(self.embedding(X)))
        for layer in self.layers:
            h = layer(h, is_causal=True)
        return self.head(self.norm(h))

    def backward(self, dscores: Any) -> None:
        """Gradients of every parameter from ``dscores`` (N, T, V)."""
        d = self.norm.backward(self.head.backward(dscores))
        for layer in reversed(list(self.layers)):
            d = layer.backward(d)
        self.embedding.backward(self.pos_embedding.backward(self.drop.backward(d)))
        if self.tie_weights:
            self.embedding._set_grad("weight", self.embedding.grads["weight"] + self.head._weight_grad)

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, V) of the last position when ``y`` is None (dropout off); else ``(loss, grads)``: the mean
        cross-entropy over the N*T positions for y (N, T), and ``grads`` keyed like ``params``."""
        if y is None:
            training = self.training
            self.eval()
            try:
                return self.forward(X)[:, -1]
            finally:
                self.train(training)
        y = np.asarray(y) if isinstance(y, (list, tuple)) else y
        check_array("CharTransformer.loss", "X", X, ndim=2, shape_hint="(N, T) integer token ids")
        check_array("CharTransformer.loss", "y", y, ndim=2, shape_hint="(N, T)")
        if tuple(y.shape) != tuple(X.shape):
            raise ValueError(f"CharTransformer.loss: y must have the shape of X (N, T) = {tuple(X.shape)}, "
                             f"got {tuple(y.shape)}")
        scores = self.forward(X)
        T = X.shape[1]
        loss, dscores = F.temporal_softmax_loss(scores, y)
        self.backward(dscores / scores.dtype.type(T))
        return float(loss) / T, self.grads

    def num_parameters(self) -> int:
        """The number of trained scalars."""
        return int(sum(p.size for p in self.parameters()))

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, tie_weights={self.tie_weights}"
