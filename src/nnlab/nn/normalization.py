"""Normalization modules (torch.nn names, parameters and buffers): ``BatchNorm1d``, ``BatchNorm2d``,
``LayerNorm`` and ``GroupNorm``, through the kernels of :mod:`nnlab.layers.normalization`. They start at weight 1,
bias 0 (and running mean 0, running variance 1), as torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import xp_of
from ..validation import check_float_dtype, check_int, check_min_ndim, check_probability
from .helpers import check_input, ensure_forward
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]


class _BatchNorm(Module):
    """Batch norm state shared by BatchNorm1d/2d: ``weight``/``bias`` (C,), buffers ``running_mean`` (zeros)
    and ``running_var`` (ones), as torch.

    ``momentum`` is torch's: ``running = (1 - momentum) * running + momentum * batch_stat``; the kernel's
    ``bn_param['momentum']`` is ``1 - momentum`` (0.9 for torch's default 0.1). Difference from torch, by
    design (DESIGN.md): the kernel updates ``running_var`` with the BIASED batch variance, torch with the
    unbiased one (factor n/(n-1), n = samples per channel); outputs in training mode and in eval mode with the
    same running statistics are identical.
    """

    _kernel_forward = "batchnorm_forward"
    _kernel_backward = "batchnorm_backward"
    _ndims: tuple[int, ...] = (2,)
    _hint = "(N, C)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        fn = type(self).__name__
        self.num_features = check_int(fn, "num_features", num_features)
        if not float(eps) > 0:
            raise ValueError(f"{fn}: eps must be > 0, got {eps!r}")
        check_probability(fn, "momentum", momentum, high_inclusive=True)
        self.eps, self.momentum = float(eps), float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = check_float_dtype(fn, dtype)
        c = self.num_features
        self.register_parameter("weight", np.ones(c, dtype=dtype) if affine else None)
        self.register_parameter("bias", np.zeros(c, dtype=dtype) if affine else None)
        self.register_buffer("running_mean", np.zeros(c, dtype=dtype) if track_running_stats else None)
        self.register_buffer("running_var", np.ones(c, dtype=dtype) if track_running_stats else None)

    def _gamma_beta(self, x: Any) -> tuple[Any, Any]:
        if self.affine:
            return self.weight, self.bias
        xp = xp_of(x)
        return xp.ones(self.num_features, dtype=x.dtype), xp.zeros(self.num_features, dtype=x.dtype)

    def forward(self, x: Any) -> Any:
        fn = f"{type(self).__name__}.forward"
        check_input(fn, x, self._ndims, self._hint)
        if x.shape[1] != self.num_features:
            raise ValueError(f"{fn}: x has {x.shape[1]} channels (shape {tuple(x.shape)}) but "
                             f"num_features={self.num_features}")
        use_batch = self.training or not self.track_running_stats
        bn_param = {"mode": "train" if use_batch else "test", "eps": self.eps, "momentum": 1.0 - self.momentum}
        if self.track_running_stats:
            bn_param["running_mean"], bn_param["running_var"] = self.running_mean, self.running_var
        else:
            xp = xp_of(x)
            bn_param["running_mean"] = xp.zeros(self.num_features, dtype=x.dtype)
            bn_param["running_var"] = xp.ones(self.num_features, dtype=x.dtype)
        gamma, beta = self._gamma_beta(x)
        out, self._cache = getattr(F, self._kernel_forward)(x, gamma, beta, bn_param)
        if self.track_running_stats and self.training:
            self.running_mean, self.running_var = bn_param["running_mean"], bn_param["running_var"]
        return out

    def backward(self, dout: Any) -> Any:
        dx, dgamma, dbeta = getattr(F, self._kernel_backward)(dout, ensure_forward(self))
        if self.affine:
            self._set_grad("weight", dgamma.reshape(self.num_features))
            self._set_grad("bias", dbeta.reshape(self.num_features))
        return dx

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over the batch of (N, C) rows (torch.nn.BatchNorm1d on 2-D input) via ``batchnorm_forward``."""


class BatchNorm2d(_BatchNorm):
    """Per-channel batch norm of (N, C, H, W) over (N, H, W) (torch.nn.BatchNorm2d) via
    ``spatial_batchnorm_forward``."""

    _kernel_forward = "spatial_batchnorm_forward"
    _kernel_backward = "spatial_batchnorm_backward"
    _ndims = (4,)
    _hint = "(N, C, H, W)"


class LayerNorm(Module):
    """Layer norm over the trailing ``normalized_shape`` axes (torch.nn.LayerNorm) via ``layernorm_forward``.

    Parameters ``weight`` (ones) and ``bias`` (zeros) of shape ``normalized_shape``. The trailing axes are
    flattened to one axis of D = prod(normalized_shape) values, normalised with biased variance and ``eps``.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "LayerNorm"
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(check_int(fn, "normalized_shape", s) for s in shape)
        if not self.normalized_shape:
            raise ValueError(f"{fn}: normalized_shape must name at least one axis, got {normalized_shape!r}")
        if not float(eps) > 0:
            raise ValueError(f"{fn}: eps must be > 0, got {eps!r}")
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        dtype = check_float_dtype(fn, dtype)
        self.register_parameter("weight", np.ones(self.normalized_shape, dtype) if elementwise_affine else None)
        self.register_parameter("bias", np.zeros(self.normalized_shape, dtype) if elementwise_affine else None)

    def forward(self, x: Any) -> Any:
        fn = "LayerNorm.forward"
        k = len(self.normalized_shape)
        check_min_ndim(fn, "x", x, k, f"(..., {', '.join(map(str, self.normalized_shape))})")
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"{fn}: x has shape {tuple(x.shape)}, whose trailing axes should be "
                             f"normalized_shape={self.normalized_shape}")
        d = int(np.prod(self.normalized_shape))
        xp = xp_of(x)
        if self.elementwise_affine:
            gamma, beta = self.weight.reshape(d), self.bias.reshape(d)
        else:
            gamma, beta = xp.ones(d, dtype=x.dtype), xp.zeros(d, dtype=x.dtype)
        out, cache = F.layernorm_forward(x.reshape(-1, d), gamma, beta, {"eps": self.eps})
        self._cache = (cache, x.shape)
        return out.reshape(x.shape)

    def backward(self, dout: Any) -> Any:
        cache, x_shape = ensure_forward(self)
        d = int(np.prod(self.normalized_shape))
        dx, dgamma, dbeta = F.layernorm_backward(dout.reshape(-1, d), cache)
        if self.elementwise_affine:
            self._set_grad("weight", dgamma.reshape(self.normalized_shape))
            self._set_grad("bias", dbeta.reshape(self.normalized_shape))
        return dx.reshape(x_shape)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group norm of ``(N, C, *)`` over each sample's groups of C/G channels (torch.nn.GroupNorm) via
    ``spatial_groupnorm_forward``.

    Parameters ``weight`` (ones) and ``bias`` (zeros) of shape (C,) (passed to the kernel as (1, C, 1, 1)).
    Trailing axes after C are flattened to one spatial axis, which leaves the group statistics unchanged.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "GroupNorm"
        self.num_groups = check_int(fn, "num_groups", num_groups)
        self.num_channels = check_int(fn, "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{fn}: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        if not float(eps) > 0:
            raise ValueError(f"{fn}: eps must be > 0, got {eps!r}")
        self.eps, self.affine = float(eps), bool(affine)
        dtype = check_float_dtype(fn, dtype)
        self.register_parameter("weight", np.ones(self.num_channels, dtype) if affine else None)
        self.register_parameter("bias", np.zeros(self.num_channels, dtype) if affine else None)

    def forward(self, x: Any) -> Any:
        fn = "GroupNorm.forward"
        check_min_ndim(fn, "x", x, 2, "(N, C, *)")
        c = self.num_channels
        if x.shape[1] != c:
            raise ValueError(f"{fn}: x has {x.shape[1]} channels (shape {tuple(x.shape)}) but num_channels={c}")
        xp = xp_of(x)
        x4 = x.reshape(x.shape[0], c, -1, 1)
        if self.affine:
            gamma, beta = self.weight.reshape(1, c, 1, 1), self.bias.reshape(1, c, 1, 1)
        else:
            gamma, beta = xp.ones((1, c, 1, 1), dtype=x.dtype), xp.zeros((1, c, 1, 1), dtype=x.dtype)
        out, cache = F.spatial_groupnorm_forward(x4, gamma, beta, self.num_groups, {"eps": self.eps})
        self._cache = (cache, x.shape)
        return out.reshape(x.shape)

    def backward(self, dout: Any) -> Any:
        cache, x_shape = ensure_forward(self)
        dx, dgamma, dbeta = F.spatial_groupnorm_backward(dout.reshape(x_shape[0], self.num_channels, -1, 1), cache)
        if self.affine:
            self._set_grad("weight", dgamma.reshape(self.num_channels))
            self._set_grad("bias", dbeta.reshape(self.num_channels))
        return dx.reshape(x_shape)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps:g}, affine={self.affine}"
