"""One table of ``nnlab.functional`` calls, run both on nnlab Tensors and on torch tensors.

Each :class:`Case` makes its inputs from a seeded RNG: ``diff`` (arrays that require grad) and ``const``
(labels, masks, running statistics: constants). ``call(F, c, *xs)`` is written once for both frameworks:
``F`` is ``nnlab.functional`` or ``torch.nn.functional`` (or a small adapter where torch spells it
differently), ``c`` the constants converted for that framework. Shapes are small so that gradcheck's
entry-by-entry Jacobians stay fast.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as TF

import nnlab.functional as NF


@dataclass
class Case:
    id: str
    make: Callable[[np.random.Generator], tuple[list, dict]]
    call: Callable
    torch_ns: object = field(default=None)


def _n(*shape, scale=1.0):
    return lambda r: r.standard_normal(shape) * scale


def simple(id_, shapes_fn, call, consts=None, torch_ns=None):
    """A case whose differentiable inputs come from ``shapes_fn`` (a list of makers) and constants from
    ``consts`` (a dict of makers)."""
    def make(rng):
        diff = [f(rng) for f in shapes_fn]
        const = {k: f(rng) for k, f in (consts or {}).items()}
        return diff, const
    return Case(id_, make, call, torch_ns)


# ---- torch adapters for calls torch spells differently ------------------------------------------------------
def _torch_rnn(kind):
    def run(x, hx, w_ih, w_hh, b_ih=None, b_hh=None):
        D, H = x.shape[2], w_hh.shape[1]
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        mod = cls(D, H, batch_first=True, bias=b_ih is not None, dtype=x.dtype)
        params = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh}
        if b_ih is not None:
            params.update(bias_ih_l0=b_ih, bias_hh_l0=b_hh)
        if kind == "lstm" and hx is not None:
            hx = tuple(s.reshape(1, *s.shape[-2:]) for s in hx)
        elif hx is not None:
            hx = hx.reshape(1, *hx.shape[-2:])
        return torch.func.functional_call(mod, params, (x, hx))
    return run


class TorchNS(types.SimpleNamespace):
    """torch.nn.functional plus the recurrent functions in nnlab.functional's layout."""


TORCH = TorchNS(**{k: getattr(TF, k) for k in dir(TF) if not k.startswith("_")})
TORCH.rnn, TORCH.lstm, TORCH.gru = _torch_rnn("rnn"), _torch_rnn("lstm"), _torch_rnn("gru")


def _dropout_mask(seed, shape, p):
    u = np.random.RandomState(seed).rand(*shape)
    return (u < 1 - p) / (1 - p)


def _labels(n, c):
    return lambda r: r.integers(0, c, n)


