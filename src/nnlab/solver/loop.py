"""Solver: the training loop of CS231n (``Solver(model, data, **kwargs).train()``) plus modern conveniences.

CS231n semantics (spec seed_004 §5A), kept exactly with the default options:

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

Additions: batch orders (sampled, shuffled epochs, sequential, cyclic), gradient clipping by global norm, learning
rate schedules (epoch callables or :mod:`nnlab.schedules` objects stepped per epoch or per iteration), a
divergence guard, a tqdm progress bar, callbacks (:mod:`nnlab.callbacks`), a ``batch_transform`` for
augmentation, and pickle-free atomic checkpoints (:mod:`nnlab.solver.state`) from which :meth:`Solver.resume`
continues bit-identically, also after Ctrl-C in the middle of an epoch.

The Solver knows only the model contract: ``model.params`` (dict name -> array) and ``model.loss(X, y=None)``
(scores when ``y`` is None, else ``(loss, grads)`` with ``grads`` keyed like ``params``).
"""

from __future__ import annotations

import copy
import difflib
import math
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import get_rng, xp_of
from ..io import load_arrays, save_arrays
from ..optim import RULE_KEYS, check_optim_config, clip_grad_norm, get_update_rule
from ..validation import check_array
from .guard import DivergenceRules
from .options import (
    BATCH_ORDERS,
    DEFAULTS,
    SAVED_SETTINGS,
    bind_schedule,
    check_data,
    check_float,
    check_int,
    check_model,
    check_rng_sources,
    check_seed,
    epoch_length,
)
from .progress import ProgressLines
from .signals import DeferredSignals, signal_name
from .state import (
    CHECKPOINT_FORMAT,
    load_solver_state,
    restore_rng_snapshot,
    rng_snapshot,
    solver_state,
)

__all__ = ["Solver", "CHECKPOINT_FORMAT", "BATCH_ORDERS"]

RULE_KEYS_ALL = frozenset(k for keys in RULE_KEYS.values() for k in keys)

_NON_FINITE = "NaN or inf"  # what the kernels' check_finite errors say


