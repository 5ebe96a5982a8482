"""Recipes ``cifar10-fc`` and ``cifar10-fc-bn-dropout``: FullyConnectedNet + Adam on CIFAR-10.

``cifar10-fc`` has two presets (``--set preset=...``), each a configuration the spec prints:

- ``4x500`` (default; seed 002 experiment 3): hidden [500]*4, weight_scale 1e-2, Adam lr 1e-3, lr_decay 0.9 per
  epoch, batch 100, 10 epochs; spec best val 0.569 (epoch 7).
- ``5x200`` (seed 004 §6.8, "train a good model"): hidden [200]*4, weight_scale 2e-2, reg 1e-3, Adam lr 1e-3,
  lr_decay 0.95, batch 256, 10 epochs; spec val 0.537, test 0.526.

``cifar10-fc-bn-dropout`` (seed 002's "after batchnorm and dropout" goal, >= 0.55): hidden [500]*4 with batch
normalization before every ReLU and dropout (drop probability 0.25) after it, Adam lr 1e-3, lr_decay 0.9,
batch 100, 10 epochs.

Any setting of a preset can be overridden (``--set hidden_dims=[300,300] --set num_epochs=5``). Parameters
are float32 (the spec's 5x200 run is float64). The Solver keeps the best-validation weights, as the spec's.
The shared CIFAR-10 is a JPEG (quality 75) re-encoding, so accuracies may be a little lower than the spec's.

Artifacts: ``config.json``, ``metrics.json``, ``curves.png``, ``confusion.png``, ``weights.png`` (first-layer
weights as images), ``model.npz`` (parameters plus batch-norm running statistics; :func:`load_model` rebuilds
the trained net from the run directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .cifar10 import load_data, resolve_settings, solve_and_save

__all__ = ["DEFAULTS", "PRESETS", "QUICK", "load_model"]

#: Settings of both recipes; None means "the preset's value".
DEFAULTS: dict[str, Any] = {
    "preset": None,
    "hidden_dims": None,
    "normalization": None,
    "dropout": None,
    "weight_scale": None,
    "reg": None,
    "update_rule": None,
    "learning_rate": None,
    "lr_decay": None,
    "num_epochs": None,
    "batch_size": None,
    "seed": 0,
    "num_train": None,
    "data_path": None,
}
_BASE = {"normalization": None, "dropout": 0.0, "reg": 0.0, "update_rule": "adam", "learning_rate": 1e-3}
PRESETS: dict[str, dict[str, Any]] = {
    "4x500": {**_BASE, "hidden_dims": [500] * 4, "weight_scale": 1e-2, "lr_decay": 0.9, "num_epochs": 10,
              "batch_size": 100},
    "5x200": {**_BASE, "hidden_dims": [200] * 4, "weight_scale": 2e-2, "reg": 1e-3, "lr_decay": 0.95,
              "num_epochs": 10, "batch_size": 256},
    "bn-dropout": {**_BASE, "hidden_dims": [500] * 4, "normalization": "batchnorm", "dropout": 0.25,
                   "weight_scale": 1e-2, "lr_decay": 0.9, "num_epochs": 10, "batch_size": 100},
}
_RECIPE_PRESETS = {"cifar10-fc": ("4x500", "5x200"), "cifar10-fc-bn-dropout": ("bn-dropout",)}
# CI: 2500 images, 3 epochs of a smaller net.
QUICK: dict[str, Any] = {"hidden_dims": [100, 100], "num_epochs": 3}


def _settings(name: str, overrides: dict[str, Any], quick: bool) -> dict[str, Any]:
    cfg, _ = resolve_settings(name, DEFAULTS, QUICK, overrides, quick)
    allowed = _RECIPE_PRESETS[name]
    preset = cfg["preset"] or allowed[0]
    if preset not in allowed:
        raise ValueError(f"{name}: preset must be one of {', '.join(allowed)}, got {preset!r}")
    cfg["preset"] = preset
    for key, value in PRESETS[preset].items():
        if cfg[key] is None:
            cfg[key] = value
    return cfg


def _build(cfg: dict[str, Any]):
    from nnlab.models import FullyConnectedNet

    return FullyConnectedNet(list(cfg["hidden_dims"]), input_dim=3 * 32 * 32, num_classes=10,
                             dropout=cfg["dropout"], normalization=cfg["normalization"], reg=cfg["reg"],
                             weight_scale=cfg["weight_scale"], dtype=np.float32)


def load_model(run_dir: str | Path):
    """The trained ``FullyConnectedNet`` of a ``cifar10-fc*`` run directory (weights and batch-norm running
    statistics from ``model.npz``, architecture from ``config.json``), ready for ``model.loss(X)``."""
    from nnlab.io import load_arrays

    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    model = _build(cfg)
    arrays, _ = load_arrays(run_dir / "model.npz")
    params = {k: v for k, v in arrays.items() if k in model.params}
    model.params.update({k: np.asarray(v, dtype=np.float32) for k, v in params.items()})
    buffers = {k: v for k, v in arrays.items() if k not in model.params}
    if buffers:
        model.load_buffer_arrays(buffers)
    return model


def _train(name: str, run_dir: Path, quick: bool, progress: bool | None, callbacks: list | None,
           overrides: dict[str, Any]) -> dict[str, Any]:
    from nnlab.io import save_arrays
    from nnlab.viz import plot_weight_grid

    cfg = _settings(name, overrides, quick)
    data = load_data(cfg["data_path"], quick, cfg["num_train"])
    np.random.seed(cfg["seed"])  # the net draws its initial weights from NumPy's global RNG
    model = _build(cfg)
    _, metrics = solve_and_save(run_dir, model, data, cfg, progress, callbacks)
    arrays = {k: np.asarray(v) for k, v in model.params.items()}
    arrays.update({k: np.asarray(v) for k, v in model.buffer_arrays().items()})
    save_arrays(run_dir / "model.npz", arrays, metadata={"recipe": name, "buffers": sorted(model.buffer_arrays())})
    plot_weight_grid(model.params["W1"], run_dir / "weights.png", image_shape=(3, 32, 32), padding=3,
                     title="first-layer weights")
    return metrics


@register("cifar10-fc",
          summary="FullyConnectedNet + Adam on CIFAR-10: preset 4x500 (002, lr decay 0.9) or 5x200 (004 §6.8)",
          expected="spec: val 0.569 (4x500) / 0.537, test 0.526 (5x200); official CIFAR-10, shared data is JPEG q75")
def run_fc(run_dir: Path, quick: bool = False, progress: bool | None = None, callbacks: list | None = None,
           **overrides: Any) -> dict[str, Any]:
    """Train the preset's fully-connected net; write the run's artifacts and return the metrics."""
    return _train("cifar10-fc", run_dir, quick, progress, callbacks, overrides)


@register("cifar10-fc-bn-dropout",
          summary="FullyConnectedNet [500]*4 + batch norm + dropout 0.25, Adam, lr decay 0.9 on CIFAR-10 (002)",
          expected="spec goal: val >= 0.55 (official CIFAR-10; the shared data is JPEG q75)")
def run_bn_dropout(run_dir: Path, quick: bool = False, progress: bool | None = None, callbacks: list | None = None,
                   **overrides: Any) -> dict[str, Any]:
    """Train the batch-norm + dropout net; write the run's artifacts and return the metrics."""
    return _train("cifar10-fc-bn-dropout", run_dir, quick, progress, callbacks, overrides)