CASES: list[Case] = [
    # ---- linear, convolution, pooling
    simple("linear", [_n(4, 5), _n(3, 5), _n(3)], lambda F, c, x, w, b: F.linear(x, w, b)),
    simple("linear_3d_nobias", [_n(2, 3, 5), _n(4, 5)], lambda F, c, x, w: F.linear(x, w)),
    simple("conv2d_pad1", [_n(2, 3, 5, 5), _n(4, 3, 3, 3), _n(4)],
           lambda F, c, x, w, b: F.conv2d(x, w, b, padding=1)),
    simple("conv2d_stride2_nobias", [_n(2, 2, 7, 6), _n(3, 2, 3, 2)],
           lambda F, c, x, w: F.conv2d(x, w, stride=2)),
    simple("conv2d_const_input", [_n(3, 2, 3, 3), _n(3)],
           lambda F, c, w, b: F.conv2d(c["x"], w, b, padding=1), {"x": _n(2, 2, 5, 5)}),
    simple("conv2d_same_7x7", [_n(1, 2, 8, 8), _n(2, 2, 7, 7)], lambda F, c, x, w: F.conv2d(x, w, padding="same")),
    simple("max_pool2d", [_n(2, 3, 4, 6)], lambda F, c, x: F.max_pool2d(x, 2)),
    simple("max_pool2d_overlap", [_n(2, 2, 7, 7)], lambda F, c, x: F.max_pool2d(x, 3, stride=2)),
    simple("avg_pool2d", [_n(2, 3, 4, 6)], lambda F, c, x: F.avg_pool2d(x, 2)),
    simple("avg_pool2d_overlap", [_n(1, 2, 5, 6)], lambda F, c, x: F.avg_pool2d(x, (3, 2), stride=1)),
    simple("adaptive_avg_pool2d", [_n(2, 2, 5, 7)], lambda F, c, x: F.adaptive_avg_pool2d(x, (3, 2))),
    simple("embedding", [_n(6, 3)], lambda F, c, w: F.embedding(c["ids"], w),
           {"ids": lambda r: np.array([[0, 2, 2], [5, 0, 2]])}),
    # ---- normalization
    simple("batch_norm_train_2d", [_n(6, 3), _n(3), _n(3)],
           lambda F, c, x, w, b: F.batch_norm(x, c["rm"], c["rv"], w, b, training=True, momentum=0.2),
           {"rm": _n(3), "rv": lambda r: r.random(3) + 0.5}),
    simple("batch_norm_train_4d", [_n(3, 2, 3, 2), _n(2), _n(2)],
           lambda F, c, x, w, b: F.batch_norm(x, c["rm"], c["rv"], w, b, training=True),
           {"rm": _n(2), "rv": lambda r: r.random(2) + 0.5}),
    simple("batch_norm_train_3d_noaffine", [_n(3, 2, 4)],
           lambda F, c, x: F.batch_norm(x, None, None, training=True)),
    simple("batch_norm_eval_4d", [_n(2, 3, 2, 2), _n(3), _n(3)],
           lambda F, c, x, w, b: F.batch_norm(x, c["rm"], c["rv"], w, b, training=False, eps=1e-3),
           {"rm": _n(3), "rv": lambda r: r.random(3) + 0.5}),
    simple("layer_norm", [_n(3, 5), _n(5), _n(5)], lambda F, c, x, w, b: F.layer_norm(x, (5,), w, b)),
    simple("layer_norm_2axes", [_n(2, 3, 4), _n(3, 4), _n(3, 4)],
           lambda F, c, x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3)),
    simple("group_norm", [_n(2, 4, 3, 2), _n(4), _n(4)], lambda F, c, x, w, b: F.group_norm(x, 2, w, b)),
    simple("group_norm_3d", [_n(2, 6, 3)], lambda F, c, x: F.group_norm(x, 3)),
    # ---- activations
    simple("relu", [_n(3, 4)], lambda F, c, x: F.relu(x)),
    simple("leaky_relu", [_n(3, 4)], lambda F, c, x: F.leaky_relu(x, 0.2)),
    simple("gelu", [_n(3, 4, scale=2)], lambda F, c, x: F.gelu(x)),
    simple("gelu_tanh", [_n(3, 4, scale=2)], lambda F, c, x: F.gelu(x, approximate="tanh")),
    simple("silu", [_n(3, 4, scale=2)], lambda F, c, x: F.silu(x)),
    simple("elu", [_n(3, 4)], lambda F, c, x: F.elu(x, 0.7)),
    simple("selu", [_n(3, 4)], lambda F, c, x: F.selu(x)),
    simple("softplus", [_n(3, 4, scale=3)], lambda F, c, x: F.softplus(x, beta=2.0, threshold=5.0)),
    simple("sigmoid", [_n(3, 4, scale=2)], lambda F, c, x: F.sigmoid(x)),
    simple("tanh", [_n(3, 4)], lambda F, c, x: F.tanh(x)),
    simple("softsign", [_n(3, 4)], lambda F, c, x: F.softsign(x)),
    simple("hardswish", [_n(3, 4, scale=3)], lambda F, c, x: F.hardswish(x)),
    simple("mish", [_n(3, 4, scale=2)], lambda F, c, x: F.mish(x)),
    simple("prelu", [_n(2, 3, 2, 2), lambda r: r.random(3)], lambda F, c, x, w: F.prelu(x, w)),
    simple("prelu_shared", [_n(3, 4), lambda r: r.random(1)], lambda F, c, x, w: F.prelu(x, w)),
    simple("softmax", [_n(3, 4)], lambda F, c, x: F.softmax(x, dim=1)),
    simple("softmax_dim0", [_n(3, 4, 2)], lambda F, c, x: F.softmax(x, dim=0)),
    simple("log_softmax", [_n(3, 4)], lambda F, c, x: F.log_softmax(x, dim=-1)),
    simple("dropout", [_n(4, 5)], lambda F, c, x: (F.dropout(x, 0.3, seed=7) if F is NF
                                                   else x * torch.as_tensor(_dropout_mask(7, (4, 5), 0.3),
                                                                            dtype=x.dtype))),
    # ---- losses
    simple("cross_entropy", [_n(5, 4)], lambda F, c, x: F.cross_entropy(x, c["y"]), {"y": _labels(5, 4)}),
    simple("cross_entropy_smooth_sum", [_n(5, 4)],
           lambda F, c, x: F.cross_entropy(x, c["y"], reduction="sum", label_smoothing=0.1), {"y": _labels(5, 4)}),
    simple("cross_entropy_smooth_mean", [_n(5, 4)],
           lambda F, c, x: F.cross_entropy(x, c["y"], label_smoothing=0.25), {"y": _labels(5, 4)}),
    simple("cross_entropy_none", [_n(5, 4)],
           lambda F, c, x: F.cross_entropy(x, c["y"], reduction="none", label_smoothing=0.1), {"y": _labels(5, 4)}),
    simple("nll_loss", [_n(5, 4)], lambda F, c, x: F.nll_loss(F.log_softmax(x, dim=1), c["y"]), {"y": _labels(5, 4)}),
    simple("nll_loss_sum", [_n(5, 4)], lambda F, c, x: F.nll_loss(x, c["y"], reduction="sum"), {"y": _labels(5, 4)}),
    simple("nll_loss_none", [_n(5, 4)], lambda F, c, x: F.nll_loss(x, c["y"], reduction="none"),
           {"y": _labels(5, 4)}),
    simple("mse_loss", [_n(3, 4)], lambda F, c, x: F.mse_loss(x, c["t"]), {"t": _n(3, 4)}),
    simple("mse_loss_target_grad", [_n(3, 4), _n(3, 4)], lambda F, c, x, t: F.mse_loss(x, t)),
    simple("mse_loss_sum", [_n(3, 4), _n(3, 4)], lambda F, c, x, t: F.mse_loss(x, t, reduction="sum")),
    simple("mse_loss_none", [_n(3, 4)], lambda F, c, x: F.mse_loss(x, c["t"], reduction="none"), {"t": _n(3, 4)}),
    # ---- attention
    simple("sdpa", [_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3)],
           lambda F, c, q, k, v: F.scaled_dot_product_attention(q, k, v)),
    simple("sdpa_causal_heads", [_n(1, 2, 4, 3), _n(1, 2, 4, 3), _n(1, 2, 4, 2)],
           lambda F, c, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    simple("sdpa_bool_mask_scale", [_n(2, 3, 4), _n(2, 4, 4), _n(2, 4, 2)],
           lambda F, c, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=c["m"], scale=0.3),
           {"m": lambda r: np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 1]], dtype=bool)}),
    simple("sdpa_float_mask", [_n(2, 3, 4), _n(2, 4, 4), _n(2, 4, 2)],
           lambda F, c, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=c["m"]), {"m": _n(3, 4)}),
    # ---- recurrent (torch side: the torch.nn module with these parameters, through functional_call)
    simple("rnn", [_n(2, 4, 3), _n(1, 2, 5), _n(5, 3), _n(5, 5), _n(5), _n(5)],
           lambda F, c, x, h0, wi, wh, bi, bh: F.rnn(x, h0, wi, wh, bi, bh), torch_ns=TORCH),
    simple("rnn_nobias_nohx", [_n(2, 3, 3), _n(4, 3), _n(4, 4)],
           lambda F, c, x, wi, wh: F.rnn(x, None, wi, wh), torch_ns=TORCH),
    simple("lstm", [_n(2, 4, 3), _n(1, 2, 3), _n(1, 2, 3), _n(12, 3), _n(12, 3), _n(12), _n(12)],
           lambda F, c, x, h0, c0, wi, wh, bi, bh: F.lstm(x, (h0, c0), wi, wh, bi, bh), torch_ns=TORCH),
    simple("lstm_nohx", [_n(2, 3, 2), _n(8, 2), _n(8, 2), _n(8), _n(8)],
           lambda F, c, x, wi, wh, bi, bh: F.lstm(x, None, wi, wh, bi, bh), torch_ns=TORCH),
    simple("gru", [_n(2, 4, 3), _n(1, 2, 3), _n(9, 3), _n(9, 3), _n(9), _n(9)],
           lambda F, c, x, h0, wi, wh, bi, bh: F.gru(x, h0, wi, wh, bi, bh), torch_ns=TORCH),
]

CASE_IDS = [c.id for c in CASES]


def flat(out) -> list:
    """Outputs (a tensor, or nested tuples of them) as a flat list."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]
