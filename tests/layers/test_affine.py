"""affine_forward / affine_backward: numerical gradients, shapes, dtype, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.affine import affine_backward, affine_forward


@pytest.mark.parametrize(("x_shape", "m"), [((1, 3), 1), ((1, 2, 3), 4), ((5, 7), 3), ((3, 2, 3, 1), 5)])
def test_affine_backward_matches_numerical_gradient(rng, x_shape, m):
    d = int(np.prod(x_shape[1:]))
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((d, m))
    b = rng.standard_normal(m)
    dout = rng.standard_normal((x_shape[0], m))
    dx, dw, db = affine_backward(dout, affine_forward(x, w, b)[1])
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)) < 1e-7


def test_affine_keeps_float32(rng):
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    out, cache = affine_forward(x, w, b)
    grads = affine_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 5), dims=st.lists(st.integers(1, 4), min_size=1, max_size=3), m=st.integers(1, 6))
def test_affine_forward_is_flattened_matmul_plus_bias(n, dims, m):
    r = np.random.default_rng(n * 100 + m)
    x = r.standard_normal((n, *dims))
    w = r.standard_normal((int(np.prod(dims)), m))
    b = r.standard_normal(m)
    out, _ = affine_forward(x, w, b)
    assert out.shape == (n, m)
    np.testing.assert_allclose(out, x.reshape(n, -1) @ w + b, rtol=1e-12, atol=1e-12)


def test_affine_forward_rejects_bad_shapes():
    x, w, b = np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4)
    with pytest.raises(ValueError, match="affine_forward: w must be 2-D"):
        affine_forward(x, np.zeros(3), b)
    with pytest.raises(ValueError, match="affine_forward: x must have at least 2 dimensions"):
        affine_forward(np.zeros(3), w, b)
    with pytest.raises(ValueError, match="affine_forward: x has 6 features .* but w expects 3"):
        affine_forward(np.zeros((2, 2, 3)), w, b)
    with pytest.raises(ValueError, match="affine_forward: b has shape"):
        affine_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="affine_forward: b must be 1-D"):
        affine_forward(x, w, np.zeros((1, 4)))
    with pytest.raises(TypeError, match="affine_forward: x must be an array"):
        affine_forward([[1.0, 2.0, 3.0]], w, b)


def test_affine_backward_rejects_wrong_dout_shape():
    _, cache = affine_forward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"affine_backward: dout must have shape \(2, 4\)"):
        affine_backward(np.zeros((2, 3)), cache)
