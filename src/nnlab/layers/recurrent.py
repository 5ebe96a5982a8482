"""Recurrent kernels: vanilla RNN and LSTM (one step and whole sequences), word embeddings and temporal affine
layers. The masked temporal softmax loss is in :mod:`nnlab.layers.losses`; the converters to and from
``torch.nn.RNN``/``torch.nn.LSTM`` weights are in :mod:`nnlab.layers.torch_convert`.

Conventions (CS231n ``rnn_layers.py``; DESIGN.md):

- Sequences are batch-first: ``x`` is (N, T, D), hidden states are (N, T, H).
- Weights are stored input-major: ``Wx`` (D, H) or (D, 4H), ``Wh`` (H, H) or (H, 4H), one bias ``b``.
- LSTM gates are in the CS231n order **i, f, o, g** along the 4H axis: ``a = x Wx + h Wh + b`` is split into
  input, forget, output gates (sigmoid) and the cell candidate g (tanh). torch orders them i, f, g, o, keeps
  transposed weights and two biases; ``torch_convert.lstm_weights_to_torch``/``lstm_weights_from_torch`` convert.
- Every kernel keeps the input dtype; ``x``, states and weights must share one floating dtype.

Speed: the input projection ``x Wx + b`` of every time step is one GEMM (or a table lookup) before the time
loop; inside the loop there is one (N, H)x(H, ·) GEMM and a handful of in-place elementwise operations per step;
the weight gradients are one GEMM per block of steps. On two threads the work before and behind a recurrence runs
beside it, block by block (:mod:`nnlab.layers._recurrent_pipeline`), bitwise the same at any thread count.
CharRNN-LSTM's step (bench_rnn.py, 2-vCPU machine, load 1.0): 2 threads 9.6-9.9 -> 7.9-8.0 ms (torch 7.6-8.1),
1 thread 9.8 -> 9.1-9.3 ms (torch 13.0-13.5); the CharRNN-RNN's backward is one block (no gain from two threads).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import xp_of
from ..validation import check_array
from ._recurrent_pipeline import backward_pipeline, gemm_rows, input_grads, pipeline, time_blocks, time_major

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "lstm_backward_with_state",
    "LSTMCache",
    "lstm_forward_tokens",
    "lstm_backward_tokens",
    "TokenCache",
    "rnn_forward_tokens",
    "rnn_backward_tokens",
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
]

# Above this vocabulary size the embedding gradient is accumulated by sorting the token ids and summing
# runs (np.add.reduceat); at or below it a one-hot GEMM is faster (measured at N*T = 1920, D = 256:
# V=37: one-hot 0.31 ms, sort 1.0 ms, np.add.at 4.3 ms; V=512: one-hot 7.7 ms, sort 1.6 ms, add.at 4.5 ms).
_ONE_HOT_MAX_VOCAB = 128


# ----------------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------------

def _check_dtypes(fn: str, **arrays: Any) -> None:
    """All named arrays must be floating point and share the dtype of the first one."""
    items = list(arrays.items())
    ref_name, ref = items[0]
    check_array(fn, ref_name, ref, float_only=True)
    for name, a in items[1:]:
        check_array(fn, name, a, float_only=True)
        if a.dtype != ref.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but {ref_name} has dtype {ref.dtype}; "
                            "cast them to one dtype (no silent upcasts)")


def _check_cell(fn: str, x: Any, prev_h: Any, Wx: Any, Wh: Any, b: Any, gates: int,
                x_ndim: int) -> tuple[int, int]:
    """Validate shapes of one recurrent cell's inputs; return (D, H). ``gates`` is 1 (RNN) or 4 (LSTM)."""
    x_hint = "(N, D)" if x_ndim == 2 else "(N, T, D)"
    g = "" if gates == 1 else f"{gates}"
    check_array(fn, "x", x, ndim=x_ndim, shape_hint=x_hint)
    check_array(fn, "prev_h" if x_ndim == 2 else "h0", prev_h, ndim=2, shape_hint="(N, H)")
    check_array(fn, "Wx", Wx, ndim=2, shape_hint=f"(D, {g}H)")
    check_array(fn, "Wh", Wh, ndim=2, shape_hint=f"(H, {g}H)")
    check_array(fn, "b", b, ndim=1, shape_hint=f"({g}H,)")
    h_name = "prev_h" if x_ndim == 2 else "h0"
    N, H = prev_h.shape
    D = x.shape[-1]
    if Wh.shape != (H, gates * H):
        raise ValueError(f"{fn}: Wh must have shape (H, {g}H) = {(H, gates * H)} for {h_name} of shape "
                         f"{tuple(prev_h.shape)}, got {tuple(Wh.shape)}")
    if Wx.shape != (D, gates * H):
        raise ValueError(f"{fn}: Wx must have shape (D, {g}H) = {(D, gates * H)} for x of shape "
                         f"{tuple(x.shape)} and H = {H}, got {tuple(Wx.shape)}")
    if b.shape != (gates * H,):
        raise ValueError(f"{fn}: b must have shape ({g}H,) = {(gates * H,)}, got {tuple(b.shape)}")
    if x.shape[0] != N:
        raise ValueError(f"{fn}: x has batch size {x.shape[0]} but {h_name} has batch size {N}")
    if x_ndim == 3 and x.shape[1] < 1:
        raise ValueError(f"{fn}: x must hold at least one time step, got shape {tuple(x.shape)}")
    return D, H


