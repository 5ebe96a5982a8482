"""Experiment tracking as Solver callbacks: :class:`TensorBoardLogger` (tensorboardX event files) and
:class:`MLflowLogger` (an MLflow tracking store: SQLite by default, PostgreSQL for several machines).

Both are optional extras (``pip install "nnlab[tracking]"``); a missing package raises
:class:`TrackingUnavailableError` naming the install command, when the logger is constructed.

What is logged (tags / metric keys, the same in both tools):

- per iteration t (step ``t + 1``, 1-based iterations): ``train/loss``, ``train/learning_rate`` (the update
  rule's ``learning_rate`` in ``solver.optim_configs``) and ``train/grad_norm`` (``solver.last_grad_norm``,
  when the Solver provides it);
- per epoch e (step ``e``): ``epoch/train_acc``, ``epoch/val_acc`` (the accuracy check that ends the epoch,
  i.e. ``solver.train_acc_history[-1]``), ``epoch/loss`` (mean loss of the epoch's iterations) and, in
  TensorBoard, a histogram ``weights/<name>`` of every parameter;
- at the end: the settings as hparams / params and the final metrics (``best_val_acc``, ``final_train_acc``,
  ``final_val_acc``, ``final_loss``, ``epochs``).

Per-iteration values are buffered in memory and written once per epoch (and at the end), so the training loop
pays a list append per iteration, not a protobuf or a database write.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .callbacks import Callback

__all__ = ["TensorBoardLogger", "MLflowLogger", "TrackingUnavailableError", "require_tensorboardx",
           "require_mlflow", "flatten_settings", "final_metrics", "mlflow_uri", "DEFAULT_MLFLOW_URI"]

_INSTALL_HINT = 'pip install "nnlab[tracking]"'
DEFAULT_MLFLOW_URI = "sqlite:///runs/mlflow.db"


class TrackingUnavailableError(ImportError):
    """tensorboardX or mlflow is not installed; the message names the install command."""


def require_tensorboardx() -> Any:
    """Import and return ``tensorboardX``; :class:`TrackingUnavailableError` with the install hint if absent."""
    try:
        import tensorboardX
    except ImportError as exc:
        raise TrackingUnavailableError(f"TensorBoard logging needs tensorboardX, which is not installed: "
                                       f"{_INSTALL_HINT}") from exc
    return tensorboardX


def require_mlflow() -> Any:
    """Import and return ``mlflow``; :class:`TrackingUnavailableError` with the install hint if absent."""
    try:
        import mlflow
        import mlflow.entities
        import mlflow.tracking
    except ImportError as exc:
        raise TrackingUnavailableError(f"MLflow logging needs mlflow-skinny, which is not installed: "
                                       f"{_INSTALL_HINT}") from exc
    return mlflow


# ---- shared helpers -----------------------------------------------------------------------------------------
def flatten_settings(settings: Mapping[str, Any] | None, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested settings -> ``{"a.b": value}`` with values bool/int/float/str (others, None included, as ``str``)."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in (settings or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_settings(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
            out[name] = value
        elif isinstance(value, np.generic):
            out[name] = value.item()
        else:
            out[name] = str(value)
    return out


def _learning_rate(solver: Any) -> float | None:
    for config in getattr(solver, "optim_configs", {}).values():
        lr = config.get("learning_rate") if isinstance(config, Mapping) else None
        return None if lr is None else float(lr)
    return None


def _grad_norm(solver: Any) -> float | None:
    value = getattr(solver, "last_grad_norm", None)
    return None if value is None else float(value)


def _epoch_loss(solver: Any) -> float | None:
    n = int(getattr(solver, "iterations_per_epoch", 0) or 0)
    last = solver.loss_history[-n:] if n else []
    return float(sum(last) / len(last)) if last else None


def final_metrics(solver: Any) -> dict[str, float]:
    """``best_val_acc``, ``final_train_acc``, ``final_val_acc``, ``final_loss`` and ``epochs`` of a Solver."""
    out: dict[str, float] = {"best_val_acc": float(solver.best_val_acc), "epochs": float(solver.epoch)}
    if solver.train_acc_history:
        out["final_train_acc"] = float(solver.train_acc_history[-1])
    if solver.val_acc_history:
        out["final_val_acc"] = float(solver.val_acc_history[-1])
    if solver.loss_history:
        out["final_loss"] = float(solver.loss_history[-1])
    return out


class _IterationBuffer:
    """Per-iteration values kept as plain lists until the next flush."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float | None, float | None, float]] = []

    def add(self, solver: Any, t: int, loss: float) -> None:
        self.rows.append((t + 1, float(loss), _learning_rate(solver), _grad_norm(solver), time.time()))

    def take(self) -> list[tuple[int, float, float | None, float | None, float]]:
        rows, self.rows = self.rows, []
        return rows


