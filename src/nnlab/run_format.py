"""The run format: the one place that names a run folder's files and writes them.

Every recipe run writes one folder (by :mod:`nnlab.runner`; read back by :mod:`nnlab.runs`)::

    config.json    {"format", "recipe", "variant", "quick", "settings": {typed settings}, "info": {...}, "created"}
    metrics.json   {"status": "running|finished|stopped|diverged|failed", "reason", figures, histories, ...}
    model.npz      params/<name>, buffers/<name> (batch-norm running statistics), info/<name> (arrays the
                   preprocessing needs, e.g. the mean image); metadata = config.json's content. No pickle.
    checkpoint_latest.npz   the Solver's training state (optimizer, RNG states, iteration) for --resume
    *.png          plots (curves.png, confusion.png, sweep.png and the recipe's own)

``model.npz`` holds what is needed to rebuild the model: the recipe's name and settings; the recipe's ``model``
function rebuilds the architecture, then the arrays are loaded into it. A study (several variants) writes one
such folder per variant under its own folder, plus a summary ``config.json`` / ``metrics.json``; a sweep keeps
its configurations under ``sweep/NNNN/``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .io import save_arrays, write_json_atomic
from .version import __version__

__all__ = ["RUN_FORMAT", "STATUSES", "CONFIG", "METRICS", "MODEL", "CHECKPOINT_STEM", "CHECKPOINT", "CURVES_PLOT",
           "CONFUSION_PLOT", "SWEEP_PLOT", "SWEEP_DIR", "RunError", "read_json", "write_config", "write_metrics",
           "process_marks", "save_model"]

RUN_FORMAT = "nnlab.run/1"
STATUSES = ("running", "finished", "stopped", "diverged", "failed")

CONFIG = "config.json"
METRICS = "metrics.json"
MODEL = "model.npz"
#: the Solver's ``checkpoint_name`` inside a run folder: it writes ``f"{CHECKPOINT_STEM}_latest.npz"``
CHECKPOINT_STEM = "checkpoint"
CHECKPOINT = f"{CHECKPOINT_STEM}_latest.npz"
CURVES_PLOT = "curves.png"
CONFUSION_PLOT = "confusion.png"
SWEEP_PLOT = "sweep.png"
#: a sweep's configurations, each a complete run (``sweep/0000/`` ...), under the sweep's run folder
SWEEP_DIR = "sweep"


class RunError(ValueError):
    """A folder that is not a (complete, readable) nnlab run; the message names the file and what was expected."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; :class:`RunError` naming the file when missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: file not found (is {path.parent} an nnlab run folder?)")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: corrupt JSON ({exc}); expected the file nnlab wrote") from None
    if not isinstance(obj, dict):
        raise RunError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def write_config(run_dir: Path, recipe: str, settings: Mapping[str, Any], info: Mapping[str, Any],
                 quick: bool, variant: str | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``config.json`` (atomically) and return its content."""
    config = {"format": RUN_FORMAT, "run_name": Path(run_dir).name, "recipe": recipe, "variant": variant,
              "quick": bool(quick),
              "settings": dict(settings), "info": {k: v for k, v in info.items() if not isinstance(v, np.ndarray)},
              "nnlab_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
    write_json_atomic(Path(run_dir) / CONFIG, config)
    return config


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> None:
    """Write ``metrics.json`` atomically."""
    write_json_atomic(Path(run_dir) / METRICS, metrics)


def process_marks() -> dict[str, Any]:
    """What a running run records in ``metrics.json`` so readers can tell whether it is still alive: ``pid``,
    ``host`` and ``heartbeat`` (seconds since the epoch, rewritten while training)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()}


def save_model(run_dir: Path, model: Any, config: Mapping[str, Any], info: Mapping[str, Any]) -> Path:
    """Write ``model.npz``: the model's parameters and buffers, the info arrays, config.json's content as metadata."""
    hook = getattr(model, "buffer_arrays", None)
    buffers = {k: np.asarray(v) for k, v in hook().items()} if callable(hook) else {}
    arrays = {f"params/{k}": np.asarray(v) for k, v in model.params.items()}
    arrays.update({f"buffers/{k}": v for k, v in buffers.items()})
    arrays.update({f"info/{k}": np.asarray(v) for k, v in info.items() if isinstance(v, np.ndarray)})
    return save_arrays(Path(run_dir) / MODEL, arrays, metadata=dict(config))
