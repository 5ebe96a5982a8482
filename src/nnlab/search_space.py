"""Search spaces for ``nnlab tune``: the ``--param`` text syntax, grids, and Optuna samplers and pruners.

A search space maps recipe settings to distributions written as text (``parse_param``)::

    learning_rate=loguniform:1e-4:1e-2    reg=uniform:0:0.5    batch_size=int:32:256[:STEP]
    update_rule=choice:adam,sgd           hidden_dims=grid:[64],[128,64]    (grid = choice, for --sampler grid)

:mod:`nnlab.tune` runs studies over such spaces; this module only parses and describes them.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TuneError", "ParamSpec", "parse_param", "parse_space", "grid_size", "make_sampler", "make_pruner",
           "literal_or_text"]

_KINDS = ("uniform", "loguniform", "int", "choice", "grid")
_PRIMITIVES = (type(None), bool, int, float, str)


class TuneError(ValueError):
    """A tuning request that cannot run: bad space, unknown setting, unreachable storage, missing study."""


@dataclass
class ParamSpec:
    """One searched setting: ``kind`` in uniform/loguniform/int/choice/grid with ``low``/``high``/``step``
    (numeric kinds) or ``values`` (choice/grid)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: int | None = None
    values: list[Any] = field(default_factory=list)

    @property
    def finite(self) -> bool:
        """True when the values can be enumerated (choice, grid)."""
        return self.kind in ("choice", "grid")

    def labels(self) -> list[Any]:
        """Optuna categorical choices: the values themselves when primitive, else their ``repr``."""
        return [v if isinstance(v, _PRIMITIVES) else repr(v) for v in self.values]

    def decode(self, label: Any) -> Any:
        """The setting value of a categorical ``label``."""
        return self.values[self.labels().index(label)]

    def suggest(self, trial: Any) -> Any:
        """Draw this setting's value for an Optuna ``trial``."""
        if self.kind in ("uniform", "loguniform"):
            return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "loguniform")
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step or 1)
        return self.decode(trial.suggest_categorical(self.name, self.labels()))

    def to_text(self) -> str:
        """Back to the ``name=kind:...`` form (stored with the study so that ``--resume`` rebuilds it)."""
        if self.finite:
            return f"{self.name}={self.kind}:" + ",".join(repr(v) for v in self.values)
        tail = f":{self.step}" if self.step else ""
        low, high = (int(self.low), int(self.high)) if self.kind == "int" else (self.low, self.high)
        return f"{self.name}={self.kind}:{low!r}:{high!r}{tail}"


def literal_or_text(text: str) -> Any:
    """A Python literal written as text (``"1e-3"`` -> 0.001, ``"[64, 32]"`` -> a list), else the text itself
    (``"adam"``): how sweep values and a study's fixed settings are read back."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_values(raw: str) -> list[Any]:
    """``1e-3,2e-3`` -> floats; ``[64],[128,64]`` -> lists; ``adam,sgd`` -> strings."""
    try:
        values = ast.literal_eval(f"({raw},)")
        if isinstance(values, tuple):
            return list(values)
    except (ValueError, SyntaxError):
        pass
    return [literal_or_text(part.strip()) for part in raw.split(",")]


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TuneError(f"--param {spec!r}: {what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise TuneError(f"--param {spec!r}: {what} must be finite, got {text!r}")
    return value


def parse_param(text: str) -> ParamSpec:
    """Parse ``NAME=KIND:ARGS`` into a :class:`ParamSpec`; ``TuneError`` (a ``ValueError``) saying what is
    wrong otherwise. KIND: ``uniform:LOW:HIGH``, ``loguniform:LOW:HIGH`` (0 < LOW), ``int:LOW:HIGH[:STEP]``,
    ``choice:V1,V2,...`` or ``grid:V1,V2,...`` (Python literals, else strings)."""
    name, sep, rhs = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise TuneError(f"--param expects NAME=KIND:ARGS with NAME a setting name, got {text!r}")
    kind, _, args = rhs.strip().partition(":")
    if kind not in _KINDS:
        raise TuneError(f"--param {text!r}: unknown kind {kind!r}; expected one of {', '.join(_KINDS)}")
    if kind in ("choice", "grid"):
        values = _split_values(args) if args.strip() else []
        if not values:
            raise TuneError(f"--param {text!r}: {kind} needs at least one value, e.g. {name}={kind}:1,2")
        if len({repr(v) for v in values}) != len(values):
            raise TuneError(f"--param {text!r}: {kind} values must be distinct")
        return ParamSpec(name, kind, values=values)
    parts = args.split(":")
    if len(parts) not in ((2, 3) if kind == "int" else (2,)):
        form = "int:LOW:HIGH[:STEP]" if kind == "int" else f"{kind}:LOW:HIGH"
        raise TuneError(f"--param {text!r}: expected {name}={form}")
    low, high = _number(parts[0], "LOW", text), _number(parts[1], "HIGH", text)
    if not low < high:
        raise TuneError(f"--param {text!r}: LOW must be < HIGH, got {parts[0]} and {parts[1]}")
    if kind == "loguniform" and low <= 0:
        raise TuneError(f"--param {text!r}: loguniform needs 0 < LOW, got {parts[0]}")
    step = None
    if kind == "int":
        if low != int(low) or high != int(high):
            raise TuneError(f"--param {text!r}: int bounds must be integers")
        if len(parts) == 3:
            step = int(_number(parts[2], "STEP", text))
            if step < 1:
                raise TuneError(f"--param {text!r}: STEP must be >= 1")
    return ParamSpec(name, kind, low=low, high=high, step=step)


def parse_space(texts: list[str]) -> dict[str, ParamSpec]:
    """Parse several ``--param`` texts; a setting named twice is an error."""
    space: dict[str, ParamSpec] = {}
    for text in texts:
        spec = parse_param(text)
        if spec.name in space:
            raise TuneError(f"--param: setting {spec.name!r} is given twice")
        space[spec.name] = spec
    return space


def grid_size(space: dict[str, ParamSpec]) -> int:
    """Number of configurations of a finite space (product of the value counts)."""
    return math.prod(len(s.values) for s in space.values())


def make_sampler(name: str, space: dict[str, ParamSpec], seed: int | None = None) -> Any:
    """Optuna sampler ``'grid'`` (every configuration of a finite space once), ``'random'`` or ``'tpe'``."""
    import optuna

    if name == "grid":
        infinite = [s.name for s in space.values() if not s.finite]
        if infinite:
            raise TuneError(f"--sampler grid needs choice/grid values for every --param; {', '.join(infinite)} "
                            "is a continuous range")
        return optuna.samplers.GridSampler({n: s.labels() for n, s in space.items()}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, len(space) * 2)))
    raise TuneError(f"unknown sampler {name!r}; expected grid, random or tpe")


def make_pruner(text: str | None) -> Any:
    """``'median'`` (default), ``'none'`` or ``'threshold:LOWER'`` (prune a trial whose val accuracy falls
    below LOWER at any epoch end)."""
    import optuna

    text = text or "median"
    if text == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if text == "none":
        return optuna.pruners.NopPruner()
    kind, _, arg = text.partition(":")
    if kind == "threshold":
        return optuna.pruners.ThresholdPruner(lower=_number(arg, "LOWER", text))
    raise TuneError(f"unknown pruner {text!r}; expected median, none or threshold:LOWER")
