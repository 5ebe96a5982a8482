"""TensorBoard and MLflow callbacks: a real FullyConnectedNet trained 2 epochs on the digits through the Solver,
then the logged values read back with tensorboard's EventAccumulator and mlflow's client and compared with the
Solver's own histories."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from nnlab.data import load_digits
from nnlab.models import FullyConnectedNet
from nnlab.solver import Solver
from nnlab.tracking import (
    MLflowLogger,
    TensorBoardLogger,
    TrackingUnavailableError,
    final_metrics,
    flatten_settings,
    mlflow_uri,
)

# Per-test skips: the settings, URI and install-hint tests need neither package and always run.
needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboardX") is None or importlib.util.find_spec("tensorboard") is None,
    reason="tensorboardX and tensorboard are not installed (pip install 'nnlab[tracking]')")
needs_tensorboardx = pytest.mark.skipif(importlib.util.find_spec("tensorboardX") is None,
                                        reason="tensorboardX is not installed (pip install 'nnlab[tracking]')")
needs_mlflow = pytest.mark.skipif(importlib.util.find_spec("mlflow") is None,
                                  reason="mlflow is not installed (pip install 'nnlab[tracking]')")

SETTINGS = {"hidden_dims": [32, 16], "optim": {"rule": "adam", "learning_rate": 2e-3}, "batch_size": 100,
            "num_epochs": 2, "lr_decay": 0.9, "normalization": "batchnorm", "seed": 0}


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _train(data, callback):
    """A FullyConnectedNet trained 2 epochs on the digits through the Solver with ``callback`` (one or a list)."""
    np.random.seed(0)
    model = FullyConnectedNet([32, 16], input_dim=64, num_classes=10, normalization="batchnorm",
                              weight_scale=0.05, dtype=np.float32)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-3}, lr_decay=0.9,
                    batch_size=100, num_epochs=2, verbose=False, progress=False, seed=0,
                    callbacks=callback if isinstance(callback, list) else [callback])
    solver.train()
    return solver


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory):
    """One SQLite tracking store for the module's MLflow tests (creating its tables takes mlflow seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _read_events(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


@needs_tensorboard
def test_tensorboard_logger_scalars_histograms_and_hparams_match_the_solver(tmp_path, digits):
    logdir = tmp_path / "tb"
    solver = _train(digits, TensorBoardLogger(logdir, hparams=SETTINGS))
    acc = _read_events(logdir)
    scalars = set(acc.Tags()["scalars"])
    ipe = solver.iterations_per_epoch
    assert solver.num_iterations == 2 * ipe == len(solver.loss_history)

    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, solver.num_iterations + 1))
    np.testing.assert_allclose([e.value for e in loss], solver.loss_history, rtol=1e-6)
    lr = acc.Scalars("train/learning_rate")
    assert len(lr) == solver.num_iterations
    np.testing.assert_allclose([e.value for e in lr[:ipe]], 2e-3, rtol=1e-6)
    np.testing.assert_allclose([e.value for e in lr[ipe:ipe + 1]], 2e-3 * 0.9, rtol=1e-6)  # decayed at epoch end
    # the Solver records the global gradient norm of each step; the logger writes every one of them
    assert len(solver.grad_norm_history) == solver.num_iterations and "train/grad_norm" in scalars
    norms = acc.Scalars("train/grad_norm")
    assert [e.step for e in norms] == list(range(1, solver.num_iterations + 1))
    np.testing.assert_allclose([e.value for e in norms], solver.grad_norm_history, rtol=1e-6)

    # per epoch: the accuracy check that ends each epoch (the Solver also checks after iteration 1)
    for tag, history in (("epoch/train_acc", solver.train_acc_history), ("epoch/val_acc", solver.val_acc_history)):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2]
        np.testing.assert_allclose([e.value for e in events], history[-2:], rtol=1e-6)
    epoch_loss = [e.value for e in acc.Scalars("epoch/loss")]
    np.testing.assert_allclose(epoch_loss, [np.mean(solver.loss_history[:ipe]), np.mean(solver.loss_history[ipe:])],
                               rtol=1e-5)

    hist_tags = set(acc.Tags()["histograms"])
    assert hist_tags == {"weights/W1", "weights/W2", "weights/W3"}  # matrices only by default
    w1 = acc.Histograms("weights/W1")
    assert [h.step for h in w1] == [1, 2]
    h = w1[-1].histogram_value
    W1 = solver.model.params["W1"]
    assert h.num == W1.size and sum(h.bucket) == W1.size
    assert h.min == pytest.approx(float(W1.min())) and h.max == pytest.approx(float(W1.max()))
    assert h.sum_squares == pytest.approx(float((W1.astype(np.float64) ** 2).sum()), rel=1e-6)

    # hparams: the settings and the final metrics
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["optim.rule"].string_value == "adam"
    assert hp["optim.learning_rate"].number_value == pytest.approx(2e-3)
    assert hp["hidden_dims"].string_value == "[32, 16]"
    assert hp["normalization"].string_value == "batchnorm"
    finals = final_metrics(solver)
    assert acc.Scalars("hparam/best_val_acc")[0].value == pytest.approx(solver.best_val_acc)
    assert acc.Scalars("hparam/final_val_acc")[0].value == pytest.approx(finals["final_val_acc"])
    assert acc.Scalars("hparam/epochs")[0].value == 2


