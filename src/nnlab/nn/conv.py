"""The convolution module ``Conv2d`` (torch.nn.Conv2d's names and shapes) through the kernels of
:mod:`nnlab.layers.conv` (the algorithm chosen per layer, or forced with ``algo``).

Initialisation follows torch: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's kaiming-uniform
with a = sqrt(5)), drawn from ``seed`` (None -> NumPy's global RNG, an int -> a private ``RandomState``, or a
Generator/RandomState used as is). Parameters are float32 by default (``dtype=``), like torch; ``module.to(np.float64)``
casts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, xp_of
from ..validation import check_float_dtype, check_int
from .helpers import Seed, check_input, ensure_forward, pair_arg, square_arg, uniform_init
from .module import Module

__all__ = ["Conv2d"]


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
        self.kernel_size = pair_arg(fn, "kernel_size", kernel_size)
        self.stride = square_arg(fn, "stride", stride, 1)
        self.padding = square_arg(fn, "padding", padding, 0)
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
