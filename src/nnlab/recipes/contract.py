"""The recipe contract: a recipe is a declaration — typed settings, the data, the model, and what only it knows.

A :class:`Recipe` holds, as data:

- ``name``, ``summary``, ``expected`` (the figure it should reach);
- ``settings``: :class:`Setting` objects, each with a type, default, allowed range or choices and one line of help.
  ``--set`` values (text) and Python values are parsed to the declared type and checked against the declared range
  by :func:`resolve_settings` **before any data is loaded**;
- ``quick``: the overrides of ``--quick`` (a short run for CI);
- ``sweep``: an optional grid ``{setting: [values]}`` that its full run explores (run by :mod:`nnlab.runner`);
- the few functions only it can supply: ``data(cfg) -> dict`` (``X_train, y_train, X_val, y_val, X_test, y_test``
  and an optional ``info`` dict: class names, vocabulary, input preprocessing), ``model(cfg, info) -> model``
  (the CS231n model contract), ``solver(cfg, data) -> dict`` (Solver keywords beyond the standard settings),
  ``score(result) -> dict`` (its figures; default: accuracy on every split), ``plots(result)`` (extra figures),
  ``variants(cfg)`` (a study: several models trained one after the other) with ``summarize(study) -> dict``,
  ``fit(cfg, data, run_dir, progress) -> metrics`` for a recipe that does not train by gradient (the kernel SVM).

The hooks that come after training receive ONE object: a :class:`RunResult` (``score``, ``plots``) holds the
trained model, the data and its info, the settings, the Solver's histories and iterations per epoch, what its
callbacks recorded and the run folder; a :class:`StudyResult` (``summarize``) holds every variant's
:class:`RunResult` and the study's folder. So no recipe re-records what the Solver keeps, and no setting
carries a folder.

Everything else — seeding, the Solver, the run folder, the weights file, the plots every classifier gets — is done
once, by :mod:`nnlab.runner`.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Setting", "Recipe", "RunResult", "StudyResult", "SettingError", "UnknownRecipeError", "resolve_settings",
           "standard_solver_settings", "format_settings"]

_TYPES = ("int", "float", "str", "bool", "ints", "floats", "dict", "path")


class SettingError(ValueError):
    """A setting value the recipe does not accept (unknown name, wrong type, out of range). The message names the
    setting, its type and its range."""


class UnknownRecipeError(KeyError):
    """No recipe of that name; the message lists the known ones."""


@dataclass(frozen=True)
class Setting:
    """One typed recipe setting.

    kind: ``'int'``, ``'float'``, ``'str'``, ``'bool'``, ``'ints'`` / ``'floats'`` (lists of numbers), ``'dict'``
    or ``'path'``. low / high: inclusive bounds (``low_open`` / ``high_open`` make them exclusive); for lists they
    bound every element. choices: the allowed values (checked after parsing). nullable: ``None`` is allowed.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _TYPES:
            raise ValueError(f"Setting {self.name}: kind must be one of {', '.join(_TYPES)}, got {self.kind!r}")

    # -- description ------------------------------------------------------------------------------------------
    def describe(self) -> str:
        """``'float in (0, inf)'``, ``'int >= 1'``, ``"one of 'sgd', 'adam'"``, with ``' or None'`` if nullable."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            base = {"ints": "list of int", "floats": "list of float"}.get(self.kind, self.kind)
            text = base + self._range_text()
        return text + (" or None" if self.nullable and None not in (self.choices or ()) else "")

    def _range_text(self) -> str:
        if self.low is None and self.high is None:
            return ""
        if self.high is None:
            return f" {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.low is None:
            return f" {'<' if self.high_open else '<='} {_num(self.high)}"
        return (f" in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}"
                f"{')' if self.high_open else ']'}")

    # -- parsing ----------------------------------------------------------------------------------------------
    def parse(self, value: Any, from_text: bool = False) -> Any:
        """The value as this setting's type, checked; ``from_text``: ``value`` is command-line text
        (``'1e-3'``, ``'[64, 64]'``, ``'None'``). Raises :class:`SettingError` naming the setting."""
        if from_text and isinstance(value, str):
            value = _literal(value, self.kind)
        if value is None or (isinstance(value, str) and value.lower() == "none" and self.nullable):
            if self.nullable or (self.choices is not None and None in self.choices):
                return None
            self._fail(value)
        parsed = self._coerce(value)
        if self.choices is not None and parsed not in self.choices and isinstance(parsed, str):
            same = [c for c in self.choices if isinstance(c, str) and c.lower() == parsed.lower()]
            if same:  # choices match case-insensitively: ReLU -> relu
                return same[0]
        if self.choices is not None and parsed not in self.choices:
            close = difflib.get_close_matches(str(parsed).lower(), [str(c) for c in self.choices], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self._fail(value, hint)
        return parsed

    def _fail(self, value: Any, hint: str = "") -> None:
        raise SettingError(f"setting {self.name!r} must be {self.describe()}, got {value!r}{hint}")

    def _coerce(self, value: Any) -> Any:
        kind = self.kind
        if kind in ("ints", "floats"):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, (list, tuple)) or not value:
                self._fail(value)
            return [self._number(v, "int" if kind == "ints" else "float", whole=value) for v in value]
        if kind in ("int", "float"):
            return self._number(value, kind, whole=value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
                return value.lower() in ("true", "yes", "1")
            self._fail(value)
        if kind == "dict":
            if not isinstance(value, Mapping):
                self._fail(value)
            return dict(value)
        if kind in ("str", "path"):
            if not isinstance(value, str) or not value:
                self._fail(value)
            return value
        raise AssertionError(kind)  # pragma: no cover

    def _number(self, v: Any, kind: str, whole: Any) -> int | float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            self._fail(whole)
        if kind == "int":
            if isinstance(v, float):
                if not v.is_integer():
                    self._fail(whole)
                v = int(v)
        else:
            v = float(v)
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            self._fail(whole)
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            self._fail(whole)
        return v


def _num(x: float | None) -> str:
    if x is None:
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def _literal(text: str, kind: str) -> Any:
    """Command-line text -> a Python value: a literal when it is one, else the text (strings need no quotes)."""
    raw = text.strip()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        if kind in ("float", "floats", "int", "ints") and raw.lower() in ("inf", "-inf", "nan"):
            return float(raw)
        return raw


@dataclass
class RunResult:
    """A trained run, as the runner hands it to the recipe's ``score`` and ``plots`` hooks.

    ``model``: the trained model; ``data``: the splits (``X_train`` ...) and ``info`` the data's info (class names,
    vocabulary, input shape); ``cfg``: the typed settings; ``run_dir``: the run folder (figures go there);
    ``loss_history`` (one loss per iteration), ``train_acc_history`` / ``val_acc_history`` (one per accuracy
    check), ``iterations_per_epoch`` and ``epochs_done``: the Solver's; ``records``: the series its callbacks
    recorded (``solver.records``, e.g. a held-out loss per epoch); ``metrics``: what ``metrics.json`` holds so far
    (the scores once ``score`` has run, for ``plots``)."""

    model: Any
    data: dict[str, Any]
    info: dict[str, Any]
    cfg: dict[str, Any]
    run_dir: Path
    loss_history: list[float] = field(default_factory=list)
    train_acc_history: list[float] = field(default_factory=list)
    val_acc_history: list[float] = field(default_factory=list)
    iterations_per_epoch: int = 1
    epochs_done: int = 0
    records: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def epoch_means(self) -> list[float]:
        """The mean training loss of each completed epoch (``iterations_per_epoch`` losses each)."""
        import numpy as np

        ipe, log = max(int(self.iterations_per_epoch), 1), self.loss_history
        return [float(np.mean(log[i:i + ipe])) for i in range(0, len(log) - len(log) % ipe, ipe)]


@dataclass
class StudyResult:
    """A finished study, as the runner hands it to the recipe's ``summarize`` hook: ``variants`` maps each
    variant's name to its :class:`RunResult` (in training order), ``cfg`` the study's settings and ``run_dir`` the
    study's folder (its summary figures go there)."""

    variants: dict[str, RunResult]
    cfg: dict[str, Any]
    run_dir: Path

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each variant's ``metrics.json`` content, by variant name."""
        return {name: run.metrics for name, run in self.variants.items()}


