"""The Solver's keyword options: their defaults and the checks that run before any training.

Every check raises a ``ValueError``/``TypeError`` that names the option and what was expected, e.g.
``"Solver: lr_decay must be in (0, 1], got -1"`` or ``"Solver: seed must be a non-negative integer, ..."``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import validation
from ..validation import check_array

__all__ = ["DEFAULTS", "SAVED_SETTINGS", "BATCH_ORDERS", "REQUIRED_DATA", "epoch_length", "check_int", "check_float",
           "check_seed", "check_data", "check_model", "check_rng_sources", "bind_schedule"]

REQUIRED_DATA = ("X_train", "y_train", "X_val", "y_val")
BATCH_ORDERS = ("sample", "shuffle", "sequential", "cyclic")
DEFAULTS: dict[str, Any] = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "checkpoint_name": None,
    "print_every": 10,
    "verbose": True,
    "seed": None,
    "progress": None,
    "callbacks": None,
    "lr_schedule": None,
    "batch_transform": None,
    "checkpoint_every": 1,
    "checkpoint_per_epoch": True,
    "divergence_guard": True,
    "divergence_factor": 1e3,
    "divergence_val_collapse": True,
    "batch_order": "sample",
    "drop_last": False,
    "grad_clip": None,
    "rng_sources": None,
    "keep_best": True,
    "iterations_per_epoch": None,
}
# Settings stored in a checkpoint's metadata (callables, callbacks and generators cannot be; pass them again).
SAVED_SETTINGS = ("lr_decay", "batch_size", "num_epochs", "num_train_samples", "num_val_samples",
                  "checkpoint_name", "print_every", "verbose", "seed", "progress", "checkpoint_every",
                  "checkpoint_per_epoch", "divergence_guard", "divergence_factor", "divergence_val_collapse",
                  "batch_order", "drop_last", "grad_clip", "keep_best", "iterations_per_epoch")


def epoch_length(num_train: int, batch_size: int, batch_order: str = "sample", drop_last: bool = False) -> int:
    """Iterations per epoch of the Solver: ``max(N // batch_size, 1)`` (CS231n; also 'cyclic' and any order with
    ``drop_last``), ``ceil(N / batch_size)`` for 'shuffle' and 'sequential' without ``drop_last`` (a short last
    batch). Recipes that size a learning-rate schedule before the Solver exists use it too."""
    if batch_order in ("shuffle", "sequential") and not drop_last:
        return -(-int(num_train) // int(batch_size))
    return max(int(num_train) // int(batch_size), 1)


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int after requiring an integer (not a bool) >= ``minimum``; the ValueError says
    ``"Solver: {name} must be an integer >= {minimum}, got ..."`` (:func:`nnlab.validation.check_int`)."""
    return validation.check_int("Solver", name, value, minimum)


