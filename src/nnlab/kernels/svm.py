"""A soft-margin kernel SVM solved from scratch by SMO, in the LIBSVM formulation (``sklearn.svm.SVC``).

The dual of the C-SVM with labels ``y_i`` in {-1, +1} and ``Q_ij = y_i y_j K(x_i, x_j)``::

    min_a  f(a) = 1/2 a^T Q a - 1^T a      s.t.  0 <= a_i <= C,  y^T a = 0

is solved by sequential minimal optimization: each step picks a pair (i, j) by LIBSVM's second-order
working-set selection (WSS2, Fan, Chen & Lin, JMLR 2005), solves the two-variable sub-problem in closed form
and updates the gradient ``G = Q a - 1`` with two kernel rows (vectorized). It stops when the maximal KKT
violation ``m(a) - M(a) < tol`` (LIBSVM's ``eps``). The decision function is
``f(x) = sum_i y_i a_i K(x_i, x) + b`` with ``b = -rho`` from LIBSVM's rule (mean of ``-y_i G_i`` over free
support vectors, else the midpoint of the feasible interval). Positive ``f`` predicts ``classes_[1]``, as in
``SVC``.

Multiclass data is handled one-vs-rest (one binary SVM per class, all sharing one kernel matrix; the class
with the largest decision value wins). Note ``SVC`` itself is one-vs-one, so multiclass predictions agree
with it only approximately. The dual is solved in float64, as LIBSVM does.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from nnlab.kernels.matrices import KERNELS, kernel_matrix
from nnlab.validation import check_array, check_finite

__all__ = ["KernelSVM", "smo_solve"]

TAU = 1e-12  # LIBSVM's floor for a non-positive curvature along the pair direction


class _FullKernel:
    """Kernel rows from a precomputed (N, N) float64 matrix."""

    def __init__(self, K: np.ndarray) -> None:
        self.K = K
        self.diag = np.ascontiguousarray(np.diagonal(K))

    def row(self, i: int) -> np.ndarray:
        return self.K[i]


class _CachedKernel:
    """Kernel rows computed on demand and kept in a least-recently-used cache of ``max_rows`` rows."""

    def __init__(self, X: np.ndarray, params: dict[str, Any], max_rows: int) -> None:
        self.X, self.params, self.max_rows = X, params, max(int(max_rows), 2)
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        block = 256                              # diagonal of K from (256, 256) blocks: no per-sample calls
        self.diag = np.concatenate([np.diagonal(_kernel(X[s:s + block], X[s:s + block], params))
                                    for s in range(0, X.shape[0], block)]).astype(np.float64)

    def row(self, i: int) -> np.ndarray:
        r = self.cache.get(i)
        if r is not None:
            self.cache.move_to_end(i)
            return r
        r = np.asarray(_kernel(self.X[i:i + 1], self.X, self.params)[0], dtype=np.float64)
        self.cache[i] = r
        if len(self.cache) > self.max_rows:
            self.cache.popitem(last=False)
        return r


def _kernel(X: np.ndarray, Y: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The kernel of ``params`` (``kernel`` name or callable plus its parameters) between rows of X and Y."""
    kernel = params["kernel"]
    if callable(kernel):
        return kernel_matrix(X, Y, kernel=kernel)
    if kernel == "linear":
        return kernel_matrix(X, Y, kernel="linear")
    if kernel == "rbf":
        return kernel_matrix(X, Y, kernel="rbf", gamma=params["gamma"])
    return kernel_matrix(X, Y, kernel="poly", degree=params["degree"], gamma=params["gamma"],
                         coef0=params["coef0"])


def _last_argmax(a: np.ndarray) -> int:
    """Index of the maximum, the last one among ties (LIBSVM's ``>=`` scan)."""
    return a.shape[0] - 1 - int(np.argmax(a[::-1]))