def _check_upstream(fn: str, name: str, d: Any, expected: tuple[int, ...], dtype) -> None:
    check_array(fn, name, d, float_only=True)
    if tuple(d.shape) != tuple(expected):
        raise ValueError(f"{fn}: {name} must have shape {tuple(expected)} like the forward output, "
                         f"got {tuple(d.shape)}")
    if d.dtype != dtype:
        raise TypeError(f"{fn}: {name} has dtype {d.dtype} but the forward pass ran in {dtype}")


# ----------------------------------------------------------------------------------------------------------
# vanilla RNN
# ----------------------------------------------------------------------------------------------------------

def rnn_step_forward(x: Any, prev_h: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, tuple]:
    """One time step of a tanh RNN: ``next_h = tanh(x Wx + prev_h Wh + b)``.

    Inputs: x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,), one floating dtype.
    Returns ``(next_h, cache)``: next_h (N, H) and what :func:`rnn_step_backward` needs.
    """
    fn = "rnn_step_forward"
    _check_cell(fn, x, prev_h, Wx, Wh, b, gates=1, x_ndim=2)
    _check_dtypes(fn, x=x, prev_h=prev_h, Wx=Wx, Wh=Wh, b=b)
    xp = xp_of(x, prev_h, Wx, Wh, b)
    next_h = x @ Wx
    next_h += prev_h @ Wh
    next_h += b
    xp.tanh(next_h, out=next_h)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h: Any, cache: tuple) -> tuple[Any, Any, Any, Any, Any]:
    """Backward of :func:`rnn_step_forward`: with ``dz = dnext_h * (1 - next_h**2)``,
    ``dx = dz Wx^T``, ``dprev_h = dz Wh^T``, ``dWx = x^T dz``, ``dWh = prev_h^T dz``, ``db = sum_n dz``.

    Inputs: dnext_h (N, H), cache from the forward pass.
    Returns ``(dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,))``.
    """
    x, prev_h, Wx, Wh, next_h = cache
    _check_upstream("rnn_step_backward", "dnext_h", dnext_h, next_h.shape, next_h.dtype)
    dz = dnext_h * (1 - next_h * next_h)
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)


