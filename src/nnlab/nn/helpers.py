"""What the layer modules share: argument checks (an int or a pair), torch's uniform initialisation, the
input check, and the cache that ``backward`` needs from ``forward``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import uniform
from ..validation import check_array, check_int
from .module import Module

__all__ = ["pair_arg", "square_arg", "uniform_init", "check_input", "ensure_forward"]

Seed = Any  # int | np.random.Generator | np.random.RandomState | None


def pair_arg(fn: str, name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints -> (int, int), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        return check_int(fn, name, value[0], minimum), check_int(fn, name, value[1], minimum)
    v = check_int(fn, name, value, minimum)
    return v, v


def square_arg(fn: str, name: str, value: Any, minimum: int) -> int:
    """An int or an equal pair -> int (the kernels take one stride/pad for both axes)."""
    a, b = pair_arg(fn, name, value, minimum)
    if a != b:
        raise ValueError(f"{fn}: {name} must be the same along height and width (the kernel takes one value), "
                         f"got {value!r}")
    return a


def uniform_init(rng: Any, shape: tuple[int, ...], bound: float, dtype: np.dtype) -> np.ndarray:
    """U(-bound, bound) samples of ``shape`` in ``dtype`` (drawn in float64, then cast)."""
    return (bound * (2.0 * uniform(rng, shape) - 1.0)).astype(dtype)


def check_input(fn: str, x: Any, ndims: tuple[int, ...], hint: str) -> None:
    """Require ``x`` to be a float array of one of the ranks ``ndims`` (``hint``: the expected shape)."""
    check_array(fn, "x", x, ndim=ndims, shape_hint=hint, float_only=True)


def ensure_forward(module: Module) -> Any:
    """The cache ``module.forward`` kept; ``RuntimeError`` when ``backward`` comes before any ``forward``."""
    cache = module.__dict__.get("_cache")
    if cache is None:
        raise RuntimeError(f"{type(module).__name__}.backward: call forward first (no cache)")
    return cache
