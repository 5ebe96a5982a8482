"""Helpers shared by the recipe tests."""

from __future__ import annotations

import contextlib


def one_blas_thread():
    """A context that limits BLAS to one thread (threadpoolctl), or does nothing where threadpoolctl is missing:
    BLAS threads fighting over a loaded CI machine made short trainings several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


class KeepModel:
    """Solver callback keeping the trained model (after the best parameters are restored)."""

    model = None

    def on_train_end(self, solver) -> None:
        self.model = solver.model
