"""Learning-rate schedules: small callables ``schedule(epoch) -> learning_rate``.

Each factory validates its arguments once and returns a frozen dataclass (picklable, with a readable repr):

- :func:`step_decay`          ``lr0 * drop ** floor(epoch / every)``                  (torch ``StepLR``)
- :func:`exponential_decay`   ``lr0 * gamma ** epoch``  -- the Solver's ``lr_decay``  (torch ``ExponentialLR``)
- :func:`inverse_time_decay`  ``lr0 / (1 + decay_rate * epoch)``                      (seed 001)
- :func:`cosine_decay`        ``lr_min + (lr0 - lr_min) * (1 + cos(pi * min(epoch, T) / T)) / 2``
                                                                                      (torch ``CosineAnnealingLR``)

``epoch`` counts from 0 (the first epoch trains with ``lr0``); it may be fractional (e.g. ``it / iters_per_epoch``)
but not negative.

Schedulers with torch's names and semantics (:class:`LRScheduler` subclasses): :class:`StepLR`,
:class:`MultiStepLR`, :class:`ExponentialLR`, :class:`CosineAnnealingLR`, :class:`LinearLR`, :class:`OneCycleLR`
and the warm-up wrapper :class:`LinearWarmup`. Each is a plain object with a **pure** ``lr_at(step)``: the
learning rate of step ``step`` (0-based) in closed form, so a checkpoint needs only the step counter. ``step``
counts iterations when ``per_iteration`` is true, else epochs; the Solver steps them accordingly
(``Solver(lr_schedule=CosineAnnealingLR(T_max=...))``). ``lr_at(k)`` equals torch's learning rate after ``k``
calls of ``scheduler.step()``. The initial learning rate (torch's ``base_lrs``) is ``base_lr``; the Solver binds
it from ``optim_config['learning_rate']`` when it is None (:meth:`LRScheduler.with_base_lr`).

An optimizer object (:mod:`nnlab.optim.optimizers`) is stepped as in torch: ``sched = StepLR(opt, step_size=30)``
(or ``StepLR(step_size=30).attach(opt)``) returns an :class:`OptimizerScheduler` whose ``step()`` sets every
param group's ``lr`` from that group's ``initial_lr``.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .validation import check_count, check_number

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
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "LinearWarmup",
    "OptimizerScheduler",
]


class Schedule:
    """Base class: ``schedule(epoch)`` checks ``epoch >= 0`` and returns ``self.lr_at(epoch)``."""

    def __call__(self, epoch: float) -> float:
        epoch = check_number(type(self).__name__, "epoch", epoch)
        return self.lr_at(epoch)

    def lr_at(self, epoch: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fields(self, positive: tuple[str, ...] = (), counts: tuple[str, ...] = ()) -> None:
        """Every field a finite number >= 0 (> 0 for ``positive``, a positive integer for ``counts``), named in
        the message with the class: ``"StepDecay: lr0 must be a number, got str 'a'"``."""
        fn = type(self).__name__
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in counts:
                check_count(fn, f.name, value)
            else:
                check_number(fn, f.name, value, low_open=f.name in positive)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr0 * drop ** floor(epoch / every)``: multiply by ``drop`` every ``every`` epochs."""

    lr0: float
    drop: float
    every: int

    def __post_init__(self) -> None:
        self._check_fields(positive=("drop",), counts=("every",))

    def lr_at(self, epoch: float) -> float:
        return self.lr0 * self.drop ** math.floor(epoch / self.every)


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr0 * gamma ** epoch``: multiply by ``gamma`` every epoch."""

    lr0: float
    gamma: float

    def __post_init__(self) -> None:
        self._check_fields(positive=("gamma",))

    def lr_at(self, epoch: float) -> float:
        return self.lr0 * self.gamma**epoch


@dataclass(frozen=True)
class InverseTimeDecay(Schedule):
    """``lr0 / (1 + decay_rate * epoch)``."""

    lr0: float
    decay_rate: float

    def __post_init__(self) -> None:
        self._check_fields()

    def lr_at(self, epoch: float) -> float:
        return self.lr0 / (1.0 + self.decay_rate * epoch)


@dataclass(frozen=True)
class CosineDecay(Schedule):
    """Half a cosine from ``lr0`` (epoch 0) down to ``lr_min`` (epoch ``total_epochs`` and after)."""

    lr0: float
    total_epochs: float
    lr_min: float = 0.0

    def __post_init__(self) -> None:
        self._check_fields(positive=("total_epochs",))

    def lr_at(self, epoch: float) -> float:
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.lr_min + 0.5 * (self.lr0 - self.lr_min) * (1.0 + math.cos(math.pi * progress))


def step_decay(lr0: float, drop: float, every: int) -> StepDecay:
    """Step schedule: ``lr0 >= 0``, ``drop > 0`` (usually < 1), ``every`` a positive number of epochs."""
    fn = "step_decay"
    return StepDecay(check_number(fn, "lr0", lr0), check_number(fn, "drop", drop, low_open=True),
                     check_count(fn, "every", every))


def exponential_decay(lr0: float, gamma: float) -> ExponentialDecay:
    """Exponential schedule: ``lr0 >= 0``, ``gamma > 0`` (usually < 1, e.g. the Solver's ``lr_decay=0.95``)."""
    fn = "exponential_decay"
    return ExponentialDecay(check_number(fn, "lr0", lr0), check_number(fn, "gamma", gamma, low_open=True))


def inverse_time_decay(lr0: float, decay_rate: float) -> InverseTimeDecay:
    """Inverse-time schedule of seed 001: ``lr0 >= 0``, ``decay_rate >= 0``.

    lr0 1e-2, decay 1 -> 0.01, 0.005, 0.00333...;  lr0 1e-3, decay 0.1 -> 1e-3, 9.0909e-4, 8.3333e-4.
    """
    fn = "inverse_time_decay"
    return InverseTimeDecay(check_number(fn, "lr0", lr0), check_number(fn, "decay_rate", decay_rate))


def cosine_decay(lr0: float, total_epochs: float, lr_min: float = 0.0) -> CosineDecay:
    """Cosine schedule: ``lr0 >= 0``, ``total_epochs > 0``, ``0 <= lr_min <= lr0``."""
    fn = "cosine_decay"
    lr0 = check_number(fn, "lr0", lr0)
    total = check_number(fn, "total_epochs", total_epochs, low_open=True)
    return CosineDecay(lr0, total, check_number(fn, "lr_min", lr_min, 0.0, lr0))


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "step_decay": step_decay,
    "exponential_decay": exponential_decay,
    "inverse_time_decay": inverse_time_decay,
    "cosine_decay": cosine_decay,
}


