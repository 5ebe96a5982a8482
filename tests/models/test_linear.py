"""Linear classifiers: loss functions against hand-computed values, training, the model contract, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.models import (
    LinearClassifier,
    LinearSVM,
    Softmax,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)

LOSSES = [softmax_loss_naive, softmax_loss_vectorized, svm_loss_naive, svm_loss_vectorized]


def separable_blobs(rng, n_per_class: int = 30, num_classes: int = 3, dim: int = 4):
    """Well-separated Gaussian blobs with a bias column appended: X (N, dim + 1), y (N,)."""
    centers = 4.0 * rng.standard_normal((num_classes, dim))
    X = np.concatenate([c + 0.3 * rng.standard_normal((n_per_class, dim)) for c in centers])
    X = np.hstack([X, np.ones((X.shape[0], 1))])
    y = np.repeat(np.arange(num_classes), n_per_class)
    return X, y


def test_softmax_loss_hand_computed_two_samples():
    # scores = X W = [[1, 0], [0, 2]]; labels [0, 1]: loss = mean(log(1 + e^-1), log(1 + e^-2)) + reg sum W^2
    W = np.array([[1.0, 0.0], [0.0, 2.0]])
    X = np.eye(2)
    y = np.array([0, 1])
    expected = 0.5 * (math.log1p(math.exp(-1)) + math.log1p(math.exp(-2))) + 0.1 * 5.0
    for fn in (softmax_loss_naive, softmax_loss_vectorized):
        loss, dW = fn(W, X, y, 0.1)
        assert loss == pytest.approx(expected, abs=1e-12)
        assert dW.shape == W.shape


def test_svm_loss_hand_computed_two_samples():
    # scores [[1, 0.5], [0, 2]], labels [0, 1]: margins max(0, 0.5 - 1 + 1) = 0.5 and max(0, 0 - 2 + 1) = 0
    W = np.array([[1.0, 0.5], [0.0, 2.0]])
    X = np.eye(2)
    y = np.array([0, 1])
    for fn in (svm_loss_naive, svm_loss_vectorized):
        loss, dW = fn(W, X, y, 0.0)
        assert loss == pytest.approx(0.25, abs=1e-12)
        np.testing.assert_allclose(dW, [[-0.5, 0.5], [0.0, 0.0]], atol=1e-12)


@pytest.mark.parametrize("fn", LOSSES)
def test_linear_loss_full_gradient_check(fn, rng):
    # Softmax: everywhere smooth. SVM: large weights keep the scores away from the hinge kinks.
    W = rng.standard_normal((5, 4))
    X = rng.standard_normal((7, 5))
    y = rng.integers(4, size=7)
    _, dW = fn(W, X, y, 0.3)
    dW_num = eval_numerical_gradient(lambda w: fn(w, X, y, 0.3)[0], W, verbose=False)
    assert rel_error(dW, dW_num) < 1e-7


@pytest.mark.parametrize("fn", [softmax_loss_vectorized, svm_loss_vectorized])
def test_linear_loss_keeps_float32(fn, rng):
    W = rng.standard_normal((5, 3)).astype(np.float32)
    X = rng.standard_normal((4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    _, dW = fn(W, X, y, 1e-3)
    assert dW.dtype == np.float32


def test_softmax_vectorized_is_finite_on_huge_scores():
    W = np.array([[1000.0, -1000.0]])
    X = np.ones((2, 1))
    y = np.array([1, 0])
    loss, dW = softmax_loss_vectorized(W, X, y, 0.0)
    # scores [1000, -1000] per row: sample 0 (label 1) costs 2000, sample 1 (label 0) costs ~0; mean 1000
    assert loss == pytest.approx(1000.0, abs=1e-9)
    assert np.all(np.isfinite(dW))


@pytest.mark.parametrize("fn", LOSSES)
def test_linear_loss_rejects_bad_inputs(fn):
    W = np.zeros((3, 4))
    X = np.zeros((2, 3))
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="X has 5 features but W expects 3"):
        fn(W, np.zeros((2, 5)), y, 0.0)
    with pytest.raises(ValueError, match=r"y must be in \[0, 4\)"):
        fn(W, X, np.array([0, 4]), 0.0)
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        fn(W, X, np.array([0, 1, 2]), 0.0)
    with pytest.raises(ValueError, match="W must be 2-D"):
        fn(np.zeros(3), X, y, 0.0)
    with pytest.raises(ValueError, match="reg must be >= 0"):
        fn(W, X, y, -1.0)


@pytest.mark.parametrize("cls", [Softmax, LinearSVM])
def test_linear_classifier_train_reduces_loss_on_separable_data(cls, rng):
    X, y = separable_blobs(rng)
    clf = cls()
    history = clf.train(X, y, learning_rate=1e-2, reg=1e-4, num_iters=200, batch_size=32, seed=0)
    assert len(history) == 200
    assert clf.W.shape == (5, 3)
    assert np.mean(history[-20:]) < 0.25 * history[0]
    assert np.mean(clf.predict(X) == y) == 1.0


def test_linear_classifier_train_seed_makes_runs_identical(rng):
    X, y = separable_blobs(rng)
    first = Softmax().train(X, y, num_iters=20, seed=7)
    second = Softmax().train(X, y, num_iters=20, seed=7)
    assert first == second


def test_linear_classifier_train_verbose_prints_every_100(rng, capsys):
    X, y = separable_blobs(rng)
    Softmax().train(X, y, num_iters=201, verbose=True, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["iteration 0 / 201", "iteration 100 / 201",
                                                      "iteration 200 / 201"]


def test_linear_classifier_model_contract(rng):
    X, y = separable_blobs(rng, n_per_class=5)
    clf = Softmax(input_dim=5, num_classes=3, reg=0.5, seed=0)
    assert set(clf.params) == {"W"} and clf.params["W"] is clf.W
    np.testing.assert_allclose(clf.loss(X), X @ clf.W)
    loss, grads = clf.loss(X, y)
    expected_loss, expected_dW = softmax_loss_vectorized(clf.W, X, y, 0.5)
    assert loss == pytest.approx(expected_loss, abs=1e-12)
    np.testing.assert_allclose(grads["W"], expected_dW, atol=1e-12)
    loss_noreg, _ = clf.loss(X, y, reg=0.0)
    assert loss - loss_noreg == pytest.approx(0.5 * np.sum(clf.W ** 2), abs=1e-12)
    # a Solver writes params["W"]; the classifier must see it
    clf.params["W"] = np.zeros((5, 3))
    assert np.all(clf.W == 0)


def test_linear_classifier_save_load_round_trip(tmp_path, rng, capsys):
    X, y = separable_blobs(rng, n_per_class=5)
    clf = LinearSVM()
    clf.train(X, y, num_iters=5, reg=0.25, seed=1)
    path = clf.save(tmp_path / "svm")
    assert path.endswith("svm.npz")
    assert capsys.readouterr().out.strip() == f"{path} saved."
    restored = LinearSVM().load(path)
    np.testing.assert_array_equal(restored.W, clf.W)
    assert restored.reg == 0.25
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))


def test_linear_classifier_rejects_bad_training_arguments(rng):
    X, y = separable_blobs(rng, n_per_class=5)
    clf = Softmax()
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        clf.train(X, y, learning_rate=-1.0)
    with pytest.raises(ValueError, match="num_iters must be an integer >= 0"):
        clf.train(X, y, num_iters=-3)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        clf.train(X, y, batch_size=0)
    with pytest.raises(ValueError, match="X must be 2-D"):
        clf.train(X[0], y)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        clf.train(X, y.astype(float))


def test_linear_classifier_rejects_use_before_training_and_wrong_features(rng):
    with pytest.raises(ValueError, match="no weights yet"):
        Softmax().predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no weights yet"):
        Softmax().save("unused")
    clf = LinearClassifier(input_dim=3, num_classes=2)
    with pytest.raises(ValueError, match="X has 4 features but W expects 3"):
        clf.loss(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"y must be in \[0, 2\)"):
        clf.loss(np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(ValueError, match="give both input_dim and num_classes"):
        LinearClassifier(input_dim=3)


def test_linear_classifier_trains_under_the_solver(rng):
    from nnlab.solver import Solver

    X, y = separable_blobs(rng)
    clf = Softmax(input_dim=5, num_classes=3, reg=1e-4, seed=0)
    data = {"X_train": X, "y_train": y, "X_val": X[::3], "y_val": y[::3]}
    solver = Solver(clf, data, update_rule="sgd", optim_config={"learning_rate": 1e-2}, num_epochs=10,
                    batch_size=30, verbose=False, seed=0)
    solver.train()
    assert solver.loss_history[-1] < 0.25 * solver.loss_history[0]
    assert solver.best_val_acc == 1.0
    # the Solver puts the best parameters back through params["W"]; the classifier predicts with them
    assert np.mean(clf.predict(X[::3]) == y[::3]) == 1.0
