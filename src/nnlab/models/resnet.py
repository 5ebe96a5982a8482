"""Residual convnets for 32x32 images, built from :mod:`nnlab.nn` modules (no hand-written backward here).

- :class:`BasicBlock`: ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))`` with two 3x3 convolutions (no
  bias) and an identity shortcut, or a 1x1 convolution + batch norm (``downsample``) when the stride or the
  channel count changes (He et al. 2016; torchvision's parameter names ``conv1``, ``bn1``, ``conv2``, ``bn2``,
  ``downsample.0``, ``downsample.1``, so a torch BasicBlock's ``state_dict`` loads).
- :func:`resnet_cifar`: the CIFAR ResNet family of He et al. (ResNet-8/14/20/32/56/110, depth 6n + 2): a 3x3 stem
  of ``width`` channels, three stages of n blocks with ``width``, ``2 width``, ``4 width`` channels (stride 2 at
  the start of stages 2 and 3), global average pool, linear head. ResNet-20: 0.27 M parameters, 41 M multiply-adds
  (0.082 GFLOP) per 32x32 image forward.
- :func:`resnet_fast`: a wide and shallow residual design for fast training (after Page's "How to train your
  ResNet" ResNet-9 and the airbench CIFAR-10 speedruns): a 3x3 stem, then per stage a 3x3 convolution, 2x2
  max-pool, batch norm and activation, optionally followed by one residual pair of 3x3 conv-BN-act layers; a
  global max (or average) pool and a linear head scaled by ``head_scale``. Fewer, wider layers than ResNet-20 keep
  the convolution GEMMs large, which is what a CPU runs fast.

Every builder returns an :class:`nnlab.nn.Sequential` with named children, so
``nnlab.models.Classifier(module)`` gives it the Solver contract and a torch ``nn.Sequential`` with the same
names and modules (``tests/parity/torch_twins.py`` builds one) shares its ``state_dict``. Batch-norm state dicts
have no ``num_batches_tracked``: load a torch one with ``strict=False`` or drop those keys.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ..backend import get_rng
from ..nn import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Residual,
    Sequential,
)
from ..nn.activations import GELU, SiLU
from ..validation import check_positive_int

__all__ = ["BasicBlock", "resnet_cifar", "resnet_fast"]

_ACTIVATIONS = {"relu": ReLU, "gelu": GELU, "silu": SiLU}


def _rng(seed: Any) -> Any:
    """One random source for every layer of a model: None stays None (each layer draws from NumPy's global
    RNG), anything else becomes one Generator/RandomState shared by the layers (drawn in construction order)."""
    return None if seed is None else get_rng(seed)


def _activation(fn: str, name: str) -> Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"{fn}: activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


class Scale(Module):
    """``out = scale * x`` (a fixed factor, no parameter); ``backward`` returns ``scale * dout``."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: Any) -> Any:
        return x * x.dtype.type(self.scale)

    def backward(self, dout: Any) -> Any:
        return dout * dout.dtype.type(self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


class BasicBlock(Module):
    """ResNet basic block: ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``.

    Inputs of the constructor: in_planes, planes (output channels), stride (of conv1 and of the shortcut),
    activation (``'relu'``, ``'gelu'`` or ``'silu'``), seed, dtype. The shortcut is the identity when
    ``stride == 1`` and ``in_planes == planes``, else ``downsample`` = 1x1 conv (stride, no bias) + batch norm.
    Parameters (torchvision's names): ``conv1.weight`` (planes, in_planes, 3, 3), ``bn1.*``, ``conv2.weight``,
    ``bn2.*``, and ``downsample.0.weight``, ``downsample.1.*`` when present.

    Input (N, in_planes, H, W) -> output (N, planes, ceil(H / stride), ceil(W / stride)). ``forward`` and
    ``backward`` run ``Sequential(Residual(main, downsample), act)`` over these same child modules (kept as a
    private attribute, so the names above stay torchvision's): the backward of the add and the fan-out is
    :class:`nnlab.nn.Residual`'s.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1, activation: str = "relu", seed: Any = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        fn = "BasicBlock"
        in_planes = check_positive_int(fn, "in_planes", in_planes)
        planes = check_positive_int(fn, "planes", planes)
        stride = check_positive_int(fn, "stride", stride)
        rng = _rng(seed)
        self.in_planes, self.planes, self.stride = in_planes, planes, stride
        self.conv1 = Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False, seed=rng, dtype=dtype)
        self.bn1 = BatchNorm2d(planes, dtype=dtype)
        self.act1 = _activation(fn, activation)
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False, seed=rng, dtype=dtype)
        self.bn2 = BatchNorm2d(planes, dtype=dtype)
        shortcut = None
        if stride != 1 or in_planes != planes:
            self.downsample = shortcut = Sequential(
                Conv2d(in_planes, planes, 1, stride=stride, bias=False, seed=rng, dtype=dtype),
                BatchNorm2d(planes, dtype=dtype))
        self.act2 = _activation(fn, activation)
        main = Sequential(self.conv1, self.bn1, self.act1, self.conv2, self.bn2)
        object.__setattr__(self, "_graph", Sequential(Residual(main, shortcut), self.act2))

    def forward(self, x: Any) -> Any:
        return self._graph(x)

    def backward(self, dout: Any) -> Any:
        return self._graph.backward(dout)

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.planes}, stride={self.stride}"


def resnet_cifar(depth: int = 20, width: int = 16, num_classes: int = 10, in_channels: int = 3,
                 activation: str = "relu", seed: Any = None, dtype: Any = np.float32) -> Sequential:
    """The CIFAR ResNet of He et al. (2016), depth ``6n + 2`` (8, 14, 20, 32, 44, 56, 110).

    Layers (child names): ``conv1`` 3x3 (in_channels -> width, no bias), ``bn1``, ``act``; ``layer1``,
    ``layer2``, ``layer3``: n :class:`BasicBlock` each, with width, 2 width, 4 width channels, stride 2 at the
    first block of layers 2 and 3 (1x1 conv + BN shortcut there); ``avgpool`` (global average), ``flatten``,
    ``fc`` (4 width -> num_classes). Input (N, in_channels, H, W), output scores (N, num_classes); for 32x32
    inputs the feature maps are 32x32, 16x16, 8x8.

    Returns an :class:`nnlab.nn.Sequential`; parameters in ``dtype``, drawn from ``seed`` (torch's default
    initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for conv and linear weights, BN weight 1 and bias 0).
    """
    fn = "resnet_cifar"
    depth = check_positive_int(fn, "depth", depth)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"{fn}: depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, ...), got {depth}")
    width = check_positive_int(fn, "width", width)
    num_classes = check_positive_int(fn, "num_classes", num_classes)
    in_channels = check_positive_int(fn, "in_channels", in_channels)
    _activation(fn, activation)
    n = (depth - 2) // 6
    rng = _rng(seed)
    layers: OrderedDict[str, Module] = OrderedDict()
    layers["conv1"] = Conv2d(in_channels, width, 3, padding=1, bias=False, seed=rng, dtype=dtype)
    layers["bn1"] = BatchNorm2d(width, dtype=dtype)
    layers["act"] = _activation(fn, activation)
    planes = width
    for stage in range(3):
        out_planes = width * 2**stage
        blocks = []
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            blocks.append(BasicBlock(planes, out_planes, stride, activation, seed=rng, dtype=dtype))
            planes = out_planes
        layers[f"layer{stage + 1}"] = Sequential(*blocks)
    layers["avgpool"] = AdaptiveAvgPool2d(1)
    layers["flatten"] = Flatten()
    layers["fc"] = Linear(planes, num_classes, seed=rng, dtype=dtype)
    return Sequential(layers)


def _conv_bn_act(c_in: int, c_out: int, activation: str, rng: Any, dtype: Any, pool: bool = False) -> Sequential:
    """3x3 conv (no bias) [-> 2x2 max-pool] -> BN -> activation, children ``conv``, ``pool``, ``bn``, ``act``."""
    parts: OrderedDict[str, Module] = OrderedDict()
    parts["conv"] = Conv2d(c_in, c_out, 3, padding=1, bias=False, seed=rng, dtype=dtype)
    if pool:
        parts["pool"] = MaxPool2d(2)
    parts["bn"] = BatchNorm2d(c_out, dtype=dtype)
    parts["act"] = _activation("resnet_fast", activation)
    return Sequential(parts)


def resnet_fast(widths: tuple[int, ...] = (64, 128, 256), residual: tuple[bool, ...] | bool = True,
                stem_width: int | None = None, num_classes: int = 10, in_channels: int = 3,
                activation: str = "relu", head_pool: str = "max", head_scale: float = 0.125, image_size: int = 32,
                seed: Any = None, dtype: Any = np.float32) -> Sequential:
    """A wide, shallow residual net for fast training on 32x32 images (a parameterised ResNet-9).

    Layers (child names): ``stem`` = 3x3 conv (in_channels -> stem_width, default widths[0] // 2) + BN + act;
    then for each stage k, ``layer{k+1}`` = Sequential(``down``: 3x3 conv -> 2x2 max-pool -> BN -> act, and when
    ``residual[k]``, ``res``: :class:`nnlab.nn.Residual` of two 3x3 conv-BN-act layers with an identity
    shortcut); ``pool`` = global max pool (``head_pool='max'``: a ``MaxPool2d`` over the whole final map of
    ``image_size // 2**len(widths)`` pixels, so inputs must be ``image_size`` square) or global average pool
    (``'avg'``, any size); ``flatten``; ``fc`` (widths[-1] -> num_classes, no bias) and ``scale`` (multiplies the
    scores by ``head_scale``; Page's 0.125 keeps the initial logits small). Each stage halves the resolution:
    32 -> 16 -> 8 -> 4 for three stages.

    ``residual`` is one bool for every stage or one per stage (Page's ResNet-9: ``(True, False, True)``).
    Forward cost per 32x32 image (2 x multiply-adds), widths (64, 128, 256): 0.228 GFLOP with a residual pair in
    every stage (1.94 M parameters), 0.191 GFLOP with residuals on stages 1 and 3; widths (32, 64, 128): 0.058.
    Returns an :class:`nnlab.nn.Sequential`.
    """
    fn = "resnet_fast"
    if not isinstance(widths, (tuple, list)) or not widths:
        raise ValueError(f"{fn}: widths must be a non-empty tuple of channel counts, got {widths!r}")
    widths = tuple(check_positive_int(fn, "widths", w) for w in widths)
    if isinstance(residual, bool):
        residual = (residual,) * len(widths)
    if not isinstance(residual, (tuple, list)) or len(residual) != len(widths):
        raise ValueError(f"{fn}: residual must be a bool or one bool per stage ({len(widths)}), got {residual!r}")
    stem_width = check_positive_int(fn, "stem_width", stem_width if stem_width is not None else max(widths[0] // 2, 1))
    num_classes = check_positive_int(fn, "num_classes", num_classes)
    in_channels = check_positive_int(fn, "in_channels", in_channels)
    if head_pool not in ("max", "avg"):
        raise ValueError(f"{fn}: head_pool must be 'max' or 'avg', got {head_pool!r}")
    final = check_positive_int(fn, "image_size", image_size) // 2 ** len(widths)
    if head_pool == "max" and (final < 1 or image_size % 2 ** len(widths)):
        raise ValueError(f"{fn}: image_size {image_size} must be divisible by 2**len(widths) = {2 ** len(widths)} "
                         "for head_pool='max'")
    _activation(fn, activation)
    rng = _rng(seed)
    layers: OrderedDict[str, Module] = OrderedDict()
    layers["stem"] = _conv_bn_act(in_channels, stem_width, activation, rng, dtype)
    c = stem_width
    for k, (w, res) in enumerate(zip(widths, residual)):
        stage: OrderedDict[str, Module] = OrderedDict()
        stage["down"] = _conv_bn_act(c, w, activation, rng, dtype, pool=True)
        if res:
            stage["res"] = Residual(Sequential(_conv_bn_act(w, w, activation, rng, dtype),
                                               _conv_bn_act(w, w, activation, rng, dtype)))
        layers[f"layer{k + 1}"] = Sequential(stage)
        c = w
    layers["pool"] = MaxPool2d(final) if head_pool == "max" else AdaptiveAvgPool2d(1)
    layers["flatten"] = Flatten()
    layers["fc"] = Linear(c, num_classes, bias=False, seed=rng, dtype=dtype)
    layers["scale"] = Scale(head_scale)
    return Sequential(layers)