@needs_tensorboard
def test_tensorboard_logger_histogram_options(tmp_path, digits):
    solver = _train(digits, [TensorBoardLogger(tmp_path / "none", histograms=False),
                             TensorBoardLogger(tmp_path / "all", histograms="all")])
    assert _read_events(tmp_path / "none").Tags()["histograms"] == []
    assert set(_read_events(tmp_path / "all").Tags()["histograms"]) == {f"weights/{k}" for k in solver.model.params}
    with pytest.raises(ValueError, match="histograms must be True, False or 'all'"):
        TensorBoardLogger(tmp_path, histograms="some")


@needs_tensorboardx
def test_crc32c_matches_the_reference_implementation():
    from tensorboardX.crc32c import crc32c

    from nnlab.tracking import crc32c_many

    rng = np.random.default_rng(0)
    messages = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 3, 4, 5, 8, 31, 32, 33, 100,
                                                                          1000, 4096, 4097, 6000)]
    messages += [b"123456789", bytes(8), b"\xff" * 64]
    assert crc32c_many(messages) == [crc32c(m) for m in messages]
    assert crc32c_many([b"123456789"]) == [0xE3069283]  # the CRC-32C check value


def _check_mlflow_run(client, run_id, solver, artifact_names):
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.rule"] == "adam"
    assert run.data.params["hidden_dims"] == "[32, 16]"
    assert run.data.params["num_epochs"] == "2"
    loss = client.get_metric_history(run_id, "train/loss")
    assert sorted(m.step for m in loss) == list(range(1, solver.num_iterations + 1))
    np.testing.assert_allclose([m.value for m in sorted(loss, key=lambda m: m.step)], solver.loss_history,
                               rtol=1e-12)
    lr = client.get_metric_history(run_id, "train/learning_rate")
    assert len(lr) == solver.num_iterations
    assert len(solver.grad_norm_history) == solver.num_iterations
    norms = sorted(client.get_metric_history(run_id, "train/grad_norm"), key=lambda m: m.step)
    assert [m.step for m in norms] == list(range(1, solver.num_iterations + 1))
    np.testing.assert_allclose([m.value for m in norms], solver.grad_norm_history, rtol=1e-12)
    val = sorted(client.get_metric_history(run_id, "epoch/val_acc"), key=lambda m: m.step)
    assert [m.step for m in val] == [1, 2]
    np.testing.assert_allclose([m.value for m in val], solver.val_acc_history[-2:])
    train = sorted(client.get_metric_history(run_id, "epoch/train_acc"), key=lambda m: m.step)
    np.testing.assert_allclose([m.value for m in train], solver.train_acc_history[-2:])
    assert run.data.metrics["best_val_acc"] == pytest.approx(solver.best_val_acc)
    assert run.data.metrics["final_loss"] == pytest.approx(solver.loss_history[-1])
    listed = {a.path for a in client.list_artifacts(run_id)}
    assert listed == set(artifact_names)
    return run


def _fake_run_dir(path, solver):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(SETTINGS))
    (path / "metrics.json").write_text(json.dumps({"status": "finished", "test_acc": 0.5,
                                                   "val_acc_history": solver.val_acc_history}))
    return path


