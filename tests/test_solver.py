"""Solver: CS231n semantics (spec seed_004 §5A, §5.7-5.9), divergence guard, checkpoints and resume."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nnlab.callbacks import Callback
from nnlab.io import load_arrays
from nnlab.solver import Solver
from tests.solver_fixtures import NaNAfter, ScriptedCounter, SoftmaxRegression, counter_data, make_blobs

REPO_ROOT = Path(__file__).resolve().parents[1]


def quiet(**kwargs):
    return {"verbose": False, "progress": False, **kwargs}


class Recorder(Callback):
    """Records every hook call, the learning rates at each epoch end and a copy of params after each step."""

    def __init__(self):
        self.events, self.lrs, self.param_snapshots = [], [], []

    def on_train_begin(self, solver):
        self.events.append(("begin",))

    def on_iteration_end(self, solver, t, loss):
        self.events.append(("iter", t))
        self.param_snapshots.append({k: v.copy() for k, v in solver.model.params.items()})

    def on_epoch_end(self, solver, epoch):
        self.events.append(("epoch", epoch))
        self.lrs.append({p: c["learning_rate"] for p, c in solver.optim_configs.items()})

    def on_train_end(self, solver):
        self.events.append(("end",))


# ---------------------------------------------------------------------------------------------------------------
# CS231n semantics
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_train, batch_size, num_epochs, expected_iters, expected_checks", [
    (100, 25, 3, 12, 4),    # 4 iterations per epoch: checks at t=0 + each epoch end
    (50, 25, 20, 40, 21),   # spec: 50/25 -> 40 iterations for 20 epochs
    (100, 50, 15, 30, 16),  # spec: 100/50 -> 30 for 15 epochs
    (30, 7, 2, 8, 3),       # 30 // 7 = 4 per epoch
    (10, 40, 3, 3, 3),      # N < batch_size: max(N // bs, 1) = 1 per epoch; t=0 is also an epoch end
])
def test_solver_iteration_counts_and_history_lengths(n_train, batch_size, num_epochs, expected_iters,
                                                     expected_checks):
    data = make_blobs(n_train=n_train, n_val=10)
    solver = Solver(SoftmaxRegression(5, 3), data, batch_size=batch_size, num_epochs=num_epochs,
                    optim_config={"learning_rate": 0.1}, seed=0, **quiet())
    solver.train()
    assert solver.iterations_per_epoch == max(n_train // batch_size, 1)
    assert solver.num_iterations == expected_iters
    assert len(solver.loss_history) == expected_iters
    assert len(solver.train_acc_history) == expected_checks
    assert len(solver.val_acc_history) == expected_checks
    assert solver.epoch == num_epochs


def test_solver_restores_best_params_when_val_acc_peaks_before_the_end():
    # 2 iterations per epoch, lr 1: w = 1 after t=0, w = 2e after epoch e; val acc is 1 only at w == 4 (epoch 2).
    model = ScriptedCounter(peak=4.0)
    solver = Solver(model, counter_data(), batch_size=2, num_epochs=5, optim_config={"learning_rate": 1.0},
                    seed=0, **quiet())
    solver.train()
    assert solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert solver.best_val_acc == 1.0
    np.testing.assert_array_equal(solver.best_params["w"], [4.0])
    np.testing.assert_array_equal(model.params["w"], [4.0])  # not the final w = 10
    assert solver.check_accuracy(counter_data()["X_val"], counter_data()["y_val"]) == 1.0


def test_solver_lr_decay_applied_to_every_config_each_epoch():
    rec = Recorder()
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), update_rule="sgd_momentum",
                    optim_config={"learning_rate": 0.08, "momentum": 0.9}, lr_decay=0.5, batch_size=10,
                    num_epochs=3, seed=0, callbacks=[rec], **quiet())
    solver.train()
    assert rec.lrs == [{"W": 0.04, "b": 0.04}, {"W": 0.02, "b": 0.02}, {"W": 0.01, "b": 0.01}]
    # one deep copy of optim_config per parameter: separate dicts with their own velocity
    assert solver.optim_configs["W"] is not solver.optim_configs["b"]
    assert solver.optim_configs["W"]["velocity"].shape == (5, 3)
    assert solver.optim_configs["b"]["velocity"].shape == (3,)


def test_solver_lr_schedule_overrides_lr_decay():
    rec = Recorder()
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), optim_config={"learning_rate": 9.0},
                    lr_decay=0.5, lr_schedule=lambda epoch: 0.1 / (1 + epoch), batch_size=20, num_epochs=3,
                    seed=0, callbacks=[rec], **quiet())
    solver.train()
    assert [lr["W"] for lr in rec.lrs] == [0.1 / 2, 0.1 / 3, 0.1 / 4]


def test_solver_print_formats_match_cs231n(capsys):
    data = make_blobs(n_train=20, n_val=10)
    solver = Solver(SoftmaxRegression(5, 3), data, batch_size=10, num_epochs=2, print_every=1,
                    optim_config={"learning_rate": 0.1}, seed=0, progress=False)
    solver.train()
    lines = capsys.readouterr().out.splitlines()
    L, tr, va = solver.loss_history, solver.train_acc_history, solver.val_acc_history
    assert lines == [
        f"(Iteration 1 / 4) loss: {L[0]:f}",
        f"(Epoch 0 / 2) train acc: {tr[0]:f}; val_acc: {va[0]:f}",
        f"(Iteration 2 / 4) loss: {L[1]:f}",
        f"(Epoch 1 / 2) train acc: {tr[1]:f}; val_acc: {va[1]:f}",
        f"(Iteration 3 / 4) loss: {L[2]:f}",
        f"(Iteration 4 / 4) loss: {L[3]:f}",
        f"(Epoch 2 / 2) train acc: {tr[2]:f}; val_acc: {va[2]:f}",
    ]
    assert re.fullmatch(r"\(Iteration 1 / 4\) loss: \d+\.\d{6}", lines[0])


def test_solver_print_every_zero_with_verbose_false_trains_silently(capsys):
    # spec §5.9: Solver(..., print_every=0, verbose=False) must not evaluate t % 0
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), print_every=0, verbose=False,
                    batch_size=10, num_epochs=2, progress=False)
    solver.train()
    assert len(solver.loss_history) == 8
    assert capsys.readouterr().out == ""


def test_solver_print_every_skips_iterations(capsys):
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=100), print_every=10, batch_size=4,
                    num_epochs=1, seed=0, progress=False)
    solver.train()
    iters = [line for line in capsys.readouterr().out.splitlines() if line.startswith("(Iteration")]
    assert [line.split(")")[0] for line in iters] == [f"(Iteration {t} / 25" for t in (1, 11, 21)]


def test_solver_loss_decreases_on_separable_blobs():
    data = make_blobs(n_train=300, n_val=100, spread=0.5, seed=1)
    solver = Solver(SoftmaxRegression(5, 3, seed=1), data, update_rule="sgd", optim_config={"learning_rate": 0.5},
                    batch_size=30, num_epochs=5, seed=1, **quiet())
    solver.train()
    first, last = np.mean(solver.loss_history[:5]), np.mean(solver.loss_history[-5:])
    assert first > 0.9  # near log(3) = 1.0986 at init
    assert last < 0.2 * first
    assert solver.val_acc_history[-1] >= 0.95
    assert solver.best_val_acc >= 0.95


def test_check_accuracy_in_batches_equals_one_shot_prediction():
    data = make_blobs(n_train=53, n_val=10, spread=3.0, seed=2)
    model = SoftmaxRegression(5, 3, weight_scale=1.0, seed=3)
    solver = Solver(model, data, **quiet())
    X, y = data["X_train"], data["y_train"]
    one_shot = float(np.mean(np.argmax(model.loss(X), axis=1) == y))
    assert 0.0 < one_shot < 1.0
    for bs in (1, 7, 53, 100):
        assert solver.check_accuracy(X, y, batch_size=bs) == one_shot
    sub = solver.check_accuracy(X, y, num_samples=20)
    assert sub in {k / 20 for k in range(21)}


def test_solver_float32_model_stays_float32():
    data = make_blobs(n_train=40, dtype=np.float32)
    model = SoftmaxRegression(5, 3, dtype=np.float32)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2}, lr_decay=0.9,
                    lr_schedule=lambda e: np.float64(1e-2), batch_size=10, num_epochs=2, seed=0, **quiet())
    solver.train()
    assert model.params["W"].dtype == np.float32 and model.params["b"].dtype == np.float32
    assert solver.optim_configs["W"]["m"].dtype == np.float32


def test_solver_batch_transform_applies_to_training_minibatches_only():
    calls = []

    def flip_sign(X, y):
        calls.append(X.shape)
        return -X, y

    data = make_blobs(n_train=40, n_val=30)
    solver = Solver(SoftmaxRegression(5, 3), data, batch_transform=flip_sign, batch_size=10, num_epochs=2,
                    num_train_samples=None, seed=0, **quiet())
    solver.train()
    assert calls == [(10, 5)] * 8  # never called on the accuracy checks


def test_solver_callbacks_are_called_in_order():
    rec = Recorder()
    Solver(SoftmaxRegression(5, 3), make_blobs(n_train=30), batch_size=10, num_epochs=2, seed=0,
           callbacks=[rec], **quiet()).train()
    assert rec.events == [("begin",), ("iter", 0), ("iter", 1), ("iter", 2), ("epoch", 1),
                          ("iter", 3), ("iter", 4), ("iter", 5), ("epoch", 2), ("end",)]


def test_solver_progress_bar_shows_live_loss(capsys):
    Solver(SoftmaxRegression(5, 3), make_blobs(n_train=30), batch_size=10, num_epochs=1, seed=0,
           verbose=False, progress=True).train()
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err


# ---------------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------------
def test_solver_rejects_unknown_kwargs():
    with pytest.raises(ValueError, match=r'Unrecognized arguments "learning_rate", "foo" '
                                         r"\('learning_rate': put it in optim_config\)"):
        Solver(SoftmaxRegression(5, 3), make_blobs(), learning_rate=1e-3, foo=1)
    with pytest.raises(ValueError, match=r"Unrecognized arguments \"num_epoch\" \('num_epoch': did you mean "
                                         r"'num_epochs'\?\)"):
        Solver(SoftmaxRegression(5, 3), make_blobs(), num_epoch=3)


def test_solver_rejects_unknown_update_rule():
    with pytest.raises(ValueError, match=r'Invalid update_rule "sgd_typo"'):
        Solver(SoftmaxRegression(5, 3), make_blobs(), update_rule="sgd_typo")


@pytest.mark.parametrize("missing", ["X_train", "y_train", "X_val", "y_val"])
def test_solver_names_a_missing_data_key(missing):
    data = make_blobs()
    del data[missing]
    with pytest.raises(ValueError, match=rf"missing the key\(s\) '{missing}'"):
        Solver(SoftmaxRegression(5, 3), data)


def test_solver_rejects_length_mismatch():
    data = make_blobs(n_train=20)
    data["y_train"] = data["y_train"][:-1]
    with pytest.raises(ValueError, match=r"data\['X_train'\] has 20 samples but data\['y_train'\] has 19"):
        Solver(SoftmaxRegression(5, 3), data)


def test_solver_rejects_bad_batch_size_and_model():
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        Solver(SoftmaxRegression(5, 3), make_blobs(), batch_size=0)
    with pytest.raises(TypeError, match="model must have a dict `params`"):
        Solver(object(), make_blobs())


def test_solver_accepts_update_rule_callable():
    def halve(w, dw, config=None):
        return 0.5 * w, config or {}

    model = SoftmaxRegression(5, 3, weight_scale=1.0)
    w0 = model.params["W"].copy()
    solver = Solver(model, make_blobs(n_train=20), update_rule=halve, batch_size=10, num_epochs=1, **quiet())
    for _ in range(2):
        solver._step()
    np.testing.assert_allclose(model.params["W"], 0.25 * w0)


# ---------------------------------------------------------------------------------------------------------------
# divergence guard and early stopping
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, expected", [("loss", "loss is NaN"), ("grad", "gradient of W contains NaN or inf")])
def test_divergence_guard_stops_on_nan_and_keeps_the_last_good_params(bad, expected):
    """The 7th step fails: the parameters kept are those the 6th step started from, whose loss (the last entry of
    loss_history) passed the guard."""
    rec = Recorder()
    model = NaNAfter(5, 3, nan_at=7, bad=bad)
    solver = Solver(model, make_blobs(n_train=100), optim_config={"learning_rate": 0.1}, batch_size=10,
                    num_epochs=3, seed=0, callbacks=[rec], **quiet())
    with pytest.warns(RuntimeWarning, match=rf"iteration 7 / 30 .*{expected}"):
        solver.train()
    assert solver.diverged and solver.stop_training and solver.status == "diverged"
    assert solver.diverged_iteration == 7
    assert "iteration 7" in solver.stop_reason and expected in solver.stop_reason
    assert "try a smaller learning_rate" in solver.stop_reason
    assert len(solver.loss_history) == 6 and np.all(np.isfinite(solver.loss_history))
    assert len(rec.param_snapshots) == 6
    after_step_5 = rec.param_snapshots[-2]
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], after_step_5[k])
    assert rec.events[-1] == ("end",)


def test_divergence_guard_can_be_turned_off():
    model = NaNAfter(5, 3, nan_at=2)
    solver = Solver(model, make_blobs(n_train=40), batch_size=10, num_epochs=1, seed=0, divergence_guard=False,
                    **quiet())
    solver.train()
    assert np.isnan(solver.loss_history[1]) and len(solver.loss_history) == 4


def test_early_stopping_after_patience_epochs_without_improvement():
    from nnlab.callbacks import EarlyStopping

    stopper = EarlyStopping(patience=2)
    # learning rate 0: accuracy never changes, so epoch 1 sets the reference and epochs 2, 3 do not improve
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), optim_config={"learning_rate": 0.0},
                    batch_size=10, num_epochs=10, seed=0, callbacks=[stopper], **quiet())
    solver.train()
    assert solver.epoch == 3 and stopper.stopped_epoch == 3
    assert len(solver.loss_history) == 12 and len(solver.val_acc_history) == 4
    assert solver.stop_reason.startswith("early stopping at epoch 3")
    assert not solver.diverged


def test_early_stopping_waits_while_val_acc_improves():
    from nnlab.callbacks import EarlyStopping

    # ScriptedCounter: val acc 0, 0, 1 (epoch 2), then 0 forever -> stops at epoch 2 + patience
    stopper = EarlyStopping(patience=2)
    model = ScriptedCounter(peak=4.0)
    solver = Solver(model, counter_data(), batch_size=2, num_epochs=20, optim_config={"learning_rate": 1.0},
                    callbacks=[stopper], seed=0, **quiet())
    solver.train()
    assert solver.epoch == 4 and solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0]
    np.testing.assert_array_equal(model.params["w"], [4.0])  # best params restored after an early stop


def test_early_stopping_rejects_bad_arguments():
    from nnlab.callbacks import EarlyStopping

    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="monitor"):
        EarlyStopping(patience=1, monitor="val_loss")


# ---------------------------------------------------------------------------------------------------------------
# checkpoints and resume
# ---------------------------------------------------------------------------------------------------------------
RUN_SETTINGS = {"update_rule": "adam", "optim_config": {"learning_rate": 5e-2}, "lr_decay": 0.9,
                "batch_size": 20, "num_epochs": 4, "num_train_samples": 50, "seed": 7}


def _problem():
    return SoftmaxRegression(5, 3, seed=4), make_blobs(n_train=100, n_val=40, spread=2.0, seed=5)


def test_checkpoint_files_hold_arrays_without_pickle(tmp_path):
    model, data = _problem()
    name = tmp_path / "ckpt" / "run"
    solver = Solver(model, data, checkpoint_name=str(name), **quiet(**RUN_SETTINGS))
    solver.train()
    for epoch in (1, 2, 3, 4):
        assert (tmp_path / "ckpt" / f"run_epoch_{epoch}.npz").is_file()
    with np.load(tmp_path / "ckpt" / "run_epoch_2.npz", allow_pickle=False) as z:
        keys = set(z.files)
        assert {"params/W", "params/b", "best_params/W", "optim/W/m", "optim/W/v", "optim/b/m",
                "history/loss", "history/train_acc", "history/val_acc", "history/grad_norm", "rng/solver/keys",
                "rng/global/keys"} <= keys
        assert z["history/loss"].shape == (10,) and z["history/val_acc"].shape == (3,)
        assert z["optim/W/m"].dtype == np.float64
    arrays, meta = load_arrays(tmp_path / "ckpt" / "run_latest.npz")
    assert meta["epoch"] == 4 and meta["settings"]["update_rule"] == "adam"
    assert meta["optim_scalars"]["W"]["t"] == 20
    assert meta["optim_scalars"]["W"]["learning_rate"] == pytest.approx(5e-2 * 0.9**4)
    assert not list((tmp_path / "ckpt").glob("*.tmp"))


def test_resume_in_process_with_global_rng_matches_uninterrupted_run(tmp_path):
    settings = {**RUN_SETTINGS, "seed": None, "update_rule": "sgd_momentum", "optim_config": {"learning_rate": 0.05}}
    np.random.seed(0)
    model_a, data = _problem()
    full = Solver(model_a, data, **quiet(**settings))
    full.train()

    np.random.seed(0)
    model_b, _ = _problem()
    Solver(model_b, data, checkpoint_name=str(tmp_path / "g"), **quiet(**{**settings, "num_epochs": 2})).train()
    np.random.seed(12345)  # scramble the global RNG: resume must restore it
    model_c, _ = _problem()
    resumed = Solver.resume(tmp_path / "g_latest.npz", model_c, data, num_epochs=4)
    assert resumed.epoch == 2 and len(resumed.loss_history) == 10
    resumed.train()
    assert resumed.loss_history == full.loss_history
    assert resumed.val_acc_history == full.val_acc_history
    for k in model_a.params:
        np.testing.assert_array_equal(model_c.params[k], model_a.params[k])


_CHILD = textwrap.dedent("""
    import sys, time
    from nnlab.callbacks import Callback
    from nnlab.solver import Solver
    from tests.test_solver import RUN_SETTINGS, _problem

    class HangAfterEpoch2(Callback):
        # Blocks (to be killed) at the end of epoch 2 or in the middle of epoch 3.
        def __init__(self, where):
            self.where = where
        def _hang(self):
            print("READY", flush=True)
            time.sleep(120)
        def on_epoch_end(self, solver, epoch):
            if self.where == "boundary" and epoch == 2:
                self._hang()
        def on_iteration_end(self, solver, t, loss):
            if self.where == "mid_epoch" and t == 12:
                self._hang()

    model, data = _problem()
    Solver(model, data, checkpoint_name=sys.argv[1], callbacks=[HangAfterEpoch2(sys.argv[2])],
           verbose=False, progress=False, **RUN_SETTINGS).train()
