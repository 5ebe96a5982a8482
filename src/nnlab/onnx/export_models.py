"""ONNX converters of the CS231n-contract models (``params`` dicts, no ``nn`` modules).

- ``Softmax`` / ``LinearSVM``: ``scores = X W`` -> one ``Gemm`` without bias.
- ``TwoLayerNet``: ``Flatten`` (if X has more than two axes), ``Gemm`` W1 b1, ``Relu``, ``Gemm`` W2 b2.
- ``FullyConnectedNet``: ``{Gemm - [BatchNormalization | LayerNormalization] - activation} x (L-1) - Gemm``;
  dropout is dropped; batch norm uses ``bn_params[i]``'s running statistics (zeros/ones before any training, as
  the kernel's test mode) and ``eps`` (default 1e-5); layer norm normalises the last axis.
- ``ThreeLayerConvNet``: ``Conv`` (stride 1, pad (fs-1)//2) - ``Relu`` - ``MaxPool`` 2x2/2 - ``Flatten`` -
  ``Gemm`` W2 b2 - ``Relu`` - ``Gemm`` W3 b3.

Initializers keep the model's parameter names (``W1``, ``gamma1``, ``running_mean1``, ...).
"""

from __future__ import annotations

import numpy as np

from ..models.cnn import ThreeLayerConvNet
from ..models.fc_net import FullyConnectedNet, TwoLayerNet
from ..models.linear import LinearClassifier
from .graph import (
    ConverterTable,
    GraphBuilder,
    Traced,
    activation,
    affine,
    batchnorm,
    conv2d,
    flatten,
    layernorm,
    pool2d,
)

__all__ = ["CONVERTERS"]

CONVERTERS = ConverterTable()


def _rows(g: GraphBuilder, x: Traced) -> Traced:
    """(N, d1, ..., dk) -> (N, D) as the models' ``affine_forward`` reshapes."""
    return flatten(g, x, "flatten") if x.value.ndim > 2 else x


@CONVERTERS.add(LinearClassifier)
def _linear_classifier(g: GraphBuilder, m: LinearClassifier, x: Traced, scope: str) -> Traced:
    if m.W is None:
        raise ValueError(f"nnlab.onnx.export: {type(m).__name__} has no weights yet; train or load it first")
    return affine(g, _rows(g, x), m.W, None, "linear", "W", "b")


@CONVERTERS.add(TwoLayerNet)
def _two_layer_net(g: GraphBuilder, m: TwoLayerNet, x: Traced, scope: str) -> Traced:
    p = m.params
    h = activation(g, "relu", affine(g, _rows(g, x), p["W1"], p["b1"], "layer1", "W1", "b1"), "layer1")
    return affine(g, h, p["W2"], p["b2"], "layer2", "W2", "b2")


@CONVERTERS.add(FullyConnectedNet)
def _fully_connected_net(g: GraphBuilder, m: FullyConnectedNet, x: Traced, scope: str) -> Traced:
    p = m.params
    h = _rows(g, x)
    for i in range(1, m.num_layers):
        s = f"layer{i}"
        h = affine(g, h, p[f"W{i}"], p[f"b{i}"], s, f"W{i}", f"b{i}")
        if m.normalization == "batchnorm":
            bn = m.bn_params[i - 1]
            width = p[f"b{i}"].shape[0]
            mean = bn.get("running_mean", np.zeros(width))
            var = bn.get("running_var", np.ones(width))
            names = (f"gamma{i}", f"beta{i}", f"running_mean{i}", f"running_var{i}")
            h = batchnorm(g, h, p[f"gamma{i}"], p[f"beta{i}"], mean, var, bn.get("eps", 1e-5), s, names,
                          bn.get("momentum", 0.9))
        elif m.normalization == "layernorm":
            eps = m.bn_params[i - 1].get("eps", 1e-5)
            h = layernorm(g, h, p[f"gamma{i}"], p[f"beta{i}"], eps, -1, s, (f"gamma{i}", f"beta{i}"))
        h = activation(g, m.activation, h, s)
    last = m.num_layers
    return affine(g, h, p[f"W{last}"], p[f"b{last}"], f"layer{last}", f"W{last}", f"b{last}")


@CONVERTERS.add(ThreeLayerConvNet)
def _three_layer_convnet(g: GraphBuilder, m: ThreeLayerConvNet, x: Traced, scope: str) -> Traced:
    p = m.params
    h = conv2d(g, x, p["W1"], p["b1"], m.conv_param["stride"], m.conv_param["pad"], "conv", "W1", "b1")
    h = activation(g, "relu", h, "conv")
    pp = m.pool_param
    h = pool2d(g, "MaxPool", h, (pp["pool_height"], pp["pool_width"]), pp["stride"], "pool")
    h = flatten(g, h, "flatten")
    h = activation(g, "relu", affine(g, h, p["W2"], p["b2"], "hidden", "W2", "b2"), "hidden")
    return affine(g, h, p["W3"], p["b3"], "scores", "W3", "b3")