def get_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build the schedule ``name`` (a key of :data:`SCHEDULES`) from its keyword arguments."""
    if not isinstance(name, str):
        raise TypeError(f"get_schedule: name must be a schedule's name (str), got {type(name).__name__}")
    if name not in SCHEDULES:
        raise ValueError(f'Invalid schedule "{name}"; known schedules: {", ".join(SCHEDULES)}')
    return SCHEDULES[name](**kwargs)


# ---------------------------------------------------------------------------------------------------------------
# torch-named schedulers: pure lr_at(step), stepped per epoch or per iteration by the Solver
# ---------------------------------------------------------------------------------------------------------------
def _check_step(fn: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"{fn}.lr_at: step must be an integer >= 0, got {step!r}")
    return int(step)


class LRScheduler:
    """Base class. Subclasses define ``_lr(step, base_lr)``; ``lr_at(step)`` checks ``step`` and the base lr.

    Attributes: ``base_lr`` (float or None: taken from the optimizer config by the Solver), ``per_iteration``
    (bool: the Solver steps the schedule after every iteration, else after every epoch).
    """

    base_lr: float | None
    per_iteration: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """torch's form ``StepLR(optimizer, step_size=...)``: an optimizer object (anything with
        ``param_groups``) as first argument builds the schedule from the other arguments and returns
        ``schedule.attach(optimizer, last_epoch)`` (an :class:`OptimizerScheduler`, not an LRScheduler)."""
        if args and hasattr(args[0], "param_groups"):
            last_epoch = kwargs.pop("last_epoch", -1)
            return cls(*args[1:], **kwargs).attach(args[0], last_epoch)
        return super().__new__(cls)

    def __init__(self, base_lr: float | None, per_iteration: bool) -> None:
        fn = type(self).__name__
        self.base_lr = None if base_lr is None else check_number(fn, "base_lr", base_lr)
        if not isinstance(per_iteration, bool):
            raise TypeError(f"{fn}: per_iteration must be True or False, got {per_iteration!r}")
        self.per_iteration = per_iteration

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based; iterations or epochs, see ``per_iteration``)."""
        fn = type(self).__name__
        step = _check_step(fn, step)
        if self.base_lr is None and self._needs_base_lr():
            raise ValueError(f"{fn}: base_lr is not set; pass base_lr= or let the Solver bind it from "
                             "optim_config['learning_rate']")
        return float(self._lr(step, self.base_lr))

    __call__ = lr_at

    def momentum_at(self, step: int) -> float | None:
        """The momentum (or Adam's beta1) of step ``step``; None when the schedule does not cycle momentum."""
        return None

    def with_base_lr(self, base_lr: float) -> LRScheduler:
        """A copy whose ``base_lr`` is ``base_lr`` when this one has none (this one is returned otherwise)."""
        if self.base_lr is not None or not self._needs_base_lr():
            return self
        bound = copy.copy(self)
        bound.base_lr = check_number(type(self).__name__, "base_lr", base_lr)
        return bound

    def attach(self, optimizer: Any, last_epoch: int = -1) -> OptimizerScheduler:
        """This schedule stepping an optimizer object's learning rates as a torch ``lr_scheduler`` does:
        ``sched = CosineAnnealingLR(T_max=100).attach(opt)``, then ``opt.step(); sched.step()``."""
        return OptimizerScheduler(self, optimizer, last_epoch)

    def _needs_base_lr(self) -> bool:
        return True

    def _lr(self, step: int, base_lr: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self._fields().items()) + ")"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._fields() == other._fields()  # type: ignore[union-attr]


