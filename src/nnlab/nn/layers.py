"""Kept for old imports: the layer modules that lived here now live one family per module, mirroring
:mod:`nnlab.layers` — :mod:`~nnlab.nn.linear` (``Linear``, ``Identity``), :mod:`~nnlab.nn.conv` (``Conv2d``),
:mod:`~nnlab.nn.pooling`, :mod:`~nnlab.nn.normalization`, :mod:`~nnlab.nn.dropout`, :mod:`~nnlab.nn.activations`
(``ReLU``, ``LeakyReLU``, ``Sigmoid``, ``Tanh``, ``Softsign``), :mod:`~nnlab.nn.flatten`, and the helpers they
share in :mod:`~nnlab.nn.helpers`. ``from nnlab.nn.layers import Linear`` still works.
"""

from __future__ import annotations

from .activations import Elementwise, LeakyReLU, ReLU, Sigmoid, Softsign, Tanh  # noqa: F401 (Elementwise: as before)
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .helpers import check_input, ensure_forward, uniform_init  # noqa: F401 (imported from here before the split)
from .linear import Identity, Linear
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softsign", "Flatten", "Identity",
]
