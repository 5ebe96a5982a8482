"""Solver callbacks: hooks called by :class:`nnlab.solver.Solver` during ``train()``.

Protocol (every method optional; :class:`Callback` provides no-op defaults):

- ``on_train_begin(solver)``: before the first iteration (also when a resumed run starts).
- ``on_iteration_end(solver, t, loss)``: after the update of iteration ``t`` (0-based) with its loss.
- ``on_epoch_end(solver, epoch)``: after the accuracy check (and checkpoint) that ends epoch ``epoch`` (1-based).
- ``on_train_end(solver)``: once, after the loop (also when training was stopped early).

A callback stops training by setting ``solver.stop_training = True`` and a human-readable ``solver.stop_reason``.
What tracking callbacks can read at each hook: ``solver.loss_history``, ``solver.grad_norm_history`` /
``solver.last_grad_norm`` (global gradient norm of each step, before clipping), the learning rate in
``solver.optim_configs[name]['learning_rate']``, ``solver.iteration`` (completed steps), ``solver.epoch`` and, in
``on_train_end``, ``solver.status`` ('finished', 'stopped' or 'diverged') with ``solver.stop_reason``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from .io import atomic_write_bytes

__all__ = ["Callback", "EarlyStopping", "History", "TimeBudget"]


class Callback:
    """Base class with no-op hooks; subclass and override the ones you need."""

    def on_train_begin(self, solver: Any) -> None:
        """Called before the first iteration."""

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        """Called after iteration ``t`` (0-based) with its training loss."""

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        """Called after the accuracy check that ends ``epoch`` (1-based)."""

    def on_train_end(self, solver: Any) -> None:
        """Called once after the training loop."""


_MONITORS = {"val_acc": ("val_acc_history", "max"), "train_acc": ("train_acc_history", "max"),
             "loss": ("loss_history", "min")}


class EarlyStopping(Callback):
    """Stop when the monitored quantity has not improved for ``patience`` consecutive epochs.

    Parameters
    ----------
    patience : number of epoch ends without improvement after which training stops (>= 1).
    min_delta : an epoch improves only if it beats the best so far by more than ``min_delta`` (>= 0).
    monitor : ``'val_acc'`` or ``'train_acc'`` (higher is better, last accuracy check of the epoch) or
        ``'loss'`` (lower is better, mean training loss over the epoch's iterations).

    The first epoch end always sets the reference value, so a run whose metric never improves stops after
    ``patience + 1`` epochs (as Keras' EarlyStopping). The Solver then restores its best parameters as usual.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, monitor: str = "val_acc") -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 1, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0 and math.isfinite(min_delta)):
            raise ValueError(f"EarlyStopping: min_delta must be a finite number >= 0, got {min_delta!r}")
        if monitor not in _MONITORS:
            raise ValueError(f"EarlyStopping: monitor must be one of {sorted(_MONITORS)}, got {monitor!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.monitor = monitor
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, solver: Any) -> None:
        self.best, self.wait, self.stopped_epoch = None, 0, None

    def _current(self, solver: Any) -> float:
        attr, _ = _MONITORS[self.monitor]
        history = getattr(solver, attr)
        if self.monitor != "loss":
            return float(history[-1])
        n = getattr(solver, "iterations_per_epoch", 1)
        last = history[-n:]
        return float(sum(last) / len(last))

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        value = self._current(solver)
        sign = 1.0 if _MONITORS[self.monitor][1] == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            solver.stop_training = True
            solver.stop_reason = (
                f"early stopping at epoch {epoch}: {self.monitor} has not improved on {self.best:.6f} "
                f"for {self.wait} epochs (patience {self.patience}, min_delta {self.min_delta:g})"
            )


class History(Callback):
    """Write the Solver's histories as JSON to ``path`` (atomically) at every epoch end and at the end.

    The file holds ``loss_history``, ``grad_norm_history``, ``train_acc_history``, ``val_acc_history``,
    ``epoch``, ``best_val_acc``, ``status`` and ``stop_reason``, for dashboards or later plotting with
    :func:`nnlab.viz.plot_training_curves`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def _write(self, solver: Any) -> None:
        record = {
            "loss_history": [float(x) for x in solver.loss_history],
            "grad_norm_history": [float(x) for x in getattr(solver, "grad_norm_history", [])],
            "train_acc_history": [float(x) for x in solver.train_acc_history],
            "val_acc_history": [float(x) for x in solver.val_acc_history],
            "epoch": int(solver.epoch),
            "best_val_acc": float(solver.best_val_acc),
            "status": getattr(solver, "status", None),
            "stop_reason": getattr(solver, "stop_reason", None),
        }
        atomic_write_bytes(self.path, json.dumps(record).encode("utf-8"))

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self._write(solver)

    def on_train_end(self, solver: Any) -> None:
        self._write(solver)


class TimeBudget(Callback):
    """Stop at the end of the last epoch that fits in ``budget_s`` seconds of training.

    At every epoch end, with ``elapsed`` the seconds since ``on_train_begin`` and ``last`` the duration of the
    epoch that just ended (accuracy check included), training stops when ``elapsed + last > budget_s``: the next
    epoch, if it takes as long as this one, would end past the budget. So a run ends on an epoch boundary, after
    at most about ``budget_s`` seconds (never before its first epoch ends). ``stopped_epoch`` records where.
    Wall-clock time makes the stopping epoch depend on the machine's load; the figures of a stopped run are those
    of a run of ``stopped_epoch`` epochs (schedules keep the run's full ``num_epochs`` length).
    """

    def __init__(self, budget_s: float) -> None:
        if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not (
                math.isfinite(budget_s) and budget_s > 0):
            raise ValueError(f"TimeBudget: budget_s must be a finite number of seconds > 0, got {budget_s!r}")
        self.budget_s = float(budget_s)
        self.stopped_epoch: int | None = None
        self._start = self._last = 0.0

    def on_train_begin(self, solver: Any) -> None:
        self._start = self._last = time.perf_counter()
        self.stopped_epoch = None

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        now = time.perf_counter()
        last, self._last = now - self._last, now
        elapsed = now - self._start
        if elapsed + last > self.budget_s and epoch < getattr(solver, "num_epochs", epoch + 1):
            self.stopped_epoch = epoch
            solver.stop_training = True
            solver.stop_reason = (f"time budget: {elapsed:.0f} s after epoch {epoch}; another epoch of ~{last:.0f} s "
                                  f"would pass budget_s={self.budget_s:g}")
