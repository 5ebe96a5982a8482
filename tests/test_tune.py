"""nnlab.tune with the default SQLite storage: space parsing, grid/random/TPE, pruning, resume, CLI errors."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import nnlab.tune as nt  # noqa: E402
from nnlab import viz  # noqa: E402
from nnlab.cli import main  # noqa: E402
from nnlab.recipes import _REGISTRY, Recipe, Setting  # noqa: E402
from nnlab.tune import ParamSpec, TuneError, parse_param, parse_space, threads_per_worker, tune  # noqa: E402

# digits-mlp trials kept short: one small hidden layer, no batch norm, 2 epochs, no weights kept.
SHORT = {"hidden_dims": [32], "normalization": None, "num_epochs": 2, "batch_size": 200}

# A millisecond recipe for the sampler tests (declared on the contract, fitted without a Solver): val accuracy
# peaks at learning_rate=1e-2, reg=0.1.
def _bowl_fit(cfg, data, run_dir, progress):
    import math

    acc = 1.0 / (1.0 + (math.log10(cfg["learning_rate"]) + 2) ** 2 + (cfg["reg"] - 0.1) ** 2)
    h = [acc * epoch / cfg["num_epochs"] for epoch in range(1, cfg["num_epochs"] + 1)]
    return {"best_val_acc": max(h), "val_acc_history": h, "train_acc_history": h}


BOWL = Recipe("test-bowl", "a smooth bowl", "peak at lr 1e-2, reg 0.1", settings=[
    Setting("learning_rate", "float", 1e-3, "lr", low=0, low_open=True),
    Setting("reg", "float", 0.0, "reg", low=0),
    Setting("width", "int", 8, "width", low=1),
    Setting("act", "str", "relu", "act", choices=("relu", "tanh")),
    Setting("num_epochs", "int", 3, "epochs", low=1)], fit=_bowl_fit, task="analysis")


@pytest.fixture
def bowl():
    _REGISTRY["test-bowl"] = BOWL
    yield "test-bowl"
    _REGISTRY.pop("test-bowl", None)


def _params(study):
    return [t.params for t in study.trials]


# ----------------------------------------------------------------------------------------------------- parsing

def test_parse_param_reads_every_kind():
    assert parse_param("learning_rate=loguniform:1e-4:1e-2") == ParamSpec("learning_rate", "loguniform", 1e-4, 1e-2)
    assert parse_param("reg=uniform:0:0.5") == ParamSpec("reg", "uniform", 0.0, 0.5)
    assert parse_param("batch_size=int:32:256:32") == ParamSpec("batch_size", "int", 32, 256, 32)
    assert parse_param("update_rule=choice:adam,sgd").values == ["adam", "sgd"]
    spec = parse_param("hidden_dims=grid:[64],[128,64]")
    assert spec.values == [[64], [128, 64]] and spec.labels() == ["[64]", "[128, 64]"]
    assert spec.decode("[128, 64]") == [128, 64]
    assert parse_param("lr=grid:1e-3,2e-3").values == [1e-3, 2e-3]
    # the text stored with the study parses back to the same spec
    for text in ("lr=loguniform:0.0001:0.01", "n=int:1:9:2", "h=grid:[64],[128, 64]", "u=choice:'adam','sgd'"):
        assert parse_param(parse_param(text).to_text()) == parse_param(text)


@pytest.mark.parametrize("text, match", [
    ("learning_rate", "NAME=KIND:ARGS"),
    ("1x=uniform:0:1", "NAME=KIND:ARGS"),
    ("reg=normal:0:1", "unknown kind 'normal'"),
    ("reg=uniform:0", "expected reg=uniform:LOW:HIGH"),
    ("reg=uniform:a:1", "LOW must be a number, got 'a'"),
    ("reg=uniform:1:1", "LOW must be < HIGH"),
    ("lr=loguniform:0:1", "loguniform needs 0 < LOW"),
    ("n=int:1.5:4", "int bounds must be integers"),
    ("n=int:1:4:0", "STEP must be >= 1"),
    ("h=choice:", "choice needs at least one value"),
    ("h=grid:1,1", "values must be distinct"),
    ("reg=uniform:0:inf", "HIGH must be finite"),
])
def test_parse_param_rejects_malformed_specs_naming_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        parse_param(text)


def test_parse_space_rejects_a_setting_given_twice():
    with pytest.raises(TuneError, match="'reg' is given twice"):
        parse_space(["reg=uniform:0:1", "reg=choice:0,1"])


# ----------------------------------------------------------------------------------------------------- samplers

def test_grid_of_six_runs_exactly_those_six_configurations(tmp_path):
    st = tune("digits-mlp", ["learning_rate=grid:1e-3,3e-3,1e-2", "reg=grid:0.0,0.01"], sampler="grid",
              fixed=SHORT, pruner="none", out=tmp_path, study="grid6", keep_weights=False, live=False)
    assert len(st.trials) == 6
    assert all(t.state.name == "COMPLETE" for t in st.trials)
    got = sorted((t.params["learning_rate"], t.params["reg"]) for t in st.trials)
    assert got == sorted(itertools.product([1e-3, 3e-3, 1e-2], [0.0, 0.01]))
    for t in st.trials:  # each trial records its config, per-epoch history and best val accuracy
        assert len(t.user_attrs["val_acc_by_epoch"]) == 2 == t.user_attrs["epochs"]
        assert t.value == pytest.approx(t.user_attrs["best_val_acc"])
        assert 0.1 < t.value <= 1.0
        assert sorted(t.intermediate_values) == [1, 2]
    assert st.best_value > 0.75  # lr 1e-2 on digits reaches ~0.8 in 2 short epochs
    rows = (tmp_path / "tune-grid6" / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("number,state,value,best_val_acc,epochs,duration_s") and len(rows) == 7
    assert (tmp_path / "tune-grid6" / "study.png").stat().st_size > 5000


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_random_and_tpe_studies_are_reproducible_with_a_seed(tmp_path, bowl, sampler):
    space = ["learning_rate=loguniform:1e-4:1", "reg=uniform:0:1", "width=int:4:64", "act=choice:relu,tanh"]
    runs = [tune(bowl, space, trials=14, sampler=sampler, seed=7, pruner="none", out=tmp_path, study=f"s{k}",
                 live=False) for k in range(2)]
    assert _params(runs[0]) == _params(runs[1])
    assert [t.value for t in runs[0].trials] == [t.value for t in runs[1].trials]
    other = tune(bowl, space, trials=14, sampler=sampler, seed=8, pruner="none", out=tmp_path, study="s8",
                 live=False)
    assert _params(other) != _params(runs[0])


def test_tpe_beats_its_random_startup_on_a_smooth_objective(tmp_path, bowl):
    st = tune(bowl, ["learning_rate=loguniform:1e-4:1", "reg=uniform:0:1"], trials=30, sampler="tpe", seed=0,
              pruner="none", out=tmp_path, study="t", live=False)
    values = [t.value for t in st.trials]
    assert max(values[10:]) > max(values[:4])
    assert st.best_value > 0.9


# ----------------------------------------------------------------------------------------------------- pruning

def test_pruned_trial_stops_early_and_is_recorded_pruned(tmp_path):
    # lr 1e-6 leaves digits near chance after epoch 1 (< 0.5): pruned there; lr 1e-2 passes and runs 3 epochs.
    st = tune("digits-mlp", ["learning_rate=grid:1e-6,1e-2"], sampler="grid", pruner="threshold:0.5",
              fixed={**SHORT, "num_epochs": 3}, out=tmp_path, study="prune", keep_weights=False, live=False)
    by_lr = {t.params["learning_rate"]: t for t in st.trials}
    bad, good = by_lr[1e-6], by_lr[1e-2]
    assert bad.state.name == "PRUNED" and good.state.name == "COMPLETE"
    assert sorted(bad.intermediate_values) == [1] and bad.user_attrs["epochs"] == 1
    assert bad.intermediate_values[1] < 0.5
    assert sorted(good.intermediate_values) == [1, 2, 3] and good.value > 0.75
    metrics = (Path(bad.user_attrs["run_dir"]) / "metrics.json").read_text()
    assert metrics  # the pruned trial still wrote its run directory


# ------------------------------------------------------------------------------------------------ resume / CLI

def test_resume_continues_the_sqlite_study_to_a_new_target(tmp_path, bowl):
    first = tune(bowl, ["learning_rate=loguniform:1e-4:1"], trials=3, sampler="random", seed=1, pruner="none",
                 out=tmp_path, study="r", live=False)
    done = {t.number: t.params for t in first.trials}
    st = tune(None, trials=5, resume=True, out=tmp_path, study="r", live=False)
    assert [t.state.name for t in st.trials] == ["COMPLETE"] * 5
    assert {t.number: t.params for t in st.trials[:3]} == done  # nothing completed is lost or re-run


def test_cli_tune_prints_live_table_best_config_and_writes_csv_png(tmp_path, capsys):
    rc = main(["tune", "digits-mlp", "--param", "learning_rate=choice:3e-3,1e-2", "--trials", "2",
               "--sampler", "grid", "--pruner", "none", "--set", "hidden_dims=[32]", "--set", "num_epochs=1",
               "--set", "normalization=None", "--study", "cli", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "trial  state" in out and out.count("COMPLETE") >= 2
    assert "best trial #" in out and "learning_rate=" in out
    folder = tmp_path / "tune-cli"
    assert {"study.db", "trials.csv", "study.png", "trials"} <= {p.name for p in folder.iterdir()}
    assert (folder / "trials" / "0000" / "model.npz").exists()  # best weights of each trial, via nnlab.io
    assert not (folder / "trials" / "0000" / "curves.png").exists()  # per-trial PNGs are off by default
    # the same study name again without --resume is refused and the study is untouched
    rc = main(["tune", "digits-mlp", "--param", "learning_rate=choice:1e-3", "--study", "cli",
               "--out", str(tmp_path)])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    st = optuna.load_study(study_name="cli", storage=f"sqlite:///{folder / 'study.db'}")
    assert [t.state.name for t in st.trials] == ["COMPLETE", "COMPLETE"]


@pytest.mark.parametrize("argv, message", [
    (["--param", "learning_rate=loguniform:0:1"], "loguniform needs 0 < LOW"),
    (["--param", "lr=uniform:0:1"], "has no setting 'lr'; known settings: hidden_dims"),
    (["--param", "reg=uniform:0:1", "--set", "bogus=1"], "has no setting 'bogus'"),
    (["--param", "reg=choice:0.0:0.1:0.5"], "setting 'reg' must be float >= 0, got '0.0:0.1:0.5'"),
    (["--param", "reg=uniform:0:1", "--sampler", "grid"], "--sampler grid needs choice/grid values"),
    (["--param", "reg=uniform:0:1", "--storage", "postgresql://nobody:secret@127.0.0.1:1/none"],
     "cannot open storage postgresql://nobody:***@127.0.0.1:1/none"),
    (["--param", "reg=uniform:0:1", "--storage", "nosuchdb://x"], "cannot open storage nosuchdb://x"),
    (["--resume"], "no study 'bad'"),
    (["--param", "reg=uniform:0:1", "--jobs", "0"], "jobs must be an integer >= 1, got 0"),
    (["--param", "reg=uniform:0:1", "--sampler", "grid", "--jobs", "2"], "--sampler grid needs choice/grid"),
    ([], "at least one --param"),
])
def test_cli_tune_bad_input_exits_2_with_a_clear_message_and_creates_nothing(tmp_path, capsys, argv, message):
    rc = main(["tune", "digits-mlp", *argv, "--study", "bad", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err, err
    assert "secret" not in err
    assert not (tmp_path / "tune-bad").exists()


# ------------------------------------------------------------------------------------------- parallel workers

def test_trial_plots_are_skipped_by_default_and_rendered_on_request(tmp_path):
    st = tune("digits-mlp", ["learning_rate=grid:1e-2"], sampler="grid", pruner="none",
              fixed={**SHORT, "num_epochs": 1}, out=tmp_path, study="plots", trial_plots=True, live=False)
    run_dir = Path(st.trials[0].user_attrs["run_dir"])
    assert (run_dir / "curves.png").stat().st_size > 5000 and (run_dir / "confusion.png").stat().st_size > 5000
    st = tune("digits-mlp", ["learning_rate=grid:1e-2"], sampler="grid", pruner="none",
              fixed={**SHORT, "num_epochs": 1}, out=tmp_path, study="noplots", live=False)
    run_dir = Path(st.trials[0].user_attrs["run_dir"])
    assert (run_dir / "metrics.json").exists() and not list(run_dir.glob("*.png"))
    assert viz.plots_enabled()  # switched back on after the trial


@pytest.mark.parametrize("cores, jobs, threads", [(2, 1, 2), (2, 2, 1), (2, 3, 1), (8, 3, 2), (16, 4, 4)])
def test_threads_per_worker_splits_the_cores_between_workers(monkeypatch, cores, jobs, threads):
    monkeypatch.setattr(nt, "usable_cores", lambda: cores)
    assert threads_per_worker(jobs) == threads


def test_worker_process_runs_trials_with_its_share_of_blas_threads(tmp_path):
    # A worker process started as --jobs 2 starts it, alone on a 2-trial study: its BLAS pools are sized before
    # NumPy loads (1 thread on 2 cores, where the library default is the core count).
    attrs = nt._new_study_attrs("digits-mlp", ["learning_rate=grid:3e-3,1e-2"], None, "grid", "none", None,
                                False, {**SHORT, "num_epochs": 1}, False)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    st = optuna.create_study(study_name="w", storage=nt.open_storage(url), direction="maximize")
    for key, value in attrs.items():
        st.set_user_attr(key, value)
    (proc,) = nt._prestart_workers(2)
    assert proc.poll() is None  # started before the study is known: it waits for its job
    job = nt._Job(storage=url, study="w", study_dir=str(tmp_path), worker=1, threads=threads_per_worker(2),
                  live=False)
    proc.stdin.write(json.dumps(dataclasses.asdict(job)) + "\n")
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    trials = optuna.load_study(study_name="w", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        info = t.user_attrs["worker"]
        assert info["index"] == 1 and info["pid"] != os.getpid() and info["blas_threads"] == 1  # the policy's
        assert info["nnlab_threads"] == threads_per_worker(2)  # nnlab's pool: the worker's share of the cores


def test_jobs_2_runs_each_grid_configuration_once_with_cores_split_between_workers(tmp_path):
    lrs = [1e-3, 3e-3, 1e-2, 3e-2]
    st = tune("digits-mlp", [f"learning_rate=grid:{','.join(map(str, lrs))}"], sampler="grid", pruner="none",
              fixed={**SHORT, "num_epochs": 1}, out=tmp_path, study="j2", jobs=2, keep_weights=False, live=False)
    assert sorted(t.params["learning_rate"] for t in st.trials) == lrs
    assert all(t.state.name == "COMPLETE" for t in st.trials)
    workers = {t.user_attrs["worker"]["index"]: t.user_attrs["worker"]["pid"] for t in st.trials}
    assert set(workers) <= {0, 1} and workers.get(0, os.getpid()) == os.getpid()  # worker 0 is this process
    assert all(t.user_attrs["worker"]["blas_threads"] == 1 for t in st.trials)  # NumPy's BLAS, the policy's one
    assert all(t.user_attrs["worker"]["nnlab_threads"] == threads_per_worker(2) for t in st.trials)
    assert len((tmp_path / "tune-j2" / "trials.csv").read_text().splitlines()) == 5
