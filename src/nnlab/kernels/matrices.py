"""Kernel functions and kernel matrices.

A kernel ``k(x, z) = phi(x) . phi(z)`` is an inner product in some feature space. These functions build the
Gram matrix ``K[i, j] = k(X[i], Y[j])`` of shape (N, M) from rows ``X`` (N, D) and ``Y`` (M, D); with
``Y=None`` they use ``Y = X`` and the (N, N) result is symmetric and positive semi-definite.

Parameters follow scikit-learn's ``sklearn.metrics.pairwise`` (and so LIBSVM's) conventions, so every result
can be passed to ``sklearn.svm.SVC(kernel="precomputed")`` or compared with ``pairwise_kernels``:

- linear:      ``K = X Y^T``
- polynomial:  ``K = (gamma X Y^T + coef0) ** degree``, ``gamma=None`` means ``1 / D``
- rbf:         ``K = exp(-gamma ||x - z||^2)``, ``gamma=None`` means ``1 / D``

``kernel_construction`` is the element-by-element construction from a feature map (spec seed 003 §6.3,
readable loops); the other functions are the vectorized forms (one GEMM each). Results keep the input dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnlab.backend import xp_of
from nnlab.validation import check_array, check_finite

__all__ = [
    "KERNELS",
    "kernel_construction",
    "kernel_matrix",
    "linear_kernel",
    "polynomial_kernel",
    "rbf_kernel",
    "squared_distances",
]


def _check_pair(fn: str, X: Any, Y: Any | None) -> tuple[Any, Any]:
    """Validate ``X`` (N, D) and ``Y`` (M, D) (``Y=None`` means ``X``); return them as float arrays."""
    check_array(fn, "X", X, ndim=2, shape_hint="(N, D)", numeric=True)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    if Y is None:
        return X, X
    check_array(fn, "Y", Y, ndim=2, shape_hint="(M, D)", numeric=True)
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"{fn}: X has {X.shape[1]} features but Y has {Y.shape[1]}; they must match")
    if not np.issubdtype(Y.dtype, np.floating):
        Y = Y.astype(X.dtype)
    return X, Y


def _resolve_gamma(fn: str, gamma: float | None, n_features: int) -> float:
    """``gamma`` as a positive float; ``None`` means ``1 / n_features`` (scikit-learn's pairwise default)."""
    if gamma is None:
        return 1.0 / max(n_features, 1)
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: gamma must be a positive number or None, got {type(gamma).__name__}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{fn}: gamma must be > 0, got {gamma}")
    return value


def kernel_construction(X: np.ndarray, phi: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Kernel matrix from a feature map, built element by element: ``K[i, j] = phi(X[i]) . phi(X[j])``.

    The deliberately plain construction of spec seed 003 §6.3 (loops are the point: it shows what a kernel
    is). Use :func:`kernel_matrix` for anything large.

    Parameters
    ----------
    X : (N, D) data, one sample per row.
    phi : feature map taking one sample (D,) and returning its features (D',).

    Returns
    -------
    K : (N, N) float64 symmetric Gram matrix, usable with ``SVC(kernel="precomputed")``.
    """
    check_array("kernel_construction", "X", X, ndim=2, shape_hint="(N, D)", numeric=True)
    if not callable(phi):
        raise TypeError(f"kernel_construction: phi must be callable (D,) -> (D',), got {type(phi).__name__}")
    n = X.shape[0]
    features = [np.asarray(phi(X[i]), dtype=np.float64).ravel() for i in range(n)]
    K = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            K[i, j] = K[j, i] = float(np.dot(features[i], features[j]))
    return K


def linear_kernel(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Linear kernel ``K = X Y^T``.

    Parameters
    ----------
    X : ndarray
        (N, D) rows.
    Y : ndarray or None
        (M, D) rows; None means ``Y = X``.

    Returns
    -------
    K : (N, M) in the input dtype.
    """
    X, Y = _check_pair("linear_kernel", X, Y)
    return X @ Y.T


def polynomial_kernel(X: np.ndarray, Y: np.ndarray | None = None, degree: int = 3,
                      gamma: float | None = None, coef0: float = 1.0) -> np.ndarray:
    """Polynomial kernel ``K = (gamma X Y^T + coef0) ** degree`` (scikit-learn/LIBSVM convention).

    Parameters
    ----------
    X : ndarray
        (N, D) rows.
    Y : ndarray or None
        (M, D) rows; None means ``Y = X``.
    degree : non-negative integer power.
    gamma : positive scale of the inner product; None means ``1 / D``.
    coef0 : additive constant (>= 0 keeps the kernel positive semi-definite).

    Returns
    -------
    K : (N, M) in the input dtype.
    """
    X, Y = _check_pair("polynomial_kernel", X, Y)
    if int(degree) != degree or degree < 0:
        raise ValueError(f"polynomial_kernel: degree must be a non-negative integer, got {degree}")
    g = _resolve_gamma("polynomial_kernel", gamma, X.shape[1])
    K = X @ Y.T
    K *= X.dtype.type(g)
    K += X.dtype.type(coef0)
    return K ** int(degree)


def squared_distances(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Pairwise squared Euclidean distances ``||x_i - z_j||^2 = ||x_i||^2 + ||z_j||^2 - 2 x_i . z_j``.

    Numerically safe: both sets are first centred on the mean of ``X`` (distances are translation
    invariant, and this removes the cancellation of large ``||x||^2`` terms), round-off below zero is clipped
    to 0, and with ``Y=None`` the diagonal is exactly 0.

    Parameters
    ----------
    X : ndarray
        (N, D) rows.
    Y : ndarray or None
        (M, D) rows; None means ``Y = X``.

    Returns
    -------
    D2 : (N, M) non-negative, in the input dtype.
    """
    X, Y = _check_pair("squared_distances", X, Y)
    xp = xp_of(X, Y)
    same = Y is X
    center = X.mean(axis=0, dtype=X.dtype)
    X = X - center
    Y = X if same else Y - center
    x_sq = xp.einsum("ij,ij->i", X, X)
    y_sq = x_sq if same else xp.einsum("ij,ij->i", Y, Y)
    D2 = X @ Y.T
    D2 *= X.dtype.type(-2)
    D2 += x_sq[:, None] + y_sq[None, :]      # one sum per entry, so D2 is exactly symmetric when Y is X
    xp.maximum(D2, 0, out=D2)
    if same:
        xp.fill_diagonal(D2, 0)
    return D2


def rbf_kernel(X: np.ndarray, Y: np.ndarray | None = None, gamma: float | None = None) -> np.ndarray:
    """Gaussian RBF kernel ``K = exp(-gamma ||x - z||^2)`` (spec seed 003 §6.4).

    Built from :func:`squared_distances`, so entries lie in [0, 1] and, with ``Y=None``, the diagonal is
    exactly 1.

    Parameters
    ----------
    X : ndarray
        (N, D) rows.
    Y : ndarray or None
        (M, D) rows; None means ``Y = X``.
    gamma : positive width parameter; None means ``1 / D``.

    Returns
    -------
    K : (N, M) in the input dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from nnlab.kernels import rbf_kernel
    >>> rbf_kernel(np.array([[0.0, 0.0], [1.0, 0.0]]), gamma=0.5).round(4)
    array([[1.    , 0.6065],
           [0.6065, 1.    ]])
    """
    X, Y = _check_pair("rbf_kernel", X, Y)
    g = _resolve_gamma("rbf_kernel", gamma, X.shape[1])
    xp = xp_of(X, Y)
    K = squared_distances(X, None if Y is X else Y)
    K *= X.dtype.type(-g)
    return xp.exp(K, out=K)


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "linear": linear_kernel,
    "poly": polynomial_kernel,
    "polynomial": polynomial_kernel,
    "rbf": rbf_kernel,
}

_PARAMS = {
    "linear": (),
    "poly": ("degree", "gamma", "coef0"),
    "polynomial": ("degree", "gamma", "coef0"),
    "rbf": ("gamma",),
}


def kernel_matrix(X: np.ndarray, Y: np.ndarray | None = None,
                  kernel: str | Callable[..., np.ndarray] = "rbf", **params: Any) -> np.ndarray:
    """Vectorized kernel matrix ``K[i, j] = k(X[i], Y[j])`` for a named kernel or a callable.

    Parameters
    ----------
    X : ndarray
        (N, D) rows.
    Y : ndarray or None
        (M, D) rows; None means ``Y = X``.
    kernel : "linear", "poly"/"polynomial", "rbf", or a callable ``kernel(X, Y) -> (N, M)`` (as accepted by
        ``sklearn.svm.SVC``).
    **params : the kernel's parameters (``gamma``, ``degree``, ``coef0``); parameters the kernel does not take
        are an error, and ``None`` values are dropped (so defaults apply).

    Returns
    -------
    K : (N, M) matrix.
    """
    check_array("kernel_matrix", "X", X, numeric=True)
    fn = "kernel_matrix"
    if callable(kernel):
        X2, Y2 = _check_pair(fn, X, Y)
        K = np.asarray(kernel(X2, Y2, **params) if params else kernel(X2, Y2))
        if K.shape != (X2.shape[0], Y2.shape[0]):
            raise ValueError(f"{fn}: the kernel callable returned shape {K.shape}, "
                             f"expected {(X2.shape[0], Y2.shape[0])}")
        check_finite(fn, "kernel(X, Y)", K)
        return K
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"{fn}: unknown kernel {kernel!r}; expected one of {sorted(KERNELS)} or a callable")
    unknown = sorted(set(params) - set(_PARAMS[kernel]))
    if unknown:
        raise ValueError(f"{fn}: kernel {kernel!r} takes no parameter(s) {unknown}; it takes {list(_PARAMS[kernel])}")
    kwargs = {k: v for k, v in params.items() if v is not None}
    return KERNELS[kernel](X, Y, **kwargs)
