"""onnx and onnxruntime are optional dependencies: :func:`require_onnx` / :func:`require_onnxruntime` import
them or raise :class:`OnnxUnavailableError` naming the install command. The lowest module of :mod:`nnlab.onnx`
(everything else imports it; it imports nothing of nnlab)."""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxUnavailableError", "require_onnx", "require_onnxruntime"]

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
