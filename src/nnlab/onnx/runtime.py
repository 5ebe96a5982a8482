"""Run an exported graph with onnxruntime and compare it with the nnlab model: what ``nnlab export`` reports and
what the acceptance tests check (scores within 1e-4 in float32, identical argmax, on a run's test split).

- :func:`run_onnx` (path or ``ModelProto``, X) -> onnxruntime's scores, computed ``batch_size`` rows at a time.
- :func:`model_scores` (model, X) -> nnlab's evaluation-mode scores the same way (``model.loss(X)`` for the
  CS231n contract, ``module(X)`` in eval mode for a bare ``nn.Module``).
- :func:`verify` -> :class:`OnnxCheck` with the largest absolute difference and the argmax agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..backend import to_numpy
from ..nn import Module
from .optional import require_onnx, require_onnxruntime

__all__ = ["OnnxCheck", "run_onnx", "model_scores", "verify"]


class OnnxCheck(NamedTuple):
    """Result of :func:`verify`: ``max_abs_error`` between onnxruntime's and nnlab's scores, ``argmax_agreement``
    (fraction of rows with the same predicted class), ``samples`` compared, ``opset`` of the graph, and ``ok``
    (error <= atol and every argmax equal)."""

    max_abs_error: float
    argmax_agreement: float
    samples: int
    opset: int
    ok: bool

    def summary(self) -> str:
        return (f"onnxruntime vs nnlab on {self.samples} samples: max |diff| {self.max_abs_error:.3g}, same argmax "
                f"{100 * self.argmax_agreement:.2f} %, opset {self.opset}: {'OK' if self.ok else 'MISMATCH'}")


def _session(model: Any) -> Any:
    ort = require_onnxruntime()
    onnx = require_onnx()
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else Path(model).read_bytes()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _input_dtype(session: Any) -> np.dtype:
    kind = session.get_inputs()[0].type  # e.g. 'tensor(float)', 'tensor(int64)'
    return np.dtype({"tensor(float)": np.float32, "tensor(double)": np.float64,
                     "tensor(int64)": np.int64, "tensor(int32)": np.int32}.get(kind, np.float32))


def run_onnx(model: Any, X: Any, batch_size: int = 256) -> np.ndarray:
    """onnxruntime's output for X (N, ...) from the graph at ``model`` (a path or an ``onnx.ModelProto``)."""
    if int(batch_size) < 1:
        raise ValueError(f"run_onnx: batch_size must be >= 1, got {batch_size!r}")
    session = _session(model)
    name, dtype = session.get_inputs()[0].name, _input_dtype(session)
    X = np.asarray(to_numpy(X))
    outs = [session.run(None, {name: X[i:i + batch_size].astype(dtype)})[0]
            for i in range(0, X.shape[0], int(batch_size))]
    return np.concatenate(outs) if outs else np.zeros((0,))


def model_scores(model: Any, X: Any, batch_size: int = 256) -> np.ndarray:
    """nnlab's evaluation-mode scores for X: ``model.loss(X_batch)`` (CS231n contract, ``Classifier``,
    ``CharRNN``...) or, for an ``nn.Module`` without ``loss``, its eval-mode forward (training flags restored)."""
    X = np.asarray(to_numpy(X))
    if hasattr(model, "loss"):
        fn = model.loss
    elif isinstance(model, Module):
        fn = model
    else:
        raise TypeError(f"model_scores: model must have loss(X) or be an nnlab.nn.Module, got {type(model).__name__}")
    saved = [(m, m.training) for m in model.modules()] if isinstance(model, Module) else []
    if isinstance(model, Module) and not hasattr(model, "loss"):
        model.eval()
    try:
        outs = [np.asarray(to_numpy(fn(X[i:i + batch_size]))) for i in range(0, X.shape[0], int(batch_size))]
    finally:
        for m, mode in saved:
            object.__setattr__(m, "training", mode)
    return np.concatenate(outs)


def verify(model: Any, onnx_model: Any, X: Any, batch_size: int = 256, atol: float = 1e-4) -> OnnxCheck:
    """Compare the graph ``onnx_model`` (path or ``ModelProto``) run by onnxruntime with ``model`` on X."""
    onnx = require_onnx()
    proto = onnx_model if isinstance(onnx_model, onnx.ModelProto) else onnx.load(str(onnx_model))
    ours = model_scores(model, X, batch_size).astype(np.float64)
    theirs = run_onnx(proto, X, batch_size).astype(np.float64)
    if ours.shape != theirs.shape:
        raise ValueError(f"verify: nnlab gives scores of shape {ours.shape}, onnxruntime {theirs.shape}")
    err = float(np.abs(ours - theirs).max()) if ours.size else 0.0
    agree = float((ours.argmax(-1) == theirs.argmax(-1)).mean()) if ours.size else 1.0
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxCheck(err, agree, int(ours.shape[0]), int(opset), err <= atol and agree == 1.0)
