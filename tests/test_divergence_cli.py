"""Runs that blow up fail well, on real models, through the real ``nnlab`` command (a separate process, so that
what a user sees on stderr is what is checked: warnings included).

Each diverging case asserts: exit status 3; exactly one line on stderr saying what diverged and what to try; no
traceback; a run folder whose ``model.npz`` holds finite weights **equal** to a state the model really had at or
before the diverged iteration (the same settings are trained in-process through :func:`nnlab.runner.train` with a
callback that records ``model.params`` and the buffers before the first and after every applied iteration);
``metrics.json`` with ``status: "diverged"``, a reason and ``diverged_iteration``; ``nnlab evaluate RUN`` exits 0
and reproduces ``metrics.json``'s test figure; ``nnlab runs`` shows ``diverged``. Sane settings never trip the guard.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnlab import runner
from nnlab.io import load_arrays
from nnlab.threads import get_num_threads
from tests.cli_helpers import nnlab, require_recipe

DIVERGE_SGD = ["--set", "learning_rate=1e3", "--set", "update_rule=sgd", "--set", "normalization=None"]
DIVERGE_ADAM_BN = ["--set", "learning_rate=1e3"]  # Adam + batch norm: a finite blow-up (loss ~5e7)
DIVERGE_INIT = ["--set", "weight_scale=1e6"]  # the initial loss is already ~1e12
DIVERGE_INIT_INF = ["--set", "weight_scale=1e30"]  # the first forward pass overflows float32 (loss inf)
# Adam lr 5: finite losses, but validation accuracy falls to chance (0.10). Where it lands depends on the BLAS's
# rounding: measured 0.70 -> 0.46 -> 0.24 -> 0.15 -> 0.045 (collapse at epoch 5) on one machine, 0.69 -> 0.49 ->
# 0.22 -> 0.30 -> 0.16 -> 0.10 (epoch 6) on another; 6 epochs catch both.
DIVERGE_COLLAPSE = ["--set", "learning_rate=5", "--set", "num_epochs=6"]


def only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def settings_of(extra: list[str]) -> dict[str, str]:
    """The ``--set`` pairs of an argument list, as text (typed by the recipe like the CLI does)."""
    return dict(extra[i + 1].split("=", 1) for i, a in enumerate(extra) if a == "--set")


class StateRecorder:
    """Solver callback: copies of ``model.params`` and the model's buffers before the first iteration and after
    every applied one (``states[k]`` = the state after ``k`` iterations), and the iteration count at each
    healthy epoch end (``epoch_ends``; a collapsed check calls no ``on_epoch_end``)."""

    def __init__(self) -> None:
        self.states: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []
        self.epoch_ends: list[int] = []

    def _record(self, solver: Any) -> None:
        model = solver.model
        hook = getattr(model, "buffer_arrays", None)
        buffers = hook() if callable(hook) else {}
        self.states.append(({k: np.array(v, copy=True) for k, v in model.params.items()},
                            {k: np.array(v, copy=True) for k, v in buffers.items()}))

    def on_train_begin(self, solver: Any) -> None:
        self._record(solver)

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        self._record(solver)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self.epoch_ends.append(solver.iteration)


def saved_state(run_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    arrays, _ = load_arrays(run_dir / "model.npz")
    params = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
    buffers = {k[len("buffers/"):]: v for k, v in arrays.items() if k.startswith("buffers/")}
    return params, buffers


def matching_states(saved: dict[str, np.ndarray], states: list[dict[str, np.ndarray]]) -> list[int]:
    """Indices k of the recorded states equal (bit for bit, same names) to the saved arrays."""
    return [k for k, state in enumerate(states)
            if set(state) == set(saved) and all(np.array_equal(state[n], saved[n]) for n in state)]


def buffer_differences(saved: dict[str, np.ndarray], kept: dict[str, np.ndarray]) -> str:
    """What differs between the saved buffers and those of the kept state, for a failure message."""
    names = sorted(set(saved) | set(kept))
    return "; ".join(f"{n}: saved max|.| {np.abs(saved[n]).max():.4g}" if n not in kept else
                     f"{n}: missing from model.npz" if n not in saved else
                     f"{n}: max diff {np.abs(saved[n] - kept[n]).max():.4g}" for n in names
                     if n not in saved or n not in kept or not np.array_equal(saved[n], kept[n]))


def check_diverged_run(recipe: str, extra: list[str], hint: str, tmp_path: Path) -> dict[str, Any]:
    """The whole contract of a diverging ``nnlab train RECIPE EXTRA``; returns its metrics."""
    root = tmp_path / "runs"
    proc = nnlab("train", recipe, *extra, "--out", str(root), cwd=tmp_path)
    err = proc.stderr
    assert proc.returncode == 3, f"exit {proc.returncode}\nstderr:\n{err}\nstdout:\n{proc.stdout[-2000:]}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    line = lines[0]
    assert "diverged" in line, line
    assert f"smaller {hint}" in line, line
    other = {"learning_rate": "weight_scale", "weight_scale": "learning_rate"}[hint]
    assert f"smaller {other}" not in line, f"the advice contradicts itself: {line}"

    run_dir = only_run(root)
    assert str(run_dir.name) in line, line
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged", metrics
    assert metrics.get("reason"), metrics
    it = metrics["diverged_iteration"]
    assert isinstance(it, int) and it >= 1, metrics
    assert metrics["iterations"] == len(metrics["loss_history"]) <= it, metrics  # (= it: a collapse at a check)
    if metrics["iterations"]:  # the plots up to that point
        assert (run_dir / "curves.png").stat().st_size > 0

    saved = saved_state(run_dir)
    for name, value in {**saved[0], **saved[1]}.items():
        assert np.all(np.isfinite(value)), (f"{name} in model.npz is not finite (max |.| "
                                            f"{np.max(np.abs(value)):.4g}; diverged at iteration {it})")

    # The same settings in-process, recording the model's real states: the saved ones are one of them, at or
    # before the diverged iteration (states[k] is the state after k applied iterations).
    recorder = StateRecorder()
    quick = "--quick" in extra
    # the thread policy as the CLI decides it before training (BLAS at one thread): otherwise the first GEMM runs
    # at BLAS's own thread count until a kernel decides the policy, and the batch-norm statistics differ from the
    # CLI's in the last bits (measured: running_mean1 1.9e-9 apart)
    get_num_threads()
    recipe_obj, cfg = runner.prepare(recipe, settings_of(extra), quick=quick, from_text=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        outcome = runner.train(recipe_obj, cfg, quick=quick, out=tmp_path / "inproc", progress=False,
                               callbacks=[recorder])
    assert outcome.status == "diverged", outcome.metrics
    assert outcome.metrics["diverged_iteration"] == it, (outcome.metrics["diverged_iteration"], it)
    hits = matching_states(saved[0], [p for p, _ in recorder.states])
    assert hits, f"model.npz's parameters equal none of the {len(recorder.states)} recorded states"
    # The one state the Solver's contract names (Solver.train): for a loss / gradient blow-up at iteration `it`,
    # the parameters iteration it - 1 (the last whose loss passed) started from, i.e. the state after it - 2
    # iterations (0 when the very first fails), with the buffers that iteration's forward pass wrote (recorded
    # after it - 1 iterations); for a validation collapse, the state of the last healthy accuracy check (the last
    # epoch end, or the check after iteration 1), buffers included.
    collapse = "validation accuracy collapsed" in metrics["reason"]
    if collapse:
        k = max([1, *recorder.epoch_ends])
        buffers_at = k
    else:
        k = max(it - 2, 0)
        buffers_at = k + 1 if it >= 2 else None  # it == 1: the rejected pass wrote them (checked finite above)
    assert k in hits, (f"model.npz holds state(s) {hits} (after that many iterations), not state {k}: diverged at "
                       f"iteration {it}, {'a collapse' if collapse else 'a loss/gradient blow-up'}")
    if saved[1] and buffers_at is not None:
        expected = recorder.states[buffers_at][1]
        assert matching_states(saved[1], [expected]) == [0], (
            f"model.npz holds the parameters of state {k} (diverged at iteration {it}) but not the buffers of "
            f"state {buffers_at}: {buffer_differences(saved[1], expected)}")
    again = saved_state(outcome.run_dir)
    assert matching_states(again[0], [p for p, _ in recorder.states]) == hits

    # evaluate works on it and reproduces the saved figure; runs lists it as diverged
    proc = nnlab("evaluate", str(run_dir), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["test_acc"] == metrics["test_acc"], (figures, metrics["test_acc"])

    proc = nnlab("runs", str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = [r for r in proc.stdout.splitlines() if run_dir.name in r]
    assert "diverged" in row.split(), row
    return metrics


# ------------------------------------------------------------------------------------------------ digits-mlp
@pytest.mark.parametrize("extra, hint", [
    pytest.param(DIVERGE_SGD, "learning_rate", id="sgd-lr1e3-no-norm"),
    pytest.param(DIVERGE_ADAM_BN, "learning_rate", id="adam-lr1e3-batchnorm"),
    pytest.param(DIVERGE_INIT, "weight_scale", id="weight_scale-1e6"),
    pytest.param(DIVERGE_INIT_INF, "weight_scale", id="weight_scale-1e30"),
    pytest.param(DIVERGE_COLLAPSE, "learning_rate", id="adam-lr5-val-collapse"),
])
def test_a_diverging_digits_mlp_exits_3_and_keeps_the_last_good_weights(tmp_path, extra, hint):
    metrics = check_diverged_run("digits-mlp", extra, hint, tmp_path)
    if hint == "weight_scale":  # the very first loss fails: the initial parameters are kept
        assert metrics["diverged_iteration"] == 1 and metrics["iterations"] == 0, metrics
    if extra is DIVERGE_COLLAPSE:
        assert "validation accuracy collapsed" in metrics["reason"], metrics["reason"]
        # the check that ends epoch e found the collapse: the message names e (at the last epoch, not a 7th)
        match = re.search(r"diverged at iteration (\d+) / (\d+) \(epoch (\d+)\)", metrics["reason"])
        assert match, metrics["reason"]
        it, total, epoch = map(int, match.groups())
        ipe = total // 6
        assert it % ipe == 0 and epoch == it // ipe <= 6, metrics["reason"]


# ------------------------------------------------------------------------------------------------- a convnet
@pytest.mark.data
def test_a_diverging_cifar10_convnet_exits_3_and_keeps_the_last_good_weights(tmp_path):
    require_recipe("cifar10-convnet")
    # decode 60 images per class and split (not all 60,000) and score 300 + 200 + 200 of them: the same network
    # and Solver as --quick, less time in the NumPy convolutions
    check_diverged_run("cifar10-convnet", ["--quick", "--set", "learning_rate=1e3", "--set", "limit=60",
                                           "--set", "num_training=300"], "learning_rate", tmp_path)


# ---------------------------------------------------------------------------------------------- sane settings
@pytest.mark.parametrize("extra", [
    pytest.param([], id="default-quick"),
    pytest.param(["--set", "learning_rate=1e-2"], id="adam-lr1e-2"),
    pytest.param(["--set", "update_rule=sgd", "--set", "learning_rate=0.05", "--set", "normalization=None"],
                 id="sgd-lr0.05-no-norm"),
])
def test_sane_digits_mlp_settings_never_trip_the_guard(tmp_path, extra):
    root = tmp_path / "runs"
    proc = nnlab("train", "digits-mlp", "--quick", *extra, "--out", str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "diverg" not in proc.stderr, proc.stderr
    metrics = json.loads((only_run(root) / "metrics.json").read_text())
    assert metrics["status"] == "finished", metrics
    assert "diverged_iteration" not in metrics
    assert metrics["test_acc"] > 0.5, metrics  # chance is 0.1


@pytest.mark.slow
def test_the_default_digits_mlp_finishes_without_tripping_the_guard(tmp_path):
    """All 30 epochs of the default recipe: no divergence, and the expected figure."""
    recipe, cfg = runner.prepare("digits-mlp")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a guard warning would fail here
        outcome = runner.train(recipe, cfg, out=tmp_path / "runs", progress=False)
    assert outcome.status == "finished", outcome.metrics
    assert outcome.metrics["epochs_done"] == cfg["num_epochs"]
    assert outcome.metrics["test_acc"] >= 0.97, outcome.metrics
