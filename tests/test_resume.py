"""Kill-and-resume on real processes: ``nnlab train`` killed with SIGKILL mid-epoch (or stopped with Ctrl-C), then
``nnlab train --resume RUN`` in the same folder, ends with exactly the parameters of a run never interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from nnlab.io import load_arrays
from tests.cli_helpers import ONE_THREAD, nnlab, nnlab_command, nnlab_env, wait_for_checkpoint


def _nnlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return nnlab(*args, cwd=cwd, env=ONE_THREAD, timeout=600)


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(nnlab_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=nnlab_env(ONE_THREAD))



def _params(run_dir: Path) -> dict[str, np.ndarray]:
    arrays, _ = load_arrays(run_dir / "model.npz")
    return {k: v for k, v in arrays.items() if k.startswith(("params/", "buffers/"))}


def _kill_and_resume(tmp_path: Path, train_args: list[str], how: signal.Signals, wait_epochs: int = 1) -> None:
    ref = _nnlab("train", *train_args, "--out", str(tmp_path / "ref"), cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    (ref_dir,) = list((tmp_path / "ref").iterdir())

    out = tmp_path / "killed"
    proc = _start(["train", *train_args, "--out", str(out)], cwd=tmp_path)
    run_dir = wait_for_checkpoint(proc, out, wait_epochs)
    time.sleep(0.02)  # into the next epoch
    assert proc.poll() is None, "the run finished before it could be interrupted: make it longer"
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    if how == signal.SIGINT:
        assert proc.returncode == 130, err
        assert f"nnlab train --resume {run_dir}" in err
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "stopped"
    else:
        assert proc.returncode == -signal.SIGKILL
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"
    assert not (run_dir / "model.npz").exists()

    resumed = _nnlab("train", "--resume", str(run_dir), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ref_metrics = json.loads((ref_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    a, b = _params(run_dir), _params(ref_dir)
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert metrics["loss_history"] == ref_metrics["loss_history"]
    assert metrics["val_acc_history"] == ref_metrics["val_acc_history"]
    assert metrics["test_acc"] == ref_metrics["test_acc"]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_digits_mlp_killed_mid_epoch_resumes_to_the_uninterrupted_parameters(tmp_path, how):
    # dropout (global RNG) + batch norm (buffers) + Adam state + lr decay + minibatch sampling must all resume
    _kill_and_resume(tmp_path, ["digits-mlp", "--set", "num_epochs=60", "--set", "dropout=0.3"], how, wait_epochs=2)


@pytest.mark.data
def test_augmented_convnet_killed_mid_epoch_resumes_to_the_uninterrupted_parameters(tmp_path):
    # mri-cnn: flip/rotation augmentation (its own RNG), dropout modules with private RNGs, Adamax, lr schedule
    _kill_and_resume(tmp_path, ["mri-cnn", "--quick", "--set", "num_epochs=4"], signal.SIGKILL)