def rnn_forward(x: Any, h0: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, tuple]:
    """A tanh RNN over a whole sequence: ``h_t = tanh(x_t Wx + h_{t-1} Wh + b)``, t = 1..T, from ``h0``.

    Inputs: x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,), one floating dtype.
    Returns ``(h, cache)``: h (N, T, H) holds every hidden state (the final state is ``h[:, -1]``).
    """
    fn = "rnn_forward"
    D, H = _check_cell(fn, x, h0, Wx, Wh, b, gates=1, x_ndim=3)
    _check_dtypes(fn, x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    xp = xp_of(x, h0, Wx, Wh, b)
    N, T, _ = x.shape
    h = (x.reshape(N * T, D) @ Wx).reshape(N, T, H)  # input projection of every step in one GEMM
    h += b
    _rnn_time_loop(h, h0, Wh, xp)
    return h, (x, h0, Wx, Wh, h)


def _rnn_time_loop(h: Any, h0: Any, Wh: Any, xp) -> None:
    """The recurrence of :func:`rnn_forward`, in place: ``h`` (N, T, H) holds the input projections plus b on
    entry and the hidden states on return."""
    prev_h = h0
    for t in range(h.shape[1]):
        h_t = h[:, t]
        h_t += prev_h @ Wh
        xp.tanh(h_t, out=h_t)
        prev_h = h_t


def rnn_backward(dh: Any, cache: tuple) -> tuple[Any, Any, Any, Any, Any]:
    """Backward of :func:`rnn_forward` through time.

    Inputs: dh (N, T, H), the upstream gradient of every hidden state (put the gradient of the final state
    into ``dh[:, -1]``); cache from the forward pass.
    Returns ``(dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,))``.
    """
    x, h0, Wx, Wh, h = cache
    _check_upstream("rnn_backward", "dh", dh, h.shape, h.dtype)
    xp = xp_of(dh, h)
    dx, write_dx = input_grads(x, Wx, xp)
    _, W, dh0 = _rnn_backward_time_loop(dh, h0, Wh, h, xp, x=x, then=write_dx)
    return dx, dh0, W[: x.shape[2]], W[x.shape[2] : -1], W[-1]


def _rnn_backward_time_loop(dh: Any, h0: Any, Wh: Any, h: Any, xp, x: Any = None, ids: Any = None, V: int = 0,
                            then=None) -> tuple[Any, Any, Any]:
    """The backward pass of :func:`rnn_backward` (``_recurrent_pipeline.backward_pipeline``): ``dz = dh * (1 - h**2)``,
    the recurrence ``dz_t += (dz_{t+1} Wh^T) * (1 - h_t**2)`` from the last step down, the weight gradients ``Z^T dz``.
    Returns ``(dz (T, N, H) time-major, W (K, H), dh0)``."""
    N, T, H = h.shape
    dtanh, dz = xp.empty((T, N, H), dtype=h.dtype), xp.empty((T, N, H), dtype=h.dtype)  # time-major
    WhT = xp.ascontiguousarray(Wh.T)
    dprev = [None]

    def local(t0: int, t1: int) -> None:
        h_b, d = time_major(h, t0, t1), dtanh[t0:t1]
        xp.multiply(h_b, h_b, out=d)
        xp.subtract(1, d, out=d)
        xp.multiply(time_major(dh, t0, t1), d, out=dz[t0:t1])

    def recurrence(t0: int, t1: int) -> None:
        for t in range(t1 - 1, t0 - 1, -1):
            if dprev[0] is not None:
                dprev[0] *= dtanh[t]
                dz[t] += dprev[0]
            dprev[0] = dz[t] @ WhT

    def weight_grads(t0: int, t1: int, Z: Any) -> Any:
        d = dz[t0:t1].reshape(-1, H)
        if then is not None:
            then(t0, t1, d)
        return Z[t0:t1].reshape(-1, Z.shape[2]).T @ d

    W = backward_pipeline(local, recurrence, weight_grads, lambda: gemm_rows(h0, h, xp, x, ids, V), T, N * H, xp)
    return dz, W, dprev[0]


def _token_grads(W: Any, d: Any, ids: Any, V: int) -> tuple[Any, Any]:
    """``(G, [dWh; db])`` from the weight GEMMs on ``gemm_rows``: G (V, ·) their first rows where the rows
    held one-hot columns (V <= _ONE_HOT_MAX_VOCAB), else the per-token sums of ``d`` (T, N, ·)."""
    if V <= _ONE_HOT_MAX_VOCAB:
        return W[:V], W[V:]
    return word_embedding_backward(d, (ids.T, (V, d.shape[2]), d.dtype)), W


# ----------------------------------------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------------------------------------

def _halve_ifo(W: Any, H: int) -> Any:
    """Copy of ``W`` with the i, f, o columns (first 3H along the last axis) scaled by 0.5 (exact)."""
    Ws = W.copy()
    Ws[..., : 3 * H] *= 0.5
    return Ws


def _lstm_activate(a: Any, H: int, xp) -> None:
    """In place: ``a`` (N, 4H) holds ``[a_i/2, a_f/2, a_o/2, a_g]``; afterwards ``[i, f, o, g]``.

    ``sigmoid(z) = 0.5 * tanh(z / 2) + 0.5`` never overflows (no warnings at |z| ~ 1e3), and with the i, f, o
    pre-activations already halved one ``tanh`` call covers all four gates.
    """
    xp.tanh(a, out=a)
    ifo = a[..., : 3 * H]
    ifo *= 0.5
    ifo += 0.5


def _lstm_cell_state(gates: Any, prev_c: Any, H: int, c_out: Any, xp) -> None:
    """``c = f * prev_c + i * g`` written into ``c_out`` (N, H)."""
    i, f, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 3 * H :]
    xp.multiply(f, prev_c, out=c_out)
    c_out += i * g


def lstm_step_forward(x: Any, prev_h: Any, prev_c: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, Any, tuple]:
    """One LSTM step, gates in CS231n order i, f, o, g.

    ``a = x Wx + prev_h Wh + b`` split into four (N, H) blocks; ``i, f, o = sigmoid(a_i, a_f, a_o)``,
    ``g = tanh(a_g)``; ``next_c = f * prev_c + i * g``; ``next_h = o * tanh(next_c)``.

    Inputs: x (N, D), prev_h (N, H), prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,), one floating dtype.
    Returns ``(next_h (N, H), next_c (N, H), cache)``.
    """
    fn = "lstm_step_forward"
    _, H = _check_cell(fn, x, prev_h, Wx, Wh, b, gates=4, x_ndim=2)
    _check_dtypes(fn, x=x, prev_h=prev_h, prev_c=prev_c, Wx=Wx, Wh=Wh, b=b)
    if prev_c.shape != prev_h.shape:
        raise ValueError(f"{fn}: prev_c must have the shape of prev_h {tuple(prev_h.shape)}, "
                         f"got {tuple(prev_c.shape)}")
    xp = xp_of(x, prev_h, prev_c, Wx, Wh, b)
    gates = x @ Wx
    gates += prev_h @ Wh
    gates += b
    gates[:, : 3 * H] *= 0.5
    _lstm_activate(gates, H, xp)
    next_c = xp.empty_like(prev_c)
    _lstm_cell_state(gates, prev_c, H, next_c, xp)
    tanh_c = xp.tanh(next_c)
    next_h = gates[:, 2 * H : 3 * H] * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, gates, tanh_c)


