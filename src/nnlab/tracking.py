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
import struct
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .callbacks import Callback
from .optional import require

__all__ = ["TensorBoardLogger", "MLflowLogger", "EventFile", "crc32c_many", "TrackingUnavailableError",
           "require_tensorboardx", "require_mlflow", "flatten_settings", "final_metrics", "mlflow_uri",
           "check_mlflow_uri", "probe_mlflow_store", "DEFAULT_MLFLOW_URI"]

_INSTALL_HINT = 'pip install "nnlab[tracking]"'
DEFAULT_MLFLOW_URI = "sqlite:///runs/mlflow.db"


class TrackingUnavailableError(ImportError):
    """tensorboardX or mlflow is not installed; the message names the install command."""


def require_tensorboardx() -> Any:
    """Import and return ``tensorboardX``; :class:`TrackingUnavailableError` with the install hint if absent."""
    return require(("tensorboardX",), TrackingUnavailableError, "TensorBoard logging", "tensorboardX", _INSTALL_HINT)


def require_mlflow() -> Any:
    """Import and return ``mlflow``; :class:`TrackingUnavailableError` with the install hint if absent."""
    return require(("mlflow", "mlflow.entities", "mlflow.tracking"), TrackingUnavailableError, "MLflow logging",
                   "mlflow-skinny", _INSTALL_HINT)


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


