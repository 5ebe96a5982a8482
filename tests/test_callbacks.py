"""nnlab.callbacks: EarlyStopping on the real Solver (a model whose validation accuracy and training loss follow
a script, so the stopping epoch is known in advance, and a real softmax regression), the base Callback's hooks
changing nothing, and the History JSON writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnlab.callbacks import Callback, EarlyStopping, History
from nnlab.solver import Solver
from tests.solver_fixtures import SoftmaxRegression, make_blobs

IPE = 2  # iterations per epoch of the scripted runs (2 training rows, batch 1, sequential order)
N_VAL = 1000


class EpochScript:
    """A model with the Solver's contract whose figures follow a script, trained by the real Solver.

    params {"w": (1,)}; the gradient is always -1, so SGD with learning rate 1 makes ``w`` the number of completed
    iterations. Validation rows are ``x = 0 .. N_VAL - 1`` with label 1; class 1 is predicted where
    ``x < val_accs[e] * N_VAL``, so the accuracy check that ends epoch ``e + 1`` (w = (e + 1) * IPE) reads exactly
    ``val_accs[e]``. The two training losses of epoch ``e + 1`` are ``losses[e]`` (a pair, or one number twice).
    """

    def __init__(self, val_accs=(0.5,), losses=(1.0,)):
        self.params = {"w": np.zeros(1)}
        self.val_accs, self.losses = list(val_accs), list(losses)

    def _completed(self) -> int:
        return int(round(float(self.params["w"][0])))

    def loss(self, X, y=None):
        done = self._completed()
        if y is None:
            acc = self.val_accs[min(max(done // IPE - 1, 0), len(self.val_accs) - 1)]
            scores = np.zeros((X.shape[0], 2))
            scores[:, 1] = np.where(X[:, 0] < acc * N_VAL, 1.0, -1.0)
            return scores
        pair = self.losses[min(done // IPE, len(self.losses) - 1)]
        pair = pair if isinstance(pair, tuple) else (pair, pair)
        return pair[done % IPE], {"w": -np.ones(1)}


def _script_data():
    return {"X_train": np.full((IPE, 1), float(N_VAL)), "y_train": np.ones(IPE, dtype=np.int64),
            "X_val": np.arange(N_VAL, dtype=np.float64)[:, None], "y_val": np.ones(N_VAL, dtype=np.int64)}


def _run(cb, val_accs=(0.5,), losses=(1.0,), num_epochs=None, callbacks=None):
    """Train an EpochScript through the real Solver with ``cb``; return the solver."""
    num_epochs = num_epochs or max(len(val_accs), len(losses))
    solver = Solver(EpochScript(val_accs, losses), _script_data(), update_rule="sgd",
                    optim_config={"learning_rate": 1.0}, batch_size=1, batch_order="sequential",
                    num_epochs=num_epochs, num_train_samples=None, verbose=False, progress=False, seed=0,
                    divergence_guard=False, callbacks=[cb] if callbacks is None else callbacks)
    solver.train()
    return solver


def _stopped_at(solver):
    """The epoch at which training stopped early (None when it ran to the end), checked against the Solver."""
    if solver.status != "stopped":
        assert solver.status == "finished" and solver.stop_reason is None
        return None
    assert solver.stop_training and solver.iteration == solver.epoch * IPE == len(solver.loss_history)
    return solver.epoch


def test_early_stopping_counts_epochs_without_improvement():
    assert _stopped_at(_run(EarlyStopping(patience=2), [0.3, 0.3, 0.3, 0.9])) == 3
    assert _stopped_at(_run(EarlyStopping(patience=2), [0.3, 0.4, 0.4, 0.5, 0.5, 0.5, 0.9])) == 6
    assert _stopped_at(_run(EarlyStopping(patience=3), [0.5, 0.4, 0.6, 0.5, 0.4, 0.3, 0.9])) == 6
    solver = _run(EarlyStopping(patience=1), [0.1, 0.2, 0.3])
    assert _stopped_at(solver) is None and solver.epoch == 3


def test_early_stopping_ends_the_run_with_the_best_parameters_and_its_reason():
    cb = EarlyStopping(patience=2)
    solver = _run(cb, [0.3, 0.8, 0.6, 0.7, 0.9, 0.9])
    assert _stopped_at(solver) == 4 and cb.stopped_epoch == 4
    assert solver.val_acc_history[1:] == [0.3, 0.8, 0.6, 0.7]  # one check per epoch end after the first iteration
    assert solver.stop_reason == ("early stopping at epoch 4: val_acc has not improved on 0.800000 for 2 epochs "
                                  "(patience 2, min_delta 0)")
    assert solver.best_val_acc == 0.8
    np.testing.assert_array_equal(solver.model.params["w"], [2 * IPE])  # the Solver restored epoch 2's w


def test_early_stopping_min_delta_requires_a_real_improvement():
    # +0.005 per epoch is not more than min_delta=0.01: stop after patience epochs
    solver = _run(EarlyStopping(patience=2, min_delta=0.01), [0.5, 0.505, 0.509, 0.515])
    assert _stopped_at(solver) == 3 and "has not improved on 0.500000 for 2 epochs" in solver.stop_reason


def test_early_stopping_on_loss_uses_mean_epoch_loss_and_lower_is_better():
    # epoch means 2.0, 1.5, 1.0, 1.2: stop at 4 (the last losses alone, 2.0, 1.5, 1.1, 0.9, always improve)
    losses = [2.0, 1.5, (0.9, 1.1), (1.5, 0.9)]
    assert _stopped_at(_run(EarlyStopping(patience=1, monitor="loss"), losses=losses)) == 4
    # epoch means 2.0, 1.5, 1.0, 0.9: no stop (the last losses alone, ..., 1.0, 1.3, would stop at 4)
    losses = [2.0, 1.5, 1.0, (0.5, 1.3)]
    assert _stopped_at(_run(EarlyStopping(patience=1, monitor="loss"), losses=losses)) is None


def test_early_stopping_resets_on_train_begin():
    cb = EarlyStopping(patience=1)
    assert _stopped_at(_run(cb, [0.9, 0.1])) == 2
    assert _stopped_at(_run(cb, [0.2, 0.3])) is None  # the 0.9 of the previous run is forgotten


def test_early_stopping_stops_a_real_model_whose_validation_accuracy_plateaus():
    """Softmax regression on separable blobs reaches validation accuracy 1.0 at epoch 2 (59/60 after epoch 1) and
    cannot improve on it: patience 2 stops it at epoch 4 of 20."""
    data = make_blobs(n_train=40)
    cb = EarlyStopping(patience=2)
    solver = Solver(SoftmaxRegression(5, 3), data, batch_size=10, num_epochs=20, seed=0,
                    optim_config={"learning_rate": 0.5}, callbacks=[cb], verbose=False, progress=False)
    solver.train()
    assert solver.val_acc_history[1:] == [59 / 60, 1.0, 1.0, 1.0]
    assert solver.status == "stopped" and cb.stopped_epoch == solver.epoch == 4
    assert solver.iteration == 4 * solver.iterations_per_epoch == len(solver.loss_history)


def test_callback_base_hooks_change_nothing():
    """A run with the base Callback is the run without it: same losses, checks and parameters, bit for bit."""
    def run(callbacks):
        solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), batch_size=10, num_epochs=2, seed=0,
                        optim_config={"learning_rate": 0.1}, callbacks=callbacks, verbose=False, progress=False)
        solver.train()
        return solver

    with_cb, without = run([Callback()]), run([])
    assert with_cb.status == without.status == "finished" and not with_cb.stop_training
    assert with_cb.loss_history == without.loss_history and len(with_cb.loss_history) == 8
    assert with_cb.val_acc_history == without.val_acc_history
    assert with_cb.train_acc_history == without.train_acc_history
    for k in without.model.params:
        np.testing.assert_array_equal(with_cb.model.params[k], without.model.params[k])
    cb, s = Callback(), with_cb
    assert [cb.on_train_begin(s), cb.on_iteration_end(s, 0, 1.0), cb.on_epoch_end(s, 1), cb.on_train_end(s)] == [
        None] * 4


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
