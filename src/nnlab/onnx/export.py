"""Export an nnlab model to an ONNX inference graph: ``export(model, example_input, path, opset=17)``.

The graph is the model's **evaluation-mode** forward pass: dropout is removed, batch norm uses its running
statistics (``BatchNormalization`` with ``training_mode`` 0), the batch axis of the input and output is dynamic
(``"N"``; a character model's time axis ``"T"`` too), the other axes are fixed by ``example_input``. Parameters
become initializers named after the model's own names (``W1``, ``feature_extractor.0.weight``, ...), cast to
``dtype`` (float32 by default). The graph is built with ``onnx.helper`` and checked with
``onnx.checker.check_model(full_check=True)`` before it is written.

Dispatch: one **converter per class**, looked up along the model's MRO, so a new module needs one function::

    @register_converter(MyModule)
    def _my_module(g: GraphBuilder, m: MyModule, x: Traced, scope: str) -> Traced:
        y = g.node("Relu", [x.name], scope=scope)
        return Traced(y, m(x.value))

``Traced`` pairs a graph value's name with an example NumPy value (from running the model on the example
input), which gives converters every shape they need. Converters for the CS231n-contract models
(``FullyConnectedNet``, ``TwoLayerNet``, ``ThreeLayerConvNet``, ``Softmax``/``LinearSVM``) live in
:mod:`nnlab.onnx.export_models`; those of the ``nn`` modules here.

Gate orders (weights are stored torch-style, i f g o, by ``nn.LSTM``): ONNX's ``LSTM`` wants i o f c, so the
blocks are taken in the order [0, 3, 1, 2]; ONNX's ``B`` is ``[bias_ih, bias_hh]`` (8H,) reordered alike;
``RNN`` uses its default ``Tanh`` activation. ONNX's recurrent ops are time-major, hence a ``Transpose`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

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
from . import require_onnx

__all__ = ["export", "GraphBuilder", "Traced", "register_converter", "converter_for", "DEFAULT_OPSET",
           "MIN_OPSET", "ExportError"]

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization and Squeeze/Unsqueeze with axes as inputs
_IR_VERSION = 8  # enough for opset 17..21 and read by every onnxruntime >= 1.14


class ExportError(ValueError):
    """A model (or a part of it) that :func:`export` cannot express as an ONNX inference graph."""


class Traced(NamedTuple):
    """A value of the graph under construction: its ONNX name and an example value (NumPy, batch of the
    example input) that fixes its shape and dtype."""

    name: str
    value: np.ndarray


Converter = Callable[["GraphBuilder", Any, Traced, str], Traced]
_CONVERTERS: dict[type, Converter] = {}


def register_converter(cls: type) -> Callable[[Converter], Converter]:
    """Decorator: register ``fn(g, module, x, scope) -> Traced`` as the ONNX converter of ``cls`` (and of its
    subclasses that have no converter of their own)."""

    def decorate(fn: Converter) -> Converter:
        _CONVERTERS[cls] = fn
        return fn

    return decorate


def converter_for(obj: Any) -> Converter | None:
    """The converter registered for ``type(obj)`` or its nearest base class, or None."""
    for klass in type(obj).__mro__:
        if klass in _CONVERTERS:
            return _CONVERTERS[klass]
    return None


class GraphBuilder:
    """Collects the nodes and initializers of one graph; names are unique, floats are cast to ``dtype``."""

    def __init__(self, dtype: Any = np.float32, opset: int = DEFAULT_OPSET) -> None:
        self.onnx = require_onnx()
        self.dtype = np.dtype(dtype)
        self.opset = int(opset)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()

    def unique(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... if taken."""
        base = base or "v"
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Mark ``name`` as used (the graph input)."""
        self._names.add(name)

    def const(self, name: str, array: Any, keep_dtype: bool = False) -> str:
        """Add an initializer (floats cast to the graph's dtype unless ``keep_dtype``); returns its name."""
        arr = np.asarray(to_numpy(array))
        if np.issubdtype(arr.dtype, np.floating) and not keep_dtype:
            arr = arr.astype(self.dtype, copy=False)
        name = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(arr, order="C"), name=name))
        return name

    def int64s(self, name: str, values: Any) -> str:
        """An int64 initializer (axes, shapes)."""
        return self.const(name, np.asarray(values, dtype=np.int64))

    def node(self, op_type: str, inputs: list[str], scope: str = "", outputs: int | list[str] = 1,
             **attrs: Any) -> Any:
        """Add node ``op_type``; returns its output name (or the list of names when ``outputs`` > 1 or a list).

        Output names are ``{scope}/{op_type}`` made unique; ``outputs`` may name them ('' = an omitted optional
        output). The node's name is the first output's name.
        """
        base = f"{scope}/{op_type}" if scope else op_type
        if isinstance(outputs, int):
            names = [self.unique(base if i == 0 else f"{base}_out{i}") for i in range(outputs)]
        else:
            names = list(outputs)
        node_name = next((n for n in names if n), self.unique(base))
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=node_name, **attrs))
        return names[0] if isinstance(outputs, int) and outputs == 1 else names

    def elem_type(self, dtype: Any) -> int:
        return self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def convert(g: GraphBuilder, obj: Any, x: Traced, scope: str) -> Traced:
    """Dispatch ``obj`` to its registered converter; :class:`ExportError` naming the class when none exists."""
    fn = converter_for(obj)
    if fn is None:
        where = f" (at {scope!r})" if scope else ""
        raise ExportError(f"nnlab.onnx.export: no ONNX converter for {type(obj).__name__}{where}; register one "
                          f"with nnlab.onnx.register_converter({type(obj).__name__})")
    return fn(g, obj, x, scope)