def check_float(name: str, value: Any, low: float, high: float, low_open: bool, allow_none: bool = False,
                what: str = "") -> float | None:
    """``value`` as a float in ``(low, high]`` (``[low, high]`` unless ``low_open``); a string or bool is a
    ``TypeError``; None passes when ``allow_none``. ``what`` describes the allowed values in the message."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"Solver: {name} must be a number{' or None' if allow_none else ''}, "
                        f"got {type(value).__name__} {value!r}")
    x = float(value)
    if not (x > low if low_open else x >= low) or not x <= high or math.isnan(x):
        raise ValueError(f"Solver: {name} must be {what}, got {value!r}")
    return x


def check_seed(seed: Any) -> Any:
    """None, a non-negative int below 2**32, or a numpy RandomState/Generator."""
    if seed is None or isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"Solver: seed must be a non-negative integer, None or a numpy RandomState/Generator, "
                        f"got {type(seed).__name__} {seed!r}")
    if seed < 0 or seed >= 2**32:
        raise ValueError(f"Solver: seed must be a non-negative integer below 2**32, got {seed}")
    return int(seed)


def check_data(data: Any) -> None:
    """``data`` has X_train, y_train, X_val, y_val with matching, non-zero numbers of samples."""
    if not isinstance(data, Mapping):
        raise TypeError(f"Solver: data must be a dict with keys {', '.join(REQUIRED_DATA)}, "
                        f"got {type(data).__name__}")
    missing = [k for k in REQUIRED_DATA if k not in data]
    if missing:
        raise ValueError(f"Solver: data is missing the key(s) {', '.join(repr(k) for k in missing)} "
                         f"(it must contain {', '.join(REQUIRED_DATA)})")
    for split in ("train", "val"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        check_array("Solver", f"data['X_{split}']", X)
        check_array("Solver", f"data['y_{split}']", y, ndim=1, shape_hint="(N,)")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"Solver: data['X_{split}'] has {X.shape[0]} samples but data['y_{split}'] "
                             f"has {y.shape[0]} labels")
        if X.shape[0] == 0:
            raise ValueError(f"Solver: data['X_{split}'] is empty")


def check_model(model: Any) -> None:
    """``model`` has a dict ``params`` and a ``loss`` method (the CS231n contract)."""
    params = getattr(model, "params", None)
    if not isinstance(params, Mapping) or not callable(getattr(model, "loss", None)):
        raise TypeError("Solver: model must have a dict `params` and a method `loss(X, y=None)`, "
                        f"got {type(model).__name__}")


def check_rng_sources(sources: Any) -> dict[str, Any]:
    """None or a dict of named numpy RandomState/Generator objects (names without '/')."""
    if sources is None:
        return {}
    if not isinstance(sources, Mapping):
        raise TypeError(f"Solver: rng_sources must be a dict name -> RandomState/Generator, "
                        f"got {type(sources).__name__}")
    for name, rng in sources.items():
        if not isinstance(name, str) or "/" in name or not name:
            raise ValueError(f"Solver: rng_sources names must be non-empty strings without '/', got {name!r}")
        if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
            raise TypeError(f"Solver: rng_sources[{name!r}] must be a numpy RandomState or Generator, "
                            f"got {type(rng).__name__}")
    return dict(sources)


def bind_schedule(schedule: Any, hyperparameters: Mapping[str, float], update_rule: Any, rule_name: str,
                  num_iterations: int, num_epochs: int) -> tuple[Any, str | None]:
    """Validate ``lr_schedule``. Returns ``(bound, momentum_key)``: ``bound`` is an LRScheduler with its base lr
    (the config's ``learning_rate``) checked over the whole run, or None for a plain epoch callable (or None);
    ``momentum_key`` is the config key a momentum-cycling schedule sets (``'momentum'`` or ``'beta1'``)."""
    if schedule is None:
        return None, None
    if not callable(schedule) and not hasattr(schedule, "lr_at"):
        raise TypeError("Solver: lr_schedule must be a callable epoch -> learning_rate, an "
                        f"nnlab.schedules.LRScheduler or None, got {type(schedule).__name__}")
    if not hasattr(schedule, "per_iteration"):
        return None, None  # a plain epoch callable: the Solver applies it at epoch starts
    name = type(schedule).__name__
    base = hyperparameters.get("learning_rate")
    if base is None:
        raise ValueError(f"Solver: lr_schedule {name} needs a learning_rate in optim_config")
    bound = schedule.with_base_lr(base) if hasattr(schedule, "with_base_lr") else schedule
    last = num_iterations - 1 if bound.per_iteration else num_epochs
    try:
        bound.lr_at(0)
        bound.lr_at(last)
    except ValueError as err:
        unit = "iteration" if bound.per_iteration else "epoch"
        raise ValueError(f"Solver: lr_schedule {name} cannot cover this run ({num_iterations} iterations, "
                         f"{num_epochs} epochs; stepped per {unit}): {err}") from None
    key = None
    if getattr(bound, "momentum_at", lambda s: None)(0) is not None:
        declared = getattr(update_rule, "hyperparameters", ())
        key = "momentum" if "momentum" in declared else "beta1" if "beta1" in declared else None
        if key is None:
            raise ValueError(f"Solver: lr_schedule {name} cycles momentum but update rule {rule_name!r} has "
                             "neither 'momentum' nor 'beta1' (use a momentum rule or cycle_momentum=False)")
    return bound, key
