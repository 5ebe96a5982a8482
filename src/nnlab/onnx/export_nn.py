"""ONNX converters of the ``nn`` modules and the module-based models: ``Sequential``, ``Classifier`` (with flip
test-time augmentation), ``Linear``, ``Conv2d``, the pools, batch/layer norm, every activation, ``Flatten``,
``RNN``/``LSTM``/``GRU``, ``Embedding`` and ``CharRNN``. Declared in :data:`CONVERTERS`; :mod:`nnlab.onnx.export`
installs them.

Gate orders (weights are stored torch-style, i f g o, by ``nn.LSTM``): ONNX's ``LSTM`` wants i o f c, so the
blocks are taken in the order [0, 3, 1, 2]; ONNX's ``B`` is ``[bias_ih, bias_hh]`` (8H,) reordered alike;
``RNN`` uses its default ``Tanh`` activation. ONNX's recurrent ops are time-major, hence a ``Transpose`` first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import to_numpy
from ..models.char_rnn import CharRNN
from ..models.classifier import Classifier
from ..nn import (
    GRU,
    RNN,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softsign,
    Tanh,
)
from ..nn import LSTM as NNLSTM
from ..nn.activations import ELU, GELU, SELU, Hardsigmoid, Hardswish, Mish, PReLU, SiLU, Softplus
from .graph import (
    ConverterTable,
    ExportError,
    GraphBuilder,
    Traced,
    activation,
    affine,
    batchnorm,
    cast_value,
    child_scope,
    conv2d,
    convert,
    flatten,
    layernorm,
    pool2d,
)

__all__ = ["CONVERTERS", "recurrent", "GATE_ORDER"]

CONVERTERS = ConverterTable()


# ---- containers and wrappers --------------------------------------------------------------------------------
@CONVERTERS.add(Sequential)
def _sequential(g: GraphBuilder, m: Sequential, x: Traced, scope: str) -> Traced:
    for name, child in m.named_children():
        x = convert(g, child, x, child_scope(scope, name))
    return x


@CONVERTERS.add(Classifier)
def _classifier(g: GraphBuilder, m: Classifier, x: Traced, scope: str) -> Traced:
    """The wrapped module; a Classifier with ``tta='flip'`` (its test-time augmentation option: scores
    ``(f(X) + f(X[..., ::-1])) / 2``) exports exactly that: ``X`` and its mirror (``Slice`` with step -1 on the last
    axis) as one batch of 2N, the two halves averaged."""
    if getattr(m, "tta", None) != "flip":
        return convert(g, m.module, x, scope)
    last = x.value.ndim - 1
    flipped = g.node("Slice", [x.name, g.int64s("tta.start", [-1]), g.int64s("tta.end", [np.iinfo(np.int64).min]),
                               g.int64s("tta.axis", [last]), g.int64s("tta.step", [-1])], scope="tta")
    both = g.node("Concat", [x.name, flipped], scope="tta", axis=0)
    y = convert(g, m.module, Traced(both, np.concatenate([x.value, x.value[..., ::-1]])), scope)
    pairs = g.node("Reshape", [y.name, g.int64s("tta.pairs", [2, -1, *y.value.shape[1:]])], scope="tta")
    halves = [g.node("Gather", [pairs, g.int64s(f"tta.half{k}", k)], scope="tta", axis=0) for k in (0, 1)]
    total = g.node("Add", halves, scope="tta")
    out = g.node("Mul", [total, g.const("tta.half", np.float64(0.5))], scope="tta")
    n = x.value.shape[0]
    return Traced(out, (y.value[:n] + y.value[n:]) * y.value.dtype.type(0.5))


@CONVERTERS.add(Identity)
@CONVERTERS.add(Dropout)
def _identity(g: GraphBuilder, m: Module, x: Traced, scope: str) -> Traced:
    return x  # inference graph: dropout is the identity


# ---- affine, convolution, pooling ----------------------------------------------------------------------------
@CONVERTERS.add(Linear)
def _linear(g: GraphBuilder, m: Linear, x: Traced, scope: str) -> Traced:
    return affine(g, x, m.weight, m.bias, scope, child_scope(scope, "weight"), child_scope(scope, "bias"),
                  weight_is_out_in=True)


@CONVERTERS.add(Conv2d)
def _conv2d(g: GraphBuilder, m: Conv2d, x: Traced, scope: str) -> Traced:
    return conv2d(g, x, m.weight, m.bias, m.stride, m.padding, scope, child_scope(scope, "weight"),
                  child_scope(scope, "bias"))


@CONVERTERS.add(MaxPool2d)
def _maxpool(g: GraphBuilder, m: MaxPool2d, x: Traced, scope: str) -> Traced:
    return pool2d(g, "MaxPool", x, m._window, m.stride, scope)


@CONVERTERS.add(AvgPool2d)
def _avgpool(g: GraphBuilder, m: AvgPool2d, x: Traced, scope: str) -> Traced:
    return pool2d(g, "AveragePool", x, m._window, m.stride, scope)


@CONVERTERS.add(AdaptiveAvgPool2d)
def _adaptive_avgpool(g: GraphBuilder, m: AdaptiveAvgPool2d, x: Traced, scope: str) -> Traced:
    n, c, h, w = x.value.shape
    oh, ow = m._size
    if (oh, ow) == (1, 1):
        return Traced(g.node("GlobalAveragePool", [x.name], scope=scope), np.zeros((n, c, 1, 1), x.value.dtype))
    if (oh, ow) == (h, w):
        return x
    if h % oh or w % ow:
        return _adaptive_avgpool_uneven(g, x, (oh, ow), scope)
    kh, kw = h // oh, w // ow
    if kh != kw:
        out = g.node("AveragePool", [x.name], scope=scope, kernel_shape=[kh, kw], strides=[kh, kw])
        return Traced(out, np.zeros((n, c, oh, ow), x.value.dtype))
    return pool2d(g, "AveragePool", x, (kh, kw), kh, scope)


def _bin_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) averaging matrix of torch's adaptive bins ``[floor(i n_in / n_out), ceil((i+1) n_in / n_out))``."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_avgpool_uneven(g: GraphBuilder, x: Traced, size: tuple[int, int], scope: str) -> Traced:
    """Adaptive average pooling with uneven bins (sizes that do not divide): separable, so two ``MatMul`` with
    constant averaging matrices, ``P_h @ x @ P_w^T`` on (N, C, H, W) (no ONNX pooling operator has such bins)."""
    n, c, h, w = x.value.shape
    cols = g.node("MatMul", [x.name, g.const(child_scope(scope, "cols"), _bin_matrix(w, size[1]).T)], scope=scope)
    out = g.node("MatMul", [g.const(child_scope(scope, "rows"), _bin_matrix(h, size[0])), cols], scope=scope)
    return Traced(out, np.zeros((n, c, *size), x.value.dtype))


# ---- normalization ------------------------------------------------------------------------------------------
@CONVERTERS.add(BatchNorm1d)
@CONVERTERS.add(BatchNorm2d)
def _batchnorm(g: GraphBuilder, m: Any, x: Traced, scope: str) -> Traced:
    if not m.track_running_stats:
        raise ExportError(f"nnlab.onnx.export: {scope or type(m).__name__}: batch norm without running statistics "
                          f"(track_running_stats=False) normalises with batch statistics at inference; ONNX's "
                          f"inference BatchNormalization needs running statistics")
    c = m.num_features
    gamma = m.weight if m.affine else np.ones(c)
    beta = m.bias if m.affine else np.zeros(c)
    names = tuple(child_scope(scope, k) for k in ("weight", "bias", "running_mean", "running_var"))
    return batchnorm(g, x, gamma, beta, m.running_mean, m.running_var, m.eps, scope, names, 1.0 - m.momentum)


@CONVERTERS.add(LayerNorm)
def _layernorm(g: GraphBuilder, m: LayerNorm, x: Traced, scope: str) -> Traced:
    shape = m.normalized_shape
    gamma = m.weight if m.elementwise_affine else np.ones(shape)
    beta = m.bias if m.elementwise_affine else np.zeros(shape)
    return layernorm(g, x, gamma, beta, m.eps, -len(shape), scope,
                     (child_scope(scope, "weight"), child_scope(scope, "bias")))


# ---- activations and reshapes -------------------------------------------------------------------------------
for _cls, _kind in ((ReLU, "relu"), (Sigmoid, "sigmoid"), (Tanh, "tanh"), (Softsign, "softsign")):
    CONVERTERS.add(_cls)(lambda g, m, x, scope, _kind=_kind: activation(g, _kind, x, scope))


@CONVERTERS.add(LeakyReLU)
def _leaky_relu(g: GraphBuilder, m: LeakyReLU, x: Traced, scope: str) -> Traced:
    return activation(g, "leaky_relu", x, scope, m.negative_slope)


@CONVERTERS.add(GELU)
def _gelu(g: GraphBuilder, m: GELU, x: Traced, scope: str) -> Traced:
    """``Gelu`` from opset 20; below, exact GELU as ``0.5 x (1 + Erf(x / sqrt 2))`` and the tanh form as
    ``0.5 x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if g.opset >= 20:
        return Traced(g.node("Gelu", [x.name], scope=scope, approximate=m.approximate), x.value)
    half = g.const(child_scope(scope, "half"), np.float64(0.5))
    one = g.const(child_scope(scope, "one"), np.float64(1.0))
    if m.approximate == "none":
        inner = g.node("Mul", [x.name, g.const(child_scope(scope, "inv_sqrt2"), np.float64(0.5 ** 0.5))], scope=scope)
        t = g.node("Erf", [inner], scope=scope)
    else:
        cube = g.node("Mul", [x.name, g.node("Mul", [x.name, x.name], scope=scope)], scope=scope)
        poly = g.node("Add", [x.name, g.node("Mul", [cube, g.const(child_scope(scope, "c"), np.float64(0.044715))],
                                             scope=scope)], scope=scope)
        k = g.const(child_scope(scope, "sqrt_2_over_pi"), np.float64((2.0 / np.pi) ** 0.5))
        t = g.node("Tanh", [g.node("Mul", [poly, k], scope=scope)], scope=scope)
    out = g.node("Mul", [g.node("Mul", [x.name, half], scope=scope), g.node("Add", [t, one], scope=scope)],
                 scope=scope)
    return Traced(out, x.value)


