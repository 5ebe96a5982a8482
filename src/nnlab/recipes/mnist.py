"""Recipe ``mnist-mlp``: seed 001's two MNIST experiments (spec/seeds_000_002.md §001.C) with batch norm.

One recipe runs both experiments (setting ``experiment``: ``1``, ``2`` or ``"both"``, the default):

=========  ==========================  ==================================  ======================
experiment  network                     optimizer                           spec test accuracy
=========  ==========================  ==================================  ======================
1           [784, 100, 100, 64, 10]     Adam lr 1e-2, inverse-time decay 1   96.10 % (train 96.89)
2           [784, 100, 100, 10]         Adam lr 1e-3, inverse-time decay 0.1 96.64 % (train 97.142)
=========  ==========================  ==================================  ======================

Both: batch norm on every hidden layer, ReLU, batch 64, 3 epochs, Adam beta1 0.9 / beta2 0.99, learning rate
``lr / (1 + decay_rate * epoch)`` (epoch 0-indexed), weights ``randn * 2 / sqrt(fan_in)`` drawn after
``np.random.seed(1)`` (the spec's "Kaiming" initialization), zero biases, pixels scaled to [-1, 1].

Where nnlab differs from the seed's hand-written network (documented, not hidden):

- ``FullyConnectedNet`` puts batch norm *before* ReLU and not on the output layer, with gamma = 1, beta = 0 and
  running statistics for test time; seed 001 normalizes *after* ReLU on every layer (output included), draws
  gamma and beta from ``randn`` and normalizes the test set with its own batch statistics.
- nnlab's Adam is bias-corrected with epsilon outside the square root; seed 001's has no bias correction and
  epsilon inside. The betas are the seed's (0.9, 0.99).
- The Solver needs a validation split: the last ``num_validation`` (5000) training images, so training uses
  55,000 images sampled with replacement (859 iterations per epoch, the seed: 938 contiguous batches of 60,000).

With ``experiment="both"`` each experiment writes its own artifacts (``config.json``, ``metrics.json``,
``curves.png``, ``confusion.png``, ``model.npz``) into ``exp1/`` and ``exp2/`` and the run directory gets a
summary ``config.json`` / ``metrics.json`` (``exp1_test_acc``, ``exp2_test_acc``, ..., ``meets_spec``); with a
single experiment the artifacts are written into the run directory itself (use this for ``nnlab tune``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .artifacts import apply_overrides, save_classifier_run, write_json

__all__ = ["DEFAULTS", "QUICK", "EXPERIMENTS", "SPEC_TEST_ACC", "kaiming_init", "run"]

# The spec's settings of each experiment (seed 001, 001.C).
EXPERIMENTS: dict[int, dict[str, Any]] = {
    1: {"hidden_dims": [100, 100, 64], "learning_rate": 1e-2, "decay_rate": 1.0},
    2: {"hidden_dims": [100, 100], "learning_rate": 1e-3, "decay_rate": 0.1},
}
SPEC_TEST_ACC = {1: 0.9610, 2: 0.9664}
SPEC_TRAIN_ACC = {1: 0.9689, 2: 0.97142}

DEFAULTS: dict[str, Any] = {
    "experiment": "both",
    # None = the experiment's value from EXPERIMENTS
    "hidden_dims": None,
    "learning_rate": None,
    "decay_rate": None,
    "num_epochs": 3,
    "batch_size": 64,
    "beta1": 0.9,
    "beta2": 0.99,
    "epsilon": 1e-8,
    "normalization": "batchnorm",
    "init": "kaiming",  # randn * 2 / sqrt(fan_in) as seed 001; a float = that constant std
    "num_validation": 5000,
    "num_train": None,  # None = all the remaining training images
    "num_test": None,  # None = all 10,000 test images
    "seed": 1,
    "data_path": None,
}
# CI: 5000 training images, 2 epochs (156 steps per experiment); accuracy must reach far above chance (10 %).
QUICK = {"num_train": 5000, "num_validation": 1000, "num_test": 2000, "num_epochs": 2}


def kaiming_init(dims: list[int], rng: Any = None, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Seed 001's weights ``randn(fan_out, fan_in) * 2 / sqrt(fan_in)`` for consecutive ``dims``, transposed.

    Inputs: dims [D, H1, ..., C]; rng: NumPy RandomState/Generator or None (the global RNG), drawn in layer order
    with the seed's (out, in) shapes, so ``np.random.seed(1)`` gives the seed's matrices.
    Returns ``{"W1": (D, H1), ...}`` in nnlab's (in, out) layout.
    """
    from nnlab.backend import get_rng, normal

    rng = get_rng(rng)
    return {f"W{i}": np.ascontiguousarray(normal(rng, (dims[i], dims[i - 1])).T * (2.0 / np.sqrt(dims[i - 1])))
            .astype(dtype) for i in range(1, len(dims))}


def _experiments(choice: Any) -> list[int]:
    if str(choice).lower() == "both":
        return [1, 2]
    if str(choice) in ("1", "2"):
        return [int(choice)]
    raise ValueError(f"mnist-mlp: experiment must be 1, 2 or 'both', got {choice!r}")


