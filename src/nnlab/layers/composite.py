"""Fully-connected sandwich layers, composed from the kernels (never re-derived).

- ``affine_relu``: affine -> ReLU.
- ``affine_norm_relu``: affine -> batch norm or layer norm -> ReLU.
"""

from __future__ import annotations

from typing import Any

from ..validation import check_array
from .activations import relu_backward, relu_forward
from .affine import affine_backward, affine_forward
from .normalization import batchnorm_backward_alt, batchnorm_forward, layernorm_backward, layernorm_forward

__all__ = ["affine_relu_forward", "affine_relu_backward", "affine_norm_relu_forward", "affine_norm_relu_backward"]

_NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_relu_forward(x: Any, w: Any, b: Any) -> tuple[Any, tuple]:
    """Affine then ReLU: ``out = max(0, x.reshape(N, D) @ w + b)``.

    Inputs: x (N, d_1, ..., d_k), w (D, M), b (M,). Returns ``(out, cache)``, out (N, M).
    """
    check_array("affine_relu_forward", "x", x, numeric=True)
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout: Any, cache: tuple) -> tuple[Any, Any, Any]:
    """Backward of :func:`affine_relu_forward`. Inputs: dout (N, M). Returns ``(dx, dw, db)``."""
    check_array("affine_relu_backward", "dout", dout)
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def affine_norm_relu_forward(x: Any, w: Any, b: Any, gamma: Any, beta: Any, norm_param: dict,
                             normalization: str = "batchnorm") -> tuple[Any, tuple]:
    """Affine, then batch or layer normalization, then ReLU.

    Inputs:
    - x (N, d_1, ..., d_k), w (D, M), b (M,): the affine layer.
    - gamma, beta (M,): the normalization's scale and shift.
    - norm_param: ``bn_param`` (batch norm; running statistics are written back into it) or ``ln_param``.
    - normalization: 'batchnorm' or 'layernorm'.

    Returns ``(out, cache)``, out (N, M).
    """
    check_array("affine_norm_relu_forward", "x", x, numeric=True)
    if normalization not in _NORMS:
        raise ValueError(f"affine_norm_relu_forward: normalization must be 'batchnorm' or 'layernorm', "
                         f"got {normalization!r}")
    norm_forward, _ = _NORMS[normalization]
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = norm_forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, norm_cache, relu_cache, normalization)


def affine_norm_relu_backward(dout: Any, cache: tuple) -> tuple[Any, Any, Any, Any, Any]:
    """Backward of :func:`affine_norm_relu_forward`.

    Inputs: dout (N, M). Returns ``(dx, dw, db, dgamma, dbeta)`` shaped like x, w, b, gamma, beta.
    """
    check_array("affine_norm_relu_backward", "dout", dout)
    fc_cache, norm_cache, relu_cache, normalization = cache
    _, norm_backward = _NORMS[normalization]
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = norm_backward(dan, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta
