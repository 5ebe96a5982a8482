"""Inverted dropout.

Convention (see DESIGN.md): ``dropout_param['p']`` is the DROP probability (as in PyTorch). In training,
``mask = (u < 1 - p) / (1 - p)`` with ``u ~ U[0, 1)``, so kept units are scaled by ``1/(1-p)`` and the
test-time pass is the identity. CS231n's keep probability ``keep`` corresponds to ``p = 1 - keep``: with
``np.random.seed(231)`` and no ``'seed'`` key, the course notebook's printed numbers are reproduced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import threads
from ..backend import elementwise, get_rng, parallel_for, split, uniform, xp_of
from ..validation import check_array, check_probability, check_same_shape

__all__ = ["dropout_forward", "dropout_backward"]

_MODES = ("train", "test")


def _mode_of(fn: str, dropout_param: dict) -> str:
    if not isinstance(dropout_param, dict):
        raise TypeError(f"{fn}: dropout_param must be a dict, got {type(dropout_param).__name__}")
    mode = dropout_param.get("mode")
    if mode not in _MODES:
        raise ValueError(f"{fn}: dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    return mode


def dropout_forward(x: Any, dropout_param: dict) -> tuple[Any, tuple]:
    """Inverted dropout forward pass.

    Inputs:
    - x: input of any shape.
    - dropout_param: dict with
      - 'mode': 'train' or 'test' (required).
      - 'p': drop probability in [0, 1) (required in 'train' mode).
      - 'seed' (optional): if given, the mask comes from a private ``np.random.RandomState(seed)`` (the same
        numbers as ``np.random.seed(seed)`` would give, without touching global state), so every call draws
        the same mask; without it the mask is drawn from NumPy's global RNG.

    Returns ``(out, cache)``: train ``out = x * mask`` with ``mask = (u < 1-p) / (1-p)`` cast to x's dtype;
    test ``out = x``. ``cache = (dropout_param, mask)`` (``mask`` is None in test mode or when p == 0).
    """
    fn = "dropout_forward"
    check_array(fn, "x", x, numeric=True)
    mode = _mode_of(fn, dropout_param)
    if "p" in dropout_param or mode == "train":
        if "p" not in dropout_param:
            raise ValueError(f"{fn}: dropout_param['p'] (the drop probability) is required in 'train' mode")
        check_probability(fn, "p", dropout_param["p"])
    if mode == "test" or float(dropout_param["p"]) == 0.0:
        return x, (dropout_param, None)
    keep = 1.0 - float(dropout_param["p"])
    xp = xp_of(x)
    u = xp.asarray(uniform(get_rng(dropout_param.get("seed")), tuple(x.shape)))
    if not (isinstance(x, np.ndarray) and isinstance(u, np.ndarray) and x.flags.c_contiguous):
        mask = ((u < keep) / keep).astype(x.dtype, copy=False)
        return x * mask, (dropout_param, mask)
    return _masked(x, u, keep, dropout_param)


def _masked(x: np.ndarray, u: np.ndarray, keep: float, dropout_param: dict) -> tuple[np.ndarray, tuple]:
    """``x * mask`` with ``mask = ((u < keep) / keep)`` in x's dtype, in one pass per chunk of the flattened
    arrays on nnlab's threads (the draw ``u`` stays one call, so the random stream is unchanged).

    A mask entry is ``1 / keep`` rounded to x's dtype, or 0, exactly as the whole-array expression gives it
    (``True / keep`` is the float64 ``1.0 / keep``), and ``x * mask`` is the same product, so the result is bitwise
    that of the whole-array expression at any chunking and thread count. Chunks fixed by the size
    (``threads.ELEMENTWISE_CHUNK_BYTES`` of x each). Returns ``(out, cache)`` as :func:`dropout_forward`.
    """
    scale = np.asarray(1.0 / keep).astype(x.dtype)
    mask, out = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    flat = x.reshape(-1), u.reshape(-1), mask.reshape(-1), out.reshape(-1)

    def chunk(bounds: tuple[int, int]) -> None:
        a, b = bounds
        xs, us, ms, os_ = (f[a:b] for f in flat)
        np.multiply(us < keep, scale, out=ms)
        np.multiply(xs, ms, out=os_)

    parallel_for(chunk, split(x.size, x.itemsize, threads.ELEMENTWISE_CHUNK_BYTES))
    return out, (dropout_param, mask)


def dropout_backward(dout: Any, cache: tuple) -> Any:
    """Inverted dropout backward pass: ``dx = dout * mask`` in training, ``dx = dout`` at test time.

    Inputs: ``dout`` shaped like the forward input; ``cache = (dropout_param, mask)`` from the forward pass.
    """
    dropout_param, mask = cache
    check_array("dropout_backward", "dout", dout)
    if mask is None:
        return dout
    check_same_shape("dropout_backward", "dout", dout, "mask", mask)
    return elementwise(np.multiply, dout, mask)  # in chunks on the threads where large (bitwise dout * mask)
