"""Linear classifiers: softmax and multiclass SVM losses (naive and vectorized) and an SGD-trained model.

Layout follows CS231n assignment 1: ``W`` is (D, C), ``X`` is (N, D) (append a column of ones for a bias),
``y`` is (N,) with integer labels in [0, C). Scores are ``S = X W``.

Convention (DESIGN.md): these classifiers use the assignment-1 L2 penalty ``reg * sum(W**2)`` -- no 0.5 --
so its gradient is ``2 * reg * W``. (The networks in ``fc_net`` use ``0.5 * reg * sum(W**2)``.)

``LinearClassifier`` also satisfies the model contract (``params`` dict and ``loss(X, y=None)``), so a Solver
can train it like any other model.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..backend import get_rng, normal, xp_of
from ..validation import check_array, check_labels, check_positive_int

__all__ = [
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "svm_loss_naive",
    "svm_loss_vectorized",
    "LinearClassifier",
    "Softmax",
    "LinearSVM",
]


def _check_loss_inputs(fn: str, W: Any, X: Any, y: Any, reg: float) -> None:
    """Shapes: W (D, C), X (N, D), y (N,) with labels in [0, C); reg >= 0."""
    check_array(fn, "W", W, ndim=2, shape_hint="(D, C)", float_only=True)
    check_array(fn, "X", X, ndim=2, shape_hint="(N, D)")
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"{fn}: X has {X.shape[1]} features but W expects {W.shape[0]} (W is (D, C))")
    check_labels(fn, "y", y, X.shape[0], W.shape[1])
    if not reg >= 0:
        raise ValueError(f"{fn}: reg must be >= 0, got {reg}")


# ----------------------------------------------------------------------------------------------------------
# Softmax (cross-entropy) loss
# ----------------------------------------------------------------------------------------------------------

def softmax_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss and gradient with explicit loops (the readable reference).

    Inputs:
    - W: (D, C) weights.
    - X: (N, D) minibatch.
    - y: (N,) labels in [0, C).
    - reg: L2 strength.

    Returns ``(loss, dW)`` with dW (D, C):
    ``loss = 1/N sum_i -log softmax(x_i W)[y_i] + reg * sum(W**2)``,
    ``dW = 1/N sum_i x_i^T (p_i - onehot(y_i)) + 2 reg W``.
    """
    _check_loss_inputs("softmax_loss_naive", W, X, y, reg)
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)  # shift for numerical stability; softmax is unchanged
        exp_scores = np.exp(scores)
        total = np.sum(exp_scores)
        loss += np.log(total) - scores[y[i]]
        for j in range(num_classes):
            p_j = exp_scores[j] / total
            dW[:, j] += (p_j - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray,
                            reg: float) -> tuple[float, np.ndarray]:
    """Softmax loss and gradient without loops; same inputs, outputs and math as :func:`softmax_loss_naive`.

    Uses log-softmax (``log p = s - max(s) - log sum exp(s - max(s))``), so it never takes ``log(0)``.
    """
    _check_loss_inputs("softmax_loss_vectorized", W, X, y, reg)
    xp = xp_of(W, X)
    n = X.shape[0]
    rows = xp.arange(n)
    scores = X @ W
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / n + reg * xp.sum(W * W)
    dscores = xp.exp(log_probs)
    dscores[rows, y] -= 1
    dW = X.T @ dscores / n + 2 * reg * W
    return float(loss), dW.astype(W.dtype, copy=False)


# ----------------------------------------------------------------------------------------------------------
# Multiclass SVM (hinge) loss
# ----------------------------------------------------------------------------------------------------------

