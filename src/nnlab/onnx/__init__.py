"""ONNX exchange: ``export(model, example_input, path, opset=17)`` and ``load(path) -> nnlab module``.

- :func:`export` writes a model's inference graph (dropout removed, batch norm with running statistics,
  dynamic batch axis ``"N"``, opset 17 by default) and checks it with ``onnx.checker``; onnxruntime runs it.
- :func:`load` rebuilds an ONNX graph from nnlab layers: an ``nn.Sequential`` when the graph is a chain of
  layers, else a :class:`GraphModule` that runs the nodes in order. Operators: ``Gemm``, ``MatMul`` (+ ``Add``),
  ``Conv``, ``BatchNormalization``, ``LayerNormalization``, ``Relu``, ``LeakyRelu``, ``Sigmoid``, ``Tanh``,
  ``Softsign``, ``Gelu``, ``MaxPool``, ``AveragePool``, ``GlobalAveragePool``, ``Flatten``, ``Reshape``,
  ``LSTM``, ``RNN``, ``GRU``, ``Gather`` (embeddings), and the shape plumbing torch emits (``Shape``,
  ``Constant``, ``Transpose``, ``Squeeze``, ...). Any other operator raises :class:`UnsupportedOperatorError`
  naming it and its node.

:func:`verify` runs an exported graph with onnxruntime on a data set and compares it with the nnlab model
(largest score difference, argmax agreement). New modules plug in with :func:`register_converter` (export, per
class) and :func:`register_importer` (import, per ONNX op type). onnx and onnxruntime are optional:
``pip install "nnlab[onnx]"``.
"""

from __future__ import annotations

__all__ = ["export", "load", "register_converter", "register_importer", "GraphModule", "GraphBuilder", "Traced",
           "ExportError", "verify", "run_onnx", "model_scores", "OnnxCheck",
           "UnsupportedOperatorError", "OnnxUnavailableError", "require_onnx", "require_onnxruntime",
           "DEFAULT_OPSET"]

from .export import export
from .graph import DEFAULT_OPSET, ExportError, GraphBuilder, Traced, register_converter
from .load import GraphModule, UnsupportedOperatorError, load, register_importer
from .optional import OnnxUnavailableError, require_onnx, require_onnxruntime
from .runtime import OnnxCheck, model_scores, run_onnx, verify
