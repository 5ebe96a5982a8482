"""Feature maps of spec seed 003 §6: picking one-feature constructions, feature engineering, the degree-2 map.

The data arrays are the ones printed in the spec (written out here, not loaded):

- ``picking_data()``: the 8 points of §6.1 ("picking constructions"), exactly as printed, and the candidate
  maps ``f1..f5: R^2 -> R``. With this data none of them makes the points separable on a line; the spec
  notes the 5th point was probably (1.81, -0.50) (the one of §6.3), and with it ``f4`` does
  (``picking_data(variant="kernel")``).
- ``example_a()`` / ``example_b()``: the 8- and 9-point sets of §6.3 used with the degree-2 map ``phi_degree2``.
- ``artificial_data()``: a stand-in for §6.2's ``artificial_data.csv`` (its values are not in the spec): 10
  points, one class inside a ring of the other, not linearly separable in 2-D.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnlab.validation import check_array, check_finite, check_numeric

__all__ = [
    "CANDIDATE_FUNCTIONS",
    "artificial_data",
    "example_a",
    "example_b",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "feature_construction",
    "is_separable_1d",
    "phi_degree2",
    "picking_data",
    "separable_candidates",
]


# ------------------------------------------------------------------------------------------ spec data
def picking_data(variant: str = "printed") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8 points of spec §6.1 as ``(x_1, x_2, y)``, each (8,), labels in {-1, +1}.

    ``variant="printed"`` is the data as printed (5th point (0.81, 0.10)); ``variant="kernel"`` replaces the
    5th point with (1.81, -0.50), the point used in §6.3 and probably the assignment's original.
    """
    x_1 = np.array([0.46, 1.96, 2.94, 3.71, 0.81, 1.93, 2.95, 4.51])
    x_2 = np.array([0.76, 1.56, 1.99, 2.32, 0.10, 2.62, 2.80, -1.13])
    if variant == "kernel":
        x_1[4], x_2[4] = 1.81, -0.50
    elif variant != "printed":
        raise ValueError(f"picking_data: variant must be 'printed' or 'kernel', got {variant!r}")
    y = np.array([1, 1, 1, 1, -1, -1, -1, -1])
    return x_1, x_2, y


def example_a() -> tuple[np.ndarray, np.ndarray]:
    """Spec §6.3 example A: ``X`` (8, 2) and ``y`` (8,); the degree-2 kernel SVM fits it at accuracy 1.0."""
    x_1 = np.array([0.46, 1.96, 2.94, 3.71, 1.81, 1.93, 2.95, 4.51])
    x_2 = np.array([0.76, 1.56, 1.99, 2.32, -0.50, 2.62, 2.80, -1.13])
    y = np.array([1, 1, 1, 1, -1, -1, -1, -1])
    return np.column_stack((x_1, x_2)), y


def example_b() -> tuple[np.ndarray, np.ndarray]:
    """Spec §6.3 example B: example A plus (0.81, 0.10) labelled -1; ``X`` (9, 2), ``y`` (9,); 8/9 at C = 1."""
    x_1 = np.array([0.46, 1.96, 2.94, 3.71, 1.81, 0.81, 1.93, 2.95, 4.51])
    x_2 = np.array([0.76, 1.56, 1.99, 2.32, -0.50, 0.10, 2.62, 2.80, -1.13])
    y = np.array([1, 1, 1, 1, -1, -1, -1, -1, -1])
    return np.column_stack((x_1, x_2)), y


def artificial_data() -> tuple[np.ndarray, np.ndarray]:
    """Stand-in for spec §6.2's ``artificial_data.csv``: ``X`` (10, 2), ``y`` (10,) in {-1, +1}.

    Five +1 points near the origin inside a ring of five -1 points: no line separates them, while the
    quadratic features of :func:`feature_construction` do (the circle ``x1^2 + x2^2 = r^2``).
    """
    X = np.array([
        [0.30, 0.10], [-0.20, 0.40], [-0.35, -0.25], [0.15, -0.40], [0.05, 0.05],
        [1.60, 0.20], [0.40, 1.50], [-1.40, 0.70], [-0.90, -1.30], [0.80, -1.40],
    ])
    y = np.array([1, 1, 1, 1, 1, -1, -1, -1, -1, -1])
    return X, y


# ------------------------------------------------------------------------------- candidate maps (§6.1)
def _check_features(fn: str, feature_1: np.ndarray, feature_2: np.ndarray) -> None:
    check_numeric(fn, "feature_1", feature_1)
    check_numeric(fn, "feature_2", feature_2)


