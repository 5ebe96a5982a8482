"""Batch, layer and group normalization as tape nodes (kernels of :mod:`nnlab.layers.normalization`), with
torch's signatures: the scale and shift are ``weight`` and ``bias`` (None: 1 and 0, no gradient)."""

from __future__ import annotations

import operator
from typing import Any

from ..backend import xp_of
from ..layers import normalization as nrm
from ._common import Tensor, array_arg, record

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def _affine_params(fn: str, weight: Any, bias: Any, size: int, like: Any) -> tuple[Any, Any]:
    """``weight``/``bias`` as arrays of ``size`` elements (ones / zeros when None)."""
    xp = xp_of(like)
    gamma = xp.ones(size, dtype=like.dtype) if weight is None else array_arg(fn, "weight", weight)
    beta = xp.zeros(size, dtype=like.dtype) if bias is None else array_arg(fn, "bias", bias)
    for name, p in (("weight", gamma), ("bias", beta)):
        if p.size != size:
            raise ValueError(f"{fn}: {name} has shape {tuple(p.shape)} but the input has {size} features to "
                             "scale")
    return gamma.reshape(size), beta.reshape(size)


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,  # noqa: A002
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over every axis but the channel axis 1, as ``torch.nn.functional.batch_norm``.

    ``out = weight * (x - mean) / sqrt(var + eps) + bias`` per channel: with the batch's mean and biased
    variance when ``training`` (and then, when running statistics are given, they are updated IN PLACE as
    torch does: ``running_mean = (1 - momentum) running_mean + momentum mean``, ``running_var = (1 - momentum)
    running_var + momentum var * n / (n - 1)``, the unbiased variance over the n values per channel), else
    with ``running_mean``/``running_var``. ``momentum`` is torch's (the weight of the new batch; nnlab's
    kernels take ``1 - momentum``).

    Parameters
    ----------
    input : (N, C), (N, C, L) or (N, C, H, W).
    running_mean, running_var : (C,) arrays or Tensors (written in place), or None (training only).
    weight, bias : (C,) or None.

    Returns
    -------
    Tensor shaped like input. Kernels: ``batchnorm_forward``/``batchnorm_backward_alt`` for 2-D input,
    ``spatial_batchnorm_forward``/``spatial_batchnorm_backward`` otherwise.
    """
    fn = "batch_norm"
    x = array_arg(fn, "input", input, (2, 3, 4), "(N, C), (N, C, L) or (N, C, H, W)")
    c = x.shape[1]
    rm = None if running_mean is None else array_arg(fn, "running_mean", running_mean)
    rv = None if running_var is None else array_arg(fn, "running_var", running_var)
    for name, r in (("running_mean", rm), ("running_var", rv)):
        if r is not None and tuple(r.shape) != (c,):
            raise ValueError(f"{fn}: {name} must have shape ({c},) for input {tuple(x.shape)}, got {tuple(r.shape)}")
    if not training and (rm is None or rv is None):
        raise ValueError(f"{fn}: running_mean and running_var are required when training=False")
    if momentum is None:
        raise NotImplementedError(f"{fn}: momentum=None (a cumulative average) is not supported")
    count = x.size // c
    if training and count <= 1:
        raise ValueError(f"{fn}: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(x.shape)}")
    gamma, beta = _affine_params(fn, weight, bias, c, x)
    param: dict = {"mode": "train" if training else "test", "eps": eps, "momentum": 1.0 - momentum}
    if rm is not None:
        param["running_mean"] = rm
    if rv is not None:
        param["running_var"] = rv
    if x.ndim == 2:
        out, cache = nrm.batchnorm_forward(x, gamma, beta, param)
    else:
        out, cache = nrm.spatial_batchnorm_forward(x if x.ndim == 4 else x[..., None], gamma, beta, param)
        out = out.reshape(x.shape)
    if training:
        if rm is not None:
            rm[...] = param["running_mean"]
        if rv is not None:
            unbiased = cache["var"].reshape(c) * (count / (count - 1))
            rv[...] = (1.0 - momentum) * rv + momentum * unbiased
    return record(fn, nrm.spatial_batchnorm_backward if x.ndim > 2 else nrm.batchnorm_backward_alt, out,
                  (cache, x.shape), _batch_norm_bwd, (input, weight, bias))


def _batch_norm_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, shape = c
    if len(shape) == 2:
        dx, dgamma, dbeta = nrm.batchnorm_backward_alt(g, cache)
    else:
        dx, dgamma, dbeta = nrm.spatial_batchnorm_backward(g.reshape(cache["out_shape"]), cache)
        dx = dx.reshape(shape)
    return dx, (dgamma if n[1] else None), (dbeta if n[2] else None)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Layer normalization over the trailing ``normalized_shape`` axes (mean and biased variance),
    ``out = weight * (x - mean) / sqrt(var + eps) + bias``; weight and bias shaped ``normalized_shape``.

    Kernels ``layernorm_forward``/``layernorm_backward`` on x viewed as (..., prod(normalized_shape)).
    Returns a Tensor shaped like input.
    """
    fn = "layer_norm"
    x = array_arg(fn, "input", input)
    norm = (int(normalized_shape),) if isinstance(normalized_shape, int) else tuple(int(s) for s in normalized_shape)
    k = len(norm)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != norm:
        raise ValueError(f"{fn}: input of shape {tuple(x.shape)} does not end with normalized_shape {norm}")
    d = 1
    for s in norm:
        d *= s
    gamma, beta = _affine_params(fn, weight, bias, d, x)
    x2 = x if k == 1 else x.reshape(x.shape[:x.ndim - k] + (d,))
    out, cache = nrm.layernorm_forward(x2, gamma, beta, {"eps": eps})
    return record(fn, nrm.layernorm_backward, out.reshape(x.shape), (cache, x2.shape, norm), _layer_norm_bwd,
                  (input, weight, bias))