# ---- TensorBoard --------------------------------------------------------------------------------------------
class TensorBoardLogger(Callback):
    """Write the Solver's training curves, weight histograms and hparams as TensorBoard event files.

    Parameters
    ----------
    logdir : folder of the event files (e.g. the run folder, or ``run/tensorboard``); created if missing.
    hparams : the run's settings (nested dicts are flattened to ``a.b`` keys); written at train end with the
        final metrics (:func:`final_metrics`) as ``hparam/<name>`` scalars, for TensorBoard's HParams tab.
    histograms : write a histogram of every parameter at every epoch end (``weights/<name>``).
    flush_secs : how often tensorboardX's writer thread flushes to disk.

    Read the result with ``tensorboard --logdir <logdir>``.
    """

    def __init__(self, logdir: str | os.PathLike, hparams: Mapping[str, Any] | None = None,
                 histograms: bool = True, flush_secs: int = 30) -> None:
        require_tensorboardx()
        self.logdir = Path(logdir)
        self.hparams = flatten_settings(hparams)
        self.histograms = bool(histograms)
        self.flush_secs = int(flush_secs)
        self.writer: Any = None
        self._buffer = _IterationBuffer()

    def _open(self) -> Any:
        if self.writer is None:
            from tensorboardX import SummaryWriter

            self.logdir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(logdir=str(self.logdir), flush_secs=self.flush_secs)
        return self.writer

    def on_train_begin(self, solver: Any) -> None:
        self._open()

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        self._buffer.add(solver, t, loss)

    def _flush_iterations(self) -> None:
        w = self._open()
        for step, loss, lr, grad_norm, wall in self._buffer.take():
            w.add_scalar("train/loss", loss, step, walltime=wall)
            if lr is not None:
                w.add_scalar("train/learning_rate", lr, step, walltime=wall)
            if grad_norm is not None:
                w.add_scalar("train/grad_norm", grad_norm, step, walltime=wall)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self._flush_iterations()
        w = self.writer
        w.add_scalar("epoch/train_acc", float(solver.train_acc_history[-1]), epoch)
        w.add_scalar("epoch/val_acc", float(solver.val_acc_history[-1]), epoch)
        loss = _epoch_loss(solver)
        if loss is not None:
            w.add_scalar("epoch/loss", loss, epoch)
        if self.histograms:
            for name, value in solver.model.params.items():
                arr = np.asarray(to_numpy(value)).ravel()
                if arr.size and np.isfinite(arr).all():
                    w.add_histogram(f"weights/{name}", arr, epoch)

    def on_train_end(self, solver: Any) -> None:
        self._flush_iterations()
        self.log_hparams(final_metrics(solver))
        self.close()

    def log_hparams(self, metrics: Mapping[str, float]) -> None:
        """Write the hparams session (settings + ``hparam/<metric>`` values) into this run's event file."""
        from tensorboardX.summary import hparams as hparams_summary

        w = self._open()
        metric_dict = {f"hparam/{k}": float(v) for k, v in metrics.items() if _is_number(v)}
        exp, ssi, sei = hparams_summary(self.hparams or {"run": str(self.logdir.name)}, metric_dict)
        for summary in (exp, ssi, sei):
            w.file_writer.add_summary(summary)
        for key, value in metric_dict.items():
            w.add_scalar(key, value, 0)

    def close(self) -> None:
        """Flush and close the event file (the logger may be reused: the next train opens a new one)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


# ---- MLflow -------------------------------------------------------------------------------------------------
def mlflow_uri(uri: str | None) -> str:
    """The tracking URI mlflow should use: ``DEFAULT_MLFLOW_URI`` for None; a relative SQLite path made absolute
    (and its folder created); ``postgresql://`` rewritten to ``postgresql+psycopg://`` when psycopg2 is missing
    and psycopg (v3) is installed (SQLAlchemy's dialect for it)."""
    uri = uri or os.environ.get("NNLAB_MLFLOW_URI") or DEFAULT_MLFLOW_URI
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.is_absolute():
            path = path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if re.match(r"postgres(ql)?://", uri):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", uri)
        return re.sub(r"^postgres://", "postgresql://", uri)
    return uri


def _default_artifact_root(uri: str) -> Path:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).parent / "mlartifacts"
    return Path("runs", "mlartifacts").resolve()