def smo_solve(rows: Any, y: np.ndarray, C: float, tol: float = 1e-3,
              max_iter: int = -1) -> tuple[np.ndarray, float, int]:
    """Solve the C-SVM dual by SMO with second-order working-set selection (LIBSVM's ``Solver``).

    Parameters
    ----------
    rows : kernel-row provider with ``diag`` (N,) and ``row(i) -> (N,)`` giving ``K[i, :]``.
    y : (N,) labels in {-1.0, +1.0}.
    C : upper bound of every ``a_i`` (> 0).
    tol : stopping tolerance on the maximal violating pair, ``m(a) - M(a) < tol``.
    max_iter : iteration limit; -1 means LIBSVM's ``max(10_000_000, 100 N)``.

    Returns
    -------
    alpha : (N,) dual variables in [0, C].
    rho : the offset; decision values are ``sum_i y_i alpha_i K(x_i, x) - rho``.
    n_iter : number of SMO steps taken.

    Notes
    -----
    The solver keeps ``v = -y * G`` (G the dual gradient). With ``I_up = {y=+1, a<C} u {y=-1, a>0}`` and
    ``I_low = {y=+1, a>0} u {y=-1, a<C}``: ``i = argmax_{I_up} v``, ``m = v_i``, ``M = min_{I_low} v`` and
    ``j = argmax_{t in I_low, v_t < m} (m - v_t)^2 / (K_ii + K_tt - 2 K_it)``.
    """
    if not hasattr(rows, "diag") or not hasattr(rows, "row"):
        raise TypeError(f"smo_solve: rows must provide diag (N,) and row(i) -> (N,), got {type(rows).__name__}")
    n = y.shape[0]
    C = float(C)
    limit = max(10_000_000, 100 * n) if max_iter is None or max_iter < 0 else int(max_iter)
    diag = np.asarray(rows.diag, dtype=np.float64)
    alpha = np.zeros(n)
    v = y.astype(np.float64).copy()          # v = -y * G with G = -1 at alpha = 0
    pos = y > 0
    up = pos.copy()                          # I_up at alpha = 0
    low = ~pos                               # I_low at alpha = 0
    v_up = np.empty(n)
    v_low = np.empty(n)
    n_iter = 0
    while n_iter < limit:
        np.copyto(v_up, v)
        v_up[~up] = -np.inf
        i = _last_argmax(v_up)
        g_max = v_up[i]
        np.copyto(v_low, v)
        v_low[~low] = np.inf
        g_min = v_low.min()
        if not np.isfinite(g_max) or not np.isfinite(g_min) or g_max - g_min < tol:
            break
        Ki = rows.row(i)
        gain = g_max - v_low                 # > 0 exactly on the candidates t in I_low with v_t < m
        np.maximum(gain, 0.0, out=gain)
        curv = diag + diag[i]
        curv -= 2.0 * Ki
        curv[curv <= 0] = TAU
        gain *= gain
        gain /= curv
        j = _last_argmax(gain)
        Kj = rows.row(j)
        d_i, d_j = _update_pair(alpha, y, v, i, j, Ki[i], Ki[j], Kj[j], C)
        v -= (y[i] * d_i) * Ki
        v -= (y[j] * d_j) * Kj
        for t in (i, j):
            up[t] = alpha[t] < C if pos[t] else alpha[t] > 0
            low[t] = alpha[t] > 0 if pos[t] else alpha[t] < C
        n_iter += 1
    else:
        warnings.warn(f"smo_solve: reached max_iter={limit} before the KKT gap fell below tol={tol}",
                      RuntimeWarning, stacklevel=2)
    return alpha, _rho(alpha, y, v, C), n_iter


