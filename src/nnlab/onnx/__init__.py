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

from typing import Any

__all__ = ["export", "load", "register_converter", "register_importer", "GraphModule", "GraphBuilder", "Traced",
           "ExportError", "verify", "run_onnx", "model_scores", "OnnxCheck",
           "UnsupportedOperatorError", "OnnxUnavailableError", "require_onnx", "require_onnxruntime",
           "DEFAULT_OPSET"]

_INSTALL_HINT = 'pip install "nnlab[onnx]"'


class OnnxUnavailableError(ImportError):
    """onnx (or onnxruntime) is not installed; the message names the install command."""


def require_onnx() -> Any:
    """Import and return the ``onnx`` package; :class:`OnnxUnavailableError` with the install hint if absent."""
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
        import onnx.shape_inference
    except ImportError as exc:
        raise OnnxUnavailableError(f"ONNX export/import needs the onnx package, which is not installed: "
                                   f"{_INSTALL_HINT}") from exc
    return onnx


def require_onnxruntime() -> Any:
    """Import and return ``onnxruntime``; :class:`OnnxUnavailableError` with the install hint if absent."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxUnavailableError(f"running ONNX graphs needs onnxruntime, which is not installed: "
                                   f"{_INSTALL_HINT}") from exc
    return onnxruntime


from .export import DEFAULT_OPSET, ExportError, GraphBuilder, Traced, export, register_converter  # noqa: E402
from .load import GraphModule, UnsupportedOperatorError, load, register_importer  # noqa: E402
from .runtime import OnnxCheck, model_scores, run_onnx, verify  # noqa: E402
