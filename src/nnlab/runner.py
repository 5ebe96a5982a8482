"""The one place that runs a recipe: settings -> seed -> data -> model -> Solver -> run folder -> plots.

:func:`prepare` resolves and validates the settings (nothing is loaded or written); :func:`train` does the rest
for every recipe, writing the run format of :mod:`nnlab.run_format`: one run, a study (every variant, then the
recipe's summary) or a sweep (every configuration of the recipe's grid, then the best kept as the run; the runner
decides to sweep, :func:`sweep_grid`); :func:`resume` continues an interrupted run in its own folder from
``checkpoint_latest.npz``. ``nnlab train``, ``nnlab tune``'s trials and ``nnlab.train`` all come here.

Where the run machinery lives (the names were kept, as ``nnlab.runs``/``nnlab.runner`` are imported by users and
tools, and a docstring map costs less than a rename): :mod:`nnlab.run_format` names a run folder's files and
writes them; :mod:`nnlab.runner` (here) runs recipes; :mod:`nnlab.runs` reads runs back (``load_run``,
``list_runs``); :mod:`nnlab.runhooks` adds emissions / TensorBoard / MLflow around a run.

After training, the recipe's hooks receive one :class:`~nnlab.recipes.contract.RunResult` (``score``, ``plots``)
or :class:`~nnlab.recipes.contract.StudyResult` (``summarize``): the model, data, info, settings, the Solver's
histories, iterations per epoch and records, and the run folder.

Failure handling: a bad setting raises :class:`~nnlab.recipes.contract.SettingError` before anything is read;
data errors are raised before the run folder exists; once the folder exists, any error marks ``metrics.json``
``status: "failed"`` with the reason before it propagates, a divergence writes the last good weights with
``status: "diverged"`` and a Ctrl-C writes a checkpoint and ``status: "stopped"``.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import run_format as fmt
from .io import load_arrays, make_run_dir
from .recipes import get_recipe
from .recipes.contract import Recipe, RunResult, StudyResult, resolve_settings
from .run_format import RunError, process_marks, read_json, save_model, write_config, write_metrics
from .scores import predict_scores

__all__ = ["prepare", "train", "resume", "Outcome", "solver_options", "classifier_metrics", "TrainingInterrupted",
           "draw_plots", "Heartbeat", "sweep_grid", "run_sweep", "sweep_command", "grid_texts"]

# Settings the runner passes to the Solver itself (declared by standard_solver_settings).
_SOLVER_KEYS = ("update_rule", "lr_decay", "num_epochs", "batch_size", "num_train_samples", "batch_order",
                "grad_clip")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP during training; the run's checkpoint was written. ``run_dir`` names the folder
    to resume, ``signum`` the signal (None: a ``KeyboardInterrupt`` raised in code, treated as Ctrl-C)."""

    def __init__(self, run_dir: Path, signum: int | None = None) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir
        self.signum = signum


class Heartbeat:
    """A Solver callback that rewrites ``metrics.json`` (status ``running``, ``pid``, ``host``, ``heartbeat``)
    at most every ``every_s`` seconds, so that readers can tell a live run from one whose process is gone."""

    def __init__(self, run_dir: Path, base: Mapping[str, Any], every_s: float = 30.0) -> None:
        self.run_dir, self.base, self.every_s = Path(run_dir), dict(base), float(every_s)
        self._last = time.monotonic()

    def beat(self) -> None:
        write_metrics(self.run_dir, {**self.base, **process_marks()})
        self._last = time.monotonic()

    def on_iteration_end(self, solver: Any, t: int, loss: float) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.beat()

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        if time.monotonic() - self._last >= min(self.every_s, 5.0):
            self.beat()


@dataclass
class Outcome:
    """What :func:`train` returns: the run folder, its metrics (as written) and its status; ``result``: the
    trained run in memory (a :class:`~nnlab.recipes.contract.RunResult`; None for a study or an interrupted run)."""

    run_dir: Path
    metrics: dict[str, Any]
    result: RunResult | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return str(self.metrics.get("status"))


