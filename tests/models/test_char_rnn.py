"""CharRNN: shapes and parameter names, float64 numerical gradient checks (both cells, both losses), parity of
the whole model with its torch twin, the Solver contract, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient
from nnlab.models.char_rnn import CharRNN

TORCH_NAMES = ["embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
               "fc.weight", "fc.bias"]


def _max_rel(num: np.ndarray, ana: np.ndarray) -> float:
    """max |numerical - analytic| / max |analytic| (element-wise rel_error blows up on near-zero entries)."""
    return float(np.abs(num - ana).max() / max(np.abs(ana).max(), 1e-12))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_rnn_maps_windows_to_vocab_scores_with_torch_names(cell, rng):
    model = CharRNN(37, 16, 8, cell=cell, seed=0)
    X = rng.integers(0, 37, (5, 30))
    scores = model.loss(X)
    assert scores.shape == (5, 37) and scores.dtype == np.float32
    assert list(model.params) == TORCH_NAMES
    G = 4 if cell == "lstm" else 1
    assert model.params["rnn.weight_ih_l0"].shape == (G * 8, 16)
    # the seed's architecture test compares total parameter counts: E*V + G*H*(E + H + 2) + H*V + V
    assert sum(p.size for p in model.params.values()) == 37 * 16 + G * 8 * (16 + 8 + 2) + 8 * 37 + 37


@pytest.mark.parametrize("seq_loss", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_rnn_float64_gradient_check(cell, seq_loss, rng):
    model = CharRNN(7, 5, 4, cell=cell, seq_loss=seq_loss, seed=3, dtype=np.float64)
    X = rng.integers(0, 7, (3, 6))
    y = rng.integers(0, 7, (3, 6) if seq_loss else (3,))
    loss, grads = model.loss(X, y)
    assert 0.5 < loss < 4.0
    for name in model.params:
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        assert _max_rel(num, grads[name]) < 1e-7, name


def test_char_rnn_accepts_labels_of_shape_n_by_1(rng):
    model = CharRNN(9, 4, 3, cell="lstm", seed=1, dtype=np.float64)
    X, y = rng.integers(0, 9, (4, 5)), rng.integers(0, 9, (4, 1))
    assert model.loss(X, y)[0] == model.loss(X, y[:, 0])[0]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_rnn_matches_torch_twin_loss_and_gradients(cell, rng):
    torch = pytest.importorskip("torch")
    from tests.parity.conftest import assert_close

    V, E, H = 11, 6, 5
    model = CharRNN(V, E, H, cell=cell, seed=5, dtype=np.float64)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    twin = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(V, E), "rnn": rnn_cls(E, H, batch_first=True),
                                "fc": torch.nn.Linear(H, V)}).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    X, y = rng.integers(0, V, (4, 7)), rng.integers(0, V, 4)
    loss, grads = model.loss(X, y)
    _, state = twin["rnn"](twin["embedding"](torch.from_numpy(X)))
    h_n = state[0] if cell == "lstm" else state
    loss_t = torch.nn.functional.cross_entropy(twin["fc"](h_n.squeeze(0)), torch.from_numpy(y))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12
    for name, p in twin.named_parameters():
        assert_close(name, grads[name], p.grad, np.float64)


def test_char_rnn_trains_under_the_solver_and_check_accuracy_works(rng):
    from nnlab.solver import Solver

    # a deterministic toy language: the next id is (last id + 1) mod V
    V = 5
    X = rng.integers(0, V, (400, 6))
    y = (X[:, -1] + 1) % V
    data = {"X_train": X[:300], "y_train": y[:300], "X_val": X[300:], "y_val": y[300:]}
    model = CharRNN(V, 8, 16, cell="lstm", seed=0)
    solver = Solver(model, data, update_rule="rmsprop", optim_config={"learning_rate": 1e-2}, batch_size=50,
                    num_epochs=8, verbose=False, seed=0, progress=False)
    solver.train()
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == 1.0
    assert solver.loss_history[-1] < 0.2 < np.log(V) - 0.5 < solver.loss_history[0]


def test_char_rnn_rejects_bad_input(rng):
    model = CharRNN(7, 4, 3, cell="rnn", seed=0)
    with pytest.raises(ValueError, match="CharRNN.loss: X must hold token ids in \\[0, 7\\)"):
        model.loss(np.array([[1, 7]]))
    with pytest.raises(ValueError, match="CharRNN.loss: X must hold token ids"):
        model.loss(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="X must hold integer token ids"):
        model.loss(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.loss(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="X has 2 windows but y has 3 labels"):
        model.loss(rng.integers(0, 7, (2, 4)), np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="cell must be 'rnn' or 'lstm'"):
        CharRNN(7, 4, 3, cell="gru")
    seq = CharRNN(7, 4, 3, seq_loss=True, seed=0)
    with pytest.raises(ValueError, match="CharRNN.loss: y must be 2-D \\(N, T\\)"):
        seq.loss(rng.integers(0, 7, (2, 4)), np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="y must have shape \\(N, T\\) = \\(2, 4\\) with seq_loss"):
        seq.loss(rng.integers(0, 7, (2, 4)), np.zeros((2, 3), dtype=np.int64))