@needs_mlflow
def test_mlflow_logger_sqlite_params_metric_histories_and_artifacts(tmp_path, digits, sqlite_uri):
    from mlflow.tracking import MlflowClient

    uri = sqlite_uri
    logger = MLflowLogger(uri, experiment="digits-test", run_name="run-1", params=SETTINGS)
    solver = _train(digits, logger)
    assert logger.run_id is not None
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(logger.run_id).info.status == "RUNNING"  # until the runner calls log_final
    run_dir = _fake_run_dir(tmp_path / "run-1", solver)
    logger.log_final({"status": "finished", "test_acc": 0.5, "name": "digits-mlp", "acc (top-1)": 0.25,
                      "val_acc_history": solver.val_acc_history, "emissions": {"energy_kwh": 1e-4}}, run_dir)
    run = _check_mlflow_run(client, logger.run_id, solver, ["config.json", "metrics.json"])
    assert run.info.run_name == "run-1"
    assert run.data.metrics["test_acc"] == 0.5
    assert run.data.metrics["acc _top-1_"] == 0.25  # characters MLflow refuses become '_'
    assert run.data.metrics["emissions.energy_kwh"] == 1e-4
    assert "val_acc_history" not in run.data.metrics and "nnlab.val_acc_history" not in run.data.tags
    assert run.data.tags["nnlab.status"] == "finished"
    exp = client.get_experiment_by_name("digits-test")
    assert exp.artifact_location.startswith("file://")
    assert exp.artifact_location.endswith("/mlartifacts")  # beside the SQLite file
    local = client.download_artifacts(logger.run_id, "config.json", str(tmp_path / "dl"))
    assert json.loads(open(local).read())["optim"]["rule"] == "adam"


@needs_mlflow
def test_mlflow_logger_with_artifacts_dir_ends_the_run_itself(tmp_path, digits, sqlite_uri):
    from mlflow.tracking import MlflowClient

    uri = sqlite_uri
    run_dir = tmp_path / "out"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    logger = MLflowLogger(uri, experiment="e", params=SETTINGS, artifacts_dir=run_dir)
    solver = _train(digits, logger)
    _check_mlflow_run(MlflowClient(tracking_uri=uri), logger.run_id, solver, ["config.json"])


@needs_mlflow
def test_mlflow_logger_postgresql(tmp_path, digits):
    # A database of its own: MLflow and Optuna both version their schema in `alembic_version`, so MLflow must not
    # share the tuner's database (the same server is fine).
    url = os.environ.get("NNLAB_TEST_MLFLOW_POSTGRES_URL")
    if not url:
        pytest.skip("NNLAB_TEST_MLFLOW_POSTGRES_URL is not set (.ci/run creates postgresql://postgres@127.0.0.1:55432/"
                    "nnlab_mlflow)")
    from mlflow.tracking import MlflowClient

    experiment = f"nnlab-test-{os.getpid()}-{np.random.default_rng().integers(1 << 30)}"
    logger = MLflowLogger(url, experiment=experiment, run_name="pg", params=SETTINGS,
                          artifact_location=tmp_path / "artifacts")
    assert logger.tracking_uri.startswith("postgresql")
    solver = _train(digits, logger)
    logger.log_final({"status": "finished"}, _fake_run_dir(tmp_path / "pg", solver))
    _check_mlflow_run(MlflowClient(tracking_uri=logger.tracking_uri), logger.run_id, solver,
                      ["config.json", "metrics.json"])


@needs_mlflow
def test_mlflow_logger_keeps_metrics_when_the_store_fails(tmp_path, digits, sqlite_uri, monkeypatch):
    from mlflow.tracking import MlflowClient

    logger = MLflowLogger(sqlite_uri, experiment="flaky", params=SETTINGS, flush_every_s=0)
    real = MlflowClient.log_batch
    failed = []

    def flaky(self, run_id, metrics=(), **kwargs):
        if metrics and not failed:  # the first metrics batch fails, as a locked SQLite file would
            failed.append(True)
            raise RuntimeError("database is locked")
        return real(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky)
    with pytest.warns(RuntimeWarning, match="database is locked"):
        solver = _train(digits, logger)
    logger.log_final({}, None)
    history = MlflowClient(tracking_uri=sqlite_uri).get_metric_history(logger.run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(1, solver.num_iterations + 1))


def test_mlflow_uri_conversions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNLAB_MLFLOW_URI", raising=False)
    assert mlflow_uri(None) == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert (tmp_path / "runs").is_dir()
    import importlib.util

    pg = mlflow_uri("postgresql://postgres@127.0.0.1:55432/db")
    if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
        assert pg == "postgresql+psycopg://postgres@127.0.0.1:55432/db"
    assert mlflow_uri("postgres://u@h/db").startswith("postgresql")
    assert mlflow_uri("http://localhost:5000") == "http://localhost:5000"


def test_flatten_settings():
    flat = flatten_settings({"a": {"b": 1, "c": {"d": "x"}}, "e": None, "f": [1, 2], "g": np.float32(0.5)})
    assert flat == {"a.b": 1, "a.c.d": "x", "e": "None", "f": "[1, 2]", "g": 0.5}


def test_missing_packages_give_the_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("tensorboardX", "mlflow"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(TrackingUnavailableError, match=r'pip install "nnlab\[tracking\]"'):
        TensorBoardLogger("unused")
    with pytest.raises(TrackingUnavailableError, match=r'pip install "nnlab\[tracking\]"'):
        MLflowLogger("sqlite:///unused.db")
