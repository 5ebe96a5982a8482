"""GRU kernels (one step and whole sequences) with torch's gate layout and semantics.

Gates are in torch's order **r, z, n** along the 3H axis. With ``gx = x Wx + bx`` and ``gh = h Wh + bh``
(each (N, 3H), split into r, z, n blocks of H)::

    r  = sigmoid(gx_r + gh_r)              reset gate
    z  = sigmoid(gx_z + gh_z)              update gate
    n  = tanh(gx_n + r * gh_n)             candidate (the reset gate scales W_hn h + b_hn, bias included)
    h' = (1 - z) * n + z * h

Because ``b_hn`` sits inside ``r * (...)`` the two biases cannot be merged, so the kernels take both: ``bx``
(torch's ``bias_ih``) and ``bh`` (``bias_hh``). Weights are input-major like the RNN/LSTM kernels: ``Wx`` (D, 3H)
is torch's ``weight_ih^T`` and ``Wh`` (H, 3H) is ``weight_hh^T``; :mod:`nnlab.layers.torch_convert` converts.

Backward of one step, given ``dh'``: ``dn = dh' (1 - z)``, ``dz = dh' (h - n)``, ``da_n = dn (1 - n^2)``,
``da_z = dz z (1 - z)``, ``da_r = da_n gh_n r (1 - r)``; then the input-side pre-activation gradient is
``dgx = [da_r, da_z, da_n]``, the hidden-side one ``dgh = [da_r, da_z, da_n * r]``, and
``dx = dgx Wx^T``, ``dWx = x^T dgx``, ``dbx = sum_n dgx``, ``dprev_h = dh' z + dgh Wh^T``, ``dWh = h^T dgh``,
``dbh = sum_n dgh``.

Sequences are batch-first (x (N, T, D), hidden states (N, T, H)); all input projections are one GEMM before
the time loop and all weight gradients single GEMMs after the backward loop. Every kernel keeps the input
dtype; ``x``, states, weights and biases must share one floating dtype.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import xp_of
from ..validation import check_array

__all__ = [
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "GRUCache",
]


# ----------------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------------

def _check_gru(fn: str, x: Any, h: Any, Wx: Any, Wh: Any, bx: Any, bh: Any, x_ndim: int) -> tuple[int, int]:
    """Validate one GRU's inputs (shapes and one shared floating dtype); return (D, H)."""
    h_name = "prev_h" if x_ndim == 2 else "h0"
    check_array(fn, "x", x, ndim=x_ndim, shape_hint="(N, D)" if x_ndim == 2 else "(N, T, D)", float_only=True)
    check_array(fn, h_name, h, ndim=2, shape_hint="(N, H)", float_only=True)
    check_array(fn, "Wx", Wx, ndim=2, shape_hint="(D, 3H)", float_only=True)
    check_array(fn, "Wh", Wh, ndim=2, shape_hint="(H, 3H)", float_only=True)
    check_array(fn, "bx", bx, ndim=1, shape_hint="(3H,)", float_only=True)
    check_array(fn, "bh", bh, ndim=1, shape_hint="(3H,)", float_only=True)
    N, H = h.shape
    D = x.shape[-1]
    if x.shape[0] != N:
        raise ValueError(f"{fn}: x has batch size {x.shape[0]} but {h_name} has batch size {N}")
    if x_ndim == 3 and x.shape[1] < 1:
        raise ValueError(f"{fn}: x must hold at least one time step, got shape {tuple(x.shape)}")
    if Wx.shape != (D, 3 * H):
        raise ValueError(f"{fn}: Wx must have shape (D, 3H) = {(D, 3 * H)} for x of shape {tuple(x.shape)} "
                         f"and H = {H}, got {tuple(Wx.shape)}")
    if Wh.shape != (H, 3 * H):
        raise ValueError(f"{fn}: Wh must have shape (H, 3H) = {(H, 3 * H)} for {h_name} of shape "
                         f"{tuple(h.shape)}, got {tuple(Wh.shape)}")
    for name, b in (("bx", bx), ("bh", bh)):
        if b.shape != (3 * H,):
            raise ValueError(f"{fn}: {name} must have shape (3H,) = {(3 * H,)}, got {tuple(b.shape)}")
    for name, a in ((h_name, h), ("Wx", Wx), ("Wh", Wh), ("bx", bx), ("bh", bh)):
        if a.dtype != x.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has dtype {x.dtype}; "
                            "cast them to one dtype (no silent upcasts)")
    return D, H