@dataclass
class Recipe:
    """A reproducible experiment, declared (see the module docstring for each field)."""

    name: str
    summary: str
    expected: str
    settings: Sequence[Setting]
    data: Callable[[dict], dict] | None = None
    model: Callable[[dict, dict], Any] | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)
    sweep: Mapping[str, list] | None = None
    task: str = "classification"  # 'classification' | 'language' | 'study' | 'analysis'
    solver: Callable[[dict, dict], dict] | None = None
    plots: Callable[[RunResult], None] | None = None
    variants: Callable[[dict], list[tuple[str, dict]]] | None = None
    summarize: Callable[[StudyResult], dict] | None = None
    fit: Callable[..., dict] | None = None
    score: Callable[[RunResult], dict] | None = None
    data_settings: tuple[str, ...] = ()  # settings that change a study's data (variants share one load otherwise)
    quick_sweep: Mapping[str, list] | None = None  # the sweep of --quick (default: ``sweep``)

    def __post_init__(self) -> None:
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError(f"recipe {self.name}: duplicate setting names")
        unknown = set(self.quick) - set(names)
        if unknown:
            raise ValueError(f"recipe {self.name}: quick overrides unknown setting(s) {sorted(unknown)}")
        for key, values in (self.sweep or {}).items():
            if key not in names:
                raise ValueError(f"recipe {self.name}: sweep names unknown setting {key!r}")
            for v in values:
                self.setting(key).parse(v)

    def setting(self, name: str) -> Setting:
        """The :class:`Setting` called ``name``; :class:`SettingError` with a "did you mean" otherwise."""
        for s in self.settings:
            if s.name == name:
                return s
        names = [s.name for s in self.settings]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SettingError(f"recipe {self.name!r} has no setting {name!r}; {hint}known settings: {', '.join(names)}")

    @property
    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}


