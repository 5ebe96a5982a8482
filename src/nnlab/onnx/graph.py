"""The ONNX graph-building kit that every converter uses: :class:`GraphBuilder`, :class:`Traced`, the converter
registry (:func:`register_converter`, :class:`ConverterTable`, :func:`register_converters`, :func:`convert`) and
the node helpers shared by the converters of ``nn`` modules, composite blocks and CS231n models (``affine``,
``conv2d``, ``pool2d``, ``batchnorm``, ``layernorm``, ``activation``, ``flatten``).

It sits below the converter modules (:mod:`nnlab.onnx.export_nn`, :mod:`~nnlab.onnx.export_blocks`,
:mod:`~nnlab.onnx.export_models`), which import it and declare their converters in a :class:`ConverterTable`;
:mod:`nnlab.onnx.export` imports those and installs them with one explicit :func:`register_converters` call.
Nothing here imports a converter, so the imports flow one way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..backend import to_numpy
from .optional import require_onnx

__all__ = ["GraphBuilder", "Traced", "Converter", "ConverterTable", "register_converter", "register_converters",
           "converter_for", "convert", "child_scope", "cast_value", "ExportError", "DEFAULT_OPSET", "MIN_OPSET",
           "affine", "conv2d", "pool2d", "batchnorm", "layernorm", "ACTIVATION_OPS", "activation", "flatten"]

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization and Squeeze/Unsqueeze with axes as inputs


class ExportError(ValueError):
    """A model (or a part of it) that :func:`export` cannot express as an ONNX inference graph."""


class Traced(NamedTuple):
    """A value of the graph under construction: its ONNX name and an example value (NumPy, batch of the
    example input) that fixes its shape and dtype."""

    name: str
    value: np.ndarray


Converter = Callable[["GraphBuilder", Any, Traced, str], Traced]
_CONVERTERS: dict[type, Converter] = {}


class ConverterTable(dict):
    """``type -> converter``: the converters one module defines, collected by its :meth:`add` decorator and
    installed by :func:`register_converters` (so registering is an explicit call, not an import side effect)."""

    def add(self, *classes: type) -> Callable[[Converter], Converter]:
        """Decorator: ``fn(g, module, x, scope) -> Traced`` converts each of ``classes``."""

        def decorate(fn: Converter) -> Converter:
            for cls in classes:
                self[cls] = fn
            return fn

        return decorate


def register_converters(*tables: dict[type, Converter]) -> None:
    """Install converter tables (later tables win for the same class)."""
    for table in tables:
        _CONVERTERS.update(table)


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


def child_scope(scope: str, name: str) -> str:
    """The scope of child ``name`` inside ``scope`` (``scope.name``, or ``name`` at the top)."""
    return f"{scope}.{name}" if scope else name


def cast_value(g: GraphBuilder, value: Any) -> np.ndarray:
    """``value`` as a NumPy array of the graph's float dtype (the example values converters carry)."""
    return np.asarray(to_numpy(value)).astype(g.dtype, copy=False)


# ---- node helpers shared by the converters ----------------------------------------------------------------
def affine(g: GraphBuilder, x: Traced, weight_in_out: Any, bias: Any, scope: str, w_name: str, b_name: str,
           weight_is_out_in: bool = False) -> Traced:
    """``x @ W + b`` on the last axis: ``Gemm`` for 2-D ``x`` (``transB=1`` when W is stored (out, in)), else
    ``MatMul`` + ``Add``. ``bias`` may be None."""
    w = np.asarray(to_numpy(weight_in_out))
    w_io = w.T if weight_is_out_in else w
    value = cast_value(g, x.value) @ w_io.astype(g.dtype)
    if bias is not None:
        value = value + np.asarray(to_numpy(bias)).astype(g.dtype)
    if x.value.ndim == 2:
        inputs = [x.name, g.const(w_name, w)] + ([g.const(b_name, bias)] if bias is not None else [])
        return Traced(g.node("Gemm", inputs, scope=scope, transB=int(weight_is_out_in)), value)
    out = g.node("MatMul", [x.name, g.const(w_name, w_io)], scope=scope)
    if bias is not None:
        out = g.node("Add", [out, g.const(b_name, bias)], scope=scope)
    return Traced(out, value)


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


def pool2d(g: GraphBuilder, op: str, x: Traced, window: tuple[int, int], stride: int, scope: str) -> Traced:
    """``MaxPool``/``AveragePool`` without padding, floor mode (the kernels' output size)."""
    n, c, h, w = x.value.shape
    shape = (n, c, (h - window[0]) // stride + 1, (w - window[1]) // stride + 1)
    out = g.node(op, [x.name], scope=scope, kernel_shape=list(window), strides=[stride, stride],
                 pads=[0, 0, 0, 0], ceil_mode=0)
    return Traced(out, np.zeros(shape, x.value.dtype))


def batchnorm(g: GraphBuilder, x: Traced, gamma: Any, beta: Any, mean: Any, var: Any, eps: float, scope: str,
              names: tuple[str, str, str, str], momentum: float = 0.9) -> Traced:
    """``BatchNormalization`` in inference mode: ``(x - mean) / sqrt(var + eps) * gamma + beta`` per channel
    (axis 1). ``momentum`` is ONNX's (= the kernel's ``bn_param['momentum']``), kept for the importer."""
    inputs = [x.name] + [g.const(n, a) for n, a in zip(names, (gamma, beta, mean, var))]
    out = g.node("BatchNormalization", inputs, scope=scope, epsilon=float(eps), momentum=float(momentum))
    return Traced(out, cast_value(g, x.value))


def layernorm(g: GraphBuilder, x: Traced, gamma: Any, beta: Any, eps: float, axis: int, scope: str,
              names: tuple[str, str]) -> Traced:
    """``LayerNormalization`` (opset 17) over the axes from ``axis`` on."""
    inputs = [x.name, g.const(names[0], gamma), g.const(names[1], beta)]
    out = g.node("LayerNormalization", inputs, scope=scope, axis=int(axis), epsilon=float(eps))
    return Traced(out, cast_value(g, x.value))


ACTIVATION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softsign": "Softsign",
                  "leaky_relu": "LeakyRelu"}


def activation(g: GraphBuilder, kind: str, x: Traced, scope: str, negative_slope: float = 0.01) -> Traced:
    """One elementwise activation node (``kind`` as in ``FullyConnectedNet``: relu, leaky_relu, ...)."""
    attrs = {"alpha": float(negative_slope)} if kind == "leaky_relu" else {}
    return Traced(g.node(ACTIVATION_OPS[kind], [x.name], scope=scope, **attrs), x.value)


def flatten(g: GraphBuilder, x: Traced, scope: str, start_dim: int = 1, end_dim: int = -1) -> Traced:
    """``Flatten(axis=1)`` for the usual (N, ...) -> (N, D); ``Reshape`` for other axis ranges."""
    v = x.value
    start, end = start_dim % v.ndim, end_dim % v.ndim
    shape = (*v.shape[:start], int(np.prod(v.shape[start:end + 1])), *v.shape[end + 1:])
    if v.ndim == len(shape):
        return x
    if start == 1 and end == v.ndim - 1:
        return Traced(g.node("Flatten", [x.name], scope=scope, axis=1), v.reshape(shape))
    target = g.int64s(child_scope(scope, "shape"), [0] * start + [-1] + list(v.shape[end + 1:]))
    return Traced(g.node("Reshape", [x.name, target], scope=scope), v.reshape(shape))
