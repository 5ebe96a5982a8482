"""Fully-connected networks with the CS231n contract: ``TwoLayerNet`` and ``FullyConnectedNet``.

Both are compositions of the functional kernels in :mod:`nnlab.layers`; no layer math lives here. The loss is
softmax cross-entropy plus the assignment-2 L2 penalty ``0.5 * reg * sum(W**2)`` over the weight matrices
only (never biases, gamma or beta), whose gradient is ``reg * W``.

Randomness (DESIGN.md): weights are ``weight_scale * randn(in, out)`` drawn in layer order W1, W2, ... from
NumPy's GLOBAL RNG, so ``np.random.seed(231)`` reproduces the course notebooks' printed numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import layers
from ..backend import get_rng, normal
from ..validation import check_array, check_float_dtype, check_labels, check_positive_int, check_probability

__all__ = ["TwoLayerNet", "FullyConnectedNet", "ACTIVATIONS", "NORMALIZATIONS"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "softsign")
NORMALIZATIONS = (None, "batchnorm", "layernorm")


def _check_scores_input(fn: str, X: Any, input_dim: int) -> None:
    """X must be (N, d_1, ..., d_k) with d_1 * ... * d_k == input_dim."""
    check_array(fn, "X", X)
    if X.ndim < 2:
        raise ValueError(f"{fn}: X must be (N, D) or (N, d1, ..., dk), got shape {tuple(X.shape)}")
    features = int(np.prod(X.shape[1:]))
    if features != input_dim:
        raise ValueError(f"{fn}: X has {features} features per sample (shape {tuple(X.shape)}) "
                         f"but the model expects input_dim={input_dim}")


def _l2_penalty(params: dict[str, np.ndarray], weight_names: Sequence[str], reg: float) -> Any:
    """``0.5 * reg * sum_k sum(W_k**2)``, in the weights' dtype."""
    return sum(0.5 * reg * (params[name] * params[name]).sum() for name in weight_names)


def _run_backward(dout: np.ndarray, steps: list[tuple[Callable, Any, tuple[str, ...]]],
                  grads: dict[str, np.ndarray]) -> np.ndarray:
    """Undo the forward ``steps`` in reverse; each is ``(backward_fn, cache, names of its param grads)``.

    ``backward_fn(dout, cache)`` returns ``dx`` when ``names`` is empty, else ``(dx, *dparams)``.
    """
    for backward, cache, names in reversed(steps):
        result = backward(dout, cache)
        if names:
            dout, *dparams = result
            grads.update(zip(names, dparams))
        else:
            dout = result
    return dout


