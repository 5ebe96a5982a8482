"""Import an ONNX graph as nnlab layers: ``load(path) -> nn.Sequential`` (a chain of layers) or
:class:`GraphModule` (any other graph of supported operators).

Each node becomes either an nnlab **layer** (``Gemm``/``MatMul`` [+ ``Add``] -> ``Linear``, ``Conv`` ->
``Conv2d``, ``BatchNormalization`` -> ``BatchNorm1d``/``2d``, ``LayerNormalization`` -> ``LayerNorm``,
activations, pools, ``Flatten``, ``Gather`` of a constant table -> ``Embedding``, ``LSTM``/``RNN``/``GRU`` ->
the recurrent modules) whose parameters are the node's initializers, copied bit for bit; or a parameter-free
**op** (shape plumbing as torch emits it: ``Shape``, ``Constant``, ``Gather``, ``Unsqueeze``, ``Squeeze``,
``Concat``, ``ConstantOfShape``, ``Transpose``, ``Reshape``, ``Slice``, ``Add``/``Sub``/``Mul``/``Div``,
``Identity``). Ops whose inputs are all constants are evaluated once at import. Any other operator, or a
supported one with attributes nnlab's layers do not have (groups, dilation, asymmetric padding, peepholes, ...),
raises :class:`UnsupportedOperatorError` naming the operator and its node.

Weight layouts: ONNX ``Gemm``'s ``B`` is (in, out) unless ``transB=1``; ``Linear.weight`` is (out, in). ONNX's
recurrent ``W`` (1, G*H, D) and ``R`` (1, G*H, H) hold the gates as i o f c (LSTM), z r h (GRU); nnlab's
modules hold torch's i f g o and r z n, so blocks are reordered (LSTM [0, 2, 3, 1], GRU [1, 0, 2]); ``B`` is
``[W_b, R_b]`` = torch's ``bias_ih``, ``bias_hh``. The recurrent layers are time-major as in ONNX
(:class:`TimeMajorLSTM`, ...: input (T, N, D), outputs ``Y`` (T, 1, N, H), ``Y_h`` (1, N, H)[, ``Y_c``]).

New operators plug in with :func:`register_importer`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import layers as F
from ..nn import (
    GRU,
    LSTM,
    RNN,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
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
from ..nn.activations import ELU, GELU, SELU, Hardsigmoid, Hardswish, Mish, PReLU, Softplus
from .optional import require_onnx

__all__ = ["load", "GraphModule", "UnsupportedOperatorError", "register_importer", "ImportContext",
           "TimeMajorLSTM", "TimeMajorRNN", "TimeMajorGRU"]


class UnsupportedOperatorError(ValueError):
    """An ONNX operator (or attribute of one) that nnlab cannot import; the message names the node."""


class Step(NamedTuple):
    """One imported node: ``fn`` (a layer Module, or a function) applied to ``inputs`` gives ``outputs``."""

    fn: Callable[..., Any]
    inputs: list[str]
    outputs: list[str]
    op_type: str
    name: str  # a child-module name suggested by the node (its weight's prefix or its node name)


class ImportContext:
    """What an importer sees: constants (initializers and folded values), tensor ranks, the node's attributes."""

    def __init__(self, onnx: Any, constants: dict[str, np.ndarray], ranks: dict[str, int]) -> None:
        self.onnx = onnx
        self.constants = constants
        self.ranks = ranks
        self.used_constants: set[str] = set()

    def const(self, name: str) -> np.ndarray | None:
        """The constant value of input ``name`` (None for a runtime value or an omitted input '')."""
        if name and name in self.constants:
            return self.constants[name]
        return None

    def param(self, node: Any, index: int, what: str) -> np.ndarray | None:
        """Input ``index`` of ``node``, which must be a constant (a weight); None when omitted."""
        if index >= len(node.input) or not node.input[index]:
            return None
        value = self.const(node.input[index])
        if value is None:
            raise unsupported(node, f"its {what} ({node.input[index]!r}) is computed at run time; nnlab imports "
                                    f"it only as a constant initializer")
        self.used_constants.add(node.input[index])
        return value

    def attrs(self, node: Any) -> dict[str, Any]:
        """The node's attributes; floats (stored as float32) rounded to 7 significant digits, so 1e-5 and 0.01
        come back as written rather than as their float32 neighbours."""
        out = {}
        for a in node.attribute:
            value = self.onnx.helper.get_attribute_value(a)
            out[a.name] = float(f"{value:.7g}") if isinstance(value, float) else value
        return out

    def rank(self, name: str) -> int | None:
        return self.ranks.get(name)


