"""Torch twins of nnlab module trees: the same structure, child names and hyperparameters written with torch.nn,
so ``state_dict`` keys map 1:1 (torch's batch-norm ``num_batches_tracked`` excepted). Used by the residual and
ResNet parity tests and by ``benchmarks/bench_resnet.py``.

``TorchBasicBlock`` is torchvision's ``BasicBlock`` (conv1, bn1, relu, conv2, bn2, downsample; ReLU after the
add), written out here because torchvision is not a dependency.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

import nnlab.nn as nn
from nnlab.models.resnet import BasicBlock, Scale
from nnlab.nn.activations import GELU, SiLU

_TORCH_DTYPE = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
_ACTS = {"ReLU": torch.nn.ReLU, "GELU": torch.nn.GELU, "SiLU": torch.nn.SiLU}


class TorchResidual(torch.nn.Module):
    """``main(x) + shortcut(x)`` (identity shortcut when None), the twin of ``nnlab.nn.Residual``."""

    def __init__(self, main: torch.nn.Module, shortcut: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.main = main
        self.shortcut = shortcut

    def forward(self, x):
        return self.main(x) + (x if self.shortcut is None else self.shortcut(x))


class TorchAdd(torch.nn.Module):
    """``sum_k branch_k(x)``, the twin of ``nnlab.nn.Add``."""

    def __init__(self, branches: OrderedDict) -> None:
        super().__init__()
        for name, m in branches.items():
            self.add_module(name, m)

    def forward(self, x):
        return sum(m(x) for m in self.children())


class TorchScale(torch.nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


class TorchBasicBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock (groups 1, dilation 1), activation selectable."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, act: type = torch.nn.ReLU) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = act()
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                                  torch.nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def build_twin(m: nn.Module) -> torch.nn.Module:
    """A torch module with the structure and names of the nnlab module ``m`` (weights not copied)."""
    if isinstance(m, BasicBlock):
        return TorchBasicBlock(m.in_planes, m.planes, m.stride, _ACTS[type(m.act1).__name__])
    if isinstance(m, nn.Sequential):
        return torch.nn.Sequential(OrderedDict((name, build_twin(c)) for name, c in m.named_children()))
    if isinstance(m, nn.Residual):
        children = dict(m.named_children())
        short = children.get("shortcut")
        return TorchResidual(build_twin(children["main"]), None if short is None else build_twin(short))
    if isinstance(m, nn.Add):
        return TorchAdd(OrderedDict((name, build_twin(c)) for name, c in m.named_children()))
    if isinstance(m, nn.Conv2d):
        return torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                               bias=m.bias is not None)
    if isinstance(m, nn.BatchNorm2d):
        return torch.nn.BatchNorm2d(m.num_features, eps=m.eps, momentum=m.momentum)
    if isinstance(m, nn.Linear):
        return torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if isinstance(m, nn.MaxPool2d):
        return torch.nn.MaxPool2d(m.kernel_size, m.stride)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return torch.nn.AdaptiveAvgPool2d(m.output_size)
    if isinstance(m, nn.Flatten):
        return torch.nn.Flatten(m.start_dim, m.end_dim)
    if isinstance(m, GELU):
        return torch.nn.GELU(approximate=m.approximate)
    simple = {nn.ReLU: torch.nn.ReLU, nn.Tanh: torch.nn.Tanh, SiLU: torch.nn.SiLU, nn.Identity: torch.nn.Identity}
    if type(m) in simple:
        return simple[type(m)]()
    if isinstance(m, Scale):
        return TorchScale(m.scale)
    raise TypeError(f"build_twin: no torch twin for {type(m).__name__}")


def load_into_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Copy our state_dict into the torch twin; the names must map 1:1 (torch-only counters excepted)."""
    result = theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()}, strict=False)
    assert all(k.endswith("num_batches_tracked") for k in result.missing_keys), result.missing_keys
    assert result.unexpected_keys == []


def torch_twin(ours: nn.Module) -> torch.nn.Module:
    """The torch twin of ``ours`` with its weights and buffers, in its dtype and training mode."""
    theirs = build_twin(ours)
    dtype = next(iter(ours.parameters())).dtype
    theirs.to(_TORCH_DTYPE[np.dtype(dtype)])
    load_into_torch(ours, theirs)
    theirs.train(ours.training)
    return theirs


def from_torch_state_dict(state_dict) -> dict:
    """A torch state_dict as arrays, without the batch-norm counters nnlab does not keep."""
    return {k: v.detach().numpy().copy() for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
