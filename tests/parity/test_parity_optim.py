"""Update rules, gradient clipping and schedules against torch.optim, float64 and float32.

Each trajectory runs 20 steps on the same problem in nnlab and in torch, each side evaluating the gradient at
its own iterate, and compares every iterate (relative error 1e-10 in float64, 1e-5 in float32).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnlab.optim import (
    adagrad,
    adam,
    adamax,
    adamw,
    clip_grad_norm,
    rmsprop,
    sgd,
    sgd_momentum,
    sgd_nesterov_momentum,
)
from nnlab.schedules import cosine_decay, exponential_decay, step_decay
from tests.parity.conftest import assert_close, to_torch

STEPS = 20
SHAPE = (3, 4)
DTYPES = [np.float64, np.float32]


def _quadratic(rng: np.random.Generator, dtype):
    """Gradient of ``f(w) = 0.5 w.A.w - b.w`` on flattened ``w`` (A symmetric positive definite)."""
    d = int(np.prod(SHAPE))
    q = rng.standard_normal((d, d))
    a = (q @ q.T / d + 0.5 * np.eye(d)).astype(dtype)
    b = rng.standard_normal(d).astype(dtype)
    return lambda w: (a @ w.reshape(-1) - b).reshape(w.shape)


def _random_sequence(rng: np.random.Generator, dtype):
    """Gradients drawn in advance, independent of ``w`` (a noisy, non-convex-like sequence)."""
    grads = iter(list(rng.standard_normal((STEPS, *SHAPE)).astype(dtype)))
    return lambda w: next(grads)


PROBLEMS = {"quadratic": _quadratic, "random_grads": _random_sequence}

# (nnlab rule, its config, torch optimizer factory)
CASES = {
    "sgd": (sgd, {"learning_rate": 0.05}, lambda p: torch.optim.SGD(p, lr=0.05)),
    "sgd_momentum": (
        sgd_momentum, {"learning_rate": 0.05, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "sgd_nesterov_momentum": (
        sgd_nesterov_momentum, {"learning_rate": 0.05, "momentum": 0.9},
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "rmsprop": (
        rmsprop, {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
        lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.99, eps=1e-8),
    ),
    "adam": (
        adam, {"learning_rate": 1e-2},
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.999), eps=1e-8),
    ),
    "adamax": (
        adamax, {"learning_rate": 2e-2},
        lambda p: torch.optim.Adamax(p, lr=2e-2, betas=(0.9, 0.999), eps=1e-8),
    ),
    "adagrad": (
        adagrad, {"learning_rate": 0.1},
        lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0, initial_accumulator_value=0, eps=1e-10),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name", list(CASES))
def test_update_rule_trajectory_matches_torch_optim(name, problem, dtype):
    """20 iterates of nnlab's rule equal torch.optim's.

    Momentum: CS231n keeps ``v = mu*v - lr*dw; w += v`` while torch keeps ``b = mu*b + dw; w -= lr*b`` (and
    Nesterov ``w -= lr*(dw + mu*b)``). With a constant learning rate ``v = -lr*b`` at every step (both start
    from zero state, torch's first ``b`` is ``dw``), so the iterates agree exactly up to rounding.
    """
    rule, config, make_torch_opt = CASES[name]
    w0 = np.random.default_rng(7).standard_normal(SHAPE).astype(dtype)
    grad_ours = PROBLEMS[problem](np.random.default_rng(11), dtype)
    grad_theirs = PROBLEMS[problem](np.random.default_rng(11), dtype)

    param = to_torch(w0, requires_grad=True)
    opt = make_torch_opt([param])
    w, config = w0.copy(), dict(config)
    for step in range(STEPS):
        w, config = rule(w, grad_ours(w), config)
        param.grad = torch.from_numpy(np.ascontiguousarray(grad_theirs(param.detach().numpy())))
        opt.step()
        assert w.dtype == dtype
        assert_close(f"{name} {problem} step {step + 1}", w, param, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(rng, dtype, max_norm):
    """Same returned norm and same clipped gradients as torch.nn.utils.clip_grad_norm_ (clipping and no-op)."""
    shapes = {"W1": (5, 4), "b1": (4,), "W2": (4, 3), "gamma": (1, 3, 1, 1)}
    grads = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    params = []
    for g in grads.values():
        p = to_torch(np.zeros_like(g), requires_grad=True)
        p.grad = to_torch(g)
        params.append(p)

    norm = clip_grad_norm(grads, max_norm)
    torch_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)

    assert_close("total norm", np.asarray(norm), torch_norm, dtype)
    for (k, g), p in zip(grads.items(), params):
        assert g.dtype == dtype
        assert_close(f"clipped grad {k}", g, p.grad, dtype)


def _torch_lrs(make_scheduler, epochs: int, lr0: float) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(scheduler.get_last_lr()[0])
        opt.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(("ours", "make_scheduler"), [
    (step_decay(0.1, 0.5, 3), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    (exponential_decay(0.1, 0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    (cosine_decay(0.1, 10, lr_min=1e-3),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3)),
], ids=["step", "exponential", "cosine"])
def test_schedule_matches_torch_lr_scheduler(ours, make_scheduler):
    epochs = 11
    theirs = _torch_lrs(make_scheduler, epochs, 0.1)
    assert_close(type(ours).__name__, np.array([ours(e) for e in range(epochs)]), np.array(theirs), np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("problem", ["quadratic", "random_grads"])
@pytest.mark.parametrize("config", [
    {"learning_rate": 1e-2, "weight_decay": 1e-2},
    {"learning_rate": 3e-2, "weight_decay": 0.5, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
], ids=["torch_defaults", "strong_decay"])
def test_adamw_50_step_trajectory_matches_torch(problem, dtype, config):
    """AdamW: ``w *= 1 - lr*wd`` then the Adam step, as torch.optim.AdamW; 50 iterates compared."""
    steps = 50
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal(SHAPE).astype(dtype)
    if problem == "quadratic":
        grad = _quadratic(np.random.default_rng(11), dtype)
        grad_ours = grad_theirs = grad
    else:
        seq = np.random.default_rng(11).standard_normal((steps, *SHAPE)).astype(dtype)
        grad_ours, grad_theirs = iter(seq).__next__, iter(seq).__next__
    param = to_torch(w0, requires_grad=True)
    opt = torch.optim.AdamW([param], lr=config["learning_rate"], weight_decay=config["weight_decay"],
                            betas=(config.get("beta1", 0.9), config.get("beta2", 0.999)),
                            eps=config.get("epsilon", 1e-8))
    w, state = w0.copy(), dict(config)
    for step in range(steps):
        g_ours = grad_ours(w) if problem == "quadratic" else grad_ours()
        g_theirs = grad_theirs(param.detach().numpy()) if problem == "quadratic" else grad_theirs()
        w, state = adamw(w, g_ours, state)
        param.grad = torch.from_numpy(np.ascontiguousarray(g_theirs))
        opt.step()
        assert w.dtype == dtype
        assert_close(f"adamw {problem} step {step + 1}", w, param, dtype)
    assert state["t"] == steps
