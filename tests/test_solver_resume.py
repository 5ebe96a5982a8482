"""Bit-identical resume on a real network: FullyConnectedNet with dropout (masks from NumPy's global RNG) and batch
norm, an augmentation drawing from its own generator (``rng_sources``), for the sampled and shuffled batch orders.

(a) stop after epoch k: a fresh model and Solver resume from ``_epoch_k.npz`` and end equal to the uninterrupted
    run; (b) a ``KeyboardInterrupt`` in the middle of an epoch (raised by a callback, by the augmentation inside
    the step, or at an epoch end) writes ``_latest.npz`` and re-raises; resuming from it ends equal too.
Final parameters and buffers are compared with ``np.array_equal``.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from nnlab.callbacks import Callback
from nnlab.data import load_digits
from nnlab.io import load_arrays
from nnlab.models import FullyConnectedNet
from nnlab.schedules import OneCycleLR
from nnlab.solver import Solver

NUM_EPOCHS = 3
BATCH = 32


@pytest.fixture(scope="module")
def digits():
    d = load_digits(seed=0)
    return {"X_train": d["X_train"][:250], "y_train": d["y_train"][:250],
            "X_val": d["X_val"][:100], "y_val": d["y_val"][:100]}


def _model() -> FullyConnectedNet:
    # seed=None: dropout masks come from NumPy's global RNG, which the checkpoint must carry.
    return FullyConnectedNet([48, 32], input_dim=64, num_classes=10, dropout=0.2, normalization="batchnorm",
                             weight_scale=0.1, reg=1e-4, dtype=np.float64)


class Jitter:
    """Augmentation: additive noise from its own generator (the runner passes such an RNG in rng_sources)."""

    def __init__(self, seed: int, interrupt_at_call: int | None = None) -> None:
        self.rng = np.random.RandomState(seed)
        self.calls = 0
        self.interrupt_at_call = interrupt_at_call

    def __call__(self, X, y):
        self.calls += 1
        noise = 0.1 * self.rng.randn(*X.shape)  # drawn first: an interrupt below leaves the RNG advanced
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        return X + noise, y


def _options(batch_order: str, jitter: Jitter, **extra):
    return {"update_rule": "adam", "optim_config": {"learning_rate": 2e-3}, "lr_decay": 0.9, "batch_size": BATCH,
            "num_epochs": NUM_EPOCHS, "num_train_samples": 100, "seed": 5, "batch_order": batch_order,
            "batch_transform": jitter, "rng_sources": {"augment": jitter.rng}, "verbose": False,
            "progress": False, **extra}


def _fresh_start(seed: int = 0) -> FullyConnectedNet:
    np.random.seed(seed)
    return _model()


def _uninterrupted(digits, batch_order: str, **extra):
    model = _fresh_start()
    solver = Solver(model, digits, **_options(batch_order, Jitter(3), **extra))
    solver.train()
    assert solver.status == "finished"
    return model, solver


def _assert_same_end(model, solver, ref_model, ref_solver) -> None:
    for k in ref_model.params:
        assert np.array_equal(model.params[k], ref_model.params[k]), k
    ref_buffers = ref_model.buffer_arrays()
    assert ref_buffers and set(model.buffer_arrays()) == set(ref_buffers)
    for k, v in ref_buffers.items():
        assert np.array_equal(model.buffer_arrays()[k], v), k
    assert solver.loss_history == ref_solver.loss_history
    assert solver.val_acc_history == ref_solver.val_acc_history
    assert solver.train_acc_history == ref_solver.train_acc_history
    assert solver.grad_norm_history == ref_solver.grad_norm_history
    assert solver.best_val_acc == ref_solver.best_val_acc


def _resume(path, digits, batch_order: str, **extra):
    """A 'new process': a new model (built after scrambling the global RNG) and a new Solver."""
    np.random.seed(987)
    model = _model()
    np.random.rand(17)
    jitter = Jitter(12345)  # the wrong state on purpose: resume must overwrite it
    solver = Solver.resume(path, model, digits, **_options(batch_order, jitter, **extra))
    solver.train()
    return model, solver


@pytest.mark.parametrize("batch_order", ["sample", "shuffle"])
def test_resume_from_an_epoch_checkpoint_in_a_fresh_solver_is_bit_identical(tmp_path, digits, batch_order):
    ref_model, ref_solver = _uninterrupted(digits, batch_order)
    model = _fresh_start()
    Solver(model, digits, **_options(batch_order, Jitter(3), checkpoint_name=str(tmp_path / "run"))).train()
    np.random.seed(4242)  # whatever happens to the global RNG between the processes
    resumed_model, resumed = _resume(tmp_path / "run_epoch_1.npz", digits, batch_order)
    assert resumed.epoch == NUM_EPOCHS and resumed.status == "finished"
    _assert_same_end(resumed_model, resumed, ref_model, ref_solver)


class InterruptAt(Callback):
    """Raises KeyboardInterrupt from on_iteration_end at iteration ``t`` (as Ctrl-C would surface there)."""

    def __init__(self, t: int) -> None:
        self.t = t

    def on_iteration_end(self, solver, t, loss):
        if t == self.t:
            raise KeyboardInterrupt


class InterruptAtEpochEnd(Callback):
    def on_epoch_end(self, solver, epoch):
        if epoch == 1:
            raise KeyboardInterrupt


def _interrupted(tmp_path, digits, batch_order, callbacks=(), jitter=None, **extra):
    model = _fresh_start()
    jitter = jitter or Jitter(3)
    solver = Solver(model, digits, **_options(batch_order, jitter, checkpoint_name=str(tmp_path / "run"),
                                             callbacks=list(callbacks), **extra))
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    assert solver.status == "stopped" and "interrupted" in solver.stop_reason
    assert solver.interrupt_checkpoint == tmp_path / "run_latest.npz"
    return solver


@pytest.mark.parametrize("batch_order", ["sample", "shuffle"])
@pytest.mark.parametrize("where", ["callback_mid_epoch", "callback_last_iteration_of_epoch", "inside_step",
                                   "epoch_end"])
def test_keyboard_interrupt_mid_epoch_then_resume_is_bit_identical(tmp_path, digits, batch_order, where):
    ref_model, ref_solver = _uninterrupted(digits, batch_order)
    ipe = ref_solver.iterations_per_epoch
    if where == "callback_mid_epoch":
        solver = _interrupted(tmp_path, digits, batch_order, [InterruptAt(ipe + 3)])
        expected_iteration, pending = ipe + 4, True  # raised after the update, before its book-keeping
    elif where == "callback_last_iteration_of_epoch":  # the update is done, the epoch's book-keeping is not
        solver = _interrupted(tmp_path, digits, batch_order, [InterruptAt(2 * ipe - 1)])
        expected_iteration, pending = 2 * ipe, True
    elif where == "inside_step":  # raised by the augmentation of iteration ipe + 5: that step is undone
        # A caller with its own SIGINT handler (Ctrl-C not deferred): the Solver snapshots every RNG per step.
        previous = signal.signal(signal.SIGINT, lambda *a: None)
        try:
            solver = _interrupted(tmp_path, digits, batch_order, jitter=Jitter(3, interrupt_at_call=ipe + 6))
        finally:
            signal.signal(signal.SIGINT, previous)
        expected_iteration, pending = ipe + 5, False
    else:
        solver = _interrupted(tmp_path, digits, batch_order, [InterruptAtEpochEnd()])
        expected_iteration, pending = ipe, False
    _, meta = load_arrays(tmp_path / "run_latest.npz")
    assert meta["iteration"] == expected_iteration == solver.iteration
    assert meta["pending_bookkeeping"] is pending
    resumed_model, resumed = _resume(tmp_path / "run_latest.npz", digits, batch_order)
    assert resumed.status == "finished"
    _assert_same_end(resumed_model, resumed, ref_model, ref_solver)


def test_interrupt_and_resume_with_a_per_iteration_schedule_and_clipping(tmp_path, digits):
    """The schedule's step is the iteration counter; momentum cycling (Adam's beta1) comes back too."""
    extra = {"lr_schedule": OneCycleLR(max_lr=1e-2, total_steps=3 * 8), "grad_clip": 0.5}
    ref_model, ref_solver = _uninterrupted(digits, "shuffle", **extra)
    assert max(ref_solver.grad_norm_history) > 0.5  # clipping was active
    _interrupted(tmp_path, digits, "shuffle", [InterruptAt(10)], **extra)
    resumed_model, resumed = _resume(tmp_path / "run_latest.npz", digits, "shuffle", **extra)
    _assert_same_end(resumed_model, resumed, ref_model, ref_solver)
    cfg, ref_cfg = resumed.optim_configs["W1"], ref_solver.optim_configs["W1"]
    assert cfg["learning_rate"] == ref_cfg["learning_rate"] and cfg["beta1"] == ref_cfg["beta1"]


def test_resume_without_the_rng_sources_is_refused(tmp_path, digits):
    model = _fresh_start()
    Solver(model, digits, **_options("sample", Jitter(3), num_epochs=1, checkpoint_name=str(tmp_path / "r"))).train()
    options = _options("sample", Jitter(3))
    del options["rng_sources"]
    with pytest.raises(ValueError, match=r"rng_sources \['augment'\]; pass the same generators again"):
        Solver.resume(tmp_path / "r_latest.npz", _model(), digits, **options)


def test_interrupt_inside_a_step_with_deferred_ctrl_c_keeps_the_epoch_checkpoint(tmp_path, digits):
    """With Ctrl-C deferred the Solver takes no per-step RNG snapshot; a KeyboardInterrupt raised inside a step
    (by the model or batch_transform, or a second Ctrl-C) leaves the last epoch checkpoint in place."""
    ipe = -(-250 // BATCH)
    model = _fresh_start()
    solver = Solver(model, digits, **_options("shuffle", Jitter(3, interrupt_at_call=ipe + 3),
                                              checkpoint_name=str(tmp_path / "k")))
    with pytest.warns(RuntimeWarning, match="interrupted inside a step .*the last epoch checkpoint stays"):
        with pytest.raises(KeyboardInterrupt):
            solver.train()
    assert solver.status == "stopped" and solver.interrupt_checkpoint is None
    _, meta = load_arrays(tmp_path / "k_latest.npz")
    assert meta["iteration"] == ipe and meta["epoch"] == 1


def test_ctrl_c_is_deferred_to_the_end_of_the_iteration(tmp_path, digits):
    """A real SIGINT during a step only sets a flag: the step finishes, then the checkpoint is written."""
    import os

    class SendSigint:
        def __init__(self):
            self.rng = np.random.RandomState(0)

        def __call__(self, X, y):
            if solver.iteration == 4:
                os.kill(os.getpid(), signal.SIGINT)  # arrives inside the step of iteration 4
            return X, y

    model = _fresh_start()
    solver = Solver(model, digits, **_options("sample", Jitter(3), batch_transform=SendSigint(),
                                              checkpoint_name=str(tmp_path / "s")))
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    assert solver.iteration == 5 and len(solver.loss_history) == 5  # iteration 4 completed
    _, meta = load_arrays(tmp_path / "s_latest.npz")
    assert meta["iteration"] == 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
