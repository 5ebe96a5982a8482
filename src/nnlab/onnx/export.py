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
input), which gives converters every shape they need. The kit (``GraphBuilder``, ``Traced``, the registry and
the node helpers) lives in :mod:`nnlab.onnx.graph`; the converters in :mod:`nnlab.onnx.export_nn` (``nn``
modules), :mod:`nnlab.onnx.export_blocks` (residual and attention blocks) and :mod:`nnlab.onnx.export_models`
(the CS231n-contract models), installed below with one explicit :func:`register_converters` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..models.classifier import Classifier
from ..nn import Module
from ..version import __version__
from . import export_blocks, export_models, export_nn
from .graph import (
    DEFAULT_OPSET,
    MIN_OPSET,
    ExportError,
    GraphBuilder,
    Traced,
    convert,
    converter_for,
    register_converter,
    register_converters,
)
from .optional import require_onnx

__all__ = ["export", "GraphBuilder", "Traced", "register_converter", "converter_for", "DEFAULT_OPSET",
           "MIN_OPSET", "ExportError"]

IR_VERSION = 8  # enough for opset 17..21 and read by every onnxruntime >= 1.14

register_converters(export_nn.CONVERTERS, export_blocks.CONVERTERS, export_models.CONVERTERS)


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
                         ir_version=IR_VERSION,
                         doc_string=f"nnlab {type(model).__name__}: inference graph (dropout removed, batch norm "
                                    f"with running statistics), opset {int(opset)}")
    h.set_model_props(proto, {"nnlab_model": type(model).__name__, "nnlab_version": str(__version__),
                              "opset": str(int(opset))})
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(proto, str(path))
    return proto
