"""KernelSVM (SMO, LIBSVM formulation) against sklearn.svm.SVC, the KKT conditions, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.svm import SVC

from nnlab.kernels import KernelSVM, rbf_kernel, smo_solve
from nnlab.kernels.svm import _FullKernel

# 20 random two-class problems: (generator, n, kernel, C, gamma, seed), n in 50..500
DATASETS = [
    ("moons", 50, "rbf", 1.0, "scale", 0),
    ("moons", 120, "rbf", 10.0, 2.0, 1),
    ("moons", 250, "poly", 1.0, "scale", 2),
    ("moons", 400, "rbf", 0.5, "auto", 3),
    ("moons", 500, "linear", 1.0, "scale", 4),
    ("moons", 180, "rbf", 100.0, 1.0, 5),
    ("moons", 333, "poly", 0.3, 0.5, 6),
    ("circles", 60, "rbf", 1.0, "scale", 7),
    ("circles", 150, "rbf", 5.0, 0.7, 8),
    ("circles", 300, "poly", 1.0, 1.0, 9),
    ("circles", 450, "rbf", 0.2, "scale", 10),
    ("circles", 500, "rbf", 20.0, 3.0, 11),
    ("circles", 222, "poly", 2.0, "auto", 12),
    ("blobs", 80, "linear", 1.0, "scale", 13),
    ("blobs", 160, "rbf", 1.0, "scale", 14),
    ("blobs", 275, "linear", 0.1, "scale", 15),
    ("blobs", 350, "poly", 1.0, "scale", 16),
    ("blobs", 420, "rbf", 3.0, 0.2, 17),
    ("blobs", 490, "rbf", 0.05, "auto", 18),
    ("blobs", 111, "poly", 10.0, 0.3, 19),
]


def make_problem(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "moons":
        return make_moons(n, noise=0.25, random_state=seed)
    if kind == "circles":
        return make_circles(n, noise=0.12, factor=0.5, random_state=seed)
    X, y = make_blobs(n, centers=2, n_features=3, cluster_std=2.5, random_state=seed)
    return X, y


def _fit_both(X, y, kernel, C, gamma, degree=3, coef0=0.0):
    kwargs = dict(C=C, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0, tol=1e-6)
    ours = KernelSVM(**kwargs).fit(X, y)
    theirs = SVC(**kwargs).fit(X, y)
    return ours, theirs


@pytest.mark.parametrize("kind,n,kernel,C,gamma,seed", DATASETS)
def test_kernel_svm_matches_sklearn_svc_on_random_datasets(kind, n, kernel, C, gamma, seed):
    X, y = make_problem(kind, n, seed)
    coef0 = 1.0 if kernel == "poly" else 0.0
    ours, theirs = _fit_both(X, y, kernel, C, gamma, coef0=coef0)
    rng = np.random.default_rng(seed)
    X_new = np.concatenate([X, X[rng.integers(0, n, 100)] + 0.3 * rng.standard_normal((100, X.shape[1]))])
    f_ours, f_theirs = ours.decision_function(X_new), theirs.decision_function(X_new)
    assert np.abs(f_ours - f_theirs).max() < 1e-3
    assert np.mean(ours.predict(X_new) == theirs.predict(X_new)) >= 0.995
    assert ours.intercept_ == pytest.approx(theirs.intercept_, abs=1e-3)
    # same support set, up to points on the margin (y f(x) = 1, where alpha may be 0 or tiny)
    differ = np.setxor1d(ours.support_, theirs.support_)
    y_pm = np.where(y == ours.classes_[1], 1.0, -1.0)
    assert np.all(np.abs(y_pm[differ] * f_theirs[differ] - 1.0) < 1e-3)
    if differ.size == 0:
        np.testing.assert_array_equal(ours.support_, theirs.support_)
        np.testing.assert_array_equal(ours.n_support_, theirs.n_support_)
    # dual_coef_ = y_i alpha_i: sign of the label, |.| <= C, sums to zero (the coefficients themselves are not
    # unique when K is near-singular, so they are compared on well-conditioned problems elsewhere)
    coef = ours.dual_coef_[0]
    np.testing.assert_array_equal(np.sign(coef), y_pm[ours.support_])
    assert np.abs(coef).max() <= C and abs(coef.sum()) < 1e-9 * C * n


def test_kernel_svm_satisfies_kkt_conditions_at_tol(rng):
    X, y = make_moons(300, noise=0.3, random_state=3)
    y_pm = np.where(y == 1, 1.0, -1.0)
    K = rbf_kernel(X, gamma=1.5)
    C, tol = 2.0, 1e-8
    alpha, rho, n_iter = smo_solve(_FullKernel(K), y_pm, C, tol)
    assert n_iter > 0
    assert alpha.min() >= 0 and alpha.max() <= C
    assert abs(alpha @ y_pm) < 1e-10 * C * len(y)
    f = K @ (alpha * y_pm) - rho
    margin = y_pm * f
    # alpha = 0 -> y f >= 1; 0 < alpha < C -> y f = 1; alpha = C -> y f <= 1
    assert np.all(margin[alpha == 0] >= 1 - 1e-6)
    free = (alpha > 0) & (alpha < C)
    assert free.any() and np.all(np.abs(margin[free] - 1) < 1e-6)
    assert np.all(margin[alpha == C] <= 1 + 1e-6)


def test_kernel_svm_two_point_problem_has_closed_form():
    # x = +1 (label 1), x = -1 (label 0), linear kernel: hard margin w = 1, b = 0, alpha = 1/2 each
    X = np.array([[1.0], [-1.0]])
    y = np.array([1, 0])
    svm = KernelSVM(C=10.0, kernel="linear").fit(X, y)
    np.testing.assert_allclose(svm.dual_coef_, [[-0.5, 0.5]], atol=1e-12)
    assert svm.intercept_[0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(svm.support_, [1, 0])          # grouped by class, as SVC
    np.testing.assert_allclose(svm.decision_function(np.array([[2.0], [0.25]])), [2.0, 0.25], atol=1e-12)
    # C = 0.25 < 1/2: both alphas at the bound, w = 2 C = 0.5
    capped = KernelSVM(C=0.25, kernel="linear").fit(X, y)
    np.testing.assert_allclose(capped.dual_coef_, [[-0.25, 0.25]], atol=1e-12)
    np.testing.assert_allclose(capped.decision_function(np.array([[1.0]])), [0.5], atol=1e-12)


def test_kernel_svm_dual_coef_and_intercept_match_svc_on_well_conditioned_problem():
    X, y = make_blobs(200, centers=2, n_features=2, cluster_std=3.0, random_state=21)
    ours, theirs = _fit_both(X, y, "rbf", 1.0, 0.1)
    np.testing.assert_array_equal(ours.support_, theirs.support_)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4)
    np.testing.assert_allclose(ours.support_vectors_, theirs.support_vectors_)


def test_kernel_svm_precomputed_and_callable_equal_named_kernel():
    X, y = make_moons(200, noise=0.2, random_state=0)
    X_test = X[:30] + 0.1
    named = KernelSVM(C=3.0, kernel="rbf", gamma=0.8, tol=1e-6).fit(X, y)
    pre = KernelSVM(C=3.0, kernel="precomputed", tol=1e-6).fit(rbf_kernel(X, gamma=0.8), y)
    call = KernelSVM(C=3.0, kernel=lambda A, B: rbf_kernel(A, B, gamma=0.8), tol=1e-6).fit(X, y)
    f = named.decision_function(X_test)
    np.testing.assert_allclose(pre.decision_function(rbf_kernel(X_test, X, gamma=0.8)), f, atol=1e-9)
    np.testing.assert_allclose(call.decision_function(X_test), f, atol=1e-9)
    theirs = SVC(C=3.0, kernel="precomputed", tol=1e-6).fit(rbf_kernel(X, gamma=0.8), y)
    np.testing.assert_allclose(theirs.decision_function(rbf_kernel(X_test, X, gamma=0.8)), f, atol=1e-3)


def test_kernel_svm_row_cache_gives_same_model_as_full_kernel():
    X, y = make_circles(300, noise=0.1, factor=0.5, random_state=1)
    full = KernelSVM(C=1.0, tol=1e-6).fit(X, y)
    cached = KernelSVM(C=1.0, tol=1e-6, cache_size=0.1).fit(X, y)   # 0.1 MB < 300^2 * 8 bytes -> row cache
    np.testing.assert_array_equal(cached.support_, full.support_)
    # the rows are computed one at a time (round-off differs in the last bits), both solved to tol 1e-6
    np.testing.assert_allclose(cached.dual_coef_, full.dual_coef_, atol=1e-5)
    np.testing.assert_allclose(cached.intercept_, full.intercept_, atol=1e-5)


def test_kernel_svm_string_labels_and_predict_follow_classes_order():
    X, y = make_blobs(100, centers=2, random_state=2)
    labels = np.array(["cat", "dog"])[y]
    svm = KernelSVM(kernel="linear").fit(X, labels)
    np.testing.assert_array_equal(svm.classes_, ["cat", "dog"])
    f = svm.decision_function(X)
    np.testing.assert_array_equal(svm.predict(X), np.where(f > 0, "dog", "cat"))
    assert svm.score(X, labels) == pytest.approx(SVC(kernel="linear").fit(X, labels).score(X, labels))


def test_kernel_svm_one_vs_rest_problems_equal_binary_svc():
    X, y = make_blobs(240, centers=3, cluster_std=1.5, random_state=4)
    ours = KernelSVM(C=1.0, gamma=0.5, tol=1e-6).fit(X, y)
    f = ours.decision_function(X)
    assert f.shape == (240, 3) and ours.dual_coef_.shape == (3, ours.support_.shape[0])
    for k in range(3):
        binary = SVC(C=1.0, gamma=0.5, tol=1e-6).fit(X, (y == k).astype(int))
        np.testing.assert_allclose(f[:, k], binary.decision_function(X), atol=1e-3)
    np.testing.assert_array_equal(ours.predict(X), np.argmax(f, axis=1))


def test_kernel_svm_multiclass_digits_accuracy_within_one_percent_of_svc():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(0).permutation(len(y))
    train, test = perm[:1200], perm[1200:]
    ours = KernelSVM(C=5.0, tol=1e-3).fit(X[train], y[train])
    theirs = SVC(C=5.0, tol=1e-3).fit(X[train], y[train])
    acc_ours, acc_theirs = ours.score(X[test], y[test]), theirs.score(X[test], y[test])
    assert acc_theirs > 0.97
    assert abs(acc_ours - acc_theirs) <= 0.01


def test_kernel_svm_float32_input_gives_float64_decisions_close_to_float64_fit():
    X, y = make_moons(150, noise=0.2, random_state=5)
    f64 = KernelSVM(tol=1e-6).fit(X, y).decision_function(X)
    f32 = KernelSVM(tol=1e-6).fit(X.astype(np.float32), y).decision_function(X.astype(np.float32))
    assert f32.dtype == np.float64
    assert np.abs(f32 - f64).max() < 1e-3


def test_kernel_svm_bad_input_raises_clear_errors():
    X, y = make_moons(20, random_state=0)
    with pytest.raises(ValueError, match="KernelSVM: C must be a number > 0"):
        KernelSVM(C=0.0).fit(X, y)
    with pytest.raises(ValueError, match="KernelSVM: C must be a number > 0"):
        KernelSVM(C=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="KernelSVM: unknown kernel 'gauss'"):
        KernelSVM(kernel="gauss").fit(X, y)
    with pytest.raises(ValueError, match="KernelSVM: gamma must be 'scale', 'auto' or a float > 0"):
        KernelSVM(gamma=0.0).fit(X, y)
    with pytest.raises(ValueError, match="KernelSVM: gamma must be"):
        KernelSVM(gamma="wide").fit(X, y)
    with pytest.raises(ValueError, match="KernelSVM: tol must be > 0"):
        KernelSVM(tol=0).fit(X, y)
    with pytest.raises(ValueError, match=r"precomputed kernel X must be square \(N, N\), got shape \(20, 2\)"):
        KernelSVM(kernel="precomputed").fit(X, y)
    K = rbf_kernel(X)
    K[0, 1] += 0.5
    with pytest.raises(ValueError, match="precomputed kernel X must be symmetric"):
        KernelSVM(kernel="precomputed").fit(K, y)
    with pytest.raises(ValueError, match="y must contain exactly two classes in binary mode"):
        KernelSVM(multiclass=False).fit(X, np.arange(20) % 3)
    with pytest.raises(ValueError, match="y must contain at least two classes"):
        KernelSVM().fit(X, np.ones(20))
    with pytest.raises(ValueError, match=r"y must have shape \(20,\)"):
        KernelSVM().fit(X, y[:5])
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        KernelSVM().fit(np.where(np.eye(20, 2) > 0, np.nan, X), y)
    svm = KernelSVM().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, the model was fit on 2"):
        svm.predict(np.ones((4, 3)))
    with pytest.raises(RuntimeError, match="call fit before decision_function"):
        KernelSVM().predict(X)
    pre = KernelSVM(kernel="precomputed").fit(rbf_kernel(X), y)
    with pytest.raises(ValueError, match="must have 20 columns"):
        pre.predict(np.ones((3, 19)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(40))
def test_kernel_svm_matches_svc_on_many_random_problems_slow(seed):
    rng = np.random.default_rng(1000 + seed)
    kind = ["moons", "circles", "blobs"][seed % 3]
    n = int(rng.integers(50, 2001))
    kernel = ["rbf", "rbf", "poly", "linear"][seed % 4] if kind != "circles" else ["rbf", "poly"][seed % 2]
    C = float(10 ** rng.uniform(-1, 2))
    gamma = float(10 ** rng.uniform(-1, 0.5)) if seed % 2 else "scale"
    X, y = make_problem(kind, n, seed)
    ours, theirs = _fit_both(X, y, kernel, C, gamma, coef0=1.0 if kernel == "poly" else 0.0)
    assert np.abs(ours.decision_function(X) - theirs.decision_function(X)).max() < 1e-3
    assert np.mean(ours.predict(X) == theirs.predict(X)) >= 0.995