def _lstm_factors(gates: Any, prev_c: Any, tanh_c: Any, H: int, P: Any, Pc: Any, xp) -> None:
    """The factors of LSTM steps' gradients that do not depend on the upstream gradients (any leading shape):
    ``P`` (..., 4H) gets ``[i' g, f' prev_c, o' tanh_c, g' i]`` and ``Pc`` (..., H) ``o (1 - tanh_c**2)``, with
    ``s' = s (1 - s) = 0.25 - (s - 0.5)**2`` for s = i, f, o and ``g' = 1 - g**2`` (three passes over all four
    gates instead of strided per-gate ones); :func:`_lstm_step_grads` takes them."""
    offset = xp.zeros(4 * H, dtype=gates.dtype)
    offset[: 3 * H] = 0.5
    xp.subtract(gates, offset, out=P)
    P *= P
    xp.subtract(1 - 1.5 * offset, P, out=P)  # [0.25 | 1] - P
    P[..., :H] *= gates[..., 3 * H :]
    P[..., H : 2 * H] *= prev_c
    P[..., 2 * H : 3 * H] *= tanh_c
    P[..., 3 * H :] *= gates[..., :H]
    xp.multiply(tanh_c, tanh_c, out=Pc)
    xp.subtract(1, Pc, out=Pc)
    Pc *= gates[..., 2 * H : 3 * H]


def _lstm_step_grads(dh_t: Any, dc_t: Any, P: Any, Pc: Any, f: Any, H: int) -> Any:
    """One LSTM step backward from the factors of :func:`_lstm_factors`: ``dh_t`` (N, H) the gradient of h_t,
    ``dc_t`` the one flowing into c_t from step t+1. ``P`` (N, 4H) becomes the gate pre-activation gradients
    ``[dc, dc, dh_t, dc] * P``, ``dc = dc_t + dh_t * Pc``, in place; returns ``dc * f``, the gradient of c_{t-1}."""
    dc = dh_t * Pc
    dc += dc_t
    P[:, :H] *= dc
    P[:, H : 2 * H] *= dc
    P[:, 2 * H : 3 * H] *= dh_t
    P[:, 3 * H :] *= dc
    dc *= f
    return dc