@CONVERTERS.add(SiLU)
def _silu(g: GraphBuilder, m: SiLU, x: Traced, scope: str) -> Traced:
    """``x * Sigmoid(x)``."""
    return Traced(g.node("Mul", [x.name, g.node("Sigmoid", [x.name], scope=scope)], scope=scope), x.value)


@CONVERTERS.add(ELU)
@CONVERTERS.add(SELU)
@CONVERTERS.add(Softplus)
@CONVERTERS.add(Hardsigmoid)
@CONVERTERS.add(Hardswish)
@CONVERTERS.add(Mish)
def _modern_activation(g: GraphBuilder, m: Module, x: Traced, scope: str) -> Traced:
    """``Elu``, ``Selu`` (torch's constants are ONNX's defaults), ``Softplus`` (``Softplus(beta x) / beta``; torch's
    linear region above ``threshold`` differs from it by < 1e-8 relative), ``HardSigmoid`` (alpha 1/6, beta 1/2),
    ``HardSwish``, ``Mish`` (from opset 18; below, ``x * Tanh(Softplus(x))``)."""
    name = type(m).__name__
    if name == "ELU":
        return Traced(g.node("Elu", [x.name], scope=scope, alpha=m.alpha), m(x.value))
    if name == "Softplus" and m.beta != 1.0:
        beta = g.const(child_scope(scope, "beta"), np.float64(m.beta))
        y = g.node("Softplus", [g.node("Mul", [x.name, beta], scope=scope)], scope=scope)
        return Traced(g.node("Div", [y, beta], scope=scope), x.value)
    if name == "Mish" and g.opset < 18:
        soft = g.node("Softplus", [x.name], scope=scope)
        return Traced(g.node("Mul", [x.name, g.node("Tanh", [soft], scope=scope)], scope=scope), x.value)
    op = {"SELU": "Selu", "Softplus": "Softplus", "Hardsigmoid": "HardSigmoid", "Hardswish": "HardSwish",
          "Mish": "Mish"}[name]
    attrs = {"alpha": 1.0 / 6.0, "beta": 0.5} if op == "HardSigmoid" else {}
    return Traced(g.node(op, [x.name], scope=scope, **attrs), x.value)


