"""nnlab.gradcheck: centered differences, in-place perturbation that is restored, float32 warnings."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error


def test_rel_error_is_the_cs231n_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-12 / 1e-8)  # floor of 1e-8 in the denominator


def test_eval_numerical_gradient_of_a_cubic_and_x_is_restored():
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = x.copy()
    grad = eval_numerical_gradient(lambda a: np.sum(a**3), x, verbose=False)
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-9)
    np.testing.assert_array_equal(x, before)


def test_closure_that_ignores_its_argument_sees_the_in_place_perturbation():
    """The CS231n pattern `lambda _: model.loss(X, y)[0]` relies on x being perturbed in place."""
    w = np.array([1.0, 2.0, 3.0])
    grad = eval_numerical_gradient(lambda _: float(w @ w), w, verbose=False)
    np.testing.assert_allclose(grad, 2 * w, rtol=1e-9)


def test_eval_numerical_gradient_array_contracts_with_df_and_copies_views():
    x = np.array([0.3, -0.7, 1.1])
    df = np.array([1.0, -2.0, 0.5])
    buffer = np.empty(3)

    def f(a):  # returns the same buffer every call: results must be copied before the next evaluation
        np.multiply(a, a, out=buffer)
        return buffer

    grad = eval_numerical_gradient_array(f, x, df)
    np.testing.assert_allclose(grad, 2 * x * df, rtol=1e-9)


def test_grad_check_sparse_prints_course_format_and_returns_errors(capsys):
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    errors = grad_check_sparse(lambda a: np.sum(np.sin(a)), x, np.cos(x), num_checks=5)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("numerical: ") and ", relative error: " in line for line in lines)
    assert max(errors) < 1e-8
    with pytest.raises(ValueError, match="grad_check_sparse: analytic_grad has shape"):
        grad_check_sparse(lambda a: 0.0, x, np.zeros(3))


def test_float32_input_warns():
    with pytest.warns(RuntimeWarning, match="float32; numerical gradients need float64"):
        eval_numerical_gradient(lambda a: float(np.sum(a)), np.ones(2, dtype=np.float32), verbose=False)
