"""Convolutional networks: CS231n's ``ThreeLayerConvNet`` and the seed-003 MRI network ``mri_cnn``.

``ThreeLayerConvNet`` has the CS231n model contract (``params`` dict, ``loss(X, y=None)``) and is written with
the functional kernels (``conv_relu_pool``, ``affine_relu``, ``affine``, ``softmax_loss``); its weights are
``weight_scale * randn`` drawn in the order W1, W2, W3 from NumPy's GLOBAL RNG by default, so
``np.random.seed(231)`` reproduces the course notebook. ``mri_cnn`` builds an :class:`nnlab.nn.Sequential`
(train it through :class:`nnlab.models.classifier.Classifier`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from .. import layers as F
from ..backend import get_rng, normal
from ..nn import AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, LeakyReLU, Linear, MaxPool2d, Sequential
from ..validation import check_array, check_labels, check_positive_int

__all__ = ["ThreeLayerConvNet", "mri_cnn"]


class ThreeLayerConvNet:
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax (CS231n assignment 2).

    Inputs of the constructor:
    - input_dim: (C, H, W) of one image.
    - num_filters, filter_size: F filters of size fs x fs (fs odd for "same" padding); stride 1, pad
      ``(fs - 1) // 2``.
    - hidden_dim, num_classes: sizes of the two affine layers.
    - weight_scale: std of the Gaussian weights; biases start at zero.
    - reg: L2 strength, ``0.5 * reg * (sum(W1**2) + sum(W2**2) + sum(W3**2))`` (mutable attribute).
    - dtype: dtype of every parameter (float64 for gradient checks).
    - seed: None -> NumPy's global RNG (course reproducibility); an int or Generator/RandomState otherwise.

    Params: ``W1`` (F, C, fs, fs), ``b1`` (F,), ``W2`` (F * (H'//2) * (W'//2), hidden_dim), ``b2``,
    ``W3`` (hidden_dim, num_classes), ``b3``, where H', W' are the conv output sizes (= H, W for odd fs).
    """

    def __init__(self, input_dim: tuple[int, int, int] = (3, 32, 32), num_filters: int = 32, filter_size: int = 7,
                 hidden_dim: int = 100, num_classes: int = 10, weight_scale: float = 1e-3, reg: float = 0.0,
                 dtype: Any = np.float32, seed: Any = None) -> None:
        fn = "ThreeLayerConvNet"
        if len(tuple(input_dim)) != 3:
            raise ValueError(f"{fn}: input_dim must be (C, H, W), got {input_dim!r}")
        C, H, W = (check_positive_int(fn, "input_dim", v) for v in input_dim)
        F_ = check_positive_int(fn, "num_filters", num_filters)
        fs = check_positive_int(fn, "filter_size", filter_size)
        hidden_dim = check_positive_int(fn, "hidden_dim", hidden_dim)
        num_classes = check_positive_int(fn, "num_classes", num_classes)
        self.dtype = np.dtype(dtype)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"{fn}: dtype must be a floating-point type, got {self.dtype}")
        self.reg = float(reg)
        self.input_dim = (C, H, W)
        self.conv_param = {"stride": 1, "pad": (fs - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pad = self.conv_param["pad"]
        conv_h, conv_w = H + 2 * pad - fs + 1, W + 2 * pad - fs + 1
        if conv_h < 2 or conv_w < 2:
            raise ValueError(f"{fn}: filter_size {fs} is too large for input_dim {input_dim} "
                             f"(conv output {conv_h}x{conv_w}, the 2x2 pool needs at least 2x2)")
        pooled = F_ * (conv_h // 2) * (conv_w // 2)
        rng = get_rng(seed)
        shapes = {"W1": (F_, C, fs, fs), "W2": (pooled, hidden_dim), "W3": (hidden_dim, num_classes)}
        self.params: dict[str, Any] = {}
        for i, (w_name, shape) in enumerate(shapes.items(), start=1):
            self.params[w_name] = (weight_scale * normal(rng, shape)).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if i == 1 else shape[1], dtype=self.dtype)

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, num_classes) when ``y`` is None, else ``(loss, grads)`` with grads keyed like params.

        X: (N, C, H, W) images; y: (N,) integer labels.
        """
        fn = "ThreeLayerConvNet.loss"
        check_array(fn, "X", X, ndim=4, shape_hint="(N, C, H, W)")
        if tuple(X.shape[1:]) != self.input_dim:
            raise ValueError(f"{fn}: X has images of shape {tuple(X.shape[1:])} but the model expects "
                             f"input_dim={self.input_dim}")
        p = self.params
        X = X.astype(self.dtype, copy=False)
        h1, cache1 = F.conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        h2, cache2 = F.affine_relu_forward(h1, p["W2"], p["b2"])
        scores, cache3 = F.affine_forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores
        check_labels(fn, "y", y, X.shape[0], scores.shape[1])
        loss, dscores = F.softmax_loss(scores, y)
        grads: dict[str, Any] = {}
        dh2, grads["W3"], grads["b3"] = F.affine_backward(dscores, cache3)
        dh1, grads["W2"], grads["b2"] = F.affine_relu_backward(dh2, cache2)
        _, grads["W1"], grads["b1"] = F.conv_relu_pool_backward(dh1, cache1, need_dx=False)  # X is data
        if self.reg:  # skipped at reg = 0: three passes over W2 (F*H*W/4 x hidden) that would add zeros
            for w in ("W1", "W2", "W3"):
                loss = loss + 0.5 * self.reg * (p[w] * p[w]).sum()
                grads[w] = grads[w] + self.reg * p[w]
        return loss, grads


def mri_cnn(num_classes: int = 4, dropout: float = 0.2, seed: Any = None, in_channels: int = 1,
            widths: tuple[int, int, int, int] = (8, 32, 32, 64), hidden: tuple[int, int] = (256, 128),
            pooled_size: int = 7, negative_slope: float = 0.01, dtype: Any = np.float32) -> Sequential:
    """The seed-003 brain-MRI network (spec ``seed_003.md`` §5.3) as a :class:`Sequential`.

    ``feature_extractor``: conv 1->8, conv 8->32, maxpool 2, dropout, conv 32->32, conv 32->64, maxpool 2,
    dropout (3x3 convs, padding 1, each followed by LeakyReLU(0.01)); ``avg_pooling``: AdaptiveAvgPool2d
    (7, 7); ``flatten``; ``classifier``: 3136->256, LeakyReLU, dropout, 256->128, LeakyReLU, dropout, 128->4.
    Input (N, 1, 84, 84) (any size >= 4x4 works: the adaptive pool fixes 7x7); output logits (N, num_classes).

    The names match the reference ``CNN`` module's, so its torch ``state_dict`` loads 1:1. The reference
    flattens inside ``forward``; here that is the ``flatten`` child (no parameters). ``widths``, ``hidden`` and
    ``pooled_size`` allow scaled-down copies (e.g. for gradient checks). Parameters are initialised in layer
    order from ``seed`` (None -> NumPy's global RNG).
    """
    rng = None if seed is None else get_rng(seed)  # one stream shared by every layer, in layer order
    c1, c2, c3, c4 = widths
    h1, h2 = hidden

    def conv(cin: int, cout: int) -> Conv2d:
        return Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, seed=rng, dtype=dtype)

    def act() -> LeakyReLU:
        return LeakyReLU(negative_slope)

    features = Sequential(
        conv(in_channels, c1), act(), conv(c1, c2), act(), MaxPool2d(2, 2), Dropout(dropout, seed=rng),
        conv(c2, c3), act(), conv(c3, c4), act(), MaxPool2d(2, 2), Dropout(dropout, seed=rng),
    )
    classifier = Sequential(
        Linear(c4 * pooled_size * pooled_size, h1, seed=rng, dtype=dtype), act(), Dropout(dropout, seed=rng),
        Linear(h1, h2, seed=rng, dtype=dtype), act(), Dropout(dropout, seed=rng),
        Linear(h2, check_positive_int("mri_cnn", "num_classes", num_classes), seed=rng, dtype=dtype),
    )
    return Sequential(OrderedDict([
        ("feature_extractor", features),
        ("avg_pooling", AdaptiveAvgPool2d((pooled_size, pooled_size))),
        ("flatten", Flatten()),
        ("classifier", classifier),
    ]))
