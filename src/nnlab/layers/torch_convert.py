"""Converters between nnlab's functional recurrent weights and ``torch.nn.RNN``/``LSTM``/``GRU`` state dicts.

Single layer, unidirectional. torch keeps each weight transposed (``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H))
and two biases (``bias_ih``, ``bias_hh``) that add up; the functional kernels of :mod:`nnlab.layers.recurrent`
take ``Wx`` (D, G*H), ``Wh`` (H, G*H) and one ``b`` (G*H,), and order the LSTM gates i, f, o, g where torch
orders them i, f, g, o. The GRU kernels keep torch's gate order r, z, n and both biases (``b_hn`` sits inside
the reset gate's product), so its converters only transpose. Nothing here imports torch: tensors are accepted
duck-typed (``.detach().cpu()``).
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ..validation import check_array

__all__ = [
    "rnn_weights_to_torch",
    "rnn_weights_from_torch",
    "lstm_weights_to_torch",
    "lstm_weights_from_torch",
    "gru_weights_to_torch",
    "gru_weights_from_torch",
]


def _as_array(fn: str, name: str, a: Any) -> Any:
    """Accept arrays, or torch tensors duck-typed through ``.detach().cpu().numpy()``."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    check_array(fn, name, a, float_only=True)
    return a


def _swap_last_two_gate_blocks(a: Any, H: int) -> Any:
    """Reorder the 4H axis (last) between i, f, o, g and i, f, g, o; the swap is its own inverse."""
    xp = xp_of(a)
    return xp.concatenate([a[..., : 2 * H], a[..., 3 * H :], a[..., 2 * H : 3 * H]], axis=-1)


def rnn_weights_to_torch(Wx: Any, Wh: Any, b: Any) -> dict[str, Any]:
    """Functional RNN weights -> ``torch.nn.RNN`` (tanh, one layer) ``state_dict`` arrays.

    Inputs: Wx (D, H), Wh (H, H), b (H,).
    Returns ``{"weight_ih_l0": Wx^T (H, D), "weight_hh_l0": Wh^T (H, H), "bias_ih_l0": b, "bias_hh_l0": 0}``
    as contiguous arrays; wrap with ``torch.from_numpy`` and ``load_state_dict``.
    """
    fn = "rnn_weights_to_torch"
    check_array(fn, "Wx", Wx, ndim=2, shape_hint="(D, H)", float_only=True)
    H = Wx.shape[1]
    check_array(fn, "Wh", Wh, ndim=2, shape_hint="(H, H)", float_only=True)
    check_array(fn, "b", b, ndim=1, shape_hint="(H,)", float_only=True)
    if Wh.shape != (H, H) or b.shape != (H,):
        raise ValueError(f"{fn}: Wh must be (H, H) and b (H,) with H = {H} from Wx {tuple(Wx.shape)}, "
                         f"got Wh {tuple(Wh.shape)} and b {tuple(b.shape)}")
    xp = xp_of(Wx, Wh, b)
    return {"weight_ih_l0": xp.ascontiguousarray(Wx.T), "weight_hh_l0": xp.ascontiguousarray(Wh.T),
            "bias_ih_l0": b.copy(), "bias_hh_l0": xp.zeros_like(b)}


def rnn_weights_from_torch(weight_ih: Any, weight_hh: Any, bias_ih: Any, bias_hh: Any) -> tuple[Any, Any, Any]:
    """``torch.nn.RNN`` weights (arrays or tensors) -> functional ``(Wx (D, H), Wh (H, H), b (H,))``.

    ``Wx = weight_ih^T``, ``Wh = weight_hh^T``, ``b = bias_ih + bias_hh`` (the two torch biases add up).
    """
    fn = "rnn_weights_from_torch"
    w_ih = _as_array(fn, "weight_ih", weight_ih)
    w_hh = _as_array(fn, "weight_hh", weight_hh)
    b_ih = _as_array(fn, "bias_ih", bias_ih)
    b_hh = _as_array(fn, "bias_hh", bias_hh)
    check_array(fn, "weight_ih", w_ih, ndim=2, shape_hint="(H, D)")
    H = w_ih.shape[0]
    if w_hh.shape != (H, H) or b_ih.shape != (H,) or b_hh.shape != (H,):
        raise ValueError(f"{fn}: weight_hh must be (H, H) and the biases (H,) with H = {H}, got "
                         f"{tuple(w_hh.shape)}, {tuple(b_ih.shape)}, {tuple(b_hh.shape)}")
    xp = xp_of(w_ih)
    return xp.ascontiguousarray(w_ih.T), xp.ascontiguousarray(w_hh.T), b_ih + b_hh


