"""Learning-rate schedules: closed-form values, get_schedule and argument errors."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from nnlab.schedules import (
    CosineDecay,
    cosine_decay,
    exponential_decay,
    get_schedule,
    inverse_time_decay,
    step_decay,
)


def test_step_decay_drops_every_n_epochs():
    schedule = step_decay(0.1, 0.5, every=2)
    assert [schedule(e) for e in range(6)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    assert schedule(3.9) == pytest.approx(0.05)


def test_exponential_decay_is_solver_lr_decay():
    """The Solver multiplies the learning rate by lr_decay after each epoch: lr0 * 0.95**epoch."""
    schedule = exponential_decay(1e-3, 0.95)
    lr = 1e-3
    for epoch in range(5):
        assert schedule(epoch) == pytest.approx(lr, rel=1e-14)
        lr *= 0.95


def test_inverse_time_decay_values():
    schedule = inverse_time_decay(0.2, 0.01)
    assert schedule(0) == 0.2
    assert schedule(100) == pytest.approx(0.1, rel=1e-15)


def test_cosine_decay_endpoints_midpoint_and_after_the_end():
    schedule = cosine_decay(0.1, total_epochs=10, lr_min=0.01)
    assert schedule(0) == pytest.approx(0.1, rel=1e-15)
    assert schedule(5) == pytest.approx(0.055, rel=1e-14)
    assert schedule(2.5) == pytest.approx(0.01 + 0.045 * (1 + math.cos(math.pi / 4)), rel=1e-14)
    assert schedule(10) == pytest.approx(0.01, rel=1e-14)
    assert schedule(25) == pytest.approx(0.01, rel=1e-14)


def test_get_schedule_builds_by_name_and_schedules_pickle():
    schedule = get_schedule("cosine_decay", lr0=0.1, total_epochs=4)
    assert isinstance(schedule, CosineDecay)
    assert pickle.loads(pickle.dumps(schedule)) == schedule
    assert get_schedule("step_decay", lr0=1.0, drop=0.1, every=1)(2) == pytest.approx(0.01)


def test_get_schedule_unknown_name_lists_known_schedules():
    with pytest.raises(ValueError, match='Invalid schedule "linear"; known schedules: step_decay, exponential_decay'):
        get_schedule("linear", lr0=0.1)


@pytest.mark.parametrize(("factory", "kwargs", "error", "message"), [
    (step_decay, {"lr0": -0.1, "drop": 0.5, "every": 2}, ValueError, "step_decay: lr0 must be a finite number"),
    (step_decay, {"lr0": 0.1, "drop": 0.0, "every": 2}, ValueError, r"step_decay: drop must be a finite number in \(0"),
    (step_decay, {"lr0": 0.1, "drop": 0.5, "every": 0}, ValueError, "step_decay: every must be > 0"),
    (step_decay, {"lr0": 0.1, "drop": 0.5, "every": 2.5}, TypeError, "step_decay: every must be an integer"),
    (exponential_decay, {"lr0": 0.1, "gamma": -0.9}, ValueError, "exponential_decay: gamma must be"),
    (exponential_decay, {"lr0": float("nan"), "gamma": 0.9}, ValueError, "exponential_decay: lr0 must be"),
    (inverse_time_decay, {"lr0": 0.1, "decay_rate": -1.0}, ValueError, "inverse_time_decay: decay_rate must be"),
    (cosine_decay, {"lr0": 0.1, "total_epochs": 0}, ValueError, "cosine_decay: total_epochs must be"),
    (cosine_decay, {"lr0": 0.1, "total_epochs": 5, "lr_min": 0.2}, ValueError,
     r"cosine_decay: lr_min must be a finite number in \[0, 0.1\]"),
    (inverse_time_decay, {"lr0": "fast", "decay_rate": 1.0}, TypeError, "inverse_time_decay: lr0 must be a number"),
])
def test_schedule_rejects_bad_arguments(factory, kwargs, error, message):
    with pytest.raises(error, match=message):
        factory(**kwargs)


def test_schedule_rejects_negative_epoch():
    with pytest.raises(ValueError, match="ExponentialDecay: epoch must be a finite number"):
        exponential_decay(0.1, 0.9)(-1)


# ---------------------------------------------------------------------------------------------------------------
# torch-named schedulers (trajectories against torch: tests/parity/test_parity_schedules.py)
# ---------------------------------------------------------------------------------------------------------------
def test_lr_at_is_pure_and_uses_the_bound_base_lr():
    from nnlab.schedules import CosineAnnealingLR

    schedule = CosineAnnealingLR(T_max=10)
    with pytest.raises(ValueError, match="CosineAnnealingLR: base_lr is not set"):
        schedule.lr_at(0)
    bound = schedule.with_base_lr(0.2)
    assert schedule.base_lr is None and bound.base_lr == 0.2  # the original is not changed
    assert [bound.lr_at(k) for k in (5, 0, 5)] == [pytest.approx(0.1), 0.2, pytest.approx(0.1)]
    assert bound.lr_at(10) == pytest.approx(0.0, abs=1e-18) and bound(3) == bound.lr_at(3)
    fixed = CosineAnnealingLR(T_max=10, base_lr=0.5)
    assert fixed.with_base_lr(0.2) is fixed  # an explicit base_lr wins


def test_step_multistep_exponential_linear_closed_forms():
    from nnlab.schedules import ExponentialLR, LinearLR, MultiStepLR, StepLR

    assert [StepLR(3, 0.5, base_lr=1.0).lr_at(k) for k in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert [MultiStepLR([2, 4, 4], 0.1, base_lr=1.0).lr_at(k) for k in (1, 2, 3, 4)] == pytest.approx(
        [1.0, 0.1, 0.1, 0.001])
    assert ExponentialLR(0.5, base_lr=4.0).lr_at(3) == 0.5
    assert [LinearLR(0.5, 1.0, 4, base_lr=2.0).lr_at(k) for k in (0, 2, 4, 9)] == [1.0, 1.5, 2.0, 2.0]


def test_linear_warmup_then_restarts_the_inner_schedule():
    from nnlab.schedules import LinearWarmup, StepLR

    warm = LinearWarmup(4, StepLR(2, 0.5), start_factor=0.0 + 0.25).with_base_lr(1.0)
    assert [warm.lr_at(k) for k in range(9)] == [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert warm.per_iteration is False  # inherited from the inner schedule
    assert LinearWarmup(3).per_iteration is True and LinearWarmup(3, base_lr=2.0).lr_at(7) == 2.0


def test_one_cycle_shape_and_per_iteration_default():
    from nnlab.schedules import OneCycleLR

    s = OneCycleLR(max_lr=1.0, total_steps=100, div_factor=25.0, final_div_factor=1e4)
    lrs = [s.lr_at(k) for k in range(100)]
    assert s.per_iteration and lrs[0] == pytest.approx(0.04) and max(lrs) == pytest.approx(1.0)
    assert int(np.argmax(lrs)) == 29 and lrs[-1] == pytest.approx(0.04 / 1e4)
    assert s.momentum_at(0) == pytest.approx(0.95) and s.momentum_at(29) == pytest.approx(0.85)
    assert OneCycleLR(1.0, total_steps=10, cycle_momentum=False).momentum_at(3) is None
    assert OneCycleLR(1.0, epochs=3, steps_per_epoch=7).total_steps == 21


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda S: S.StepLR(0), ValueError, "StepLR: step_size must be > 0"),
    (lambda S: S.StepLR(2, gamma=0.0), ValueError, r"StepLR: gamma must be a finite number in \(0"),
    (lambda S: S.MultiStepLR("5"), TypeError, "MultiStepLR: milestones must be a list of integers"),
    (lambda S: S.MultiStepLR([3, 1.5]), TypeError, r"MultiStepLR: milestones\[1\] must be an integer"),
    (lambda S: S.ExponentialLR("0.9"), TypeError, "ExponentialLR: gamma must be a number"),
    (lambda S: S.CosineAnnealingLR(10, eta_min=-1), ValueError, "CosineAnnealingLR: eta_min must be"),
    (lambda S: S.LinearLR(start_factor=0.0), ValueError, "LinearLR: start_factor must be"),
    (lambda S: S.OneCycleLR(0.1), ValueError, "OneCycleLR: give total_steps, or epochs and steps_per_epoch"),
    (lambda S: S.OneCycleLR(0.1, 10, anneal_strategy="exp"), ValueError, "anneal_strategy must be 'cos' or"),
    (lambda S: S.OneCycleLR(0.1, 10, pct_start=1.5), ValueError, "OneCycleLR: pct_start must be"),
    (lambda S: S.LinearWarmup(0), ValueError, "LinearWarmup: warmup_steps must be > 0"),
    (lambda S: S.LinearWarmup(3, after=lambda e: 0.1), TypeError, "LinearWarmup: after must be an LRScheduler"),
    (lambda S: S.LinearWarmup(3, after=S.OneCycleLR(0.1, 10)), ValueError, "OneCycleLR has its own warm-up"),
    (lambda S: S.LinearWarmup(3, after=S.StepLR(2), per_iteration=True), ValueError, "per_iteration=True but"),
    (lambda S: S.StepLR(2, per_iteration=1), TypeError, "StepLR: per_iteration must be True or False"),
    (lambda S: S.StepLR(2, base_lr=0.1).lr_at(-1), ValueError, r"StepLR.lr_at: step must be an integer >= 0"),
    (lambda S: S.StepLR(2, base_lr=0.1).lr_at(1.5), ValueError, r"StepLR.lr_at: step must be an integer >= 0"),
])
def test_schedulers_reject_bad_arguments(make, error, message):
    import nnlab.schedules as S

    with pytest.raises(error, match=message):
        make(S)


def test_schedulers_repr_eq_and_pickle():
    from nnlab.schedules import LinearWarmup, MultiStepLR, StepLR

    s = LinearWarmup(5, MultiStepLR([10, 20]))
    assert "LinearWarmup(" in repr(s) and "MultiStepLR(" in repr(s)
    assert pickle.loads(pickle.dumps(s)) == s and StepLR(2) != StepLR(3)