def _layer_norm_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, shape2, norm = c
    dx, dgamma, dbeta = nrm.layernorm_backward(g.reshape(shape2), cache)
    return (dx.reshape(g.shape) if n[0] else None), (dgamma.reshape(norm) if n[1] else None), \
        (dbeta.reshape(norm) if n[2] else None)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Group normalization (torch's ``group_norm``): per sample, the C channels of input (N, C, ...) in
    ``num_groups`` groups of contiguous channels, each normalized over its channels and positions; then
    ``weight[c] * xhat + bias[c]`` with weight, bias (C,).

    Kernels ``spatial_groupnorm_forward``/``spatial_groupnorm_backward`` on x viewed as (N, C, prod(...), 1).
    Returns a Tensor shaped like input.
    """
    fn = "group_norm"
    x = array_arg(fn, "input", input)
    if x.ndim < 2:
        raise ValueError(f"{fn}: input must be (N, C, ...), got shape {tuple(x.shape)}")
    c = x.shape[1]
    try:
        groups = operator.index(num_groups)
    except TypeError:
        raise TypeError(f"{fn}: num_groups must be an int, got {type(num_groups).__name__}") from None
    if groups < 1 or c % groups:
        raise ValueError(f"{fn}: num_groups {num_groups} must be a positive divisor of the {c} channels")
    gamma, beta = _affine_params(fn, weight, bias, c, x)
    x4 = x if x.ndim == 4 else x.reshape(x.shape[0], c, -1, 1)
    out, cache = nrm.spatial_groupnorm_forward(x4, gamma, beta, groups, {"eps": eps})
    return record(fn, nrm.spatial_groupnorm_backward, out.reshape(x.shape), (cache, x4.shape), _group_norm_bwd,
                  (input, weight, bias))


def _group_norm_bwd(g: Any, c: tuple, n: tuple) -> tuple:
    cache, shape4 = c
    dx, dgamma, dbeta = nrm.spatial_groupnorm_backward(g.reshape(shape4), cache)
    return (dx.reshape(g.shape) if n[0] else None), (dgamma if n[1] else None), (dbeta if n[2] else None)
