"""Tiny models and data for the Solver tests, written with NumPy here so they do not depend on nnlab.models.

- :class:`SoftmaxRegression`: scores = X W + b, softmax cross-entropy, exact gradients.
- :class:`NaNAfter`: a SoftmaxRegression whose k-th training loss (1-based) is NaN.
- :class:`ScriptedCounter`: one parameter ``w`` that SGD with learning rate 1 increments by 1 per iteration;
  validation accuracy is 1 only when ``w == peak``, so the best parameters are known in advance.
"""

from __future__ import annotations

import numpy as np


def make_blobs(n_train: int = 200, n_val: int = 60, dim: int = 5, num_classes: int = 3, spread: float = 0.5,
               seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Gaussian clusters around random centres: an easy, linearly separable classification problem."""
    rng = np.random.RandomState(seed)
    centres = 3.0 * rng.randn(num_classes, dim)

    def draw(n):
        y = rng.randint(num_classes, size=n)
        return (centres[y] + spread * rng.randn(n, dim)).astype(dtype), y

    X_train, y_train = draw(n_train)
    X_val, y_val = draw(n_val)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


class SoftmaxRegression:
    """Linear softmax classifier with the CS231n model contract.

    params: W (D, C), b (C,). loss(X) -> scores (N, C); loss(X, y) -> (loss, {"W": dW, "b": db}) with
    ``loss = mean_i -log softmax(s_i)[y_i] + 0.5 * reg * sum(W**2)``.
    """

    def __init__(self, dim: int, num_classes: int, weight_scale: float = 1e-2, reg: float = 0.0,
                 dtype=np.float64, seed: int = 0) -> None:
        rng = np.random.RandomState(seed)
        self.params = {"W": (weight_scale * rng.randn(dim, num_classes)).astype(dtype),
                       "b": np.zeros(num_classes, dtype=dtype)}
        self.reg = reg
        self.dtype = dtype
        self.train_calls = 0

    def loss(self, X, y=None):
        W, b = self.params["W"], self.params["b"]
        scores = X.astype(self.dtype, copy=False) @ W + b
        if y is None:
            return scores
        self.train_calls += 1
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        N = X.shape[0]
        loss = -log_probs[np.arange(N), y].mean() + 0.5 * self.reg * np.sum(W * W)
        dscores = np.exp(log_probs)
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W": X.T.astype(self.dtype, copy=False) @ dscores + self.reg * W, "b": dscores.sum(axis=0)}
        return loss, grads


class NaNAfter(SoftmaxRegression):
    """SoftmaxRegression whose ``nan_at``-th training call (1-based) returns a NaN loss (``bad='loss'``) or an
    inf gradient (``bad='grad'``)."""

    def __init__(self, *args, nan_at: int, bad: str = "loss", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.nan_at = nan_at
        self.bad = bad

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None or self.train_calls != self.nan_at:
            return out
        loss, grads = out
        if self.bad == "loss":
            return float("nan"), grads
        grads["W"] = grads["W"].copy()
        grads["W"][0, 0] = np.inf
        return loss, grads


class ScriptedCounter:
    """params {"w": (1,)}; the gradient is always -1, so SGD with learning_rate 1 adds 1 per iteration.

    Predictions: class 1 when ``w == peak`` else class 0; with all validation labels 1 the validation
    accuracy is 1.0 exactly at ``w == peak`` and 0 elsewhere.
    """

    def __init__(self, peak: float) -> None:
        self.params = {"w": np.zeros(1)}
        self.peak = peak

    def loss(self, X, y=None):
        hit = float(np.isclose(self.params["w"][0], self.peak))
        scores = np.zeros((X.shape[0], 2))
        scores[:, 1] = 2 * hit - 1
        if y is None:
            return scores
        return 1.0 / (1.0 + self.params["w"][0]), {"w": -np.ones(1)}


def counter_data(n_train: int = 4, n_val: int = 3) -> dict[str, np.ndarray]:
    """Data for :class:`ScriptedCounter`: all labels 1."""
    return {"X_train": np.zeros((n_train, 1)), "y_train": np.ones(n_train, dtype=np.int64),
            "X_val": np.zeros((n_val, 1)), "y_val": np.ones(n_val, dtype=np.int64)}


class BufferedCounter(ScriptedCounter):
    """A ScriptedCounter with a non-trained buffer, like batch-norm running statistics: each training call
    records the current ``w`` into ``stat``. Exposes the optional ``buffer_arrays()`` / ``load_buffer_arrays()``
    hook."""

    def __init__(self, peak: float) -> None:
        super().__init__(peak)
        self.stat = np.zeros(1)

    def loss(self, X, y=None):
        if y is not None:
            self.stat = self.params["w"].copy()
        return super().loss(X, y)

    def buffer_arrays(self) -> dict[str, np.ndarray]:
        return {"stat": self.stat}

    def load_buffer_arrays(self, buffers: dict[str, np.ndarray]) -> None:
        self.stat = np.array(buffers["stat"], copy=True)