def prepare(name: str | Recipe, overrides: Mapping[str, Any] | None = None, quick: bool = False,
            from_text: bool = False) -> tuple[Recipe, dict[str, Any]]:
    """The recipe and its typed, checked settings. Raises ``KeyError`` (unknown recipe) or ``SettingError``."""
    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    return recipe, resolve_settings(recipe, overrides, quick=quick, from_text=from_text)


def solver_options(recipe: Recipe, cfg: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Solver keywords from the standard settings, then the recipe's own ``solver(cfg, data)`` additions."""
    opts: dict[str, Any] = {k: cfg[k] for k in _SOLVER_KEYS if k in cfg}
    if "learning_rate" in cfg:
        opts["optim_config"] = {"learning_rate": cfg["learning_rate"]}
    opts["seed"] = cfg.get("seed", 0)
    if recipe.solver is not None:
        extra = dict(recipe.solver(dict(cfg), dict(data)))
        if "optim_config" in extra:
            extra["optim_config"] = {**opts.get("optim_config", {}), **extra["optim_config"]}
        opts.update(extra)
    return opts


def _module_rngs(model: Any) -> dict[str, Any]:
    """The private RNGs of a model's modules (dropout masks), so checkpoints can hold their states."""
    root = getattr(model, "module", model)
    named = getattr(root, "named_modules", None)
    out: dict[str, Any] = {}
    if callable(named):
        for name, module in named():
            rng = getattr(module, "_rng", None)
            if rng is not None and hasattr(rng, "get_state"):
                out[f"module:{name or 'root'}"] = rng  # no '/': rng_sources names are checkpoint keys
    return out


def _info(data: dict[str, Any]) -> dict[str, Any]:
    info = dict(data.pop("info", None) or {})
    X = data.get("X_train")
    if X is not None:
        info.setdefault("input_shape", list(np.shape(X)[1:]))
        info.setdefault("input_dtype", str(np.asarray(X[:1]).dtype))
    y = data.get("y_train")
    if y is not None and np.issubdtype(np.asarray(y).dtype, np.integer) and "num_classes" not in info:
        info["num_classes"] = int(max(int(np.max(data[k])) for k in ("y_train", "y_val", "y_test")
                                      if k in data and len(data[k])) + 1)
    return info


def classifier_metrics(model: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Accuracy on every split present, through :func:`nnlab.runs.predict_scores`."""
    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        X, y = data.get(f"X_{split}"), data.get(f"y_{split}")
        if X is not None and y is not None and len(y):
            out[f"{split}_acc"] = float(np.mean(np.argmax(predict_scores(model, X), axis=1) == y))
    return out


def _score(recipe: Recipe, result: RunResult) -> dict[str, Any]:
    if recipe.score is not None:
        return dict(recipe.score(result))
    return classifier_metrics(result.model, result.data)


def _histories(solver: Any) -> dict[str, Any]:
    return {"loss_history": [float(v) for v in solver.loss_history],
            "train_acc_history": [float(v) for v in solver.train_acc_history],
            "val_acc_history": [float(v) for v in solver.val_acc_history],
            "best_val_acc": float(solver.best_val_acc), "epochs_done": int(solver.epoch),
            "iterations": len(solver.loss_history)}


def draw_plots(recipe: Recipe, result: RunResult) -> None:
    """The run's figures in ``result.run_dir``: ``curves.png`` (loss, train/val accuracy), ``confusion.png`` (a
    classifier's test split) and the recipe's own (``recipe.plots(result)``). Nothing inside
    ``viz.plots_disabled()``."""
    from . import viz

    if not viz.plots_enabled():
        return
    run_dir, data, metrics = result.run_dir, result.data, result.metrics
    if metrics.get("loss_history"):
        viz.plot_training_curves(metrics, run_dir / fmt.CURVES_PLOT, title=recipe.name)
    if recipe.task == "classification" and data.get("X_test") is not None and len(data["y_test"]):
        pred = np.argmax(predict_scores(result.model, data["X_test"]), axis=1)
        viz.plot_confusion_matrix(data["y_test"], pred, run_dir / fmt.CONFUSION_PLOT,
                                  class_names=result.info.get("class_names"), normalize="true", split="test")
    if recipe.plots is not None:
        recipe.plots(result)


def train(name: str | Recipe, cfg: Mapping[str, Any] | None = None, *, quick: bool = False, out: str | Path = "runs",
          run_dir: Path | None = None, progress: bool | None = None, callbacks: Sequence[Any] = (),
          data: dict[str, Any] | None = None, variant: str | None = None, hooks: Sequence[Any] = (),
          given: Collection[str] | None = None) -> Outcome:
    """Train recipe ``name`` with the resolved settings ``cfg`` (see :func:`prepare`; None = defaults) into a new
    folder under ``out`` (or ``run_dir``, created if missing). Returns the :class:`Outcome`.

    callbacks: extra Solver callbacks. hooks: run hooks (:mod:`nnlab.runhooks`: emissions, TensorBoard, MLflow)
    with ``start(run_dir, config)``, ``callback()`` (a Solver callback or None) and ``finish(run_dir, metrics)``
    (extra metrics). given: the names of the settings the caller set explicitly (``--set``, ``nnlab.train``'s
    keywords): then a recipe with a sweep sweeps it (:func:`sweep_grid`, :func:`run_sweep`; callbacks and hooks
    are not used by a sweep); None (a tune trial, a study's variant): this one configuration."""
    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    cfg = dict(cfg) if cfg is not None else resolve_settings(recipe, quick=quick)
    grid = sweep_grid(recipe, cfg, quick=quick, given=given) if given is not None and variant is None else None
    if grid:
        return run_sweep(recipe, cfg, grid, quick=quick, out=out, run_dir=run_dir, progress=progress)
    if recipe.variants is not None and variant is None:
        return _train_study(recipe, cfg, quick=quick, out=out, run_dir=run_dir, progress=progress,
                            callbacks=callbacks, hooks=hooks)
    np.random.seed(int(cfg.get("seed", 0)))
    if data is None:
        data = dict(recipe.data(dict(cfg))) if recipe.data is not None else {}
    else:
        data = dict(data)
    info = _info(data)
    _check_batch_size(cfg, data)
    run_dir = _open_run_dir(out, run_dir, recipe.name)
    config = write_config(run_dir, recipe.name, cfg, info, quick, variant=variant, extra={"task": recipe.task})
    write_metrics(run_dir, {"status": "running", "started": time.time(), **process_marks()})

    def body(all_callbacks: list[Any]) -> Outcome:
        if recipe.fit is not None:
            metrics = dict(recipe.fit(dict(cfg), data, run_dir, progress))
            metrics.setdefault("status", "finished")
            write_metrics(run_dir, metrics)
            return Outcome(run_dir, metrics, RunResult(None, data, info, dict(cfg), run_dir, metrics=metrics))
        np.random.seed(int(cfg.get("seed", 0)))  # models with seed=None draw their weights from the global RNG
        model = recipe.model(dict(cfg), info)
        return _fit(recipe, cfg, model, data, info, config, run_dir, progress, all_callbacks, resume_from=None)

    return _with_hooks(run_dir, config, hooks, callbacks, body)


def _check_batch_size(cfg: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Refuse (before the run folder exists) a ``batch_size`` larger than the training set: every minibatch
    would repeat samples and an epoch would be one step, which is never what was meant."""
    from .recipes.contract import SettingError

    batch, X = cfg.get("batch_size"), data.get("X_train")
    if isinstance(batch, int) and X is not None and 0 < len(X) < batch:
        raise SettingError(f"setting 'batch_size' is {batch}, larger than the {len(X)} training samples; choose "
                           f"batch_size <= {len(X)} (--set batch_size={min(len(X), 256)})")


def _with_hooks(run_dir: Path, config: dict[str, Any], hooks: Sequence[Any], callbacks: Sequence[Any],
                body: Any) -> Outcome:
    """Start the run hooks, run ``body(callbacks + the hooks' callbacks)``, merge the hooks' final metrics into
    metrics.json; any error but Ctrl-C marks the run ``failed`` before it propagates."""
    try:
        for hook in hooks:
            hook.start(run_dir, config)
        outcome = body([*callbacks, *(cb for cb in (h.callback() for h in hooks) if cb is not None)])
        extra: dict[str, Any] = {}
        for hook in hooks:
            extra.update(hook.finish(outcome.run_dir, outcome.metrics) or {})
        if extra:
            outcome.metrics.update(extra)
            write_metrics(outcome.run_dir, outcome.metrics)
        return outcome
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt as exc:  # outside the training loop (data, scoring, saving): the last checkpoint stands
        signum = getattr(exc, "signum", None)
        _mark_failed(run_dir, None, signum)
        raise TrainingInterrupted(run_dir, signum) from None
    except Exception as exc:
        _mark_failed(run_dir, exc)
        raise


def _mark_failed(run_dir: Path, exc: BaseException | None, signum: int | None = None) -> None:
    """metrics.json says ``failed`` with the reason (``stopped`` when ``exc`` is None: an interrupt by Ctrl-C or
    the signal ``signum``), unless the run already ended with its own status."""
    try:
        previous = read_json(run_dir / fmt.METRICS)
    except RunError:
        previous = {}
    if previous.get("status") in ("finished", "diverged"):
        return
    if exc is None:
        from .solver.signals import signal_name

        how = "Ctrl-C" if signum in (None, 2) else signal_name(signum)
        write_metrics(run_dir, {**previous, "status": "stopped", "reason": f"interrupted ({how})"})
    else:
        write_metrics(run_dir, {**previous, "status": "failed", "reason": f"{type(exc).__name__}: {exc}"})


def _fit(recipe: Recipe, cfg: Mapping[str, Any], model: Any, data: dict[str, Any], info: dict[str, Any],
         config: dict[str, Any], run_dir: Path, progress: bool | None, callbacks: Sequence[Any],
         resume_from: Path | None) -> Outcome:
    from .solver import Solver

    opts = solver_options(recipe, cfg, data)
    rng_sources = dict(opts.pop("rng_sources", {}) or {})
    rng_sources.update(_module_rngs(model))
    heartbeat = Heartbeat(run_dir, read_json(run_dir / fmt.METRICS))
    opts.update(progress=progress, verbose=bool(opts.get("verbose", False)),
                callbacks=[*(opts.get("callbacks") or []), *callbacks, heartbeat],
                checkpoint_name=str(run_dir / fmt.CHECKPOINT_STEM), checkpoint_per_epoch=False)
    if rng_sources:
        opts["rng_sources"] = rng_sources
    start = time.perf_counter()
    previous_seconds = 0.0
    if resume_from is not None:
        old = read_json(run_dir / fmt.METRICS)
        previous_seconds = float(old.get("train_seconds") or 0.0)
        solver = Solver.resume(resume_from, model, data, **{k: v for k, v in opts.items()
                                                              if k not in ("update_rule", "optim_config", "seed")})
    else:
        solver = Solver(model, data, **opts)
    try:
        solver.train()
    except KeyboardInterrupt:
        from .solver.signals import signal_name

        signum = getattr(solver, "interrupt_signal", None)
        how = "Ctrl-C" if signum in (None, 2) else signal_name(signum)
        metrics = {**_histories(solver), "status": "stopped", "reason": f"interrupted ({how}); checkpoint written",
                   "train_seconds": previous_seconds + time.perf_counter() - start}
        write_metrics(run_dir, metrics)
        raise TrainingInterrupted(run_dir, signum) from None
    seconds = previous_seconds + time.perf_counter() - start
    status = getattr(solver, "status", None) or ("diverged" if getattr(solver, "diverged", False) else "finished")
    metrics: dict[str, Any] = {"status": status}
    if getattr(solver, "stop_reason", None):
        metrics["reason"] = solver.stop_reason
    if status == "diverged":
        metrics["diverged_iteration"] = getattr(solver, "diverged_iteration", None)
    result = RunResult(model, data, info, dict(cfg), run_dir, loss_history=[float(v) for v in solver.loss_history],
                       train_acc_history=[float(v) for v in solver.train_acc_history],
                       val_acc_history=[float(v) for v in solver.val_acc_history],
                       iterations_per_epoch=int(solver.iterations_per_epoch), epochs_done=int(solver.epoch),
                       records={k: list(v) for k, v in solver.records.items()}, metrics=dict(metrics))
    metrics.update(_score(recipe, result))
    metrics.update(_histories(solver))
    metrics["train_seconds"] = seconds
    result.metrics = metrics
    save_model(run_dir, model, config, info)
    write_metrics(run_dir, metrics)
    draw_plots(recipe, result)
    return Outcome(run_dir, metrics, result)


def resume(run_dir: str | Path, progress: bool | None = None, callbacks: Sequence[Any] = (),
           hooks: Sequence[Any] = ()) -> Outcome:
    """Continue an interrupted run in its own folder from ``checkpoint_latest.npz`` (same settings, same data, all
    RNG states restored), so that it ends with the parameters an uninterrupted run would have."""
    run_dir = Path(run_dir).expanduser()
    config = read_json(run_dir / fmt.CONFIG)
    metrics = read_json(run_dir / fmt.METRICS) if (run_dir / fmt.METRICS).exists() else {}
    if metrics.get("status") == "finished":
        raise RunError(f"{run_dir}: the run already finished; nothing to resume")
    checkpoint = run_dir / fmt.CHECKPOINT
    if not checkpoint.is_file():
        raise RunError(f"{checkpoint}: not found; the run stopped before its first checkpoint — train it again")
    from .solver.state import CHECKPOINT_FORMAT

    try:
        _, meta = load_arrays(checkpoint)
    except PermissionError as exc:
        raise RunError(f"{checkpoint}: permission denied ({exc.strerror}); make it readable to resume") from None
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{checkpoint}: damaged or not a checkpoint written by nnlab (expected format "
                       f"{CHECKPOINT_FORMAT!r}); it cannot be resumed — train the run again") from None
    try:
        recipe = get_recipe(str(config["recipe"]))
    except KeyError as exc:
        raise RunError(f"{run_dir / fmt.CONFIG}: {exc.args[0]}") from None
    if recipe.fit is not None or recipe.model is None:
        raise RunError(f"{run_dir}: recipe {recipe.name!r} does not train through the Solver; it cannot resume")
    cfg = resolve_settings(recipe, config["settings"])
    np.random.seed(int(cfg.get("seed", 0)))
    data = dict(recipe.data(dict(cfg)))
    info = _info(data)
    np.random.seed(int(cfg.get("seed", 0)))
    model = recipe.model(dict(cfg), info)
    write_metrics(run_dir, {**metrics, "status": "running", "resumed": time.time(), **process_marks()})
    return _with_hooks(run_dir, config, hooks, callbacks, lambda all_callbacks: _fit(
        recipe, cfg, model, data, info, config, run_dir, progress, all_callbacks, resume_from=checkpoint))


def _data_loader(recipe: Recipe) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``data_of(cfg)``: the recipe's data for settings ``cfg``, loaded once for every run whose
    ``recipe.data_settings`` agree (a study's variants, a sweep's configurations), each run given its own copy of
    the top-level dict and of ``info``."""
    memo: dict[str, Any] = {}

    def data_of(vcfg: dict[str, Any]) -> dict[str, Any]:
        key = repr(sorted((k, repr(v)) for k, v in vcfg.items() if k in recipe.data_settings))
        if key not in memo:
            memo.clear()
            np.random.seed(int(vcfg.get("seed", 0)))
            memo[key] = dict(recipe.data(dict(vcfg))) if recipe.data is not None else {}
        data = dict(memo[key])
        if "info" in data:
            data["info"] = dict(data["info"])
        return data

    return data_of


def _open_run_dir(out: str | Path, run_dir: Path | None, name: str) -> Path:
    if run_dir is None:
        return make_run_dir(out, name)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _train_study(recipe: Recipe, cfg: dict[str, Any], *, quick: bool, out: str | Path, run_dir: Path | None,
                 progress: bool | None, callbacks: Sequence[Any], hooks: Sequence[Any]) -> Outcome:
    """A study: every variant ``(name, overrides)`` trained into ``<run_dir>/<name>/`` (a complete run each), then
    the recipe's ``summarize(StudyResult)`` gives the study's metrics and plots."""
    variants = [(vname, resolve_settings(recipe, {**cfg, **overrides})) for vname, overrides in recipe.variants(
        dict(cfg))]
    data_of = _data_loader(recipe)
    if variants:
        data_of(variants[0][1])  # a data error before the study's folder exists
    run_dir = _open_run_dir(out, run_dir, recipe.name)
    write_config(run_dir, recipe.name, cfg, {}, quick, extra={"task": "study",
                                                             "variants": [v for v, _ in variants]})
    write_metrics(run_dir, {"status": "running", "started": time.time(), **process_marks()})
    start = time.perf_counter()
    results: dict[str, Outcome] = {}
    try:
        for vname, vcfg in variants:
            results[vname] = train(recipe, vcfg, quick=quick, run_dir=run_dir / vname, progress=progress,
                                   callbacks=callbacks, data=data_of(vcfg), variant=vname, hooks=hooks)
        study = StudyResult({k: v.result if v.result is not None else RunResult(
            None, {}, {}, {}, v.run_dir, metrics=v.metrics) for k, v in results.items()}, dict(cfg), run_dir)
        summary = dict(recipe.summarize(study) if recipe.summarize is not None else {})
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        _mark_failed(run_dir, exc)
        raise
    statuses = {k: v.status for k, v in results.items()}
    status = "finished" if all(s == "finished" for s in statuses.values()) else (
        "diverged" if "diverged" in statuses.values() else "stopped")
    metrics = {"status": status, "variant_status": statuses, **summary,
               "train_seconds": time.perf_counter() - start}
    write_metrics(run_dir, metrics)
    return Outcome(run_dir, metrics)


# ---- sweeps ---------------------------------------------------------------------------------------------------
def sweep_grid(recipe: Recipe, cfg: Mapping[str, Any], *, quick: bool = False,
               given: Collection[str] = ()) -> dict[str, list] | None:
    """The grid ``{setting: [values]}`` a run of ``recipe`` sweeps: the recipe's ``sweep`` (``quick_sweep`` under
    ``--quick``, else ``sweep``), unless ``cfg`` says ``sweep=False`` or one of the swept settings is among the
    ``given`` ones (then that one configuration is trained). None: no sweep."""
    grid = (recipe.quick_sweep or recipe.sweep) if quick else recipe.sweep
    if not grid or not cfg.get("sweep", True) or set(given) & set(grid):
        return None
    return {k: list(v) for k, v in grid.items()}


def grid_texts(grid: Mapping[str, list]) -> list[str]:
    """``--param`` texts of a grid: ``name=grid:v1,v2``."""
    return [f"{name}=grid:" + ",".join(repr(v) for v in values) for name, values in grid.items()]


def sweep_command(name: str, grid: Mapping[str, list], quick: bool = False) -> str:
    """The ``nnlab tune`` command line that runs the same grid as a study (Optuna, SQLite, pruning, workers)."""
    params = " ".join(f"--param '{t}'" for t in grid_texts(grid))
    return f"nnlab tune {name} --sampler grid --pruner none {params}{' --quick' if quick else ''}"


def run_sweep(recipe: Recipe, cfg: Mapping[str, Any], grid: Mapping[str, list], *, quick: bool = False,
              out: str | Path = "runs", run_dir: Path | None = None, progress: bool | None = None) -> Outcome:
    """Every configuration of ``grid`` (in its loop order: the last setting varies fastest) trained by
    :func:`train` as a complete run in ``<run_dir>/sweep/NNNN/`` (no plots); the run folder then holds the best
    one — the strictly greatest validation accuracy, the first in the grid's order on ties (as the notebooks'
    ``>``) — as a run of its own (weights, settings, figures, plots, straight from memory), plus the sweep's table
    (``metrics["sweep"]``, ``best_settings``, ``best_trial``) and ``sweep.png``."""
    from . import viz

    grid = {k: list(v) for k, v in grid.items()}
    fixed = {**cfg, "sweep": False} if "sweep" in cfg else dict(cfg)
    configs = [resolve_settings(recipe, {**fixed, **dict(zip(grid, values))}, quick=quick)
               for values in itertools.product(*grid.values())]
    data_of = _data_loader(recipe)
    for tcfg in configs:  # data errors and a too-large batch before the run folder exists
        _check_batch_size(tcfg, data_of(tcfg))
    run_dir = _open_run_dir(out, run_dir, recipe.name)
    extra = {"task": recipe.task, "sweep_grid": grid, "equivalent_command": sweep_command(recipe.name, grid, quick)}
    write_config(run_dir, recipe.name, cfg, {}, quick, extra=extra)
    write_metrics(run_dir, {"status": "running", "started": time.time(), **process_marks()})
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    best: Outcome | None = None
    best_number = -1
    try:
        with viz.plots_disabled():  # the trials draw no plots; the best one's are drawn once, below
            for number, tcfg in enumerate(configs):
                t0 = time.perf_counter()
                trial = train(recipe, tcfg, quick=quick, run_dir=run_dir / fmt.SWEEP_DIR / f"{number:04d}",
                              progress=False, data=data_of(tcfg))
                m = trial.metrics
                rows.append({**{k: tcfg[k] for k in grid}, "trial": number, "train_acc": m.get("train_acc"),
                             "val_acc": m.get("val_acc"), "test_acc": m.get("test_acc"),
                             "seconds": time.perf_counter() - t0})
                if progress is not False:
                    print(f"  trial {number + 1}/{len(configs)}: "
                          + ", ".join(f"{k}={tcfg[k]!r}" for k in grid) + f" -> val_acc {m.get('val_acc')}",
                          file=sys.stderr)
                if trial.result is not None and isinstance(m.get("val_acc"), float) and (
                        best is None or m["val_acc"] > best.metrics["val_acc"]):
                    best, best_number = trial, number
        if best is None or best.result is None:
            raise RunError(f"{recipe.name}: no sweep configuration finished with a validation accuracy; see "
                           f"{run_dir / fmt.SWEEP_DIR}")
        seconds = time.perf_counter() - start
        config = write_config(run_dir, recipe.name, best.result.cfg, best.result.info, quick, extra=extra)
        metrics = {**best.metrics, "sweep": rows, "best_settings": {k: best.result.cfg[k] for k in grid},
                   "best_trial": best_number, "sweep_seconds": seconds, "train_seconds": seconds}
        save_model(run_dir, best.result.model, config, best.result.info)
        write_metrics(run_dir, metrics)
        viz.plot_sweep(rows, grid, run_dir / fmt.SWEEP_PLOT, title=f"{recipe.name}: grid sweep")
        result = dataclasses.replace(best.result, run_dir=run_dir, metrics=metrics)
        draw_plots(recipe, result)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        _mark_failed(run_dir, exc)
        raise
    return Outcome(run_dir, metrics, result)