Importer = Callable[[Any, ImportContext], Any]
_IMPORTERS: dict[str, Importer] = {}


def register_importer(op_type: str) -> Callable[[Importer], Importer]:
    """Decorator: ``fn(node, ctx)`` imports ONNX nodes of ``op_type``. It returns a Module (a layer applied to the
    node's first input) or a function of every input value (constants included) returning the output(s)."""

    def decorate(fn: Importer) -> Importer:
        _IMPORTERS[op_type] = fn
        return fn

    return decorate


def unsupported(node: Any, detail: str = "") -> UnsupportedOperatorError:
    where = f"nnlab.onnx.load: unsupported ONNX operator {node.op_type!r} (node {node.name or node.output[0]!r})"
    if detail:
        return UnsupportedOperatorError(f"{where}: {detail}")
    return UnsupportedOperatorError(f"{where}; nnlab imports {', '.join(sorted(_IMPORTERS))}")


def _require(node: Any, ok: bool, detail: str) -> None:
    if not ok:
        raise unsupported(node, detail)


def _load_params(module: Module, **arrays: np.ndarray | None) -> Module:
    """Assign ``arrays`` (C-contiguous copies, bit for bit) to ``module``'s parameters and buffers."""
    for name, value in arrays.items():
        if value is not None:
            setattr(module, name, np.array(value, copy=True, order="C"))
    return module


def _float(a: np.ndarray) -> np.dtype:
    return a.dtype if np.issubdtype(a.dtype, np.floating) else np.dtype(np.float32)


# ---- layers -------------------------------------------------------------------------------------------------
@register_importer("Gemm")
def _gemm(node: Any, ctx: ImportContext) -> Module:
    a = ctx.attrs(node)
    _require(node, a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0 and not a.get("transA", 0),
             "alpha, beta must be 1 and transA 0 (a Linear layer)")
    b, c = ctx.param(node, 1, "B"), ctx.param(node, 2, "C")
    _require(node, b is not None and b.ndim == 2, "B must be a 2-D initializer")
    weight = b if a.get("transB", 0) else b.T
    out_f, in_f = weight.shape
    if c is not None:
        _require(node, c.size == out_f, f"C has shape {c.shape}, expected ({out_f},)")
        c = c.reshape(out_f)
    lin = Linear(in_f, out_f, bias=c is not None, seed=0, dtype=_float(weight))
    return _load_params(lin, weight=weight, bias=c)


@register_importer("MatMul")
def _matmul(node: Any, ctx: ImportContext) -> Any:
    b = ctx.const(node.input[1])
    if b is None or b.ndim != 2:
        return np.matmul  # two runtime values (attention-like); a plain op
    ctx.used_constants.add(node.input[1])
    lin = Linear(b.shape[0], b.shape[1], bias=False, seed=0, dtype=_float(b))
    return _load_params(lin, weight=b.T)


