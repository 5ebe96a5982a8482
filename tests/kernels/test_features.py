"""Feature maps: feature_construction separates non-linear data for a linear SVM; the 1-D separability check."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_circles
from sklearn.svm import SVC

from nnlab.kernels import (
    KernelSVM,
    artificial_data,
    feature_construction,
    is_separable_1d,
    phi_degree2,
    separable_candidates,
)


def test_feature_construction_columns_are_quadratic_terms():
    X = np.array([[2.0, -3.0], [0.5, 4.0]])
    expected = np.array([[2.0, -3.0, 4.0, 9.0, -6.0], [0.5, 4.0, 0.25, 16.0, 2.0]])
    np.testing.assert_array_equal(feature_construction(X), expected)
    assert feature_construction(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(phi_degree2(X[0]), [2.0, -3.0, -6.0, 4.0, 9.0])


def test_artificial_data_needs_feature_construction_for_a_linear_svm():
    X, y = artificial_data()
    assert X.shape == (10, 2) and sorted(set(y.tolist())) == [-1, 1]
    raw = KernelSVM(C=1000.0, kernel="linear").fit(X, y)
    assert raw.score(X, y) < 1.0                         # no line separates a ring from its centre
    Z = feature_construction(X)
    assert KernelSVM(kernel="linear").fit(Z, y).score(Z, y) == 1.0
    assert SVC(kernel="linear").fit(Z, y).score(Z, y) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feature_construction_is_row_wise_so_shuffling_does_not_matter(seed):
    X, y = make_circles(60, noise=0.03, factor=0.4, random_state=seed)
    perm = np.random.default_rng(seed).permutation(60)
    Z, Zp = feature_construction(X), feature_construction(X[perm])
    np.testing.assert_array_equal(Zp, Z[perm])
    assert SVC(kernel="linear", C=100.0).fit(Zp, y[perm]).score(Zp, y[perm]) == 1.0


def test_feature_construction_separates_xor_quadrants(rng):
    X = rng.uniform(-1, 1, size=(80, 2))
    X = X[np.abs(X).min(axis=1) > 0.1]                   # keep a gap around the axes
    y = np.where(X[:, 0] * X[:, 1] > 0, 1, -1)
    Z = feature_construction(X)
    assert KernelSVM(C=100.0, kernel="linear").fit(Z, y).score(Z, y) == 1.0


def test_is_separable_1d_threshold_check():
    y = np.array([1, 1, -1, -1])
    assert is_separable_1d(np.array([0.1, 0.2, 0.3, 0.4]), y) is True
    assert is_separable_1d(np.array([0.4, 0.3, 0.2, 0.1]), y) is True
    assert is_separable_1d(np.array([0.1, 0.3, 0.2, 0.4]), y) is False
    assert is_separable_1d(np.array([0.1, 0.2, 0.2, 0.4]), y) is False   # a tie cannot be split
    # f1 = [4, 13 | 5, 8], f2 = [0, 9 | 1, 4], f3 monotone in f1, f4 = [1, 1 | 3, 3], f5 = [2, -1 | -3, -4]
    got = separable_candidates(np.array([0.0, 3.0, 1.0, 2.0]), np.array([2.0, 2.0, -2.0, -2.0]), y)
    assert got == {"f1": False, "f2": False, "f3": False, "f4": True, "f5": True}


def test_feature_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match=r"feature_construction: X must have 2 columns \(x_1, x_2\)"):
        feature_construction(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"feature_construction: X must be 2-D \(N, 2\)"):
        feature_construction(np.ones(4))
    with pytest.raises(ValueError, match="feature_construction: X contains NaN or inf"):
        feature_construction(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="is_separable_1d: y must hold two classes"):
        is_separable_1d(np.ones(3), np.array([0, 1, 2]))
