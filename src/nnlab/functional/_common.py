"""Helpers shared by the :mod:`nnlab.functional` families: argument checks and the one-input backward.

Every functional op follows one pattern: take the arrays behind its Tensor arguments (:func:`as_data`), call
a ``*_forward`` kernel of :mod:`nnlab.layers`, and :func:`~nnlab.autograd.record` one node whose backward
(a function named ``*_bwd``) calls the matching ``*_backward`` kernel on the saved cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor, as_data, record
from ..validation import check_array

__all__ = ["Tensor", "as_data", "record", "unary_backward", "array_arg", "needs_grad", "pair", "single",
           "unsupported"]


def unary_backward(kernel: Callable) -> Callable:
    """The node backward of a one-input op: ``(kernel(dout, cache),)``."""

    def elementwise_bwd(g: Any, c: Any, n: tuple) -> tuple:
        return (kernel(g, c),)

    elementwise_bwd.__qualname__ = f"elementwise_bwd[{kernel.__name__}]"
    return elementwise_bwd


def array_arg(fn: str, name: str, x: Any, ndim: tuple[int, ...] | None = None, hint: str = "") -> Any:
    """The array behind ``x`` (a Tensor, an array, or a nested list), checked to have one of ``ndim`` ranks."""
    d = x.data if isinstance(x, Tensor) else x
    if not isinstance(d, np.ndarray):  # the hot path is a NumPy array: one isinstance
        d = _other_array(fn, name, x, d)
    check_array(fn, name, d, numeric=True)  # strings, bytes, objects: O(1), never a pass over the data
    if ndim is not None and d.ndim not in ndim:
        want = " or ".join(f"{k}-D" for k in ndim)
        raise ValueError(f"{fn}: {name} must be {want}{' ' + hint if hint else ''}, got shape {tuple(d.shape)}")
    return d


def _other_array(fn: str, name: str, x: Any, d: Any) -> Any:
    """A CuPy array or NumPy scalar as is; a list or a number as a NumPy array; anything else a TypeError."""
    if hasattr(d, "shape") and hasattr(d, "dtype"):
        return d
    if isinstance(d, (list, tuple, int, float)) and not isinstance(d, bool):
        return np.asarray(d)
    raise TypeError(f"{fn}: {name} must be a Tensor or an array, got {type(x).__name__}")


def needs_grad(x: Any) -> bool:
    """True when ``x`` is a Tensor that requires grad."""
    return isinstance(x, Tensor) and x.requires_grad


def pair(fn: str, name: str, value: Any) -> tuple[int, int]:
    """An int or a pair of ints (torch's ``_pair``) as a pair of positive ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                                  for v in items):
        raise ValueError(f"{fn}: {name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(items[0]), int(items[1])


def single(fn: str, name: str, value: Any, minimum: int = 1) -> int:
    """An int, or a pair of equal ints (the kernels use one value for both spatial axes), as an int."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items)
    if not ok or len(items) not in (1, 2) or len(set(items)) != 1:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum} or a pair of equal ints (one value for "
                         f"both spatial axes), got {value!r}")
    return int(items[0])


def unsupported(fn: str, **given: tuple[Any, Any]) -> None:
    """Raise ``NotImplementedError`` for a torch argument given a value other than the one supported."""
    for name, (value, default) in given.items():
        same = value is None if default is None else (isinstance(value, type(default)) and value == default)
        if not same:
            raise NotImplementedError(f"{fn}: {name}={value!r} is not supported (only {name}={default!r})")
