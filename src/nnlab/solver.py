"""Solver: the training loop of CS231n (``Solver(model, data, **kwargs).train()``) plus modern conveniences.

CS231n semantics (spec seed_004 §5A), kept exactly:

- ``iterations_per_epoch = max(N_train // batch_size, 1)``; ``num_iterations = num_epochs * iterations_per_epoch``.
- Each iteration samples ``rng.choice(N_train, batch_size)`` (with replacement; NumPy's global RNG unless
  ``seed`` is given), appends the loss to ``loss_history`` and updates every parameter with
  ``next_w, config = update_rule(w, dw, optim_configs[name])`` (one deep copy of ``optim_config`` per parameter).
- After each epoch ``learning_rate *= lr_decay`` in every config.
- Accuracy is checked at the first iteration (epoch 0), at every epoch end and at the last iteration; the
  parameters with the strictly best validation accuracy are deep-copied into ``best_params`` and put back into
  ``model.params`` when training ends.
- Log lines ``(Iteration %d / %d) loss: %f`` (when ``verbose and t % print_every == 0``) and
  ``(Epoch %d / %d) train acc: %f; val_acc: %f``.

Additions: a tqdm progress bar with the live loss, callbacks (:mod:`nnlab.callbacks`), an ``lr_schedule``, a
``batch_transform`` for augmentation, a divergence guard, and pickle-free atomic checkpoints from which
:meth:`Solver.resume` continues a killed run (losing at most the epoch in progress).

The Solver knows only the model contract: ``model.params`` (dict name -> array) and ``model.loss(X, y=None)``
(scores when ``y`` is None, else ``(loss, grads)`` with ``grads`` keyed like ``params``).
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import get_rng, to_numpy, xp_of
from .io import load_arrays, save_arrays
from .optim import get_update_rule
from .validation import check_array

__all__ = ["Solver", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "nnlab.solver.checkpoint/1"
_REQUIRED_DATA = ("X_train", "y_train", "X_val", "y_val")
_DEFAULTS: dict[str, Any] = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "checkpoint_name": None,
    "print_every": 10,
    "verbose": True,
    "seed": None,
    "progress": None,
    "callbacks": None,
    "lr_schedule": None,
    "batch_transform": None,
    "checkpoint_every": 1,
    "checkpoint_per_epoch": True,
    "divergence_guard": True,
}
# Settings stored in a checkpoint's metadata (callables and callbacks cannot be; pass them again to resume).
_SAVED_SETTINGS = ("lr_decay", "batch_size", "num_epochs", "num_train_samples", "num_val_samples",
                   "checkpoint_name", "print_every", "verbose", "seed", "progress", "checkpoint_every",
                   "checkpoint_per_epoch", "divergence_guard")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Solver: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_data(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"Solver: data must be a dict with keys {', '.join(_REQUIRED_DATA)}, "
                        f"got {type(data).__name__}")
    missing = [k for k in _REQUIRED_DATA if k not in data]
    if missing:
        raise ValueError(f"Solver: data is missing the key(s) {', '.join(repr(k) for k in missing)} "
                         f"(it must contain {', '.join(_REQUIRED_DATA)})")
    for split in ("train", "val"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        check_array("Solver", f"data['X_{split}']", X)
        check_array("Solver", f"data['y_{split}']", y, ndim=1, shape_hint="(N,)")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"Solver: data['X_{split}'] has {X.shape[0]} samples but data['y_{split}'] "
                             f"has {y.shape[0]} labels")
        if X.shape[0] == 0:
            raise ValueError(f"Solver: data['X_{split}'] is empty")


def _check_model(model: Any) -> None:
    params = getattr(model, "params", None)
    if not isinstance(params, Mapping) or not callable(getattr(model, "loss", None)):
        raise TypeError("Solver: model must have a dict `params` and a method `loss(X, y=None)`, "
                        f"got {type(model).__name__}")


class Solver:
    """Train a classification model with minibatch updates (CS231n ``Solver`` API).

    Parameters
    ----------
    model : object with ``params`` (dict name -> array) and ``loss(X, y=None)``. Optionally also
        ``buffer_arrays() -> dict name -> array`` and ``load_buffer_arrays(dict)`` for state that is not trained by the
        update rule but belongs with the weights (batch-norm running statistics): the Solver then keeps it with
        ``best_params`` (so restored weights get their own statistics) and in checkpoints.
    data : dict with ``X_train`` (N, ...), ``y_train`` (N,), ``X_val`` (N_val, ...), ``y_val`` (N_val,);
        other keys are ignored.
    update_rule : name of a rule in :mod:`nnlab.optim` (``'sgd'``, ``'sgd_momentum'``, ``'rmsprop'``, ``'adam'``,
        ...) or a callable ``rule(w, dw, config) -> (next_w, config)``. Default ``'sgd'``.
    optim_config : dict of hyperparameters for the rule (copied once per parameter). Default ``{}``.
    lr_decay : factor applied to every ``learning_rate`` after each epoch. Default 1.0.
    batch_size, num_epochs : default 100 and 10.
    num_train_samples : training accuracy is measured on a random subsample of this size (default 1000;
        None = all). num_val_samples : likewise for validation (default None = all).
    checkpoint_name : if set, ``f"{checkpoint_name}_epoch_{epoch}.npz"`` and ``f"{checkpoint_name}_latest.npz"``
        are written atomically at every ``checkpoint_every``-th epoch end (and the last one).
    print_every : print the loss every this many iterations (0 = never). verbose : print at all (default True).
    seed : None (NumPy's global RNG, so ``np.random.seed`` reproduces notebooks), an int (a private
        ``RandomState``) or a ``Generator``/``RandomState`` used for minibatches and accuracy subsamples.
    progress : show a tqdm bar with the live loss; None = only when stderr is a terminal.
    callbacks : list of :class:`nnlab.callbacks.Callback`-like objects.
    lr_schedule : callable ``epoch -> learning_rate`` applied to every config at the start and after each
        epoch; when given it replaces ``lr_decay``.
    batch_transform : callable ``(X_batch, y_batch) -> (X_batch, y_batch)`` applied to training minibatches
        only (data augmentation).
    checkpoint_every : checkpoint period in epochs (default 1).
    checkpoint_per_epoch : keep one file per checkpointed epoch as CS231n does (default True); False writes only
        ``f"{checkpoint_name}_latest.npz"``.
    divergence_guard : stop on a NaN/inf loss or gradient, keeping the parameters from before that step
        (default True).

    Attributes
    ----------
    loss_history (one per iteration), train_acc_history, val_acc_history (one per accuracy check), best_val_acc,
    best_params, epoch, optim_configs, stop_training, stop_reason, diverged.
    """

    def __init__(self, model: Any, data: Mapping[str, Any], **kwargs: Any) -> None:
        _check_model(model)
        _check_data(data)
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        unknown = [k for k in kwargs if k not in _DEFAULTS]
        if unknown:
            raise ValueError("Unrecognized arguments " + ", ".join(f'"{k}"' for k in unknown))
        opts = {**_DEFAULTS, **kwargs}
        self.update_rule = get_update_rule(opts["update_rule"])
        self.update_rule_name = opts["update_rule"] if isinstance(opts["update_rule"], str) else getattr(
            self.update_rule, "__name__", type(self.update_rule).__name__)
        self.optim_config = copy.deepcopy(opts["optim_config"]) if opts["optim_config"] is not None else {}
        if not isinstance(self.optim_config, dict):
            raise TypeError(f"Solver: optim_config must be a dict, got {type(self.optim_config).__name__}")
        self.lr_decay = float(opts["lr_decay"])
        self.batch_size = _check_int("batch_size", opts["batch_size"], 1)
        self.num_epochs = _check_int("num_epochs", opts["num_epochs"], 0)
        self.num_train_samples = opts["num_train_samples"]
        self.num_val_samples = opts["num_val_samples"]
        self.checkpoint_name = opts["checkpoint_name"]
        self.checkpoint_every = _check_int("checkpoint_every", opts["checkpoint_every"], 1)
        self.checkpoint_per_epoch = bool(opts["checkpoint_per_epoch"])
        self.print_every = _check_int("print_every", opts["print_every"], 0)
        self.verbose = bool(opts["verbose"])
        self.seed = opts["seed"]
        self.progress = opts["progress"]
        self.callbacks = list(opts["callbacks"] or [])
        self.lr_schedule = opts["lr_schedule"]
        self.batch_transform = opts["batch_transform"]
        self.divergence_guard = bool(opts["divergence_guard"])
        for name in ("lr_schedule", "batch_transform"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"Solver: {name} must be callable or None")
        self._rng = get_rng(self.seed)
        self._bar = None
        self._reset()

    def _reset(self) -> None:
        """Book-keeping state; called by ``__init__`` (CS231n's ``_reset``)."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params: dict[str, Any] = {}
        self.best_buffers: dict[str, Any] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}
        self.stop_training = False
        self.stop_reason: str | None = None
        self.diverged = False

    @property
    def num_train(self) -> int:
        """Number of training samples N."""
        return int(self.X_train.shape[0])

    @property
    def iterations_per_epoch(self) -> int:
        """``max(N_train // batch_size, 1)``."""
        return max(self.num_train // self.batch_size, 1)

    @property
    def num_iterations(self) -> int:
        """``num_epochs * iterations_per_epoch``."""
        return self.num_epochs * self.iterations_per_epoch

    # ---------------------------------------------------------------------------------------------------------
    # one step
    # ---------------------------------------------------------------------------------------------------------
    def _step(self) -> tuple[float, str | None]:
        """One minibatch update. Returns ``(loss, problem)``; ``problem`` names a non-finite value (the update
        is then skipped) or is None."""
        idx = self._rng.choice(self.num_train, self.batch_size)
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        if self.batch_transform is not None:
            X_batch, y_batch = self.batch_transform(X_batch, y_batch)
        loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        if self.divergence_guard:
            problem = self._non_finite(loss, grads)
            if problem is not None:
                return loss, problem
        self.loss_history.append(loss)
        for p in list(self.model.params):
            w = self.model.params[p]
            next_w, next_config = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config
        return loss, None

    @staticmethod
    def _non_finite(loss: float, grads: Mapping[str, Any]) -> str | None:
        if not np.isfinite(loss):
            return f"loss is {'NaN' if np.isnan(loss) else loss}"
        bad = [p for p, g in grads.items() if not bool(xp_of(g).isfinite(g).all())]
        return f"gradient of {', '.join(bad)} contains NaN or inf (loss {loss:f})" if bad else None

    def _diverge(self, t: int, problem: str) -> None:
        self.diverged = True
        self.stop_training = True
        self.stop_reason = (f"diverged at iteration {t + 1} / {self.num_iterations} (epoch {self.epoch + 1}): "
                            f"{problem}; training stopped and the parameters from before this step were kept")
        warnings.warn(f"Solver: {self.stop_reason}", RuntimeWarning, stacklevel=3)

    # ---------------------------------------------------------------------------------------------------------
    # learning rate
    # ---------------------------------------------------------------------------------------------------------
    def _set_learning_rate(self, lr: Any) -> None:
        lr = float(lr)  # a Python float keeps float32 parameters float32
        for config in self.optim_configs.values():
            config["learning_rate"] = lr

    def _end_of_epoch_learning_rate(self) -> None:
        if self.lr_schedule is not None:
            self._set_learning_rate(self.lr_schedule(self.epoch))
            return
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay

    # ---------------------------------------------------------------------------------------------------------
    # accuracy
    # ---------------------------------------------------------------------------------------------------------
    def check_accuracy(self, X: Any, y: Any, num_samples: int | None = None, batch_size: int = 100) -> float:
        """Fraction of ``argmax(model.loss(X_batch), axis=1) == y``.

        Inputs: X (N, ...), y (N,) integer labels; num_samples: if not None and < N, accuracy on a random
        subsample (with replacement) of that size; batch_size: rows per forward pass.
        Returns the accuracy as a Python float.
        """
        check_array("check_accuracy", "X", X)
        check_array("check_accuracy", "y", y, ndim=1, shape_hint="(N,)")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"check_accuracy: X has {X.shape[0]} samples but y has {y.shape[0]} labels")
        batch_size = _check_int("check_accuracy batch_size", batch_size, 1)
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = self._rng.choice(N, num_samples)
            X, y, N = X[mask], y[mask], num_samples
        xp = xp_of(X)
        y_pred = [xp.argmax(self.model.loss(X[i:i + batch_size]), axis=1) for i in range(0, N, batch_size)]
        return float(xp.mean(xp.concatenate(y_pred) == y)) if N else 0.0

    def _record_accuracy(self) -> None:
        train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self.best_buffers = {k: v.copy() for k, v in self._model_buffers().items()}

    # ---------------------------------------------------------------------------------------------------------
    # training loop
    # ---------------------------------------------------------------------------------------------------------
    def _model_buffers(self) -> dict[str, Any]:
        """The model's non-trained state (``model.buffer_arrays()``), or ``{}`` for models without the hook."""
        buffers = getattr(self.model, "buffer_arrays", None)
        return dict(buffers()) if callable(buffers) else {}

    def _log(self, message: str) -> None:
        if self._bar is not None and not self._bar.disable:
            self._bar.write(message)
        else:
            print(message)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args)

    def _make_bar(self, start: int):
        from tqdm.auto import tqdm

        show = self.progress if self.progress is not None else bool(getattr(sys.stderr, "isatty", lambda: False)())
        return tqdm(total=self.num_iterations, initial=start, disable=not show, desc="train", unit="it",
                    dynamic_ncols=True)

    def train(self) -> None:
        """Run the optimization from the current epoch to ``num_epochs`` (epoch 0 for a new Solver).

        At the end ``model.params`` holds ``best_params`` (the strictly best validation accuracy), unless the
        divergence guard stopped the run: then it holds the last finite parameters (before the bad step).
        """
        ipe, num_iterations = self.iterations_per_epoch, self.num_iterations
        start = self.epoch * ipe
        self.stop_training, self.stop_reason, self.diverged = False, None, False
        self._call("on_train_begin")
        if self.lr_schedule is not None:
            self._set_learning_rate(self.lr_schedule(self.epoch))
        self._bar = self._make_bar(start)
        try:
            for t in range(start, num_iterations):
                loss, problem = self._step()
                if problem is not None:
                    self._diverge(t, problem)
                    break
                self._bar.set_postfix_str(f"loss={loss:.4f}", refresh=False)
                self._bar.update(1)
                if self.verbose and self.print_every > 0 and t % self.print_every == 0:
                    self._log(f"(Iteration {t + 1} / {num_iterations}) loss: {loss:f}")
                self._call("on_iteration_end", t, loss)
                self._after_iteration(t, num_iterations)
                if self.stop_training:
                    break
        finally:
            self._bar.close()
            self._bar = None
        if not self.diverged and self.best_params:
            for k, v in self.best_params.items():
                self.model.params[k] = v.copy()
            if self.best_buffers:
                self.model.load_buffer_arrays({k: v.copy() for k, v in self.best_buffers.items()})
        if self.verbose and self.stop_reason:
            print(f"Stopped: {self.stop_reason}")
        self._call("on_train_end")

    def _after_iteration(self, t: int, num_iterations: int) -> None:
        """Epoch book-keeping after iteration ``t``: lr decay, accuracy check, checkpoint, callbacks."""
        epoch_end = (t + 1) % self.iterations_per_epoch == 0
        if epoch_end:
            self.epoch += 1
            self._end_of_epoch_learning_rate()
        if t == 0 or t == num_iterations - 1 or epoch_end:
            self._record_accuracy()
            if epoch_end and self.checkpoint_name is not None and (
                    self.epoch % self.checkpoint_every == 0 or self.epoch == self.num_epochs):
                self._save_checkpoint()
            if self.verbose:
                self._log(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {self.train_acc_history[-1]:f}; "
                          f"val_acc: {self.val_acc_history[-1]:f}")
        if epoch_end:
            self._call("on_epoch_end", self.epoch)

    # ---------------------------------------------------------------------------------------------------------
    # checkpoints
    # ---------------------------------------------------------------------------------------------------------
    def checkpoint_paths(self, epoch: int | None = None) -> tuple[Path, Path]:
        """``(f"{checkpoint_name}_epoch_{epoch}.npz", f"{checkpoint_name}_latest.npz")`` for ``epoch``
        (default: the current one)."""
        if self.checkpoint_name is None:
            raise ValueError("Solver: checkpoint_name is not set")
        epoch = self.epoch if epoch is None else epoch
        return Path(f"{self.checkpoint_name}_epoch_{epoch}.npz"), Path(f"{self.checkpoint_name}_latest.npz")

    def _save_checkpoint(self) -> None:
        arrays, metadata = self.state_arrays()
        epoch_path, latest_path = self.checkpoint_paths()
        epoch_path.parent.mkdir(parents=True, exist_ok=True)
        if self.checkpoint_per_epoch:
            if self.verbose:
                self._log(f'Saving checkpoint to "{epoch_path}"')
            save_arrays(epoch_path, arrays, metadata)
        save_arrays(latest_path, arrays, metadata)

    def state_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """The full training state as ``(arrays, metadata)`` for :func:`nnlab.io.save_arrays`.

        arrays: ``params/<name>``, ``best_params/<name>``, ``optim/<name>/<key>`` (array-valued config entries),
        ``history/loss``, ``history/train_acc``, ``history/val_acc``, ``rng/keys`` (MT19937 state).
        metadata: epoch, best_val_acc, settings, scalar config entries, RNG state, format tag.
        """
        arrays: dict[str, np.ndarray] = {}
        buffers = self._model_buffers()
        for prefix, params in (("params", self.model.params), ("best_params", self.best_params),
                               ("buffers", buffers), ("best_buffers", self.best_buffers)):
            for k, v in params.items():
                arrays[f"{prefix}/{k}"] = to_numpy(v)
        optim_scalars: dict[str, dict[str, Any]] = {}
        optim_arrays: dict[str, list[list[str]]] = {}
        for p, config in self.optim_configs.items():
            optim_scalars[p], optim_arrays[p] = {}, []
            for key, value in config.items():
                if isinstance(value, (bool, int, float, str)) or value is None:
                    optim_scalars[p][key] = value
                    continue
                name = f"optim/{p}/{key}"
                if name in arrays:
                    raise ValueError(f"Solver: checkpoint key {name!r} is ambiguous (parameter and config names "
                                     "must not make the same 'optim/<param>/<key>' path)")
                arrays[name] = to_numpy(value)
                optim_arrays[p].append([key, "scalar" if isinstance(value, np.generic) else "array"])
        arrays["history/loss"] = np.asarray(self.loss_history, dtype=np.float64)
        arrays["history/train_acc"] = np.asarray(self.train_acc_history, dtype=np.float64)
        arrays["history/val_acc"] = np.asarray(self.val_acc_history, dtype=np.float64)
        rng_meta = self._rng_state(arrays)
        settings = {k: getattr(self, k) for k in _SAVED_SETTINGS}
        if not isinstance(settings["seed"], (int, type(None))):
            settings["seed"] = None  # a Generator/RandomState object: its state is stored under "rng"
        settings["update_rule"] = self.update_rule_name
        settings["custom_update_rule"] = not self._is_named_rule()
        try:
            json.dumps(self.optim_config)
            settings["optim_config"] = self.optim_config
        except (TypeError, ValueError):
            settings["optim_config"] = None
        metadata = {
            "format": CHECKPOINT_FORMAT,
            "epoch": int(self.epoch),
            "best_val_acc": float(self.best_val_acc),
            "param_names": list(self.model.params),
            "best_param_names": list(self.best_params),
            "buffer_names": list(buffers),
            "best_buffer_names": list(self.best_buffers),
            "optim_scalars": optim_scalars,
            "optim_arrays": optim_arrays,
            "rng": rng_meta,
            "settings": settings,
            "callables": {"lr_schedule": self.lr_schedule is not None,
                          "batch_transform": self.batch_transform is not None,
                          "callbacks": [type(cb).__name__ for cb in self.callbacks]},
        }
        return arrays, metadata

    def _is_named_rule(self) -> bool:
        try:
            return get_update_rule(self.update_rule_name) is self.update_rule
        except ValueError:
            return False

    def _rng_state(self, arrays: dict[str, np.ndarray]) -> dict:
        rng = self._rng
        if isinstance(rng, np.random.Generator):
            state = rng.bit_generator.state
            try:
                json.dumps(state)
            except (TypeError, ValueError):
                return {"kind": "unsaved"}
            return {"kind": "Generator", "state": state}
        name, keys, pos, has_gauss, cached = rng.get_state()
        arrays["rng/keys"] = np.asarray(keys, dtype=np.uint32)
        kind = "global" if rng is np.random else "RandomState"
        return {"kind": kind, "name": name, "pos": int(pos), "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached)}

    def _restore_rng(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        kind = meta.get("kind")
        if kind == "Generator":
            self._rng = np.random.default_rng()
            self._rng.bit_generator.state = meta["state"]
        elif kind in ("global", "RandomState"):
            state = (meta["name"], arrays["rng/keys"], meta["pos"], meta["has_gauss"], meta["cached_gaussian"])
            if kind == "global":
                self._rng = np.random
            elif not isinstance(self._rng, np.random.RandomState):
                self._rng = np.random.RandomState()
            self._rng.set_state(state)

    @classmethod
    def resume(cls, checkpoint_path: str | Path, model: Any, data: Mapping[str, Any],
               **overrides: Any) -> Solver:
        """Rebuild a Solver from a checkpoint so that ``train()`` continues with the next epoch.

        ``model`` must have parameters with the checkpoint's names and shapes (its values are overwritten).
        The stored settings (update rule, lr_decay, batch_size, num_epochs, ...) are used unless overridden by
        ``overrides`` (e.g. ``num_epochs=20`` to train longer, ``callbacks=[...]``, ``progress=False``).
        Callables (``lr_schedule``, ``batch_transform``, a custom ``update_rule``) cannot be stored: pass them
        again. The RNG state is restored too (for ``seed=None`` that is NumPy's global RNG), so a run resumed
        from an epoch boundary draws the same minibatches as an uninterrupted one.
        """
        arrays, meta = load_arrays(checkpoint_path)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"Solver.resume: {str(checkpoint_path)!r} is not a Solver checkpoint "
                             f"(format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
        settings = dict(meta["settings"])
        custom = settings.pop("custom_update_rule", False)
        if custom and "update_rule" not in overrides:
            raise ValueError(f"Solver.resume: the checkpoint was trained with the custom update rule "
                             f"{settings['update_rule']!r}; pass update_rule=<the callable> to resume")
        if settings.get("optim_config") is None:
            settings.pop("optim_config", None)
        for name, was_set in meta.get("callables", {}).items():
            if name != "callbacks" and was_set and name not in overrides:
                warnings.warn(f"Solver.resume: the checkpointed run used {name}, which cannot be stored; "
                              f"pass {name}= to resume with it", UserWarning, stacklevel=2)
        settings.update(overrides)
        solver = cls(model, data, **settings)
        solver._load_state(arrays, meta, restore_rng="seed" not in overrides)
        return solver

    def _load_state(self, arrays: dict[str, np.ndarray], meta: dict, restore_rng: bool = True) -> None:
        names = meta["param_names"]
        if sorted(names) != sorted(self.model.params):
            raise ValueError(f"Solver.resume: the checkpoint has parameters {sorted(names)} but the model has "
                             f"{sorted(self.model.params)}")
        for k in names:
            saved, current = arrays[f"params/{k}"], self.model.params[k]
            if tuple(saved.shape) != tuple(current.shape):
                raise ValueError(f"Solver.resume: parameter {k!r} has shape {tuple(saved.shape)} in the checkpoint "
                                 f"but {tuple(current.shape)} in the model")
            self.model.params[k] = xp_of(current).asarray(saved)
        self.best_params = {k: xp_of(self.model.params[k]).asarray(arrays[f"best_params/{k}"])
                            for k in meta["best_param_names"]}
        if meta.get("buffer_names"):
            if not callable(getattr(self.model, "load_buffer_arrays", None)):
                raise ValueError("Solver.resume: the checkpoint holds model buffers (e.g. batch-norm running "
                                 "statistics) but the model has no load_buffer_arrays() method")
            self.model.load_buffer_arrays({k: arrays[f"buffers/{k}"] for k in meta["buffer_names"]})
        self.best_buffers = {k: arrays[f"best_buffers/{k}"] for k in meta.get("best_buffer_names", [])}
        self.optim_configs = {}
        for p in names:
            config = dict(meta["optim_scalars"].get(p, {}))
            xp = xp_of(self.model.params[p])
            for key, kind in meta["optim_arrays"].get(p, []):
                value = arrays[f"optim/{p}/{key}"]
                config[key] = value[()] if kind == "scalar" else xp.asarray(value)
            self.optim_configs[p] = config
        self.loss_history = arrays["history/loss"].tolist()
        self.train_acc_history = arrays["history/train_acc"].tolist()
        self.val_acc_history = arrays["history/val_acc"].tolist()
        self.epoch = int(meta["epoch"])
        self.best_val_acc = meta["best_val_acc"]
        if restore_rng:
            self._restore_rng(arrays, meta.get("rng", {}))
