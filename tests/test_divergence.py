"""The Solver's divergence guard on real networks (no fakes): it fires on the runs of issue 13 and never on sane ones.

Diverging: FullyConnectedNet on the digits with SGD lr 1e3 (no norm), the same with only the kernels' NaN/inf error
to catch (``divergence_factor=None``), Adam lr 1e3 with batch norm (val acc 0.665 -> 0.017 and loss 5.5e6 without
the guard), ``weight_scale=1e6`` (first loss 2.5e12), a ThreeLayerConvNet with lr 1e3; a net whose weights are
wiped after epoch 2 (validation accuracy collapse). Sane: the digits-mlp defaults, a convnet at lr 1e-3.
Each diverged run keeps finite parameters equal to the last good ones and says what to try.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from nnlab.callbacks import Callback
from nnlab.data import load_digits
from nnlab.models import FullyConnectedNet, ThreeLayerConvNet
from nnlab.solver import Solver


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def digit_images(digits):
    return {k: (v.reshape(-1, 1, 8, 8) if k.startswith("X") else v) for k, v in digits.items()}


class Snapshots(Callback):
    """Copies of the parameters at train start and after every update: snapshots[i] = state after i updates;
    buffers[i] = the model's buffers (batch-norm running statistics) then."""

    def __init__(self):
        self.snapshots, self.buffers = [], []

    def _buffers(self, solver):
        return {k: v.copy() for k, v in getattr(solver.model, "buffer_arrays", dict)().items()}

    def on_train_begin(self, solver):
        self.snapshots = [{k: v.copy() for k, v in solver.model.params.items()}]
        self.buffers = [self._buffers(solver)]

    def on_iteration_end(self, solver, t, loss):
        self.snapshots.append({k: v.copy() for k, v in solver.model.params.items()})
        self.buffers.append(self._buffers(solver))


# The blow-up losses below were measured with one machine's BLAS; another BLAS (or thread count) rounds the
# float32 GEMMs differently and, through the explosion, moves the loss in its 3rd-4th digit. They are compared
# within this relative tolerance: far tighter than any change of the model, the update rule or the guard's rule
# would produce (those move the loss by orders of magnitude), loose enough for summation order.
BLOWUP_RTOL = 2e-2


def _stop_loss(solver) -> float:
    """The loss the guard's stop_reason quotes ('the loss 5.541e+07 exceeds ...')."""
    match = re.search(r"the loss (\S+) exceeds", solver.stop_reason)
    assert match, solver.stop_reason
    return float(match.group(1))


def _mlp(weight_scale=0.1, normalization="batchnorm", dropout=0.1):
    np.random.seed(0)
    return FullyConnectedNet([256, 128], input_dim=64, num_classes=10, normalization=normalization,
                             dropout=dropout, reg=1e-4, weight_scale=weight_scale, dtype=np.float32)