class MLflowLogger(Callback):
    """Log a training run to MLflow: settings as params, metrics per step, final metrics and the run folder.

    Parameters
    ----------
    tracking_uri : ``sqlite:///runs/mlflow.db`` by default (``$NNLAB_MLFLOW_URI`` overrides the default), a
        ``postgresql://user@host:port/db`` URI, or an MLflow server ``http://...``.
    experiment : experiment name (created on first use).
    run_name : the MLflow run's name (e.g. the run folder's name).
    params : the run's settings (flattened to ``a.b`` keys, values as strings).
    artifacts_dir : a folder uploaded as the run's artifacts when training ends, after which the run is ended.
        Leave it None when the caller saves the run folder after training: it then calls :meth:`log_final`.
    artifact_location : where a new experiment stores artifacts (default: ``mlartifacts`` beside the SQLite
        file, or ``runs/mlartifacts``).

    After ``train()``: ``run_id`` names the MLflow run; :meth:`log_final` adds metrics and artifacts and ends it.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str = "nnlab", run_name: str | None = None,
                 params: Mapping[str, Any] | None = None, artifacts_dir: str | os.PathLike | None = None,
                 artifact_location: str | os.PathLike | None = None, tags: Mapping[str, str] | None = None) -> None:
        require_mlflow()
        self.tracking_uri = mlflow_uri(tracking_uri)
        self.experiment = str(experiment)
        self.run_name = run_name
        self.params = flatten_settings(params)
        self.artifacts_dir = None if artifacts_dir is None else Path(artifacts_dir)
        root = Path(artifact_location) if artifact_location is not None else _default_artifact_root(
            self.tracking_uri)
        self.artifact_location = root.resolve().as_uri()
        self.tags = dict(tags or {})
        self.run_id: str | None = None
        self._client: Any = None
        self._buffer = _IterationBuffer()
        self._pending: list[Any] = []

    @property
    def client(self) -> Any:
        """The ``mlflow.tracking.MlflowClient`` of ``tracking_uri``."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def start(self) -> str:
        """Create the MLflow run (and the experiment if needed), log the params; returns the run id."""
        if self.run_id is not None:
            return self.run_id
        from mlflow.entities import Param

        client = self.client
        exp = client.get_experiment_by_name(self.experiment)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(
            self.experiment, artifact_location=self.artifact_location)
        tags = {"mlflow.source.name": "nnlab", **self.tags}
        if self.run_name:
            tags["mlflow.runName"] = self.run_name
        run = client.create_run(exp_id, tags=tags, run_name=self.run_name)
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in self.params.items()]
        for i in range(0, len(params), 100):
            client.log_batch(self.run_id, params=params[i:i + 100])
        return self.run_id

    def _metric(self, key: str, value: float, step: int, wall: float | None = None) -> None:
        from mlflow.entities import Metric

        if value is not None and math.isfinite(float(value)):
            self._pending.append(Metric(key, float(value), int((wall or time.time()) * 1000), int(step)))

    def flush(self) -> None:
        """Send buffered metrics to the store (batches of 1000)."""
        for step, loss, lr, grad_norm, wall in self._buffer.take():
            self._metric("train/loss", loss, step, wall)
            if lr is not None:
                self._metric("train/learning_rate", lr, step, wall)
            if grad_norm is not None:
                self._metric("train/grad_norm", grad_norm, step, wall)
        pending, self._pending = self._pending, []
        if pending:
            run_id = self.start()
            for i in range(0, len(pending), 1000):
                self.client.log_batch(run_id, metrics=pending[i:i + 1000])

    def on_train_begin(self, solver: Any) -> None:
        self.start()

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        self._buffer.add(solver, t, loss)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self._metric("epoch/train_acc", solver.train_acc_history[-1], epoch)
        self._metric("epoch/val_acc", solver.val_acc_history[-1], epoch)
        loss = _epoch_loss(solver)
        if loss is not None:
            self._metric("epoch/loss", loss, epoch)
        self.flush()

    def on_train_end(self, solver: Any) -> None:
        for key, value in final_metrics(solver).items():
            self._metric(key, value, int(solver.epoch))
        self.flush()
        if self.artifacts_dir is not None:
            self.log_final({}, self.artifacts_dir, status="FAILED" if solver.diverged else "FINISHED")

    def log_final(self, metrics: Mapping[str, Any] | None = None, run_dir: str | os.PathLike | None = None,
                  status: str | None = None) -> None:
        """Log the final ``metrics`` (numbers as metrics; ``status`` and other strings as tags), upload the files
        of ``run_dir`` as artifacts, and end the run (``FINISHED``, or ``FAILED`` when ``metrics['status']`` is
        ``failed``/``diverged``). Called by the runner after it has saved the run folder."""
        run_id = self.start()
        metrics = dict(metrics or {})
        for key, value in flatten_settings(metrics).items():
            if _is_number(value):
                self._metric(key, float(value), 0)
            elif isinstance(value, str) and len(value) <= 5000:
                self.client.set_tag(run_id, f"nnlab.{key}", value)
        self.flush()
        if run_dir is not None and Path(run_dir).is_dir():
            self.client.log_artifacts(run_id, str(run_dir))
        if status is None:
            status = "FAILED" if str(metrics.get("status", "")).lower() in ("failed", "diverged") else "FINISHED"
        self.client.set_terminated(run_id, status=status)