class Solver:
    """Train a classification model with minibatch updates (CS231n ``Solver`` API).

    Keyword arguments; the first block is CS231n's, the second (Other Parameters) nnlab's additions.

    Parameters
    ----------
    model : object with ``params`` (dict name -> array) and ``loss(X, y=None)``. Optionally also
        ``buffer_arrays() -> dict name -> array`` and ``load_buffer_arrays(dict)`` for state that the update
        rule does not train but that belongs with the weights (batch-norm running statistics): the Solver keeps
        it with ``best_params``, with the last good parameters of the divergence guard, and in checkpoints.
    data : dict with ``X_train`` (N, ...), ``y_train`` (N,), ``X_val`` (N_val, ...), ``y_val`` (N_val,).
    update_rule : a rule of :mod:`nnlab.optim` by name (``'sgd'``, ``'sgd_momentum'``, ``'rmsprop'``, ``'adam'``,
        ``'adamw'``, ...) or a callable ``rule(w, dw, config) -> (next_w, config)``. Default ``'sgd'``.
    optim_config : the rule's hyperparameters (copied once per parameter). Unknown keys, string numbers and
        out-of-range values are errors raised here (:func:`nnlab.optim.check_optim_config`). Default ``{}``.
    lr_decay : in (0, 1]; every ``learning_rate`` is multiplied by it after each epoch. Default 1.0.
    batch_size : minibatch size (100).
    num_epochs : epochs to train (>= 1; 10).
    num_train_samples : training accuracy on a random subsample of this size (1000; None = all).
    num_val_samples : likewise for validation (None = all).
    checkpoint_name : if set, ``f"{checkpoint_name}_epoch_{epoch}.npz"`` and ``f"{checkpoint_name}_latest.npz"``
        are written atomically every ``checkpoint_every`` epochs (and at the last); see :meth:`resume`.
    print_every : print the loss every this many iterations (10; 0 = never).
    verbose : print progress (True).
    seed : None (NumPy's global RNG, so ``np.random.seed`` reproduces notebooks), a non-negative int (a private
        ``RandomState``) or a ``Generator``/``RandomState``: minibatches, shuffles and accuracy subsamples.

    Other Parameters
    ----------------
    batch_order : how minibatches are drawn.
        ``'sample'`` (default, CS231n): ``rng.choice(N, batch_size)`` with replacement, ``max(N // batch_size, 1)``
        iterations per epoch. ``'shuffle'``: a fresh ``permutation(N)`` each epoch (from a private
        ``RandomState(seed)`` for an int seed, so accuracy subsamples never shift it; else from the Solver's
        RNG), cut into consecutive batches; every sample once per epoch, ``ceil(N / batch_size)`` iterations
        with a last, smaller batch of ``N % batch_size`` samples (as ``DataLoader(shuffle=True)``), or
        ``N // batch_size`` full ones with ``drop_last=True`` (the tail of each permutation is skipped).
        ``'sequential'``: the same without shuffling (rows in order, epoch after epoch). ``'cyclic'``: one
        endless stream of full batches, batch ``t`` = rows ``t*batch_size ... t*batch_size + batch_size - 1``
        modulo N (wrapping across epochs, no shuffle), ``max(N // batch_size, 1)`` iterations per epoch.
    drop_last : see batch_order (False).
    iterations_per_epoch : the length of an epoch in iterations, for 'sample' and 'cyclic' (None: as above).
        Epoch ends are when the learning rate decays, accuracy is checked and checkpoints are written.
    keep_best : put ``best_params`` (best validation accuracy) back at the end (True, CS231n); False keeps the last.
    grad_clip : None, or the largest global L2 norm of all gradients together; larger gradients are scaled by
        ``grad_clip / (norm + 1e-6)`` (``torch.nn.utils.clip_grad_norm_``). The norm before clipping of every
        step is recorded in ``grad_norm_history`` (also without clipping) and ``last_grad_norm``.
    lr_schedule : a callable ``epoch -> learning_rate`` (applied at the start and after each epoch), or an
        :class:`nnlab.schedules.LRScheduler` (``StepLR``, ``CosineAnnealingLR``, ``OneCycleLR``, ``LinearWarmup``,
        ...) whose ``lr_at(step)`` is applied before every iteration (``per_iteration``; step = iteration
        index) or at every epoch start (step = epoch). Its ``base_lr`` defaults to the config's learning rate;
        a schedule that cycles momentum (OneCycleLR) also sets ``momentum`` or Adam's ``beta1``. A schedule
        replaces ``lr_decay``.
    batch_transform : callable ``(X_batch, y_batch) -> (X_batch, y_batch)`` on training minibatches only.
    rng_sources : dict name -> ``RandomState``/``Generator``: other generators that training draws from
        (augmentation, a model's own RNG). Their states go into checkpoints and come back on resume.
    progress : a tqdm bar with the live loss; None = a bar when stderr is a terminal, else plain lines (one per
        epoch and one at least every 30 s; :mod:`nnlab.solver.progress`); False = nothing.
    callbacks : objects with the hooks of :class:`nnlab.callbacks.Callback`.
    checkpoint_every : write a checkpoint every this many epochs (1).
    checkpoint_per_epoch : also keep one file per epoch as CS231n does (True).
    divergence_guard : stop a run that diverges (True); see :meth:`train`.
    divergence_factor : a finite loss above ``divergence_factor * reference`` is divergence; the reference is
        ``ln(C)`` (the loss of a uniform guess) when the labels are integers with C >= 2 classes, else the mean
        loss of the first epoch. None switches this rule off (non-finite values are still caught). 1e3.
    divergence_val_collapse : a validation accuracy at chance (the majority-class rate + 0.01) after one at least
        halfway from chance to 1 is divergence (True).

    Attributes
    ----------
    loss_history, grad_norm_history (one per iteration), train_acc_history, val_acc_history (one per check),
    best_val_acc, best_params, epoch, iteration (completed iterations: the schedule's step), optim_configs,
    status ('new', 'running', 'finished', 'stopped' (a callback or Ctrl-C), 'diverged'), stop_training,
    stop_reason, diverged, diverged_iteration (1-based), last_grad_norm, interrupt_checkpoint.
    """

    def __init__(self, model: Any, data: Mapping[str, Any], **kwargs: Any) -> None:
        check_model(model)
        check_data(data)
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        unknown = [k for k in kwargs if k not in DEFAULTS]
        if unknown:
            hints = [f"{k!r}: put it in optim_config" if k in RULE_KEYS_ALL else
                     f"{k!r}: did you mean {close[0]!r}?" for k in unknown
                     for close in [difflib.get_close_matches(k, list(DEFAULTS), n=1)] if close or k in RULE_KEYS_ALL]
            raise ValueError("Solver: Unrecognized arguments " + ", ".join(f'"{k}"' for k in unknown)
                             + (f" ({'; '.join(hints)})" if hints else ""))
        opts = {**DEFAULTS, **kwargs}
        self.update_rule = get_update_rule(opts["update_rule"])
        self.update_rule_name = opts["update_rule"] if isinstance(opts["update_rule"], str) else getattr(
            self.update_rule, "__name__", type(self.update_rule).__name__)
        self.optim_config = copy.deepcopy(opts["optim_config"]) if opts["optim_config"] is not None else {}
        if not isinstance(self.optim_config, dict):
            raise TypeError(f"Solver: optim_config must be a dict, got {type(self.optim_config).__name__}")
        self._hyperparameters = check_optim_config(self.update_rule, self.optim_config)
        self.lr_decay = check_float("lr_decay", opts["lr_decay"], 0.0, 1.0, True, what="in (0, 1]")
        self.batch_size = check_int("batch_size", opts["batch_size"], 1)
        self.num_epochs = check_int("num_epochs", opts["num_epochs"], 1)
        for name in ("num_train_samples", "num_val_samples"):
            if opts[name] is not None:
                check_int(name, opts[name], 1)
        self.num_train_samples = opts["num_train_samples"]
        self.num_val_samples = opts["num_val_samples"]
        self.checkpoint_name = opts["checkpoint_name"]
        self.checkpoint_every = check_int("checkpoint_every", opts["checkpoint_every"], 1)
        self.checkpoint_per_epoch = bool(opts["checkpoint_per_epoch"])
        self.print_every = check_int("print_every", opts["print_every"], 0)
        self.verbose = bool(opts["verbose"])
        self.seed = check_seed(opts["seed"])
        self.progress = opts["progress"]
        self.callbacks = list(opts["callbacks"] or [])
        self.batch_transform = opts["batch_transform"]
        if self.batch_transform is not None and not callable(self.batch_transform):
            raise TypeError("Solver: batch_transform must be callable or None")
        self.divergence_guard = bool(opts["divergence_guard"])
        self.divergence_factor = check_float("divergence_factor", opts["divergence_factor"], 1.0, math.inf,
                                              True, allow_none=True, what="a number > 1 or None")
        self.divergence_val_collapse = bool(opts["divergence_val_collapse"])
        if opts["batch_order"] not in BATCH_ORDERS:
            raise ValueError(f"Solver: batch_order must be one of {', '.join(map(repr, BATCH_ORDERS))}, "
                             f"got {opts['batch_order']!r}")
        self.batch_order = opts["batch_order"]
        self.drop_last = bool(opts["drop_last"])
        self.grad_clip = check_float("grad_clip", opts["grad_clip"], 0.0, math.inf, True, allow_none=True,
                                      what="a finite number > 0 or None")
        self.rng_sources = check_rng_sources(opts["rng_sources"])
        self.keep_best = bool(opts["keep_best"])
        self._ipe = opts["iterations_per_epoch"]
        if self._ipe is not None:
            self._ipe = check_int("iterations_per_epoch", self._ipe, 1)
            if self.batch_order in ("shuffle", "sequential"):
                raise ValueError(f"Solver: iterations_per_epoch can only be set with batch_order 'sample' or "
                                 f"'cyclic' (with {self.batch_order!r} an epoch is one pass over the data)")
        self._rng = get_rng(self.seed)
        # 'shuffle' with an int seed: the permutations come from their own RandomState(seed), so that accuracy
        # subsamples (drawn from self._rng) do not move them: epoch e's order is RandomState(seed)'s e-th one.
        shuffle_own = self.batch_order == "shuffle" and isinstance(self.seed, int)
        self._order_rng = np.random.RandomState(self.seed) if shuffle_own else self._rng
        self.lr_schedule = opts["lr_schedule"]
        self._schedule, self._momentum_key = bind_schedule(self.lr_schedule, self._hyperparameters,
                                                           self.update_rule, self.update_rule_name,
                                                           self.num_iterations, self.num_epochs)
        self._rules = DivergenceRules(self.y_train, self.y_val, self.divergence_factor,
                                      self.divergence_val_collapse)
        self._bar = None
        self._lines: ProgressLines | None = None
        self._reset()

    # ---------------------------------------------------------------------------------------------------------
    # set-up helpers
    # ---------------------------------------------------------------------------------------------------------
    def _reset(self) -> None:
        """Book-keeping state; called by ``__init__`` (CS231n's ``_reset``)."""
        self.epoch = 0
        self.iteration = 0
        self.best_val_acc = 0
        self.best_params: dict[str, Any] = {}
        self.best_buffers: dict[str, Any] = {}
        self.loss_history: list[float] = []
        self.grad_norm_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        # series that callbacks record (name -> values, e.g. a held-out loss per epoch); the runner hands them
        # to the recipe's hooks with the histories (not checkpointed: a resumed run starts them afresh)
        self.records: dict[str, list[float]] = {}
        self.optim_configs = {p: copy.deepcopy(self.optim_config) for p in self.model.params}
        self.stop_training = False
        self.stop_reason: str | None = None
        self.status = "new"
        self.diverged = False
        self.diverged_iteration: int | None = None
        self.last_grad_norm: float | None = None
        self.interrupt_checkpoint: Path | None = None
        self._order: Any = None
        self._pending_bookkeeping = False
        self._phase = "done"
        self._start_state: dict[str, Any] | None = None
        self._last_good: dict[str, Any] | None = None
        self._epoch_good: dict[str, Any] | None = None
        self.interrupt_signal: int | None = None
        self._signals = DeferredSignals()
        self._snapshot_rngs = False

    @property
    def num_train(self) -> int:
        """Number of training samples N."""
        return int(self.X_train.shape[0])

    @property
    def iterations_per_epoch(self) -> int:
        """``max(N // batch_size, 1)``; ``ceil(N / batch_size)`` for 'shuffle'/'sequential' without drop_last;
        the ``iterations_per_epoch`` option when given."""
        if self._ipe is not None:
            return self._ipe
        return epoch_length(self.num_train, self.batch_size, self.batch_order, self.drop_last)

    @property
    def num_iterations(self) -> int:
        """``num_epochs * iterations_per_epoch``."""
        return self.num_epochs * self.iterations_per_epoch

    # ---------------------------------------------------------------------------------------------------------
    # one step
    # ---------------------------------------------------------------------------------------------------------
    def _batch(self, t: int) -> Any:
        """Row indices (or a slice) of iteration ``t``'s minibatch, by ``batch_order``."""
        n, bs = self.num_train, self.batch_size
        if self.batch_order == "sample":
            return self._rng.choice(n, bs)
        if self.batch_order == "cyclic":
            return (t * bs + np.arange(bs)) % n
        i = t % self.iterations_per_epoch
        if self.batch_order == "sequential":
            return slice(i * bs, min((i + 1) * bs, n))
        if i == 0 or self._order is None:
            self._order = self._order_rng.permutation(n)
        return self._order[i * bs:(i + 1) * bs]

    def _step(self, t: int = 0) -> tuple[float, str | None]:
        """One minibatch update (iteration ``t``). Returns ``(loss, problem)``; ``problem`` describes why the
        divergence guard rejected the step (the update is then not applied) or is None."""
        idx = self._batch(t)
        X_batch, y_batch = self.X_train[idx], self.y_train[idx]
        if self.batch_transform is not None:
            X_batch, y_batch = self.batch_transform(X_batch, y_batch)
        try:
            loss, grads = self.model.loss(X_batch, y_batch)
        except (ValueError, FloatingPointError) as err:
            if not self.divergence_guard or (_NON_FINITE not in str(err) and not isinstance(err, FloatingPointError)):
                raise
            return math.nan, f"the forward pass overflowed ({err})"
        loss = float(loss)
        if self.divergence_guard:
            problem = self._rules.bad_loss(loss, self.loss_history, self.iterations_per_epoch)
            if problem is not None:
                return loss, problem
        if self.grad_clip is not None:
            norm = clip_grad_norm(grads, self.grad_clip)
        else:
            norm = self._global_norm(grads)
        if self.divergence_guard and not math.isfinite(norm):
            bad = [p for p, g in grads.items() if not bool(xp_of(g).isfinite(g).all())]
            if bad:
                return loss, f"gradient of {', '.join(bad)} contains NaN or inf (loss {loss:g})"
        self._phase = "commit"
        self.loss_history.append(loss)
        self.grad_norm_history.append(norm)
        self.last_grad_norm = norm
        for p in list(self.model.params):
            w = self.model.params[p]
            next_w, next_config = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config
        return loss, None

    @staticmethod
    def _global_norm(grads: Mapping[str, Any]) -> float:
        """``sqrt(sum_k ||g_k||^2)`` (float64 accumulation, so float32 squares cannot overflow)."""
        total = 0.0
        for g in grads.values():
            flat = g.ravel()
            sq = float(flat @ flat)
            if not math.isfinite(sq) and flat.dtype != np.float64:
                flat = flat.astype(np.float64)
                sq = float(flat @ flat)
            total += sq
        return math.sqrt(total)

    # ---------------------------------------------------------------------------------------------------------
    # divergence
    # ---------------------------------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        """The state at the start of an iteration: parameter references (update rules return new arrays, never
        modify ``w``), copies of the buffers, the shuffled order, and the generators' states when an interrupt
        could land inside the step (a checkpoint is wanted and Ctrl-C is not deferred: a MT19937 state costs
        ~0.15 ms to copy, too much for every iteration of a small model)."""
        rngs = [(r, rng_snapshot(r)) for r in self._generators()] if self._snapshot_rngs else None
        return {"params": dict(self.model.params),
                "buffers": {k: v.copy() for k, v in self._model_buffers().items()},
                "rngs": rngs, "order": self._order}

    def _generators(self) -> list[Any]:
        own = [r for r in (self._rng, self._order_rng) if r is not np.random]
        return [np.random] + own[:1] + [r for r in own[1:] if r is not own[0]] + list(self.rng_sources.values())

    def _restore_model(self, state: dict[str, Any]) -> None:
        for k, v in state["params"].items():
            self.model.params[k] = v
        if state["buffers"]:
            self.model.load_buffer_arrays({k: v.copy() for k, v in state["buffers"].items()})

    def _diverge(self, t: int, problem: str, kept: dict[str, Any] | None, kept_what: str) -> None:
        """Stop: put back ``kept`` (the last good state) and say what diverged, where, and what to try."""
        if kept is not None:
            self._restore_model(kept)
        self.diverged = True
        self.status = "diverged"
        self.stop_training = True
        self.diverged_iteration = t + 1
        lr = self.optim_config.get("learning_rate")
        if t == 0 and not self.loss_history:
            hint = "the initial parameters already give it: try a smaller weight_scale (initialization)"
        else:
            now = f" (now {lr:g})" if isinstance(lr, (int, float)) else ""
            hint = f"try a smaller learning_rate{now}" + ("" if self.grad_clip else " or grad_clip")
        epoch = t // self.iterations_per_epoch + 1  # the epoch iteration t belongs to (self.epoch may have moved on)
        self.stop_reason = (f"diverged at iteration {t + 1} / {self.num_iterations} (epoch {epoch}): "
                            f"{problem}; training stopped and {kept_what} were kept; {hint}")
        warnings.warn(f"Solver: {self.stop_reason}", RuntimeWarning, stacklevel=3)

    # ---------------------------------------------------------------------------------------------------------
    # learning rate
    # ---------------------------------------------------------------------------------------------------------
    def _set_learning_rate(self, lr: Any) -> None:
        lr = float(lr)  # a Python float keeps float32 parameters float32
        for config in self.optim_configs.values():
            config["learning_rate"] = lr

    def _apply_schedule(self, step: int) -> None:
        self._set_learning_rate(self._schedule.lr_at(step))
        if self._momentum_key is not None:
            momentum = float(self._schedule.momentum_at(step))
            for config in self.optim_configs.values():
                config[self._momentum_key] = momentum

    def _epoch_start_learning_rate(self) -> None:
        """The learning rate of the epoch about to start, for epoch-stepped schedules."""
        if self._schedule is not None and not self._schedule.per_iteration:
            self._apply_schedule(self.epoch)
        elif self._schedule is None and self.lr_schedule is not None:
            self._set_learning_rate(self.lr_schedule(self.epoch))

    def _end_of_epoch_learning_rate(self) -> None:
        if self.lr_schedule is not None:
            self._epoch_start_learning_rate()
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
        batch_size = check_int("check_accuracy batch_size", batch_size, 1)
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
        self._lines = None if show or self.progress is False or self.verbose else ProgressLines(
            start, self.num_iterations, self.num_epochs, self.iterations_per_epoch)  # no terminal: plain lines
        return tqdm(total=self.num_iterations, initial=start, disable=not show, desc="train", unit="it",
                    dynamic_ncols=True)

    def train(self) -> None:
        """Run the optimization from the current iteration to ``num_iterations``.

        At the end ``model.params`` holds ``best_params`` (the strictly best validation accuracy; the final
        parameters with ``keep_best=False``) and
        ``status`` is ``'finished'``, or ``'stopped'`` when a callback set ``stop_training``.

        Divergence guard (``divergence_guard=True``): an iteration whose forward pass raises the kernels'
        "contains NaN or inf" error, whose loss is not finite or above the ``divergence_factor`` ceiling, or
        whose gradients are not finite is not applied; an epoch whose validation accuracy collapsed to chance is
        undone. Training then stops with ``status = 'diverged'``, ``diverged_iteration``, a ``stop_reason``
        with a hint, and the **last good state** in the model (best parameters are *not* restored): the
        parameters the last iteration whose loss passed the guard started from (so ``loss_history[-1]`` is
        their loss) with the buffers its forward pass wrote, or those of the last healthy accuracy check for a
        collapse. If the very first iteration fails, the initial parameters stay (buffers are then those its
        forward pass wrote, if any).

        Ctrl-C (``KeyboardInterrupt``), SIGTERM and SIGHUP (what batch schedulers, systemd, docker and a closed
        terminal send; :mod:`nnlab.solver.signals`): the current iteration is finished first (a second signal
        interrupts at once), then, if ``checkpoint_name`` is set, ``f"{checkpoint_name}_latest.npz"`` receives
        the exact state (also in the middle of an epoch; ``interrupt_checkpoint`` is its path), ``status`` becomes
        ``'stopped'``, ``interrupt_signal`` names the signal (None for a ``KeyboardInterrupt`` raised in
        code) and the ``KeyboardInterrupt`` is raised again. A ``KeyboardInterrupt`` raised by a
        callback or the model is handled the same way.
        """
        num_iterations = self.num_iterations
        start = self.iteration
        self.stop_training, self.stop_reason, self.diverged = False, None, False
        self.diverged_iteration, self.status, self.interrupt_signal = None, "running", None
        self._last_good = self._epoch_good = None
        self._call("on_train_begin")
        self._epoch_start_learning_rate()
        self._signals = DeferredSignals()
        self._snapshot_rngs = self.checkpoint_name is not None and not self._signals.install()
        self._bar = self._make_bar(start)
        try:
            if self._pending_bookkeeping:  # resumed from a checkpoint written between an update and its epoch end
                self._phase = "bookkeeping"
                self._pending_bookkeeping = False
                self._after_iteration(start - 1, num_iterations)
                self._phase = "done"
            for t in range(start if not self.stop_training else num_iterations, num_iterations):
                self._iterate(t, num_iterations)
                if self.stop_training:  # diverged or stopped by a callback: that outcome wins over a late Ctrl-C
                    break
                if self._signals.pending:
                    self.interrupt_signal = self._signals.signum
                    raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            if getattr(exc, "signum", None) is not None and self.interrupt_signal is None:
                self.interrupt_signal = exc.signum  # type: ignore[attr-defined]
            self._interrupted()
            raise
        finally:
            self._bar.close()
            self._bar = None
            self._signals.restore()
        if self.status == "running":
            self.status = "stopped" if self.stop_training else "finished"
        if not self.diverged and self.keep_best and self.best_params:
            for k, v in self.best_params.items():
                self.model.params[k] = v.copy()
            if self.best_buffers:
                self.model.load_buffer_arrays({k: v.copy() for k, v in self.best_buffers.items()})
        if self.verbose and self.stop_reason:
            print(f"Stopped: {self.stop_reason}")
        self._call("on_train_end")

    def _iterate(self, t: int, num_iterations: int) -> None:
        """Iteration ``t``: schedule, step (or divergence), logging, callbacks, epoch book-keeping."""
        self._phase = "step"
        self._start_state = self._snapshot()
        if self._schedule is not None and self._schedule.per_iteration:
            self._apply_schedule(t)
        loss, problem = self._step(t)
        if problem is not None:
            self._phase = "done"
            kept = self._last_good if self._last_good is not None else self._start_state
            what = ("the parameters of the previous iteration (its loss "
                    f"{self.loss_history[-1]:g} passed) and the buffers of its forward pass"
                    if self._last_good is not None and self.loss_history
                    else "the parameters from before this iteration")
            self._diverge(t, problem, kept, what)
            return
        # the last good state: the parameters this step started from and the buffers its forward pass wrote
        self._last_good = {"params": self._start_state["params"],
                           "buffers": {k: v.copy() for k, v in self._model_buffers().items()}}
        self.iteration = t + 1
        self._phase = "iteration_end"
        self._bar.set_postfix_str(f"loss={loss:.4f}", refresh=False)
        self._bar.update(1)
        if self._lines is not None:
            self._lines.iteration(t, loss)
        if self.verbose and self.print_every > 0 and t % self.print_every == 0:
            self._log(f"(Iteration {t + 1} / {num_iterations}) loss: {loss:f}")
        self._call("on_iteration_end", t, loss)
        self._phase = "bookkeeping"
        self._after_iteration(t, num_iterations)
        self._phase = "done"

    def _after_iteration(self, t: int, num_iterations: int) -> None:
        """Epoch book-keeping after iteration ``t``: lr decay, accuracy check, divergence by collapse,
        checkpoint, callbacks."""
        epoch_end = (t + 1) % self.iterations_per_epoch == 0
        if epoch_end:
            self.epoch += 1
            self._end_of_epoch_learning_rate()
        if t == 0 or t == num_iterations - 1 or epoch_end:
            self._record_accuracy()
            collapse = self._rules.val_collapsed(self.val_acc_history) if self.divergence_guard else None
            if collapse is not None:
                self._diverge(t, collapse, self._epoch_good or self._last_good,
                              "the parameters and buffers of the last healthy accuracy check")
                return
            self._epoch_good = {"params": {k: v.copy() for k, v in self.model.params.items()},
                                "buffers": {k: v.copy() for k, v in self._model_buffers().items()}}
            if epoch_end and self.checkpoint_name is not None and (
                    self.epoch % self.checkpoint_every == 0 or self.epoch == self.num_epochs):
                self._save_checkpoint()
            if self.verbose:
                self._log(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {self.train_acc_history[-1]:f}; "
                          f"val_acc: {self.val_acc_history[-1]:f}")
            elif epoch_end and self._lines is not None:
                self._lines.epoch(self)
        self._phase = "done"
        if epoch_end:
            self._call("on_epoch_end", self.epoch)

    def _interrupted(self) -> None:
        """KeyboardInterrupt: write the exact state of the last complete step (when it is consistent)."""
        self.status = "stopped"
        self.stop_reason = (f"interrupted ({signal_name(self.interrupt_signal)}) after iteration {self.iteration} / "
                            f"{self.num_iterations}")
        phase = self._phase
        if phase == "step" and self._start_state is not None and self._start_state["rngs"] is not None:
            for rng, state in self._start_state["rngs"]:  # the update was not applied: undo the draws
                restore_rng_snapshot(rng, state)
            if self._start_state["buffers"]:
                self.model.load_buffer_arrays(self._start_state["buffers"])
            self._order = self._start_state["order"]
        elif phase not in ("iteration_end", "done"):
            doing = {"commit": "updating parameters", "step": "inside a step (a second Ctrl-C, or raised by the "
                     "model or batch_transform)"}.get(phase, phase)
            warnings.warn(f"Solver: interrupted {doing}; no consistent mid-epoch checkpoint could be written (the "
                          "last epoch checkpoint stays)", RuntimeWarning, stacklevel=3)
            return
        if self.checkpoint_name is not None:
            self._save_checkpoint(latest_only=True, pending_bookkeeping=phase == "iteration_end")
            self.interrupt_checkpoint = self.checkpoint_paths()[1]

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

    def _save_checkpoint(self, latest_only: bool = False, pending_bookkeeping: bool = False) -> None:
        arrays, metadata = self.state_arrays(pending_bookkeeping)
        epoch_path, latest_path = self.checkpoint_paths()
        latest_path.parent.mkdir(parents=True, exist_ok=True)
        if self.checkpoint_per_epoch and not latest_only:
            if self.verbose:
                self._log(f'Saving checkpoint to "{epoch_path}"')
            save_arrays(epoch_path, arrays, metadata)
        save_arrays(latest_path, arrays, metadata)

    def state_arrays(self, pending_bookkeeping: bool = False) -> tuple[dict[str, np.ndarray], dict]:
        """The full training state as ``(arrays, metadata)`` for :func:`nnlab.io.save_arrays`
        (layout: :mod:`nnlab.solver.state`)."""
        settings = {k: getattr(self, k) for k in SAVED_SETTINGS}
        settings["iterations_per_epoch"] = self._ipe  # the option, not the property
        if not isinstance(settings["seed"], (int, type(None))):
            settings["seed"] = None  # a Generator/RandomState object: its state is stored under "rng"
        settings["update_rule"] = self.update_rule_name
        settings["custom_update_rule"] = not self._is_named_rule()
        settings["optim_config"] = self.optim_config
        return solver_state(self, settings, pending_bookkeeping)

    def _is_named_rule(self) -> bool:
        try:
            return get_update_rule(self.update_rule_name) is self.update_rule
        except ValueError:
            return False

    @classmethod
    def resume(cls, checkpoint_path: str | Path, model: Any, data: Mapping[str, Any],
               **overrides: Any) -> Solver:
        """Rebuild a Solver from a checkpoint so that ``train()`` continues where it stopped.

        ``model`` must have parameters with the checkpoint's names and shapes (its values are overwritten).
        The stored settings (update rule, lr_decay, batch_size, batch_order, num_epochs, ...) are used unless
        given in ``overrides`` (e.g. ``num_epochs=20``, ``callbacks=[...]``, ``progress=False``; passing the
        original keywords again is fine). Callables and generators (``lr_schedule``, ``batch_transform``,
        ``rng_sources``, a custom ``update_rule``) cannot be stored: pass them again. Every RNG state is restored
        (the Solver's, NumPy's global one and each of ``rng_sources``, in place), whatever ``seed`` says, so the
        resumed run ends with the same parameters as an uninterrupted one, bit for bit.
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
            if name not in ("callbacks", "rng_sources") and was_set and name not in overrides:
                warnings.warn(f"Solver.resume: the checkpointed run used {name}, which cannot be stored; "
                              f"pass {name}= to resume with it", UserWarning, stacklevel=2)
        settings = {k: v for k, v in settings.items() if k in DEFAULTS}
        settings.update(overrides)
        solver = cls(model, data, **settings)
        load_solver_state(solver, arrays, meta)
        return solver
