"""Learning-rate schedules: small callables ``schedule(epoch) -> learning_rate``.

Each factory validates its arguments once and returns a frozen dataclass (picklable, with a readable repr):

- :func:`step_decay`          ``lr0 * drop ** floor(epoch / every)``                  (torch ``StepLR``)
- :func:`exponential_decay`   ``lr0 * gamma ** epoch``  -- the Solver's ``lr_decay``  (torch ``ExponentialLR``)
- :func:`inverse_time_decay`  ``lr0 / (1 + decay_rate * epoch)``                      (seed 001)
- :func:`cosine_decay`        ``lr_min + (lr0 - lr_min) * (1 + cos(pi * min(epoch, T) / T)) / 2``
                                                                                      (torch ``CosineAnnealingLR``)

``epoch`` counts from 0 (the first epoch trains with ``lr0``); it may be fractional (e.g. ``it / iters_per_epoch``)
but not negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .optim import _check_number, _check_positive_int

__all__ = [
    "Schedule",
    "StepDecay",
    "ExponentialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "step_decay",
    "exponential_decay",
    "inverse_time_decay",
    "cosine_decay",
    "SCHEDULES",
    "get_schedule",
]


class Schedule:
    """Base class: ``schedule(epoch)`` checks ``epoch >= 0`` and returns ``self.lr_at(epoch)``."""

    def __call__(self, epoch: float) -> float:
        epoch = _check_number(type(self).__name__, "epoch", epoch)
        return self.lr_at(epoch)

    def lr_at(self, epoch: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr0 * drop ** floor(epoch / every)``: multiply by ``drop`` every ``every`` epochs."""

    lr0: float
    drop: float
    every: int

    def lr_at(self, epoch: float) -> float:
        return self.lr0 * self.drop ** math.floor(epoch / self.every)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr0 * gamma ** epoch``: multiply by ``gamma`` every epoch."""

    lr0: float
    gamma: float

    def lr_at(self, epoch: float) -> float:
        return self.lr0 * self.gamma**epoch


@dataclass(frozen=True)
class InverseTimeDecay(Schedule):
    """``lr0 / (1 + decay_rate * epoch)``."""

    lr0: float
    decay_rate: float

    def lr_at(self, epoch: float) -> float:
        return self.lr0 / (1.0 + self.decay_rate * epoch)


@dataclass(frozen=True)
class CosineDecay(Schedule):
    """Half a cosine from ``lr0`` (epoch 0) down to ``lr_min`` (epoch ``total_epochs`` and after)."""

    lr0: float
    total_epochs: float
    lr_min: float = 0.0

    def lr_at(self, epoch: float) -> float:
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.lr_min + 0.5 * (self.lr0 - self.lr_min) * (1.0 + math.cos(math.pi * progress))


def step_decay(lr0: float, drop: float, every: int) -> StepDecay:
    """Step schedule: ``lr0 >= 0``, ``drop > 0`` (usually < 1), ``every`` a positive number of epochs."""
    fn = "step_decay"
    return StepDecay(_check_number(fn, "lr0", lr0), _check_number(fn, "drop", drop, low_open=True),
                     _check_positive_int(fn, "every", every))


def exponential_decay(lr0: float, gamma: float) -> ExponentialDecay:
    """Exponential schedule: ``lr0 >= 0``, ``gamma > 0`` (usually < 1, e.g. the Solver's ``lr_decay=0.95``)."""
    fn = "exponential_decay"
    return ExponentialDecay(_check_number(fn, "lr0", lr0), _check_number(fn, "gamma", gamma, low_open=True))


def inverse_time_decay(lr0: float, decay_rate: float) -> InverseTimeDecay:
    """Inverse-time schedule of seed 001: ``lr0 >= 0``, ``decay_rate >= 0``.

    lr0 1e-2, decay 1 -> 0.01, 0.005, 0.00333...;  lr0 1e-3, decay 0.1 -> 1e-3, 9.0909e-4, 8.3333e-4.
    """
    fn = "inverse_time_decay"
    return InverseTimeDecay(_check_number(fn, "lr0", lr0), _check_number(fn, "decay_rate", decay_rate))


def cosine_decay(lr0: float, total_epochs: float, lr_min: float = 0.0) -> CosineDecay:
    """Cosine schedule: ``lr0 >= 0``, ``total_epochs > 0``, ``0 <= lr_min <= lr0``."""
    fn = "cosine_decay"
    lr0 = _check_number(fn, "lr0", lr0)
    total = _check_number(fn, "total_epochs", total_epochs, low_open=True)
    return CosineDecay(lr0, total, _check_number(fn, "lr_min", lr_min, 0.0, lr0))


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "step_decay": step_decay,
    "exponential_decay": exponential_decay,
    "inverse_time_decay": inverse_time_decay,
    "cosine_decay": cosine_decay,
}


def get_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule ``name`` (a key of :data:`SCHEDULES`) from its keyword arguments."""
    if name not in SCHEDULES:
        raise ValueError(f'Invalid schedule "{name}"; known schedules: {", ".join(SCHEDULES)}')
    return SCHEDULES[name](**kwargs)
