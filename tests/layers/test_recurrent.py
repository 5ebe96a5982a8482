"""Recurrent kernels: float64 numerical gradient checks of every gradient, step/sequence consistency, saturating
gates without overflow, dtype preservation, the embedding accumulation paths, converters and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnlab.layers.losses import temporal_softmax_loss
from nnlab.layers.recurrent import (
    lstm_backward,
    lstm_backward_with_state,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    word_embedding_backward,
    word_embedding_forward,
)
from nnlab.layers.torch_convert import (
    lstm_weights_from_torch,
    lstm_weights_to_torch,
    rnn_weights_from_torch,
    rnn_weights_to_torch,
)

# (N, T, D, H): batch 1, a single step, odd sizes, H larger and smaller than D
SHAPES = [(1, 1, 2, 3), (1, 4, 3, 5), (3, 5, 4, 6), (2, 7, 5, 3)]
TOL = 1e-7


def _params(rng, D, H, gates):
    return (0.4 * rng.standard_normal((D, gates * H)), 0.4 * rng.standard_normal((H, gates * H)),
            0.2 * rng.standard_normal(gates * H))


def _numerical_grad_array(f, x, df):
    """Float64 centered differences of ``sum(f(x) * df)`` at steps h and 2h combined by Richardson
    extrapolation, ``(4 g(h) - g(2h)) / 3``, whose error is O(h^4): with h = 1e-3 both the truncation and the
    rounding error stay near 1e-12, whereas a single centered difference at h = 1e-5 leaves ~1e-11 of rounding
    noise that exceeds rel_error 1e-7 on the occasional tiny gradient entry (~1e-5) of a saturated gate."""
    return (4 * eval_numerical_gradient_array(f, x, df, h=1e-3)
            - eval_numerical_gradient_array(f, x, df, h=2e-3)) / 3


def _numerical_grad(f, x):
    """Scalar-function version of :func:`_numerical_grad_array`."""
    return (4 * eval_numerical_gradient(f, x, verbose=False, h=1e-3)
            - eval_numerical_gradient(f, x, verbose=False, h=2e-3)) / 3


def _check_grads(forward, inputs, grads, dout):
    """Compare each analytic gradient with the numerical one of ``sum(forward(*inputs) * dout)``."""
    for k, (x, g) in enumerate(zip(inputs, grads)):
        num = _numerical_grad_array(lambda _: forward(*inputs), x, dout)
        err = rel_error(g, num)
        assert err < TOL, f"input {k}: rel_error {err:.2e}"


# ------------------------------------------------------------------------------------------------ RNN

@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_rnn_step_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, prev_h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 1)
    dnext = rng.standard_normal((N, H))
    _, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)
    grads = rnn_step_backward(dnext, cache)
    _check_grads(lambda *a: rnn_step_forward(*a)[0], (x, prev_h, Wx, Wh, b), grads, dnext)


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_rnn_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 1)
    dh = rng.standard_normal((N, T, H))
    _, cache = rnn_forward(x, h0, Wx, Wh, b)
    grads = rnn_backward(dh, cache)
    _check_grads(lambda *a: rnn_forward(*a)[0], (x, h0, Wx, Wh, b), grads, dh)


def test_rnn_forward_equals_chained_steps(rng):
    N, T, D, H = 3, 6, 4, 5
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 1)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    prev = h0
    for t in range(T):
        prev, _ = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-13, atol=1e-14)
    # the closed form of the first step
    np.testing.assert_allclose(h[:, 0], np.tanh(x[:, 0] @ Wx + h0 @ Wh + b), rtol=1e-13)


# ------------------------------------------------------------------------------------------------ LSTM

@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_lstm_step_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, prev_h, prev_c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    dnext_h, dnext_c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    _, _, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    grads = lstm_step_backward(dnext_h, dnext_c, cache)

    def both_states(*inputs):  # (next_h, next_c) stacked, so one upstream gradient covers both
        next_h, next_c, _ = lstm_step_forward(*inputs)
        return np.stack([next_h, next_c])

    _check_grads(both_states, (x, prev_h, prev_c, Wx, Wh, b), grads, np.stack([dnext_h, dnext_c]))


@pytest.mark.parametrize("N,T,D,H", SHAPES)
def test_lstm_backward_matches_numerical_gradients(rng, N, T, D, H):
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    dh = rng.standard_normal((N, T, H))
    _, cache = lstm_forward(x, h0, Wx, Wh, b)
    grads = lstm_backward(dh, cache)
    _check_grads(lambda *a: lstm_forward(*a)[0], (x, h0, Wx, Wh, b), grads, dh)


@pytest.mark.parametrize("N,T,D,H", SHAPES[1:3])
def test_lstm_backward_with_state_gives_c0_gradient_and_takes_final_cell_gradient(rng, N, T, D, H):
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    dh, dc_last = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    _, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    grads = lstm_backward_with_state(dh, cache, dc_last=dc_last)

    def states_and_final_cell(x, h0, c0, Wx, Wh, b):
        h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
        return np.concatenate([h.ravel(), cache.c[:, -1].ravel()])

    _check_grads(states_and_final_cell, (x, h0, c0, Wx, Wh, b), grads,
                 np.concatenate([dh.ravel(), dc_last.ravel()]))


def test_lstm_forward_and_backward_equal_chained_steps(rng):
    N, T, D, H = 2, 5, 3, 4
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    prev_h, prev_c, caches = h0, c0, []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        caches.append(step_cache)
        np.testing.assert_allclose(h[:, t], prev_h, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(cache.c[:, t], prev_c, rtol=1e-13, atol=1e-14)
    dh = rng.standard_normal((N, T, H))
    dx, dh0, dc0, dWx, dWh, db = lstm_backward_with_state(dh, cache)
    dnext_h, dnext_c = np.zeros((N, H)), np.zeros((N, H))
    sums = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
    for t in range(T - 1, -1, -1):
        dx_t, dnext_h, dnext_c, *dparams = lstm_step_backward(dh[:, t] + dnext_h, dnext_c, caches[t])
        np.testing.assert_allclose(dx[:, t], dx_t, rtol=1e-12, atol=1e-13)
        sums = [s + d for s, d in zip(sums, dparams)]
    for ours, chained in zip((dh0, dc0, dWx, dWh, db), (dnext_h, dnext_c, *sums)):
        np.testing.assert_allclose(ours, chained, rtol=1e-12, atol=1e-13)


def test_lstm_step_forward_matches_gate_formulas_in_ifog_order(rng):
    N, D, H = 2, 3, 4
    x, prev_h, prev_c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    a = x @ Wx + prev_h @ Wh + b
    sig = 1 / (1 + np.exp(-a))
    i, f, o, g = sig[:, :H], sig[:, H : 2 * H], sig[:, 2 * H : 3 * H], np.tanh(a[:, 3 * H :])
    next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    np.testing.assert_allclose(next_c, f * prev_c + i * g, rtol=1e-13)
    np.testing.assert_allclose(next_h, o * np.tanh(f * prev_c + i * g), rtol=1e-13)


def test_lstm_saturated_gates_give_exact_limits_without_overflow_warnings():
    # |pre-activation| ~ 1e3: sigmoid must be exactly 0 or 1 and emit no overflow warning
    N, T, D, H = 2, 3, 1, 2
    x = np.full((N, T, D), 1000.0)
    h0, c0 = np.zeros((N, H)), np.full((N, H), 0.5)
    Wx, Wh, b = np.ones((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h_pos, cache_pos = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
        h_neg, cache_neg = lstm_forward(-x, h0, Wx, Wh, b, c0=c0)
        lstm_backward(np.ones_like(h_pos), cache_pos)
    # all gates 1, g = 1: c_t = c_{t-1} + 1 -> 1.5, 2.5, 3.5 and h = tanh(c)
    np.testing.assert_allclose(cache_pos.c[0, :, 0], [1.5, 2.5, 3.5], rtol=1e-15)
    np.testing.assert_allclose(h_pos[0, :, 0], np.tanh([1.5, 2.5, 3.5]), rtol=1e-15)
    # all sigmoid gates 0: the cell is wiped and h is exactly 0
    assert np.all(cache_neg.c == 0) and np.all(h_neg == 0)


def test_rnn_and_lstm_keep_float32(rng):
    N, T, D, H = 2, 3, 4, 5
    f32 = np.float32
    x, h0 = rng.standard_normal((N, T, D)).astype(f32), rng.standard_normal((N, H)).astype(f32)
    for gates, fwd, bwd in [(1, rnn_forward, rnn_backward), (4, lstm_forward, lstm_backward)]:
        Wx, Wh, b = (p.astype(f32) for p in _params(rng, D, H, gates))
        h, cache = fwd(x, h0, Wx, Wh, b)
        assert h.dtype == f32
        assert all(g.dtype == f32 for g in bwd(np.ones_like(h), cache))


def test_lstm_initial_cell_defaults_to_zeros(rng):
    N, T, D, H = 2, 3, 4, 5
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    Wx, Wh, b = _params(rng, D, H, 4)
    h_default, _ = lstm_forward(x, h0, Wx, Wh, b)
    h_zero, _ = lstm_forward(x, h0, Wx, Wh, b, c0=np.zeros((N, H)))
    np.testing.assert_array_equal(h_default, h_zero)


# ------------------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("V", [7, 300])  # one-hot GEMM path and sort + reduceat path
def test_word_embedding_backward_sums_repeated_ids_like_add_at(rng, V):
    N, T, D = 4, 9, 5
    x = rng.integers(0, V, size=(N, T))
    x[0, :3] = 2  # repeats
    W = rng.standard_normal((V, D))
    out, cache = word_embedding_forward(x, W)
    np.testing.assert_array_equal(out, W[x])
    dout = rng.standard_normal((N, T, D))
    expected = np.zeros_like(W)
    np.add.at(expected, x, dout)
    np.testing.assert_allclose(word_embedding_backward(dout, cache), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("V", [6, 150])
def test_word_embedding_backward_matches_numerical_gradient(rng, V):
    x = rng.integers(0, V, size=(3, 4))
    W = rng.standard_normal((V, 3))
    dout = rng.standard_normal((3, 4, 3))
    _, cache = word_embedding_forward(x, W)
    num = _numerical_grad_array(lambda _: word_embedding_forward(x, W)[0], W, dout)
    assert rel_error(word_embedding_backward(dout, cache), num) < TOL


def test_word_embedding_keeps_float32_for_both_paths(rng):
    for V in (5, 200):
        W = rng.standard_normal((V, 3)).astype(np.float32)
        out, cache = word_embedding_forward(np.array([[0, V - 1]]), W)
        assert out.dtype == np.float32
        assert word_embedding_backward(np.ones_like(out), cache).dtype == np.float32


# -------------------------------------------------------------------------- temporal affine / loss

def test_temporal_affine_backward_matches_numerical_gradients(rng):
    N, T, D, M = 2, 3, 4, 5
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    dout = rng.standard_normal((N, T, M))
    out, cache = temporal_affine_forward(x, w, b)
    np.testing.assert_allclose(out, np.einsum("ntd,dm->ntm", x, w) + b, rtol=1e-13)
    _check_grads(lambda *a: temporal_affine_forward(*a)[0], (x, w, b), temporal_affine_backward(dout, cache), dout)


def test_temporal_softmax_loss_uniform_scores_give_masked_count_log_v_over_n():
    N, T, V = 2, 3, 4
    y = np.array([[0, 1, 2], [3, 0, 1]])
    mask = np.array([[True, True, False], [True, False, False]])
    loss, dx = temporal_softmax_loss(np.zeros((N, T, V)), y, mask)
    assert loss == pytest.approx(3 * np.log(4) / 2, rel=1e-14)  # 3 unmasked steps, divided by N = 2
    assert np.all(dx[~mask] == 0)
    np.testing.assert_allclose(dx[0, 0], np.array([0.25 - 1, 0.25, 0.25, 0.25]) / N, rtol=1e-14)
    loss_all, _ = temporal_softmax_loss(np.zeros((N, T, V)), y)
    assert loss_all == pytest.approx(6 * np.log(4) / 2, rel=1e-14)


def test_temporal_softmax_loss_gradient_matches_numerical(rng):
    N, T, V = 3, 4, 6
    x = rng.standard_normal((N, T, V))
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) > 0.3
    _, dx = temporal_softmax_loss(x, y, mask)
    num = _numerical_grad(lambda _: temporal_softmax_loss(x, y, mask)[0], x)
    assert rel_error(dx, num) < TOL


def test_temporal_softmax_loss_is_stable_for_huge_scores():
    x = np.array([[[1000.0, 0.0, -1000.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dx = temporal_softmax_loss(x, np.array([[1]]))
    assert loss == pytest.approx(1000.0, rel=1e-14)
    np.testing.assert_allclose(dx[0, 0], [1.0, -1.0, 0.0], atol=1e-300)


# ------------------------------------------------------------------------------------ converters

def test_lstm_converter_reorders_gates_to_torch_ifgo_and_round_trips(rng):
    D, H = 3, 2
    Wx, Wh, b = _params(rng, D, H, 4)
    sd = lstm_weights_to_torch(Wx, Wh, b)
    assert sd["weight_ih_l0"].shape == (4 * H, D) and sd["weight_hh_l0"].shape == (4 * H, H)
    # torch block 2 is g (our block 3) and torch block 3 is o (our block 2)
    np.testing.assert_array_equal(sd["weight_ih_l0"][2 * H : 3 * H], Wx[:, 3 * H :].T)
    np.testing.assert_array_equal(sd["weight_hh_l0"][3 * H :], Wh[:, 2 * H : 3 * H].T)
    np.testing.assert_array_equal(sd["bias_ih_l0"][:2 * H], b[:2 * H])
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.zeros(4 * H))
    back = lstm_weights_from_torch(sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"])
    for ours, again in zip((Wx, Wh, b), back):
        np.testing.assert_array_equal(ours, again)


def test_rnn_converter_transposes_and_sums_biases(rng):
    D, H = 3, 4
    w_ih, w_hh = rng.standard_normal((H, D)), rng.standard_normal((H, H))
    b_ih, b_hh = rng.standard_normal(H), rng.standard_normal(H)
    Wx, Wh, b = rnn_weights_from_torch(w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_array_equal(Wx, w_ih.T)
    np.testing.assert_array_equal(Wh, w_hh.T)
    np.testing.assert_array_equal(b, b_ih + b_hh)
    sd = rnn_weights_to_torch(Wx, Wh, b)
    np.testing.assert_array_equal(sd["weight_ih_l0"], w_ih)
    np.testing.assert_array_equal(sd["bias_ih_l0"] + sd["bias_hh_l0"], b_ih + b_hh)


# ------------------------------------------------------------------------------------- bad input

def _lstm_args(rng, N=2, T=3, D=4, H=5):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), *_params(rng, D, H, 4))


def test_word_embedding_rejects_out_of_range_and_non_integer_ids(rng):
    W = rng.standard_normal((5, 3))
    with pytest.raises(ValueError, match=r"word_embedding_forward: x must hold token ids in \[0, 5\).*to 5"):
        word_embedding_forward(np.array([[0, 5]]), W)
    with pytest.raises(ValueError, match=r"x must hold token ids in \[0, 5\).*from -1"):
        word_embedding_forward(np.array([[-1, 2]]), W)
    with pytest.raises(TypeError, match="word_embedding_forward: x must hold integer token ids"):
        word_embedding_forward(np.array([[0.0, 1.0]]), W)
    with pytest.raises(ValueError, match=r"W must be 2-D \(V, D\)"):
        word_embedding_forward(np.array([[0]]), np.ones(5))


def test_rnn_and_lstm_reject_wrong_ranks_and_mismatched_sizes(rng):
    x, h0, Wx, Wh, b = _lstm_args(rng)
    with pytest.raises(ValueError, match=r"lstm_forward: x must be 3-D \(N, T, D\)"):
        lstm_forward(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm_forward: Wh must have shape \(H, 4H\) = \(5, 20\)"):
        lstm_forward(x, h0, Wx, Wh[:4, :16], b)
    with pytest.raises(ValueError, match=r"lstm_forward: Wx must have shape \(D, 4H\) = \(4, 20\)"):
        lstm_forward(x, h0, Wx[:3], Wh, b)
    with pytest.raises(ValueError, match=r"lstm_forward: b must have shape \(4H,\)"):
        lstm_forward(x, h0, Wx, Wh, b[:5])
    with pytest.raises(ValueError, match="lstm_forward: x has batch size 2 but h0 has batch size 1"):
        lstm_forward(x, h0[:1], Wx, Wh, b)
    with pytest.raises(ValueError, match="lstm_forward: c0 must have the shape of h0"):
        lstm_forward(x, h0, Wx, Wh, b, c0=h0[:, :2])
    with pytest.raises(ValueError, match=r"rnn_forward: Wh must have shape \(H, H\) = \(5, 5\)"):
        rnn_forward(x, h0, Wx[:, :5], Wh[:, :4], b[:5])
    with pytest.raises(ValueError, match=r"rnn_step_forward: prev_h must be 2-D \(N, H\)"):
        rnn_step_forward(x[:, 0], h0[0], Wx[:, :5], Wh[:, :5], b[:5])
    with pytest.raises(ValueError, match=r"rnn_forward: x must hold at least one time step, got shape \(2, 0, 4\)"):
        rnn_forward(x[:, :0], h0, Wx[:, :5], Wh[:, :5], b[:5])
    with pytest.raises(ValueError, match=r"lstm_step_forward: prev_c must have the shape of prev_h"):
        lstm_step_forward(x[:, 0], h0, h0[:1], Wx, Wh, b)


def test_recurrent_kernels_reject_mixed_dtypes_and_bad_upstream_gradients(rng):
    x, h0, Wx, Wh, b = _lstm_args(rng)
    with pytest.raises(TypeError, match="lstm_forward: Wx has dtype float32 but x has dtype float64"):
        lstm_forward(x, h0, Wx.astype(np.float32), Wh, b)
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm_backward: dh must have shape \(2, 3, 5\)"):
        lstm_backward(h[:, :2], cache)
    with pytest.raises(ValueError, match=r"lstm_backward: dc_last must have shape \(2, 5\)"):
        lstm_backward_with_state(h, cache, dc_last=h[:, 0, :2])
    hr, cache_r = rnn_forward(x, h0, Wx[:, :5], Wh[:, :5], b[:5])
    with pytest.raises(TypeError, match="rnn_backward: dh has dtype float32"):
        rnn_backward(hr.astype(np.float32), cache_r)


def test_temporal_loss_and_affine_reject_bad_shapes_and_labels(rng):
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match=r"temporal_softmax_loss: y must be in \[0, 4\), got values from 0 to 4"):
        temporal_softmax_loss(x, np.array([[0, 1, 4], [0, 0, 0]]))
    with pytest.raises(ValueError, match=r"temporal_softmax_loss: y must have shape \(N, T\) = \(2, 3\)"):
        temporal_softmax_loss(x, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match=r"temporal_softmax_loss: mask must have shape \(N, T\)"):
        temporal_softmax_loss(x, np.zeros((2, 3), dtype=int), np.ones((3, 2), dtype=bool))
    with pytest.raises(TypeError, match="temporal_softmax_loss: y must hold integer class labels"):
        temporal_softmax_loss(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"temporal_affine_forward: w must have shape \(D, M\) with D = 4"):
        temporal_affine_forward(x, rng.standard_normal((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"temporal_affine_forward: x must be 3-D \(N, T, D\)"):
        temporal_affine_forward(x[0], rng.standard_normal((4, 2)), np.zeros(2))


def test_converters_reject_inconsistent_shapes(rng):
    with pytest.raises(ValueError, match=r"lstm_weights_to_torch: expected Wx \(D, 4H\), Wh \(H, 4H\)"):
        lstm_weights_to_torch(np.ones((3, 8)), np.ones((2, 6)), np.ones(8))
    with pytest.raises(ValueError, match=r"lstm_weights_from_torch: bias_ih and bias_hh must be \(4H,\)"):
        lstm_weights_from_torch(np.ones((8, 3)), np.ones((8, 2)), np.ones(8), np.ones(6))
    with pytest.raises(ValueError, match="rnn_weights_from_torch: weight_hh must be"):
        rnn_weights_from_torch(np.ones((4, 3)), np.ones((3, 3)), np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="rnn_weights_to_torch: Wh must be"):
        rnn_weights_to_torch(np.ones((3, 4)), np.ones((4, 3)), np.ones(4))


# ------------------------------------------------------------------ LSTM over embedded tokens (table lookup)


@pytest.mark.parametrize("V, with_state", [(5, False), (5, True), (40, True)])  # N*T = 12: V = 40 composes
def test_lstm_tokens_equal_embedding_then_lstm(V, with_state):
    from nnlab.layers.recurrent import lstm_backward_tokens, lstm_forward_tokens

    rng = np.random.default_rng(7)
    N, T, D, H = 3, 4, 6, 5
    ids = rng.integers(0, V, size=(N, T))
    ids[0, :2] = 1  # a repeated id: its gradients add up
    W_embed = rng.standard_normal((V, D))
    h0 = rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    c0 = rng.standard_normal((N, H)) if with_state else None
    dh = rng.standard_normal((N, T, H))
    dc_last = rng.standard_normal((N, H)) if with_state else None

    x, emb_cache = word_embedding_forward(ids, W_embed)
    h_ref, cache_ref = lstm_forward(x, h0, Wx, Wh, b, c0)
    dx, *grads_ref = lstm_backward_with_state(dh, cache_ref, dc_last)
    grads_ref = [word_embedding_backward(dx, emb_cache), *grads_ref]

    h, cache = lstm_forward_tokens(ids, W_embed, h0, Wx, Wh, b, c0)
    assert (cache.inner.x is None) == (V <= N * T)  # the table path where the vocabulary is the smaller
    assert rel_error(h, h_ref) < 1e-12
    np.testing.assert_allclose(cache.inner.c[:, -1], cache_ref.c[:, -1], rtol=1e-12, atol=1e-14)
    grads = lstm_backward_tokens(dh, cache, dc_last)
    names = ("dW_embed", "dh0", "dc0", "dWx", "dWh", "db")
    for name, ours, ref in zip(names, grads, grads_ref):
        assert ours.shape == ref.shape and ours.dtype == np.float64, name
        assert np.abs(ours - ref).max() <= 1e-12 * max(np.abs(ref).max(), 1.0), name


def test_lstm_tokens_float32_keeps_dtype_and_rejects_bad_ids():
    from nnlab.layers.recurrent import lstm_backward_tokens, lstm_forward_tokens

    rng = np.random.default_rng(1)
    W_embed = rng.standard_normal((4, 3)).astype(np.float32)
    h0 = np.zeros((2, 2), np.float32)
    Wx, Wh, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 8), (2, 8), (8,)))
    ids = np.array([[0, 3, 3], [1, 2, 0]])
    h, cache = lstm_forward_tokens(ids, W_embed, h0, Wx, Wh, b)
    assert h.dtype == np.float32 and cache.inner.x is None
    assert all(g.dtype == np.float32 for g in lstm_backward_tokens(np.ones_like(h), cache))
    with pytest.raises(TypeError, match="lstm_forward_tokens: ids must hold integer token ids"):
        lstm_forward_tokens(ids.astype(np.float32), W_embed, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm_forward_tokens: ids must hold token ids in \[0, 4\)"):
        lstm_forward_tokens(ids + 1, W_embed, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match="lstm_forward_tokens: Wx must have shape"):
        lstm_forward_tokens(ids, W_embed, h0, Wx[:2], Wh, b)
    with pytest.raises(TypeError, match="lstm_forward_tokens: h0 has dtype float64"):
        lstm_forward_tokens(ids, W_embed, h0.astype(np.float64), Wx, Wh, b)


@pytest.mark.parametrize("V", [5, 40])  # N*T = 12: V = 40 composes
def test_rnn_tokens_equal_embedding_then_rnn(V):
    from nnlab.layers.recurrent import rnn_backward_tokens, rnn_forward_tokens

    rng = np.random.default_rng(8)
    N, T, D, H = 3, 4, 6, 5
    ids = rng.integers(0, V, size=(N, T))
    ids[1, 1:] = 2  # repeated ids
    W_embed, h0 = rng.standard_normal((V, D)), rng.standard_normal((N, H))
    Wx, Wh, b = rng.standard_normal((D, H)) * 0.5, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H)
    dh = rng.standard_normal((N, T, H))
    x, emb_cache = word_embedding_forward(ids, W_embed)
    h_ref, cache_ref = rnn_forward(x, h0, Wx, Wh, b)
    dx, *grads_ref = rnn_backward(dh, cache_ref)
    grads_ref = [word_embedding_backward(dx, emb_cache), *grads_ref]
    h, cache = rnn_forward_tokens(ids, W_embed, h0, Wx, Wh, b)
    assert (cache.inner[0] is None) == (V <= N * T)
    assert rel_error(h, h_ref) < 1e-12
    for name, ours, ref in zip(("dW_embed", "dh0", "dWx", "dWh", "db"), rnn_backward_tokens(dh, cache), grads_ref):
        assert ours.shape == ref.shape and ours.dtype == np.float64, name
        assert np.abs(ours - ref).max() <= 1e-12 * max(np.abs(ref).max(), 1.0), name
    with pytest.raises(ValueError, match=r"rnn_forward_tokens: ids must hold token ids in \[0, "):
        rnn_forward_tokens(ids + V, W_embed, h0, Wx, Wh, b)