@CONVERTERS.add(PReLU)
def _prelu(g: GraphBuilder, m: PReLU, x: Traced, scope: str) -> Traced:
    """``PRelu`` with the slopes shaped (C, 1, ..., 1) to broadcast over axis 1 (or one shared slope)."""
    w = np.asarray(to_numpy(m.weight))
    slope = w.reshape((-1,) + (1,) * (x.value.ndim - 2)) if w.size > 1 else w.reshape(1)
    return Traced(g.node("PRelu", [x.name, g.const(child_scope(scope, "weight"), slope)], scope=scope), x.value)


@CONVERTERS.add(Flatten)
def _flatten(g: GraphBuilder, m: Flatten, x: Traced, scope: str) -> Traced:
    return flatten(g, x, scope, m.start_dim, m.end_dim)


# ---- recurrent ----------------------------------------------------------------------------------------------
# torch's gate blocks -> ONNX's: LSTM i f g o -> i o f c; GRU r z n -> z r h; RNN one block.
GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _gate_blocks(a: np.ndarray, order: list[int]) -> np.ndarray:
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def _recurrent_op(m: Any) -> str:
    return "LSTM" if isinstance(m, NNLSTM) else "GRU" if isinstance(m, GRU) else "RNN"


def recurrent(g: GraphBuilder, m: Any, x: Traced, scope: str) -> tuple[Traced, Traced]:
    """A batch-first ``nn.RNN``/``nn.LSTM``/``nn.GRU`` on x (N, T, D): ``Transpose`` to time-major, then one
    ``RNN``/``LSTM``/``GRU`` node per layer (``GRU`` with ``linear_before_reset=1``, torch's semantics).

    Returns (Y (T, 1, N, H): the last layer's outputs, time-major; h_n (L, N, H): every layer's last state)."""
    op, order = _recurrent_op(m), GATE_ORDER[_recurrent_op(m)]
    H, L = int(m.hidden_size), int(getattr(m, "num_layers", 1))
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    h = Traced(g.node("Transpose", [x.name], scope=scope, perm=[1, 0, 2]), None)
    finals = []
    for k in range(L):
        w_ih = np.asarray(to_numpy(getattr(m, f"weight_ih_l{k}")))
        w_hh = np.asarray(to_numpy(getattr(m, f"weight_hh_l{k}")))
        if getattr(m, "bias", True) is not False and getattr(m, f"bias_ih_l{k}", None) is not None:
            b_ih, b_hh = (np.asarray(to_numpy(getattr(m, f"bias_{s}_l{k}"))) for s in ("ih", "hh"))
        else:
            b_ih = b_hh = np.zeros(w_ih.shape[0], w_ih.dtype)
        b = np.concatenate([_gate_blocks(b_ih, order), _gate_blocks(b_hh, order)])[None]
        layer = f"{scope}.l{k}" if L > 1 else scope
        inputs = [h.name, g.const(child_scope(layer, "W"), _gate_blocks(w_ih, order)[None]),
                  g.const(child_scope(layer, "R"), _gate_blocks(w_hh, order)[None]),
                  g.const(child_scope(layer, "B"), b)]
        y, y_h = g.node(op, inputs, scope=layer, outputs=2, hidden_size=H, **attrs)[:2]
        finals.append(y_h)
        if k < L - 1:
            h = Traced(g.node("Squeeze", [y, g.int64s(child_scope(layer, "axes"), [1])], scope=layer), None)
    h_n = finals[0] if L == 1 else g.node("Concat", finals, scope=scope, axis=0)
    result = m(cast_value(g, x.value))
    out, state = result[0], result[1]
    state = state[0] if isinstance(state, tuple) else state
    return Traced(y, out.transpose(1, 0, 2)[:, None]), Traced(h_n, state)


