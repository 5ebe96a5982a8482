"""Argument checks shared by kernels, models and the Solver.

Each check raises ``ValueError``/``TypeError`` with a message that names the function, the argument, what it
got and what was expected, e.g. ``"affine_forward: w must be 2-D (D, M), got shape (3,)"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_array(fn: str, name: str, x: Any, ndim: int | tuple[int, ...] | None = None,
                shape_hint: str = "", float_only: bool = False) -> None:
    """Require ``x`` to be an array (``.shape``/``.dtype``), optionally of given rank(s) and a float dtype."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{fn}: {name} must be an array, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            hint = f" {shape_hint}" if shape_hint else ""
            raise ValueError(f"{fn}: {name} must be {want}{hint}, got shape {tuple(x.shape)}")
    if float_only and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{fn}: {name} must have a floating-point dtype, got {x.dtype}")


def check_min_ndim(fn: str, name: str, x: Any, min_ndim: int, shape_hint: str = "") -> None:
    """Require ``x`` to be an array with at least ``min_ndim`` dimensions."""
    check_array(fn, name, x)
    if x.ndim < min_ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{fn}: {name} must have at least {min_ndim} dimensions{hint}, got shape {tuple(x.shape)}")


def check_finite(fn: str, name: str, x: Any) -> None:
    """Require every entry of ``x`` to be finite (no NaN or inf)."""
    if not bool(np.all(np.isfinite(x))):
        raise ValueError(f"{fn}: {name} contains NaN or inf")


def check_labels(fn: str, name: str, y: Any, n: int, num_classes: int) -> None:
    """Require integer labels of shape (n,) with values in [0, num_classes)."""
    check_array(fn, name, y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{fn}: {name} must have shape ({n},) to match the scores, got {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{fn}: {name} must hold integer class labels, got dtype {y.dtype}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"{fn}: {name} must be in [0, {num_classes}), got values from {int(y.min())} to {int(y.max())}"
        )


def check_same_shape(fn: str, name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Require two arrays to have the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{fn}: {name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}")


def check_probability(fn: str, name: str, p: float, low_inclusive: bool = True, high_inclusive: bool = False) -> None:
    """Require ``p`` to be a number in [0, 1) (bounds configurable)."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be a number, got {type(p).__name__}") from None
    lo_ok = value >= 0 if low_inclusive else value > 0
    hi_ok = value <= 1 if high_inclusive else value < 1
    if not (lo_ok and hi_ok) or not np.isfinite(value):
        lo = "[" if low_inclusive else "("
        hi = "]" if high_inclusive else ")"
        raise ValueError(f"{fn}: {name} must be in {lo}0, 1{hi}, got {p}")
