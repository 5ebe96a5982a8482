"""nnlab.callbacks: EarlyStopping logic on a fake solver, and the History JSON writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.callbacks import Callback, EarlyStopping, History
from nnlab.solver import Solver
from tests.solver_fixtures import SoftmaxRegression, make_blobs


class FakeSolver:
    def __init__(self):
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []
        self.iterations_per_epoch = 2
        self.stop_training, self.stop_reason = False, None


def _feed(cb, values, monitor="val_acc"):
    """Feed one value per epoch; return the epoch at which the callback stopped training (or None)."""
    s = FakeSolver()
    cb.on_train_begin(s)
    for epoch, v in enumerate(values, start=1):
        if monitor == "loss":
            s.loss_history += [v, v]
        else:
            s.val_acc_history.append(v)
            s.train_acc_history.append(v)
        cb.on_epoch_end(s, epoch)
        if s.stop_training:
            return epoch, s.stop_reason
    return None, None


def test_early_stopping_counts_epochs_without_improvement():
    assert _feed(EarlyStopping(patience=2), [0.3, 0.3, 0.3, 0.9])[0] == 3
    assert _feed(EarlyStopping(patience=2), [0.3, 0.4, 0.4, 0.5, 0.5, 0.5])[0] == 6
    assert _feed(EarlyStopping(patience=3), [0.5, 0.4, 0.6, 0.5, 0.4, 0.3])[0] == 6
    assert _feed(EarlyStopping(patience=1), [0.1, 0.2, 0.3])[0] is None


def test_early_stopping_min_delta_requires_a_real_improvement():
    # +0.005 per epoch is not more than min_delta=0.01: stop after patience epochs
    epoch, reason = _feed(EarlyStopping(patience=2, min_delta=0.01), [0.5, 0.505, 0.509, 0.515])
    assert epoch == 3 and "has not improved on 0.500000 for 2 epochs" in reason


def test_early_stopping_on_loss_uses_mean_epoch_loss_and_lower_is_better():
    assert _feed(EarlyStopping(patience=1, monitor="loss"), [2.0, 1.5, 1.0, 1.2], monitor="loss")[0] == 4
    assert _feed(EarlyStopping(patience=1, monitor="loss"), [2.0, 1.5, 1.0, 0.9], monitor="loss")[0] is None


def test_early_stopping_resets_on_train_begin():
    cb = EarlyStopping(patience=1)
    assert _feed(cb, [0.9, 0.1])[0] == 2
    assert _feed(cb, [0.2, 0.3])[0] is None  # the 0.9 of the previous run is forgotten


def test_callback_base_hooks_are_noops():
    cb, s = Callback(), FakeSolver()
    cb.on_train_begin(s)
    cb.on_iteration_end(s, 0, 1.0)
    cb.on_epoch_end(s, 1)
    cb.on_train_end(s)
    assert not s.stop_training


def test_history_callback_writes_solver_histories_as_json(tmp_path):
    path = tmp_path / "hist.json"
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), batch_size=10, num_epochs=2, seed=0,
                    optim_config={"learning_rate": 0.1}, callbacks=[History(path)], verbose=False,
                    progress=False)
    solver.train()
    record = json.loads(path.read_text())
    assert record["loss_history"] == solver.loss_history
    assert record["val_acc_history"] == solver.val_acc_history
    assert record["train_acc_history"] == solver.train_acc_history
    assert record["epoch"] == 2 and record["best_val_acc"] == pytest.approx(solver.best_val_acc)
    assert len(record["loss_history"]) == 8 and np.all(np.isfinite(record["loss_history"]))
    assert record["grad_norm_history"] == solver.grad_norm_history and len(record["grad_norm_history"]) == 8
    assert record["status"] == "finished" and record["stop_reason"] is None