@register_importer("Conv")
def _conv(node: Any, ctx: ImportContext) -> Module:
    a = ctx.attrs(node)
    w, b = ctx.param(node, 1, "W"), ctx.param(node, 2, "B")
    _require(node, w is not None and w.ndim == 4, "only 2-D convolutions (W of shape (F, C, kh, kw))")
    _require(node, a.get("group", 1) == 1, f"group={a.get('group')}: nnlab's Conv2d has no groups")
    _require(node, all(d == 1 for d in a.get("dilations", [1, 1])), "dilations must be 1")
    _require(node, a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad is not supported")
    strides, pads = list(a.get("strides", [1, 1])), list(a.get("pads", [0, 0, 0, 0]))
    _require(node, len(set(strides)) == 1, f"strides {strides}: nnlab's Conv2d takes one stride")
    _require(node, len(set(pads)) == 1, f"pads {pads}: nnlab's Conv2d takes one symmetric padding")
    f, c, kh, kw = w.shape
    conv = Conv2d(c, f, (kh, kw), stride=strides[0], padding=pads[0], bias=b is not None, seed=0,
                  dtype=_float(w))
    return _load_params(conv, weight=w, bias=b)


@register_importer("BatchNormalization")
def _batchnorm(node: Any, ctx: ImportContext) -> Module:
    a = ctx.attrs(node)
    _require(node, not a.get("training_mode", 0), "training_mode=1 (an inference graph is expected)")
    scale, bias, mean, var = (ctx.param(node, i, n) for i, n in enumerate(("scale", "B", "mean", "var"), 1))
    rank = ctx.rank(node.input[0])
    _require(node, rank in (2, 4), f"input rank {rank}: nnlab has BatchNorm1d on (N, C) and BatchNorm2d on "
                                   f"(N, C, H, W)")
    cls = BatchNorm2d if rank == 4 else BatchNorm1d
    bn = cls(scale.shape[0], eps=float(a.get("epsilon", 1e-5)), momentum=float(f"{1.0 - a.get('momentum', 0.9):.7g}"),
             dtype=_float(scale))
    return _load_params(bn, weight=scale, bias=bias, running_mean=mean, running_var=var)


@register_importer("LayerNormalization")
def _layernorm(node: Any, ctx: ImportContext) -> Module:
    a = ctx.attrs(node)
    scale, bias = ctx.param(node, 1, "scale"), ctx.param(node, 2, "B")
    k, axis, rank = scale.ndim, int(a.get("axis", -1)), ctx.rank(node.input[0])
    _require(node, axis == -k or (rank is not None and axis == rank - k),
             f"axis={axis} with a scale of {k} axes: nnlab's LayerNorm normalises the trailing scale axes")
    ln = LayerNorm(scale.shape, eps=float(a.get("epsilon", 1e-5)), elementwise_affine=True, dtype=_float(scale))
    return _load_params(ln, weight=scale, bias=bias if bias is not None else np.zeros_like(scale))


for _op, _cls in (("Relu", ReLU), ("Sigmoid", Sigmoid), ("Tanh", Tanh), ("Softsign", Softsign)):
    register_importer(_op)(lambda node, ctx, _cls=_cls: _cls())


@register_importer("Identity")
@register_importer("Dropout")
def _identity(node: Any, ctx: ImportContext) -> Any:
    """``Identity`` (inference ``Dropout``) of a constant is folded (torch aliases equal initializers so)."""
    if ctx.const(node.input[0]) is not None:
        return lambda x, *rest: x
    return Identity()


@register_importer("LeakyRelu")
def _leaky_relu(node: Any, ctx: ImportContext) -> Module:
    return LeakyReLU(float(ctx.attrs(node).get("alpha", 0.01)))


@register_importer("Gelu")
def _gelu(node: Any, ctx: ImportContext) -> Module:
    approximate = ctx.attrs(node).get("approximate", "none")
    return GELU(approximate.decode() if isinstance(approximate, bytes) else approximate)


@register_importer("Elu")
@register_importer("Selu")
@register_importer("Softplus")
@register_importer("HardSigmoid")
@register_importer("HardSwish")
@register_importer("Mish")
@register_importer("PRelu")
def _modern_activation(node: Any, ctx: ImportContext) -> Module:
    a, op = ctx.attrs(node), node.op_type
    if op == "Elu":
        return ELU(float(a.get("alpha", 1.0)))
    if op == "PRelu":
        slope = ctx.param(node, 1, "slope")
        prelu = PReLU(slope.size, dtype=_float(slope))
        return _load_params(prelu, weight=slope.reshape(-1))
    if op == "Selu":
        _require(node, abs(a.get("alpha", 1.6732632) - 1.6732632) < 1e-6 and abs(a.get("gamma", 1.050701)
                                                                                 - 1.050701) < 1e-6,
                 "only the standard alpha and gamma (nnlab's SELU)")
    if op == "HardSigmoid":
        _require(node, abs(a.get("alpha", 0.2) - 1 / 6) < 1e-6 and a.get("beta", 0.5) == 0.5,
                 "only alpha=1/6, beta=1/2 (nnlab's Hardsigmoid, torch's)")
    return {"Selu": SELU, "Softplus": Softplus, "HardSigmoid": Hardsigmoid, "HardSwish": Hardswish,
            "Mish": Mish}[op]()


def _pool_args(node: Any, ctx: ImportContext) -> tuple[tuple[int, int], int]:
    a = ctx.attrs(node)
    kernel = tuple(a.get("kernel_shape", ()))
    _require(node, len(kernel) == 2, f"kernel_shape {list(kernel)}: only 2-D pooling")
    _require(node, not any(a.get("pads", [0, 0, 0, 0])), "padded pooling is not supported")
    _require(node, not a.get("ceil_mode", 0), "ceil_mode=1 is not supported")
    _require(node, all(d == 1 for d in a.get("dilations", [1, 1])), "dilations must be 1")
    _require(node, a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET", b"VALID", "VALID"),
             "auto_pad SAME is not supported")
    _require(node, len(node.output) == 1 or not node.output[1], "the argmax output (Indices) is not supported")
    strides = list(a.get("strides", [1, 1]))
    _require(node, len(set(strides)) == 1, f"strides {strides}: nnlab's pools take one stride")
    return kernel, strides[0]


@register_importer("MaxPool")
def _maxpool(node: Any, ctx: ImportContext) -> Module:
    kernel, stride = _pool_args(node, ctx)
    return MaxPool2d(kernel, stride)


@register_importer("AveragePool")
def _avgpool(node: Any, ctx: ImportContext) -> Module:
    kernel, stride = _pool_args(node, ctx)
    return AvgPool2d(kernel, stride)


@register_importer("GlobalAveragePool")
def _global_avgpool(node: Any, ctx: ImportContext) -> Module:
    _require(node, ctx.rank(node.input[0]) in (4, None), "only (N, C, H, W) inputs")
    return AdaptiveAvgPool2d(1)


@register_importer("Flatten")
def _flatten(node: Any, ctx: ImportContext) -> Any:
    axis = int(ctx.attrs(node).get("axis", 1))
    if axis == 1:
        return Flatten()
    return lambda x: x.reshape(int(np.prod(x.shape[:axis % x.ndim])), -1)


@register_importer("Gather")
def _gather(node: Any, ctx: ImportContext) -> Any:
    axis = int(ctx.attrs(node).get("axis", 0))
    table = ctx.const(node.input[0])
    if table is not None and table.ndim == 2 and axis == 0 and ctx.const(node.input[1]) is None:
        ctx.used_constants.add(node.input[0])
        emb = Embedding(table.shape[0], table.shape[1], seed=0, dtype=_float(table))
        emb = _load_params(emb, weight=table)
        emb._onnx_input = 1  # the ids are the node's second input
        return emb
    return lambda data, indices: np.take(data, np.asarray(indices, dtype=np.int64), axis=axis)


# ---- recurrent layers (time-major, as ONNX) ------------------------------------------------------------------
class _TimeMajor:
    """Mixin: ``layer(X (T, N, D), initial_h=None[, initial_c=None])`` -> ONNX's outputs ``(Y (T, 1, N, H),
    Y_h (1, N, H)[, Y_c])`` from the batch-first nnlab module it is mixed into."""

    _onnx_multi = True

    def __call__(self, x: Any, *states: Any) -> Any:
        return self.forward_time_major(x, *states)


class TimeMajorRNN(_TimeMajor, RNN):
    """An imported ONNX ``RNN`` node: :class:`nnlab.nn.RNN` called time-major, ``layer(X (T, N, D), ...)`` ->
    ``(Y (T, 1, N, H), Y_h (1, N, H))``, ONNX's output layout."""

    def forward_time_major(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        out, h_n = RNN.forward(self, x.transpose(1, 0, 2), h0)
        return out.transpose(1, 0, 2)[:, None], h_n


class TimeMajorLSTM(_TimeMajor, LSTM):
    """An imported ONNX ``LSTM`` node: :class:`nnlab.nn.LSTM` called time-major, ``layer(X (T, N, D), ...)`` ->
    ``(Y (T, 1, N, H), Y_h (1, N, H), Y_c (1, N, H))``, ONNX's output layout."""

    def forward_time_major(self, x: Any, h0: Any = None, c0: Any = None) -> tuple[Any, Any, Any]:
        out, (h_n, c_n) = LSTM.forward(self, x.transpose(1, 0, 2), (h0, c0))
        return out.transpose(1, 0, 2)[:, None], h_n, c_n


class TimeMajorGRU(_TimeMajor, GRU):
    """An imported ONNX ``GRU`` node: :class:`nnlab.nn.GRU` called time-major, ``layer(X (T, N, D), ...)`` ->
    ``(Y (T, 1, N, H), Y_h (1, N, H))``, ONNX's output layout."""

    def forward_time_major(self, x: Any, h0: Any = None) -> tuple[Any, Any]:
        out, h_n = GRU.forward(self, x.transpose(1, 0, 2), h0)
        return out.transpose(1, 0, 2)[:, None], h_n


_ONNX_TO_TORCH_GATES = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}
_RECURRENT = {"LSTM": (TimeMajorLSTM, 4, 7), "GRU": (TimeMajorGRU, 3, 6), "RNN": (TimeMajorRNN, 1, 6)}


def _blocks(a: np.ndarray, order: list[int]) -> np.ndarray:
    parts = np.split(a, len(order), axis=0)
    return np.concatenate([parts[k] for k in order], axis=0)


def _recurrent(node: Any, ctx: ImportContext) -> Module:
    op = node.op_type
    cls, gates, n_inputs = _RECURRENT[op]
    a = ctx.attrs(node)
    direction = a.get("direction", b"forward")
    _require(node, direction in (b"forward", "forward"), f"direction {direction!r}: only forward")
    _require(node, a.get("layout", 0) == 0, "layout=1 (batch-major) is not supported")
    _require(node, "clip" not in a and not a.get("input_forget", 0), "clip and input_forget are not supported")
    defaults = {"LSTM": [b"Sigmoid", b"Tanh", b"Tanh"], "GRU": [b"Sigmoid", b"Tanh"], "RNN": [b"Tanh"]}[op]
    acts = [s if isinstance(s, bytes) else s.encode() for s in a.get("activations", defaults)]
    _require(node, [s.lower() for s in acts] == [s.lower() for s in defaults], f"activations {acts}: only the "
                                                                                f"defaults {defaults}")
    if op == "GRU":
        _require(node, a.get("linear_before_reset", 0) == 1, "linear_before_reset=0 (nnlab's GRU is torch's, =1)")
    _require(node, len(node.input) < 5 or not node.input[4], "sequence_lens is not supported")
    _require(node, len(node.input) < 8 or not node.input[7], "peepholes (P) are not supported")
    w, r, b = ctx.param(node, 1, "W"), ctx.param(node, 2, "R"), ctx.param(node, 3, "B")
    hidden = int(a.get("hidden_size", r.shape[-1]))
    order = _ONNX_TO_TORCH_GATES[op]
    if b is None:
        b = np.zeros((1, 2 * gates * hidden), w.dtype)
    layer = cls(w.shape[2], hidden, seed=0, dtype=_float(w))
    bias_ih, bias_hh = np.split(b[0], 2)
    return _load_params(layer, weight_ih_l0=_blocks(w[0], order), weight_hh_l0=_blocks(r[0], order),
                        bias_ih_l0=_blocks(bias_ih, order), bias_hh_l0=_blocks(bias_hh, order))


for _op in _RECURRENT:
    register_importer(_op)(_recurrent)


# ---- plumbing ops (functions of their input values) ---------------------------------------------------------
def _axes(node: Any, ctx: ImportContext, values: list[Any]) -> list[int] | None:
    if len(values) > 1 and values[1] is not None:
        return [int(v) for v in np.asarray(values[1]).reshape(-1)]
    axes = ctx.attrs(node).get("axes")
    return None if axes is None else list(axes)


def _reshape(x: Any, shape: Any, allowzero: int = 0) -> Any:
    shape = [int(s) for s in np.asarray(shape).reshape(-1)]
    if not allowzero:
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _slice(x: Any, starts: Any, ends: Any, axes: Any = None, steps: Any = None) -> Any:
    starts, ends = np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1)
    axes = range(len(starts)) if axes is None else np.asarray(axes).reshape(-1)
    steps = np.ones(len(starts), np.int64) if steps is None else np.asarray(steps).reshape(-1)
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        n = x.shape[int(ax)]
        e = None if (st < 0 and e < -n) else int(np.clip(e, -n - 1, n)) if abs(int(e)) > n else int(e)
        index[int(ax)] = slice(int(s), e, int(st))
    return x[tuple(index)]


