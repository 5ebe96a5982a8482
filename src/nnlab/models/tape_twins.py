"""Forward-only twins of two hand-written models, differentiated by the tape (:mod:`nnlab.autograd`).

Each twin holds the very same modules as its hand-written model (same parameter and buffer names, so state
dicts, checkpoints and the Solver's ``params`` are interchangeable) but defines **only** ``forward``, written
with :mod:`nnlab.functional` on the modules' parameters as Tensors (:meth:`nnlab.nn.Module.param`). It proves,
on real architectures, that "users write only forward" gives the hand-written model's gradients: the tape's
backward calls the same kernels' backwards (``tests/autograd/test_tape_twins.py`` compares losses and every
gradient from the same weights).

- :class:`ResNetFastTape`: :func:`nnlab.models.resnet_fast` (3x3 conv -> [2x2 max-pool] -> batch norm -> ReLU
  stages, residual pairs, global max pool, linear head times ``head_scale``).
- :class:`CharTransformerTape`: :class:`nnlab.models.CharTransformer` (token + position embeddings, pre- or
  post-norm encoder layers with causal multi-head attention, final layer norm, linear or tied read-out).

Both train through ``nnlab.models.Classifier``/the Solver (the tape answers ``backward``) or a torch-style loop
with ``nnlab.optim``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..autograd import Tensor, no_grad
from ..nn import MaxPool2d, Module, Residual
from ..nn.parameter_view import ParameterView, ParamsAttribute
from .resnet import resnet_fast
from .transformer import CharTransformer

__all__ = ["ResNetFastTape", "CharTransformerTape"]


def _adopt(twin: Module, model: Module) -> None:
    """Make ``model``'s children the twin's (same names: the state dicts coincide)."""
    for name, child in model.named_children():
        setattr(twin, name, child)


def _optional(module: Module, name: str) -> Tensor | None:
    """``module.param(name)``, or None when the module was built without that parameter (``bias=False``)."""
    try:
        return module.param(name)
    except KeyError:
        return None


def _conv_bn_act(block: Module, x: Tensor) -> Tensor:
    """``block``: a Sequential with children conv, [pool], bn, act (ReLU), as resnet_fast builds them."""
    conv, bn = block.conv, block.bn
    x = F.conv2d(x, conv.param("weight"), None, stride=conv.stride, padding=conv.padding)
    if "pool" in block._modules:
        x = F.max_pool2d(x, block.pool.kernel_size, block.pool.stride)
    x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.param("weight"), bn.param("bias"),
                     training=bn.training, momentum=bn.momentum, eps=bn.eps)
    return F.relu(x)


class ResNetFastTape(Module):
    """:func:`nnlab.models.resnet_fast` written forward-only (ReLU activations); same arguments.

    ``forward(x)``: x (N, C, H, W) -> scores (N, num_classes).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        if kwargs.get("activation", "relu") != "relu":
            raise ValueError(f"ResNetFastTape: activation must be 'relu', got {kwargs['activation']!r}")
        _adopt(self, resnet_fast(**kwargs))

    def forward(self, x: Any) -> Tensor:
        x = _conv_bn_act(self.stem, x)
        k = 1
        while f"layer{k}" in self._modules:
            stage = self._modules[f"layer{k}"]
            x = _conv_bn_act(stage.down, x)
            if "res" in stage._modules:
                res: Residual = stage.res
                r = x
                for block in res.main:
                    r = _conv_bn_act(block, r)
                x = x + r
            k += 1
        if isinstance(self.pool, MaxPool2d):
            x = F.max_pool2d(x, self.pool.kernel_size, self.pool.stride)
        else:
            x = F.adaptive_avg_pool2d(x, 1)
        x = x.flatten(1)
        return F.linear(x, self.fc.param("weight")) * x.dtype.type(self.scale.scale)


class CharTransformerTape(Module):
    """:class:`nnlab.models.CharTransformer` written forward-only; same arguments, same ``params`` and
    ``loss(X, y)`` contract (mean cross-entropy over every position), so the Solver and the char recipes take it.
    """

    seq_loss = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        model = CharTransformer(*args, **kwargs)
        _adopt(self, model)
        self.vocab, self.max_len, self.tie_weights = model.vocab, model.max_len, model.tie_weights
        object.__setattr__(self, "_check_ids", model._check_ids)
        object.__setattr__(self, "_params", ParameterView(self, "CharTransformerTape.params"))

    params = ParamsAttribute()

    @property
    def vocab_size(self) -> int:
        return self.embedding.num_embeddings

    def _attention(self, mha: Module, x: Tensor) -> Tensor:
        N, T, E = x.shape
        h = mha.num_heads
        qkv = F.linear(x, mha.param("in_proj_weight"), _optional(mha, "in_proj_bias"))
        q, k, v = qkv.reshape(N, T, 3, h, E // h).permute(2, 0, 3, 1, 4).unbind(0)  # each (N, h, T, d)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=mha.dropout if mha.training else 0.0)
        out = out.permute(0, 2, 1, 3).reshape(N, T, E)
        return F.linear(out, mha.out_proj.param("weight"), _optional(mha.out_proj, "bias"))

    def _feed_forward(self, layer: Module, x: Tensor) -> Tensor:
        act = F.gelu if layer.activation_name == "gelu" else F.relu
        h = F.dropout(act(F.linear(x, layer.linear1.param("weight"), _optional(layer.linear1, "bias"))),
                      layer.dropout.p, layer.training)
        return F.dropout(F.linear(h, layer.linear2.param("weight"), _optional(layer.linear2, "bias")),
                         layer.dropout2.p, layer.training)

    @staticmethod
    def _norm(norm: Module, x: Tensor) -> Tensor:
        return F.layer_norm(x, norm.normalized_shape, norm.param("weight"), norm.param("bias"), norm.eps)

    def forward(self, X: Any) -> Tensor:
        """Scores (N, T, V) from token ids X (N, T)."""
        ids = X.data if isinstance(X, Tensor) else X
        self._check_ids(ids)
        T = ids.shape[1]
        emb = self.embedding.param("weight")
        h = F.embedding(ids, emb) + self.pos_embedding.param("weight")[:T]
        h = F.dropout(h, self.drop.p, self.training)
        for layer in self.layers:
            if layer.norm_first:
                h = h + F.dropout(self._attention(layer.self_attn, self._norm(layer.norm1, h)), layer.dropout1.p,
                                  layer.training)
                h = h + self._feed_forward(layer, self._norm(layer.norm2, h))
            else:
                h = self._norm(layer.norm1, h + F.dropout(self._attention(layer.self_attn, h), layer.dropout1.p,
                                                          layer.training))
                h = self._norm(layer.norm2, h + self._feed_forward(layer, h))
        h = self._norm(self.norm, h)
        if self.tie_weights:
            return F.linear(h, emb, self.head.param("bias"))
        return F.linear(h, self.head.param("weight"), self.head.param("bias"))

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, V) of the last position when ``y`` is None; else ``(loss, grads)`` with the mean
        cross-entropy over the N*T positions, ``grads`` keyed like ``params`` (from the tape)."""
        if y is None:
            training = self.training
            self.eval()
            try:
                with no_grad():
                    return self.forward(X).data[:, -1]
            finally:
                self.train(training)
        y = np.asarray(y)
        scores = self.forward(X)
        V = scores.shape[-1]
        loss = F.cross_entropy(scores.reshape(-1, V), y.reshape(-1))
        named = list(self.named_parameter_tensors())
        for _, p in named:
            p.grad = None
        loss.backward()
        return float(loss.item()), {n: (p.grad if p.grad is not None else p.data * 0) for n, p in named}