def _child(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def _cast_value(g: GraphBuilder, value: Any) -> np.ndarray:
    return np.asarray(to_numpy(value)).astype(g.dtype, copy=False)


# ---- containers and wrappers --------------------------------------------------------------------------------
@register_converter(Sequential)
def _sequential(g: GraphBuilder, m: Sequential, x: Traced, scope: str) -> Traced:
    for name, child in m.named_children():
        x = convert(g, child, x, _child(scope, name))
    return x


@register_converter(Classifier)
def _classifier(g: GraphBuilder, m: Classifier, x: Traced, scope: str) -> Traced:
    """The wrapped module; a Classifier with a true ``tta`` attribute (flip test-time augmentation, as the
    cifar10-resnet recipe's ``FlipTTAClassifier``: scores ``(f(X) + f(X[..., ::-1])) / 2``) exports exactly that:
    ``X`` and its mirror (``Slice`` with step -1 on the last axis) as one batch of 2N, the two halves averaged."""
    if not getattr(m, "tta", False):
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


@register_converter(Identity)
@register_converter(Dropout)
def _identity(g: GraphBuilder, m: Module, x: Traced, scope: str) -> Traced:
    return x  # inference graph: dropout is the identity


# ---- affine, convolution, pooling ----------------------------------------------------------------------------
def affine(g: GraphBuilder, x: Traced, weight_in_out: Any, bias: Any, scope: str, w_name: str, b_name: str,
           weight_is_out_in: bool = False) -> Traced:
    """``x @ W + b`` on the last axis: ``Gemm`` for 2-D ``x`` (``transB=1`` when W is stored (out, in)), else
    ``MatMul`` + ``Add``. ``bias`` may be None."""
    w = np.asarray(to_numpy(weight_in_out))
    w_io = w.T if weight_is_out_in else w
    value = _cast_value(g, x.value) @ w_io.astype(g.dtype)
    if bias is not None:
        value = value + np.asarray(to_numpy(bias)).astype(g.dtype)
    if x.value.ndim == 2:
        inputs = [x.name, g.const(w_name, w)] + ([g.const(b_name, bias)] if bias is not None else [])
        return Traced(g.node("Gemm", inputs, scope=scope, transB=int(weight_is_out_in)), value)
    out = g.node("MatMul", [x.name, g.const(w_name, w_io)], scope=scope)
    if bias is not None:
        out = g.node("Add", [out, g.const(b_name, bias)], scope=scope)
    return Traced(out, value)


@register_converter(Linear)
def _linear(g: GraphBuilder, m: Linear, x: Traced, scope: str) -> Traced:
    return affine(g, x, m.weight, m.bias, scope, _child(scope, "weight"), _child(scope, "bias"),
                  weight_is_out_in=True)


def conv2d(g: GraphBuilder, x: Traced, weight: Any, bias: Any, stride: int, pad: int, scope: str, w_name: str,
           b_name: str) -> Traced:
    """``Conv`` with square stride and symmetric padding."""
    w = np.asarray(to_numpy(weight))
    n, _, h, wd = x.value.shape
    f, _, kh, kw = w.shape
    shape = (n, f, (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1)
    inputs = [x.name, g.const(w_name, w)] + ([g.const(b_name, bias)] if bias is not None else [])
    out = g.node("Conv", inputs, scope=scope, kernel_shape=[kh, kw], strides=[stride, stride],
                 pads=[pad, pad, pad, pad], dilations=[1, 1], group=1)
    return Traced(out, np.zeros(shape, g.dtype))


@register_converter(Conv2d)
def _conv2d(g: GraphBuilder, m: Conv2d, x: Traced, scope: str) -> Traced:
    return conv2d(g, x, m.weight, m.bias, m.stride, m.padding, scope, _child(scope, "weight"),
                  _child(scope, "bias"))


def pool2d(g: GraphBuilder, op: str, x: Traced, window: tuple[int, int], stride: int, scope: str) -> Traced:
    """``MaxPool``/``AveragePool`` without padding, floor mode (the kernels' output size)."""
    n, c, h, w = x.value.shape
    shape = (n, c, (h - window[0]) // stride + 1, (w - window[1]) // stride + 1)
    out = g.node(op, [x.name], scope=scope, kernel_shape=list(window), strides=[stride, stride],
                 pads=[0, 0, 0, 0], ceil_mode=0)
    return Traced(out, np.zeros(shape, x.value.dtype))


@register_converter(MaxPool2d)
def _maxpool(g: GraphBuilder, m: MaxPool2d, x: Traced, scope: str) -> Traced:
    return pool2d(g, "MaxPool", x, m._window, m.stride, scope)


@register_converter(AvgPool2d)
def _avgpool(g: GraphBuilder, m: AvgPool2d, x: Traced, scope: str) -> Traced:
    return pool2d(g, "AveragePool", x, m._window, m.stride, scope)


@register_converter(AdaptiveAvgPool2d)
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
    cols = g.node("MatMul", [x.name, g.const(_child(scope, "cols"), _bin_matrix(w, size[1]).T)], scope=scope)
    out = g.node("MatMul", [g.const(_child(scope, "rows"), _bin_matrix(h, size[0])), cols], scope=scope)
    return Traced(out, np.zeros((n, c, *size), x.value.dtype))


# ---- normalization ------------------------------------------------------------------------------------------
def batchnorm(g: GraphBuilder, x: Traced, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, scope: str,
              names: tuple[str, str, str, str], momentum: float = 0.9) -> Traced:
    """``BatchNormalization`` in inference mode: ``(x - mean) / sqrt(var + eps) * gamma + beta`` per channel
    (axis 1). ``momentum`` is ONNX's (= the kernel's ``bn_param['momentum']``), kept for the importer."""
    inputs = [x.name] + [g.const(n, a) for n, a in zip(names, (gamma, beta, mean, var))]
    out = g.node("BatchNormalization", inputs, scope=scope, epsilon=float(eps), momentum=float(momentum))
    return Traced(out, _cast_value(g, x.value))


@register_converter(BatchNorm1d)
@register_converter(BatchNorm2d)
def _batchnorm(g: GraphBuilder, m: Any, x: Traced, scope: str) -> Traced:
    if not m.track_running_stats:
        raise ExportError(f"nnlab.onnx.export: {scope or type(m).__name__}: batch norm without running statistics "
                          f"(track_running_stats=False) normalises with batch statistics at inference; ONNX's "
                          f"inference BatchNormalization needs running statistics")
    c = m.num_features
    gamma = m.weight if m.affine else np.ones(c)
    beta = m.bias if m.affine else np.zeros(c)
    names = tuple(_child(scope, k) for k in ("weight", "bias", "running_mean", "running_var"))
    return batchnorm(g, x, gamma, beta, m.running_mean, m.running_var, m.eps, scope, names, 1.0 - m.momentum)


def layernorm(g: GraphBuilder, x: Traced, gamma: Any, beta: Any, eps: float, axis: int, scope: str,
              names: tuple[str, str]) -> Traced:
    """``LayerNormalization`` (opset 17) over the axes from ``axis`` on."""
    inputs = [x.name, g.const(names[0], gamma), g.const(names[1], beta)]
    out = g.node("LayerNormalization", inputs, scope=scope, axis=int(axis), epsilon=float(eps))
    return Traced(out, _cast_value(g, x.value))


@register_converter(LayerNorm)
def _layernorm(g: GraphBuilder, m: LayerNorm, x: Traced, scope: str) -> Traced:
    shape = m.normalized_shape
    gamma = m.weight if m.elementwise_affine else np.ones(shape)
    beta = m.bias if m.elementwise_affine else np.zeros(shape)
    return layernorm(g, x, gamma, beta, m.eps, -len(shape), scope,
                     (_child(scope, "weight"), _child(scope, "bias")))


# ---- activations and reshapes -------------------------------------------------------------------------------
ACTIVATION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softsign": "Softsign",
                  "leaky_relu": "LeakyRelu"}


def activation(g: GraphBuilder, kind: str, x: Traced, scope: str, negative_slope: float = 0.01) -> Traced:
    """One elementwise activation node (``kind`` as in ``FullyConnectedNet``: relu, leaky_relu, ...)."""
    attrs = {"alpha": float(negative_slope)} if kind == "leaky_relu" else {}
    return Traced(g.node(ACTIVATION_OPS[kind], [x.name], scope=scope, **attrs), x.value)


for _cls, _kind in ((ReLU, "relu"), (Sigmoid, "sigmoid"), (Tanh, "tanh"), (Softsign, "softsign")):
    register_converter(_cls)(lambda g, m, x, scope, _kind=_kind: activation(g, _kind, x, scope))


@register_converter(LeakyReLU)
def _leaky_relu(g: GraphBuilder, m: LeakyReLU, x: Traced, scope: str) -> Traced:
    return activation(g, "leaky_relu", x, scope, m.negative_slope)


@register_converter(GELU)
def _gelu(g: GraphBuilder, m: GELU, x: Traced, scope: str) -> Traced:
    """``Gelu`` from opset 20; below, exact GELU as ``0.5 x (1 + Erf(x / sqrt 2))`` and the tanh form as
    ``0.5 x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if g.opset >= 20:
        return Traced(g.node("Gelu", [x.name], scope=scope, approximate=m.approximate), x.value)
    half, one = g.const(_child(scope, "half"), np.float64(0.5)), g.const(_child(scope, "one"), np.float64(1.0))
    if m.approximate == "none":
        inner = g.node("Mul", [x.name, g.const(_child(scope, "inv_sqrt2"), np.float64(0.5 ** 0.5))], scope=scope)
        t = g.node("Erf", [inner], scope=scope)
    else:
        cube = g.node("Mul", [x.name, g.node("Mul", [x.name, x.name], scope=scope)], scope=scope)
        poly = g.node("Add", [x.name, g.node("Mul", [cube, g.const(_child(scope, "c"), np.float64(0.044715))],
                                             scope=scope)], scope=scope)
        k = g.const(_child(scope, "sqrt_2_over_pi"), np.float64((2.0 / np.pi) ** 0.5))
        t = g.node("Tanh", [g.node("Mul", [poly, k], scope=scope)], scope=scope)
    out = g.node("Mul", [g.node("Mul", [x.name, half], scope=scope), g.node("Add", [t, one], scope=scope)],
                 scope=scope)
    return Traced(out, x.value)


@register_converter(SiLU)
def _silu(g: GraphBuilder, m: SiLU, x: Traced, scope: str) -> Traced:
    """``x * Sigmoid(x)``."""
    return Traced(g.node("Mul", [x.name, g.node("Sigmoid", [x.name], scope=scope)], scope=scope), x.value)


@register_converter(ELU)
@register_converter(SELU)
@register_converter(Softplus)
@register_converter(Hardsigmoid)
@register_converter(Hardswish)
@register_converter(Mish)
def _modern_activation(g: GraphBuilder, m: Module, x: Traced, scope: str) -> Traced:
    """``Elu``, ``Selu`` (torch's constants are ONNX's defaults), ``Softplus`` (``Softplus(beta x) / beta``; torch's
    linear region above ``threshold`` differs from it by < 1e-8 relative), ``HardSigmoid`` (alpha 1/6, beta 1/2),
    ``HardSwish``, ``Mish`` (from opset 18; below, ``x * Tanh(Softplus(x))``)."""
    name = type(m).__name__
    if name == "ELU":
        return Traced(g.node("Elu", [x.name], scope=scope, alpha=m.alpha), m(x.value))
    if name == "Softplus" and m.beta != 1.0:
        beta = g.const(_child(scope, "beta"), np.float64(m.beta))
        y = g.node("Softplus", [g.node("Mul", [x.name, beta], scope=scope)], scope=scope)
        return Traced(g.node("Div", [y, beta], scope=scope), x.value)
    if name == "Mish" and g.opset < 18:
        soft = g.node("Softplus", [x.name], scope=scope)
        return Traced(g.node("Mul", [x.name, g.node("Tanh", [soft], scope=scope)], scope=scope), x.value)
    op = {"SELU": "Selu", "Softplus": "Softplus", "Hardsigmoid": "HardSigmoid", "Hardswish": "HardSwish",
          "Mish": "Mish"}[name]
    attrs = {"alpha": 1.0 / 6.0, "beta": 0.5} if op == "HardSigmoid" else {}
    return Traced(g.node(op, [x.name], scope=scope, **attrs), x.value)


@register_converter(PReLU)
def _prelu(g: GraphBuilder, m: PReLU, x: Traced, scope: str) -> Traced:
    """``PRelu`` with the slopes shaped (C, 1, ..., 1) to broadcast over axis 1 (or one shared slope)."""
    w = np.asarray(to_numpy(m.weight))
    slope = w.reshape((-1,) + (1,) * (x.value.ndim - 2)) if w.size > 1 else w.reshape(1)
    return Traced(g.node("PRelu", [x.name, g.const(_child(scope, "weight"), slope)], scope=scope), x.value)


def flatten(g: GraphBuilder, x: Traced, scope: str, start_dim: int = 1, end_dim: int = -1) -> Traced:
    """``Flatten(axis=1)`` for the usual (N, ...) -> (N, D); ``Reshape`` for other axis ranges."""
    v = x.value
    start, end = start_dim % v.ndim, end_dim % v.ndim
    shape = (*v.shape[:start], int(np.prod(v.shape[start:end + 1])), *v.shape[end + 1:])
    if v.ndim == len(shape):
        return x
    if start == 1 and end == v.ndim - 1:
        return Traced(g.node("Flatten", [x.name], scope=scope, axis=1), v.reshape(shape))
    target = g.int64s(_child(scope, "shape"), [0] * start + [-1] + list(v.shape[end + 1:]))
    return Traced(g.node("Reshape", [x.name, target], scope=scope), v.reshape(shape))


@register_converter(Flatten)
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
        inputs = [h.name, g.const(_child(layer, "W"), _gate_blocks(w_ih, order)[None]),
                  g.const(_child(layer, "R"), _gate_blocks(w_hh, order)[None]), g.const(_child(layer, "B"), b)]
        y, y_h = g.node(op, inputs, scope=layer, outputs=2, hidden_size=H, **attrs)[:2]
        finals.append(y_h)
        if k < L - 1:
            h = Traced(g.node("Squeeze", [y, g.int64s(_child(layer, "axes"), [1])], scope=layer), None)
    h_n = finals[0] if L == 1 else g.node("Concat", finals, scope=scope, axis=0)
    result = m(_cast_value(g, x.value))
    out, state = result[0], result[1]
    state = state[0] if isinstance(state, tuple) else state
    return Traced(y, out.transpose(1, 0, 2)[:, None]), Traced(h_n, state)


def _squeeze(g: GraphBuilder, x: Traced, axis: int, scope: str) -> Traced:
    out = g.node("Squeeze", [x.name, g.int64s(_child(scope, "axes"), [axis])], scope=scope)
    return Traced(out, np.squeeze(x.value, axis))


@register_converter(NNLSTM)
@register_converter(RNN)
@register_converter(GRU)
def _recurrent(g: GraphBuilder, m: Any, x: Traced, scope: str) -> Traced:
    """A standalone recurrent module exports its output sequence (N, T, H) (the first element of its result)."""
    y, _ = recurrent(g, m, x, scope)
    y = _squeeze(g, y, 1, scope)
    out = g.node("Transpose", [y.name], scope=scope, perm=[1, 0, 2])
    return Traced(out, y.value.transpose(1, 0, 2))


@register_converter(Embedding)
def _embedding(g: GraphBuilder, m: Embedding, x: Traced, scope: str) -> Traced:
    out = g.node("Gather", [g.const(_child(scope, "weight"), m.weight), x.name], scope=scope, axis=0)
    return Traced(out, _cast_value(g, to_numpy(m.weight))[x.value])


def _last_layer(g: GraphBuilder, h_n: Traced, scope: str) -> Traced:
    index = g.int64s(_child(scope, "last_layer"), -1)
    return Traced(g.node("Gather", [h_n.name, index], scope=scope, axis=0), h_n.value[-1])


@register_converter(CharRNN)
def _char_rnn(g: GraphBuilder, m: CharRNN, x: Traced, scope: str) -> Traced:
    """ids (N, T) -> Gather -> RNN/LSTM -> last hidden state -> Gemm: the (N, V) scores of ``model.loss(X)``
    (also with ``seq_loss``, whose ``loss(X)`` returns the last step's scores)."""
    emb = convert(g, m.embedding, x, _child(scope, "embedding"))
    _, h_n = recurrent(g, m.rnn, emb, _child(scope, "rnn"))
    h = _squeeze(g, h_n, 0, _child(scope, "rnn")) if h_n.value.shape[0] == 1 else _last_layer(g, h_n, scope)
    return convert(g, m.fc, h, _child(scope, "fc"))


# ---- the entry point ----------------------------------------------------------------------------------------
def _set_eval(model: Any) -> list[tuple[Module, bool]]:
    """Put every nn module of ``model`` in eval mode; returns what to restore."""
    root = model.module if isinstance(model, Classifier) else model
    if not isinstance(root, Module):
        return []
    saved = [(mod, mod.training) for mod in root.modules()]
    root.eval()
    return saved


def _input_dims(x: np.ndarray, dynamic_axes: dict[int, str] | None) -> list[Any]:
    names = {0: "N"} if dynamic_axes is None else dict(dynamic_axes)
    return [names.get(i, int(d)) for i, d in enumerate(x.shape)]


def export(model: Any, example_input: Any, path: str | Path | None = None, opset: int = DEFAULT_OPSET,
           dtype: Any = np.float32, input_name: str = "input", output_name: str = "scores",
           dynamic_axes: dict[int, str] | None = None) -> Any:
    """Write ``model``'s inference graph to ``path`` (``.onnx``) and return the ``onnx.ModelProto``.

    Inputs:
    - model: an ``nn.Module`` (``Sequential``, ``CharRNN``, ...), a ``Classifier``, or a CS231n-contract model
      (``FullyConnectedNet``, ``TwoLayerNet``, ``ThreeLayerConvNet``, ``Softmax``, ``LinearSVM``).
    - example_input: one batch as the model takes it, e.g. (N, C, H, W) images or (N, T) integer ids; fixes
      every axis but the dynamic ones and the input dtype (floats are cast to ``dtype``; ids stay int64).
    - path: where to write; None returns the model without writing.
    - opset: ONNX opset (default 17; >= 17).
    - dtype: float dtype of the graph (float32 default; float64 possible, onnxruntime runs most ops in it).
    - input_name, output_name: names of the graph's input and output (the scores (N, C)).
    - dynamic_axes: ``{axis: name}`` of the input's symbolic axes; default ``{0: "N"}`` (``{0: "N", 1: "T"}``
      for integer ids (N, T), e.g. a ``CharRNN``). The output's batch axis is always ``"N"``.

    Raises :class:`ExportError` for a part without converter or not expressible (naming it), and
    ``onnx.checker.ValidationError`` if the graph is invalid (a bug).
    """
    onnx = require_onnx()
    if int(opset) < MIN_OPSET:
        raise ValueError(f"nnlab.onnx.export: opset must be >= {MIN_OPSET}, got {opset!r}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"nnlab.onnx.export: dtype must be a floating-point type, got {dtype}")
    x = np.asarray(to_numpy(example_input))
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"nnlab.onnx.export: example_input must be a batch (N, ...) with N >= 1, "
                         f"got shape {tuple(x.shape)}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.int64)
        if dynamic_axes is None and x.ndim == 2:  # token ids (N, T): the sequence length is dynamic too
            dynamic_axes = {0: "N", 1: "T"}
    else:
        x = x.astype(dtype)
    g = GraphBuilder(dtype, opset)
    g.reserve(input_name)
    saved = _set_eval(model)
    try:
        out = convert(g, model, Traced(input_name, x), "")
    finally:
        for mod, mode in saved:
            object.__setattr__(mod, "training", mode)
    if out.name == input_name:
        g.node("Identity", [input_name], outputs=[output_name])
    else:
        for node in g.nodes:
            node.output[:] = [output_name if o == out.name else o for o in node.output]
    h = onnx.helper
    inp = h.make_tensor_value_info(input_name, g.elem_type(x.dtype), _input_dims(x, dynamic_axes))
    y = np.asarray(out.value)
    outp = h.make_tensor_value_info(output_name, g.elem_type(dtype), ["N", *map(int, y.shape[1:])])
    graph = h.make_graph(g.nodes, f"nnlab_{type(model).__name__}", [inp], [outp], initializer=g.initializers)
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", int(opset))], producer_name="nnlab",
                         ir_version=_IR_VERSION,
                         doc_string=f"nnlab {type(model).__name__}: inference graph (dropout removed, batch norm "
                                    f"with running statistics), opset {int(opset)}")
    from .. import __version__ as nnlab_version

    h.set_model_props(proto, {"nnlab_model": type(model).__name__, "nnlab_version": str(nnlab_version),
                              "opset": str(int(opset))})
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(proto, str(path))
    return proto


def _ensure_model_converters() -> None:
    """Import the converters of the CS231n models and of the composite blocks (registered on import)."""
    from . import export_blocks, export_models  # noqa: F401


_ensure_model_converters()
