"""Optional dependencies (onnx, onnxruntime, tensorboardX, mlflow, codecarbon): :func:`require` imports one or
raises the caller's error naming the install command, so a missing extra is one line, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["require"]


def require(modules: Sequence[str], error: type[ImportError], purpose: str, package: str, hint: str) -> Any:
    """Import ``modules`` (e.g. ``("onnx", "onnx.checker")``) and return the first one.

    Parameters
    ----------
    modules : the module names to import, the package first.
    error : the :class:`ImportError` subclass to raise when any of them is missing.
    purpose, package, hint : the message, ``"{purpose} needs {package}, which is not installed: {hint}"``
        (e.g. ``"MLflow logging"``, ``"mlflow-skinny"``, ``'pip install "nnlab[tracking]"'``).

    Returns
    -------
    The module ``modules[0]``.
    """
    try:
        for name in modules:
            __import__(name)  # through builtins.__import__, as an import statement would
    except ImportError as exc:
        raise error(f"{purpose} needs {package}, which is not installed: {hint}") from exc
    return sys.modules[modules[0]]
