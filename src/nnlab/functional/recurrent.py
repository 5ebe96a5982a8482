"""Whole-sequence ``rnn``, ``lstm`` and ``gru``: ONE tape node per sequence (the graph's depth does not grow
with T), whose forward is ``rnn_forward``/``lstm_forward``/``gru_forward`` and whose backward is
``rnn_backward``/``lstm_backward_with_state``/``gru_backward`` (:mod:`nnlab.layers.recurrent`, ``gru``).

Argument layout (one layer, unidirectional, batch first; the parameters exactly as ``torch.nn.RNN``/``LSTM``/
``GRU`` hold them, so a module's ``weight_ih_l0`` ... pass straight in)::

    rnn(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None)  -> (output, h_n)
    lstm(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> (output, (h_n, c_n))
    gru(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None)  -> (output, h_n)

- input (N, T, D); output (N, T, H), every hidden state; h_n, c_n (1, N, H), the final states.
- hx: None (zeros), h0 of shape (1, N, H) or (N, H), and for the LSTM a pair (h0, c0).
- weight_ih (G*H, D), weight_hh (G*H, H), bias_ih and bias_hh (G*H,) or None (zeros), with G = 1 (tanh RNN),
  4 (LSTM, torch's gate order i, f, g, o) or 3 (GRU, r, z, n).

These are the values ``nnlab.nn.RNN``/``LSTM``/``GRU`` return. Gradients flow to input, the initial
state(s), every parameter, from output and from the final states (``h_n`` is ``output[:, -1]``; the LSTM's
``c_n`` is a second output of the node, fed to ``lstm_backward_with_state`` as ``dc_last``). The weights are
mapped to the kernels' layout by ``*_weights_from_torch`` and the gradients back by ``*_weights_to_torch``
(both torch biases of the RNN and LSTM receive the same gradient, as in torch).
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ..layers import gru as gr
from ..layers import recurrent as rc
from ..layers import torch_convert as tc
from ._common import Tensor, array_arg, record

__all__ = ["rnn", "lstm", "gru"]


def _setup(fn: str, input: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any, bias_hh: Any,  # noqa: A002
           gates: int) -> tuple:
    """Checked ``(x, w_ih, w_hh, b_ih, b_hh, H)``; None biases become zeros."""
    x = array_arg(fn, "input", input, (3,), "(N, T, D)")
    w_ih = array_arg(fn, "weight_ih", weight_ih, (2,), f"({gates}H, D)")
    w_hh = array_arg(fn, "weight_hh", weight_hh, (2,), f"({gates}H, H)")
    h = w_hh.shape[1]
    if w_hh.shape[0] != gates * h or w_ih.shape[0] != gates * h:
        raise ValueError(f"{fn}: weight_ih must be ({gates}H, D) and weight_hh ({gates}H, H), got "
                         f"{tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    if x.shape[2] != w_ih.shape[1]:
        raise ValueError(f"{fn}: input has {x.shape[2]} features (shape {tuple(x.shape)}) but weight_ih expects "
                         f"{w_ih.shape[1]} (shape {tuple(w_ih.shape)})")
    if x.shape[1] < 1:
        raise ValueError(f"{fn}: input must hold at least one time step, got shape {tuple(x.shape)}")
    xp = xp_of(w_hh)
    b_ih = xp.zeros(gates * h, dtype=w_hh.dtype) if bias_ih is None else array_arg(fn, "bias_ih", bias_ih)
    b_hh = xp.zeros(gates * h, dtype=w_hh.dtype) if bias_hh is None else array_arg(fn, "bias_hh", bias_hh)
    return x, w_ih, w_hh, b_ih, b_hh, h


def _state(fn: str, name: str, state: Any, x: Any, h: int) -> Any:
    """A given state (1, N, H) or (N, H) as (N, H); None as zeros."""
    n = x.shape[0]
    if state is None:
        return xp_of(x).zeros((n, h), dtype=x.dtype)
    s = array_arg(fn, name, state)
    if tuple(s.shape) not in ((1, n, h), (n, h)):
        raise ValueError(f"{fn}: {name} must have shape (1, N, H) = {(1, n, h)} for input {tuple(x.shape)}, "
                         f"got {tuple(s.shape)}")
    return s.reshape(n, h)


def _shape_of(state: Any, n: int, h: int) -> tuple:
    return tuple(as_shape) if (as_shape := getattr(state, "shape", None)) is not None else (1, n, h)


def rnn(input: Any, hx: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,  # noqa: A002
        bias_hh: Any = None) -> tuple[Tensor, Tensor]:
    """Tanh RNN over a whole sequence: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.
    Returns ``(output (N, T, H), h_n (1, N, H))`` (layout in the module docstring)."""
    fn = "rnn"
    x, w_ih, w_hh, b_ih, b_hh, h = _setup(fn, input, weight_ih, weight_hh, bias_ih, bias_hh, 1)
    h0 = _state(fn, "hx", hx, x, h)
    out, cache = rc.rnn_forward(x, h0, *tc.rnn_weights_from_torch(w_ih, w_hh, b_ih, b_hh))
    output = record(fn, rc.rnn_backward, out, (cache, _shape_of(hx, x.shape[0], h)), _rnn_bwd,
                    (input, hx, weight_ih, weight_hh, bias_ih, bias_hh))
    return output, output[None, :, -1]


def _rnn_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, h0_shape = c
    dx, dh0, dWx, dWh, db = rc.rnn_backward(g, cache)
    t = tc.rnn_weights_to_torch(dWx, dWh, db)
    return dx, dh0.reshape(h0_shape), t["weight_ih_l0"], t["weight_hh_l0"], t["bias_ih_l0"], t["bias_ih_l0"]


def lstm(input: Any, hx: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,  # noqa: A002
         bias_hh: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """LSTM over a whole sequence (torch's equations and gate order i, f, g, o in the weights).
    ``hx`` is None or ``(h0, c0)``. Returns ``(output (N, T, H), (h_n, c_n))``, h_n and c_n (1, N, H)."""
    fn = "lstm"
    x, w_ih, w_hh, b_ih, b_hh, h = _setup(fn, input, weight_ih, weight_hh, bias_ih, bias_hh, 4)
    if hx is None:
        h0_in = c0_in = None
    elif isinstance(hx, (tuple, list)) and len(hx) == 2:
        h0_in, c0_in = hx
    else:
        raise ValueError(f"{fn}: hx must be None or a pair (h0, c0), each (1, N, H)")
    h0 = _state(fn, "h0", h0_in, x, h)
    c0 = _state(fn, "c0", c0_in, x, h)
    out, cache = rc.lstm_forward(x, h0, *tc.lstm_weights_from_torch(w_ih, w_hh, b_ih, b_hh), c0=c0)
    n = x.shape[0]
    output, c_n = record(fn, rc.lstm_backward_with_state, (out, cache.c[None, :, -1]),
                         (cache, _shape_of(h0_in, n, h), _shape_of(c0_in, n, h)), _lstm_bwd,
                         (input, h0_in, c0_in, weight_ih, weight_hh, bias_ih, bias_hh))
    return output, (output[None, :, -1], c_n)


def _lstm_bwd(g: tuple, c: tuple, n: tuple) -> tuple:
    cache, h0_shape, c0_shape = c
    dh, dc_n = g
    dx, dh0, dc0, dWx, dWh, db = rc.lstm_backward_with_state(dh, cache, dc_n.reshape(dc_n.shape[1:]))
    t = tc.lstm_weights_to_torch(dWx, dWh, db)
    return (dx, dh0.reshape(h0_shape), dc0.reshape(c0_shape), t["weight_ih_l0"], t["weight_hh_l0"],
            t["bias_ih_l0"], t["bias_ih_l0"])


def gru(input: Any, hx: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any = None,  # noqa: A002
        bias_hh: Any = None) -> tuple[Tensor, Tensor]:
    """GRU over a whole sequence (torch's equations, gates r, z, n): ``n = tanh(x W_in^T + b_in + r *
    (h W_hn^T + b_hn))``, ``h' = (1 - z) n + z h``. Returns ``(output (N, T, H), h_n (1, N, H))``."""
    fn = "gru"
    x, w_ih, w_hh, b_ih, b_hh, h = _setup(fn, input, weight_ih, weight_hh, bias_ih, bias_hh, 3)
    h0 = _state(fn, "hx", hx, x, h)
    out, cache = gr.gru_forward(x, h0, *tc.gru_weights_from_torch(w_ih, w_hh, b_ih, b_hh))
    output = record(fn, gr.gru_backward, out, (cache, _shape_of(hx, x.shape[0], h)), _gru_bwd,
                    (input, hx, weight_ih, weight_hh, bias_ih, bias_hh))
    return output, output[None, :, -1]


def _gru_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, h0_shape = c
    dx, dh0, dWx, dWh, dbx, dbh = gr.gru_backward(g, cache)
    t = tc.gru_weights_to_torch(dWx, dWh, dbx, dbh)
    return dx, dh0.reshape(h0_shape), t["weight_ih_l0"], t["weight_hh_l0"], t["bias_ih_l0"], t["bias_hh_l0"]
