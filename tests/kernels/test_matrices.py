"""Kernel matrices: parity with scikit-learn's pairwise_kernels, symmetry, PSD, RBF safety, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics.pairwise import pairwise_kernels

from nnlab.kernels import (
    feature_construction,
    kernel_construction,
    kernel_matrix,
    linear_kernel,
    phi_degree2,
    polynomial_kernel,
    rbf_kernel,
    squared_distances,
)

CASES = [
    ("linear", {}),
    ("poly", {"degree": 2, "gamma": 0.5, "coef0": 1.0}),
    ("poly", {"degree": 3, "gamma": None, "coef0": 0.0}),
    ("poly", {"degree": 4, "gamma": 0.1, "coef0": 2.5}),
    ("rbf", {"gamma": 0.3}),
    ("rbf", {"gamma": None}),
    ("rbf", {"gamma": 5.0}),
]


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("kernel,params", CASES)
@pytest.mark.parametrize("n,m,d", [(37, 23, 5), (1, 4, 3), (60, 60, 1)])
def test_kernel_matrix_matches_sklearn_pairwise_kernels(rng, kernel, params, n, m, d):
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((m, d))
    sk_kernel = "polynomial" if kernel == "poly" else kernel
    ours_xy = kernel_matrix(X, Y, kernel=kernel, **params)
    ours_xx = kernel_matrix(X, kernel=kernel, **params)
    assert ours_xy.shape == (n, m)
    assert _rel_diff(ours_xy, pairwise_kernels(X, Y, metric=sk_kernel, **params)) < 1e-12
    assert _rel_diff(ours_xx, pairwise_kernels(X, metric=sk_kernel, **params)) < 1e-12


@pytest.mark.parametrize("kernel,params", [c for c in CASES if not (c[0] == "poly" and c[1]["coef0"] == 0.0)])
def test_kernel_matrix_is_symmetric_positive_semidefinite(rng, kernel, params):
    X = rng.standard_normal((80, 4)) * rng.uniform(0.5, 3.0, size=4)
    K = kernel_matrix(X, kernel=kernel, **params)
    np.testing.assert_array_equal(K, K.T)
    eig = np.linalg.eigvalsh(K)
    assert eig.min() >= -1e-10 * eig.max()


def test_polynomial_kernel_odd_degree_without_offset_is_psd(rng):
    # (x.z)^3 is a valid kernel too (a product of PSD kernels), even with coef0 = 0
    X = rng.standard_normal((50, 3))
    eig = np.linalg.eigvalsh(polynomial_kernel(X, degree=3, gamma=1.0, coef0=0.0))
    assert eig.min() >= -1e-10 * eig.max()


def test_rbf_kernel_diagonal_exactly_one_and_entries_in_unit_interval(rng):
    # a large common offset makes ||x||^2 + ||z||^2 - 2 x.z cancel badly; duplicates must still give exactly 1
    X = rng.standard_normal((40, 6)) * 1e-3 + 1e4
    X[7] = X[3]
    K = rbf_kernel(X, gamma=10.0)
    np.testing.assert_array_equal(np.diag(K), np.ones(40))
    assert K.min() > 0 and K.max() <= 1.0
    assert K[3, 7] == 1.0 and K[7, 3] == 1.0
    D2 = squared_distances(X, X + 0.0)
    assert D2.min() >= 0.0


def test_squared_distances_match_explicit_differences(rng):
    X, Y = rng.standard_normal((9, 4)), rng.standard_normal((5, 4))
    expected = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(squared_distances(X, Y), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [linear_kernel, polynomial_kernel, rbf_kernel, squared_distances])
def test_kernels_keep_float32(rng, fn):
    X = rng.standard_normal((12, 3)).astype(np.float32)
    K = fn(X)
    assert K.dtype == np.float32
    np.testing.assert_allclose(K, fn(X.astype(np.float64)), rtol=2e-5, atol=2e-5)


def test_kernel_construction_equals_feature_inner_products(rng):
    X = rng.standard_normal((50, 2))
    K = kernel_construction(X, phi_degree2)
    assert isinstance(K, np.ndarray) and K.shape == (50, 50)
    np.testing.assert_array_equal(K, K.T)
    F = np.stack([phi_degree2(x) for x in X])
    np.testing.assert_allclose(K, F @ F.T, rtol=1e-13, atol=1e-13)
    # feature_construction is the same degree-2 map with permuted columns: identical inner products
    Z = feature_construction(X)
    np.testing.assert_allclose(K, Z @ Z.T, rtol=1e-12, atol=1e-12)
    assert K[2, 5] == pytest.approx(float(phi_degree2(X[2]) @ phi_degree2(X[5])), rel=1e-15)


def test_kernel_matrix_accepts_a_callable_like_svc(rng):
    X, Y = rng.standard_normal((6, 3)), rng.standard_normal((4, 3))
    K = kernel_matrix(X, Y, kernel=lambda A, B: (A @ B.T + 1.0) ** 2)
    np.testing.assert_allclose(K, pairwise_kernels(X, Y, metric="polynomial", degree=2, gamma=1.0, coef0=1.0),
                               rtol=1e-13)


def test_kernel_bad_input_raises_clear_errors(rng):
    X = rng.standard_normal((5, 3))
    with pytest.raises(ValueError, match="unknown kernel 'sigmoidal'"):
        kernel_matrix(X, kernel="sigmoidal")
    with pytest.raises(ValueError, match="rbf_kernel: gamma must be > 0"):
        rbf_kernel(X, gamma=0.0)
    with pytest.raises(ValueError, match="polynomial_kernel: gamma must be > 0"):
        polynomial_kernel(X, gamma=-1.0)
    with pytest.raises(ValueError, match="polynomial_kernel: degree must be a non-negative integer"):
        polynomial_kernel(X, degree=1.5)
    with pytest.raises(ValueError, match="X has 3 features but Y has 2"):
        linear_kernel(X, rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match=r"rbf_kernel: X must be 2-D \(N, D\)"):
        rbf_kernel(np.ones(3))
    with pytest.raises(ValueError, match="kernel 'linear' takes no parameter"):
        kernel_matrix(X, kernel="linear", gamma=1.0)
    with pytest.raises(ValueError, match="callable returned shape"):
        kernel_matrix(X, kernel=lambda A, B: np.ones((2, 2)))
    with pytest.raises(TypeError, match="kernel_construction: phi must be callable"):
        kernel_construction(X, phi="x**2")


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), d=st.integers(1, 5), gamma=st.floats(1e-3, 50.0),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), seed=st.integers(0, 2**16))
def test_rbf_kernel_invariants_hold_for_any_shape_and_scale(n, d, gamma, scale, seed):
    X = np.random.default_rng(seed).standard_normal((n, d)) * scale
    K = rbf_kernel(X, gamma=gamma)
    assert K.shape == (n, n)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(np.diag(K), np.ones(n))
    assert np.all(K >= 0) and np.all(K <= 1)
    shifted = rbf_kernel(X + 7.0 * scale, gamma=gamma)      # translation invariance
    np.testing.assert_allclose(shifted, K, atol=1e-10)