def resolve_settings(recipe: Recipe, overrides: Mapping[str, Any] | None = None, quick: bool = False,
                     from_text: bool = False) -> dict[str, Any]:
    """Defaults, then ``recipe.quick`` when ``quick`` (unless set explicitly), then ``overrides``, each parsed and
    checked. ``from_text``: the override values are command-line text. Returns the typed settings."""
    overrides = dict(overrides or {})
    cfg = {s.name: s.parse(s.default) if s.default is not None else None for s in recipe.settings}
    if quick:
        cfg.update({k: recipe.setting(k).parse(v) for k, v in recipe.quick.items() if k not in overrides})
    for key, value in overrides.items():
        cfg[key] = recipe.setting(key).parse(value, from_text=from_text)
    return cfg


def format_settings(recipe: Recipe) -> str:
    """The settings table of ``nnlab train RECIPE --help``: name, type and range, default, help."""
    rows = [(s.name, s.describe(), repr(s.default), s.help) for s in recipe.settings]
    w0 = max(len(r[0]) for r in rows)
    w1 = min(max(len(r[1]) for r in rows), 44)
    lines = [f"{recipe.name}: {recipe.summary}", f"expected: {recipe.expected}", "", "settings (--set NAME=VALUE):"]
    lines += [f"  {n:<{w0}}  {t:<{w1}}  default {d}\n  {'':<{w0}}  {h}" for n, t, d, h in rows]
    if recipe.quick:
        lines += ["", "--quick sets: " + ", ".join(f"{k}={v!r}" for k, v in recipe.quick.items())]
    if recipe.sweep:
        lines += ["", "full run sweeps: " + ", ".join(f"{k} in {v!r}" for k, v in recipe.sweep.items())]
    return "\n".join(lines)


_RULES = ("sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam", "adamax", "adagrad", "adamw")


def standard_solver_settings(*, update_rule: str = "adam", learning_rate: float = 1e-3, lr_decay: float = 1.0,
                             num_epochs: int = 10, batch_size: int = 100, seed: int = 0,
                             num_train_samples: int | None = 1000, batch_order: str = "sample",
                             grad_clip: float | None = None) -> list[Setting]:
    """The settings every Solver-trained recipe has, with its own defaults: update rule, learning rate, decay,
    epochs, batch size, seed, accuracy subsample, batch order, gradient clipping."""
    return [
        Setting("update_rule", "str", update_rule, "update rule of nnlab.optim", choices=_RULES),
        Setting("learning_rate", "float", learning_rate, "initial learning rate", low=0, low_open=True),
        Setting("lr_decay", "float", lr_decay, "learning-rate factor applied after every epoch", low=0, high=1,
                low_open=True),
        Setting("num_epochs", "int", num_epochs, "passes over the training set", low=1),
        Setting("batch_size", "int", batch_size, "minibatch size", low=1),
        Setting("seed", "int", seed, "random seed (weights, minibatches, dropout, augmentation)", low=0),
        Setting("num_train_samples", "int", num_train_samples, "training images scored at each accuracy check "
                "(None = all)", low=1, nullable=True),
        Setting("batch_order", "str", batch_order, "minibatches: 'sample' (with replacement, CS231n), 'shuffle' "
                "(a permutation per epoch) or 'sequential'", choices=("sample", "shuffle", "sequential")),
        Setting("grad_clip", "float", grad_clip, "clip the global gradient L2 norm to this (None = off)", low=0,
                low_open=True, nullable=True),
    ]
