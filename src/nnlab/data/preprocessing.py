"""Preprocessing fitted on the training split and applied to every split of a DESIGN.md data dict.

Each ``fit-and-apply`` function takes the dict (``X_train``, ``y_train``, ``X_val``, ...), computes its statistics on
``X_train`` only (in float64), and returns ``(new_dict, stats)``; the input dict is not modified and every array
keeps its dtype. The statistics are returned so that new data can be transformed the same way.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_mapping, check_numeric
from .datasets import split_indices

__all__ = ["min_max_scale", "one_hot", "standardize", "subtract_mean_image", "train_val_test_split"]

_X_KEYS = ("X_train", "X_val", "X_test")


def _train(fn: str, data: dict) -> np.ndarray:
    if "X_train" not in data:
        raise ValueError(f"{fn}: data must hold 'X_train' (a DESIGN.md dict), got keys {sorted(data)}")
    check_array(fn, "data['X_train']", data["X_train"])
    X = data["X_train"]
    if len(X) == 0:
        raise ValueError(f"{fn}: data['X_train'] is empty; there is nothing to fit the statistics on")
    return X


def _apply(data: dict, f) -> dict:
    out = dict(data)
    for k in _X_KEYS:
        if k in data:
            X = np.asarray(data[k])
            out[k] = f(X).astype(X.dtype, copy=False)
    return out


def subtract_mean_image(data: dict) -> tuple[dict, np.ndarray]:
    """CS231n's mean-image subtraction: ``X - mean(X_train, axis=0)`` for every split.

    Returns the new dict and the mean image (shape ``X_train.shape[1:]``, float64).
    """
    check_mapping("subtract_mean_image", "data", data, "a dict of splits (X_train, X_val, ...)")
    mean = _train("subtract_mean_image", data).mean(axis=0, dtype=np.float64)
    return _apply(data, lambda X: X - mean.astype(X.dtype)), mean


def _stat_axes(fn: str, X: np.ndarray, per: str) -> tuple[int, ...]:
    if per == "feature":
        return (0,)
    if per == "channel":
        if X.ndim != 4:
            raise ValueError(f"{fn}: per='channel' needs images (N, C, H, W), got shape {X.shape}")
        return (0, 2, 3)
    raise ValueError(f"{fn}: per must be 'feature' or 'channel', got {per!r}")


def standardize(data: dict, per: str = "feature", eps: float = 1e-8) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Zero mean, unit variance: ``(X - mu) / (sigma + eps)`` with mu, sigma of ``X_train``.

    ``per="feature"``: one mu/sigma per column (or per pixel of an image); ``per="channel"``: one per channel of
    (N, C, H, W) images. Returns the new dict and ``(mu, sigma)`` (float64, broadcastable against one sample
    batch).
    """
    check_mapping("standardize", "data", data, "a dict of splits (X_train, X_val, ...)")
    X = _train("standardize", data)
    axes = _stat_axes("standardize", X, per)
    mu = X.mean(axis=axes, dtype=np.float64, keepdims=True)[0]
    sigma = X.std(axis=axes, dtype=np.float64, keepdims=True)[0]
    return _apply(data, lambda Z: (Z - mu.astype(Z.dtype)) / (sigma + eps).astype(Z.dtype)), (mu, sigma)


def min_max_scale(data: dict, feature_range: tuple[float, float] = (0.0, 1.0)) -> tuple[dict, tuple]:
    """Per-feature min-max scaling (scikit-learn's ``MinMaxScaler``) fitted on ``X_train``.

    ``X' = lo + (X - min) * (hi - lo) / (max - min)``; a constant feature (max == min) is divided by 1.
    Val/test values outside the training range map outside ``feature_range``. Returns the new dict and
    ``(min, max)`` of the training split (float64).
    """
    check_mapping("min_max_scale", "data", data, "a dict of splits (X_train, X_val, ...)")
    lo, hi = feature_range
    if not lo < hi:
        raise ValueError(f"min_max_scale: feature_range must be (low, high) with low < high, got {feature_range}")
    X = _train("min_max_scale", data)
    xmin, xmax = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    span = np.where(xmax > xmin, xmax - xmin, 1.0)
    scale = (hi - lo) / span
    return _apply(data, lambda Z: (Z - xmin) * scale + lo), (xmin, xmax)


def one_hot(y: np.ndarray, num_classes: int | None = None, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Integer labels ``y`` (N,) -> one-hot rows (N, num_classes) of ``dtype`` (``num_classes`` defaults to
    ``max(y) + 1``)."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"one_hot: y must be a 1-D integer array of labels, got {y.dtype} shape {y.shape}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if len(y) else 0
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"one_hot: y must lie in [0, {num_classes}), got values in [{y.min()}, {y.max()}]")
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out


def train_val_test_split(X: np.ndarray, y: np.ndarray, val_fraction: float = 0.1, test_fraction: float = 0.2,
                         seed: int | None = 0, stratify: bool = True) -> dict[str, np.ndarray]:
    """Shuffle and split ``X`` (N, ...), ``y`` (N,) into the DESIGN.md dict (rows keep their original relative
    order inside each split). With ``stratify`` every class is split in the same proportions. Uses
    :func:`nnlab.data.datasets.split_indices`."""
    check_numeric("train_val_test_split", "X", X)
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_val_test_split: X has {len(X)} rows but y has {len(y)}")
    tr, va, te = split_indices(len(y), val_fraction, test_fraction, seed=seed, stratify=y if stratify else None)
    return {"X_train": X[tr], "y_train": y[tr], "X_val": X[va], "y_val": y[va], "X_test": X[te], "y_test": y[te]}