# ---- TensorBoard event files -------------------------------------------------------------------------------
_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected (TFRecord's checksum)
_CRC_SPAN = 4096  # messages up to this many bytes go through the vectorized path


class _Crc32c:
    """CRC-32C of many byte strings at once with NumPy (TFRecord frames every event with two of them).

    CRC-32C is affine over GF(2): with a zero initial register, a message's CRC is the XOR over its bytes of
    ``T[p][byte]``, the CRC of that byte followed by p zero bytes (p = bytes after it); leading zero bytes
    change nothing, so messages are right-aligned in one zero-padded matrix. The initial register 0xFFFFFFFF
    equals XOR-ing 0xFF into the first four bytes; the final XOR is 0xFFFFFFFF. ``T`` (up to 4096 x 256) grows
    as longer messages come.
    (tensorboardX computes the same checksum in pure Python, byte by byte: ~0.6 us per byte.)
    """

    def __init__(self) -> None:
        table = np.arange(256, dtype=np.uint32)
        for _ in range(8):
            table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC32C_POLY), table >> 1).astype(np.uint32)
        self.table = table
        self.T_flat = table.copy()  # rows T[0], T[1], ... flattened; grown on demand up to _CRC_SPAN rows
        self._rows(1024)  # an epoch's events are shorter: no growth while training

    def _rows(self, n: int) -> np.ndarray:
        """``T`` with at least ``n`` rows, flattened (row p starts at 256 p)."""
        have = self.T_flat.size // 256
        if have < n:
            T = np.empty((n, 256), dtype=np.uint32)
            T[:have] = self.T_flat.reshape(have, 256)
            for p in range(have, n):
                T[p] = self.table[T[p - 1] & 0xFF] ^ (T[p - 1] >> 8)
            self.T_flat = T.reshape(-1)
        return self.T_flat

    def scalar(self, data: bytes) -> int:
        """Byte-by-byte CRC-32C (any length)."""
        crc, table = 0xFFFFFFFF, self.table
        for b in data:
            crc = int(table[(crc ^ b) & 0xFF]) ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

    def many(self, messages: list[bytes]) -> list[int]:
        """CRC-32C of every message (vectorized for 4..4096 bytes, in groups of similar length; byte by byte
        otherwise)."""
        out = [0] * len(messages)
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(messages):
            if 4 <= len(m) <= _CRC_SPAN:
                groups.setdefault((len(m) + 31) // 32, []).append(i)
            else:
                out[i] = self.scalar(m)
        for members in groups.values():
            lengths = np.array([len(messages[i]) for i in members])
            L = int(lengths.max())
            padded = b"".join(bytes(L - len(messages[i])) + messages[i] for i in members)  # right-aligned
            M = np.frombuffer(padded, dtype=np.uint8).reshape(len(members), L).copy()
            rows, first = np.arange(len(members)), L - lengths
            for j in range(4):
                M[rows, first + j] ^= 0xFF
            offsets = np.arange(L - 1, -1, -1, dtype=np.intp) * 256  # row of T for each column
            contrib = np.take(self._rows(L), M + offsets)
            crcs = np.bitwise_xor.reduce(contrib, axis=1) ^ np.uint32(0xFFFFFFFF)
            for row, i in enumerate(members):
                out[i] = int(crcs[row])
        return out


_CRC: _Crc32c | None = None


def crc32c_many(messages: list[bytes]) -> list[int]:
    """CRC-32C (Castagnoli) of each message (see :class:`_Crc32c`)."""
    global _CRC
    if _CRC is None:
        _CRC = _Crc32c()
    return _CRC.many(messages)


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class EventFile:
    """An append-only TensorBoard event file (TFRecord frames of ``Event`` protos) written in batches.

    ``add(event)`` only queues the proto; ``flush()`` serializes the queued events, checksums them all at once
    and writes them with one ``write``. File name as TensorBoard expects: ``events.out.tfevents.<time>.<host>``.
    """

    def __init__(self, logdir: str | os.PathLike) -> None:
        import socket

        from tensorboardX.proto.event_pb2 import Event

        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        self.path = logdir / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.nnlab"
        k = 1
        while self.path.exists():
            k += 1
            self.path = self.path.with_name(f"{self.path.name}.{k}")
        self._file = open(self.path, "ab")  # noqa: SIM115  (kept open for the run, closed by close())
        self._headers: dict[int, bytes] = {}
        self._pending: list[Any] = [Event(wall_time=time.time(), file_version="brain.Event:2")]
        self.flush()

    def add(self, event: Any) -> None:
        self._pending.append(event)

    def _header(self, n: int) -> bytes:
        """The 12-byte record header for a payload of n bytes (length and its masked CRC), cached by n."""
        header = self._headers.get(n)
        if header is None:
            length = struct.pack("<Q", n)
            header = self._headers[n] = length + struct.pack("<I", _masked(crc32c_many([length])[0]))
        return header

    def flush(self) -> None:
        if not self._pending or self._file is None:
            return
        pending, self._pending = self._pending, []
        data = [e.SerializeToString() for e in pending]
        crcs = crc32c_many(data)
        parts = []
        for d, crc in zip(data, crcs):
            parts += [self._header(len(d)), d, struct.pack("<I", _masked(crc))]
        self._file.write(b"".join(parts))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None


_PROTOS: dict[str, Any] = {}  # tensorboardX's proto classes, imported on first use


class TensorBoardLogger(Callback):
    """Write the Solver's training curves, weight histograms and hparams as TensorBoard event files.

    Parameters
    ----------
    logdir : folder of the event files (e.g. the run folder, or ``run/tensorboard``); created if missing.
    hparams : the run's settings (nested dicts are flattened to ``a.b`` keys); written at train end with the
        final metrics (:func:`final_metrics`) as ``hparam/<name>`` scalars, for TensorBoard's HParams tab.
    histograms : at every epoch end, a histogram (``weights/<name>``, ``bins`` equal-width bins between its min
        and max) of every weight matrix or kernel (parameters of 2 or more axes); ``"all"`` adds the 1-D
        parameters (biases, gammas, betas); False writes none.

    Read the result with ``tensorboard --logdir <logdir>``. The protos (``Event``, ``Summary``, the hparams
    session) are tensorboardX's; the file is written here (:class:`EventFile`): tensorboardX's ``SummaryWriter``
    sends every event through a multiprocessing queue and checksums it in pure Python, which cost ~15 % of a
    digits-mlp epoch, where this costs well under 1 % (``benchmarks/bench_tracking.py``).
    """

    def __init__(self, logdir: str | os.PathLike, hparams: Mapping[str, Any] | None = None,
                 histograms: bool | str = True, bins: int = 30) -> None:
        require_tensorboardx()
        self.logdir = Path(logdir)
        self.hparams = flatten_settings(hparams)
        if histograms not in (True, False, "all"):
            raise ValueError(f"TensorBoardLogger: histograms must be True, False or 'all', got {histograms!r}")
        self.histograms = histograms
        self.bins = int(bins)
        if self.bins < 1:
            raise ValueError(f"TensorBoardLogger: bins must be >= 1, got {bins!r}")
        self.events: EventFile | None = None
        self._buffer = _IterationBuffer()

    def _open(self) -> EventFile:
        if not _PROTOS:
            from tensorboardX.proto.event_pb2 import Event
            from tensorboardX.proto.summary_pb2 import Summary

            _PROTOS.update(Event=Event, Summary=Summary, Value=Summary.Value)
        if self.events is None:
            self.events = EventFile(self.logdir)
        return self.events

    def _write(self, values: list[Any], step: int, wall: float | None = None) -> None:
        """Queue one event holding several summary values (scalars or histograms) at ``step``."""
        event = _PROTOS["Event"](wall_time=wall if wall is not None else time.time(), step=int(step),
                                 summary=_PROTOS["Summary"](value=values))
        self._open().add(event)

    @staticmethod
    def _scalar(tag: str, value: float) -> Any:
        return _PROTOS["Value"](tag=tag, simple_value=float(value))

    def on_train_begin(self, solver: Any) -> None:
        self._open()

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        self._buffer.add(solver, t, loss)

    def _queue_iterations(self) -> None:
        scalar = self._scalar
        for step, loss, lr, grad_norm, wall in self._buffer.take():
            values = [scalar("train/loss", loss)]
            if lr is not None:
                values.append(scalar("train/learning_rate", lr))
            if grad_norm is not None:
                values.append(scalar("train/grad_norm", grad_norm))
            self._write(values, step, wall)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self._queue_iterations()
        values = [self._scalar("epoch/train_acc", solver.train_acc_history[-1]),
                  self._scalar("epoch/val_acc", solver.val_acc_history[-1])]
        loss = _epoch_loss(solver)
        if loss is not None:
            values.append(self._scalar("epoch/loss", loss))
        self._write(values, epoch)
        if self.histograms:
            for name, value in solver.model.params.items():
                if self.histograms != "all" and getattr(value, "ndim", 0) < 2:
                    continue  # biases, gammas, betas: only with histograms="all"
                histo = _histogram(f"weights/{name}", value, self.bins)
                if histo is not None:
                    self._write([histo], epoch)
        self._open().flush()

    def on_train_end(self, solver: Any) -> None:
        self._queue_iterations()
        self.log_hparams(final_metrics(solver))
        self.close()

    def log_hparams(self, metrics: Mapping[str, float]) -> None:
        """Write the hparams session (settings + ``hparam/<metric>`` values) into this run's event file."""
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.summary import hparams as hparams_summary

        events = self._open()
        metric_dict = {f"hparam/{k}": float(v) for k, v in metrics.items() if _is_number(v)}
        for summary in hparams_summary(self.hparams or {"run": str(self.logdir.name)}, metric_dict):
            events.add(Event(wall_time=time.time(), summary=summary))
        self._write([self._scalar(k, v) for k, v in metric_dict.items()], 0)
        events.flush()

    def close(self) -> None:
        """Flush and close the event file (the logger may be reused: the next train opens a new one)."""
        if self.events is not None:
            self.events.close()
            self.events = None


def _histogram(tag: str, value: Any, bins: int) -> Any:
    """A TensorBoard histogram summary value of ``value`` (``bins`` equal-width buckets between its min and max,
    the bucket limits being the right edges), or None for an empty or non-finite array."""
    from tensorboardX.proto.summary_pb2 import HistogramProto, Summary

    arr = np.asarray(to_numpy(value)).ravel()
    if not arr.size:
        return None
    total, squares = float(arr.sum(dtype=np.float64)), float(np.dot(arr, arr))
    if not (math.isfinite(total) and math.isfinite(squares)):
        return None
    vmin, vmax = float(arr.min()), float(arr.max())
    lo, hi = (vmin, vmax) if vmax > vmin else (vmin - 0.5, vmin + 0.5)
    width = (hi - lo) / bins
    index = np.minimum(((arr - lo) * (1.0 / width)).astype(np.intp), bins - 1)  # bin k: [lo + k w, lo + (k+1) w)
    counts = np.bincount(index, minlength=bins)
    limits = [lo + (k + 1) * width for k in range(bins)]
    histo = HistogramProto(min=vmin, max=vmax, num=float(arr.size), sum=total, sum_squares=squares,
                           bucket_limit=limits, bucket=counts.astype(np.float64).tolist())
    return Summary.Value(tag=tag, histo=histo)


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


_MLFLOW_SCHEMES = ("file", "sqlite", "postgresql", "postgres", "mysql", "mssql", "http", "https", "databricks")


def check_mlflow_uri(uri: str | None) -> None:
    """Refuse a tracking URI MLflow cannot use, before anything is written: ``ValueError`` naming the URI and
    the schemes that work (``sqlite:///PATH``, ``postgresql://...``, ``http(s)://...``, ``file:PATH``, ...);
    a SQLite file must be in a folder that is (or can be created as) a folder. None = the default."""
    if uri is None:
        return
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError("the MLflow tracking URI is empty; give e.g. sqlite:///runs/mlflow.db")
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
    if match is None:  # a plain path: MLflow's file store
        return
    scheme = match.group(1).lower().split("+")[0]
    if len(scheme) == 1:  # a Windows drive letter
        return
    if scheme not in _MLFLOW_SCHEMES:
        raise ValueError(f"{uri!r}: unknown tracking URI scheme {scheme + '://'!r}; use sqlite:///PATH (default "
                         "sqlite:///<out>/mlflow.db), postgresql://user@host/db, mysql://..., http(s)://server or "
                         "file:PATH")
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            raise ValueError(f"{uri!r}: a SQLite URI is sqlite:///PATH (three slashes, then the file)")
        probe = Path(uri[len("sqlite:///"):]).expanduser().resolve().parent
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise ValueError(f"{uri!r}: {probe} is a file, not a folder, so the SQLite file cannot be created")


def probe_mlflow_store(uri: str | None, timeout_s: float = 5.0) -> None:
    """Connect to a database tracking URI (``postgresql://``, ``mysql://``, ``mssql://``) once, so that a store
    that cannot be reached is reported before any run folder exists: ``ValueError`` naming the URI and the
    driver's reason. SQLite, file and HTTP URIs are not probed (SQLite files are created on first use; an HTTP
    server is retried by MLflow itself)."""
    if uri is None:
        return
    resolved = mlflow_uri(uri)
    scheme = resolved.split(":", 1)[0].split("+")[0].lower()
    if scheme not in ("postgresql", "mysql", "mssql"):
        return
    try:
        import sqlalchemy
    except ImportError:  # pragma: no cover - mlflow depends on it
        return
    connect_args = {"connect_timeout": int(max(1, timeout_s))} if scheme in ("postgresql", "mysql") else {}
    try:
        engine = sqlalchemy.create_engine(resolved, connect_args=connect_args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001  (driver missing, refused, bad credentials, unknown database...)
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise ValueError(f"{uri!r}: cannot connect to the tracking database ({type(exc).__name__}: {reason})") \
            from None


_MLFLOW_BAD_KEY = re.compile(r"[^\w\-./ ]")  # characters MLflow refuses in metric and tag names


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
    flush_every_s : buffered metrics are sent at an epoch end once this many seconds have passed since the last
        send (a store write costs tens of milliseconds), and always at the end; 0 sends at every epoch end.

    After ``train()``: ``run_id`` names the MLflow run; :meth:`log_final` adds metrics and artifacts and ends it.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str = "nnlab", run_name: str | None = None,
                 params: Mapping[str, Any] | None = None, artifacts_dir: str | os.PathLike | None = None,
                 artifact_location: str | os.PathLike | None = None, tags: Mapping[str, str] | None = None,
                 flush_every_s: float = 10.0) -> None:
        require_mlflow()
        if not float(flush_every_s) >= 0:
            raise ValueError(f"MLflowLogger: flush_every_s must be >= 0, got {flush_every_s!r}")
        self.flush_every_s = float(flush_every_s)
        self._last_flush = 0.0
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
            key = _MLFLOW_BAD_KEY.sub("_", key)
            self._pending.append(Metric(key, float(value), int((wall or time.time()) * 1000), int(step)))

    def flush(self) -> None:
        """Send buffered metrics to the store (batches of 1000)."""
        for step, loss, lr, grad_norm, wall in self._buffer.take():
            self._metric("train/loss", loss, step, wall)
            if lr is not None:
                self._metric("train/learning_rate", lr, step, wall)
            if grad_norm is not None:
                self._metric("train/grad_norm", grad_norm, step, wall)
        self._last_flush = time.monotonic()
        run_id = self.start() if self._pending else None
        while self._pending:
            self.client.log_batch(run_id, metrics=self._pending[:1000])  # kept pending until the store has them
            del self._pending[:1000]

    def on_train_begin(self, solver: Any) -> None:
        self.start()
        self._last_flush = time.monotonic()

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        self._buffer.add(solver, t, loss)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        self._metric("epoch/train_acc", solver.train_acc_history[-1], epoch)
        self._metric("epoch/val_acc", solver.val_acc_history[-1], epoch)
        loss = _epoch_loss(solver)
        if loss is not None:
            self._metric("epoch/loss", loss, epoch)
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001  (a busy store must not stop training: retried at the next flush)
                warnings.warn(f"MLflowLogger: sending metrics to {self.tracking_uri} failed ({exc}); "
                              f"{len(self._pending)} kept for the next attempt", RuntimeWarning, stacklevel=2)

    def on_train_end(self, solver: Any) -> None:
        for key, value in final_metrics(solver).items():
            self._metric(key, value, int(solver.epoch))
        self.flush()
        if self.artifacts_dir is not None:
            self.log_final({}, self.artifacts_dir, status="FAILED" if solver.diverged else "FINISHED")

    def log_final(self, metrics: Mapping[str, Any] | None = None, run_dir: str | os.PathLike | None = None,
                  status: str | None = None) -> None:
        """Log the final ``metrics`` (numbers as metrics; ``status`` and other strings as tags; lists such as the
        histories are skipped: they are step metrics already and in ``metrics.json``), upload the files
        of ``run_dir`` as artifacts, and end the run (``FINISHED``, or ``FAILED`` when ``metrics['status']`` is
        ``failed``/``diverged``). Called by the runner after it has saved the run folder."""
        run_id = self.start()
        metrics = dict(metrics or {})
        scalars = {k: v for k, v in metrics.items() if not isinstance(v, (list, tuple, np.ndarray))}  # no histories
        for key, value in flatten_settings(scalars).items():
            if _is_number(value):
                self._metric(key, float(value), 0)
            elif isinstance(value, str) and len(value) <= 5000:
                self.client.set_tag(run_id, _MLFLOW_BAD_KEY.sub("_", f"nnlab.{key}"), value)
        self.flush()
        if run_dir is not None and Path(run_dir).is_dir():
            self.client.log_artifacts(run_id, str(run_dir))
        if status is None:
            status = "FAILED" if str(metrics.get("status", "")).lower() in ("failed", "diverged") else "FINISHED"
        self.client.set_terminated(run_id, status=status)
