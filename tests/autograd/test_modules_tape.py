"""Modules on the tape: nn.Parameter, forward-only modules (Solver and Classifier included), built-in modules as
one node each (their hand-written backward), shared modules, and the array contract kept for everything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnlab.nn as nn
from nnlab import autograd as ag
from nnlab.layers import softmax_loss
from nnlab.models.classifier import Classifier
from nnlab.solver import Solver


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


class TwoLayer(nn.Module):
    """Forward only: a built-in Linear used twice (shared), a Parameter of its own, Tensor ops."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8, seed=seed, dtype=np.float64)
        self.fc2 = nn.Linear(8, 3, seed=seed + 1, dtype=np.float64)
        self.scale = nn.Parameter(np.linspace(0.5, 1.5, 3))

    def forward(self, x):
        h = self.fc1(x).tanh()
        return self.fc2(h) * self.scale + self.fc2(h * 0.5)


def torch_twin(model: TwoLayer):
    fc1, fc2 = torch.nn.Linear(4, 8).double(), torch.nn.Linear(8, 3).double()
    sd = model.state_dict()
    with torch.no_grad():
        for mod, name in ((fc1, "fc1"), (fc2, "fc2")):
            mod.weight.copy_(torch.tensor(sd[f"{name}.weight"]))
            mod.bias.copy_(torch.tensor(sd[f"{name}.bias"]))
    scale = torch.tensor(sd["scale"], requires_grad=True)

    def forward(x):
        h = torch.tanh(fc1(x))
        return fc2(h) * scale + fc2(h * 0.5)

    named = {"fc1.weight": fc1.weight, "fc1.bias": fc1.bias, "fc2.weight": fc2.weight, "fc2.bias": fc2.bias,
             "scale": scale}
    return forward, named


def test_parameter_registers_by_assignment_and_is_listed_once_when_shared():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert isinstance(m.scale, nn.Parameter) and m.scale.requires_grad and m.scale.is_leaf
    assert isinstance(dict(m.named_parameters())["scale"], np.ndarray)  # the array contract is unchanged
    outer = nn.Module()
    outer.a, outer.b = nn.Module(), nn.Module()
    shared = nn.Parameter(np.ones(2))
    outer.a.w = shared
    outer.b.w = shared
    assert [n for n, _ in outer.named_parameters()] == ["a.w"]
    with pytest.raises(RuntimeError, match="only floating-point"):
        nn.Parameter(np.arange(3))


def test_forward_only_module_gradients_equal_torch_and_a_shared_module_gets_both_calls():
    m = TwoLayer()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 4)), np.array([0, 2, 1, 1, 0])
    out = m(ag.tensor(X))
    assert isinstance(out, ag.Tensor) and out.grad_fn is not None
    _, dscores = softmax_loss(out.data, y)
    out.backward(dscores)
    forward, theirs = torch_twin(m)
    torch.nn.functional.cross_entropy(forward(torch.tensor(X)), torch.tensor(y)).backward()
    ours = dict(m.named_parameter_tensors())
    assert sorted(ours) == sorted(theirs)
    for name, p in theirs.items():
        assert rel(ours[name].grad, p.grad.numpy()) <= 1e-12, name


def test_forward_only_module_takes_the_array_contract_of_classifier_and_sequential():
    m = TwoLayer()
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    loss, grads = Classifier(m).loss(X, y)
    forward, theirs = torch_twin(m)
    ref = torch.nn.functional.cross_entropy(forward(torch.tensor(X)), torch.tensor(y))
    ref.backward()
    assert rel(loss, ref.item()) <= 1e-12
    for name, p in theirs.items():
        assert rel(grads[name], p.grad.numpy()) <= 1e-12, name
    # inside a hand-written container: its backward asks the forward-only child for dx
    seq = nn.Sequential(nn.Linear(3, 4, seed=5, dtype=np.float64), m)
    Xs = rng.standard_normal((6, 3))
    scores = seq(Xs)
    _, dscores = softmax_loss(scores, y)
    dx = seq.backward(dscores)
    xt = ag.tensor(Xs, requires_grad=True)
    out = seq(xt)  # the same network on the tape: one node for the Sequential, whose backward calls m's
    out.backward(dscores)
    assert rel(dx, xt.grad) <= 1e-12
    with pytest.raises(RuntimeError, match="TwoLayer.backward: call the module on arrays"):
        m.backward(dscores)  # the recorded forward was used up