""")


@pytest.mark.parametrize("where", ["boundary", "mid_epoch"])
def test_resume_after_sigkill_continues_to_the_same_result(tmp_path, where):
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    name = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), str(name), where], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "READY", proc.stderr.read()
        assert (tmp_path / "killed_epoch_2.npz").is_file()
        assert not (tmp_path / "killed_epoch_3.npz").exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    model_full, data = _problem()
    full = Solver(model_full, data, **quiet(**RUN_SETTINGS))
    full.train()

    model, _ = _problem()
    resumed = Solver.resume(tmp_path / "killed_latest.npz", model, data, verbose=False, progress=False)
    assert resumed.epoch == 2
    assert resumed.loss_history == full.loss_history[:10]
    assert resumed.val_acc_history == full.val_acc_history[:3]
    resumed.train()
    assert resumed.epoch == full.epoch == 4
    assert len(resumed.loss_history) == len(full.loss_history) == 20
    assert len(resumed.val_acc_history) == len(full.val_acc_history) == 5
    assert resumed.loss_history == full.loss_history
    assert resumed.train_acc_history == full.train_acc_history
    assert resumed.best_val_acc == full.best_val_acc
    for k in model.params:
        np.testing.assert_array_equal(model.params[k], model_full.params[k])
    for key in ("m", "v", "t", "learning_rate"):
        np.testing.assert_array_equal(resumed.optim_configs["W"][key], full.optim_configs["W"][key])


def test_resume_float32_keeps_dtype_and_checks_shapes(tmp_path):
    data = make_blobs(n_train=40, dtype=np.float32)
    model = SoftmaxRegression(5, 3, dtype=np.float32)
    Solver(model, data, update_rule="adam", optim_config={"learning_rate": np.float32(0.01)}, lr_decay=0.5,
           batch_size=10, num_epochs=1, checkpoint_name=str(tmp_path / "f"), seed=1, **quiet()).train()
    fresh = SoftmaxRegression(5, 3, dtype=np.float32, seed=9)
    resumed = Solver.resume(tmp_path / "f_latest.npz", fresh, data, num_epochs=2)
    assert fresh.params["W"].dtype == np.float32 and resumed.optim_configs["W"]["m"].dtype == np.float32
    assert isinstance(resumed.optim_configs["W"]["t"], int) and resumed.optim_configs["W"]["t"] == 4
    lr = resumed.optim_configs["W"]["learning_rate"]
    assert type(lr) is np.float32 and lr == np.float32(0.005)  # numpy scalars come back as numpy scalars
    resumed.train()
    assert fresh.params["W"].dtype == np.float32
    with pytest.raises(ValueError, match=r"parameter 'W' has shape \(5, 3\) in the checkpoint but \(5, 4\)"):
        Solver.resume(tmp_path / "f_latest.npz", SoftmaxRegression(5, 4), data)


def test_resume_requires_a_custom_update_rule_again(tmp_path):
    def plain_sgd(w, dw, config=None):
        config = config or {}
        return w - 0.1 * dw, config

    data = make_blobs(n_train=20)
    Solver(SoftmaxRegression(5, 3), data, update_rule=plain_sgd, batch_size=10, num_epochs=1,
           checkpoint_name=str(tmp_path / "c"), **quiet()).train()
    with pytest.raises(ValueError, match="custom update rule 'plain_sgd'; pass update_rule="):
        Solver.resume(tmp_path / "c_latest.npz", SoftmaxRegression(5, 3), data)
    solver = Solver.resume(tmp_path / "c_latest.npz", SoftmaxRegression(5, 3), data, update_rule=plain_sgd)
    assert solver.epoch == 1


def test_resume_rejects_a_foreign_file(tmp_path):
    from nnlab.io import save_arrays

    save_arrays(tmp_path / "other.npz", {"a": np.zeros(2)}, {"hello": 1})
    with pytest.raises(ValueError, match="is not a Solver checkpoint"):
        Solver.resume(tmp_path / "other.npz", SoftmaxRegression(5, 3), make_blobs())


def test_best_params_come_back_with_their_own_buffers():
    """Buffers (e.g. batch-norm running stats) must be restored together with the best weights, or the
    restored weights would be evaluated with statistics from a later epoch."""
    from tests.solver_fixtures import BufferedCounter

    model = BufferedCounter(peak=4.0)
    solver = Solver(model, counter_data(), batch_size=2, num_epochs=5, optim_config={"learning_rate": 1.0},
                    seed=0, **quiet())
    solver.train()
    np.testing.assert_array_equal(model.params["w"], [4.0])
    # stat was recorded during the step that produced w = 4, i.e. at w = 3; the last step saw w = 9.
    np.testing.assert_array_equal(model.stat, [3.0])
    np.testing.assert_array_equal(solver.best_buffers["stat"], [3.0])


def test_checkpoint_latest_only_holds_buffers_and_resume_restores_them(tmp_path):
    from tests.solver_fixtures import BufferedCounter

    name = tmp_path / "run"
    model = BufferedCounter(peak=4.0)
    solver = Solver(model, counter_data(), batch_size=2, num_epochs=2, optim_config={"learning_rate": 1.0},
                    seed=0, checkpoint_name=str(name), checkpoint_per_epoch=False, **quiet())
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_latest.npz"]
    arrays, meta = load_arrays(tmp_path / "run_latest.npz")
    np.testing.assert_array_equal(arrays["buffers/stat"], [3.0])  # last training call saw w = 3
    assert meta["buffer_names"] == ["stat"]

    fresh = BufferedCounter(peak=4.0)
    resumed = Solver.resume(tmp_path / "run_latest.npz", fresh, counter_data(), num_epochs=3)
    np.testing.assert_array_equal(fresh.stat, [3.0])
    resumed.train()
    assert resumed.epoch == 3 and len(resumed.val_acc_history) == 4


# ---------------------------------------------------------------------------------------------------------------
# batch orders
# ---------------------------------------------------------------------------------------------------------------
class RowRecorder:
    """batch_transform that records which training rows each minibatch holds (X rows carry their index)."""

    def __init__(self):
        self.batches = []

    def __call__(self, X, y):
        self.batches.append(X[:, 0].astype(int).tolist())
        return X, y


def _indexed_data(n_train=10):
    data = make_blobs(n_train=n_train, n_val=6)
    data["X_train"][:, 0] = np.arange(n_train)
    return data


class LinearOnRest(SoftmaxRegression):
    def loss(self, X, y=None):
        return super().loss(X * np.r_[0.0, np.ones(X.shape[1] - 1)], y)


@pytest.mark.parametrize("drop_last, ipe, sizes", [(False, 4, [3, 3, 3, 1]), (True, 3, [3, 3, 3])])
def test_shuffle_visits_every_sample_once_per_epoch(drop_last, ipe, sizes):
    rows = RowRecorder()
    solver = Solver(LinearOnRest(5, 3), _indexed_data(10), batch_order="shuffle", drop_last=drop_last, batch_size=3,
                    num_epochs=3, seed=1, batch_transform=rows, **quiet())
    solver.train()
    assert solver.iterations_per_epoch == ipe and len(solver.loss_history) == 3 * ipe
    epochs = [rows.batches[e * ipe:(e + 1) * ipe] for e in range(3)]
    for batches in epochs:
        assert [len(b) for b in batches] == sizes
        flat = [i for b in batches for i in b]
        assert len(set(flat)) == len(flat) == sum(sizes)  # no repeats within an epoch
    assert epochs[0] != epochs[1]  # a fresh permutation each epoch
    perm = np.random.RandomState(1).permutation(10).tolist()  # seed=1: the Solver's own RandomState(1)
    assert [i for b in epochs[0] for i in b] == perm[:sum(sizes)]


def test_sequential_and_cyclic_orders():
    rows = RowRecorder()
    Solver(LinearOnRest(5, 3), _indexed_data(7), batch_order="sequential", batch_size=3, num_epochs=2,
           batch_transform=rows, **quiet()).train()
    assert rows.batches == [[0, 1, 2], [3, 4, 5], [6]] * 2
    rows = RowRecorder()
    solver = Solver(LinearOnRest(5, 3), _indexed_data(7), batch_order="cyclic", batch_size=3, num_epochs=2,
                    batch_transform=rows, **quiet())
    solver.train()  # housing's wrap-around batches: rows 3t .. 3t+2 modulo 7, epochs of 7 // 3 = 2 iterations
    assert rows.batches == [[0, 1, 2], [3, 4, 5], [6, 0, 1], [2, 3, 4]]


def test_batch_order_sample_is_cs231n_and_draws_from_the_seed():
    rows = RowRecorder()
    Solver(LinearOnRest(5, 3), _indexed_data(10), batch_size=4, num_epochs=1, seed=3, batch_transform=rows,
           **quiet()).train()
    rng = np.random.RandomState(3)
    assert rows.batches[0] == rng.choice(10, 4).tolist()


# ---------------------------------------------------------------------------------------------------------------
# gradient clipping and schedules
# ---------------------------------------------------------------------------------------------------------------
def test_grad_clip_limits_the_global_norm_and_records_it():
    rec = Recorder()
    model = SoftmaxRegression(5, 3, weight_scale=1.0)
    solver = Solver(model, make_blobs(n_train=40, spread=3.0), optim_config={"learning_rate": 1.0}, grad_clip=0.05,
                    batch_size=10, num_epochs=2, seed=0, callbacks=[rec], **quiet())
    solver.train()
    assert len(solver.grad_norm_history) == len(solver.loss_history) == 8
    assert solver.last_grad_norm == solver.grad_norm_history[-1]
    assert min(solver.grad_norm_history) > 0.05  # every step was clipped
    snaps = rec.param_snapshots  # snaps[i]: after step i + 1; lr 1, so an update is minus the clipped gradient
    for i, (prev, nxt) in enumerate(zip(snaps, snaps[1:]), start=1):
        step = np.sqrt(sum(np.sum((nxt[k] - prev[k]) ** 2) for k in nxt))
        norm = solver.grad_norm_history[i]
        assert step == pytest.approx(0.05 * norm / (norm + 1e-6), rel=1e-10)  # torch's clip_grad_norm_ factor


def test_grad_norm_is_recorded_without_clipping():
    model = SoftmaxRegression(5, 3)
    data = make_blobs(n_train=10)
    solver = Solver(model, data, batch_size=10, num_epochs=1, batch_order="sequential", **quiet())
    _, grads = SoftmaxRegression(5, 3).loss(data["X_train"], data["y_train"])
    solver.train()
    expected = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    assert solver.grad_norm_history == [pytest.approx(expected, rel=1e-12)]


class LrRecorder(Callback):
    def __init__(self):
        self.lrs, self.momenta = [], []

    def on_iteration_end(self, solver, t, loss):
        config = solver.optim_configs["W"]
        self.lrs.append(config["learning_rate"])
        self.momenta.append(config.get("momentum", config.get("beta1")))


def test_per_iteration_schedule_sets_the_lr_of_every_step():
    from nnlab.schedules import CosineAnnealingLR

    rec = LrRecorder()
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), optim_config={"learning_rate": 0.2},
                    lr_schedule=CosineAnnealingLR(T_max=8, per_iteration=True), lr_decay=0.5, batch_size=10,
                    num_epochs=2, seed=0, callbacks=[rec], **quiet())
    solver.train()
    expected = CosineAnnealingLR(T_max=8, base_lr=0.2)
    assert rec.lrs == [expected.lr_at(t) for t in range(8)]  # lr_decay is replaced by the schedule


def test_per_epoch_schedule_object_and_momentum_cycling():
    from nnlab.schedules import OneCycleLR, StepLR

    rec = LrRecorder()
    Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), optim_config={"learning_rate": 0.1},
           lr_schedule=StepLR(2, 0.1), batch_size=20, num_epochs=4, seed=0, callbacks=[rec], **quiet()).train()
    assert rec.lrs == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])
    rec = LrRecorder()
    cycle = OneCycleLR(max_lr=0.5, total_steps=8)
    Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), update_rule="sgd_momentum", lr_schedule=cycle,
           batch_size=10, num_epochs=2, seed=0, callbacks=[rec], **quiet()).train()
    assert rec.lrs == [cycle.lr_at(t) for t in range(8)]
    assert rec.momenta == [cycle.momentum_at(t) for t in range(8)]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"update_rule": "sgd", "lr_schedule": "OneCycle"}, TypeError, "lr_schedule must be a callable"),
    ({"update_rule": "sgd", "lr_schedule": "one_cycle_sgd"}, ValueError,
     "cycles momentum but update rule 'sgd' has neither 'momentum' nor 'beta1'"),
    ({"update_rule": "adam", "lr_schedule": "one_cycle_short"}, ValueError,
     r"OneCycleLR cannot cover this run \(8 iterations, 2 epochs; stepped per iteration\): OneCycleLR: step 7 is "
     r"past total_steps=5"),
])
def test_schedule_that_cannot_work_is_refused_up_front(kwargs, error, message):
    from nnlab.schedules import OneCycleLR

    named = {"one_cycle_sgd": OneCycleLR(0.1, total_steps=8), "one_cycle_short": OneCycleLR(0.1, total_steps=5)}
    kwargs = {**kwargs, "lr_schedule": named.get(kwargs["lr_schedule"], kwargs["lr_schedule"])}
    with pytest.raises(error, match=message):
        Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), batch_size=10, num_epochs=2, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# option validation (issue 13: no silent nonsense) and status
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_epochs": 0}, ValueError, r"Solver: num_epochs must be an integer >= 1, got 0"),
    ({"num_epochs": -1}, ValueError, r"num_epochs must be an integer >= 1, got -1"),
    ({"num_epochs": 2.0}, ValueError, r"num_epochs must be an integer >= 1, got 2.0"),
    ({"lr_decay": -1}, ValueError, r"Solver: lr_decay must be in \(0, 1\], got -1"),
    ({"lr_decay": 0}, ValueError, r"lr_decay must be in \(0, 1\], got 0"),
    ({"lr_decay": 1.5}, ValueError, r"lr_decay must be in \(0, 1\], got 1.5"),
    ({"lr_decay": "0.9"}, TypeError, r"Solver: lr_decay must be a number, got str '0.9'"),
    ({"seed": -1}, ValueError, r"Solver: seed must be a non-negative integer below 2\*\*32, got -1"),
    ({"seed": "abc"}, TypeError, r"Solver: seed must be a non-negative integer, None or a numpy"),
    ({"seed": 1.5}, TypeError, r"seed must be a non-negative integer, None or a numpy RandomState/Generator, got "
                               r"float 1.5"),
    ({"seed": True}, TypeError, r"seed must be a non-negative integer"),
    ({"optim_config": {"lr": 100}}, ValueError,
     r"Solver: optim_config has the unknown key 'lr' for update rule 'sgd'; did you mean 'learning_rate'\?"),
    ({"update_rule": "adam", "optim_config": {"learning_rate": "1e-3"}}, TypeError,
     r"Solver: optim_config\['learning_rate'\] must be a number, got str '1e-3'"),
    ({"optim_config": {"learning_rate": -0.1}}, ValueError, "Solver: optim_config: sgd: learning_rate must be"),
    ({"optim_config": [("learning_rate", 1)]}, TypeError, "Solver: optim_config must be a dict"),
    ({"batch_order": "random"}, ValueError, r"batch_order must be one of 'sample', 'shuffle', 'sequential'"),
    ({"grad_clip": 0}, ValueError, r"Solver: grad_clip must be a finite number > 0 or None, got 0"),
    ({"grad_clip": "1"}, TypeError, r"Solver: grad_clip must be a number or None, got str"),
    ({"divergence_factor": 1}, ValueError, r"Solver: divergence_factor must be a number > 1 or None"),
    ({"rng_sources": [np.random.RandomState(0)]}, TypeError, r"rng_sources must be a dict name -> RandomState"),
    ({"rng_sources": {"aug": 3}}, TypeError, r"rng_sources\['aug'\] must be a numpy RandomState or Generator"),
    ({"rng_sources": {"a/b": np.random.RandomState(0)}}, ValueError, "names must be non-empty strings"),
    ({"num_train_samples": 0}, ValueError, r"num_train_samples must be an integer >= 1"),
    ({"update_rule": "adamm"}, ValueError, r"Invalid update_rule \"adamm\" \(did you mean 'adam'\?\)"),
])
def test_solver_rejects_nonsense_before_training(kwargs, error, message):
    with pytest.raises(error, match=message):
        Solver(SoftmaxRegression(5, 3), make_blobs(n_train=20), **kwargs)


def test_status_finished_and_stopped():
    from nnlab.callbacks import EarlyStopping

    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=20), batch_size=10, num_epochs=1, **quiet())
    assert solver.status == "new"
    solver.train()
    assert solver.status == "finished" and solver.stop_reason is None and solver.diverged_iteration is None
    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), optim_config={"learning_rate": 0.0},
                    batch_size=10, num_epochs=10, seed=0, callbacks=[EarlyStopping(patience=1)], **quiet())
    solver.train()
    assert solver.status == "stopped" and solver.stop_reason.startswith("early stopping")


def test_keyboard_interrupt_without_checkpoint_name_sets_stopped_and_reraises():
    class Stop(Callback):
        def on_iteration_end(self, solver, t, loss):
            if t == 2:
                raise KeyboardInterrupt

    solver = Solver(SoftmaxRegression(5, 3), make_blobs(n_train=40), batch_size=10, num_epochs=2, seed=0,
                    callbacks=[Stop()], **quiet())
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    assert solver.status == "stopped" and solver.interrupt_checkpoint is None and solver.iteration == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_bar_only_on_a_terminal_by_default(capsys, monkeypatch):
    """progress=None: no bar when stderr is not a terminal (logs stay free of '\\r' lines); progress=True forces
    it, progress=False hides it."""
    for progress, tty, shown in [(None, False, False), (None, True, True), (True, False, True), (False, True, False)]:
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty, raising=False)
        Solver(SoftmaxRegression(5, 3), make_blobs(n_train=30), batch_size=10, num_epochs=1, seed=0,
               verbose=False, progress=progress).train()
        err = capsys.readouterr().err
        assert ("3/3" in err) is shown, (progress, tty, err)


def test_shuffle_order_is_not_moved_by_accuracy_subsamples():
    """int seed: the permutations come from their own RandomState(seed): epoch e's order is its e-th permutation
    whatever the accuracy checks draw (a DataLoader-style loop over RandomState(seed) is reproduced)."""
    orders = []
    for num_train_samples in (None, 5):
        rows = RowRecorder()
        Solver(LinearOnRest(5, 3), _indexed_data(10), batch_order="shuffle", batch_size=5, num_epochs=3, seed=4,
               num_train_samples=num_train_samples, batch_transform=rows, **quiet()).train()
        orders.append(rows.batches)
    rng = np.random.RandomState(4)
    expected = [rng.permutation(10).tolist() for _ in range(3)]
    assert orders[0] == orders[1] == [p[i:i + 5] for p in expected for i in (0, 5)]


def test_keep_best_false_keeps_the_final_parameters():
    model = ScriptedCounter(peak=4.0)  # best val acc at w = 4, final w = 10
    solver = Solver(model, counter_data(), batch_size=2, num_epochs=5, optim_config={"learning_rate": 1.0},
                    keep_best=False, **quiet())
    solver.train()
    assert solver.best_val_acc == 1.0 and solver.best_params["w"][0] == 4.0
    np.testing.assert_array_equal(model.params["w"], [10.0])


def test_iterations_per_epoch_option_for_cyclic_batches():
    rows = RowRecorder()
    solver = Solver(LinearOnRest(5, 3), _indexed_data(7), batch_order="cyclic", batch_size=3, num_epochs=2,
                    iterations_per_epoch=3, batch_transform=rows, **quiet())
    solver.train()
    assert solver.iterations_per_epoch == 3 and solver.num_iterations == 6 and len(solver.val_acc_history) == 3
    assert rows.batches[3] == [2, 3, 4]  # the stream goes on across epochs
    with pytest.raises(ValueError, match="iterations_per_epoch can only be set with batch_order 'sample' or 'cyclic'"):
        Solver(LinearOnRest(5, 3), _indexed_data(7), batch_order="shuffle", iterations_per_epoch=3)
