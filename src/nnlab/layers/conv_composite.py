"""Convolutional sandwich layers: compositions of the fast conv/pool kernels, ReLU and spatial batch norm.

Each forward returns ``(out, cache)`` with the caches of its parts; each backward undoes the parts in reverse
order. The math lives in ``conv``, ``pooling``, ``activations`` and ``normalization``; what is done here is
only to save memory traffic on the largest arrays of a conv net (measured on ThreeLayerConvNet's step: the ReLU
passes and their 6.5 MB temporaries cost ~3 ms of ~30):

- the ReLU after a convolution runs in place on the convolution's output (a fresh array nobody else holds),
  and its backward mask is taken from that output (``relu(a) > 0`` exactly where ``a > 0``);
- in conv - relu - pool, ReLU's backward is applied to the *pooled* gradient: max pooling of ``relu(a)`` picks
  one input per window, and that input is positive exactly where the pooled value is, so ``relu_backward``
  of the pool's gradient equals the pool's backward of ``dout * (pooled > 0)`` (a quarter of the size for
  2x2 pooling; NaN inputs get 0 either way).
"""

from __future__ import annotations

from typing import Any

from ..backend import xp_of
from ..validation import check_array
from .activations import relu_backward, relu_forward
from .conv import conv_backward_fast, conv_forward_fast
from .normalization import spatial_batchnorm_backward, spatial_batchnorm_forward
from .pooling import max_pool_backward_fast, max_pool_forward_fast

__all__ = [
    "conv_relu_forward", "conv_relu_backward",
    "conv_relu_pool_forward", "conv_relu_pool_backward",
    "conv_bn_relu_forward", "conv_bn_relu_backward",
]


def conv_relu_forward(x, w, b, conv_param: dict) -> tuple[Any, tuple]:
    """Convolution followed by ReLU: ``out = max(0, conv(x, w, b))``.

    Inputs: x (N, C, H, W), w (F, C, KH, KW), b (F,), conv_param ``{'stride', 'pad'}``.
    Returns ``out`` (N, F, H', W') and ``cache = (conv_cache, relu_cache)``.
    """
    check_array("conv_relu_forward", "x", x, numeric=True)
    out, conv_cache = conv_forward_fast(x, w, b, conv_param)
    xp_of(out).maximum(out, 0, out=out)  # ReLU in place; relu_backward's mask out > 0 is the same as a > 0
    return out, (conv_cache, out)


def conv_relu_backward(dout, cache: tuple, need_dx: bool = True) -> tuple[Any, Any, Any]:
    """Backward pass of :func:`conv_relu_forward`. Returns ``(dx, dw, db)`` shaped like x, w, b
    (``dx = None`` with ``need_dx=False``, see :func:`conv_backward_fast`)."""
    check_array("conv_relu_backward", "dout", dout)
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache, need_dx=need_dx)


def conv_relu_pool_forward(x, w, b, conv_param: dict, pool_param: dict) -> tuple[Any, tuple]:
    """Convolution, ReLU, then max pooling.

    Inputs: as :func:`conv_relu_forward` plus pool_param ``{'pool_height', 'pool_width', 'stride'}``.
    Returns ``out`` (N, F, H'', W'') (pooled) and ``cache = (conv_cache, out, pool_cache)``; the full-size
    activation is not kept (the backward's ReLU mask is ``out > 0``, see the module docstring).
    """
    check_array("conv_relu_pool_forward", "x", x, numeric=True)
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    xp_of(a).maximum(a, 0, out=a)  # ReLU in place
    out, pool_cache = max_pool_forward_fast(a, pool_param)
    return out, (conv_cache, out, pool_cache)


def conv_relu_pool_backward(dout, cache: tuple, need_dx: bool = True) -> tuple[Any, Any, Any]:
    """Backward pass of :func:`conv_relu_pool_forward`: the pool's backward of ``relu_backward(dout, out)``
    (ReLU's mask applied before the pool, on the pooled size), then the convolution's. Returns ``(dx, dw,
    db)`` shaped like x, w, b (``dx = None`` with ``need_dx=False``, see :func:`conv_backward_fast`)."""
    check_array("conv_relu_pool_backward", "dout", dout)
    conv_cache, out, pool_cache = cache
    da = max_pool_backward_fast(relu_backward(dout, out), pool_cache)
    return conv_backward_fast(da, conv_cache, need_dx=need_dx)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param: dict, bn_param: dict) -> tuple[Any, tuple]:
    """Convolution, spatial batch normalization, then ReLU.

    Inputs: as :func:`conv_relu_forward` plus gamma, beta (F,) or (1, F, 1, 1) and bn_param (``mode``,
    ``eps``, ``momentum``, running statistics written back as in :func:`spatial_batchnorm_forward`).
    Returns ``out`` (N, F, H', W') and ``cache = (conv_cache, bn_cache, relu_cache)``.
    """
    check_array("conv_bn_relu_forward", "x", x, numeric=True)
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache: tuple, need_dx: bool = True) -> tuple[Any, Any, Any, Any, Any]:
    """Backward pass of :func:`conv_bn_relu_forward`. Returns ``(dx, dw, db, dgamma, dbeta)``
    (``dx = None`` with ``need_dx=False``, see :func:`conv_backward_fast`)."""
    check_array("conv_bn_relu_backward", "dout", dout)
    conv_cache, bn_cache, relu_cache = cache
    dan = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = conv_backward_fast(da, conv_cache, need_dx=need_dx)
    return dx, dw, db, dgamma, dbeta