def _plumbing(node: Any, ctx: ImportContext) -> Callable[..., Any]:
    """Shape plumbing and elementwise arithmetic as NumPy functions of the node's input values."""
    op, a = node.op_type, ctx.attrs(node)
    if op == "Shape":
        return lambda x: np.asarray(x.shape, dtype=np.int64)[a.get("start", 0):a.get("end")]
    if op == "Unsqueeze":
        def unsqueeze(*v: Any) -> Any:
            out = np.asarray(v[0])
            axes = _axes(node, ctx, list(v))
            for ax in sorted(x % (out.ndim + len(axes)) for x in axes):
                out = np.expand_dims(out, ax)
            return out
        return unsqueeze
    if op == "Squeeze":
        return lambda *v: np.squeeze(v[0], axis=None if _axes(node, ctx, list(v)) is None
                                     else tuple(_axes(node, ctx, list(v))))
    if op == "Concat":
        return lambda *v: np.concatenate([np.asarray(t) for t in v], axis=int(a["axis"]))
    if op == "ConstantOfShape":
        fill = a.get("value")
        fill = ctx.onnx.numpy_helper.to_array(fill) if fill is not None else np.zeros(1, np.float32)
        return lambda shape: np.full([int(s) for s in np.asarray(shape).reshape(-1)], fill.reshape(-1)[0],
                                     dtype=fill.dtype)
    if op == "Transpose":
        return lambda x: np.transpose(x, a.get("perm"))
    if op == "Reshape":
        return lambda x, shape: _reshape(x, shape, int(a.get("allowzero", 0)))
    if op == "Slice":
        return _slice
    if op == "Split":
        axis, count = int(a.get("axis", 0)), len(node.output)

        def split(x: Any, sizes: Any = None) -> tuple[Any, ...]:
            if sizes is None:
                return tuple(np.array_split(x, count, axis=axis))
            return tuple(np.split(x, np.cumsum(np.asarray(sizes).reshape(-1))[:-1], axis=axis))
        return split
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power}
    if op in binary:
        f = binary[op]
        return lambda x, y: f(x, y).astype(np.result_type(x, y), copy=False)
    unary = {"Abs": np.abs, "Neg": np.negative, "Sqrt": np.sqrt, "Exp": np.exp, "Reciprocal": np.reciprocal,
             "Erf": F.erf}
    if op in unary:
        return unary[op]
    if op == "Softmax":
        axis = int(a.get("axis", -1))
        return lambda x: F.softmax_forward(x, axis)[0]
    raise unsupported(node)