def test_builtin_module_called_twice_on_the_tape_sums_both_gradients():
    lin = nn.Linear(3, 3, seed=0, dtype=np.float64)
    x = ag.tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)
    y = lin(lin(x).tanh()).sum()
    y.backward()
    t_lin = torch.nn.Linear(3, 3).double()
    with torch.no_grad():
        t_lin.weight.copy_(torch.tensor(lin.weight))
        t_lin.bias.copy_(torch.tensor(lin.bias))
    tx = torch.tensor(x.data, requires_grad=True)
    t_lin(torch.tanh(t_lin(tx))).sum().backward()
    assert rel(lin.param("weight").grad, t_lin.weight.grad.numpy()) <= 1e-12
    assert rel(lin.param("bias").grad, t_lin.bias.grad.numpy()) <= 1e-12
    assert rel(x.grad, tx.grad.numpy()) <= 1e-12


def test_recurrent_and_attention_modules_on_the_tape_match_their_array_backward():
    rng = np.random.default_rng(3)
    lstm = nn.LSTM(3, 4, batch_first=True, seed=0).to(np.float64)
    X = rng.standard_normal((2, 5, 3))
    out, (h, c) = lstm(X)
    d_out, d_h = rng.standard_normal(out.shape), rng.standard_normal(h.shape)
    dx = lstm.backward(d_out, d_h)
    grads = lstm.grads
    xt = ag.tensor(X, requires_grad=True)
    out_t, (h_t, c_t) = lstm(xt)
    assert isinstance(c_t, ag.Tensor)
    ((out_t * d_out).sum() + (h_t * d_h).sum()).backward()
    assert rel(xt.grad, dx) <= 1e-12
    for name, p in lstm.named_parameter_tensors():
        assert rel(p.grad, grads[name]) <= 1e-12, name
    mha = nn.MultiheadAttention(4, 2, seed=1).to(np.float64)
    q = ag.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    attn, weights = mha(q, q, q)
    assert weights.requires_grad
    g = rng.standard_normal(attn.shape)
    (attn * g).sum().backward()
    mha(q.data, q.data, q.data)
    dq = mha.backward(g, sum_inputs=True)
    assert rel(q.grad, dq) <= 1e-12


def test_solver_trains_a_forward_only_module_and_zero_grad_resets_tape_gradients():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    data = {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}
    model = Classifier(TwoLayer(seed=3))
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-2}, num_epochs=15,
                    batch_size=20, verbose=False)
    solver.train()
    assert solver.loss_history[-1] < 0.5 * solver.loss_history[0]
    assert solver.best_val_acc >= 0.8
    m = model.module
    out = m(ag.tensor(X[:3]))
    out.sum().backward()
    assert m.scale.grad is not None and m.param("fc1.weight").grad is not None
    m.zero_grad()
    assert m.scale.grad is None and m.param("fc1.weight").grad is None


def test_state_dict_round_trip_and_dtype_cast_keep_parameters_live():
    m = TwoLayer()
    sd = m.state_dict()
    other = TwoLayer(seed=9)
    other.load_state_dict(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    scale = other.scale
    other.to(np.float32)
    assert other.scale is scale and other.scale.dtype == np.float32
    assert other.param("fc1.weight").dtype == np.float32
    view = other.param("fc1.weight")
    other.fc1.weight = np.zeros((8, 4), np.float32)  # the view reads the module's current array
    assert view.data is other.fc1.weight
    view.data = np.ones((8, 4), np.float32)  # and writes into the module
    np.testing.assert_array_equal(other.fc1.weight, 1.0)
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        other.param("nope")


def test_no_graph_under_no_grad_for_modules():
    m = TwoLayer()
    with ag.no_grad():
        out = m(ag.tensor(np.ones((2, 4))))
    assert out.grad_fn is None and not out.requires_grad


def test_torch_style_loop_follows_torch_step_by_step():
    import nnlab.functional as F
    from nnlab.optim import SGD

    m = TwoLayer(seed=7)
    forward, theirs = torch_twin(m)
    opt = SGD(m.parameter_tensors(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    topt = torch.optim.SGD(list(theirs.values()), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    rng = np.random.default_rng(5)
    for _ in range(10):
        X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
        loss = F.cross_entropy(m(ag.tensor(X)), y)  # on a Tensor: the tape (on an array: the array contract)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(forward(torch.tensor(X)), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert rel(loss.item(), tloss.item()) <= 1e-12
    for name, p in m.named_parameter_tensors():
        assert rel(p.data, theirs[name].detach().numpy()) <= 1e-12, name


def test_classifier_scores_of_a_forward_only_module_record_no_graph():
    m = TwoLayer()
    clf = Classifier(m)
    X = np.random.default_rng(6).standard_normal((4, 4))
    scores = clf.loss(X)
    assert isinstance(scores, np.ndarray) and scores.shape == (4, 3)
    assert m.__dict__.get("_tape") is None  # nothing kept for a backward
    out = m(ag.tensor(X))
    np.testing.assert_allclose(scores, out.data, rtol=1e-12)