def lstm_weights_to_torch(Wx: Any, Wh: Any, b: Any) -> dict[str, Any]:
    """Functional LSTM weights (gates i, f, o, g) -> ``torch.nn.LSTM`` (one layer) ``state_dict`` arrays.

    Inputs: Wx (D, 4H), Wh (H, 4H), b (4H,).
    Returns ``weight_ih_l0`` (4H, D), ``weight_hh_l0`` (4H, H), ``bias_ih_l0`` = b and ``bias_hh_l0`` = 0
    (4H,), in torch's gate order i, f, g, o, transposed, contiguous.
    """
    fn = "lstm_weights_to_torch"
    check_array(fn, "Wx", Wx, ndim=2, shape_hint="(D, 4H)", float_only=True)
    check_array(fn, "Wh", Wh, ndim=2, shape_hint="(H, 4H)", float_only=True)
    check_array(fn, "b", b, ndim=1, shape_hint="(4H,)", float_only=True)
    H = Wh.shape[0]
    if Wh.shape != (H, 4 * H) or Wx.shape[1] != 4 * H or b.shape != (4 * H,):
        raise ValueError(f"{fn}: expected Wx (D, 4H), Wh (H, 4H), b (4H,) with H = {H}, got Wx "
                         f"{tuple(Wx.shape)}, Wh {tuple(Wh.shape)}, b {tuple(b.shape)}")
    xp = xp_of(Wx, Wh, b)
    return {"weight_ih_l0": xp.ascontiguousarray(_swap_last_two_gate_blocks(Wx, H).T),
            "weight_hh_l0": xp.ascontiguousarray(_swap_last_two_gate_blocks(Wh, H).T),
            "bias_ih_l0": _swap_last_two_gate_blocks(b, H), "bias_hh_l0": xp.zeros_like(b)}


