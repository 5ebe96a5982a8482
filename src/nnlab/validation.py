"""Argument checks shared by kernels, models and the Solver.

Each check raises ``ValueError``/``TypeError`` with a message that names the function, the argument, what it
got and what was expected, e.g. ``"affine_forward: w must be 2-D (D, M), got shape (3,)"``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def check_array(fn: str, name: str, x: Any, ndim: int | tuple[int, ...] | None = None,
                shape_hint: str = "", float_only: bool = False, numeric: bool = False) -> None:
    """Require ``x`` to be an array (``.shape``/``.dtype``), optionally of given rank(s) and a float dtype.

    ``numeric=True`` refuses strings, bytes and objects (``"{fn}: {name} must have a numeric dtype, got <U1"``)
    while letting bool, integer, float and complex arrays through. Every check is O(1): attributes only."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{fn}: {name} must be an array, got {type(x).__name__}")
    if numeric and x.dtype.kind not in "biufc":
        raise TypeError(f"{fn}: {name} must have a numeric dtype, got {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            hint = f" {shape_hint}" if shape_hint else ""
            raise ValueError(f"{fn}: {name} must be {want}{hint}, got shape {tuple(x.shape)}")
    if float_only and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{fn}: {name} must have a floating-point dtype, got {x.dtype}")


def check_numeric(fn: str, name: str, x: Any) -> None:
    """Require numbers: a Python or NumPy number, a list, or anything with a ``dtype`` (array, Tensor) whose dtype
    is bool, integer, float or complex. A string, ``None`` or an array of strings/objects is a ``TypeError``
    ``"{fn}: {name} must be numbers (a Tensor, an array or a number), got str"``. O(1): never reads the data."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        if isinstance(x, (int, float, complex, np.number, list, tuple)):
            return
        raise TypeError(f"{fn}: {name} must be numbers (a Tensor, an array or a number), got {type(x).__name__}")
    if np.dtype(dtype).kind not in "biufc":
        raise TypeError(f"{fn}: {name} must have a numeric dtype, got {dtype}")


def check_min_ndim(fn: str, name: str, x: Any, min_ndim: int, shape_hint: str = "", numeric: bool = False) -> None:
    """Require ``x`` to be an array with at least ``min_ndim`` dimensions (and a numeric dtype with ``numeric``)."""
    check_array(fn, name, x, numeric=numeric)
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


def check_number(fn: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a Python float after requiring it to be finite and inside [low, high] (or open ends).

    A string (even ``"1e-3"``) or a bool is a ``TypeError``: numbers must arrive as numbers. Out of range (or
    not finite) is a ``ValueError``: ``"{fn}: {name} must be a finite number in [low, high), got value"``."""
    if isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__} {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: {name} must be a number, got {type(value).__name__}") from None
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if not math.isfinite(x) or too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open or high == math.inf else "]"
        raise ValueError(f"{fn}: {name} must be a finite number in {lo}{low:g}, {high:g}{hi}, got {value!r}")
    return x


def check_int(fn: str, name: str, value: Any, minimum: int = 1, *, want: str | None = None,
              type_error: bool = False) -> int:
    """Return ``value`` as an int after requiring an integer (Python or NumPy, not a bool) >= ``minimum``.

    Parameters
    ----------
    fn, name : the function and argument the message names.
    value : what was passed.
    minimum : the smallest allowed value.
    want : what the message says is expected (default ``"an integer >= {minimum}"``; e.g. ``"a positive
        integer"``, ``"> 0"``).
    type_error : a non-integer is a ``TypeError`` ``"{fn}: {name} must be an integer, got float"`` (the update
        rules' and schedules' convention); by default every refusal is a ``ValueError``
        ``"{fn}: {name} must be {want}, got {value!r}"``.

    Returns
    -------
    int : ``value`` as a Python int.
    """
    want = want or f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if type_error:
            raise TypeError(f"{fn}: {name} must be an integer, got {type(value).__name__}")
        raise ValueError(f"{fn}: {name} must be {want}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{fn}: {name} must be {want}, got {value!r}")
    return int(value)


def check_positive_int(fn: str, name: str, value: Any) -> int:
    """``check_int(fn, name, value, 1, want="a positive integer")``: a ValueError
    ``"{fn}: {name} must be a positive integer, got {value!r}"`` unless an integer >= 1."""
    return check_int(fn, name, value, 1, want="a positive integer")


def check_count(fn: str, name: str, value: Any, allow_zero: bool = False) -> int:
    """A count (the update rules' and schedules' convention): a ``TypeError`` for a non-integer, a ``ValueError``
    ``"{fn}: {name} must be > 0, got 0"`` (``>= 0`` with ``allow_zero``) below the range. Returns an int."""
    return check_int(fn, name, value, 0 if allow_zero else 1, want=">= 0" if allow_zero else "> 0", type_error=True)


def check_float_dtype(fn: str, dtype: Any, name: str = "dtype") -> np.dtype:
    """Return ``np.dtype(dtype)`` after requiring a floating-point type: a ``TypeError``
    ``"{fn}: dtype must be a floating-point type, got int64"`` otherwise."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{fn}: {name} must be a floating-point type, got {dtype}")
    return dtype


def check_path(fn: str, name: str, value: Any, allow_none: bool = False) -> Path | None:
    """Return ``value`` as a ``Path`` after requiring a non-empty ``str`` or ``os.PathLike`` (``None`` passes
    through with ``allow_none``). Anything else is a ``TypeError``
    ``"{fn}: {name} must be a file or folder path (str or os.PathLike), got int 123"``; ``""`` a ``ValueError``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{fn}: {name} must be a file or folder path (str or os.PathLike), got "
                        f"{type(value).__name__} {value!r}")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{fn}: {name} must be a file or folder path, got an empty string")
    return Path(value)


def check_mapping(fn: str, name: str, value: Any, what: str = "a dict") -> Mapping:
    """Require a mapping (``dict``): a ``TypeError`` ``"{fn}: {name} must be {what}, got int"`` otherwise."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{fn}: {name} must be {what}, got {type(value).__name__}")
    return value


def check_callable(fn: str, name: str, value: Any, what: str = "a callable") -> Any:
    """Require a callable: a ``TypeError`` ``"{fn}: {name} must be {what}, got str"`` otherwise."""
    if not callable(value):
        raise TypeError(f"{fn}: {name} must be {what}, got {type(value).__name__}")
    return value


def check_sequence(fn: str, name: str, value: Any, what: str = "a list") -> Any:
    """Require a list, tuple, range or 1-or-more-D array (not a string, a mapping or a single number): a
    ``TypeError`` ``"{fn}: {name} must be {what}, got int"`` otherwise."""
    ok = isinstance(value, (list, tuple, range)) or (hasattr(value, "shape") and len(getattr(value, "shape", ())) > 0)
    if not ok:
        raise TypeError(f"{fn}: {name} must be {what}, got {type(value).__name__}")
    return value