class TwoLayerNet:
    """affine - relu - affine - softmax, with L2 ``0.5 * reg * (sum(W1**2) + sum(W2**2))``.

    Inputs of the constructor:
    - input_dim, hidden_dim, num_classes: the sizes D, H and C.
    - weight_scale: std of the Gaussian weights (biases start at zero).
    - reg: L2 strength (a mutable attribute).
    - dtype: dtype of every parameter.

    ``params``: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    """

    def __init__(self, input_dim: int = 3 * 32 * 32, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float = 1e-3, reg: float = 0.0, dtype: Any = np.float64) -> None:
        fn = "TwoLayerNet"
        input_dim = check_positive_int(fn, "input_dim", input_dim)
        hidden_dim = check_positive_int(fn, "hidden_dim", hidden_dim)
        num_classes = check_positive_int(fn, "num_classes", num_classes)
        if not weight_scale > 0:
            raise ValueError(f"{fn}: weight_scale must be > 0, got {weight_scale}")
        if not reg >= 0:
            raise ValueError(f"{fn}: reg must be >= 0, got {reg}")
        self.dtype = check_float_dtype(fn, dtype)
        self.input_dim, self.num_classes = input_dim, num_classes
        self.reg = reg
        rng = get_rng(None)
        self.params: dict[str, np.ndarray] = {
            "W1": (weight_scale * normal(rng, (input_dim, hidden_dim))).astype(self.dtype),
            "b1": np.zeros(hidden_dim, dtype=self.dtype),
            "W2": (weight_scale * normal(rng, (hidden_dim, num_classes))).astype(self.dtype),
            "b2": np.zeros(num_classes, dtype=self.dtype),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[Any, dict[str, np.ndarray]]:
        """Scores (N, C) for X (N, d_1, ..., d_k) when ``y`` is None, else ``(loss, grads)`` keyed like params."""
        _check_scores_input("TwoLayerNet.loss", X, self.input_dim)
        if y is not None:
            check_labels("TwoLayerNet.loss", "y", y, X.shape[0], self.num_classes)
        X = X.astype(self.dtype, copy=False)
        p = self.params
        hidden, hidden_cache = layers.affine_relu_forward(X, p["W1"], p["b1"])
        scores, scores_cache = layers.affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores

        data_loss, dscores = layers.softmax_loss(scores, y)
        loss = data_loss + _l2_penalty(p, ("W1", "W2"), self.reg)
        grads: dict[str, np.ndarray] = {}
        dhidden, grads["W2"], grads["b2"] = layers.affine_backward(dscores, scores_cache)
        _, grads["W1"], grads["b1"] = layers.affine_relu_backward(dhidden, hidden_cache)
        grads["W1"] += self.reg * p["W1"]
        grads["W2"] += self.reg * p["W2"]
        return loss, grads


class FullyConnectedNet:
    """``{affine - [batchnorm|layernorm] - activation - [dropout]} x (L - 1) - affine - softmax``.

    Inputs of the constructor:
    - hidden_dims: sizes of the L - 1 hidden layers (positive ints).
    - input_dim, num_classes: the input size D and the number of classes C.
    - dropout: DROP probability in [0, 1) after every hidden activation (0 = no dropout; DESIGN.md).
    - dropout_keep_ratio: CS231n's KEEP probability, accepted as ``dropout = 1 - keep``; giving both with
      different meanings is an error.
    - normalization: None, 'batchnorm' or 'layernorm' (before each hidden activation; never on the output).
    - activation: 'relu', 'leaky_relu' (slope 0.01), 'tanh', 'sigmoid' or 'softsign'.
    - reg: L2 strength, penalty ``0.5 * reg * sum(W**2)`` over the weights.
    - weight_scale: std of the Gaussian weights, drawn from NumPy's global RNG in layer order.
    - dtype: dtype of every parameter; inputs are cast to it in :meth:`loss`.
    - seed: fixes the dropout masks (``dropout_param['seed']``), as in CS231n; the global RNG is untouched.

    ``params``: ``W{i}`` (in, out), ``b{i}`` (out,) for i = 1..L, and ``gamma{i}``, ``beta{i}`` (out,) for
    the hidden layers when normalized. ``bn_params[i]`` holds the mode and, for batchnorm, the running stats,
    which :meth:`buffer_arrays` / :meth:`load_buffer_arrays` expose (``running_mean{i}``, ``running_var{i}``) so
    the Solver keeps them with the best parameters and in checkpoints.
    """

    def __init__(self, hidden_dims: Sequence[int], input_dim: int = 3 * 32 * 32, num_classes: int = 10,
                 dropout: float = 0.0, normalization: str | None = None, activation: str = "relu",
                 reg: float = 0.0, weight_scale: float = 1e-2, dtype: Any = np.float32, seed: int | None = None,
                 dropout_keep_ratio: float | None = None) -> None:
        fn = "FullyConnectedNet"
        if isinstance(hidden_dims, (int, np.integer, str, bytes)) or not hasattr(hidden_dims, "__iter__"):
            raise TypeError(f"{fn}: hidden_dims must be a list of positive ints, got {hidden_dims!r}")
        hidden_dims = [check_positive_int(fn, f"hidden_dims[{i}]", h) for i, h in enumerate(hidden_dims)]
        input_dim = check_positive_int(fn, "input_dim", input_dim)
        num_classes = check_positive_int(fn, "num_classes", num_classes)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"{fn}: normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"{fn}: activation must be one of {ACTIVATIONS}, got {activation!r}")
        if not weight_scale > 0:
            raise ValueError(f"{fn}: weight_scale must be > 0, got {weight_scale}")
        if not reg >= 0:
            raise ValueError(f"{fn}: reg must be >= 0, got {reg}")
        drop = self._resolve_dropout(fn, dropout, dropout_keep_ratio)

        self.dtype = check_float_dtype(fn, dtype)
        self.input_dim, self.num_classes = input_dim, num_classes
        self.normalization = normalization
        self.activation = activation
        self.reg = reg
        self.num_layers = len(hidden_dims) + 1
        self.use_dropout = drop > 0
        self.params: dict[str, np.ndarray] = {}
        self._init_params([input_dim, *hidden_dims, num_classes], weight_scale)

        self.dropout_param: dict[str, Any] = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": drop}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params: list[dict[str, Any]] = []
        if normalization == "batchnorm":  # running statistics start at zero (DESIGN.md), present from the start
            self.bn_params = [{"mode": "train", "running_mean": np.zeros(h, dtype=self.dtype),
                               "running_var": np.zeros(h, dtype=self.dtype)} for h in hidden_dims]
        elif normalization == "layernorm":
            self.bn_params = [{} for _ in hidden_dims]

    @staticmethod
    def _resolve_dropout(fn: str, dropout: float, keep_ratio: float | None) -> float:
        """The drop probability from ``dropout`` and/or CS231n's ``dropout_keep_ratio``."""
        check_probability(fn, "dropout", dropout)
        if keep_ratio is None:
            return float(dropout)
        check_probability(fn, "dropout_keep_ratio", keep_ratio, low_inclusive=False, high_inclusive=True)
        drop = 1.0 - float(keep_ratio)
        if dropout and abs(float(dropout) - drop) > 1e-12:
            raise ValueError(f"{fn}: dropout={dropout} (drop probability) contradicts dropout_keep_ratio="
                             f"{keep_ratio} (keep probability); give only one of them")
        return drop

    def _init_params(self, dims: list[int], weight_scale: float) -> None:
        """W{i} ~ weight_scale * randn (global RNG, layer order), b{i} = 0; gamma{i} = 1, beta{i} = 0 if normalized."""
        rng = get_rng(None)
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = dims[i - 1], dims[i]
            self.params[f"W{i}"] = (weight_scale * normal(rng, (fan_in, fan_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=self.dtype)
            if self.normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=self.dtype)

    def _hidden_forward(self, x: np.ndarray, i: int, steps: list) -> np.ndarray:
        """Layer i (1-based) of the hidden stack; appends its backward steps to ``steps``."""
        p = self.params
        w, b = p[f"W{i}"], p[f"b{i}"]
        norm = self.normalization
        if self.activation == "relu" and norm is not None:
            gamma, beta = p[f"gamma{i}"], p[f"beta{i}"]
            out, cache = layers.affine_norm_relu_forward(x, w, b, gamma, beta, self.bn_params[i - 1], norm)
            steps.append((layers.affine_norm_relu_backward, cache, (f"W{i}", f"b{i}", f"gamma{i}", f"beta{i}")))
        elif self.activation == "relu":
            out, cache = layers.affine_relu_forward(x, w, b)
            steps.append((layers.affine_relu_backward, cache, (f"W{i}", f"b{i}")))
        else:
            out, cache = layers.affine_forward(x, w, b)
            steps.append((layers.affine_backward, cache, (f"W{i}", f"b{i}")))
            if norm is not None:
                norm_forward = getattr(layers, f"{norm}_forward")
                out, cache = norm_forward(out, p[f"gamma{i}"], p[f"beta{i}"], self.bn_params[i - 1])
                steps.append((getattr(layers, f"{norm}_backward"), cache, (f"gamma{i}", f"beta{i}")))
            out, cache = getattr(layers, f"{self.activation}_forward")(out)
            steps.append((getattr(layers, f"{self.activation}_backward"), cache, ()))
        if self.use_dropout:
            out, cache = layers.dropout_forward(out, self.dropout_param)
            steps.append((layers.dropout_backward, cache, ()))
        return out

    _BUFFER_KEYS = ("running_mean", "running_var")

    def buffer_arrays(self) -> dict[str, np.ndarray]:
        """Batch-norm running statistics as ``{"running_mean1": (H1,), "running_var1": (H1,), ...}`` (the arrays
        themselves, not copies; zeros before the first training forward pass); empty without batchnorm."""
        out = {}
        for i, bn_param in enumerate(self.bn_params, start=1):
            for key in self._BUFFER_KEYS:
                if key in bn_param:
                    out[f"{key}{i}"] = bn_param[key]
        return out

    def load_buffer_arrays(self, buffers: dict[str, np.ndarray]) -> None:
        """Write running statistics (as returned by :meth:`buffer_arrays`) back into ``bn_params``."""
        for name, value in buffers.items():
            stem = name.rstrip("0123456789")
            layer = name[len(stem):]
            if stem not in self._BUFFER_KEYS or not layer or not 1 <= int(layer) <= len(self.bn_params):
                raise ValueError(f"FullyConnectedNet.load_buffer_arrays: unknown buffer {name!r}; expected names like "
                                 f"'running_mean1' .. 'running_var{len(self.bn_params)}'")
            self.bn_params[int(layer) - 1][stem] = np.asarray(value, dtype=self.dtype).copy()

    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[Any, dict[str, np.ndarray]]:
        """Scores (N, C) for X (N, d_1, ..., d_k) when ``y`` is None (test mode: dropout off, batchnorm uses
        running stats), else ``(loss, grads)`` in train mode, with ``grads`` keyed like ``params``."""
        fn = "FullyConnectedNet.loss"
        _check_scores_input(fn, X, self.input_dim)
        if y is not None:
            check_labels(fn, "y", y, X.shape[0], self.num_classes)
        X = X.astype(self.dtype, copy=False)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode

        steps: list[tuple[Callable, Any, tuple[str, ...]]] = []
        out = X
        for i in range(1, self.num_layers):
            out = self._hidden_forward(out, i, steps)
        last = self.num_layers
        scores, cache = layers.affine_forward(out, self.params[f"W{last}"], self.params[f"b{last}"])
        steps.append((layers.affine_backward, cache, (f"W{last}", f"b{last}")))
        if y is None:
            return scores

        weight_names = [f"W{i}" for i in range(1, self.num_layers + 1)]
        data_loss, dscores = layers.softmax_loss(scores, y)
        loss = data_loss + _l2_penalty(self.params, weight_names, self.reg)
        grads: dict[str, np.ndarray] = {}
        _run_backward(dscores, steps, grads)
        for name in weight_names:
            grads[name] += self.reg * self.params[name]
        return loss, grads
