"""Recurrent modules (torch.nn names, parameter names and shapes): ``Embedding``, ``RNN``, ``LSTM`` and ``GRU``.

Batch-first, unidirectional; ``RNN``/``LSTM`` have one layer, ``GRU`` takes ``num_layers`` and ``bias``.
Parameters are stored exactly as in ``torch.nn.RNN``/``LSTM``/``GRU`` (``weight_ih_l0`` (G*H, D),
``weight_hh_l0`` (G*H, H), ``bias_ih_l0`` and ``bias_hh_l0`` (G*H,), torch's gate order i, f, g, o for the LSTM),
so a ``state_dict`` loads 1:1 into the torch twin and back. ``forward`` maps them onto the functional kernels of
:mod:`nnlab.layers.recurrent` with the documented converters
(``rnn_weights_from_torch``, ``lstm_weights_from_torch``: transpose, add the two biases, reorder the gates to
CS231n's i, f, o, g); ``backward`` maps the kernel gradients back (both torch biases get the same gradient).
``GRU`` keeps both biases and torch's gate order r, z, n (:mod:`nnlab.layers.gru`), so it only transposes.

``RNN``/``LSTM`` calls return ``(output, h_n)`` / ``(output, (h_n, c_n))`` like torch with ``batch_first=True``:
output (N, T, H), h_n and c_n (1, N, H). ``backward(dout, dh_n=None, dc_n=None)`` takes the upstream gradients
of the output sequence and of the final state(s) (None = zero) and returns dx; the gradients of the initial
state(s) are kept in ``module.state_grads`` (``(dh0,)`` or ``(dh0, dc0)``, each (1, N, H)).

Initialisation follows torch: recurrent weights and biases ~ U(-1/sqrt(H), 1/sqrt(H)); embeddings ~ N(0, 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, normal, xp_of
from ..validation import check_array, check_float_dtype, check_int
from .helpers import check_input, ensure_forward, uniform_init
from .module import Module

__all__ = ["Embedding", "RNN", "LSTM", "GRU"]

Seed = Any


class Embedding(Module):
    """Lookup table (torch.nn.Embedding): ``out[..., :] = weight[x[...]]``.

    Parameter: ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1). Input: integer ids of any shape, each in
    [0, num_embeddings); output ``x.shape + (embedding_dim,)``. ``backward(dout)`` stores ``weight``'s gradient
    (``word_embedding_backward``) and returns None (ids have no gradient).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, seed: Seed = None, dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "Embedding"
        self.num_embeddings = check_int(fn, "num_embeddings", num_embeddings)
        self.embedding_dim = check_int(fn, "embedding_dim", embedding_dim)
        dtype = check_float_dtype(fn, dtype)
        self.weight = normal(get_rng(seed), (self.num_embeddings, self.embedding_dim)).astype(dtype)

    def forward(self, x: Any) -> Any:
        out, self._cache = F.word_embedding_forward(x, self.weight)
        return out

    def backward(self, dout: Any) -> None:
        self._set_grad("weight", F.word_embedding_backward(dout, ensure_forward(self)))
        return None

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class _Recurrent(Module):
    """Shared parts of ``RNN`` and ``LSTM``: torch-shaped parameters, argument checks, state shapes."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool = True, seed: Seed = None,
                 dtype: Any = np.float32, num_layers: int = 1, bias: bool = True) -> None:
        super().__init__()
        fn = type(self).__name__
        if not batch_first:
            raise ValueError(f"{fn}: only batch_first=True is supported (inputs (N, T, D))")
        self.input_size = check_int(fn, "input_size", input_size)
        self.hidden_size = check_int(fn, "hidden_size", hidden_size)
        self.num_layers = check_int(fn, "num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = True
        dtype = check_float_dtype(fn, dtype)
        rng = get_rng(seed)
        G, H = self._gates, self.hidden_size
        bound = 1.0 / np.sqrt(H)
        for k in range(self.num_layers):  # torch's names and registration order, layer by layer
            D = self.input_size if k == 0 else H
            setattr(self, f"weight_ih_l{k}", uniform_init(rng, (G * H, D), bound, dtype))
            setattr(self, f"weight_hh_l{k}", uniform_init(rng, (G * H, H), bound, dtype))
            if self.bias:
                setattr(self, f"bias_ih_l{k}", uniform_init(rng, (G * H,), bound, dtype))
                setattr(self, f"bias_hh_l{k}", uniform_init(rng, (G * H,), bound, dtype))
        self.state_grads: tuple = ()

    def _check_x(self, x: Any) -> None:
        fn = f"{type(self).__name__}.forward"
        check_input(fn, x, (3,), "(N, T, input_size)")
        if x.shape[2] != self.input_size:
            raise ValueError(f"{fn}: x has {x.shape[2]} features (shape {tuple(x.shape)}) but "
                             f"input_size={self.input_size}")
        if x.shape[1] < 1:
            raise ValueError(f"{fn}: x must hold at least one time step, got shape {tuple(x.shape)}")

    def _initial_state(self, name: str, state: Any, x: Any) -> Any:
        """A given state (1, N, H) or (N, H) -> (N, H); None -> zeros."""
        fn = f"{type(self).__name__}.forward"
        N, H = x.shape[0], self.hidden_size
        if state is None:
            return xp_of(x).zeros((N, H), dtype=x.dtype)
        check_array(fn, name, state, ndim=(2, 3), shape_hint="(1, N, H)", float_only=True)
        if tuple(state.shape) not in ((1, N, H), (N, H)):
            raise ValueError(f"{fn}: {name} must have shape (1, N, H) = {(1, N, H)} for x {tuple(x.shape)}, "
                             f"got {tuple(state.shape)}")
        return state.reshape(N, H)

    def _final_grad(self, name: str, d: Any, shape: tuple[int, int]) -> Any:
        """An upstream gradient of a final state, (1, N, H) or (N, H) -> (N, H); None stays None."""
        if d is None:
            return None
        if tuple(d.shape) not in ((1, *shape), shape):
            raise ValueError(f"{type(self).__name__}.backward: {name} must have shape {(1, *shape)}, "
                             f"got {tuple(d.shape)}")
        return d.reshape(shape)

    def _set_weight_grads(self, grads: dict[str, Any]) -> None:
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
            self._set_grad(name, grads[name])
        self._set_grad("bias_hh_l0", grads["bias_ih_l0"].copy())

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first=True"


class RNN(_Recurrent):
    """Tanh RNN (torch.nn.RNN, one layer, batch_first): ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    ``rnn(x, h0=None)`` with x (N, T, input_size), h0 (1, N, H) -> ``(output (N, T, H), h_n (1, N, H))``.
    """

    _gates = 1


    def forward(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        self._check_x(x)
        h0 = self._initial_state("h0", h0, x)
        Wx, Wh, b = F.rnn_weights_from_torch(self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0,
                                             self.bias_hh_l0)
        h, self._cache = F.rnn_forward(x, h0, Wx, Wh, b)
        return h, h[:, -1][None]

    def backward(self, dout: Any, dh_n: Any = None) -> Any:
        cache = ensure_forward(self)
        h = cache[-1]
        N, T, H = h.shape
        dh = xp_of(h).zeros_like(h) if dout is None else dout.copy()
        if dout is not None and tuple(dout.shape) != (N, T, H):
            raise ValueError(f"RNN.backward: dout must have shape {(N, T, H)}, got {tuple(dout.shape)}")
        dh_last = self._final_grad("dh_n", dh_n, (N, H))
        if dh_last is not None:
            dh[:, -1] += dh_last
        dx, dh0, dWx, dWh, db = F.rnn_backward(dh, cache)
        self._set_weight_grads(F.rnn_weights_to_torch(dWx, dWh, db))
        self.state_grads = (dh0[None],)
        return dx


class LSTM(_Recurrent):
    """LSTM (torch.nn.LSTM, one layer, batch_first; torch's gate order i, f, g, o in the parameters).

    ``lstm(x, (h0, c0)=None)`` with x (N, T, input_size) -> ``(output (N, T, H), (h_n, c_n))``, h_n and c_n
    (1, N, H).
    """

    _gates = 4


    def forward(self, x: Any, hx: tuple[Any, Any] | None = None) -> tuple[Any, tuple[Any, Any]]:
        self._check_x(x)
        if hx is None:
            h0 = c0 = None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h0, c0 = hx
        else:
            raise ValueError("LSTM.forward: hx must be None or a pair (h0, c0), each (1, N, H)")
        h0 = self._initial_state("h0", h0, x)
        c0 = self._initial_state("c0", c0, x)
        Wx, Wh, b = F.lstm_weights_from_torch(self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0,
                                              self.bias_hh_l0)
        h, cache = F.lstm_forward(x, h0, Wx, Wh, b, c0=c0)
        self._cache = cache
        return h, (h[:, -1][None], cache.c[:, -1][None])

    def backward(self, dout: Any, dh_n: Any = None, dc_n: Any = None) -> Any:
        cache = ensure_forward(self)
        N, T, H = cache.h.shape
        if dout is not None and tuple(dout.shape) != (N, T, H):
            raise ValueError(f"LSTM.backward: dout must have shape {(N, T, H)}, got {tuple(dout.shape)}")
        dh = xp_of(cache.h).zeros_like(cache.h) if dout is None else dout.copy()
        dh_last = self._final_grad("dh_n", dh_n, (N, H))
        if dh_last is not None:
            dh[:, -1] += dh_last
        dc_last = self._final_grad("dc_n", dc_n, (N, H))
        dx, dh0, dc0, dWx, dWh, db = F.lstm_backward_with_state(dh, cache, dc_last)
        self._set_weight_grads(F.lstm_weights_to_torch(dWx, dWh, db))
        self.state_grads = (dh0[None], dc0[None])
        return dx


class GRU(_Recurrent):
    """GRU (torch.nn.GRU, batch_first, unidirectional; torch's gate order r, z, n and semantics).

    Per layer k: ``r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})``,
    ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``, ``h' = (1 - z) * n + z * h``; layer k > 0 reads the
    hidden states of layer k - 1. Parameters per layer: ``weight_ih_l{k}`` (3H, D or H), ``weight_hh_l{k}``
    (3H, H), and with ``bias`` ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,) -- a torch ``state_dict`` loads 1:1.

    ``gru(x, h0=None)`` with x (N, T, input_size) and h0 (num_layers, N, H) (zeros when None; (N, H) is accepted
    for one layer) -> ``(output (N, T, H), h_n (num_layers, N, H))``, output being the last layer's states.
    ``backward(dout, dh_n=None)`` takes the gradients of output (None = zero) and of h_n, returns dx (N, T, D),
    stores every parameter gradient and keeps ``state_grads = (dh0,)`` with dh0 (num_layers, N, H).
    Inter-layer dropout is not implemented.
    """

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 bias: bool = True, seed: Seed = None, dtype: Any = np.float32) -> None:
        super().__init__(input_size, hidden_size, batch_first=batch_first, seed=seed, dtype=dtype,
                         num_layers=num_layers, bias=bias)


    def _layer_weights(self, k: int, like: Any) -> tuple[Any, Any, Any, Any]:
        """Layer k's kernel weights ``(Wx, Wh, bx, bh)`` (zero biases when ``bias=False``)."""
        w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        if self.bias:
            b_ih, b_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
        else:
            b_ih = b_hh = xp_of(like).zeros(3 * self.hidden_size, dtype=w_ih.dtype)
        return F.gru_weights_from_torch(w_ih, w_hh, b_ih, b_hh)

    def forward(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        fn = "GRU.forward"
        self._check_x(x)
        L, N, H = self.num_layers, x.shape[0], self.hidden_size
        if h0 is None:
            h0 = xp_of(x).zeros((L, N, H), dtype=x.dtype)
        else:
            check_array(fn, "h0", h0, ndim=(2, 3), shape_hint="(num_layers, N, H)", float_only=True)
            if tuple(h0.shape) == (N, H) and L == 1:
                h0 = h0[None]
            if tuple(h0.shape) != (L, N, H):
                raise ValueError(f"{fn}: h0 must have shape (num_layers, N, H) = {(L, N, H)} for x "
                                 f"{tuple(x.shape)}, got {tuple(h0.shape)}")
        caches, h_n, out = [], [], x
        for k in range(L):
            out, cache = F.gru_forward(out, h0[k], *self._layer_weights(k, x))
            caches.append(cache)
            h_n.append(out[:, -1])
        self._cache = caches
        return out, xp_of(x).stack(h_n)

    def backward(self, dout: Any, dh_n: Any = None) -> Any:
        caches = ensure_forward(self)
        N, T, H = caches[-1].h.shape
        L = self.num_layers
        if dout is not None and tuple(dout.shape) != (N, T, H):
            raise ValueError(f"GRU.backward: dout must have shape {(N, T, H)}, got {tuple(dout.shape)}")
        if dh_n is not None and tuple(dh_n.shape) != (L, N, H) and not (L == 1 and tuple(dh_n.shape) == (N, H)):
            raise ValueError(f"GRU.backward: dh_n must have shape (num_layers, N, H) = {(L, N, H)}, "
                             f"got {tuple(dh_n.shape)}")
        xp = xp_of(caches[-1].h)
        dh = xp.zeros((N, T, H), dtype=caches[-1].h.dtype) if dout is None else dout.copy()
        dh0 = [None] * L
        for k in range(L - 1, -1, -1):
            if dh_n is not None:
                dh[:, -1] += dh_n.reshape(L, N, H)[k]
            dx, dh0[k], dWx, dWh, dbx, dbh = F.gru_backward(dh, caches[k])
            grads = F.gru_weights_to_torch(dWx, dWh, dbx, dbh)
            self._set_grad(f"weight_ih_l{k}", grads["weight_ih_l0"])
            self._set_grad(f"weight_hh_l{k}", grads["weight_hh_l0"])
            if self.bias:
                self._set_grad(f"bias_ih_l{k}", grads["bias_ih_l0"])
                self._set_grad(f"bias_hh_l{k}", grads["bias_hh_l0"])
            dh = dx
        self.state_grads = (xp.stack(dh0),)
        return dh

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        return text + ", batch_first=True"
