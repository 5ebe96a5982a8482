"""Recipes ``cifar10-fc`` and ``cifar10-fc-bn-dropout``: FullyConnectedNet + Adam on CIFAR-10.

``cifar10-fc`` has two presets (``--set preset=5x200``), each a configuration the spec prints:

- ``4x500`` (default; seed 002 experiment 3): hidden [500]*4, weight_scale 1e-2, Adam lr 1e-3, lr_decay 0.9 per
  epoch, batch 100, 10 epochs; spec best val 0.569 (epoch 7).
- ``5x200`` (seed 004 §6.8, "train a good model"): hidden [200]*4, weight_scale 2e-2, reg 1e-3, Adam lr 1e-3,
  lr_decay 0.95, batch 256, 10 epochs; spec val 0.537, test 0.526.

``cifar10-fc-bn-dropout`` (seed 002's "after batchnorm and dropout" goal, >= 0.55): hidden [500]*4 with batch
normalization before every ReLU and dropout (drop probability 0.25) after it, Adam lr 1e-3, lr_decay 0.9,
batch 100, 10 epochs.

A preset fills every setting left at None (its default); any of them can be set explicitly
(``--set hidden_dims=[300,300] --set num_epochs=5``); ``config.json`` keeps the settings as given, the model
and the Solver use the preset's values for the others. Parameters are float32 (the spec's 5x200 run is float64).
The Solver keeps the best-validation weights, as the spec's. The shared CIFAR-10 is a JPEG (quality 75)
re-encoding, so accuracies may be a little lower than the spec's. Extra plot: ``weights.png`` (first-layer
weights as images); the batch-norm running statistics are saved with the weights (``load_run`` restores them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .cifar10 import QUICK_DATA, cifar10_data, cifar10_data_settings, plot_first_layer
from .contract import Recipe, Setting, standard_solver_settings

__all__ = ["PRESETS", "RECIPES", "preset_values"]

_BASE = {"normalization": "none", "dropout": 0.0, "reg": 0.0, "update_rule": "adam", "learning_rate": 1e-3}
#: The settings each preset gives to the settings left at None.
PRESETS: dict[str, dict[str, Any]] = {
    "4x500": {**_BASE, "hidden_dims": [500] * 4, "weight_scale": 1e-2, "lr_decay": 0.9, "num_epochs": 10,
              "batch_size": 100},
    "5x200": {**_BASE, "hidden_dims": [200] * 4, "weight_scale": 2e-2, "reg": 1e-3, "lr_decay": 0.95,
              "num_epochs": 10, "batch_size": 256},
    "bn-dropout": {**_BASE, "hidden_dims": [500] * 4, "normalization": "batchnorm", "dropout": 0.25,
                   "weight_scale": 1e-2, "lr_decay": 0.9, "num_epochs": 10, "batch_size": 100},
}
_FROM_PRESET = " (None: the preset's)"
# CI: 2500 images, 3 epochs of a smaller net.
_QUICK = {"hidden_dims": [100, 100], "num_epochs": 3, **QUICK_DATA}


def _settings(presets: tuple[str, ...]) -> list[Setting]:
    """The settings of a recipe offering ``presets`` (the first is the default); preset-given ones are None."""
    solver = [dataclasses.replace(s, default=None, nullable=True, help=s.help + _FROM_PRESET)
              if s.name in PRESETS[presets[0]] else s
              for s in standard_solver_settings(num_train_samples=1000, seed=0)]
    return [
        Setting("preset", "str", presets[0], "the spec's configuration to start from", choices=presets),
        Setting("hidden_dims", "ints", None, "hidden layer sizes" + _FROM_PRESET, low=1, nullable=True),
        Setting("normalization", "str", None, "normalization before each hidden ReLU" + _FROM_PRESET,
                choices=("batchnorm", "layernorm", "none", None), nullable=True),
        Setting("dropout", "float", None, "drop probability after each hidden ReLU" + _FROM_PRESET, low=0, high=1,
                high_open=True, nullable=True),
        Setting("reg", "float", None, "L2 strength (0.5 * reg * sum W^2)" + _FROM_PRESET, low=0, nullable=True),
        Setting("weight_scale", "float", None, "std of the initial Gaussian weights" + _FROM_PRESET, low=0,
                low_open=True, nullable=True),
        *solver,
        *cifar10_data_settings(),
    ]


def preset_values(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with every setting left at None taken from ``PRESETS[cfg["preset"]]``."""
    out = dict(cfg)
    for key, value in PRESETS[cfg["preset"]].items():
        if out.get(key) is None:
            out[key] = value
    return out


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import FullyConnectedNet

    c = preset_values(cfg)
    # the net draws its initial weights (and dropout masks) from NumPy's global RNG, seeded by the runner
    return FullyConnectedNet(list(c["hidden_dims"]), input_dim=3 * 32 * 32, num_classes=10, dropout=c["dropout"],
                             normalization=None if c["normalization"] == "none" else c["normalization"],
                             reg=c["reg"], weight_scale=c["weight_scale"], dtype=np.float32)


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The preset's update rule, learning rate, decay, epochs and batch size where the settings left them None."""
    c = preset_values(cfg)
    return {"update_rule": c["update_rule"], "optim_config": {"learning_rate": c["learning_rate"]},
            "lr_decay": c["lr_decay"], "num_epochs": c["num_epochs"], "batch_size": c["batch_size"]}


def _recipe(name: str, presets: tuple[str, ...], summary: str, expected: str) -> Recipe:
    return Recipe(name=name, summary=summary, expected=expected, settings=_settings(presets), quick=_QUICK,
                  data=cifar10_data, model=_model, solver=_solver, plots=plot_first_layer)


RECIPES = [
    _recipe("cifar10-fc", ("4x500", "5x200"),
            "FullyConnectedNet + Adam on CIFAR-10: preset 4x500 (002, lr decay 0.9) or 5x200 (004 §6.8)",
            "spec: val 0.569 (4x500) / 0.537, test 0.526 (5x200); official CIFAR-10, shared data is JPEG q75"),
    _recipe("cifar10-fc-bn-dropout", ("bn-dropout",),
            "FullyConnectedNet [500]*4 + batch norm + dropout 0.25, Adam, lr decay 0.9 on CIFAR-10 (002)",
            "spec goal: val >= 0.55 (official CIFAR-10; the shared data is JPEG q75)"),
]
