"""Hyperparameter search over any recipe with Optuna: ``nnlab tune <recipe> --param ... --trials N``.

A *search space* maps recipe settings to distributions written as text (``parse_param``, in
:mod:`nnlab.search_space` with the samplers and pruners)::

    learning_rate=loguniform:1e-4:1e-2    reg=uniform:0:0.5    batch_size=int:32:256[:STEP]
    update_rule=choice:adam,sgd           hidden_dims=grid:[64],[128,64]    (grid = choice, for --sampler grid)

Every trial runs ``recipe.run(trial_dir, quick, progress=False, callbacks=[pruning hook], **settings)`` and
maximizes the recipe's best validation accuracy. A :class:`PruningCallback` reports the Solver's val accuracy at
every epoch end to Optuna's pruner and stops a bad trial early (it is then stored as PRUNED). Each trial keeps
its settings, per-epoch histories and best val accuracy as user attributes, and its run directory (metrics,
curves, ``model.npz`` with the best weights, unless ``keep_weights=False``).

Storage: an SQLite file ``<out>/tune-<study>/study.db`` by default; any Optuna RDB URL otherwise
(``postgresql://user@host/db`` to share one study between processes on several machines). Trials carry a
heartbeat, so a trial whose worker died is marked FAIL after ``grace_period`` seconds and re-queued with the
same settings (``RetryHeartbeatStaleTrialCallback``). A study stores its recipe, space, sampler and target in
its user attributes, so ``tune(..., resume=True)`` (``nnlab tune --resume --study NAME``) joins or continues
it. The study stops when ``trials`` trials are finished (COMPLETE or PRUNED).

``jobs=K`` runs K workers on this machine for the whole study: this process and K-1 worker processes started
first (so their imports overlap the study's creation), each with ``cores // K`` BLAS threads. Trials skip the
recipes' per-run PNGs unless ``trial_plots=True``. Each trial records its ``worker`` (index, pid, BLAS threads).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import viz
from .callbacks import Callback
from .search_space import (
    ParamSpec,
    TuneError,
    grid_size,
    literal_or_text,
    make_pruner,
    make_sampler,
    parse_param,
    parse_space,
)

__all__ = ["ParamSpec", "TuneError", "parse_param", "parse_space", "PruningCallback", "make_sampler",
           "make_pruner", "tune", "export_csv", "plot_study", "best_summary"]

# Seconds between a running trial's heartbeats, and silence after which its worker counts as dead.
HEARTBEAT_INTERVAL = int(os.environ.get("NNLAB_TUNE_HEARTBEAT", "2"))
GRACE_PERIOD = 3 * HEARTBEAT_INTERVAL
# Seconds an idle worker waits before looking again at the others' running trials (the study's end is seen
# this soon after the last trial finishes).
POLL_INTERVAL = min(0.2, HEARTBEAT_INTERVAL)
# Environment variables that size the BLAS/OpenMP thread pools of a worker process before it imports NumPy.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS")


class PruningCallback(Callback):
    """Solver callback: report the last val accuracy of each epoch to an Optuna ``trial`` (step = epoch) and
    stop the Solver when the trial's pruner says so (``pruned`` is then True)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.pruned = False
        self.val_acc_by_epoch: list[float] = []

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        if not solver.val_acc_history:
            return
        self.val_acc_by_epoch.append(float(solver.val_acc_history[-1]))
        self.trial.report(self.val_acc_by_epoch[-1], epoch)
        if self.trial.should_prune():
            self.pruned = True
            solver.stop_training = True
            solver.stop_reason = f"pruned by the tuner at epoch {epoch} (val acc {solver.val_acc_history[-1]:.4f})"


# --------------------------------------------------------------------------------------------------------- storage

def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL too malformed to parse is shown as given
        return url


