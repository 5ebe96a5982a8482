"""The macbeth training loop is the seed's torch loop: with the same initial weights and the same shuffled batch
order, the Solver as the macbeth recipes configure it (RMSprop on both recurrent biases, ``batch_order='shuffle'``
with the last partial batch, final weights kept; epoch loss = mean of the batch losses) reproduces
``torch.optim.RMSprop`` + ``CrossEntropyLoss`` + ``DataLoader(shuffle=True)`` epoch by epoch, whatever the
accuracy checks draw in between (the permutations have their own ``RandomState(seed)`` stream).
Also: the initial weights follow torch's default init distributions (two independent bias
vectors per recurrent layer, whose sum is triangular, not a single uniform)."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.models.char_rnn import CharRNN
from nnlab.solver import Solver

torch = pytest.importorskip("torch")


def _torch_twin(model: CharRNN, cell: str):
    V, E, H = model.vocab_size, model.embedding.embedding_dim, model.rnn.hidden_size
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    twin = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(V, E), "rnn": rnn_cls(E, H, batch_first=True),
                                "fc": torch.nn.Linear(H, V)}).double()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return twin


def _torch_epochs(twin, cell: str, X: np.ndarray, y: np.ndarray, cfg: dict) -> list[float]:
    """The seed's BaseSequentialModel.train loop, with the batch order drawn as the Solver's 'shuffle' draws it:
    ``RandomState(seed).permutation(N)`` at every epoch start."""
    opt = torch.optim.RMSprop(twin.parameters(), lr=cfg["learning_rate"], alpha=cfg["decay_rate"], eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.RandomState(cfg["seed"])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y[:, 0])
    losses = []
    for _ in range(cfg["num_epochs"]):
        order = torch.from_numpy(rng.permutation(len(X)))
        total, count = 0.0, 0
        for i in range(0, len(X), cfg["batch_size"]):
            idx = order[i:i + cfg["batch_size"]]
            opt.zero_grad()
            _, state = twin["rnn"](twin["embedding"](Xt[idx]))
            h_n = state[0] if cell == "lstm" else state
            loss = loss_fn(twin["fc"](h_n.squeeze(0)), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item()
            count += 1
        losses.append(total / count)
    return losses


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_macbeth_solver_set_up_follows_the_torch_rmsprop_loop_epoch_by_epoch(cell):
    V, E, H, T, N = 13, 8, 6, 7, 203  # 203 = 6 batches of 32 + a last batch of 11
    data_rng = np.random.RandomState(7)
    ids = data_rng.randint(0, V, N + T)
    X = np.lib.stride_tricks.sliding_window_view(ids[:-1], T).copy()
    y = ids[T:, None].copy()
    model = CharRNN(V, E, H, cell=cell, seed=3, dtype=np.float64)
    twin = _torch_twin(model, cell)
    cfg = {"batch_size": 32, "num_epochs": 3, "learning_rate": 3e-3, "decay_rate": 0.99, "seed": 11}

    data = {"X_train": X, "y_train": y[:, 0], "X_val": X[:40], "y_val": y[:40, 0]}
    solver = Solver(model, data, update_rule="rmsprop", batch_order="shuffle", keep_best=False,
                    optim_config={"learning_rate": cfg["learning_rate"], "decay_rate": cfg["decay_rate"],
                                  "epsilon": 1e-8},
                    batch_size=cfg["batch_size"], num_epochs=cfg["num_epochs"], seed=cfg["seed"],
                    num_train_samples=50, num_val_samples=20, verbose=False)  # subsampled accuracy checks
    solver.train()
    ours = {"batch_losses": solver.loss_history,
            "losses": [float(np.mean(solver.loss_history[i:i + 7])) for i in range(0, 21, 7)]}
    theirs = _torch_epochs(twin, cell, X, y, cfg)

    assert len(ours["batch_losses"]) == 3 * 7  # the last partial batch is a step of its own
    np.testing.assert_allclose(ours["losses"], theirs, rtol=1e-10)
    assert ours["losses"][-1] < ours["losses"][0] - 0.05  # it did train
    for name, p in twin.named_parameters():
        w = p.detach().numpy()
        assert np.abs(model.params[name] - w).max() / np.abs(w).max() < 1e-9, name


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_rnn_initial_weights_follow_torch_default_init(cell):
    V, E, H = 37, 256, 128
    model = CharRNN(V, E, H, cell=cell, seed=0)
    p = model.params
    bound = 1 / np.sqrt(H)
    # nn.Embedding: N(0, 1) (9472 draws: the mean's standard error is 0.010, the std's 0.007)
    assert abs(p["embedding.weight"].std() - 1.0) < 0.04 and abs(p["embedding.weight"].mean()) < 0.05
    # nn.RNN / nn.LSTM: every weight and BOTH biases U(-1/sqrt(H), 1/sqrt(H)), drawn independently
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"):
        w = p[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.97 * bound, name
    b_ih, b_hh = p["rnn.bias_ih_l0"], p["rnn.bias_hh_l0"]
    assert not np.array_equal(b_ih, b_hh)
    # so the effective bias b_ih + b_hh is triangular on (-2/sqrt(H), 2/sqrt(H)): variance 2 * bound^2 / 3
    if cell == "lstm":  # 512 values: enough for the variance to tell one uniform (bound^2/3) from two
        var = float(np.var(b_ih + b_hh))
        assert abs(var - 2 * bound**2 / 3) < 0.25 * (2 * bound**2 / 3)
    # nn.Linear: kaiming_uniform(a=sqrt(5)) weight and bias, both U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for name in ("fc.weight", "fc.bias"):
        assert np.abs(p[name]).max() <= bound, name
    assert np.abs(p["fc.weight"]).max() > 0.97 * bound