def _load(cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    """MNIST rows (N, 784) in [-1, 1], cut to ``num_train`` / ``num_test`` when those are set."""
    from nnlab.data import load_mnist

    if int(cfg["num_validation"]) < 1:
        raise ValueError(f"mnist-mlp: num_validation must be >= 1 (the Solver needs a validation split), "
                         f"got {cfg['num_validation']!r}")
    data = load_mnist(cfg["data_path"], num_validation=int(cfg["num_validation"]), scale="symmetric",
                      flatten=True, dtype=np.float32)
    for split, key in (("train", "num_train"), ("test", "num_test")):
        if cfg[key] is not None:
            data[f"X_{split}"], data[f"y_{split}"] = data[f"X_{split}"][:cfg[key]], data[f"y_{split}"][:cfg[key]]
    return data


def _train_one(run_dir: Path, exp: int, cfg: dict[str, Any], data: dict[str, np.ndarray],
               progress: bool | None, callbacks: list | None) -> dict[str, Any]:
    """Train experiment ``exp`` and write its artifacts into ``run_dir``; returns its metrics."""
    from nnlab.models import FullyConnectedNet
    from nnlab.schedules import inverse_time_decay
    from nnlab.solver import Solver

    exp_cfg = {k: (cfg[k] if cfg[k] is not None else v) for k, v in EXPERIMENTS[exp].items()}
    run_cfg = {**{k: v for k, v in cfg.items() if k != "experiment"}, **exp_cfg, "experiment": exp,
               "recipe": "mnist-mlp", "spec_test_acc": SPEC_TEST_ACC[exp], "spec_train_acc": SPEC_TRAIN_ACC[exp]}
    np.random.seed(run_cfg["seed"])
    dims = [784, *exp_cfg["hidden_dims"], 10]
    scale = 1.0 if run_cfg["init"] == "kaiming" else float(run_cfg["init"])
    model = FullyConnectedNet(exp_cfg["hidden_dims"], input_dim=784, num_classes=10,
                              normalization=run_cfg["normalization"], weight_scale=scale, dtype=np.float32)
    if run_cfg["init"] == "kaiming":
        model.params.update(kaiming_init(dims, np.random.RandomState(run_cfg["seed"])))
    solver = Solver(
        model, data, update_rule="adam",
        optim_config={"learning_rate": exp_cfg["learning_rate"], "beta1": run_cfg["beta1"],
                      "beta2": run_cfg["beta2"], "epsilon": run_cfg["epsilon"]},
        lr_schedule=inverse_time_decay(exp_cfg["learning_rate"], exp_cfg["decay_rate"]),
        num_epochs=run_cfg["num_epochs"], batch_size=run_cfg["batch_size"], num_train_samples=5000,
        verbose=False, progress=progress, seed=run_cfg["seed"], callbacks=callbacks,
        checkpoint_name=str(run_dir / "checkpoint"), checkpoint_per_epoch=False,
    )
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    metrics = save_classifier_run(run_dir, solver, data, run_cfg, extra_metrics={"train_seconds": seconds},
                                  class_names=[str(i) for i in range(10)])
    metrics["spec_test_acc"] = SPEC_TEST_ACC[exp]
    metrics["meets_spec"] = bool(metrics["test_acc"] >= SPEC_TEST_ACC[exp])
    write_json(run_dir / "metrics.json", metrics)
    return metrics


@register("mnist-mlp", summary="seed 001 exp. 1 [784,100,100,64,10] and exp. 2 [784,100,100,10]: batch norm, "
                               "Adam, inverse-time lr decay, 3 epochs on MNIST ([-1, 1] pixels)",
          expected="test accuracy >= 0.9610 (exp. 1) and >= 0.9664 (exp. 2); --set experiment=1|2 runs one")
def run(run_dir: Path, quick: bool = False, progress: bool | None = None, callbacks: list | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Train seed 001's MNIST experiment(s), write the artifacts under ``run_dir`` and return the metrics.

    A single experiment returns its metrics (``train_acc``, ``val_acc``, ``test_acc``, ``best_val_acc``,
    histories, ``train_seconds``, ``meets_spec``); both return ``exp{k}_<metric>`` for each and ``meets_spec``.
    """
    cfg = apply_overrides(DEFAULTS, overrides, "mnist-mlp")
    if quick:
        cfg.update({k: v for k, v in QUICK.items() if k not in overrides})
    cfg["quick"] = quick
    experiments = _experiments(cfg["experiment"])
    data = _load(cfg)
    if len(experiments) == 1:
        return _train_one(run_dir, experiments[0], cfg, data, progress, callbacks)

    summary: dict[str, Any] = {}
    for exp in experiments:
        sub = run_dir / f"exp{exp}"
        sub.mkdir(exist_ok=True)
        metrics = _train_one(sub, exp, cfg, data, progress, callbacks)
        for key in ("train_acc", "val_acc", "test_acc", "best_val_acc", "train_seconds", "spec_test_acc"):
            summary[f"exp{exp}_{key}"] = metrics[key]
    summary["meets_spec"] = all(summary[f"exp{e}_test_acc"] >= SPEC_TEST_ACC[e] for e in experiments)
    write_json(run_dir / "config.json", {**cfg, "recipe": "mnist-mlp", "experiments": EXPERIMENTS})
    write_json(run_dir / "metrics.json", summary)
    return summary