def lstm_weights_from_torch(weight_ih: Any, weight_hh: Any, bias_ih: Any,
                            bias_hh: Any) -> tuple[Any, Any, Any]:
    """``torch.nn.LSTM`` weights (gates i, f, g, o; arrays or tensors) -> functional ``(Wx, Wh, b)`` (i, f, o, g).

    ``Wx`` (D, 4H) = reordered ``weight_ih^T``, ``Wh`` (H, 4H) = reordered ``weight_hh^T``,
    ``b`` (4H,) = reordered ``bias_ih + bias_hh``. The same map turns torch's weight *gradients* into
    nnlab's (except that the bias gradient is ``bias_ih.grad`` alone, reordered, since both torch biases
    receive the same gradient).
    """
    fn = "lstm_weights_from_torch"
    w_ih = _as_array(fn, "weight_ih", weight_ih)
    w_hh = _as_array(fn, "weight_hh", weight_hh)
    b_ih = _as_array(fn, "bias_ih", bias_ih)
    b_hh = _as_array(fn, "bias_hh", bias_hh)
    check_array(fn, "weight_hh", w_hh, ndim=2, shape_hint="(4H, H)")
    H = w_hh.shape[1]
    if w_hh.shape != (4 * H, H) or w_ih.ndim != 2 or w_ih.shape[0] != 4 * H:
        raise ValueError(f"{fn}: expected weight_ih (4H, D) and weight_hh (4H, H) with H = {H}, got "
                         f"{tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    if b_ih.shape != (4 * H,) or b_hh.shape != (4 * H,):
        raise ValueError(f"{fn}: bias_ih and bias_hh must be (4H,) = {(4 * H,)}, got "
                         f"{tuple(b_ih.shape)} and {tuple(b_hh.shape)}")
    xp = xp_of(w_ih)
    Wx = xp.ascontiguousarray(_swap_last_two_gate_blocks(w_ih.T, H))
    Wh = xp.ascontiguousarray(_swap_last_two_gate_blocks(w_hh.T, H))
    return Wx, Wh, _swap_last_two_gate_blocks(b_ih + b_hh, H)


def gru_weights_to_torch(Wx: Any, Wh: Any, bx: Any, bh: Any) -> dict[str, Any]:
    """Functional GRU weights (gates r, z, n) -> ``torch.nn.GRU`` (one layer) ``state_dict`` arrays.

    Inputs: Wx (D, 3H), Wh (H, 3H), bx (3H,), bh (3H,).
    Returns ``{"weight_ih_l0": Wx^T (3H, D), "weight_hh_l0": Wh^T (3H, H), "bias_ih_l0": bx, "bias_hh_l0": bh}``
    (contiguous copies). The same map turns the kernels' gradients into torch's.
    """
    fn = "gru_weights_to_torch"
    check_array(fn, "Wx", Wx, ndim=2, shape_hint="(D, 3H)", float_only=True)
    check_array(fn, "Wh", Wh, ndim=2, shape_hint="(H, 3H)", float_only=True)
    check_array(fn, "bx", bx, ndim=1, shape_hint="(3H,)", float_only=True)
    check_array(fn, "bh", bh, ndim=1, shape_hint="(3H,)", float_only=True)
    H = Wh.shape[0]
    if Wh.shape != (H, 3 * H) or Wx.shape[1] != 3 * H or bx.shape != (3 * H,) or bh.shape != (3 * H,):
        raise ValueError(f"{fn}: expected Wx (D, 3H), Wh (H, 3H), bx and bh (3H,) with H = {H}, got Wx "
                         f"{tuple(Wx.shape)}, Wh {tuple(Wh.shape)}, bx {tuple(bx.shape)}, bh {tuple(bh.shape)}")
    xp = xp_of(Wx, Wh, bx, bh)
    return {"weight_ih_l0": xp.ascontiguousarray(Wx.T), "weight_hh_l0": xp.ascontiguousarray(Wh.T),
            "bias_ih_l0": bx.copy(), "bias_hh_l0": bh.copy()}


def gru_weights_from_torch(weight_ih: Any, weight_hh: Any, bias_ih: Any,
                           bias_hh: Any) -> tuple[Any, Any, Any, Any]:
    """``torch.nn.GRU`` weights (gates r, z, n; arrays or tensors) -> functional ``(Wx, Wh, bx, bh)``.

    ``Wx`` (D, 3H) = ``weight_ih^T``, ``Wh`` (H, 3H) = ``weight_hh^T``, ``bx`` = ``bias_ih``, ``bh`` =
    ``bias_hh`` (3H,); the gate order is already the kernels'.
    """
    fn = "gru_weights_from_torch"
    w_ih = _as_array(fn, "weight_ih", weight_ih)
    w_hh = _as_array(fn, "weight_hh", weight_hh)
    b_ih = _as_array(fn, "bias_ih", bias_ih)
    b_hh = _as_array(fn, "bias_hh", bias_hh)
    check_array(fn, "weight_hh", w_hh, ndim=2, shape_hint="(3H, H)")
    H = w_hh.shape[1]
    if w_hh.shape != (3 * H, H) or w_ih.ndim != 2 or w_ih.shape[0] != 3 * H:
        raise ValueError(f"{fn}: expected weight_ih (3H, D) and weight_hh (3H, H) with H = {H}, got "
                         f"{tuple(w_ih.shape)} and {tuple(w_hh.shape)}")
    if b_ih.shape != (3 * H,) or b_hh.shape != (3 * H,):
        raise ValueError(f"{fn}: bias_ih and bias_hh must be (3H,) = {(3 * H,)}, got "
                         f"{tuple(b_ih.shape)} and {tuple(b_hh.shape)}")
    xp = xp_of(w_ih)
    return xp.ascontiguousarray(w_ih.T), xp.ascontiguousarray(w_hh.T), b_ih.copy(), b_hh.copy()