class StepLR(LRScheduler):
    """``base_lr * gamma ** (step // step_size)`` (torch.optim.lr_scheduler.StepLR; per epoch by default)."""

    def __init__(self, step_size: int, gamma: float = 0.1, base_lr: float | None = None,
                 per_iteration: bool = False) -> None:
        super().__init__(base_lr, per_iteration)
        self.step_size = check_count("StepLR", "step_size", step_size)
        self.gamma = check_number("StepLR", "gamma", gamma, low_open=True)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class MultiStepLR(LRScheduler):
    """``base_lr * gamma ** (number of milestones <= step)`` (torch MultiStepLR; a repeated milestone counts
    twice, as in torch's Counter)."""

    def __init__(self, milestones: Sequence[int], gamma: float = 0.1, base_lr: float | None = None,
                 per_iteration: bool = False) -> None:
        super().__init__(base_lr, per_iteration)
        if isinstance(milestones, (str, bytes)) or not hasattr(milestones, "__iter__"):
            raise TypeError(f"MultiStepLR: milestones must be a list of integers, got {milestones!r}")
        self.milestones = sorted(check_count("MultiStepLR", f"milestones[{i}]", m)
                                 for i, m in enumerate(milestones))
        self.gamma = check_number("MultiStepLR", "gamma", gamma, low_open=True)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, step)


class ExponentialLR(LRScheduler):
    """``base_lr * gamma ** step`` (torch ExponentialLR; the Solver's ``lr_decay`` is this per epoch)."""

    def __init__(self, gamma: float, base_lr: float | None = None, per_iteration: bool = False) -> None:
        super().__init__(base_lr, per_iteration)
        self.gamma = check_number("ExponentialLR", "gamma", gamma, low_open=True)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma**step


class CosineAnnealingLR(LRScheduler):
    """``eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2`` (torch CosineAnnealingLR).

    As torch's, it is not clamped at ``T_max``: past it the cosine rises again (period ``2 T_max``).
    """

    def __init__(self, T_max: int, eta_min: float = 0.0, base_lr: float | None = None,  # noqa: N803 (torch name)
                 per_iteration: bool = False) -> None:
        super().__init__(base_lr, per_iteration)
        self.T_max = check_count("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min)

    def _lr(self, step: int, base_lr: float) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + math.cos(math.pi * step / self.T_max)) / 2.0