def lstm_step_backward(dnext_h: Any, dnext_c: Any, cache: tuple) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Backward of :func:`lstm_step_forward`.

    Inputs: dnext_h (N, H), dnext_c (N, H), cache from the forward pass.
    Returns ``(dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))``.
    """
    fn = "lstm_step_backward"
    x, prev_h, prev_c, Wx, Wh, gates, tanh_c = cache
    _check_upstream(fn, "dnext_h", dnext_h, prev_h.shape, prev_h.dtype)
    _check_upstream(fn, "dnext_c", dnext_c, prev_c.shape, prev_c.dtype)
    xp = xp_of(dnext_h, gates)
    H = prev_h.shape[1]
    da, Pc = xp.empty_like(gates), xp.empty_like(tanh_c)
    _lstm_factors(gates, prev_c, tanh_c, H, da, Pc, xp)
    dprev_c = _lstm_step_grads(dnext_h, dnext_c, da, Pc, gates[:, H : 2 * H], H)
    return da @ Wx.T, da @ Wh.T, dprev_c, x.T @ da, prev_h.T @ da, da.sum(axis=0)


class LSTMCache(NamedTuple):
    """What :func:`lstm_forward` keeps for the backward pass (batch-first arrays, ``gates`` perhaps a view).

    ``c[:, -1]`` is the final cell state (N, H) and the forward output ``h[:, -1]`` the final hidden state.
    """

    x: Any  # (N, T, D)
    h0: Any  # (N, H)
    c0: Any  # (N, H) initial cell state (zeros when none was given)
    Wx: Any  # (D, 4H)
    Wh: Any  # (H, 4H)
    h: Any  # (N, T, H) hidden states
    c: Any  # (N, T, H) cell states
    tanh_c: Any  # (N, T, H)
    gates: Any  # (N, T, 4H) activated gates i, f, o, g


def _initial_cell(fn: str, h0: Any, c0: Any, xp) -> Any:
    """``c0`` checked against ``h0``, zeros when None (CS231n's default)."""
    if c0 is None:
        return xp.zeros_like(h0)
    _check_dtypes(fn, h0=h0, c0=c0)
    if c0.shape != h0.shape:
        raise ValueError(f"{fn}: c0 must have the shape of h0 {tuple(h0.shape)}, got {tuple(c0.shape)}")
    return c0


def lstm_forward(x: Any, h0: Any, Wx: Any, Wh: Any, b: Any, c0: Any = None) -> tuple[Any, LSTMCache]:
    """An LSTM over a whole sequence (gates i, f, o, g; see :func:`lstm_step_forward`).

    Inputs: x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,), one floating dtype; optional c0 (N, H),
    the initial cell state (zeros by default, as in CS231n).
    Returns ``(h, cache)``: h (N, T, H) holds every hidden state; the final cell state is ``cache.c[:, -1]``
    (an :class:`LSTMCache`).
    """
    fn = "lstm_forward"
    _, H = _check_cell(fn, x, h0, Wx, Wh, b, gates=4, x_ndim=3)
    _check_dtypes(fn, x=x, h0=h0, Wx=Wx, Wh=Wh, b=b)
    xp = xp_of(x, h0, Wx, Wh, b)
    c0 = _initial_cell(fn, h0, c0, xp)
    N, T, D = x.shape
    gates = (x.reshape(N * T, D) @ _halve_ifo(Wx, H)).reshape(N, T, 4 * H)  # all input projections at once
    gates += _halve_ifo(b, H)
    h, c, tanh_c = _lstm_time_loop(gates, h0, c0, Wh, xp)
    return h, LSTMCache(x, h0, c0, Wx, Wh, h, c, tanh_c, gates)


def _lstm_time_loop(gates: Any, h0: Any, c0: Any, Wh: Any, xp, fill=None) -> tuple[Any, Any, Any]:
    """The recurrence of :func:`lstm_forward` from the input projections ``gates`` (N, T, 4H), i/f/o columns
    halved, bias added, activated in place; ``fill(t0, t1)``, where given, writes those of steps t0..t1-1 first,
    a block ahead on two threads (``_recurrent_pipeline.pipeline``). Returns ``(h, c, tanh_c)``, each (N, T, H)."""
    N, T, H = gates.shape[0], gates.shape[1], h0.shape[1]
    Wh_s = _halve_ifo(Wh, H)
    h, c, tanh_c = (xp.empty((N, T, H), dtype=gates.dtype) for _ in range(3))
    state = [h0, c0]

    def recurrence(t0: int, t1: int) -> None:
        prev_h, prev_c = state
        for t in range(t0, t1):
            a = gates[:, t]
            a += prev_h @ Wh_s
            _lstm_activate(a, H, xp)
            _lstm_cell_state(a, prev_c, H, c[:, t], xp)
            xp.tanh(c[:, t], out=tanh_c[:, t])
            xp.multiply(a[:, 2 * H : 3 * H], tanh_c[:, t], out=h[:, t])
            prev_h, prev_c = h[:, t], c[:, t]
        state[:] = prev_h, prev_c

    pipeline([fill, recurrence], time_blocks(T, N * 4 * H), xp)
    return h, c, tanh_c


def _final_cell_grad(fn: str, dc_last: Any, h0: Any, xp) -> Any:
    """``dc_last`` checked against the cell states, zeros when None."""
    if dc_last is None:
        return xp.zeros_like(h0)
    _check_upstream(fn, "dc_last", dc_last, h0.shape, h0.dtype)
    return dc_last


def lstm_backward_with_state(dh: Any, cache: LSTMCache, dc_last: Any = None) -> tuple[Any, ...]:
    """Backward of :func:`lstm_forward` including the cell states.

    Inputs: dh (N, T, H), upstream gradient of every hidden state (the final hidden state's gradient goes
    into ``dh[:, -1]``); optional dc_last (N, H), upstream gradient of the final cell state ``cache.c[:, -1]``.
    Returns ``(dx (N, T, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))``.
    """
    check_array("lstm_backward_with_state", "dh", dh)
    fn = "lstm_backward"
    x, h0, h = cache.x, cache.h0, cache.h
    _check_upstream(fn, "dh", dh, h.shape, h.dtype)
    xp = xp_of(dh, h)
    dx, write_dx = input_grads(x, cache.Wx, xp)
    _, W, dh0, dc0 = _lstm_backward_time_loop(dh, cache, _final_cell_grad(fn, dc_last, h0, xp), xp,
                                              then=write_dx)
    return dx, dh0, dc0, W[: x.shape[2]], W[x.shape[2] : -1], W[-1]


def _lstm_backward_time_loop(dh: Any, cache: LSTMCache, dc_next: Any, xp, ids: Any = None, V: int = 0,
                             then=None) -> tuple[Any, Any, Any, Any]:
    """The backward pass of :func:`lstm_backward_with_state` (``_recurrent_pipeline.backward_pipeline``): the
    factors of :func:`_lstm_factors`, the recurrence from the last step down, the weight gradients ``Z^T da``.
    Returns ``(da (T, N, 4H) time-major, the gate pre-activation gradients, W (K, 4H), dh0, dc0)``."""
    x, h0, c0, _, Wh, h, c, tanh_c, gates = cache
    N, T, H = h.shape
    da, Pc = xp.empty((T, N, 4 * H), dtype=h.dtype), xp.empty((T, N, H), dtype=h.dtype)  # da: P until the loop
    WhT = xp.ascontiguousarray(Wh.T)
    state = [None, dc_next]  # the gradients flowing from step t into h_{t-1} and c_{t-1}

    def local(t0: int, t1: int) -> None:
        prev_c = time_major(c, max(t0 - 1, 0), t1 - 1)
        if t0 == 0:
            prev_c = xp.concatenate([c0[None], prev_c])
        _lstm_factors(time_major(gates, t0, t1), prev_c, time_major(tanh_c, t0, t1), H, da[t0:t1], Pc[t0:t1], xp)

    def recurrence(t0: int, t1: int) -> None:
        dh_next, dc_next = state
        for t in range(t1 - 1, t0 - 1, -1):
            dh_t = dh[:, t] if dh_next is None else dh[:, t] + dh_next
            dc_next = _lstm_step_grads(dh_t, dc_next, da[t], Pc[t], gates[:, t, H : 2 * H], H)
            dh_next = da[t] @ WhT
        state[:] = dh_next, dc_next

    def weight_grads(t0: int, t1: int, Z: Any) -> Any:
        d = da[t0:t1].reshape(-1, 4 * H)
        if then is not None:
            then(t0, t1, d)
        return Z[t0:t1].reshape(-1, Z.shape[2]).T @ d

    W = backward_pipeline(local, recurrence, weight_grads, lambda: gemm_rows(h0, h, xp, x, ids, V), T, N * 4 * H,
                          xp)
    return da, W, state[0], state[1]


def lstm_backward(dh: Any, cache: LSTMCache) -> tuple[Any, Any, Any, Any, Any]:
    """Backward of :func:`lstm_forward` (CS231n signature).

    Inputs: dh (N, T, H), upstream gradient of every hidden state; cache from the forward pass.
    Returns ``(dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))``. For the gradient of the
    initial cell state or an upstream gradient of the final cell state use :func:`lstm_backward_with_state`.
    """
    check_array("lstm_backward", "dh", dh)
    dx, dh0, _, dWx, dWh, db = lstm_backward_with_state(dh, cache)
    return dx, dh0, dWx, dWh, db


class TokenCache(NamedTuple):
    """What :func:`lstm_forward_tokens` / :func:`rnn_forward_tokens` keep: the token ids, the embedding table and
    the recurrent kernel's cache (whose ``x``, its first field, is None when the input projection was a table
    lookup, else the embedded sequence)."""

    ids: Any  # (N, T) integer token ids
    W_embed: Any  # (V, D)
    inner: Any  # LSTMCache, or rnn_forward's (x, h0, Wx, Wh, h)


def _table_pays(fn: str, ids: Any, W_embed: Any) -> bool:
    """Check the token ids and the embedding table; whether the input projection goes by table lookup: with at
    most as many vocabulary rows as tokens (V <= N*T), the (V, D) x (D, G) table costs less than the
    (N*T, D) x (D, G) GEMM on the embedded rows."""
    check_array(fn, "ids", ids, ndim=2, shape_hint="(N, T)")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{fn}: ids must hold integer token ids, got dtype {ids.dtype} (cast with ids.astype(int))")
    check_array(fn, "W_embed", W_embed, ndim=2, shape_hint="(V, D)", float_only=True)
    _check_ids(fn, "ids", ids, W_embed)
    return 0 < W_embed.shape[0] <= ids.size


def rnn_forward_tokens(ids: Any, W_embed: Any, h0: Any, Wx: Any, Wh: Any, b: Any) -> tuple[Any, TokenCache]:
    """A tanh RNN over embedded tokens: ``rnn_forward(W_embed[ids], h0, Wx, Wh, b)``, with the input projection
    ``(W_embed @ Wx)[ids]`` by table lookup where the vocabulary is the smaller (as :func:`lstm_forward_tokens`).

    Inputs: ids (N, T) integer ids in [0, V); W_embed (V, D); h0 (N, H); Wx (D, H); Wh (H, H); b (H,); one
    floating dtype. Returns ``(h (N, T, H), cache)`` for :func:`rnn_backward_tokens`.
    """
    fn = "rnn_forward_tokens"
    if not _table_pays(fn, ids, W_embed):
        h, cache = rnn_forward(W_embed[ids], h0, Wx, Wh, b)
        return h, TokenCache(ids, W_embed, cache)
    N, T = ids.shape
    xp = xp_of(W_embed, h0, Wx, Wh, b)
    _check_cell(fn, xp.broadcast_to(W_embed[:1], (N, T, W_embed.shape[1])), h0, Wx, Wh, b, gates=1, x_ndim=3)
    _check_dtypes(fn, W_embed=W_embed, h0=h0, Wx=Wx, Wh=Wh, b=b)
    table = W_embed @ Wx  # (V, H): every token's input projection
    table += b
    h = table[ids]  # (N, T, H), a fresh array
    _rnn_time_loop(h, h0, Wh, xp)
    return h, TokenCache(ids, W_embed, (None, h0, Wx, Wh, h))


def rnn_backward_tokens(dh: Any, cache: TokenCache) -> tuple[Any, Any, Any, Any, Any]:
    """Backward of :func:`rnn_forward_tokens`: ``(dW_embed (V, D), dh0 (N, H), dWx (D, H), dWh (H, H),
    db (H,))``, by ``G`` (the per-token sums of the pre-activation gradients) on the table path."""
    ids, W_embed, inner = cache
    if inner[0] is not None:  # the composition ran
        dx, dh0, dWx, dWh, db = rnn_backward(dh, inner)
        return word_embedding_backward(dx, (ids, W_embed.shape, W_embed.dtype)), dh0, dWx, dWh, db
    _, h0, Wx, Wh, h = inner
    _check_upstream("rnn_backward_tokens", "dh", dh, h.shape, h.dtype)
    V = W_embed.shape[0]
    one_hot = ids if V <= _ONE_HOT_MAX_VOCAB else None  # then G comes from one-hot columns of the weight GEMMs
    dz, W, dh0 = _rnn_backward_time_loop(dh, h0, Wh, h, xp_of(dh, h), ids=one_hot, V=V)
    G, W = _token_grads(W, dz, ids, V)
    return G @ Wx.T, dh0, W_embed.T @ G, W[:-1], W[-1]


def lstm_forward_tokens(ids: Any, W_embed: Any, h0: Any, Wx: Any, Wh: Any, b: Any,
                        c0: Any = None) -> tuple[Any, TokenCache]:
    """An LSTM over embedded tokens: ``lstm_forward(W_embed[ids], h0, Wx, Wh, b, c0)`` (see :func:`lstm_forward`
    and :func:`word_embedding_forward`), with the input projection as a table lookup where that is cheaper.

    Every input row is a row of ``W_embed``, so ``x[n, t] @ Wx = (W_embed @ Wx)[ids[n, t]]``: with ``V <= N*T``
    the (V, 4H) table ``W_embed @ Wx`` (V*D*4H multiply-adds) replaces the (N*T, D) x (D, 4H) GEMM, and the
    backward's ``dx = da @ Wx^T`` and ``dWx = x^T @ da`` become ``dW_embed = G @ Wx^T`` and ``dWx = W_embed^T @ G``
    with ``G[v] = sum of da[n, t] over ids[n, t] = v`` (V rows instead of N*T). CharRNN's step (N*T = 1920,
    V = 37, D = 256, H = 128): three 0.5-GFLOP GEMMs become ~10 MFLOP each. The sums run in another order than
    the composition's, so results agree to rounding (float64 1e-13, tested), not bitwise.

    Inputs: ids (N, T) integer ids in [0, V); W_embed (V, D); h0 (N, H); Wx (D, 4H); Wh (H, 4H); b (4H,);
    optional c0 (N, H); one floating dtype. Returns ``(h (N, T, H), cache)`` for :func:`lstm_backward_tokens`.
    """
    fn = "lstm_forward_tokens"
    if not _table_pays(fn, ids, W_embed):
        h, cache = lstm_forward(W_embed[ids], h0, Wx, Wh, b, c0)
        return h, TokenCache(ids, W_embed, cache)
    N, T = ids.shape
    xp = xp_of(W_embed, h0, Wx, Wh, b)
    _, H = _check_cell(fn, xp.broadcast_to(W_embed[:1], (N, T, W_embed.shape[1])), h0, Wx, Wh, b, gates=4,
                       x_ndim=3)
    _check_dtypes(fn, W_embed=W_embed, h0=h0, Wx=Wx, Wh=Wh, b=b)
    c0 = _initial_cell(fn, h0, c0, xp)
    table = W_embed @ _halve_ifo(Wx, H)  # (V, 4H): every token's input projection
    table += _halve_ifo(b, H)
    gates_tm = xp.empty((T, N, 4 * H), dtype=table.dtype)  # time-major: a block's rows are contiguous

    def fill(t0: int, t1: int) -> None:  # the lookup, a block ahead of the recurrence on two threads
        gates_tm[t0:t1] = table[ids[:, t0:t1].T]

    gates = gates_tm.transpose(1, 0, 2)  # (N, T, 4H)
    h, c, tanh_c = _lstm_time_loop(gates, h0, c0, Wh, xp, fill)
    return h, TokenCache(ids, W_embed, LSTMCache(None, h0, c0, Wx, Wh, h, c, tanh_c, gates))


def lstm_backward_tokens(dh: Any, cache: TokenCache, dc_last: Any = None) -> tuple[Any, ...]:
    """Backward of :func:`lstm_forward_tokens`.

    Inputs: dh (N, T, H); the forward's cache; optional dc_last (N, H) as in :func:`lstm_backward_with_state`.
    Returns ``(dW_embed (V, D), dh0 (N, H), dc0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))``: the table
    path sums the gate gradients per token (``G``, from one-hot columns of the weight GEMMs or as
    :func:`word_embedding_backward` sums rows) and takes ``dW_embed = G @ Wx^T``, ``dWx = W_embed^T @ G``.
    """
    ids, W_embed, inner = cache
    if inner[0] is not None:  # the composition ran
        dx, dh0, dc0, dWx, dWh, db = lstm_backward_with_state(dh, inner, dc_last)
        return word_embedding_backward(dx, (ids, W_embed.shape, W_embed.dtype)), dh0, dc0, dWx, dWh, db
    fn = "lstm_backward_tokens"
    check_array(fn, "dh", dh)
    h0, h = inner.h0, inner.h
    _check_upstream(fn, "dh", dh, h.shape, h.dtype)
    xp = xp_of(dh, h)
    V = W_embed.shape[0]
    one_hot = ids if V <= _ONE_HOT_MAX_VOCAB else None  # then G comes from one-hot columns of the weight GEMMs
    dc_last = _final_cell_grad(fn, dc_last, h0, xp)
    da, W, dh0, dc0 = _lstm_backward_time_loop(dh, inner, dc_last, xp, ids=one_hot, V=V)
    G, W = _token_grads(W, da, ids, V)
    return G @ inner.Wx.T, dh0, dc0, W_embed.T @ G, W[:-1], W[-1]


# word embedding, temporal affine
# ----------------------------------------------------------------------------------------------------------

def word_embedding_forward(x: Any, W: Any) -> tuple[Any, tuple]:
    """Look up word vectors: ``out[n, t] = W[x[n, t]]``.

    Inputs: x integer token ids of any shape, e.g. (N, T), each in [0, V); W (V, D) floating.
    Returns ``(out, cache)``: out has shape ``x.shape + (D,)`` and W's dtype.
    """
    fn = "word_embedding_forward"
    check_array(fn, "x", x)
    check_array(fn, "W", W, ndim=2, shape_hint="(V, D)", float_only=True)
    _check_ids(fn, "x", x, W)
    return W[x], (x, W.shape, W.dtype)


def _check_ids(fn: str, name: str, x: Any, W: Any) -> None:
    """``x`` must hold integer token ids in [0, V) for the (V, D) table ``W``."""
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{fn}: {name} must hold integer token ids, got dtype {x.dtype} "
                        f"(cast with {name}.astype(int))")
    V = W.shape[0]
    if x.size and (int(x.min()) < 0 or int(x.max()) >= V):
        raise ValueError(f"{fn}: {name} must hold token ids in [0, {V}) for W of shape {tuple(W.shape)}, "
                         f"got values from {int(x.min())} to {int(x.max())}")


