"""`nnlab train --log tensorboard --log mlflow` and `nnlab tune --log-mlflow`, end to end on the real digits recipe:
the event files and the MLflow store hold what metrics.json holds."""

from __future__ import annotations

import json

import pytest

from nnlab.cli import main

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


def test_train_logs_to_tensorboard_and_mlflow(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert main(["train", "digits-mlp", "--quick", "--out", str(tmp_path / "runs"), "--log", "tensorboard",
                 "--log", "mlflow", "--mlflow-uri", uri]) == 0
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    losses = [e.value for e in acc.Scalars("train/loss")]
    assert len(losses) == len(metrics["loss_history"])
    assert losses == pytest.approx(metrics["loss_history"], rel=1e-6)
    assert {"train/learning_rate", "train/grad_norm", "epoch/train_acc"} <= set(tags)
    assert [e.value for e in acc.Scalars("epoch/val_acc")] == pytest.approx(metrics["val_acc_history"][1:], rel=1e-6)
    assert acc.Tags()["histograms"]

    client = MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "digits-mlp"]
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.params["learning_rate"] == "0.002" and run.data.params["num_epochs"] == "3"
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert len(history) == len(metrics["loss_history"])
    assert run.data.metrics["test_acc"] == pytest.approx(metrics["test_acc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "metrics.json", "model.npz"} <= artifacts


def test_tune_logs_every_trial_as_an_mlflow_run(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert main(["tune", "digits-mlp", "--param", "learning_rate=grid:1e-3,1e-2", "--sampler", "grid",
                 "--set", "num_epochs=1", "--set", "hidden_dims=[16]", "--set", "normalization=None",
                 "--study", "s", "--out", str(tmp_path), "--log-mlflow", "--mlflow-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    (exp,) = [e for e in client.search_experiments() if e.name == "tune-s"]
    runs = client.search_runs([exp.experiment_id])
    assert sorted(float(r.data.params["learning_rate"]) for r in runs) == [1e-3, 1e-2]