def _squeeze(g: GraphBuilder, x: Traced, axis: int, scope: str) -> Traced:
    out = g.node("Squeeze", [x.name, g.int64s(child_scope(scope, "axes"), [axis])], scope=scope)
    return Traced(out, np.squeeze(x.value, axis))


@CONVERTERS.add(NNLSTM)
@CONVERTERS.add(RNN)
@CONVERTERS.add(GRU)
def _recurrent(g: GraphBuilder, m: Any, x: Traced, scope: str) -> Traced:
    """A standalone recurrent module exports its output sequence (N, T, H) (the first element of its result)."""
    y, _ = recurrent(g, m, x, scope)
    y = _squeeze(g, y, 1, scope)
    out = g.node("Transpose", [y.name], scope=scope, perm=[1, 0, 2])
    return Traced(out, y.value.transpose(1, 0, 2))


@CONVERTERS.add(Embedding)
def _embedding(g: GraphBuilder, m: Embedding, x: Traced, scope: str) -> Traced:
    out = g.node("Gather", [g.const(child_scope(scope, "weight"), m.weight), x.name], scope=scope, axis=0)
    return Traced(out, cast_value(g, to_numpy(m.weight))[x.value])


def _last_layer(g: GraphBuilder, h_n: Traced, scope: str) -> Traced:
    index = g.int64s(child_scope(scope, "last_layer"), -1)
    return Traced(g.node("Gather", [h_n.name, index], scope=scope, axis=0), h_n.value[-1])


@CONVERTERS.add(CharRNN)
def _char_rnn(g: GraphBuilder, m: CharRNN, x: Traced, scope: str) -> Traced:
    """ids (N, T) -> Gather -> RNN/LSTM -> last hidden state -> Gemm: the (N, V) scores of ``model.loss(X)``
    (also with ``seq_loss``, whose ``loss(X)`` returns the last step's scores)."""
    emb = convert(g, m.embedding, x, child_scope(scope, "embedding"))
    _, h_n = recurrent(g, m.rnn, emb, child_scope(scope, "rnn"))
    h = _squeeze(g, h_n, 0, child_scope(scope, "rnn")) if h_n.value.shape[0] == 1 else _last_layer(g, h_n, scope)
    return convert(g, m.fc, h, child_scope(scope, "fc"))
