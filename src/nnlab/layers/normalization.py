"""Normalization layers: batch norm (rows and NCHW), layer norm (last axis), group norm (NCHW).

All of them compute ``xhat = (x - mean) / sqrt(var + eps)`` over some axes (biased variance) and return
``gamma * xhat + beta``. Two private helpers do the shared math; the closed-form backward is

    dx = (1/sqrt(var + eps)) * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),   dxhat = dout * gamma,

with the means over the normalized axes. Batch norm keeps running statistics (momentum 0.9, starting at zeros
of x's dtype) that are WRITTEN BACK into ``bn_param`` in training mode and used in test mode.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..backend import parallel_for, split, xp_of
from ..validation import check_array

__all__ = [
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
]

_MODES = ("train", "test")
_BLOCK_BYTES = 1 << 20  # input bytes per block of channels / rows run on one thread (see _blocks)
_MIN_RUN_BYTES = 1 << 14  # batch norm in channel blocks only where a sample's channel plane is at least this


# ----------------------------------------------------------------------------------------------- shared math
def _normalize(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any, Any]:
    """Return ``(xhat, mean, var, inv_std)`` with statistics over ``axes`` (kept as size-1 dims)."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1 / xp_of(x).sqrt(var + eps)
    return xc * inv_std, mean, var, inv_std


def _normalize_backward(dxhat: Any, xhat: Any, inv_std: Any, axes: tuple[int, ...]) -> Any:
    """Gradient through ``xhat = (x - mean) * inv_std`` (statistics over ``axes``), closed form."""
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def _blocks(x: Any, axis_len: int, item_bytes: int, *others: Any) -> list[tuple[int, int]]:
    """Blocks of an independent axis (channels of batch norm, rows of layer norm, samples of group norm)
    handled one per task on nnlab's threads; about ``_BLOCK_BYTES`` of input each, a function of the shapes
    only (so results are the same at any thread count). [] where the serial path applies: a small problem
    (below two blocks' worth: measured, a NumPy pass of 1 MiB split over 2 threads gains ~1.6x, below
    that the hand-off costs what it saves), or arrays that are not NumPy float arrays."""
    arrays = (x, *others)
    if not all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays):
        return []
    blocks = split(axis_len, item_bytes, _BLOCK_BYTES)
    return blocks if len(blocks) > 1 else []


def _cols(p: Any, c: slice) -> Any:
    """The part of gamma or beta (broadcast shape: (D,) for rows, (1, C, 1, 1) for NCHW) for channels ``c``."""
    return p[c] if p.ndim == 1 else p[:, c]


def _channel_blocks(x: Any, *others: Any) -> list[tuple[int, int]]:
    """Channel blocks of batch norm (see :func:`_blocks`), or [] (one piece) where the contiguous runs of a
    channel block, one H x W plane per sample, are under ``_MIN_RUN_BYTES``: there the strided block views
    cost more than the split gains. Measured at 1 thread (CPU time, fwd + bwd, float32, serial -> blocks):
    x(32,32,84,84) 25.6 -> 19.7 ms and x(16,64,64,64) 16.7 -> 14.6 ms (each block's passes stay in the cache),
    but x(128,16,32,32) 7.0 -> 10.0, x(512,64,16,16) 37.6 -> 44.3 and x(32,32,42,42) 6.3 -> 6.6."""
    run = int(np.prod(x.shape[2:], dtype=np.int64)) * x.itemsize
    if run < _MIN_RUN_BYTES:
        return []
    return _blocks(x, x.shape[1], x[:, 0].nbytes, *others)


