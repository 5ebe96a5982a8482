"""onnx and onnxruntime are optional dependencies: :func:`require_onnx` / :func:`require_onnxruntime` import
them or raise :class:`OnnxUnavailableError` naming the install command (through :func:`nnlab.optional.require`).
The lowest module of :mod:`nnlab.onnx` (everything else imports it)."""

from __future__ import annotations

from typing import Any

from ..optional import require

__all__ = ["OnnxUnavailableError", "require_onnx", "require_onnxruntime"]

_INSTALL_HINT = 'pip install "nnlab[onnx]"'


class OnnxUnavailableError(ImportError):
    """onnx (or onnxruntime) is not installed; the message names the install command."""


def require_onnx() -> Any:
    """Import and return the ``onnx`` package; :class:`OnnxUnavailableError` with the install hint if absent."""
    return require(("onnx", "onnx.checker", "onnx.helper", "onnx.numpy_helper", "onnx.shape_inference"),
                   OnnxUnavailableError, "ONNX export/import", "the onnx package", _INSTALL_HINT)


def require_onnxruntime() -> Any:
    """Import and return ``onnxruntime``; :class:`OnnxUnavailableError` with the install hint if absent."""
    return require(("onnxruntime",), OnnxUnavailableError, "running ONNX graphs", "onnxruntime", _INSTALL_HINT)