def _update_pair(alpha: np.ndarray, y: np.ndarray, v: np.ndarray, i: int, j: int,
                 K_ii: float, K_ij: float, K_jj: float, C: float) -> tuple[float, float]:
    """Solve the two-variable sub-problem in (i, j) in place (LIBSVM's clipped update); return the changes."""
    a_i, a_j = alpha[i], alpha[j]
    G_i, G_j = -y[i] * v[i], -y[j] * v[j]
    curv = K_ii + K_jj - 2.0 * K_ij
    if curv <= 0:
        curv = TAU
    if y[i] != y[j]:
        delta = (-G_i - G_j) / curv
        diff = a_i - a_j
        new_i, new_j = a_i + delta, a_j + delta
        if diff > 0:
            if new_j < 0:
                new_j, new_i = 0.0, diff
        elif new_i < 0:
            new_i, new_j = 0.0, -diff
        if diff > 0:
            if new_i > C:
                new_i, new_j = C, C - diff
        elif new_j > C:
            new_j, new_i = C, C + diff
    else:
        delta = (G_i - G_j) / curv
        total = a_i + a_j
        new_i, new_j = a_i - delta, a_j + delta
        if total > C:
            if new_i > C:
                new_i, new_j = C, total - C
        elif new_j < 0:
            new_j, new_i = 0.0, total
        if total > C:
            if new_j > C:
                new_j, new_i = C, total - C
        elif new_i < 0:
            new_i, new_j = 0.0, total
    alpha[i], alpha[j] = new_i, new_j
    return new_i - a_i, new_j - a_j


def _rho(alpha: np.ndarray, y: np.ndarray, v: np.ndarray, C: float) -> float:
    """LIBSVM's offset: mean of ``y_i G_i`` over free variables, else the middle of its feasible interval."""
    yG = -v                                  # y * G = y * (-y v) = -v
    at_upper = alpha >= C
    at_lower = alpha <= 0
    free = ~(at_upper | at_lower)
    if free.any():
        return float(yG[free].mean())
    pos = y > 0
    ub_set = (at_upper & ~pos) | (at_lower & pos)
    lb_set = (at_upper & pos) | (at_lower & ~pos)
    ub = yG[ub_set].min() if ub_set.any() else np.inf
    lb = yG[lb_set].max() if lb_set.any() else -np.inf
    return float((ub + lb) / 2)


