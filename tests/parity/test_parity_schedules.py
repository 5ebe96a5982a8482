"""Learning-rate schedulers against torch.optim.lr_scheduler: 50-step trajectories of lr (and momentum).

``ours.lr_at(k)`` must equal torch's learning rate after ``k`` calls of ``scheduler.step()`` (torch updates most
schedules recursively, nnlab uses the closed forms: equal to rounding, relative error < 1e-12 measured).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S

from nnlab.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LinearWarmup,
    MultiStepLR,
    OneCycleLR,
    StepLR,
)

STEPS = 50
LR = 0.1
REL = 1e-12


def _torch_trajectory(make, steps=STEPS, optimizer="sgd"):
    p = torch.zeros(1, requires_grad=True)
    opt = (torch.optim.SGD([p], lr=LR, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam([p], lr=LR, betas=(0.9, 0.999)))
    sched = make(opt)
    lrs, moms = [], []
    for _ in range(steps):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["momentum"] if optimizer == "sgd" else group["betas"][0])
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms)


def _assert_trajectory(name, ours, theirs):
    err = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300))
    assert err < REL, f"{name}: max relative |nnlab - torch| = {err:.3e} (nnlab {ours[:4]}..., torch {theirs[:4]}...)"


CASES = {
    "StepLR": (StepLR(step_size=7, gamma=0.5), lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (MultiStepLR([5, 12, 12, 30], gamma=0.3),
                    lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3)),
    "ExponentialLR": (ExponentialLR(gamma=0.93), lambda o: S.ExponentialLR(o, gamma=0.93)),
    "CosineAnnealingLR": (CosineAnnealingLR(T_max=20, eta_min=1e-3),  # 50 steps: past T_max, it rises again
                          lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=1e-3)),
    "CosineAnnealingLR_full": (CosineAnnealingLR(T_max=50), lambda o: S.CosineAnnealingLR(o, T_max=50)),
    "LinearLR": (LinearLR(start_factor=0.25, end_factor=0.9, total_iters=30),
                 lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=30)),
    "LinearWarmup+Cosine": (LinearWarmup(8, CosineAnnealingLR(T_max=42), start_factor=0.05),
                            lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.05, end_factor=1.0,
                                                                    total_iters=8),
                                                         S.CosineAnnealingLR(o, T_max=42)], milestones=[8])),
    "LinearWarmup+Step": (LinearWarmup(5, StepLR(10, 0.5), start_factor=0.2),
                          lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.2, total_iters=5),
                                                       S.StepLR(o, 10, 0.5)], milestones=[5])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_schedule_trajectory_matches_torch(name):
    ours, make = CASES[name]
    theirs, _ = _torch_trajectory(make)
    bound = ours.with_base_lr(LR)
    _assert_trajectory(name, np.array([bound.lr_at(k) for k in range(STEPS)]), theirs)


ONE_CYCLE = {
    "cos": {},
    "linear": {"anneal_strategy": "linear", "pct_start": 0.25},
    "three_phase": {"three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("variant", list(ONE_CYCLE))
def test_one_cycle_lr_and_momentum_match_torch(variant, optimizer):
    kw = ONE_CYCLE[variant]
    ours = OneCycleLR(max_lr=0.4, total_steps=STEPS, **kw)
    lrs, moms = _torch_trajectory(lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=STEPS, **kw),
                                  optimizer=optimizer)
    _assert_trajectory(f"OneCycleLR {variant} lr", np.array([ours.lr_at(k) for k in range(STEPS)]), lrs)
    _assert_trajectory(f"OneCycleLR {variant} momentum", np.array([ours.momentum_at(k) for k in range(STEPS)]),
                       moms)


def test_one_cycle_refuses_steps_past_total_steps_like_torch():
    ours = OneCycleLR(max_lr=0.4, total_steps=10)
    ours.lr_at(10)  # torch allows last_epoch == total_steps
    with pytest.raises(ValueError, match="step 11 is past total_steps=10"):
        ours.lr_at(11)
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=0.4, total_steps=10)
    with pytest.raises(ValueError):
        for _ in range(11):
            opt.step()
            sched.step()