def svm_loss_naive(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Multiclass SVM (Weston-Watkins) loss and gradient with explicit loops, margin delta = 1.

    Inputs as :func:`softmax_loss_naive`. Returns ``(loss, dW)``:
    ``loss = 1/N sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + reg * sum(W**2)``;
    each positive margin adds ``x_i`` to column j and subtracts it from column ``y_i`` of dW.
    """
    _check_loss_inputs("svm_loss_naive", W, X, y, reg)
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Multiclass SVM loss and gradient without loops; same inputs, outputs and math as :func:`svm_loss_naive`."""
    _check_loss_inputs("svm_loss_vectorized", W, X, y, reg)
    xp = xp_of(W, X)
    n = X.shape[0]
    rows = xp.arange(n)
    scores = X @ W
    margins = xp.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / n + reg * xp.sum(W * W)
    dscores = (margins > 0).astype(W.dtype)
    dscores[rows, y] = -dscores.sum(axis=1)
    dW = X.T @ dscores / n + 2 * reg * W
    return float(loss), dW.astype(W.dtype, copy=False)


# ----------------------------------------------------------------------------------------------------------
# Trainable linear classifier
# ----------------------------------------------------------------------------------------------------------

class LinearClassifier:
    """A linear classifier ``scores = X W`` trained by minibatch SGD (CS231n ``LinearClassifier``).

    Attributes:
    - W: (D, C) weights, or None until :meth:`train` (or the constructor, given both dims) creates them.
    - params: ``{"W": W}`` -- the model contract; ``W`` reads and writes this dict, so a Solver's updates
      to ``params["W"]`` are the model's weights.
    - reg: L2 strength used by :meth:`loss` when none is given (``reg * sum(W**2)``, no 0.5).

    Subclasses set ``loss_function`` (``softmax_loss_vectorized`` or ``svm_loss_vectorized``).
    """

    loss_function = staticmethod(softmax_loss_vectorized)

    def __init__(self, input_dim: int | None = None, num_classes: int | None = None, reg: float = 0.0,
                 weight_scale: float = 1e-3, seed: Any = None) -> None:
        for name, value in (("input_dim", input_dim), ("num_classes", num_classes)):
            if value is not None:
                check_positive_int(type(self).__name__, name, value)
        self.params: dict[str, np.ndarray] = {}
        self.reg = float(reg)
        if (input_dim is None) != (num_classes is None):
            raise ValueError(f"{type(self).__name__}: give both input_dim and num_classes, or neither")
        if input_dim is not None:
            self.W = self._init_weights(int(input_dim), int(num_classes), weight_scale, get_rng(seed))

    @property
    def W(self) -> np.ndarray | None:
        return self.params.get("W")

    @W.setter
    def W(self, value: np.ndarray | None) -> None:
        if value is None:
            self.params.pop("W", None)
        else:
            self.params["W"] = value

    @staticmethod
    def _init_weights(dim: int, num_classes: int, weight_scale: float, rng) -> np.ndarray:
        """``weight_scale * randn(dim, num_classes)`` drawn from ``rng`` (NumPy's global RNG for seed None)."""
        if dim < 1 or num_classes < 1:
            raise ValueError(f"LinearClassifier: need dim >= 1 and num_classes >= 1, got ({dim}, {num_classes})")
        return weight_scale * normal(rng, (dim, num_classes))

    def train(self, X: np.ndarray, y: np.ndarray, learning_rate: float = 1e-3, reg: float = 1e-5,
              num_iters: int = 100, batch_size: int = 200, verbose: bool = False,
              seed: Any = None) -> list[float]:
        """Minibatch SGD on the classifier's loss: ``W -= learning_rate * dW``.

        Inputs:
        - X: (N, D) training data; y: (N,) labels in [0, C), C = max(y) + 1 when W is created here.
        - learning_rate, reg: step size and L2 strength (``reg`` is stored as ``self.reg``).
        - num_iters: number of SGD steps; batch_size: samples per step, drawn with replacement.
        - verbose: print ``iteration %d / %d: loss %f`` every 100 steps.
        - seed: source of the initial weights (``0.001 * randn(D, C)``, only if W is None) and of the
          minibatches; None uses NumPy's global RNG as CS231n does.

        Returns the list of per-iteration losses (length ``num_iters``).
        """
        fn = f"{type(self).__name__}.train"
        check_array(fn, "X", X, ndim=2, shape_hint="(N, D)")
        check_array(fn, "y", y, ndim=1, shape_hint="(N,)")
        if X.shape[0] == 0:
            raise ValueError(f"{fn}: X must hold at least one sample, got shape {tuple(X.shape)}")
        if not learning_rate >= 0:
            raise ValueError(f"{fn}: learning_rate must be >= 0, got {learning_rate}")
        if not reg >= 0:
            raise ValueError(f"{fn}: reg must be >= 0, got {reg}")
        if int(num_iters) != num_iters or num_iters < 0:
            raise ValueError(f"{fn}: num_iters must be an integer >= 0, got {num_iters}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"{fn}: batch_size must be an integer >= 1, got {batch_size}")
        num_train, dim = X.shape
        rng = get_rng(seed)
        if self.W is None:
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"{fn}: y must hold integer class labels, got dtype {y.dtype}")
            dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
            self.W = self._init_weights(dim, int(y.max()) + 1, 1e-3, rng).astype(dtype, copy=False)
        self.reg = float(reg)
        self._check_inputs(fn, X, y)

        loss_history = []
        for it in range(int(num_iters)):
            idx = rng.choice(num_train, int(batch_size))
            loss, dW = self.loss_function(self.W, X[idx], y[idx], self.reg)
            self.W -= learning_rate * dW
            loss_history.append(loss)
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return loss_history

    def _check_inputs(self, fn: str, X: np.ndarray, y: np.ndarray | None = None) -> None:
        if self.W is None:
            raise ValueError(f"{fn}: the classifier has no weights yet; call train() (or load()) first")
        check_array(fn, "X", X, ndim=2, shape_hint="(N, D)")
        if X.shape[1] != self.W.shape[0]:
            raise ValueError(f"{fn}: X has {X.shape[1]} features but W expects {self.W.shape[0]}")
        if y is not None:
            check_labels(fn, "y", y, X.shape[0], self.W.shape[1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels (N,) = ``argmax(X W, axis=1)`` for X (N, D)."""
        self._check_inputs(f"{type(self).__name__}.predict", X)
        return (X @ self.W).argmax(axis=1)

    def loss(self, X: np.ndarray, y: np.ndarray | None = None,
             reg: float | None = None) -> np.ndarray | tuple[float, dict[str, np.ndarray]]:
        """Model contract: scores (N, C) when ``y`` is None, else ``(loss, {"W": dW})``.

        ``reg`` defaults to ``self.reg``; the penalty is ``reg * sum(W**2)``.
        """
        fn = f"{type(self).__name__}.loss"
        self._check_inputs(fn, X, y)
        if y is None:
            return X @ self.W
        loss, dW = self.loss_function(self.W, X, y, self.reg if reg is None else reg)
        return loss, {"W": dW}

    def save(self, path: str | os.PathLike, verbose: bool = True) -> str:
        """Write ``W`` and ``reg`` to an ``.npz`` file (no pickle); returns the path written."""
        if self.W is None:
            raise ValueError(f"{type(self).__name__}.save: nothing to save, the classifier has no weights yet")
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        np.savez(path, W=np.asarray(self.W), reg=np.asarray(self.reg))
        if verbose:
            print(f"{path} saved.")
        return path

    def load(self, path: str | os.PathLike) -> LinearClassifier:
        """Read weights written by :meth:`save` into this classifier; returns ``self``."""
        path = os.fspath(path)
        if not os.path.exists(path) and os.path.exists(path + ".npz"):
            path += ".npz"
        with np.load(path, allow_pickle=False) as data:
            if "W" not in data.files:
                raise ValueError(f"{type(self).__name__}.load: {path} holds no 'W' array")
            W = data["W"]
            check_array(f"{type(self).__name__}.load", "W", W, ndim=2, shape_hint="(D, C)", float_only=True)
            self.W = W
            if "reg" in data.files:
                self.reg = float(data["reg"])
        return self


class Softmax(LinearClassifier):
    """Linear classifier with the softmax (cross-entropy) loss."""

    loss_function = staticmethod(softmax_loss_vectorized)


class LinearSVM(LinearClassifier):
    """Linear classifier with the multiclass SVM (hinge) loss."""

    loss_function = staticmethod(svm_loss_vectorized)