class KernelSVM:
    """Soft-margin kernel SVM (C-SVC) trained by SMO; binary, or one-vs-rest for more than two classes.

    Parameters follow LIBSVM's and ``sklearn.svm.SVC``'s conventions.

    Parameters
    ----------
    C : float
        Penalty on the slack, > 0.
    kernel : str or callable
        "rbf", "poly", "linear", "precomputed" (``fit`` takes the (N, N) Gram matrix and the prediction
        methods take (M, N) kernels against the training points), or a callable ``k(X, Y) -> (len X, len Y)``.
    degree : int
        Power of the polynomial kernel ``(gamma x.z + coef0) ** degree``.
    gamma : str or float
        "scale" (``1 / (D * X.var())``), "auto" (``1 / D``) or a float > 0; used by "rbf" and "poly".
    coef0 : float
        Constant of the polynomial kernel.
    tol : float
        Stopping tolerance on the KKT violation (LIBSVM's ``eps``; SVC's ``tol``).
    max_iter : int
        SMO step limit per binary problem; -1 means LIBSVM's default bound.
    multiclass : bool
        If False, ``fit`` requires exactly two classes.
    cache_size : float
        MB for kernel values; up to this size the whole (N, N) kernel is computed once, beyond it kernel rows
        are computed on demand and kept in an LRU cache.

    Attributes
    ----------
    classes_ : ndarray
        (K,) sorted class labels (set by ``fit``, like every attribute below).
    support_ : ndarray
        (S,) indices of the support vectors, grouped by class then ascending (as in SVC).
    support_vectors_ : ndarray
        (S, D) the support vectors (empty (0, 0) for "precomputed").
    n_support_ : ndarray
        (K,) support vectors per class.
    dual_coef_ : ndarray
        (1, S) ``y_i alpha_i`` for binary; (K, S) one row per one-vs-rest problem otherwise.
    intercept_ : ndarray
        (1,) ``b = -rho`` for binary; (K,) otherwise.
    n_iter_ : ndarray
        (1,) or (K,) SMO steps per problem.

    Examples
    --------
    >>> import numpy as np
    >>> from nnlab.kernels import KernelSVM
    >>> X = np.array([[0.0, 0.0], [0.1, 0.2], [1.0, 1.0], [0.9, 1.1]])
    >>> y = np.array([0, 0, 1, 1])
    >>> KernelSVM(C=1.0, kernel="rbf", gamma=1.0).fit(X, y).predict(X).tolist()
    [0, 0, 1, 1]
    """

    def __init__(self, C: float = 1.0, kernel: str | Callable[..., np.ndarray] = "rbf", degree: int = 3,
                 gamma: float | str = "scale", coef0: float = 0.0, tol: float = 1e-3, max_iter: int = -1,
                 multiclass: bool = True, cache_size: float = 200.0) -> None:
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.coef0 = coef0
        self.tol = tol
        self.max_iter = max_iter
        self.multiclass = multiclass
        self.cache_size = cache_size
        self._check_params()  # at construction, and again by fit (parameters may be set in between)

    # ----------------------------------------------------------------------------------------- checks
    def _check_params(self) -> None:
        fn = "KernelSVM"
        if isinstance(self.C, bool) or not isinstance(self.C, (int, float, np.number)) or not self.C > 0:
            raise ValueError(f"{fn}: C must be a number > 0, got {self.C!r}")
        if not callable(self.kernel) and self.kernel not in ("precomputed", *KERNELS):
            raise ValueError(f"{fn}: unknown kernel {self.kernel!r}; expected 'rbf', 'poly', 'linear', "
                             "'precomputed' or a callable")
        if isinstance(self.gamma, str):
            if self.gamma not in ("scale", "auto"):
                raise ValueError(f"{fn}: gamma must be 'scale', 'auto' or a float > 0, got {self.gamma!r}")
        elif not (isinstance(self.gamma, (int, float, np.number)) and np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"{fn}: gamma must be 'scale', 'auto' or a float > 0, got {self.gamma!r}")
        if int(self.degree) != self.degree or self.degree < 0:
            raise ValueError(f"{fn}: degree must be a non-negative integer, got {self.degree!r}")
        if not self.tol > 0:
            raise ValueError(f"{fn}: tol must be > 0, got {self.tol!r}")

    def _check_kernel_input(self, fn: str, X: Any) -> np.ndarray:
        X = np.asarray(X) if not hasattr(X, "shape") else X
        check_array(fn, "X", X, ndim=2, shape_hint="(N, D)" if self.kernel != "precomputed" else "(N, N) kernel")
        if not np.issubdtype(X.dtype, np.number):
            raise TypeError(f"{fn}: X must be numeric, got dtype {X.dtype}")
        check_finite(fn, "X", X)
        return X

    def _check_precomputed(self, K: np.ndarray) -> None:
        n, m = K.shape
        if n != m:
            raise ValueError(f"KernelSVM.fit: a precomputed kernel X must be square (N, N), got shape {(n, m)}")
        scale = max(float(np.abs(K).max()), 1.0) if K.size else 1.0
        asym = float(np.abs(K - K.T).max()) if K.size else 0.0
        if asym > 1e-8 * scale:
            raise ValueError(f"KernelSVM.fit: a precomputed kernel X must be symmetric, "
                             f"max |K - K^T| = {asym:.3g}")

    def _check_labels(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"KernelSVM.fit: y must have shape ({n},) to match X, got {y.shape}")
        classes = np.unique(y)
        if classes.shape[0] < 2:
            raise ValueError(f"KernelSVM.fit: y must contain at least two classes, got {classes.tolist()}")
        if not self.multiclass and classes.shape[0] != 2:
            raise ValueError(f"KernelSVM.fit: y must contain exactly two classes in binary mode "
                             f"(multiclass=False), got {classes.shape[0]}: {classes.tolist()[:10]}")
        return y

    # ------------------------------------------------------------------------------------------- fit
    def _resolved_gamma(self, X: np.ndarray) -> float:
        if self.gamma == "scale":
            var = float(X.var())
            return 1.0 / (X.shape[1] * var) if var != 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / X.shape[1]
        return float(self.gamma)

    def _kernel_params(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "gamma": self._gamma, "degree": int(self.degree), "coef0": float(self.coef0)}

    def _rows(self, X: np.ndarray) -> Any:
        if self.kernel == "precomputed":
            return _FullKernel(np.asarray(X, dtype=np.float64))
        n = X.shape[0]
        if n * n * 8 <= self.cache_size * 2**20:
            K = np.asarray(_kernel(X, X, self._kernel_params()), dtype=np.float64)
            return _FullKernel(K)
        return _CachedKernel(X, self._kernel_params(), self.cache_size * 2**20 // (8 * n))

    def fit(self, X: np.ndarray, y: np.ndarray) -> KernelSVM:
        """Train on ``X`` (N, D) (or the (N, N) Gram matrix for "precomputed") with labels ``y`` (N,)."""
        self._check_params()
        X = self._check_kernel_input("KernelSVM.fit", X)
        if self.kernel == "precomputed":
            self._check_precomputed(X)
        y = self._check_labels(y, X.shape[0])
        self.classes_ = np.unique(y)
        self._gamma = self._resolved_gamma(X) if self.kernel != "precomputed" else None
        self.shape_fit_ = X.shape
        rows = self._rows(X)
        problems = [self.classes_[1]] if self.classes_.shape[0] == 2 else list(self.classes_)
        alphas, rhos, iters = [], [], []
        for positive in problems:
            y_pm = np.where(y == positive, 1.0, -1.0)
            alpha, rho, n_iter = smo_solve(rows, y_pm, self.C, self.tol, self.max_iter)
            alphas.append(alpha * y_pm)
            rhos.append(rho)
            iters.append(n_iter)
        coef = np.stack(alphas)                                     # (P, N) signed y_i alpha_i
        is_sv = (coef != 0).any(axis=0)
        class_index = np.searchsorted(self.classes_, y)
        order = np.lexsort((np.arange(X.shape[0]), class_index))  # by class, then by index
        self.support_ = order[is_sv[order]].astype(np.int32)
        self.n_support_ = np.bincount(class_index[self.support_], minlength=self.classes_.shape[0]).astype(np.int32)
        self.dual_coef_ = coef[:, self.support_]
        self.intercept_ = -np.asarray(rhos)
        self.n_iter_ = np.asarray(iters)
        if self.kernel == "precomputed":
            self.support_vectors_ = np.empty((0, 0))
        else:
            self.support_vectors_ = X[self.support_]
        return self

    # --------------------------------------------------------------------------------------- predict
    def _check_fitted(self, fn: str) -> None:
        if not hasattr(self, "support_"):
            raise RuntimeError(f"KernelSVM.{fn}: call fit before {fn}")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Decision values: (M,) for binary (positive means ``classes_[1]``), (M, K) one-vs-rest otherwise.

        ``X`` is (M, D) data, or for "precomputed" the (M, N) kernel between the M points and the N training
        points. ``f(x) = sum_s dual_coef_[s] K(sv_s, x) + intercept_``.
        """
        self._check_fitted("decision_function")
        X = self._check_kernel_input("KernelSVM.decision_function", X)
        n_train, n_features = self.shape_fit_
        if self.kernel == "precomputed":
            if X.shape[1] != n_train:
                raise ValueError(f"KernelSVM.decision_function: a precomputed kernel X must have {n_train} "
                                 f"columns (one per training point), got shape {X.shape}")
            K = np.asarray(X[:, self.support_], dtype=np.float64)
        else:
            if X.shape[1] != n_features:
                raise ValueError(f"KernelSVM.decision_function: X has {X.shape[1]} features, "
                                 f"the model was fit on {n_features}")
            K = np.asarray(_kernel(X, self.support_vectors_, self._kernel_params()), dtype=np.float64)
        scores = K @ self.dual_coef_.T + self.intercept_
        return scores[:, 0] if self.classes_.shape[0] == 2 else scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (M,) from ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Mean accuracy of ``predict(X)`` against ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
