"""Learning-rate schedules: closed-form values, get_schedule and argument errors."""

from __future__ import annotations

import math
import pickle

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
