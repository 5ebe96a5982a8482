"""Default recipe: a fully-connected net on scikit-learn's bundled 8x8 digits (no download, < 1 minute)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .artifacts import apply_overrides, save_classifier_run

DEFAULTS: dict[str, Any] = {
    "hidden_dims": [256, 128],
    "normalization": "batchnorm",
    "activation": "relu",
    "dropout": 0.1,
    "reg": 1e-4,
    "weight_scale": 0.1,
    "update_rule": "adam",
    "learning_rate": 2e-3,
    "lr_decay": 0.95,
    "num_epochs": 30,
    "batch_size": 64,
    "seed": 0,
}
QUICK = {"num_epochs": 3}


@register("digits-mlp", summary="FullyConnectedNet [256, 128] + batch norm + Adam on the 8x8 digits (default)",
          expected="test accuracy >= 0.97 in under a minute on 2 cores")
def run(run_dir: Path, quick: bool = False, progress: bool | None = None, callbacks: list | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Train the default digits MLP, write its artifacts into ``run_dir`` and return the metrics.

    ``callbacks`` (Solver callbacks, e.g. the tuner's pruning hook) are passed to the Solver as they are."""
    from nnlab.data import load_digits
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver

    cfg = apply_overrides(DEFAULTS, overrides, "digits-mlp")
    if quick:
        cfg.update({k: v for k, v in QUICK.items() if k not in overrides})
    cfg["recipe"] = "digits-mlp"
    cfg["quick"] = quick

    data = load_digits(seed=cfg["seed"])
    np.random.seed(cfg["seed"])  # the model draws its initial weights from NumPy's global RNG
    model = FullyConnectedNet(
        cfg["hidden_dims"], input_dim=data["X_train"].shape[1], num_classes=10,
        normalization=cfg["normalization"], activation=cfg["activation"], dropout=cfg["dropout"],
        reg=cfg["reg"], weight_scale=cfg["weight_scale"], dtype=np.float32,
    )
    solver = Solver(
        model, data, update_rule=cfg["update_rule"], optim_config={"learning_rate": cfg["learning_rate"]},
        lr_decay=cfg["lr_decay"], num_epochs=cfg["num_epochs"], batch_size=cfg["batch_size"],
        num_train_samples=None, verbose=False, progress=progress, seed=cfg["seed"],
        checkpoint_name=str(run_dir / "checkpoint"), checkpoint_per_epoch=False, callbacks=callbacks,
    )
    start = time.perf_counter()
    solver.train()
    train_seconds = time.perf_counter() - start
    return save_classifier_run(run_dir, solver, data, cfg, extra_metrics={"train_seconds": train_seconds},
                               class_names=[str(i) for i in range(10)])
