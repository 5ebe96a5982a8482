"""Pooling modules (torch.nn names): ``MaxPool2d``, ``AvgPool2d`` (fixed windows, no padding) and
``AdaptiveAvgPool2d``, through the kernels of :mod:`nnlab.layers.pooling`."""

from __future__ import annotations

from typing import Any

from .. import layers as F
from .helpers import check_input, ensure_forward, pair_arg, square_arg
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class _Pool2d(Module):
    """Shared constructor of the fixed-window pools: ``kernel_size`` (int or pair), ``stride`` (default: the
    kernel size), no padding."""

    def __init__(self, kernel_size: Any, stride: Any = None) -> None:
        super().__init__()
        fn = type(self).__name__
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        self._window = pair_arg(fn, "kernel_size", kernel_size)
        if stride is None:
            if self._window[0] != self._window[1]:
                raise ValueError(f"{fn}: give stride explicitly for a non-square kernel_size {kernel_size!r}")
            stride = self._window[0]
        self.stride = square_arg(fn, "stride", stride, 1)

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

    Input (N, C, H, W), output ``(N, C, *output_size)``.
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size if isinstance(output_size, int) else tuple(output_size)
        self._size = pair_arg("AdaptiveAvgPool2d", "output_size", output_size)

    def forward(self, x: Any) -> Any:
        check_input("AdaptiveAvgPool2d.forward", x, (4,), "(N, C, H, W)")
        out, self._cache = F.adaptive_avg_pool_forward(x, self._size)
        return out

    def backward(self, dout: Any) -> Any:
        return F.adaptive_avg_pool_backward(dout, ensure_forward(self))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
