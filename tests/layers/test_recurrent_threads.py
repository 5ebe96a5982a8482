"""The recurrent kernels on two threads (``nnlab.layers._recurrent_pipeline``): outputs, every gradient and trained
CharRNN weights bitwise the same at 1 and 2 threads, on shapes split into several blocks of time steps; the float64
gradients of the pipelined path against numerical ones; a failing stage raises instead of hanging."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.layers import _recurrent_pipeline as pipe
from nnlab.layers.recurrent import (
    lstm_backward_tokens,
    lstm_backward_with_state,
    lstm_forward,
    lstm_forward_tokens,
    rnn_backward,
    rnn_backward_tokens,
    rnn_forward,
    rnn_forward_tokens,
)
from nnlab.threads import set_num_threads
from tests.thread_helpers import assert_same_bits, restore_threads  # noqa: F401 (autouse fixture)


def _at_1_and_2_threads(run):
    """``run()`` (a list of arrays) at 1 and at 2 threads, compared bit for bit."""
    results = []
    for n in (1, 2):
        set_num_threads(n)
        results.append(run())
    for k, (one, two) in enumerate(zip(*results)):
        assert_same_bits(two, one, f"output {k}")


def _numerical(f, x, dout):
    """Float64 centered differences at h and 2h combined by Richardson extrapolation (error O(h^4)), as in
    test_recurrent.py."""
    return (4 * eval_numerical_gradient_array(f, x, dout, h=1e-3)
            - eval_numerical_gradient_array(f, x, dout, h=2e-3)) / 3


def _tokens_problem(cell, V, dtype, N=32, T=40, D=24, H=64, seed=0):
    rng = np.random.default_rng(seed)
    G = 4 if cell == "lstm" else 1
    ids = rng.integers(0, V, size=(N, T))
    W_embed = rng.standard_normal((V, D)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((N, H))).astype(dtype)
    Wx = (rng.standard_normal((D, G * H)) / np.sqrt(D)).astype(dtype)
    Wh = (rng.standard_normal((H, G * H)) / np.sqrt(H)).astype(dtype)
    b = (0.1 * rng.standard_normal(G * H)).astype(dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)
    state = (0.5 * rng.standard_normal((N, H))).astype(dtype)  # c0 / dc_last
    return ids, W_embed, h0, Wx, Wh, b, dh, state


# V = 37: table lookup with one-hot columns in the weight GEMMs; 300: table lookup, per-token sums by sorting;
# 2000 > N*T: the embedding then the LSTM (lstm_forward / lstm_backward_with_state)
@pytest.mark.parametrize("V", [37, 300, 2000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_tokens_outputs_and_gradients_are_bitwise_the_same_at_1_and_2_threads(V, dtype):
    ids, W_embed, h0, Wx, Wh, b, dh, c0 = _tokens_problem("lstm", V, dtype)
    N, T, H = dh.shape
    assert len(pipe.time_blocks(T, N * 4 * H)) >= 3  # several blocks: the pipeline runs
    assert len(pipe.time_blocks(T, N * 4 * H, backward=True)) >= 3

    def run():
        h, cache = lstm_forward_tokens(ids, W_embed, h0, Wx, Wh, b, c0)
        return [h, cache.inner.c, *lstm_backward_tokens(dh, cache, dc_last=c0[::-1].copy())]

    _at_1_and_2_threads(run)


@pytest.mark.parametrize("V", [37, 300, 2000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_tokens_outputs_and_gradients_are_bitwise_the_same_at_1_and_2_threads(V, dtype):
    ids, W_embed, h0, Wx, Wh, b, dh, _ = _tokens_problem("rnn", V, dtype, N=64, H=128, seed=1)
    N, T, H = dh.shape
    assert len(pipe.time_blocks(T, N * H, backward=True)) >= 3

    def run():
        h, cache = rnn_forward_tokens(ids, W_embed, h0, Wx, Wh, b)
        return [h, *rnn_backward_tokens(dh, cache)]

    _at_1_and_2_threads(run)


@pytest.mark.parametrize("T", [1, 2, 3, 5, 9])
def test_many_small_blocks_are_bitwise_the_same_at_1_and_2_threads(monkeypatch, T):
    """One-step blocks (the smallest block size) on short sequences: the spans of the local stage, the mirrored
    backward blocks and the sums over blocks at their edge cases."""
    monkeypatch.setattr(pipe, "_BLOCK_VALUES", 1)
    rng = np.random.default_rng(T)
    N, D, H = 3, 4, 5
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh, dc_last = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    lstm_w = [0.5 * rng.standard_normal(s) for s in ((D, 4 * H), (H, 4 * H), (4 * H,))]
    rnn_w = [0.5 * rng.standard_normal(s) for s in ((D, H), (H, H), (H,))]

    def run():
        h, cache = lstm_forward(x, h0, *lstm_w, c0=c0)
        hr, cache_r = rnn_forward(x, h0, *rnn_w)
        return [h, *lstm_backward_with_state(dh, cache, dc_last), hr, *rnn_backward(dh, cache_r)]

    _at_1_and_2_threads(run)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_char_rnn_trained_weights_are_bitwise_the_same_at_1_and_2_threads(cell):
    from nnlab.models.char_rnn import CharRNN
    from nnlab.optim import rmsprop

    rng = np.random.default_rng(3)
    V, N, T = 37, 64 if cell == "rnn" else 32, 40
    X, y = rng.integers(0, V, size=(N, T)), rng.integers(0, V, size=N)

    def run():
        model = CharRNN(V, 24, 128 if cell == "rnn" else 64, cell=cell, seed=0, dtype=np.float32)
        configs = {k: {"learning_rate": 1e-2} for k in model.params}
        losses = []
        for _ in range(3):
            loss, grads = model.loss(X, y)
            losses.append(loss)
            for k in list(model.params):
                model.params[k], configs[k] = rmsprop(model.params[k], grads[k], configs[k])
        return [np.array(losses), *(model.params[k] for k in sorted(model.params))]

    _at_1_and_2_threads(run)


@pytest.mark.parametrize("threads", [1, 2])
def test_pipelined_lstm_and_rnn_gradients_match_numerical_ones_in_float64(monkeypatch, threads):
    monkeypatch.setattr(pipe, "_BLOCK_VALUES", 1)  # one-step blocks: every stage and hand-off runs
    set_num_threads(threads)
    rng = np.random.default_rng(11)
    N, T, D, H = 2, 6, 3, 4
    x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh, dc_last = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    Wx, Wh, b = 0.4 * rng.standard_normal((D, 4 * H)), 0.4 * rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)

    def lstm_out(x, h0, c0, Wx, Wh, b):  # h and the final cell state, weighted by dh and dc_last below
        h, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
        return np.concatenate([h.ravel(), cache.c[:, -1].ravel()])

    inputs = (x, h0, c0, Wx, Wh, b)
    _, cache = lstm_forward(x, h0, Wx, Wh, b, c0=c0)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward_with_state(dh, cache, dc_last)
    dout = np.concatenate([dh.ravel(), dc_last.ravel()])
    for name, arr, grad in zip(("x", "h0", "c0", "Wx", "Wh", "b"), inputs, (dx, dh0, dc0, dWx, dWh, db)):
        num = _numerical(lambda _: lstm_out(*inputs), arr, dout)
        assert rel_error(grad, num) < 1e-7, name

    Wx, Wh, b = 0.4 * rng.standard_normal((D, H)), 0.4 * rng.standard_normal((H, H)), rng.standard_normal(H)
    inputs = (x, h0, Wx, Wh, b)
    _, cache = rnn_forward(*inputs)
    for name, arr, grad in zip(("x", "h0", "Wx", "Wh", "b"), inputs, rnn_backward(dh, cache)):
        num = _numerical(lambda _: rnn_forward(*inputs)[0], arr, dh)
        assert rel_error(grad, num) < 1e-7, name


def test_a_failing_stage_raises_on_two_threads_instead_of_hanging():
    set_num_threads(2)
    blocks = [(3, 4), (2, 3), (1, 2), (0, 1)]
    seen = []

    def recurrence(t0, t1):
        if t0 == 1:
            raise RuntimeError("stage failed")

    with pytest.raises(RuntimeError, match="stage failed"):
        pipe.pipeline([lambda t0, t1: None, recurrence, lambda t0, t1: seen.append(t0)], blocks, np)
    assert seen == [3, 2][: len(seen)]  # the stage behind stopped at the failed block
