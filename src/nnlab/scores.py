"""Scoring a model in batches: the one place the runner, the recipes' ``score`` hooks and reloaded runs
(:meth:`nnlab.runs.Run.evaluate`) turn inputs into class scores, so every figure is computed the same way.

It needs only the model contract (``model.loss(X)`` returns scores), so it sits beside the Solver, below the
recipes and the run format that use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["predict_scores", "PREDICT_BATCH"]

PREDICT_BATCH = 500


def predict_scores(model: Any, X: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """``model.loss(X)`` in batches of ``batch_size`` rows (test mode), concatenated: (N, C) scores. The runner
    and :meth:`Run.evaluate` both score through this, so a reloaded run reproduces its figures exactly."""
    if len(X) == 0:
        raise ValueError("predict: X is empty")
    return np.concatenate([np.asarray(model.loss(X[i:i + batch_size])) for i in range(0, len(X), batch_size)])