class LinearLR(LRScheduler):
    """``base_lr * (start_factor + (end_factor - start_factor) * min(step, total_iters) / total_iters)``
    (torch LinearLR)."""

    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 base_lr: float | None = None, per_iteration: bool = False) -> None:
        super().__init__(base_lr, per_iteration)
        fn = "LinearLR"
        self.start_factor = check_number(fn, "start_factor", start_factor, 0.0, 1.0, low_open=True)
        self.end_factor = check_number(fn, "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check_count(fn, "total_iters", total_iters)

    def _lr(self, step: int, base_lr: float) -> float:
        frac = min(step, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


class LinearWarmup(LRScheduler):
    """Linear warm-up for ``warmup_steps`` steps, then ``after`` restarted at step 0.

    ``lr_at(s) = base_lr * (start_factor + (1 - start_factor) * s / warmup_steps)`` for ``s < warmup_steps``,
    else ``after.lr_at(s - warmup_steps)`` (a constant ``base_lr`` when ``after`` is None). Equal to torch's
    ``SequentialLR([LinearLR(start_factor, 1.0, warmup_steps), after], milestones=[warmup_steps])``.
    ``per_iteration`` defaults to ``after``'s (True without ``after``).
    """

    def __init__(self, warmup_steps: int, after: LRScheduler | None = None, start_factor: float = 0.1,
                 base_lr: float | None = None, per_iteration: bool | None = None) -> None:
        fn = "LinearWarmup"
        if after is not None and not isinstance(after, LRScheduler):
            raise TypeError(f"{fn}: after must be an LRScheduler (StepLR, CosineAnnealingLR, ...) or None, "
                            f"got {type(after).__name__}")
        if isinstance(after, OneCycleLR):
            raise ValueError(f"{fn}: OneCycleLR has its own warm-up phase (pct_start); do not wrap it")
        if per_iteration is None:
            per_iteration = after.per_iteration if after is not None else True
        elif after is not None and after.per_iteration != per_iteration:
            raise ValueError(f"{fn}: per_iteration={per_iteration} but after.per_iteration={after.per_iteration}")
        if base_lr is None and after is not None:
            base_lr = after.base_lr
        super().__init__(base_lr, per_iteration)
        self.warmup_steps = check_count(fn, "warmup_steps", warmup_steps)
        self.start_factor = check_number(fn, "start_factor", start_factor, 0.0, 1.0, low_open=True)
        self.after = after.with_base_lr(self.base_lr) if after is not None and self.base_lr is not None else after

    def with_base_lr(self, base_lr: float) -> LRScheduler:
        bound = super().with_base_lr(base_lr)
        if bound is not self and bound.after is not None:  # type: ignore[attr-defined]
            bound.after = bound.after.with_base_lr(bound.base_lr)  # type: ignore[attr-defined]
        return bound

    def _lr(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return base_lr * (self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps)
        return base_lr if self.after is None else self.after.lr_at(step - self.warmup_steps)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (torch OneCycleLR; per iteration by default).

    From ``initial = max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start * total_steps - 1`` steps,
    then down to ``initial / final_div_factor`` at step ``total_steps - 1`` (``anneal_strategy`` 'cos' or
    'linear'; ``three_phase`` as torch). With ``cycle_momentum`` the momentum (or Adam's beta1) goes the other
    way between ``max_momentum`` and ``base_momentum`` (:meth:`momentum_at`). It ignores ``base_lr`` (torch
    overrides the optimizer's lr too). Stepping past ``total_steps`` is an error, as in torch.
    """

    def __init__(self, max_lr: float, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 per_iteration: bool = True) -> None:
        fn = "OneCycleLR"
        super().__init__(None, per_iteration)
        self.max_lr = check_number(fn, "max_lr", max_lr, low_open=True)
        if total_steps is not None:
            self.total_steps = check_count(fn, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (check_count(fn, "epochs", epochs)
                                * check_count(fn, "steps_per_epoch", steps_per_epoch))
        else:
            raise ValueError(f"{fn}: give total_steps, or epochs and steps_per_epoch")
        self.pct_start = check_number(fn, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{fn}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum = check_number(fn, "base_momentum", base_momentum)
        self.max_momentum = check_number(fn, "max_momentum", max_momentum)
        self.div_factor = check_number(fn, "div_factor", div_factor, low_open=True)
        self.final_div_factor = check_number(fn, "final_div_factor", final_div_factor, low_open=True)
        self.three_phase = bool(three_phase)

    def _needs_base_lr(self) -> bool:
        return False

    def _phases(self) -> list[tuple[float, float, float, float, float]]:
        """(end_step, start_lr, end_lr, start_momentum, end_momentum) per phase, as torch builds them."""
        n, p = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        hi_m, lo_m = self.max_momentum, self.base_momentum
        if self.three_phase:
            return [(float(p * n) - 1, initial, self.max_lr, hi_m, lo_m),
                    (float(2 * p * n) - 2, self.max_lr, initial, lo_m, hi_m),
                    (n - 1, initial, low, hi_m, hi_m)]
        return [(float(p * n) - 1, initial, self.max_lr, hi_m, lo_m), (n - 1, self.max_lr, low, lo_m, hi_m)]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, step: int, momentum: bool) -> float:
        fn = type(self).__name__
        step = _check_step(fn, step)
        if step > self.total_steps:
            raise ValueError(f"{fn}: step {step} is past total_steps={self.total_steps}")
        start_step = 0.0
        phases = self._phases()
        for i, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                pct = (step - start_step) / (end_step - start_step)
                return self._anneal(m0, m1, pct) if momentum else self._anneal(lr0, lr1, pct)
            start_step = end_step
        raise AssertionError("unreachable")  # pragma: no cover

    def _lr(self, step: int, base_lr: Any) -> float:
        return self._at(step, momentum=False)

    def momentum_at(self, step: int) -> float | None:
        return self._at(step, momentum=True) if self.cycle_momentum else None


# ---------------------------------------------------------------------------------------------------------------
# stepping an optimizer object (nnlab.optim.SGD, Adam, ...) as torch's lr_scheduler steps a torch optimizer
# ---------------------------------------------------------------------------------------------------------------
class OptimizerScheduler:
    """An :class:`LRScheduler` bound to an optimizer object: ``step()`` sets every ``param_groups[i]['lr']``.

    Built by ``schedule.attach(optimizer)`` or torch's form ``StepLR(optimizer, step_size=30)``. As torch's: at
    construction each group gets ``initial_lr`` (its current ``lr``) unless ``last_epoch`` resumes, the group's
    schedule is the given one with ``base_lr = initial_lr`` (:meth:`LRScheduler.with_base_lr`; a schedule built
    with an explicit ``base_lr`` keeps it), and ``lr`` is set to the schedule's value at ``last_epoch + 1``
    (step 0 for a new run). After ``k`` calls of :meth:`step`, ``group['lr'] == schedule.lr_at(k)``. A schedule
    that cycles momentum (``OneCycleLR``) sets ``betas[0]`` of groups that have ``betas``, else ``momentum``.
    The caller decides what a step is (an iteration or an epoch): ``per_iteration`` is the Solver's flag only.

    Attributes: ``optimizer``, ``schedule``, ``schedules`` (one per group), ``base_lrs``, ``last_epoch``.
    """

    def __init__(self, schedule: LRScheduler, optimizer: Any, last_epoch: int = -1) -> None:
        if not isinstance(schedule, LRScheduler):
            raise TypeError(f"OptimizerScheduler: schedule must be an LRScheduler (StepLR, CosineAnnealingLR, ...), "
                            f"got {type(schedule).__name__}")
        fn = type(schedule).__name__
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) and "lr" in g for g in groups):
            raise TypeError(f"{fn}: optimizer must be an optimizer object (nnlab.optim.SGD, Adam, ...) whose "
                            f"param_groups are dicts with 'lr', got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, (int, np.integer)) or last_epoch < -1:
            raise ValueError(f"{fn}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        for i, group in enumerate(groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{fn}: param_groups[{i}] has no 'initial_lr' to resume from (last_epoch="
                                 f"{last_epoch}); attach with last_epoch=-1 first")
        self.optimizer = optimizer
        self.schedule = schedule
        self.base_lrs = [check_number(fn, f"param_groups[{i}]['initial_lr']", g["initial_lr"])
                         for i, g in enumerate(groups)]
        self.schedules = [schedule.with_base_lr(base) for base in self.base_lrs]
        if schedule.momentum_at(0) is not None:
            for i, group in enumerate(groups):
                if "betas" not in group and "momentum" not in group:
                    raise ValueError(f"{fn}: cycles momentum but param_groups[{i}] has neither 'momentum' nor "
                                     "'betas' (use cycle_momentum=False)")
        self.last_epoch = int(last_epoch)
        self._last_lr: list[float] = []
        self.step()

    def step(self) -> None:
        """Advance one step and set each group's ``lr`` (and cycled momentum) to the schedule's value."""
        self.last_epoch += 1
        for group, schedule in zip(self.optimizer.param_groups, self.schedules):
            group["lr"] = schedule.lr_at(self.last_epoch)
            momentum = schedule.momentum_at(self.last_epoch)
            if momentum is not None:
                if "betas" in group:
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate :meth:`step` last set, per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """``{'last_epoch': int}``: the schedule is a pure function of the step, so this is all it needs."""
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume at ``state_dict['last_epoch']`` (the groups' ``lr`` is set to that step's value)."""
        fn = type(self.schedule).__name__
        last = state_dict.get("last_epoch") if isinstance(state_dict, dict) else None
        if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 0:
            raise ValueError(f"{fn}.load_state_dict: expected {{'last_epoch': integer >= 0}}, got {state_dict!r}")
        self.last_epoch = int(last) - 1
        self.step()

    def __repr__(self) -> str:
        return f"OptimizerScheduler({self.schedule!r}, {type(self.optimizer).__name__}, last_epoch={self.last_epoch})"