def f1(feature_1: np.ndarray, feature_2: np.ndarray) -> np.ndarray:
    """Squared radius ``x1^2 + x2^2``."""
    _check_features("f1", feature_1, feature_2)
    return feature_1**2 + feature_2**2


def f2(feature_1: np.ndarray, feature_2: np.ndarray) -> np.ndarray:
    """``x1^2`` (ignores x2)."""
    _check_features("f2", feature_1, feature_2)
    return feature_1**2


def f3(feature_1: np.ndarray, feature_2: np.ndarray) -> np.ndarray:
    """Gaussian of the radius ``exp(-(x1^2 + x2^2) / 2)``."""
    _check_features("f3", feature_1, feature_2)
    return np.exp(-(feature_1**2 + feature_2**2) / 2)


def f4(feature_1: np.ndarray, feature_2: np.ndarray) -> np.ndarray:
    """Distance of x2 from 1, ``|1 - x2|``."""
    _check_features("f4", feature_1, feature_2)
    return np.abs(1 - feature_2)


def f5(feature_1: np.ndarray, feature_2: np.ndarray) -> np.ndarray:
    """Difference ``x2 - x1``."""
    _check_features("f5", feature_1, feature_2)
    return feature_2 - feature_1


CANDIDATE_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "f1": f1, "f2": f2, "f3": f3, "f4": f4, "f5": f5,
}


def is_separable_1d(z: np.ndarray, y: np.ndarray) -> bool:
    """Exact check that one threshold separates the two classes of 1-D values.

    Parameters
    ----------
    z : ndarray
        (N,) values.
    y : ndarray
        (N,) two-class labels.

    Returns
    -------
    True when ``max(z | one class) < min(z | other class)`` for one of the two orderings.
    """
    check_array("is_separable_1d", "z", z, ndim=1, shape_hint="(N,)")
    classes = np.unique(y)
    if classes.shape[0] != 2 or np.shape(y) != z.shape:
        raise ValueError(f"is_separable_1d: y must hold two classes with the shape of z {z.shape}, "
                         f"got shape {np.shape(y)} and {classes.shape[0]} classes")
    a, b = z[y == classes[0]], z[y == classes[1]]
    return bool(a.max() < b.min() or b.max() < a.min())


def separable_candidates(x_1: np.ndarray, x_2: np.ndarray, y: np.ndarray,
                         candidates: dict[str, Callable] | None = None) -> dict[str, bool]:
    """Which maps ``f(x_1, x_2) -> R`` make the data separable by a threshold: ``{name: bool}``."""
    check_numeric("separable_candidates", "x_1", x_1)
    check_numeric("separable_candidates", "x_2", x_2)
    candidates = CANDIDATE_FUNCTIONS if candidates is None else candidates
    return {name: is_separable_1d(np.asarray(f(x_1, x_2), dtype=np.float64), y) for name, f in candidates.items()}


# ---------------------------------------------------------------------------- feature engineering
def feature_construction(X: np.ndarray) -> np.ndarray:
    """Quadratic feature expansion ``[x1, x2, x1^2, x2^2, x1 x2]`` (spec §6.2).

    Any class boundary that is a conic section in 2-D (circle, ellipse, hyperbola, pair of lines) becomes a
    hyperplane in these features, so a linear SVM can separate rings and XOR-like quadrants. Row-wise, so
    the order of the samples does not matter.

    Parameters
    ----------
    X : (N, 2) points.

    Returns
    -------
    X_aug : (N, 5) features, in the input dtype.
    """
    check_array("feature_construction", "X", X, ndim=2, shape_hint="(N, 2)")
    if X.shape[1] != 2:
        raise ValueError(f"feature_construction: X must have 2 columns (x_1, x_2), got shape {X.shape}")
    check_finite("feature_construction", "X", X)
    x1, x2 = X[:, 0], X[:, 1]
    return np.column_stack((x1, x2, x1 * x1, x2 * x2, x1 * x2))


def phi_degree2(datum: np.ndarray) -> np.ndarray:
    """The degree-2 feature map of spec §6.3 for one point: (2,) -> ``[x1, x2, x1 x2, x1^2, x2^2]`` (5,)."""
    check_numeric("phi_degree2", "datum", datum)
    projected = np.zeros((5,))
    projected[0] = datum[0]
    projected[1] = datum[1]
    projected[2] = datum[0] * datum[1]
    projected[3] = datum[0] ** 2
    projected[4] = datum[1] ** 2
    return projected
