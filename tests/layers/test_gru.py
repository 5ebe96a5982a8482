"""GRU kernels: float64 numerical gradient checks of every gradient (odd sizes, batch 1, one step), the closed
form of one step, sequence = chained steps, saturating gates without overflow, dtype kept, converters and bad
input naming the argument."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from nnlab.layers.torch_convert import gru_weights_from_torch, gru_weights_to_torch

# (N, T, D, H): batch 1, a single step, odd sizes, H larger and smaller than D
SHAPES = [(1, 1, 2, 3), (1, 4, 3, 5), (3, 5, 4, 6), (2, 7, 5, 3)]
TOL = 1e-7


def _params(rng, D, H):
    return (0.4 * rng.standard_normal((D, 3 * H)), 0.4 * rng.standard_normal((H, 3 * H)),
            0.2 * rng.standard_normal(3 * H), 0.2 * rng.standard_normal(3 * H))


def _numerical_grad_array(f, x, df):
    """Centered differences at h and 2h combined by Richardson extrapolation (O(h^4) error), as in
    tests/layers/test_recurrent.py."""
    return (4 * eval_numerical_gradient_array(f, x, df, h=1e-3)
            - eval_numerical_gradient_array(f, x, df, h=2e-3)) / 3


def _check_grads(forward, inputs, grads, dout):
    names = ["x", "h", "Wx", "Wh", "bx", "bh"]
    for name, x, g in zip(names, inputs, grads):
        num = _numerical_grad_array(lambda _: forward(*inputs), x, dout)
        err = rel_error(g, num)
        assert err < TOL, f"d{name}: rel_error {err:.2e}"


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_gru_step_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, prev_h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    params = _params(rng, D, H)
    dnext = rng.standard_normal((N, H))
    _, cache = gru_step_forward(x, prev_h, *params)
    grads = gru_step_backward(dnext, cache)
    _check_grads(lambda *a: gru_step_forward(*a)[0], (x, prev_h, *params), grads, dnext)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_gru_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    params = _params(rng, D, H)
    dh = rng.standard_normal((N, T, H))
    _, cache = gru_forward(x, h0, *params)
    grads = gru_backward(dh, cache)
    _check_grads(lambda *a: gru_forward(*a)[0], (x, h0, *params), grads, dh)


def test_gru_step_forward_matches_the_closed_form(rng):
    N, D, H = 3, 4, 5
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    Wx, Wh, bx, bh = _params(rng, D, H)
    gx, gh = x @ Wx + bx, h @ Wh + bh
    r = _sigmoid(gx[:, :H] + gh[:, :H])
    z = _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    expected = (1 - z) * n + z * h
    out, _ = gru_step_forward(x, h, Wx, Wh, bx, bh)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


def test_gru_forward_equals_chained_steps_and_backward_equals_chained_step_backwards(rng):
    N, T, D, H = 3, 6, 4, 5
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    params = _params(rng, D, H)
    h, cache = gru_forward(x, h0, *params)
    prev, caches = h0, []
    for t in range(T):
        prev, c = gru_step_forward(x[:, t], prev, *params)
        caches.append(c)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-13, atol=1e-14)
    dh = rng.standard_normal((N, T, H))
    dx, dh0, *dparams = gru_backward(dh, cache)
    dnext, total = np.zeros((N, H)), [np.zeros_like(p) for p in params]
    for t in range(T - 1, -1, -1):
        dx_t, dnext, *dp = gru_step_backward(dh[:, t] + dnext, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-12, atol=1e-14)
        total = [a + b for a, b in zip(total, dp)]
    np.testing.assert_allclose(dh0, dnext, rtol=1e-12, atol=1e-14)
    for a, b in zip(dparams, total):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_gru_saturating_gates_stay_finite_without_warnings(rng):
    N, T, D, H = 2, 3, 3, 4
    x = 1e3 * rng.standard_normal((N, T, D))
    params = _params(rng, D, H)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h, cache = gru_forward(x, np.zeros((N, H)), *params)
        grads = gru_backward(np.ones((N, T, H)), cache)
    assert np.isfinite(h).all() and all(np.isfinite(g).all() for g in grads)
    assert np.abs(h).max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_kernels_keep_the_dtype(rng, dtype):
    N, T, D, H = 2, 3, 4, 5
    x, h0 = rng.standard_normal((N, T, D)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    params = [p.astype(dtype) for p in _params(rng, D, H)]
    h, cache = gru_forward(x, h0, *params)
    grads = gru_backward(np.ones_like(h), cache)
    assert h.dtype == dtype and all(g.dtype == dtype for g in grads)
    nh, c = gru_step_forward(x[:, 0], h0, *params)
    assert nh.dtype == dtype and all(g.dtype == dtype for g in gru_step_backward(np.ones_like(nh), c))


def test_gru_converters_round_trip(rng):
    D, H = 4, 3
    Wx, Wh, bx, bh = _params(rng, D, H)
    sd = gru_weights_to_torch(Wx, Wh, bx, bh)
    assert sd["weight_ih_l0"].shape == (3 * H, D) and sd["weight_hh_l0"].shape == (3 * H, H)
    assert sd["weight_ih_l0"].flags.c_contiguous
    back = gru_weights_from_torch(sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"])
    for a, b in zip(back, (Wx, Wh, bx, bh)):
        np.testing.assert_array_equal(a, b)


def test_gru_bad_input_names_the_argument(rng):
    N, T, D, H = 2, 3, 4, 5
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, bx, bh = _params(rng, D, H)
    with pytest.raises(ValueError, match=r"gru_forward: Wx must have shape \(D, 3H\) = \(4, 15\)"):
        gru_forward(x, h0, Wx[:3], Wh, bx, bh)
    with pytest.raises(ValueError, match=r"gru_forward: Wh must have shape \(H, 3H\) = \(5, 15\)"):
        gru_forward(x, h0, Wx, Wh[:, :12], bx, bh)
    with pytest.raises(ValueError, match=r"gru_forward: bh must have shape \(3H,\) = \(15,\)"):
        gru_forward(x, h0, Wx, Wh, bx, bh[:4])
    with pytest.raises(ValueError, match="gru_forward: x has batch size 2 but h0 has batch size 3"):
        gru_forward(x, np.zeros((3, H)), Wx, Wh, bx, bh)
    with pytest.raises(ValueError, match=r"gru_forward: x must be 3-D \(N, T, D\)"):
        gru_forward(x[0], h0, Wx, Wh, bx, bh)
    with pytest.raises(ValueError, match="gru_forward: x must hold at least one time step"):
        gru_forward(x[:, :0], h0, Wx, Wh, bx, bh)
    with pytest.raises(TypeError, match="gru_step_forward: Wh has dtype float32 but x has dtype float64"):
        gru_step_forward(x[:, 0], h0, Wx, Wh.astype(np.float32), bx, bh)
    with pytest.raises(ValueError, match=r"gru_step_forward: prev_h must be 2-D \(N, H\)"):
        gru_step_forward(x[:, 0], h0[0], Wx, Wh, bx, bh)
    _, cache = gru_forward(x, h0, Wx, Wh, bx, bh)
    with pytest.raises(ValueError, match=r"gru_backward: dh must have shape \(2, 3, 5\)"):
        gru_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(TypeError, match="gru_backward: dh has dtype float32 but the forward pass ran in float64"):
        gru_backward(np.ones((2, 3, 5), np.float32), cache)
    with pytest.raises(ValueError, match=r"gru_weights_from_torch: bias_ih and bias_hh must be \(3H,\)"):
        gru_weights_from_torch(Wx.T, Wh.T, bx, bh[:3])
    with pytest.raises(ValueError, match=r"gru_weights_to_torch: expected Wx \(D, 3H\), Wh \(H, 3H\)"):
        gru_weights_to_torch(Wx, Wh[:, :9], bx, bh)
