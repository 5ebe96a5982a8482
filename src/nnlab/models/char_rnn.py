"""``CharRNN``: the seed's next-character model ``[EMBEDDING - RNN/LSTM - final hidden state - FC]``.

Spec seed_003 §7.2: ``Embedding(V, E) -> RNN/LSTM(E, H, batch_first) -> h_n.squeeze(0) -> Linear(H, V)``; the
logits of the character that follows each window. Parameter names follow the torch twin built with named
children (``embedding.weight``, ``rnn.weight_ih_l0``, ..., ``fc.weight``, ``fc.bias``; torch's shapes and LSTM
gate order), so ``state_dict()`` loads into ``torch.nn.ModuleDict``-style twins with those names.

Model contract (CS231n / :class:`nnlab.solver.Solver`): ``model.params`` (live mapping name -> array) and
``model.loss(X, y=None)``:

- default (``seq_loss=False``): X (N, T) integer ids; ``loss(X)`` returns scores (N, V); ``loss(X, y)`` with y
  (N,) or (N, 1) next-character ids returns the mean softmax cross-entropy and its gradients (torch's
  ``CrossEntropyLoss``). ``Solver.check_accuracy`` works on this path (argmax of the (N, V) scores).
- ``seq_loss=True``: trained on every time step: y (N, T) gives the next character after each prefix; scores
  are (N, T, V) and the loss is the cross-entropy averaged over all N*T steps (``temporal_softmax_loss / T``).
  ``loss(X)`` still returns the (N, V) scores of the last step, so sampling and ``check_accuracy`` (with
  last-step labels) work unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import xp_of
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.parameter_view import ParameterView, ParamsAttribute
from ..nn.recurrent import LSTM, RNN, Embedding
from ..validation import check_array, check_positive_int

__all__ = ["CharRNN"]

_CELLS = {"rnn": RNN, "lstm": LSTM}


class CharRNN(Module):
    """Character language model: embedding, one recurrent layer, linear read-out to the vocabulary.

    Inputs of the constructor:
    - vocab_size: V, the number of characters.
    - embedding_dim: E (spec: 256).
    - hidden_size: H (spec: 128).
    - cell: ``'rnn'`` or ``'lstm'``.
    - seq_loss: train on the next character after every prefix (see the module docstring).
    - seed: None = NumPy's global RNG.
    - dtype: float32 by default.
    - vocab: optional string of the V characters in index order, kept for sampling.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 256, hidden_size: int = 128, cell: str = "rnn",
                 seq_loss: bool = False, seed: Any = None, dtype: Any = np.float32,
                 vocab: str | None = None) -> None:
        super().__init__()
        vocab_size = check_positive_int("CharRNN", "vocab_size", vocab_size)
        if cell not in _CELLS:
            raise ValueError(f"CharRNN: cell must be 'rnn' or 'lstm', got {cell!r}")
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(f"CharRNN: vocab has {len(vocab)} characters but vocab_size={vocab_size}")
        from ..backend import get_rng

        rng = get_rng(seed)
        self.cell = cell
        self.seq_loss = bool(seq_loss)
        self.vocab = vocab
        self.embedding = Embedding(vocab_size, embedding_dim, seed=rng, dtype=dtype)
        self.rnn = _CELLS[cell](embedding_dim, hidden_size, seed=rng, dtype=dtype)
        self.fc = Linear(hidden_size, vocab_size, seed=rng, dtype=dtype)
        object.__setattr__(self, "_params", ParameterView(self))

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    params = ParamsAttribute()  # live mapping name -> parameter (``model.params[k] = w`` writes into the module)

    def _check_ids(self, X: Any) -> None:
        check_array("CharRNN.loss", "X", X, ndim=2, shape_hint="(N, T) integer token ids")
        if not np.issubdtype(X.dtype, np.integer):
            raise TypeError(f"CharRNN.loss: X must hold integer token ids, got dtype {X.dtype}")
        V = self.vocab_size
        if X.size and (int(X.min()) < 0 or int(X.max()) >= V):
            raise ValueError(f"CharRNN.loss: X must hold token ids in [0, {V}), got values from "
                             f"{int(X.min())} to {int(X.max())}")

    def forward(self, X: Any) -> Any:
        """Scores: (N, V) of the character after each window, or (N, T, V) for every step with ``seq_loss``.

        The embedding and the recurrent layer run as one kernel over the token ids
        (:func:`nnlab.layers.lstm_forward_tokens` / ``rnn_forward_tokens``): every input row is a row of the
        embedding table, so the input projection is a lookup in ``W_embed @ Wx`` when the vocabulary is smaller
        than the batch's N*T tokens (CharRNN's LSTM step 25.5 -> 13.5 ms at 1 thread), equal to
        ``embedding`` then ``rnn`` to rounding.
        """
        self._check_ids(X)
        r, W_embed = self.rnn, self.embedding.weight
        N, H = X.shape[0], r.hidden_size
        h0 = xp_of(W_embed).zeros((N, H), dtype=W_embed.dtype)
        if self.cell == "lstm":
            Wx, Wh, b = F.lstm_weights_from_torch(r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
            out, cache = F.lstm_forward_tokens(X, W_embed, h0, Wx, Wh, b, c0=h0)
        else:
            Wx, Wh, b = F.rnn_weights_from_torch(r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
            out, cache = F.rnn_forward_tokens(X, W_embed, h0, Wx, Wh, b)
        self._cache = cache
        return self.fc(out if self.seq_loss else out[:, -1])

    def backward(self, dscores: Any) -> None:
        """Gradients of every parameter from ``dscores`` (the shape :meth:`forward` returned)."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError("CharRNN.backward: call forward first (no cache)")
        dh = self.fc.backward(dscores)
        if not self.seq_loss:  # only the last step's hidden state was read out
            last = dh
            N, H = last.shape
            dh = xp_of(last).zeros((N, cache.ids.shape[1], H), dtype=last.dtype)
            dh[:, -1] = last
        if self.cell == "lstm":
            dW_embed, _, _, dWx, dWh, db = F.lstm_backward_tokens(dh, cache)
            grads = F.lstm_weights_to_torch(dWx, dWh, db)
        else:
            dW_embed, _, dWx, dWh, db = F.rnn_backward_tokens(dh, cache)
            grads = F.rnn_weights_to_torch(dWx, dWh, db)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
            self.rnn._set_grad(name, grads[name])
        self.rnn._set_grad("bias_hh_l0", grads["bias_ih_l0"].copy())
        self.embedding._set_grad("weight", dW_embed)

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, V) when ``y`` is None; else ``(loss, grads)`` with ``grads`` keyed like ``params``."""
        if y is None:
            scores = self.forward(X)
            return scores[:, -1] if self.seq_loss else scores
        y = np.asarray(y) if isinstance(y, (list, tuple)) else y
        N, T = X.shape
        if self.seq_loss:
            check_array("CharRNN.loss", "y", y, ndim=2, shape_hint="(N, T)")
            if tuple(y.shape) != (N, T):
                raise ValueError(f"CharRNN.loss: y must have shape (N, T) = {(N, T)} with seq_loss, "
                                 f"got {tuple(y.shape)}")
            scores = self.forward(X)
            loss, dscores = F.temporal_softmax_loss(scores, y)
            loss, dscores = loss / T, dscores / scores.dtype.type(T)
        else:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            check_array("CharRNN.loss", "y", y, ndim=1, shape_hint="(N,) or (N, 1)")
            if y.shape[0] != N:
                raise ValueError(f"CharRNN.loss: X has {N} windows but y has {y.shape[0]} labels")
            scores = self.forward(X)
            loss, dscores = F.softmax_loss(scores, y)
        self.backward(dscores)
        return float(loss), self.grads

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, seq_loss={self.seq_loss}"
