"""Default recipe ``digits-mlp``: a fully-connected net on scikit-learn's bundled 8x8 digits (no download, < 1 min)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import Recipe, Setting, standard_solver_settings

DIGIT_NAMES = [str(i) for i in range(10)]


def mlp_settings(hidden_dims: list[int], normalization: str | None, dropout: float, reg: float,
                 weight_scale: float, activation: str = "relu") -> list[Setting]:
    """The architecture settings of a FullyConnectedNet recipe, with the recipe's defaults."""
    return [
        Setting("hidden_dims", "ints", hidden_dims, "hidden layer sizes", low=1),
        Setting("normalization", "str", normalization, "normalization after each hidden affine layer",
                choices=("batchnorm", "layernorm", None), nullable=True),
        Setting("activation", "str", activation, "hidden activation",
                choices=("relu", "leaky_relu", "sigmoid", "tanh", "softsign")),
        Setting("dropout", "float", dropout, "drop probability after each hidden layer", low=0, high=1,
                high_open=True),
        Setting("reg", "float", reg, "L2 strength (0.5 * reg * sum W^2)", low=0),
        Setting("weight_scale", "float", weight_scale, "std of the initial Gaussian weights", low=0, low_open=True),
    ]


def _data(cfg: dict[str, Any]) -> dict[str, Any]:
    from nnlab.data import load_digits

    data = load_digits(seed=cfg["seed"], standardize=False)
    mean = data["X_train"].mean(axis=0, dtype=np.float64).astype(np.float32)  # as load_digits(standardize=True)
    for split in ("train", "val", "test"):
        data[f"X_{split}"] = data[f"X_{split}"] - mean
    data["info"] = {"class_names": DIGIT_NAMES, "mean": mean,
                    "image": {"height": 8, "width": 8, "mode": "L", "scale": 1 / 255, "layout": "flat"}}
    return data


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import FullyConnectedNet

    return FullyConnectedNet(cfg["hidden_dims"], input_dim=int(np.prod(info["input_shape"])), num_classes=10,
                             normalization=cfg["normalization"], activation=cfg["activation"], dropout=cfg["dropout"],
                             reg=cfg["reg"], weight_scale=cfg["weight_scale"], dtype=np.float32)


RECIPES = [Recipe(
    name="digits-mlp",
    summary="FullyConnectedNet [256, 128] + batch norm + Adam on the 8x8 digits (default)",
    expected="test accuracy >= 0.97 in under a minute on 2 cores",
    settings=[*mlp_settings([256, 128], "batchnorm", 0.1, 1e-4, 0.1),
              *standard_solver_settings(update_rule="adam", learning_rate=2e-3, lr_decay=0.95, num_epochs=30,
                                        batch_size=64, seed=0, num_train_samples=None)],
    quick={"num_epochs": 3},
    data=_data,
    model=_model,
)]
