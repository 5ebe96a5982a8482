"""``Classifier``: gives any :class:`nnlab.nn.Module` the CS231n model contract, so the Solver trains it.

- ``model.params`` is a live, mutable mapping of the module's named parameters (``"0.weight"``, ...):
  ``model.params[k] = w`` writes into the module, and ``model.params = {...}`` (the Solver restoring its best
  parameters) writes every given entry.
- ``model.loss(X)`` puts the module in eval mode and returns the scores (N, C); ``model.loss(X, y)`` puts it in
  train mode, runs forward, the loss (``softmax_loss`` or ``svm_loss``) plus ``0.5 * reg * sum(W**2)`` over the
  weights of ``Linear`` and ``Conv2d`` layers (never biases or normalization parameters; DESIGN.md L2 for nets),
  then backward, and returns ``(loss, grads)`` with ``grads`` keyed like ``params``.
- options: ``label_smoothing`` (softmax cross-entropy against smoothed targets) and ``tta='flip'`` (test-time
  augmentation: eval-mode scores are the mean ``(f(X) + f(X[..., ::-1])) / 2`` of X (N, C, H, W) and its
  horizontal mirror, so accuracy checks, ``evaluate``, ``predict`` and the ONNX export all use the same scores).
- ``model.buffer_arrays()`` / ``model.load_buffer_arrays(d)`` expose the module's buffers (batch-norm running
  statistics), so the Solver restores them together with its best parameters and checkpoints them (named so as
  not to clash with :meth:`nnlab.nn.Module.buffers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import layers as F
from ..autograd import no_grad
from ..backend import xp_of
from ..nn import Conv2d, Linear, Module, ParameterView, Sequential

__all__ = ["Classifier", "ParameterView", "TTA_MODES"]  # ParameterView lives in nnlab.nn; re-exported here

_LOSSES = {"softmax": "softmax_loss", "svm": "svm_loss"}
#: test-time augmentations of :class:`Classifier` (``tta=``): ``'flip'``, the mean over x and its horizontal mirror
TTA_MODES = ("flip",)


def _first_layer(module: Module) -> Module:
    """The module that sees the input first: descends through leading ``Sequential`` containers only (a custom
    module's registration order need not be its call order)."""
    while isinstance(module, Sequential) and len(module):
        module = module[0]
    return module


class Classifier:
    """Wrap ``module`` (scores (N, C) from inputs X) with a classification loss and L2 on its weights.

    Inputs of the constructor:
    - module: any :class:`nnlab.nn.Module` mapping X to class scores (N, C).
    - loss: ``'softmax'`` (cross-entropy) or ``'svm'`` (multiclass hinge).
    - reg: L2 strength (mutable attribute): ``loss += 0.5 * reg * sum(W**2)`` over every ``*.weight`` of a
      ``Linear``/``Conv2d`` layer; its gradient ``reg * W`` is added to those weights' gradients.
    - input_grad: training never needs the gradient of the loss with respect to X, so by default (False) a
      ``Conv2d`` that is the first layer of a ``Sequential`` skips it (``Conv2d.input_grad = False``).
    - label_smoothing: in [0, 1], softmax only: the targets are ``(1 - eps) * onehot + eps / C``.
    - tta: None, or ``'flip'``: eval-mode scores (N, C) are ``(f(X) + f(X[..., ::-1])) / 2`` for images X
      (N, C, H, W), the mean over X and its horizontal mirror (training is unchanged).
    """

    def __init__(self, module: Module, loss: str = "softmax", reg: float = 0.0, input_grad: bool = False,
                 label_smoothing: float = 0.0, tta: str | None = None) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Classifier: module must be an nnlab.nn.Module, got {type(module).__name__}")
        if loss not in _LOSSES:
            raise ValueError(f"Classifier: loss must be one of {sorted(_LOSSES)}, got {loss!r}")
        if not float(reg) >= 0:
            raise ValueError(f"Classifier: reg must be >= 0, got {reg!r}")
        if not 0.0 <= float(label_smoothing) <= 1.0 or (label_smoothing and loss != "softmax"):
            raise ValueError(f"Classifier: label_smoothing must be in [0, 1] (softmax loss only), got "
                             f"{label_smoothing!r} with loss {loss!r}")
        if tta is not None and tta not in TTA_MODES:
            raise ValueError(f"Classifier: tta must be None or one of {', '.join(map(repr, TTA_MODES))}, got {tta!r}")
        self.module = module
        self.loss_name = loss
        self.reg = float(reg)
        self.label_smoothing = float(label_smoothing)
        self.tta = tta
        self._params = ParameterView(module, "Classifier.params")
        first = _first_layer(module)
        if isinstance(first, Conv2d):
            first.input_grad = bool(input_grad)

    @property
    def params(self) -> ParameterView:
        """Live mapping name -> parameter array (writes go into the module)."""
        return self._params

    @params.setter
    def params(self, values: Mapping[str, Any]) -> None:
        unknown = [k for k in values if k not in self._params]
        if unknown:
            raise KeyError(f"Classifier.params: unknown parameter names {unknown}; known: {list(self._params)}")
        for k, v in values.items():
            self._params[k] = v

    def regularized_names(self) -> list[str]:
        """Names of the parameters under L2: the ``weight`` of every ``Linear`` and ``Conv2d`` layer."""
        names = []
        for prefix, module in self.module.named_modules():
            if isinstance(module, (Linear, Conv2d)):
                names.append(f"{prefix}.weight" if prefix else "weight")
        return names

    def eval_scores(self, X: Any) -> Any:
        """Scores (N, C) of ``X`` in eval mode (the module is already in eval mode); with ``tta='flip'`` the mean
        of the scores of X and of its horizontal mirror."""
        scores = self.module(X)
        if self.tta == "flip":
            mirrored = self.module(np.ascontiguousarray(X[..., ::-1]))
            scores = (scores + mirrored) * scores.dtype.type(0.5)
        return scores

    def data_loss(self, scores: Any, y: Any) -> tuple[Any, Any]:
        """``(loss, dscores)`` of the data term (with ``label_smoothing`` for the softmax loss)."""
        if self.label_smoothing:
            return F.softmax_loss(scores, y, label_smoothing=self.label_smoothing)
        return getattr(F, _LOSSES[self.loss_name])(scores, y)

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, C) when ``y`` is None (eval mode, :meth:`eval_scores`), else ``(loss, grads)`` (train mode:
        :meth:`data_loss` + ``0.5 * reg * sum W^2`` over :meth:`regularized_names`, backward run)."""
        if y is None:
            self.module.eval()
            with no_grad():  # a forward-only module records no graph for scores
                return self.eval_scores(X)
        self.module.train()
        scores = self.module(X)
        loss, dscores = self.data_loss(scores, y)
        self.module.backward(dscores)
        grads = self.module.grads
        if self.reg:
            for name in self.regularized_names():
                w = self._params[name]
                loss = loss + 0.5 * self.reg * (w * w).sum()
                grads[name] = grads[name] + self.reg * w
        return loss, grads

    def predict(self, X: Any, batch_size: int = 1000) -> Any:
        """Predicted labels (N,) = argmax of the eval-mode scores, computed ``batch_size`` rows at a time."""
        if int(batch_size) < 1:
            raise ValueError(f"Classifier.predict: batch_size must be >= 1, got {batch_size!r}")
        xp = xp_of(X)
        preds = [xp.argmax(self.loss(X[i:i + batch_size]), axis=1) for i in range(0, X.shape[0], int(batch_size))]
        return xp.concatenate(preds) if preds else xp.zeros(0, dtype=np.int64)

    def buffer_arrays(self) -> dict[str, Any]:
        """The module's buffers (e.g. batch-norm running statistics) by dotted name; the Solver saves them with
        its best parameters and in checkpoints."""
        return dict(self.module.named_buffers())

    def load_buffer_arrays(self, buffers: Mapping[str, Any]) -> None:
        """Write buffers (as returned by :meth:`buffer_arrays`) back into the module; unknown names or shapes
        raise."""
        own = self.buffer_arrays()
        unknown = [k for k in buffers if k not in own]
        if unknown:
            raise KeyError(f"Classifier.load_buffer_arrays: unknown buffer names {unknown}; known: {list(own)}")
        for k, v in buffers.items():
            if tuple(v.shape) != tuple(own[k].shape):
                raise ValueError(f"Classifier.load_buffer_arrays: {k} must have shape {tuple(own[k].shape)}, "
                                 f"got {tuple(v.shape)}")
            owner, leaf = self.module._owner_of(k)
            setattr(owner, leaf, v)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped module's state dict (parameters and buffers)."""
        return self.module.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Load the wrapped module's parameters and buffers."""
        return self.module.load_state_dict(state_dict, strict=strict)

    def __repr__(self) -> str:
        options = (f", label_smoothing={self.label_smoothing:g}" if self.label_smoothing else "") + (
            f", tta={self.tta!r}" if self.tta else "")
        return f"Classifier(loss={self.loss_name!r}, reg={self.reg:g}{options}, module={self.module!r})"
