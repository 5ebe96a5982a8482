"""nnlab.nn.Embedding/RNN/LSTM: shapes and torch-named parameters, float64 numerical gradient checks of every
parameter and state, dtype kept, save/load, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.nn import LSTM, RNN, Embedding


def _loss_and_grads(module, x, state, dout, d_final):
    """Forward, then backward with upstream gradients for the sequence and the final state(s)."""
    out, final = module(x, state)
    finals = final if isinstance(final, tuple) else (final,)
    dx = module.backward(dout, *d_final)
    value = float((out * dout).sum() + sum((f * d).sum() for f, d in zip(finals, d_final)))
    return value, dx


@pytest.mark.parametrize("cls", [RNN, LSTM])
@pytest.mark.parametrize("shape", [(1, 1, 2, 3), (2, 4, 3, 5)])
def test_recurrent_module_float64_gradient_check(cls, shape, rng):
    N, T, D, H = shape
    module = cls(D, H, seed=0, dtype=np.float64)
    x = rng.standard_normal((N, T, D))
    n_states = 2 if cls is LSTM else 1
    states = [rng.standard_normal((1, N, H)) for _ in range(n_states)]
    state = tuple(states) if cls is LSTM else states[0]
    dout = rng.standard_normal((N, T, H))
    d_final = [rng.standard_normal((1, N, H)) for _ in range(n_states)]
    _, dx = _loss_and_grads(module, x, state, dout, d_final)
    grads, state_grads = dict(module.grads), module.state_grads

    def f(_):
        return _loss_and_grads(module, x, tuple(states) if cls is LSTM else states[0], dout, d_final)[0]

    one = np.ones(1)
    assert rel_error(eval_numerical_gradient_array(lambda _: np.array([f(None)]), x, one), dx) < 1e-7
    for name, p in module.named_parameters():
        num = eval_numerical_gradient_array(lambda _: np.array([f(None)]), p, one)
        assert rel_error(num, grads[name]) < 1e-7, name
    for s, ds in zip(states, state_grads):
        assert rel_error(eval_numerical_gradient_array(lambda _: np.array([f(None)]), s, one), ds) < 1e-7


def test_lstm_module_shapes_names_and_float32(rng):
    lstm = LSTM(6, 4, seed=0)
    assert [n for n, _ in lstm.named_parameters()] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert lstm.weight_ih_l0.shape == (16, 6) and lstm.weight_hh_l0.shape == (16, 4)
    assert np.abs(lstm.weight_hh_l0).max() <= 0.5  # U(-1/sqrt(H), 1/sqrt(H)) as torch
    out, (h_n, c_n) = lstm(rng.standard_normal((3, 5, 6)).astype(np.float32))
    assert out.shape == (3, 5, 4) and h_n.shape == c_n.shape == (1, 3, 4)
    assert out.dtype == h_n.dtype == c_n.dtype == np.float32
    np.testing.assert_array_equal(h_n[0], out[:, -1])
    dx = lstm.backward(np.ones((3, 5, 4), np.float32))
    assert dx.dtype == np.float32 and lstm.grads["bias_hh_l0"].dtype == np.float32


def test_recurrent_module_state_dict_round_trip(tmp_path, rng):
    rnn = RNN(3, 2, seed=1)
    path = rnn.save(tmp_path / "rnn.npz")
    other = RNN(3, 2, seed=2)
    other.load(path)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(rnn(x)[0], other(x)[0])


def test_embedding_module_looks_up_rows_and_accumulates_repeats():
    emb = Embedding(5, 3, seed=0, dtype=np.float64)
    ids = np.array([[1, 4, 1]])
    np.testing.assert_array_equal(emb(ids)[0], emb.weight[[1, 4, 1]])
    emb.backward(np.ones((1, 3, 3)))
    np.testing.assert_array_equal(emb.grads["weight"].sum(axis=1), [0, 6, 0, 0, 3])


def test_recurrent_modules_reject_bad_input(rng):
    lstm = LSTM(3, 2, seed=0, dtype=np.float64)
    with pytest.raises(ValueError, match="LSTM.forward: x has 4 features .* but input_size=3"):
        lstm(rng.standard_normal((2, 5, 4)))
    with pytest.raises(ValueError, match="LSTM.forward: x must be 3-D"):
        lstm(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="LSTM.forward: x must hold at least one time step"):
        lstm(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match="LSTM.forward: h0 must have shape \\(1, N, H\\) = \\(1, 2, 2\\)"):
        lstm(rng.standard_normal((2, 5, 3)), (np.zeros((1, 3, 2)), np.zeros((1, 2, 2))))
    with pytest.raises(ValueError, match="hx must be None or a pair"):
        lstm(rng.standard_normal((2, 5, 3)), np.zeros((1, 2, 2)))
    with pytest.raises(RuntimeError, match="LSTM.backward: call forward first"):
        LSTM(3, 2).backward(np.zeros((2, 5, 2)))
    lstm(rng.standard_normal((2, 5, 3)))
    with pytest.raises(ValueError, match="LSTM.backward: dout must have shape \\(2, 5, 2\\)"):
        lstm.backward(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="RNN: only batch_first=True"):
        RNN(3, 2, batch_first=False)
    with pytest.raises(ValueError, match="RNN: hidden_size must be an integer >= 1"):
        RNN(3, 0)
    emb = Embedding(5, 2)
    with pytest.raises(ValueError, match="word_embedding_forward: x must hold token ids in \\[0, 5\\)"):
        emb(np.array([[0, 5]]))
    with pytest.raises(TypeError, match="x must hold integer token ids"):
        emb(np.array([[0.0, 1.0]]))