# Plumbing and elementwise arithmetic, as torch emits it (shape computations, Softsign as x / (1 + |x|), GELU as
# 0.5 x (1 + erf(x / sqrt 2)) below opset 20, attention's scaled products).
_PLUMBING = ("Shape", "Unsqueeze", "Squeeze", "Concat", "ConstantOfShape", "Transpose", "Reshape", "Slice", "Split",
             "Add", "Sub", "Mul", "Div", "Pow", "Abs", "Neg", "Sqrt", "Exp", "Reciprocal", "Erf", "Softmax")
for _op in _PLUMBING:
    register_importer(_op)(_plumbing)


# ---- the graph module ---------------------------------------------------------------------------------------
class GraphModule(Module):
    """An imported ONNX graph that is not a plain chain: its layers are child modules (parameters, buffers,
    ``state_dict`` as usual), its plumbing ops plain functions, run in the graph's (topological) order.

    ``graph(x)`` (or ``graph(x1, x2, ...)`` for several graph inputs) returns the output, or a tuple of the
    outputs. Inference only: ``backward`` is not implemented (a chain of layers imports as ``nn.Sequential``,
    which has it).
    """

    def __init__(self, steps: list[tuple[str | None, Step]], constants: dict[str, np.ndarray],
                 inputs: list[str], outputs: list[str]) -> None:
        super().__init__()
        program = []
        for child, step in steps:
            if child is not None:
                setattr(self, child, step.fn)
            program.append((child, step))
        self._program = program
        self._constants = constants
        self._inputs, self._outputs = list(inputs), list(outputs)

    def __call__(self, *xs: Any) -> Any:
        return self.forward(*xs)

    def forward(self, *xs: Any) -> Any:
        if len(xs) != len(self._inputs):
            raise ValueError(f"GraphModule.forward: the graph takes {len(self._inputs)} input(s) "
                             f"{self._inputs}, got {len(xs)}")
        env = dict(self._constants)
        env.update(zip(self._inputs, xs))
        for child, step in self._program:
            fn = getattr(self, child) if child is not None else step.fn
            result = fn(*[env[n] if n else None for n in step.inputs])
            if isinstance(result, tuple):
                for name, value in zip(step.outputs, result):
                    if name:
                        env[name] = value
            else:
                env[step.outputs[0]] = result
        outs = [env[n] for n in self._outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def backward(self, dout: Any) -> Any:
        raise NotImplementedError("GraphModule is inference-only (an imported graph that is not a chain of layers)")

    def extra_repr(self) -> str:
        ops = [step.op_type for _, step in self._program]
        return f"inputs={self._inputs}, outputs={self._outputs}, ops={ops}"


def _ranks(onnx: Any, model: Any) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001  (ranks are a convenience; importers raise if they need a missing one)
        inferred = model
    g = inferred.graph
    ranks = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            ranks[vi.name] = len(t.shape.dim)
    return ranks


def _constant_value(onnx: Any, node: Any) -> np.ndarray:
    attr = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if "value" in attr:
        return onnx.numpy_helper.to_array(attr["value"])
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attr:
            return np.asarray(attr[key], dtype=dtype)
    raise unsupported(node, f"Constant with {sorted(attr)}")


def _layer_name(node: Any, ctx: ImportContext) -> str:
    """``fc`` for a node whose weight is ``fc.weight``, else the node's name, as an identifier."""
    weights = [n for n in node.input if n in ctx.constants and n.endswith(".weight")]
    base = weights[0][: -len(".weight")] if weights else (node.name or node.op_type.lower())
    base = re.sub(r"\W+", "_", base).strip("_") or node.op_type.lower()
    return f"layer_{base}" if base[0].isdigit() else base


def _unique(base: str, taken: set[str]) -> str:
    name, j = base, 1
    while name in taken:
        j += 1
        name = f"{base}_{j}"
    taken.add(name)
    return name


def load(path: str | Path | Any) -> Module:
    """Read an ONNX model (a path, bytes or an ``onnx.ModelProto``) into nnlab modules.

    Returns an ``nn.Sequential`` of layers when the graph is a chain from its one input to its one output (each
    node feeding the next), else a :class:`GraphModule`. The modules are in eval mode; parameters are exact
    copies of the initializers (same dtype and bits). Raises :class:`UnsupportedOperatorError` (one line naming
    the operator and its node) for anything nnlab cannot express.
    """
    onnx = require_onnx()
    if isinstance(path, bytes):
        model = onnx.load_from_string(path)
    elif isinstance(path, onnx.ModelProto):
        model = path
    else:
        model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    ctx = ImportContext(onnx, constants, _ranks(onnx, model))
    inputs = [i.name for i in graph.input if i.name not in constants]
    outputs = [o.name for o in graph.output]
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    steps: list[Step] = []
    skip: set[int] = set()
    nodes = list(graph.node)
    for i, node in enumerate(nodes):
        if i in skip:
            continue
        if node.domain not in ("", "ai.onnx"):
            raise unsupported(node, f"domain {node.domain!r} (only the default ONNX domain)")
        if node.op_type == "Constant":
            constants[node.output[0]] = _constant_value(onnx, node)
            continue
        importer = _IMPORTERS.get(node.op_type)
        if importer is None:
            raise unsupported(node)
        fn = importer(node, ctx)
        outs = list(node.output)
        if not isinstance(fn, Module):
            if all(n == "" or n in constants for n in node.input) and node.input:  # fold now
                result = fn(*[constants.get(n) for n in node.input])
                for name, value in zip(outs, result if isinstance(result, tuple) else (result,)):
                    constants[name] = np.asarray(value)
                continue
            steps.append(Step(fn, list(node.input), outs, node.op_type, ""))
            continue
        if node.op_type == "MatMul" and isinstance(fn, Linear):  # MatMul + Add(bias) -> one Linear
            nxt = consumers.get(outs[0], [])
            if len(nxt) == 1 and nxt[0].op_type == "Add" and outs[0] not in outputs:
                add = nxt[0]
                other = add.input[1] if add.input[0] == outs[0] else add.input[0]
                bias = ctx.const(other)
                if bias is not None and bias.size == fn.out_features:
                    fn.register_parameter("bias", np.array(bias.reshape(-1), copy=True))
                    ctx.used_constants.add(other)
                    skip.add(nodes.index(add))
                    outs = list(add.output)
        runtime = [node.input[getattr(fn, "_onnx_input", 0)]]
        if getattr(fn, "_onnx_multi", False):
            runtime += _state_inputs(node)
        steps.append(Step(fn, runtime, outs, node.op_type, _layer_name(node, ctx)))
    return _assemble(steps, ctx, constants, inputs, outputs)


def _state_inputs(node: Any) -> list[str]:
    """initial_h (input 5) and, for an LSTM, initial_c (input 6): names, '' when omitted."""
    last = 7 if node.op_type == "LSTM" else 6
    return [node.input[i] if i < len(node.input) else "" for i in range(5, last)]


def _is_chain(steps: list[Step], inputs: list[str], outputs: list[str]) -> bool:
    if len(inputs) != 1 or len(outputs) != 1 or not steps:
        return False
    current = inputs[0]
    for step in steps:
        if not isinstance(step.fn, Module) or getattr(step.fn, "_onnx_multi", False) \
                or getattr(step.fn, "_onnx_input", 0) or step.inputs != [current] or len(step.outputs) != 1:
            return False
        current = step.outputs[0]
    return current == outputs[0]


def _assemble(steps: list[Step], ctx: ImportContext, constants: dict[str, np.ndarray], inputs: list[str],
              outputs: list[str]) -> Module:
    if _is_chain(steps, inputs, outputs):
        return Sequential(*[step.fn for step in steps]).eval()
    taken: set[str] = set()
    named: list[tuple[str | None, Step]] = []
    for step in steps:
        named.append((_unique(step.name, taken) if isinstance(step.fn, Module) else None, step))
    runtime_constants = {k: v for k, v in constants.items() if k not in ctx.used_constants}
    return GraphModule(named, runtime_constants, inputs, outputs).eval()