def _batchnorm_train_blocks(x: Any, gamma_b: Any, beta_b: Any, axes: tuple[int, ...], eps: float,
                            blocks: list) -> tuple[Any, Any, Any, Any, Any]:
    """Training-mode batch norm a block of channels (axis 1) per task: ``(xhat, mean, var, inv_std, out)``
    with the arithmetic of :func:`_normalize` and ``gamma * xhat + beta`` on each block."""
    xhat = np.empty(x.shape, dtype=x.dtype)
    out = np.empty(x.shape, dtype=np.result_type(gamma_b.dtype, beta_b.dtype, x.dtype))

    def block(bounds: tuple[int, int]):
        c = slice(*bounds)
        xb = x[:, c]
        mean = xb.mean(axis=axes, keepdims=True)
        xc = xb - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(var + eps)
        np.multiply(xc, inv_std, out=xhat[:, c])
        np.multiply(_cols(gamma_b, c), xhat[:, c], out=out[:, c])
        np.add(out[:, c], _cols(beta_b, c), out=out[:, c])
        return mean, var, inv_std

    stats = parallel_for(block, blocks)
    mean, var, inv_std = (np.concatenate([st[k] for st in stats], axis=1) for k in range(3))
    return xhat, mean, var, inv_std, out


def _batchnorm_backward_blocks(dout: Any, cache: dict, blocks: list) -> tuple[Any, Any, Any]:
    """Closed-form batch-norm backward a block of channels (axis 1) per task, as
    :func:`_batchnorm_backward_over`."""
    axes, xhat, gamma, inv_std = cache["axes"], cache["xhat"], cache["gamma"], cache["inv_std"]
    test = cache["mode"] == "test"
    dx = np.empty(dout.shape, dtype=np.result_type(dout.dtype, gamma.dtype, xhat.dtype, inv_std.dtype))

    def block(bounds: tuple[int, int]):
        c = slice(*bounds)
        d, xh = dout[:, c], xhat[:, c]
        dbeta = d.sum(axis=axes, keepdims=True)
        dgamma = (d * xh).sum(axis=axes, keepdims=True)
        dxhat = d * _cols(gamma, c)
        dx[:, c] = dxhat * inv_std[:, c] if test else _normalize_backward(dxhat, xh, inv_std[:, c], axes)
        return dgamma, dbeta

    parts = parallel_for(block, blocks)
    return dx, np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)


def _bn_sample_blocks(x: Any, *others: Any) -> list[tuple[int, int]]:
    """Blocks of samples for NCHW batch norm where channel blocks do not pay (small planes), or [] (one piece).

    Statistics then go in two passes, each a block of samples per task: per-block channel sums added in block
    order (the mean), then the sums of squared deviations (the variance), then xhat and out. Fewer passes over
    memory than the one-piece path, each block's in the cache: measured at 1 thread (CPU time, fwd + bwd,
    float32, one piece -> sample blocks of 1 MiB) x(128,16,32,32) 7.85 -> 6.26 ms, x(128,32,16,16) 3.40 -> 2.90,
    x(128,64,8,8) 2.07 -> 1.63, x(512,64,16,16) 37.9 -> 26.9, x(32,32,42,42) 6.56 -> 5.25."""
    if x.ndim != 4 or not x.flags.c_contiguous:
        return []
    return _blocks(x, x.shape[0], x[0].nbytes, *others)


def _batchnorm_train_samples(x: Any, gamma_b: Any, beta_b: Any, eps: float, blocks: list):
    """Training-mode NCHW batch norm a block of samples per task: ``(xhat, mean, var, inv_std, out)``."""
    count = x.shape[0] * x.shape[2] * x.shape[3]
    axes = (0, 2, 3)

    def ordered_sum(parts: list) -> Any:
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    mean = ordered_sum(parallel_for(lambda b: x[b[0]:b[1]].sum(axis=axes, keepdims=True), blocks)) / count
    mean = mean.astype(x.dtype, copy=False)

    def squares(b: tuple[int, int]) -> Any:
        xc = x[b[0]:b[1]] - mean
        return (xc * xc).sum(axis=axes, keepdims=True)

    var = (ordered_sum(parallel_for(squares, blocks)) / count).astype(x.dtype, copy=False)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = np.empty(x.shape, dtype=x.dtype)
    out = np.empty(x.shape, dtype=np.result_type(gamma_b.dtype, beta_b.dtype, x.dtype))

    def normalize(b: tuple[int, int]) -> None:
        r = slice(*b)
        np.subtract(x[r], mean, out=xhat[r])
        np.multiply(xhat[r], inv_std, out=xhat[r])
        np.multiply(gamma_b, xhat[r], out=out[r])
        np.add(out[r], beta_b, out=out[r])

    parallel_for(normalize, blocks)
    return xhat, mean, var, inv_std, out