def _check_upstream(fn: str, name: str, d: Any, expected: tuple[int, ...], dtype: Any) -> None:
    check_array(fn, name, d, float_only=True)
    if tuple(d.shape) != tuple(expected):
        raise ValueError(f"{fn}: {name} must have shape {tuple(expected)} like the forward output, "
                         f"got {tuple(d.shape)}")
    if d.dtype != dtype:
        raise TypeError(f"{fn}: {name} has dtype {d.dtype} but the forward pass ran in {dtype}")


# ----------------------------------------------------------------------------------------------------------
# one cell, shared by the step and sequence kernels
# ----------------------------------------------------------------------------------------------------------

def _gru_cell(gx: Any, gh: Any, prev_h: Any, H: int, h_out: Any, xp) -> Any:
    """One GRU update, in place where possible.

    ``gx`` (N, 3H) holds ``x Wx + bx`` on entry and the activated gates ``[r, z, n]`` on exit; ``gh`` (N, 3H)
    is ``prev_h Wh + bh`` (read only). ``h_out`` (N, H) receives ``h' = n + z (prev_h - n)``. Returns ``gh_n``
    (a view of ``gh``), which the backward pass needs. ``sigmoid(a) = 0.5 tanh(a / 2) + 0.5`` (no overflow).
    """
    rz = gx[:, : 2 * H]
    rz += gh[:, : 2 * H]
    rz *= 0.5
    xp.tanh(rz, out=rz)
    rz *= 0.5
    rz += 0.5
    gh_n = gh[:, 2 * H :]
    n = gx[:, 2 * H :]
    n += gx[:, :H] * gh_n
    xp.tanh(n, out=n)
    xp.subtract(prev_h, n, out=h_out)
    h_out *= gx[:, H : 2 * H]
    h_out += n
    return gh_n


def _gru_cell_backward(dh: Any, gates: Any, gh_n: Any, prev_h: Any, H: int, dgx: Any, dgh: Any, xp) -> None:
    """Pre-activation gradients of one step: ``dgx`` (N, 3H) <- ``[da_r, da_z, da_n]`` and ``dgh`` (N, 3H) <-
    ``[da_r, da_z, da_n r]`` from ``dh`` (N, H), the total gradient of this step's output h'."""
    r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
    da_r, da_z, da_n = dgx[:, :H], dgx[:, H : 2 * H], dgx[:, 2 * H :]
    # da_n = dh (1 - z) (1 - n^2)
    xp.multiply(dh, z, out=da_n)
    xp.subtract(dh, da_n, out=da_n)
    da_n *= 1 - n * n
    # da_z = dh (prev_h - n) z (1 - z)
    xp.subtract(prev_h, n, out=da_z)
    da_z *= dh
    da_z *= z * (1 - z)
    # da_r = da_n gh_n r (1 - r)
    xp.multiply(da_n, gh_n, out=da_r)
    da_r *= r * (1 - r)
    dgh[:, : 2 * H] = dgx[:, : 2 * H]
    xp.multiply(da_n, r, out=dgh[:, 2 * H :])


# ----------------------------------------------------------------------------------------------------------
# one step
# ----------------------------------------------------------------------------------------------------------

def gru_step_forward(x: Any, prev_h: Any, Wx: Any, Wh: Any, bx: Any, bh: Any) -> tuple[Any, tuple]:
    """One GRU step (torch's semantics; gates r, z, n; see the module docstring).

    Inputs: x (N, D), prev_h (N, H), Wx (D, 3H), Wh (H, 3H), bx (3H,), bh (3H,), one floating dtype.
    Returns ``(next_h (N, H), cache)``.
    """
    fn = "gru_step_forward"
    _, H = _check_gru(fn, x, prev_h, Wx, Wh, bx, bh, x_ndim=2)
    xp = xp_of(x, prev_h, Wx, Wh, bx, bh)
    gates = x @ Wx
    gates += bx
    gh = prev_h @ Wh
    gh += bh
    next_h = xp.empty_like(prev_h)
    gh_n = _gru_cell(gates, gh, prev_h, H, next_h, xp)
    return next_h, (x, prev_h, Wx, Wh, gates, xp.ascontiguousarray(gh_n))


