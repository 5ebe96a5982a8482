"""nnlab tune on a real PostgreSQL server (``.ci/run`` starts one and sets NNLAB_TEST_POSTGRES_URL): one study
shared by two worker processes, one of them killed mid-trial; nothing completed is lost or stored twice."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

optuna = pytest.importorskip("optuna")

URL = os.environ.get("NNLAB_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="NNLAB_TEST_POSTGRES_URL not set (.ci/run starts PostgreSQL)")

GRID = ["--param", "learning_rate=grid:1e-3,3e-3,1e-2", "--param", "reg=grid:0.0,0.01"]
# Trials of ~3 s (100 short epochs): long enough that a second worker, which needs a few seconds to start, joins
# while the first is still mid-study (4-epoch trials finished the whole grid before it could).
EPOCHS = 100
FIXED = ["--set", "hidden_dims=[32]", "--set", "normalization=None", "--set", f"num_epochs={EPOCHS}",
         "--set", "batch_size=20", "--pruner", "none", "--no-weights"]
ENV = {**os.environ, "NNLAB_TUNE_HEARTBEAT": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def _worker(study: str, out, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nnlab.cli", "tune", "--storage", URL, "--study", study, "--out", str(out), *extra]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _states(study: str) -> list[str]:
    try:
        return [t.state.name for t in optuna.load_study(study_name=study, storage=URL).trials]
    except KeyError:
        return []


def _wait(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def _check_complete_grid(study: str) -> list:
    trials = optuna.load_study(study_name=study, storage=URL).trials
    done = [t for t in trials if t.state.name == "COMPLETE"]
    configs = sorted((t.params["learning_rate"], t.params["reg"]) for t in done)
    assert configs == sorted(itertools.product([1e-3, 3e-3, 1e-2], [0.0, 0.01]))  # each once, none lost
    assert all(0.1 < t.value <= 1 and len(t.user_attrs["val_acc_by_epoch"]) == EPOCHS for t in done)
    return trials


def test_two_workers_one_killed_mid_trial_the_other_finishes_every_trial_stored_once(tmp_path):
    study = f"pg-{uuid.uuid4().hex[:8]}"
    a = _worker(study, tmp_path, "digits-mlp", "--sampler", "grid", *GRID, *FIXED)
    _wait(lambda: "RUNNING" in _states(study))
    b = _worker(study, tmp_path, "--resume")  # a second worker joins the study
    _wait(lambda: _states(study).count("RUNNING") == 2)
    os.kill(a.pid, signal.SIGKILL)  # worker A dies in the middle of its trial
    a.wait()
    out, err = b.communicate(timeout=180)
    assert b.returncode == 0, err
    trials = _check_complete_grid(study)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1  # A's trial: marked failed after its heartbeat stopped, and re-run with its settings
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(retry) == 1 and retry[0].params == failed[0].params and retry[0].state.name == "COMPLETE"
    assert "best trial #" in out


def test_resume_picks_up_the_rest_after_the_only_worker_was_killed(tmp_path):
    study = f"pg-{uuid.uuid4().hex[:8]}"
    a = _worker(study, tmp_path, "digits-mlp", "--sampler", "grid", *GRID, *FIXED)
    _wait(lambda: _states(study).count("COMPLETE") >= 2 and "RUNNING" in _states(study), timeout=120)
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    before = {t.number: (t.params, t.value) for t in optuna.load_study(study_name=study, storage=URL).trials
              if t.state.name == "COMPLETE"}
    assert 2 <= len(before) < 6
    r = _worker(study, tmp_path, "--resume")
    out, err = r.communicate(timeout=180)
    assert r.returncode == 0, err
    trials = _check_complete_grid(study)
    after = {t.number: (t.params, t.value) for t in trials if t.state.name == "COMPLETE"}
    assert all(after[n] == v for n, v in before.items())  # completed trials kept as they were, not re-run


def test_unreachable_postgres_is_a_clear_error(tmp_path, capsys):
    from nnlab.cli import main

    bad = "postgresql://postgres@127.0.0.1:1/nnlab_test"  # nothing listens on port 1
    rc = main(["tune", "digits-mlp", "--param", "reg=uniform:0:1", "--storage", bad, "--out", str(tmp_path)])
    assert rc == 2 and "cannot open storage" in capsys.readouterr().err