def _batchnorm_backward_samples(dout: Any, cache: dict, blocks: list) -> tuple[Any, Any, Any]:
    """Closed-form NCHW batch-norm backward a block of samples per task: the channel sums of dout and
    dout * xhat per block, added in block order, then ``dx = inv_std * (dxhat - mean(dxhat) - xhat *
    mean(dxhat * xhat))`` with ``mean(dxhat) = gamma * dbeta / M`` and ``mean(dxhat * xhat) = gamma * dgamma / M``
    (M = N*H*W) per block."""
    xhat, gamma, inv_std = cache["xhat"], cache["gamma"], cache["inv_std"]
    axes = (0, 2, 3)
    parts = parallel_for(lambda b: (dout[b[0]:b[1]].sum(axis=axes, keepdims=True),
                                    (dout[b[0]:b[1]] * xhat[b[0]:b[1]]).sum(axis=axes, keepdims=True)), blocks)
    dbeta, dgamma = parts[0]
    for db, dg in parts[1:]:
        dbeta = dbeta + db
        dgamma = dgamma + dg
    dx = np.empty(dout.shape, dtype=np.result_type(dout.dtype, gamma.dtype, xhat.dtype, inv_std.dtype))
    test = cache["mode"] == "test"
    count = dout.shape[0] * dout.shape[2] * dout.shape[3]
    mean_dxhat = (gamma * dbeta / count).astype(dx.dtype, copy=False)
    mean_dxhat_xhat = (gamma * dgamma / count).astype(dx.dtype, copy=False)

    def grad(b: tuple[int, int]) -> None:
        r = slice(*b)
        dxhat = dout[r] * gamma
        if test:
            np.multiply(dxhat, inv_std, out=dx[r])
            return
        np.subtract(dxhat, mean_dxhat, out=dxhat)
        dxhat -= xhat[r] * mean_dxhat_xhat
        np.multiply(dxhat, inv_std, out=dx[r])

    parallel_for(grad, blocks)
    return dx, dgamma, dbeta


def _check_param(fn: str, name: str, p: Any, shapes: tuple[tuple[int, ...], ...]) -> None:
    """Require ``p`` (gamma or beta) to have one of the allowed ``shapes`` (all of ``size`` elements)."""
    check_array(fn, name, p)
    if tuple(p.shape) not in shapes:
        want = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{fn}: {name} must have shape {want} to match x, got {tuple(p.shape)}")


def _check_dout(fn: str, dout: Any, shape: tuple[int, ...]) -> None:
    check_array(fn, "dout", dout)
    if tuple(dout.shape) != tuple(shape):
        raise ValueError(f"{fn}: dout must have the forward output's shape {tuple(shape)}, got {tuple(dout.shape)}")