def word_embedding_backward(dout: Any, cache: tuple) -> Any:
    """Backward of :func:`word_embedding_forward`: ``dW[v] = sum of dout[n, t] over all (n, t) with x[n, t] = v``.

    Inputs: dout with shape ``x.shape + (D,)``; cache from the forward pass.
    Returns dW (V, D). Repeated ids are summed by a one-hot GEMM for small vocabularies and by sorting the ids
    and summing runs (``add.reduceat``) otherwise; both are several times faster than ``np.add.at``.
    """
    x, (V, D), dtype = cache
    _check_upstream("word_embedding_backward", "dout", dout, tuple(x.shape) + (D,), dtype)
    xp = xp_of(dout)
    ids = x.reshape(-1)
    rows = dout.reshape(-1, D)
    if xp is not np:  # CuPy: atomic scatter-add on the device
        dW = xp.zeros((V, D), dtype=dtype)
        xp.add.at(dW, ids, rows)
        return dW
    if V <= _ONE_HOT_MAX_VOCAB:
        one_hot = np.zeros((ids.size, V), dtype=dtype)
        one_hot[np.arange(ids.size), ids] = 1
        return one_hot.T @ rows
    dW = np.zeros((V, D), dtype=dtype)
    if ids.size == 0:
        return dW
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
    dW[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return dW


def temporal_affine_forward(x: Any, w: Any, b: Any) -> tuple[Any, tuple]:
    """Affine map applied at every time step: ``out[n, t] = x[n, t] w + b``.

    Inputs: x (N, T, D), w (D, M), b (M,), one floating dtype.
    Returns ``(out (N, T, M), cache)``.
    """
    fn = "temporal_affine_forward"
    check_array(fn, "x", x, ndim=3, shape_hint="(N, T, D)")
    check_array(fn, "w", w, ndim=2, shape_hint="(D, M)")
    check_array(fn, "b", b, ndim=1, shape_hint="(M,)")
    _check_dtypes(fn, x=x, w=w, b=b)
    N, T, D = x.shape
    if w.shape[0] != D:
        raise ValueError(f"{fn}: w must have shape (D, M) with D = {D} to match x {tuple(x.shape)}, "
                         f"got {tuple(w.shape)}")
    M = w.shape[1]
    if b.shape != (M,):
        raise ValueError(f"{fn}: b must have shape (M,) = {(M,)} to match w {tuple(w.shape)}, got {tuple(b.shape)}")
    out = (x.reshape(N * T, D) @ w).reshape(N, T, M)
    out += b
    return out, (x, w)


def temporal_affine_backward(dout: Any, cache: tuple) -> tuple[Any, Any, Any]:
    """Backward of :func:`temporal_affine_forward`: ``dx = dout w^T``, ``dw = sum_{n,t} x^T dout``, ``db = sum dout``.

    Inputs: dout (N, T, M); cache from the forward pass.
    Returns ``(dx (N, T, D), dw (D, M), db (M,))``.
    """
    x, w = cache
    N, T, D = x.shape
    M = w.shape[1]
    _check_upstream("temporal_affine_backward", "dout", dout, (N, T, M), x.dtype)
    d2 = dout.reshape(N * T, M)
    return (d2 @ w.T).reshape(N, T, D), x.reshape(N * T, D).T @ d2, d2.sum(axis=0)
