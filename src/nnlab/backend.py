"""Array namespace, dtype and random-number helpers, and the thread policy (``nnlab.threads``, re-exported).

Every kernel asks ``xp_of(x)`` for the module that owns its input (NumPy, or CuPy on a GPU) and calls
``xp.<function>`` through it, so the same code runs on both. Nothing here imports the rest of nnlab.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .threads import elementwise, get_num_threads, matmul, parallel_for, set_num_threads, split

__all__ = ["xp_of", "as_strided", "scratch", "to_numpy", "is_float_array", "get_rng", "uniform", "normal",
           "FLOAT_DTYPES", "get_num_threads", "set_num_threads", "parallel_for", "split", "elementwise",
           "matmul"]

try:  # CuPy is optional: present only on machines with a CUDA GPU.
    import cupy as _cupy  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - exercised only where CuPy is missing or broken
    _cupy = None

FLOAT_DTYPES = (np.float16, np.float32, np.float64)

# Decide the thread policy when the kernels load, so that BLAS is at its one thread before the first GEMM: a
# GEMM run before any splitting kernel asked would otherwise use OpenBLAS's default threads and round
# differently (results must not depend on which kernel ran first, nor on the thread count).
get_num_threads()


def xp_of(*arrays: Any):
    """Return the array namespace (``numpy`` or ``cupy``) of the first array argument that is a CuPy array."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def as_strided(x: Any, shape: tuple, strides: tuple) -> Any:
    """A read-only view of ``x``'s memory with the given shape and byte strides (NumPy's or CuPy's
    ``lib.stride_tricks.as_strided``); the caller guarantees that it stays inside ``x``."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)


_SCRATCH = threading.local()


def scratch(xp: Any, name: str, size: int, dtype: Any) -> Any:
    """A flat work array of ``size`` elements (uninitialised), reused across calls: kept per thread, array
    module, dtype and ``name``, and grown when a call needs more.

    For a kernel's temporaries that do not outlive the call (never for arrays it returns or caches). A fresh
    multi-megabyte array is page-faulted in 4 KiB at a time on first touch; measured at 1 thread on Winograd
    F(4x4) C32->64 fwd + bwd in a new process: 4186 page faults and 28.4 ms per call with fresh temporaries,
    18.6 ms when the memory is recycled. Each name holds one buffer, the largest any call asked for: the
    kernels' chunk buffers are a few MiB each; the largest is im2col's padded input (7 MiB for a batch of 512
    3x32x32 float32 images), so a training process keeps some tens of MiB per thread.
    """
    store = getattr(_SCRATCH, "buffers", None)
    if store is None:
        store = _SCRATCH.buffers = {}
    key = (name, xp.__name__, np.dtype(dtype).str)
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = xp.empty(max(int(size), 1), dtype=dtype)
    return buf[:size]


def to_numpy(x: Any) -> np.ndarray:
    """Copy ``x`` to host memory as a NumPy array (a no-op for NumPy arrays)."""
    if _cupy is not None and isinstance(x, _cupy.ndarray):
        return _cupy.asnumpy(x)
    return np.asarray(x)


def is_float_array(x: Any) -> bool:
    """True when ``x`` is an array with a floating-point dtype."""
    return hasattr(x, "dtype") and np.issubdtype(x.dtype, np.floating)


def get_rng(seed: int | np.random.Generator | np.random.RandomState | None):
    """Random source for functions that draw.

    ``None`` means NumPy's global RNG (the ``np.random`` module), so ``np.random.seed(231)`` reproduces the
    course notebooks; an int gives a fresh ``RandomState(seed)`` (the same stream ``np.random.seed(seed)``
    would produce, without touching global state); a ``Generator``/``RandomState`` is used as is.
    """
    if seed is None:
        return np.random
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    return np.random.RandomState(seed)


def uniform(rng, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform [0, 1) samples of ``shape`` from any random source returned by :func:`get_rng`."""
    if isinstance(rng, np.random.Generator):
        return rng.random(shape)
    return rng.rand(*shape) if shape else np.asarray(rng.rand())


def normal(rng, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal samples of ``shape`` from any random source returned by :func:`get_rng`."""
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return rng.randn(*shape)