def _mode_of(fn: str, param: dict) -> str:
    if not isinstance(param, dict):
        raise TypeError(f"{fn}: bn_param must be a dict, got {type(param).__name__}")
    mode = param.get("mode")
    if mode not in _MODES:
        raise ValueError(f"{fn}: bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    return mode


# ---------------------------------------------------------------------------------------------- batch norm
def _batchnorm_over(fn: str, x: Any, gamma_b: Any, beta_b: Any, bn_param: dict, axes: tuple[int, ...],
                    channels: int) -> tuple[Any, dict]:
    """Batch norm with statistics over ``axes``; gamma_b/beta_b already broadcastable to x."""
    mode = _mode_of(fn, bn_param)
    xp = xp_of(x)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = xp.zeros(channels, dtype=x.dtype)
    if running_var is None:
        running_var = xp.zeros(channels, dtype=x.dtype)
    stat_shape = tuple(1 if a in axes else s for a, s in enumerate(x.shape))
    blocks = _channel_blocks(x, gamma_b, beta_b) if mode == "train" else []
    samples = _bn_sample_blocks(x, gamma_b, beta_b) if mode == "train" and not blocks else []
    if blocks or samples:
        xhat, mean, var, inv_std, out = (_batchnorm_train_blocks(x, gamma_b, beta_b, axes, eps, blocks) if blocks
                                         else _batchnorm_train_samples(x, gamma_b, beta_b, eps, samples))
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean.reshape(channels)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var.reshape(channels)
    elif mode == "train":
        xhat, mean, var, inv_std = _normalize(x, axes, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean.reshape(channels)
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var.reshape(channels)
    else:
        mean = running_mean.reshape(stat_shape)
        var = running_var.reshape(stat_shape)
        inv_std = 1 / xp.sqrt(var + eps)
        xhat = (x - mean) * inv_std
        bn_param["running_mean"] = running_mean
        bn_param["running_var"] = running_var
    if not (blocks or samples):
        out = gamma_b * xhat + beta_b
    cache = {"mode": mode, "axes": axes, "x": x, "xhat": xhat, "mean": mean, "var": var, "inv_std": inv_std,
             "eps": eps, "gamma": gamma_b, "out_shape": tuple(out.shape)}
    return out, cache


def _batchnorm_backward_over(fn: str, dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Closed-form batch-norm backward over ``cache['axes']``; dgamma/dbeta in the broadcast shape."""
    _check_dout(fn, dout, cache["out_shape"])
    axes, xhat, gamma = cache["axes"], cache["xhat"], cache["gamma"]
    blocks = _channel_blocks(dout, xhat, gamma, cache["inv_std"])
    if blocks:
        return _batchnorm_backward_blocks(dout, cache, blocks)
    samples = _bn_sample_blocks(dout, xhat, gamma, cache["inv_std"])
    if samples:
        return _batchnorm_backward_samples(dout, cache, samples)
    dbeta = dout.sum(axis=axes, keepdims=True)
    dgamma = (dout * xhat).sum(axis=axes, keepdims=True)
    dxhat = dout * gamma
    if cache["mode"] == "test":  # fixed statistics: a per-channel affine map
        return dxhat * cache["inv_std"], dgamma, dbeta
    return _normalize_backward(dxhat, xhat, cache["inv_std"], axes), dgamma, dbeta


def batchnorm_forward(x: Any, gamma: Any, beta: Any, bn_param: dict) -> tuple[Any, dict]:
    """Batch normalization forward pass over the batch axis.

    Inputs:
    - x: (N, D) data.
    - gamma, beta: (D,) scale and shift.
    - bn_param: dict with 'mode' ('train' | 'test', required), 'eps' (1e-5), 'momentum' (0.9),
      'running_mean' / 'running_var' ((D,), created as zeros of x's dtype; updated and written back in
      train mode as ``running = momentum * running + (1 - momentum) * batch_stat``).

    Train: ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` with the batch mean and biased variance;
    test: the same with the running statistics. Returns ``(out, cache)``, out (N, D).
    """
    fn = "batchnorm_forward"
    check_array(fn, "x", x, ndim=2, shape_hint="(N, D)", numeric=True)
    d = x.shape[1]
    _check_param(fn, "gamma", gamma, ((d,),))
    _check_param(fn, "beta", beta, ((d,),))
    return _batchnorm_over(fn, x, gamma, beta, bn_param, (0,), d)


def batchnorm_backward(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Batch normalization backward pass, step by step through the computation graph.

    Graph: ``mean = sum(x)/N; xc = x - mean; var = sum(xc**2)/N; std = sqrt(var + eps); xhat = xc / std;
    out = gamma * xhat + beta``; each step's local derivative is applied in reverse order.

    Inputs: ``dout`` (N, D), ``cache`` from :func:`batchnorm_forward`.
    Returns ``(dx, dgamma, dbeta)`` with shapes (N, D), (D,), (D,).
    """
    if cache["mode"] == "test":
        dx, dgamma, dbeta = _batchnorm_backward_over("batchnorm_backward", dout, cache)
        return dx, dgamma.reshape(-1), dbeta.reshape(-1)
    _check_dout("batchnorm_backward", dout, cache["out_shape"])
    xp = xp_of(dout)
    x, xhat, mean, var, eps, gamma = (cache[k] for k in ("x", "xhat", "mean", "var", "eps", "gamma"))
    n = x.shape[0]
    xc = x - mean
    std = xp.sqrt(var + eps)
    dbeta = dout.sum(axis=0)                       # out = gamma * xhat + beta
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dinv_std = (dxhat * xc).sum(axis=0, keepdims=True)   # xhat = xc * inv_std
    dxc = dxhat / std
    dstd = -dinv_std / (std * std)                 # inv_std = 1 / std
    dvar = dstd * 0.5 / std                        # std = sqrt(var + eps)
    dxc = dxc + 2 * xc * dvar / n                  # var = sum(xc**2) / N
    dmean = -dxc.sum(axis=0, keepdims=True)        # xc = x - mean
    dx = dxc + dmean / n                           # mean = sum(x) / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Batch normalization backward pass in closed form.

    ``dx = (1/(N sqrt(var + eps))) * (N dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))`` with
    ``dxhat = dout * gamma`` (sums over the batch). Returns ``(dx, dgamma, dbeta)``: (N, D), (D,), (D,).
    """
    dx, dgamma, dbeta = _batchnorm_backward_over("batchnorm_backward_alt", dout, cache)
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)


# ---------------------------------------------------------------------------------------------- layer norm
def layernorm_forward(x: Any, gamma: Any, beta: Any, ln_param: dict) -> tuple[Any, dict]:
    """Layer normalization forward pass over the LAST axis (per sample / per position).

    Inputs:
    - x: (..., D) data of any rank >= 1, e.g. (N, D) or (B, T, D).
    - gamma, beta: (D,) scale and shift (shape (1, ..., 1, D) is accepted too; gradients come back in it).
    - ln_param: dict with optional 'eps' (1e-5); any 'mode' is ignored (train and test are identical).

    Returns ``(out, cache)`` with ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` (shape of x), mean and
    biased variance over the last axis.
    """
    fn = "layernorm_forward"
    check_array(fn, "x", x, numeric=True)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have at least 1 dimension (..., D), got shape {tuple(x.shape)}")
    if ln_param is not None and not isinstance(ln_param, dict):
        raise TypeError(f"{fn}: ln_param must be a dict, got {type(ln_param).__name__}")
    d = x.shape[-1]
    shapes = tuple((1,) * k + (d,) for k in range(x.ndim))
    _check_param(fn, "gamma", gamma, shapes)
    _check_param(fn, "beta", beta, shapes)
    eps = (ln_param or {}).get("eps", 1e-5)
    blocks = _row_blocks(x, gamma, beta)
    if blocks:
        xhat, inv_std, out = _layernorm_rows(x, gamma, beta, eps, blocks)
    else:
        xhat, _, _, inv_std = _normalize(x, (x.ndim - 1,), eps)
        out = gamma * xhat + beta
    cache = {"xhat": xhat, "inv_std": inv_std, "gamma": gamma, "out_shape": tuple(out.shape)}
    return out, cache


def layernorm_backward(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Layer normalization backward pass (closed form over the last axis).

    Inputs: ``dout`` shaped like x, ``cache`` from :func:`layernorm_forward`.
    Returns ``(dx, dgamma, dbeta)``: dx like x; dgamma, dbeta like gamma (sums over all leading axes).
    """
    _check_dout("layernorm_backward", dout, cache["out_shape"])
    xhat, inv_std, gamma = cache["xhat"], cache["inv_std"], cache["gamma"]
    lead = tuple(range(dout.ndim - 1))
    blocks = _row_blocks(dout, xhat, gamma, inv_std)
    if blocks:
        return _layernorm_backward_rows(dout, xhat, inv_std, gamma, blocks)
    dbeta = dout.sum(axis=lead).reshape(gamma.shape)
    dgamma = (dout * xhat).sum(axis=lead).reshape(gamma.shape)
    dx = _normalize_backward(dout * gamma, xhat, inv_std, (dout.ndim - 1,))
    return dx, dgamma, dbeta


def _row_blocks(x: Any, *others: Any) -> list[tuple[int, int]]:
    """Blocks of the rows (all axes but the last) of layer norm's x, or [] (one piece): see :func:`_blocks`."""
    if x.ndim < 2 or not x.flags.c_contiguous:
        return []
    return _blocks(x, x.size // x.shape[-1], x.shape[-1] * x.itemsize, *others)


def _layernorm_rows(x: Any, gamma: Any, beta: Any, eps: float, blocks: list) -> tuple[Any, Any, Any]:
    """Layer norm a block of rows per task: ``(xhat, inv_std, out)`` as the one-piece path computes them."""
    D = x.shape[-1]
    x2 = x.reshape(-1, D)
    xhat = np.empty(x2.shape, dtype=x.dtype)
    inv_std = np.empty((x2.shape[0], 1), dtype=x.dtype)
    out = np.empty(x2.shape, dtype=np.result_type(gamma.dtype, beta.dtype, x.dtype))
    g, b = gamma.reshape(D), beta.reshape(D)

    def block(bounds: tuple[int, int]) -> None:
        r = slice(*bounds)
        xh, _, _, s = _normalize(x2[r], (1,), eps)
        xhat[r], inv_std[r] = xh, s
        np.multiply(g, xh, out=out[r])
        np.add(out[r], b, out=out[r])

    parallel_for(block, blocks)
    lead = x.shape[:-1]
    return xhat.reshape(x.shape), inv_std.reshape(lead + (1,)), out.reshape(x.shape)


def _layernorm_backward_rows(dout: Any, xhat: Any, inv_std: Any, gamma: Any, blocks: list) -> tuple[Any, Any, Any]:
    """Layer-norm backward a block of rows per task; dgamma and dbeta are the blocks' sums added in block order."""
    D = dout.shape[-1]
    d2, xh2, s2 = dout.reshape(-1, D), xhat.reshape(-1, D), inv_std.reshape(-1, 1)
    g = gamma.reshape(D)
    dx = np.empty(d2.shape, dtype=np.result_type(dout.dtype, gamma.dtype, xhat.dtype, inv_std.dtype))

    def block(bounds: tuple[int, int]):
        r = slice(*bounds)
        dx[r] = _normalize_backward(d2[r] * g, xh2[r], s2[r], (1,))
        return d2[r].sum(axis=0), (d2[r] * xh2[r]).sum(axis=0)

    parts = parallel_for(block, blocks)
    dbeta, dgamma = parts[0]
    for db, dg in parts[1:]:
        dbeta = dbeta + db
        dgamma = dgamma + dg
    return dx.reshape(dout.shape), dgamma.reshape(gamma.shape), dbeta.reshape(gamma.shape)


# -------------------------------------------------------------------------------------- spatial batch norm
def _channel_params(fn: str, x: Any, gamma: Any, beta: Any) -> tuple[Any, Any]:
    """Accept (C,) or (1, C, 1, 1) gamma/beta for NCHW x; return both reshaped to (1, C, 1, 1)."""
    c = x.shape[1]
    shapes = ((c,), (1, c, 1, 1))
    _check_param(fn, "gamma", gamma, shapes)
    _check_param(fn, "beta", beta, shapes)
    return gamma.reshape(1, c, 1, 1), beta.reshape(1, c, 1, 1)


def spatial_batchnorm_forward(x: Any, gamma: Any, beta: Any, bn_param: dict) -> tuple[Any, dict]:
    """Spatial batch normalization: per-channel statistics over (N, H, W).

    Inputs:
    - x: (N, C, H, W) data.
    - gamma, beta: (C,) or (1, C, 1, 1) scale and shift.
    - bn_param: as :func:`batchnorm_forward`; running statistics have shape (C,).

    Returns ``(out, cache)``, out (N, C, H, W): ``gamma * (x - mean_c) / sqrt(var_c + eps) + beta``.
    """
    fn = "spatial_batchnorm_forward"
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", numeric=True)
    gamma_b, beta_b = _channel_params(fn, x, gamma, beta)
    out, cache = _batchnorm_over(fn, x, gamma_b, beta_b, bn_param, (0, 2, 3), x.shape[1])
    cache["param_shape"] = tuple(gamma.shape)
    return out, cache


def spatial_batchnorm_backward(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Spatial batch normalization backward pass (closed form).

    Inputs: ``dout`` (N, C, H, W), ``cache`` from :func:`spatial_batchnorm_forward`.
    Returns ``(dx, dgamma, dbeta)``: dx (N, C, H, W); dgamma, dbeta in the shape gamma was given in.
    """
    dx, dgamma, dbeta = _batchnorm_backward_over("spatial_batchnorm_backward", dout, cache)
    shape = cache["param_shape"]
    return dx, dgamma.reshape(shape), dbeta.reshape(shape)


# ---------------------------------------------------------------------------------------------- group norm
def spatial_groupnorm_forward(x: Any, gamma: Any, beta: Any, G: int, gn_param: dict) -> tuple[Any, dict]:
    """Spatial group normalization: per sample, statistics over each group of C/G contiguous channels.

    Inputs:
    - x: (N, C, H, W) data.
    - gamma, beta: (1, C, 1, 1) per-channel scale and shift ((C,) is accepted too).
    - G: number of groups; must divide C.
    - gn_param: dict with optional 'eps' (1e-5); no running statistics, no mode.

    Returns ``(out, cache)``: with x viewed as (N, G, C/G * H * W), each row is normalized, then
    ``out = gamma * xhat + beta`` (N, C, H, W).
    """
    fn = "spatial_groupnorm_forward"
    check_array(fn, "x", x, ndim=4, shape_hint="(N, C, H, W)", numeric=True)
    n, c, h, w = x.shape
    try:
        G = operator.index(G)
    except TypeError:
        raise TypeError(f"{fn}: G must be an integer number of groups, got {type(G).__name__}") from None
    if G < 1 or c % G:
        raise ValueError(f"{fn}: G must be a positive divisor of the {c} channels, got {G}")
    if gn_param is not None and not isinstance(gn_param, dict):
        raise TypeError(f"{fn}: gn_param must be a dict, got {type(gn_param).__name__}")
    gamma_b, beta_b = _channel_params(fn, x, gamma, beta)
    eps = (gn_param or {}).get("eps", 1e-5)
    blocks = _sample_blocks(x, gamma_b, beta_b)
    if blocks:
        xhat, inv_std, out = _groupnorm_samples(x, gamma_b, beta_b, G, eps, blocks)
    else:
        xhat_g, _, _, inv_std = _normalize(x.reshape(n, G, -1), (2,), eps)
        xhat = xhat_g.reshape(x.shape)
        out = gamma_b * xhat + beta_b
    cache = {"xhat": xhat, "inv_std": inv_std, "gamma": gamma_b, "G": G, "param_shape": tuple(gamma.shape),
             "out_shape": tuple(out.shape)}
    return out, cache


def spatial_groupnorm_backward(dout: Any, cache: dict) -> tuple[Any, Any, Any]:
    """Spatial group normalization backward pass (closed form per sample and group).

    Inputs: ``dout`` (N, C, H, W), ``cache`` from :func:`spatial_groupnorm_forward`.
    Returns ``(dx, dgamma, dbeta)``: dx (N, C, H, W); dgamma, dbeta in the shape gamma was given in
    (sums over N, H, W).
    """
    _check_dout("spatial_groupnorm_backward", dout, cache["out_shape"])
    xhat, inv_std, gamma, G = cache["xhat"], cache["inv_std"], cache["gamma"], cache["G"]
    shape = cache["param_shape"]
    blocks = _sample_blocks(dout, xhat, gamma, inv_std)
    if blocks:
        dx, dgamma, dbeta = _groupnorm_backward_samples(dout, xhat, inv_std, gamma, G, blocks)
        return dx, dgamma.reshape(shape), dbeta.reshape(shape)
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(shape)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3)).reshape(shape)
    n = dout.shape[0]
    dxhat = (dout * gamma).reshape(n, G, -1)
    dx = _normalize_backward(dxhat, xhat.reshape(n, G, -1), inv_std, (2,))
    return dx.reshape(dout.shape), dgamma, dbeta



def _sample_blocks(x: Any, *others: Any) -> list[tuple[int, int]]:
    """Blocks of samples of group norm's NCHW x, or [] (one piece): see :func:`_blocks`."""
    if not x.flags.c_contiguous:
        return []
    return _blocks(x, x.shape[0], x[0].nbytes, *others)


def _groupnorm_samples(x: Any, gamma_b: Any, beta_b: Any, G: int, eps: float, blocks: list):
    """Group norm a block of samples per task: ``(xhat, inv_std, out)`` as the one-piece path computes them."""
    n = x.shape[0]
    xhat = np.empty(x.shape, dtype=x.dtype)
    inv_std = np.empty((n, G, 1), dtype=x.dtype)
    out = np.empty(x.shape, dtype=np.result_type(gamma_b.dtype, beta_b.dtype, x.dtype))

    def block(bounds: tuple[int, int]) -> None:
        r = slice(*bounds)
        xh, _, _, s = _normalize(x[r].reshape(bounds[1] - bounds[0], G, -1), (2,), eps)
        xhat[r], inv_std[r] = xh.reshape(x[r].shape), s
        np.multiply(gamma_b, xhat[r], out=out[r])
        np.add(out[r], beta_b, out=out[r])

    parallel_for(block, blocks)
    return xhat, inv_std, out


def _groupnorm_backward_samples(dout: Any, xhat: Any, inv_std: Any, gamma: Any, G: int, blocks: list):
    """Group-norm backward a block of samples per task; dgamma and dbeta (1, C, 1, 1) are the blocks' sums
    added in block order."""
    dx = np.empty(dout.shape, dtype=np.result_type(dout.dtype, gamma.dtype, xhat.dtype, inv_std.dtype))

    def block(bounds: tuple[int, int]):
        r = slice(*bounds)
        k = bounds[1] - bounds[0]
        d, xh = dout[r], xhat[r]
        dxhat = (d * gamma).reshape(k, G, -1)
        dx[r] = _normalize_backward(dxhat, xh.reshape(k, G, -1), inv_std[r], (2,)).reshape(d.shape)
        return d.sum(axis=(0, 2, 3), keepdims=True), (d * xh).sum(axis=(0, 2, 3), keepdims=True)

    parts = parallel_for(block, blocks)
    dbeta, dgamma = parts[0]
    for db, dg in parts[1:]:
        dbeta = dbeta + db
        dgamma = dgamma + dg
    return dx, dgamma, dbeta
