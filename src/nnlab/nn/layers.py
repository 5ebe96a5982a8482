"""Layer modules (torch.nn names, parameter names and shapes) that call the functional kernels.

Every module's ``forward`` calls a kernel of :mod:`nnlab.layers` and keeps its cache; ``backward`` calls the
matching ``*_backward`` and maps the gradients back onto the torch-shaped parameters. No layer math lives
here, only layout (transposes/reshapes) and bookkeeping, so a ``state_dict`` loads 1:1 into the torch twin.

Initialisation follows torch: ``Linear``/``Conv2d`` weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
(torch's kaiming-uniform with a = sqrt(5)), drawn from ``seed`` (None -> NumPy's global RNG, an int -> a
private ``RandomState``, or a Generator/RandomState used as is); norm layers start at weight 1, bias 0.
Parameters are float32 by default (``dtype=``), like torch; ``module.to(np.float64)`` casts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, uniform, xp_of
from ..validation import check_array, check_float_dtype, check_int, check_min_ndim, check_probability
from .module import Module

__all__ = [
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softsign", "Flatten", "Identity",
]

Seed = Any  # int | np.random.Generator | np.random.RandomState | None


# ---- argument helpers -------------------------------------------------------------------------------------
def _pair(fn: str, name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints -> (int, int), each >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        return check_int(fn, name, value[0], minimum), check_int(fn, name, value[1], minimum)
    v = check_int(fn, name, value, minimum)
    return v, v


def _square(fn: str, name: str, value: Any, minimum: int) -> int:
    """An int or an equal pair -> int (the kernels take one stride/pad for both axes)."""
    a, b = _pair(fn, name, value, minimum)
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


# ---- affine / convolution ---------------------------------------------------------------------------------
class Linear(Module):
    """``y = x @ weight.T + bias`` on the last axis (torch.nn.Linear).

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,). Input (..., in_features),
    output (..., out_features). Calls ``affine_forward(x2d, weight.T, bias)`` (a view, no copy) and maps
    ``dw`` back as ``dweight = dw.T``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, seed: Seed = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "Linear"
        self.in_features = check_int(fn, "in_features", in_features)
        self.out_features = check_int(fn, "out_features", out_features)
        dtype = check_float_dtype(fn, dtype)
        rng = get_rng(seed)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = uniform_init(rng, (self.out_features, self.in_features), bound, dtype)
        self.register_parameter("bias", uniform_init(rng, (self.out_features,), bound, dtype) if bias else None)

    def forward(self, x: Any) -> Any:
        fn = "Linear.forward"
        check_min_ndim(fn, "x", x, 1, "(..., in_features)")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{fn}: x has {x.shape[-1]} features on its last axis (shape {tuple(x.shape)}) "
                             f"but in_features={self.in_features}")
        bias = self.bias if self.bias is not None else xp_of(x).zeros(self.out_features, dtype=self.weight.dtype)
        out, cache = F.affine_forward(x.reshape(-1, self.in_features), self.weight.T, bias)
        self._cache = (cache, x.shape)
        return out.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dout: Any) -> Any:
        cache, x_shape = ensure_forward(self)
        dx, dw, db = F.affine_backward(dout.reshape(-1, self.out_features), cache)
        self._set_grad("weight", dw.T)
        if self.bias is not None:
            self._set_grad("bias", db)
        return dx.reshape(x_shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution (cross-correlation, torch.nn.Conv2d) through ``conv_forward_fast``.

    Parameters: ``weight`` (out_channels, in_channels, kh, kw), ``bias`` (out_channels,). Input (N, C, H, W),
    output (N, F, H', W') with ``H' = (H + 2*pad - kh) // stride + 1`` (floored as in torch). One stride and one
    padding for both axes (the kernel's ``conv_param``); no dilation or groups.

    ``input_grad`` (attribute, default True): set it False on a network's first layer, whose input is data, and
    ``backward`` skips the input gradient (about a third of the backward work) and returns None, as torch does
    for an input without ``requires_grad``. ``Classifier`` does this for the first layer of a ``Sequential``.

    ``algo``: the kernel's ``conv_param['algo']`` — ``'auto'`` (default: im2col, MEC or Winograd by shape, see
    ``nnlab.layers.choose_conv_algo``), ``'im2col'``, ``'mec'``, ``'winograd2'`` or ``'winograd4'`` (3x3, stride 1).
    ``self.last_algo`` names the algorithm the last forward ran.
    """

    input_grad: bool = True
    last_algo: str | None = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 bias: bool = True, seed: Seed = None, dtype: Any = np.float32, algo: str = "auto") -> None:
        super().__init__()
        fn = "Conv2d"
        if algo not in F.CONV_ALGOS:
            raise ValueError(f"{fn}: algo must be one of {', '.join(map(repr, F.CONV_ALGOS))}, got {algo!r}")
        self.algo = algo
        self.in_channels = check_int(fn, "in_channels", in_channels)
        self.out_channels = check_int(fn, "out_channels", out_channels)
        self.kernel_size = _pair(fn, "kernel_size", kernel_size)
        self.stride = _square(fn, "stride", stride, 1)
        self.padding = _square(fn, "padding", padding, 0)
        if algo.startswith("winograd") and (self.kernel_size != (3, 3) or self.stride != 1):
            raise ValueError(f"{fn}: algo={algo!r} needs kernel_size 3 and stride 1, "
                             f"got kernel_size={self.kernel_size}, stride={self.stride}")
        dtype = check_float_dtype(fn, dtype)
        rng = get_rng(seed)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / np.sqrt(fan_in)
        self.weight = uniform_init(rng, (self.out_channels, self.in_channels, *self.kernel_size), bound, dtype)
        self.register_parameter("bias", uniform_init(rng, (self.out_channels,), bound, dtype) if bias else None)

    def forward(self, x: Any) -> Any:
        check_input("Conv2d.forward", x, (4,), "(N, C, H, W)")
        bias = self.bias if self.bias is not None else xp_of(x).zeros(self.out_channels, dtype=self.weight.dtype)
        conv_param = {"stride": self.stride, "pad": self.padding, "algo": self.algo}
        out, self._cache = F.conv_forward_fast(x, self.weight, bias, conv_param)
        self.last_algo = self._cache[0]
        return out

    def backward(self, dout: Any) -> Any:
        dx, dw, db = F.conv_backward_fast(dout, ensure_forward(self), need_dx=self.input_grad)
        self._set_grad("weight", dw)
        if self.bias is not None:
            self._set_grad("bias", db)
        return dx

    def extra_repr(self) -> str:
        s, p = self.stride, self.padding
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={(s, s)}, "
                f"padding={(p, p)}")
        text = text if self.bias is not None else text + ", bias=False"
        return text if self.algo == "auto" else text + f", algo={self.algo!r}"


# ---- pooling ----------------------------------------------------------------------------------------------
class _Pool2d(Module):
    """Shared constructor of the fixed-window pools: ``kernel_size`` (int or pair), ``stride`` (default: the
    kernel size), no padding."""

    def __init__(self, kernel_size: Any, stride: Any = None) -> None:
        super().__init__()
        fn = type(self).__name__
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        self._window = _pair(fn, "kernel_size", kernel_size)
        if stride is None:
            if self._window[0] != self._window[1]:
                raise ValueError(f"{fn}: give stride explicitly for a non-square kernel_size {kernel_size!r}")
            stride = self._window[0]
        self.stride = _square(fn, "stride", stride, 1)

    @property
    def pool_param(self) -> dict[str, int]:
        return {"pool_height": self._window[0], "pool_width": self._window[1], "stride": self.stride}


class MaxPool2d(_Pool2d):
    """Max pooling (torch.nn.MaxPool2d without padding/dilation) through ``max_pool_forward_fast``.

    Input (N, C, H, W), output (N, C, (H - kh) // stride + 1, (W - kw) // stride + 1).
    """

    def forward(self, x: Any) -> Any:
        check_input("MaxPool2d.forward", x, (4,), "(N, C, H, W)")
        out, self._cache = F.max_pool_forward_fast(x, self.pool_param)
        return out

    def backward(self, dout: Any) -> Any:
        return F.max_pool_backward_fast(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding=0, dilation=1, ceil_mode=False"


class AvgPool2d(_Pool2d):
    """Average pooling (torch.nn.AvgPool2d without padding) through ``avg_pool_forward``; shapes as MaxPool2d."""

    def forward(self, x: Any) -> Any:
        check_input("AvgPool2d.forward", x, (4,), "(N, C, H, W)")
        out, self._cache = F.avg_pool_forward(x, self.pool_param)
        return out

    def backward(self, dout: Any) -> Any:
        return F.avg_pool_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding=0"


class AdaptiveAvgPool2d(Module):
    """Adaptive average pooling to ``output_size`` (int or pair; torch's bins, also when sizes do not divide).

    Input (N, C, H, W), output (N, C, *output_size).
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size if isinstance(output_size, int) else tuple(output_size)
        self._size = _pair("AdaptiveAvgPool2d", "output_size", output_size)

    def forward(self, x: Any) -> Any:
        check_input("AdaptiveAvgPool2d.forward", x, (4,), "(N, C, H, W)")
        out, self._cache = F.adaptive_avg_pool_forward(x, self._size)
        return out

    def backward(self, dout: Any) -> Any:
        return F.adaptive_avg_pool_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---- normalization ----------------------------------------------------------------------------------------
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
    """Group norm of (N, C, *) over each sample's groups of C/G channels (torch.nn.GroupNorm) via
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


# ---- dropout ----------------------------------------------------------------------------------------------
class Dropout(Module):
    """Inverted dropout with DROP probability ``p`` (torch.nn.Dropout) via ``dropout_forward``.

    Training: ``out = x * mask``, ``mask = (u < 1-p) / (1-p)``; evaluation: the identity. Masks come from
    ``seed`` (None -> NumPy's global RNG; an int -> a private RandomState that keeps advancing).
    """

    def __init__(self, p: float = 0.5, seed: Seed = None) -> None:
        super().__init__()
        check_probability("Dropout", "p", p)
        self.p = float(p)
        self._rng = None if seed is None else get_rng(seed)

    def forward(self, x: Any) -> Any:
        param: dict[str, Any] = {"mode": "train" if self.training else "test", "p": self.p}
        if self._rng is not None:
            param["seed"] = self._rng
        out, self._cache = F.dropout_forward(x, param)
        return out

    def backward(self, dout: Any) -> Any:
        return F.dropout_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


# ---- activations and reshapes -----------------------------------------------------------------------------
class Elementwise(Module):
    """An activation without parameters: ``forward`` calls ``F.<_kernel>_forward``, ``backward`` the
    matching ``_backward``; any input shape."""

    _kernel = ""

    def forward(self, x: Any) -> Any:
        out, self._cache = getattr(F, f"{self._kernel}_forward")(x)
        return out

    def backward(self, dout: Any) -> Any:
        return getattr(F, f"{self._kernel}_backward")(dout, ensure_forward(self))


class ReLU(Elementwise):
    """``max(0, x)`` via ``relu_forward``."""

    _kernel = "relu"


class Sigmoid(Elementwise):
    """``1 / (1 + exp(-x))`` via ``sigmoid_forward``."""

    _kernel = "sigmoid"


class Tanh(Elementwise):
    """``tanh(x)`` via ``tanh_forward``."""

    _kernel = "tanh"


class Softsign(Elementwise):
    """``x / (1 + |x|)`` via ``softsign_forward``."""

    _kernel = "softsign"


class LeakyReLU(Module):
    """``x`` where ``x > 0`` else ``negative_slope * x`` via ``leaky_relu_forward``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Any:
        out, self._cache = F.leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: Any) -> Any:
        return F.leaky_relu_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Flatten(Module):
    """Flatten axes ``start_dim..end_dim`` into one (torch.nn.Flatten): (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Any:
        fn = "Flatten.forward"
        check_array(fn, "x", x)
        start, end = self.start_dim % max(x.ndim, 1), self.end_dim % max(x.ndim, 1)
        if x.ndim == 0 or start > end:
            raise ValueError(f"{fn}: cannot flatten axes {self.start_dim}..{self.end_dim} of x with shape "
                             f"{tuple(x.shape)}")
        self._cache = x.shape
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1:])

    def backward(self, dout: Any) -> Any:
        return dout.reshape(ensure_forward(self))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """``out = x``."""

    def forward(self, x: Any) -> Any:
        return x

    def backward(self, dout: Any) -> Any:
        return dout