def _train(model, data, update_rule="adam", learning_rate=2e-3, num_epochs=10, **extra):
    snaps = Snapshots()
    solver = Solver(model, data, update_rule=update_rule, optim_config={"learning_rate": learning_rate},
                    lr_decay=0.95, num_epochs=num_epochs, batch_size=64, num_train_samples=None, verbose=False,
                    progress=False, seed=0, callbacks=[snaps, *extra.pop("callbacks", [])], **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow warnings of the diverging kernels
        solver.train()
    return solver, snaps.snapshots


def _assert_diverged(solver, snapshots, iteration, reason, hint="smaller learning_rate"):
    assert solver.status == "diverged" and solver.diverged and solver.stop_training
    assert solver.diverged_iteration == iteration
    assert f"diverged at iteration {iteration} /" in solver.stop_reason
    assert reason in solver.stop_reason and hint in solver.stop_reason
    assert len(solver.loss_history) == iteration - 1 and np.all(np.isfinite(solver.loss_history))
    kept = snapshots[max(iteration - 2, 0)]  # the parameters the last good iteration started from
    for k, v in solver.model.params.items():
        assert np.all(np.isfinite(v)), k
        assert np.array_equal(v, kept[k]), k
    for k, v in getattr(solver.model, "buffer_arrays", dict)().items():
        assert np.all(np.isfinite(v)), k


def test_sgd_lr_1e3_without_norm_stops_at_the_blow_up(digits):
    solver, snaps = _train(_mlp(normalization=None), digits, "sgd", 1e3)
    # measured: losses 2.34, 2.1e6, ... -> iteration 2 exceeds 1000 x ln(10)
    _assert_diverged(solver, snaps, 2, "exceeds 1000 x ln(10) = 2303")
    # the kept model still predicts, as the untouched initial network does (kept = the state before iteration 1)
    fresh = _mlp(normalization=None)
    scores = fresh.loss(digits["X_val"])
    expected = float(np.mean(np.argmax(scores, axis=1) == digits["y_val"]))
    assert solver.check_accuracy(digits["X_val"], digits["y_val"]) == expected
    np.testing.assert_array_equal(solver.model.loss(digits["X_val"]), scores)


def test_the_kernels_nan_error_is_caught_as_divergence(digits):
    """Without the finite rule the loss overflows: softmax_loss raises 'x contains NaN or inf' inside model.loss."""
    solver, snaps = _train(_mlp(normalization=None), digits, "sgd", 1e3, divergence_factor=None)
    assert "softmax_loss: x contains NaN or inf" in solver.stop_reason
    _assert_diverged(solver, snaps, solver.diverged_iteration, "forward pass overflowed")
    assert solver.diverged_iteration == 5  # measured: 2.34, 2.1e6, 7.3e16, 2e35, then inf scores


def test_adam_lr_1e3_with_batchnorm_stops_before_val_acc_collapses(digits):
    snaps_cb = Snapshots()
    solver, snaps = _train(_mlp(), digits, "adam", 1e3, callbacks=[snaps_cb])
    _assert_diverged(solver, snaps, 2, "the loss ")
    assert _stop_loss(solver) == pytest.approx(5.541e+07, rel=BLOWUP_RTOL)
    # the batch-norm statistics of the last good forward pass (iteration 1's, recorded after 1 update), not the
    # zeros they started from nor those the rejected iteration 2 wrote
    buffers = solver.model.buffer_arrays()
    assert set(buffers) == set(snaps_cb.buffers[1]) and buffers
    for k, v in buffers.items():
        np.testing.assert_array_equal(v, snaps_cb.buffers[1][k], err_msg=k)
        assert not np.array_equal(v, snaps_cb.buffers[0][k]), k


def test_weight_scale_1e6_is_caught_at_the_first_iteration(digits):
    solver, snaps = _train(_mlp(weight_scale=1e6), digits)
    _assert_diverged(solver, snaps, 1, "the loss ", hint="smaller weight_scale")
    assert _stop_loss(solver) == pytest.approx(2.507e+12, rel=BLOWUP_RTOL)
    solver_nonorm, snaps = _train(_mlp(weight_scale=1e6, normalization=None), digits)
    _assert_diverged(solver_nonorm, snaps, 1, "the loss ", hint="smaller weight_scale")
    assert _stop_loss(solver_nonorm) == pytest.approx(3.891e+20, rel=BLOWUP_RTOL)


def _convnet():
    np.random.seed(0)
    return ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=8, filter_size=3, hidden_dim=32, num_classes=10,
                             weight_scale=1e-2, reg=1e-3, dtype=np.float32)


@pytest.mark.parametrize("rule, iteration, loss", [("adam", 2, 4.604e+11), ("sgd", 3, 2.817e+04)])
def test_convnet_with_a_huge_learning_rate_diverges(digit_images, rule, iteration, loss):
    solver, snaps = _train(_convnet(), digit_images, rule, 1e3, num_epochs=3)
    _assert_diverged(solver, snaps, iteration, "the loss ")
    assert _stop_loss(solver) == pytest.approx(loss, rel=BLOWUP_RTOL)


class WipeWeights(Callback):
    """Sabotage after epoch 2: every weight set to zero, so the net predicts one class from then on."""

    def on_epoch_end(self, solver, epoch):
        if epoch == 2:
            self.kept = {k: v.copy() for k, v in solver.model.params.items()}
            for k in solver.model.params:
                if k.startswith("W"):
                    solver.model.params[k] = np.zeros_like(solver.model.params[k])


def test_validation_accuracy_collapse_restores_the_last_healthy_check(digits):
    wipe = WipeWeights()
    solver, _ = _train(_mlp(normalization=None, dropout=0.0), digits, num_epochs=5, callbacks=[wipe])
    assert solver.status == "diverged" and solver.val_acc_history[-2] > 0.9
    assert "validation accuracy collapsed" in solver.stop_reason
    assert solver.diverged_iteration == 3 * solver.iterations_per_epoch
    for k, v in solver.model.params.items():
        np.testing.assert_array_equal(v, wipe.kept[k])


def test_guard_never_fires_on_a_short_default_digits_run(digits):
    solver, _ = _train(_mlp(), digits, num_epochs=4)
    assert solver.status == "finished" and solver.stop_reason is None and solver.diverged_iteration is None
    assert max(solver.loss_history) < 1.2 * np.log(10) and solver.best_val_acc > 0.95


@pytest.mark.slow
def test_guard_never_fires_on_the_digits_mlp_defaults(digits):
    """digits-mlp's default settings (30 epochs): measured max loss 2.66 (first iteration), val 0.989."""
    solver, _ = _train(_mlp(), digits, num_epochs=30)
    assert solver.status == "finished" and solver.best_val_acc > 0.97


def test_guard_never_fires_on_a_convnet_at_a_sane_learning_rate(digit_images):
    solver, _ = _train(_convnet(), digit_images, "adam", 1e-3, num_epochs=5)
    assert solver.status == "finished" and solver.val_acc_history[-1] > 0.4


def test_divergence_guard_off_lets_the_error_through(digits):
    with pytest.raises(ValueError, match="contains NaN or inf"):
        _train(_mlp(normalization=None), digits, "sgd", 1e3, divergence_guard=False)