def _sqlite_wal(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: readers never block the writer (several workers) and a
    commit does not wait for an fsync (a killed process still leaves a consistent database)."""
    from sqlalchemy import event

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened while creating the tables predate the listener


def open_storage(url: str) -> Any:
    """An Optuna ``RDBStorage`` with trial heartbeats and retry of dead workers' trials; ``TuneError`` with the
    cause when the database cannot be reached (nothing is created then)."""
    import optuna

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
        if url.startswith("sqlite"):
            _sqlite_wal(storage.engine)
        return storage
    except ImportError as exc:
        raise TuneError(f"cannot open storage {_safe_url(url)}: its database driver is not installed "
                        "(PostgreSQL: pip install 'psycopg[binary]')") from exc
    except Exception as exc:  # noqa: BLE001 - sqlalchemy/driver errors vary; report them uniformly
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TuneError(f"cannot open storage {_safe_url(url)}: {first}") from exc


# ------------------------------------------------------------------------------------------------------- the study

@dataclass
class _Job:
    """Everything a worker process needs (picklable)."""

    storage: str
    study: str
    study_dir: str
    worker: int = 0
    seed: int | None = None
    threads: int | None = None  # BLAS/OpenMP threads of this worker (None: leave the pools as they are)
    live: bool = True


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(jobs: int) -> int:
    """BLAS threads for each of ``jobs`` workers on this machine: ``max(1, cores // jobs)``, so that the workers
    together never run more threads than there are cores (oversubscription slows every one of them)."""
    return max(1, usable_cores() // jobs)


def _check_settings(recipe: Any, space: dict[str, ParamSpec], fixed: dict[str, Any]) -> dict[str, Any]:
    """Check every searched and fixed setting against the recipe's declared types and ranges, before any trial.
    Returns the fixed settings parsed to their types. ``TuneError`` naming the setting, its type and range."""
    from .recipes.contract import SettingError

    if recipe.variants is not None:
        raise TuneError(f"recipe {recipe.name!r} is a study of several models; tune a single-model recipe")
    typed: dict[str, Any] = {}
    try:
        for name, value in fixed.items():
            typed[name] = recipe.setting(name).parse(value, from_text=isinstance(value, str))
        for name, spec in space.items():
            setting = recipe.setting(name)
            if spec.finite:
                for v in spec.values:
                    setting.parse(v)
            elif setting.kind == "int" and spec.kind != "int":
                raise TuneError(f"--param {spec.to_text()!r}: setting {name!r} is {setting.describe()}; "
                                "use int:LOW:HIGH[:STEP]")
            elif setting.kind not in ("int", "float"):
                raise TuneError(f"--param {spec.to_text()!r}: setting {name!r} is {setting.describe()}; "
                                f"{spec.kind} needs a number setting (use choice:V1,V2)")
            else:
                setting.parse(spec.low)
                setting.parse(spec.high)
                if spec.kind == "int" and setting.kind != "int":
                    raise TuneError(f"--param {spec.to_text()!r}: setting {name!r} is {setting.describe()}; "
                                    "use uniform or loguniform")
    except SettingError as exc:
        raise TuneError(str(exc)) from None
    return typed


def _objective(study_attrs: dict[str, Any], study_dir: Path, keep_weights: bool, worker_info: dict[str, Any]):
    from . import runner
    from .recipes import get_recipe
    from .recipes.contract import resolve_settings

    recipe = get_recipe(study_attrs["recipe"])
    space = parse_space(study_attrs["space"])
    fixed = {k: literal_or_text(v) for k, v in study_attrs["fixed"].items()}
    quick = bool(study_attrs["quick"])
    mlflow_uri = study_attrs.get("mlflow_uri")

    def objective(trial: Any) -> float:
        import optuna

        settings = {name: spec.suggest(trial) for name, spec in space.items()}
        cfg = resolve_settings(recipe, {**fixed, **settings}, quick=quick)
        run_dir = study_dir / "trials" / f"{trial.number:04d}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        hook = PruningCallback(trial)
        hooks = []
        if mlflow_uri:
            from .runhooks import MLflowHook

            hooks.append(MLflowHook(mlflow_uri, experiment=f"tune-{study_dir.name[len('tune-'):]}"))
        # A trial's PNGs (curves, confusion matrix: ~0.5 s of matplotlib) would cost as much as a short trial;
        # the study shows its trials in study.png and keeps each trial's histories instead.
        plots = contextlib.nullcontext() if study_attrs.get("trial_plots") else viz.plots_disabled()
        with plots:
            metrics = runner.train(recipe, cfg, quick=quick, run_dir=run_dir, progress=False, callbacks=[hook],
                                   hooks=hooks).metrics
        val_history = [float(v) for v in metrics.get("val_acc_history", [])]
        by_epoch = hook.val_acc_by_epoch
        if "best_val_acc" not in metrics:
            raise TuneError(f"recipe {recipe.name!r} reports no validation accuracy (best_val_acc) to maximize")
        if recipe.fit is not None:  # no Solver, no live hook: report the finished run's checks afterwards
            by_epoch = val_history
            for epoch, acc in enumerate(by_epoch, 1):
                trial.report(acc, epoch)
        trial.set_user_attr("settings", {k: repr(v) for k, v in settings.items()})
        trial.set_user_attr("val_acc_history", val_history)
        trial.set_user_attr("train_acc_history", [float(v) for v in metrics.get("train_acc_history", [])])
        trial.set_user_attr("best_val_acc", float(metrics["best_val_acc"]))
        trial.set_user_attr("val_acc_by_epoch", by_epoch)
        trial.set_user_attr("epochs", len(by_epoch))
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("status", str(metrics.get("status")))
        trial.set_user_attr("worker", dict(worker_info))
        for key in ("test_acc", "train_acc", "val_acc"):
            if isinstance(metrics.get(key), float):
                trial.set_user_attr(key, metrics[key])
        if not keep_weights:
            for path in run_dir.glob("*.npz"):
                path.unlink()
        if hook.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {len(by_epoch)}")
        return float(metrics["best_val_acc"])

    return objective


def _counts(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    counts = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    return counts


def _format_row(trial: Any, space_names: list[str]) -> str:
    value = f"{trial.value:.4f}" if trial.value is not None else "-"
    epochs = trial.user_attrs.get("epochs", "-")
    settings = ", ".join(f"{n}={_short(trial.params.get(n))}" for n in space_names)
    secs = trial.duration.total_seconds() if trial.duration else float("nan")
    return f"{trial.number:>5}  {trial.state.name:<8}  {value:>7}  {epochs!s:>6}  {secs:6.1f}s  {settings}"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


TABLE_HEADER = f"{'trial':>5}  {'state':<8}  {'val_acc':>7}  {'epochs':>6}  {'time':>7}  settings"


@contextlib.contextmanager
def _thread_limit(threads: int | None) -> Any:
    """Context giving a worker ``threads`` of nnlab's threads (its pool, through the thread policy; BLAS stays
    at the policy's one thread), restored on exit; no-op for None. The workers divide the cores among them."""
    if threads is None:
        yield
        return
    from .threads import get_num_threads, set_num_threads

    before = get_num_threads()
    set_num_threads(threads)
    try:
        yield
    finally:
        set_num_threads(before)


def _blas_threads() -> int | None:
    """Threads of the BLAS nnlab's kernels call (NumPy's, which the thread policy keeps at one; None when
    threadpoolctl finds none). Other BLAS libraries a process loads (torch's) are not nnlab's to size."""
    from .threads import blas_num_threads

    return blas_num_threads()


def _nnlab_threads() -> int:
    """nnlab's thread count in this worker (the policy's pool)."""
    from .threads import get_num_threads

    return get_num_threads()


def _warm_report_imports() -> bool:
    """Import matplotlib's Agg figure (for ``study.png``) ahead of the report; True when done."""
    with contextlib.suppress(ImportError):
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401
    return True


def _worker(job: _Job, storage: Any = None) -> int:
    """Run trials until the study has its target of finished trials, each with at most ``job.threads`` BLAS
    threads (limit re-applied per trial, so libraries a trial loads are limited from the next one on), on
    ``storage`` (an open RDBStorage; default: open ``job.storage``). Returns the number of trials it ran.

    The loop: when the other workers' running trials would reach the target, wait for them: a dead worker's
    trial goes stale and comes back as WAITING, to be run here. Each trial records ``worker`` (index, process
    id, BLAS threads) as a user attribute."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage if storage is not None else open_storage(job.storage)
    probe = optuna.load_study(study_name=job.study, storage=storage)
    attrs = probe.user_attrs
    space = parse_space(attrs["space"])
    seed = None if attrs["seed"] is None else int(attrs["seed"]) + job.worker
    study = optuna.load_study(study_name=job.study, storage=storage,
                              sampler=make_sampler(attrs["sampler"], space, seed),
                              pruner=make_pruner(attrs["pruner"]))
    worker_info: dict[str, Any] = {"index": job.worker, "pid": os.getpid(), "blas_threads": None}
    objective = _objective(attrs, Path(job.study_dir), bool(attrs["keep_weights"]), worker_info)
    names = list(space)

    def show(st: Any, trial: Any) -> None:
        if job.live:
            print(_format_row(trial, names), flush=True)

    ran, warmed = 0, False
    target = int(attrs["trials"])
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial -> FAIL, re-queued as WAITING
        c = _counts(study)
        done = c["COMPLETE"] + c["PRUNED"]
        if done >= target:
            return ran
        if done + c["RUNNING"] >= target and c["WAITING"] == 0:
            if job.worker == 0 and not warmed:  # idle while the others finish: load what the report needs
                warmed = _warm_report_imports()
            time.sleep(POLL_INTERVAL)
            continue
        if attrs["sampler"] == "grid" and c["WAITING"] == 0 and done + c["RUNNING"] + c["FAIL"] >= target * 4:
            return ran  # a grid whose trials keep failing: give up rather than loop
        with _thread_limit(job.threads):
            worker_info["blas_threads"] = _blas_threads()
            worker_info["nnlab_threads"] = _nnlab_threads()
            study.optimize(objective, n_trials=1, callbacks=[show], catch=())
        last = study.get_trials(deepcopy=False)[-1]
        ran += 1
        if last.state == TrialState.FAIL:
            return ran


def tune(recipe: str | None, space: list[str] | None = None, *, trials: int | None = None,
         sampler: str = "tpe", pruner: str | None = "median", seed: int | None = None, jobs: int = 1,
         storage: str | None = None, study: str | None = None, out: str | os.PathLike = "runs",
         resume: bool = False, quick: bool = False, fixed: dict[str, Any] | None = None,
         keep_weights: bool = True, trial_plots: bool = False, live: bool = True,
         mlflow_uri: str | None = None) -> Any:
    """Create (or with ``resume=True`` join/continue) a study and run trials until ``trials`` are finished.

    Parameters
    ----------
    recipe : registered recipe name (ignored on resume; taken from the study).
    space : ``--param`` texts (see :func:`parse_param`).
    trials : target number of finished (complete or pruned) trials; default the grid size for ``'grid'``, else 20.
    sampler : ``'grid'``, ``'random'`` or ``'tpe'``; ``seed`` makes random/TPE reproducible (worker k uses seed+k).
    pruner : see :func:`make_pruner`.
    jobs : workers on this machine: this process and ``jobs - 1`` worker processes that live for the whole
        study, each with ``max(1, cores // jobs)`` BLAS threads when ``jobs > 1``.
    storage : Optuna RDB URL; default ``sqlite:///<out>/tune-<study>/study.db``.
    study : study name; default ``<recipe>-<YYYYmmdd-HHMMSS>``.
    fixed : recipe settings held fixed in every trial (like ``nnlab train --set``).
    keep_weights : keep each trial's ``model.npz`` (its best weights).
    trial_plots : also render each trial's PNGs (curves, confusion matrix); off by default, as they cost about
        as much as a short trial's training.
    mlflow_uri : log every trial as a run of the MLflow experiment ``tune-<study>`` at this tracking URI.

    Returns the ``optuna.Study``; writes ``trials.csv`` and ``study.png`` into ``<out>/tune-<study>/``.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise TuneError(f"jobs must be an integer >= 1, got {jobs!r}")
    procs = _prestart_workers(jobs)  # they import while this process opens the study
    try:
        st, rdb, storage, study_dir = _open_study(
            recipe, space, trials=trials, sampler=sampler, pruner=pruner, seed=seed, storage=storage, study=study,
            out=out, resume=resume, quick=quick, fixed=fixed, keep_weights=keep_weights, trial_plots=trial_plots)
        if mlflow_uri:
            from .tracking import require_mlflow

            require_mlflow()
            st.set_user_attr("mlflow_uri", mlflow_uri)
        attrs = st.user_attrs
        if live:
            print(f"study {st.study_name} ({attrs['recipe']}, sampler {attrs['sampler']}, target "
                  f"{attrs['trials']} trials, {jobs} job{'s' if jobs > 1 else ''}) in {_safe_url(storage)}",
                  flush=True)
            print(TABLE_HEADER, flush=True)
        base = _Job(storage=storage, study=st.study_name, study_dir=str(study_dir), seed=seed, live=live)
        if jobs == 1:
            _worker(base, rdb)
        else:
            _run_processes(base, procs, rdb)
    except BaseException:
        _stop(procs)
        raise
    st = optuna.load_study(study_name=st.study_name, storage=rdb)
    export_csv(st, study_dir / "trials.csv")
    plot_study(st, study_dir / "study.png")
    if live:
        print(best_summary(st))
    return st


def _open_study(recipe: str | None, space: list[str] | None, *, trials: int | None, sampler: str,
                pruner: str | None, seed: int | None, storage: str | None, study: str | None,
                out: str | os.PathLike, resume: bool, quick: bool, fixed: dict[str, Any] | None,
                keep_weights: bool, trial_plots: bool) -> tuple[Any, Any, str, Path]:
    """Create the study (or load it on ``resume``) with its nnlab attributes; returns ``(study, rdb_storage,
    storage_url, study_dir)``. ``TuneError`` for bad input, before anything is written."""
    import optuna

    if resume and not study:
        raise TuneError("--resume needs --study NAME (and --storage URL unless it is the default SQLite file)")
    if not resume:
        attrs = _new_study_attrs(recipe, space or [], trials, sampler, pruner, seed, quick, fixed or {},
                                 keep_weights, trial_plots)
        study = study or f"{attrs['recipe']}-{time.strftime('%Y%m%d-%H%M%S')}"
    study_dir = Path(out) / f"tune-{study}"
    if storage is None:
        if resume and not (study_dir / "study.db").exists():
            raise TuneError(f"no study {study!r} at {study_dir / 'study.db'}; pass --storage URL or --out")
        study_dir.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(study_dir / 'study.db').resolve()}"
    rdb = open_storage(storage)
    study_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        try:
            st = optuna.load_study(study_name=study, storage=rdb)
        except KeyError:
            raise TuneError(f"storage {_safe_url(storage)} has no study {study!r}") from None
        if "space" not in st.user_attrs:
            raise TuneError(f"study {study!r} was not created by nnlab tune (no recipe/space attributes)")
        if trials is not None:  # raise (or lower) the study's target
            if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
                raise TuneError(f"trials must be an integer >= 1, got {trials!r}")
            st.set_user_attr("trials", trials)
    else:
        try:
            st = optuna.create_study(study_name=study, storage=rdb, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError:
            raise TuneError(f"study {study!r} already exists in {_safe_url(storage)}; "
                            "pass --resume to continue it (or join it from another worker)") from None
        for key, value in attrs.items():
            st.set_user_attr(key, value)
    return st, rdb, storage, study_dir


def _new_study_attrs(recipe: str | None, space_texts: list[str], trials: int | None, sampler: str,
                     pruner: str | None, seed: int | None, quick: bool, fixed: dict[str, Any],
                     keep_weights: bool, trial_plots: bool = False) -> dict[str, Any]:
    from .recipes import DEFAULT_RECIPE, get_recipe

    name = recipe or DEFAULT_RECIPE
    try:
        rec = get_recipe(name)
    except KeyError as exc:
        raise TuneError(exc.args[0]) from None
    space = parse_space(space_texts)
    if not space:
        raise TuneError("give at least one --param NAME=KIND:ARGS to search")
    overlap = sorted(set(space) & set(fixed))
    if overlap:
        raise TuneError(f"{', '.join(overlap)} both searched (--param) and fixed (--set)")
    fixed = _check_settings(rec, space, fixed)
    make_sampler(sampler, space, seed)
    make_pruner(pruner)
    if rec.data is not None:  # a missing or broken dataset is one error here, not a failed trial per worker
        from .recipes.contract import resolve_settings

        rec.data(resolve_settings(rec, fixed, quick=quick))
    if trials is None:
        trials = grid_size(space) if sampler == "grid" else 20
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise TuneError(f"trials must be an integer >= 1, got {trials!r}")
    if sampler == "grid" and trials > grid_size(space):
        raise TuneError(f"the grid has {grid_size(space)} configurations, fewer than --trials {trials}")
    return {"recipe": name, "space": [s.to_text() for s in space.values()], "trials": trials,
            "sampler": sampler, "pruner": pruner or "median", "seed": seed, "quick": bool(quick),
            "fixed": {k: repr(v) for k, v in fixed.items()}, "keep_weights": bool(keep_weights),
            "trial_plots": bool(trial_plots)}


def _prestart_workers(jobs: int) -> list[subprocess.Popen]:
    """Start the ``jobs - 1`` extra worker processes of ``--jobs``: fresh interpreters (nothing of the caller's
    ``__main__`` is re-run) with ``cores // jobs`` BLAS/OpenMP threads set in their environment before NumPy
    loads. Each imports what a worker needs, then waits for its job on stdin (see :func:`_worker_main`)."""
    if jobs < 2:
        return []
    env = {**os.environ, **{var: str(threads_per_worker(jobs)) for var in _THREAD_VARS}}
    src = str(Path(__file__).resolve().parents[1])  # this nnlab (src/nnlab/tune.py), even when not installed
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    code = "from nnlab.tune import _worker_main; _worker_main()"
    return [subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, text=True)
            for _ in range(1, jobs)]


def _worker_main() -> None:
    """Body of a worker process: warm the imports (storage, recipes), read one job (JSON line) from stdin and run
    it; exit quietly on an empty line or a closed stdin (the parent gave up before the study opened)."""
    from .recipes import list_recipes

    open_storage("sqlite://")  # imports SQLAlchemy/Alembic/Optuna's storage and its schema code
    list_recipes()
    line = sys.stdin.readline()
    if not line.strip():
        return
    job = _Job(**json.loads(line))
    try:
        _worker(job)
    except Exception as exc:  # noqa: BLE001 - reported by the parent through the exit code
        print(f"nnlab tune worker {job.worker}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from exc


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop worker processes (a started trial of theirs goes stale and is re-run by ``--resume``)."""
    for p in procs:
        with contextlib.suppress(OSError):
            p.stdin.close()
        p.terminate()
    for p in procs:
        p.wait()


def _run_processes(base: _Job, procs: list[subprocess.Popen], storage: Any = None) -> None:
    """Run the study with ``len(procs) + 1`` workers: the prestarted processes, each sent its job, plus this
    process (its imports are done); each limited to ``cores // jobs`` BLAS threads. If this process's worker
    fails or is interrupted, the others are stopped."""
    threads = threads_per_worker(len(procs) + 1)
    for k, p in enumerate(procs, 1):
        job = _Job(**{**asdict(base), "worker": k, "threads": threads})
        with contextlib.suppress(OSError):  # a process that died starting up shows in its exit code
            p.stdin.write(json.dumps(asdict(job)) + "\n")
            p.stdin.close()
    try:
        _worker(_Job(**{**asdict(base), "worker": 0, "threads": threads}), storage)
    except BaseException:
        _stop(procs)
        raise
    codes = [p.wait() for p in procs]
    failed = [f"nnlab-tune-{k}" for k, code in enumerate(codes, 1) if code != 0]
    if failed:
        raise TuneError(f"worker(s) {', '.join(failed)} failed; the study keeps every finished trial, "
                        "continue it with --resume")


# -------------------------------------------------------------------------------------------------------- reports

def export_csv(study: Any, path: str | os.PathLike) -> Path:
    """One row per trial: number, state, value, best_val_acc, epochs, duration, then one column per setting."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({n for t in trials for n in t.params})
    path = Path(path)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["number", "state", "value", "best_val_acc", "epochs", "duration_s", *names])
        for t in trials:
            w.writerow([t.number, t.state.name, "" if t.value is None else t.value,
                        t.user_attrs.get("best_val_acc", ""), t.user_attrs.get("epochs", ""),
                        "" if t.duration is None else round(t.duration.total_seconds(), 3),
                        *[t.params.get(n, "") for n in names]])
    return path


def plot_study(study: Any, path: str | os.PathLike) -> Path:
    """PNG: objective by trial (with the best so far) and one slice (objective vs setting) per setting.

    Drawn on a bare Agg figure with fixed margins (no pyplot, no layout engine): a third of the time, as this
    runs once per study after the workers finish."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    names = sorted({n for t in done for n in t.params})
    width = 4 * (1 + len(names))
    fig = Figure(figsize=(width, 3.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 1 + len(names), squeeze=False)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, bottom=0.16, top=0.9, wspace=0.3)
    ax = axes[0, 0]
    xs, ys = [t.number for t in done], [t.value for t in done]
    ax.plot(xs, ys, "o", label="trial")
    if ys:
        best = [max(ys[: i + 1]) for i in range(len(ys))]
        ax.step(xs, best, where="post", color="C3", label="best so far")
    ax.set(title="objective by trial", xlabel="trial", ylabel="best val accuracy")
    ax.legend(loc="lower right")
    for ax, name in zip(axes[0, 1:], names):
        vals = [t.params[name] for t in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        x = vals if numeric else [str(v) for v in vals]
        ax.plot(x, ys, "o")
        if numeric and vals and min(vals) > 0 and max(vals) / min(vals) > 50:
            ax.set_xscale("log")
        ax.set(title=f"slice: {name}", xlabel=name)
    fig.savefig(path, dpi=90)
    return Path(path)


def best_summary(study: Any) -> str:
    """``best trial #k: val_acc=... settings`` (or a note that no trial completed)."""
    from optuna.trial import TrialState

    c = _counts(study)
    head = (f"{c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed, "
            f"{c['RUNNING']} running, {c['WAITING']} waiting")
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return f"{head}; no completed trial yet"
    b = study.best_trial
    settings = ", ".join(f"{k}={_short(v)}" for k, v in b.params.items())
    return f"{head}\nbest trial #{b.number}: val_acc={b.value:.4f}  {settings}"