def gru_step_backward(dnext_h: Any, cache: tuple) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Backward of :func:`gru_step_forward`.

    Inputs: dnext_h (N, H), cache from the forward pass.
    Returns ``(dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,))``.
    """
    x, prev_h, Wx, Wh, gates, gh_n = cache
    _check_upstream("gru_step_backward", "dnext_h", dnext_h, prev_h.shape, prev_h.dtype)
    xp = xp_of(dnext_h, gates)
    H = prev_h.shape[1]
    dgx = xp.empty_like(gates)
    dgh = xp.empty_like(gates)
    _gru_cell_backward(dnext_h, gates, gh_n, prev_h, H, dgx, dgh, xp)
    dprev_h = dnext_h * gates[:, H : 2 * H]
    dprev_h += dgh @ Wh.T
    return dgx @ Wx.T, dprev_h, x.T @ dgx, prev_h.T @ dgh, dgx.sum(axis=0), dgh.sum(axis=0)


# ----------------------------------------------------------------------------------------------------------
# whole sequences
# ----------------------------------------------------------------------------------------------------------

class GRUCache(NamedTuple):
    """What :func:`gru_forward` keeps for the backward pass (batch-first arrays)."""

    x: Any  # (N, T, D)
    h0: Any  # (N, H)
    Wx: Any  # (D, 3H)
    Wh: Any  # (H, 3H)
    h: Any  # (N, T, H) hidden states
    gates: Any  # (N, T, 3H) activated gates r, z, n
    gh_n: Any  # (N, T, H) h_{t-1} W_hn + b_hn, the term the reset gate scales


def gru_forward(x: Any, h0: Any, Wx: Any, Wh: Any, bx: Any, bh: Any) -> tuple[Any, GRUCache]:
    """A GRU over a whole sequence from ``h0`` (gates r, z, n; see :func:`gru_step_forward`).

    Inputs: x (N, T, D), h0 (N, H), Wx (D, 3H), Wh (H, 3H), bx (3H,), bh (3H,), one floating dtype.
    Returns ``(h, cache)``: h (N, T, H) holds every hidden state (the final one is ``h[:, -1]``); cache is a
    :class:`GRUCache`.
    """
    fn = "gru_forward"
    D, H = _check_gru(fn, x, h0, Wx, Wh, bx, bh, x_ndim=3)
    xp = xp_of(x, h0, Wx, Wh, bx, bh)
    N, T, _ = x.shape
    gates = (x.reshape(N * T, D) @ Wx).reshape(N, T, 3 * H)  # every input projection in one GEMM
    gates += bx
    h = xp.empty((N, T, H), dtype=x.dtype)
    gh_n = xp.empty((N, T, H), dtype=x.dtype)
    gh = xp.empty((N, 3 * H), dtype=x.dtype)
    prev_h = h0
    for t in range(T):
        xp.matmul(prev_h, Wh, out=gh)
        gh += bh
        gh_n[:, t] = _gru_cell(gates[:, t], gh, prev_h, H, h[:, t], xp)
        prev_h = h[:, t]
    return h, GRUCache(x, h0, Wx, Wh, h, gates, gh_n)


def gru_backward(dh: Any, cache: GRUCache) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Backward of :func:`gru_forward` through time.

    Inputs: dh (N, T, H), the upstream gradient of every hidden state (put the gradient of the final state
    into ``dh[:, -1]``); cache from the forward pass.
    Returns ``(dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,))``.
    """
    x, h0, Wx, Wh, h, gates, gh_n = cache
    _check_upstream("gru_backward", "dh", dh, h.shape, h.dtype)
    xp = xp_of(dh, h)
    N, T, D = x.shape
    H = h0.shape[1]
    dgx = xp.empty_like(gates)
    dgh = xp.empty_like(gates)
    WhT = xp.ascontiguousarray(Wh.T)
    dh_next = None
    for t in range(T - 1, -1, -1):
        dh_t = dh[:, t] if dh_next is None else dh[:, t] + dh_next
        prev_h = h[:, t - 1] if t > 0 else h0
        _gru_cell_backward(dh_t, gates[:, t], gh_n[:, t], prev_h, H, dgx[:, t], dgh[:, t], xp)
        dh_next = dh_t * gates[:, t, H : 2 * H]
        dh_next += dgh[:, t] @ WhT
    dgx2 = dgx.reshape(N * T, 3 * H)
    dgh2 = dgh.reshape(N * T, 3 * H)
    h_prev = xp.concatenate([h0[:, None, :], h[:, :-1]], axis=1).reshape(N * T, H)
    dx = (dgx2 @ Wx.T).reshape(N, T, D)
    return dx, dh_next, x.reshape(N * T, D).T @ dgx2, h_prev.T @ dgh2, dgx2.sum(axis=0), dgh2.sum(axis=0)
