"""The ``nnlab`` command.

    nnlab train [RECIPE] [--quick] [--set KEY=VALUE ...]   train a recipe into runs/<recipe>-<time>/
    nnlab train RECIPE --help                              the recipe's settings: types, ranges, defaults
    nnlab train --resume RUN                               continue an interrupted run in its own folder
    nnlab evaluate RUN [--split test|val|train] [--data PATH]
    nnlab predict RUN FILE...                              classify images (or sample text from a char model)
    nnlab runs [ROOT] [--sort COLUMN]                      the runs as a table
    nnlab export RUN [-o FILE]                             ONNX
    nnlab tune RECIPE --param NAME=KIND:ARGS ...           hyperparameter search
    nnlab generate RUN --seed-text TEXT                    sample from a character model (= predict)
    nnlab data list|download NAME

Exit status: 0 success; 2 a user mistake (one line on stderr naming it, nothing written); 3 a run that diverged
(its folder holds the last good weights); 130 / 143 / 129 interrupted by Ctrl-C / SIGTERM / SIGHUP (a checkpoint
was written; the resume command is printed); 1 only for a bug.
``--debug`` (or ``NNLAB_DEBUG=1``) shows the traceback of any error.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__

__all__ = ["main", "parse_setting", "UsageError"]

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 2, 3, 130  # 128 + the signal: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP


class UsageError(Exception):
    """A mistake in the command line itself."""


def parse_setting(text: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (the value stays text; the recipe's declared type parses it)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise UsageError(f"--set expects KEY=VALUE with KEY a setting name, got {text!r}")
    return key, raw.strip()


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the user got something wrong (exit 2, one line)."""
    from .data.paths import DataError
    from .recipes.contract import SettingError, UnknownRecipeError
    from .runs import NonFiniteInputError, RunError

    errors: list[type[BaseException]] = [UsageError, SettingError, UnknownRecipeError, RunError, DataError,
                                         NonFiniteInputError, OSError]  # OSError: a user's path, disk or network
    try:
        from .onnx import ExportError, OnnxUnavailableError

        errors += [ExportError, OnnxUnavailableError]
    except ImportError:  # pragma: no cover
        pass
    try:
        from .tracking import TrackingUnavailableError

        errors.append(TrackingUnavailableError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from .tune import TuneError

        errors.append(TuneError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from .emissions import EmissionsUnavailableError

        errors.append(EmissionsUnavailableError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


#: what to do about an operating-system error on a user's path, by errno
_OS_HINTS = {
    errno.EEXIST: "it already exists (and is a file, not a folder): choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder: give a file",
    errno.EACCES: "permission denied: choose a path you can write to (or read)",
    errno.EPERM: "operation not permitted: choose a path you own",
    errno.EROFS: "read-only file system: choose a writable folder (e.g. --out ~/runs)",
    errno.ENOSPC: "no space left on the device: free some space or choose another disk",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long",
}


def _message(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, _data_error_types()) and exc.errno in _OS_HINTS:
        name = exc.filename if exc.filename is not None else ""
        what = _OS_HINTS[exc.errno]
        text = f"{name}: {what}" if name else f"{exc.strerror or text}: {what}"
        if exc.errno == errno.ENOENT and exc.strerror and exc.strerror.lower() != "no such file or directory":
            text = f"{name}: {exc.strerror}"
    return " ".join(str(text).split())  # one line


def _data_error_types() -> tuple[type[BaseException], ...]:
    from .data.paths import DataError

    return (DataError,)


def _debug(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("NNLAB_DEBUG", "") not in ("", "0")


# ------------------------------------------------------------------------------------------------------- train
def _print_summary(metrics: dict[str, Any], run_dir: Path, as_json: bool) -> None:
    summary = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    for key, value in summary.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"artifacts: {', '.join(sorted(p.name for p in run_dir.iterdir()))}")
    if as_json:
        print(json.dumps(summary))


def _hooks(args: argparse.Namespace, recipe_name: str) -> list[Any]:
    """Run hooks for --track-emissions and --log; each checks its optional dependency before anything runs."""
    from .runhooks import EmissionsHook, MLflowHook, TensorBoardHook

    hooks: list[Any] = []
    if getattr(args, "track_emissions", False):
        hooks.append(EmissionsHook.create(recipe_name))
    for target in getattr(args, "log", None) or []:
        if target == "tensorboard":
            hooks.append(TensorBoardHook.create())
        else:
            from .tracking import check_mlflow_uri, probe_mlflow_store

            try:
                check_mlflow_uri(args.mlflow_uri)
                probe_mlflow_store(args.mlflow_uri)
            except ValueError as exc:
                raise UsageError(f"--mlflow-uri: {exc}") from None
            hooks.append(MLflowHook.create(args.mlflow_uri, recipe_name))
    return hooks


def _apply_threads(threads: int | None) -> None:
    """``--threads N`` (or ``NNLAB_NUM_THREADS``) into the thread policy; a bad value is a usage error."""
    from .threads import default_num_threads, set_num_threads

    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be a positive integer, got {threads}")
    try:
        set_num_threads(threads if threads is not None else default_num_threads())
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_out_dir(flag: str, value: str) -> Path:
    """The folder given to ``flag`` (``--out``), refused with :class:`UsageError` before anything is written
    when it is empty, a file, under a file, or not writable (the nearest existing folder decides)."""
    if not str(value).strip():
        raise UsageError(f"{flag} is empty; give a folder for the run folders (default: runs)")
    path = Path(value).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == path else f"is under {probe}, which is a file"
        raise UsageError(f"{flag} {value}: {where}, not a folder; choose a folder for the run folders")
    if probe.is_dir() and not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {value}: {probe} is not writable (permission denied or read-only); choose a "
                         "folder you can write to")
    return path


def _cmd_train(args: argparse.Namespace) -> int:
    from . import runner
    from .recipes import DEFAULT_RECIPE, list_recipes
    from .recipes.contract import format_settings

    _apply_threads(args.threads)
    if args.list:
        for r in list_recipes():
            default = " (default)" if r.name == DEFAULT_RECIPE else ""
            print(f"{r.name}{default}\n    {r.summary}\n    expected: {r.expected}")
        return 0
    if args.resume:
        if args.recipe or args.set or args.quick:
            raise UsageError("--resume RUN takes the recipe and settings from the run; give no RECIPE, --set or "
                             "--quick with it")
        run_dir = Path(args.resume)
        print(f"nnlab train --resume {run_dir}")
        outcome = runner.resume(run_dir, progress=args.progress)
        return _finish(outcome, args)
    recipe, cfg = runner.prepare(args.recipe or DEFAULT_RECIPE, dict(parse_setting(s) for s in args.set),
                                 quick=args.quick, from_text=True)
    if args.help:
        print(format_settings(recipe))
        return 0
    check_out_dir("--out", args.out)
    hooks = _hooks(args, recipe.name)
    given = {parse_setting(s)[0] for s in args.set}
    grid = runner.sweep_grid(recipe, cfg, quick=args.quick, given=given)  # the runner sweeps exactly then
    print(f"nnlab train {recipe.name}{' --quick' if args.quick else ''}: "
          + ("sweeping " + ", ".join(f"{k} over {v}" for k, v in grid.items()) if grid else f"writing to {args.out}/"))
    outcome = runner.train(recipe, cfg, quick=args.quick, out=args.out, progress=args.progress, hooks=hooks,
                           given=given)
    return _finish(outcome, args)


def _finish(outcome: Any, args: argparse.Namespace) -> int:
    print(f"run folder: {outcome.run_dir}")
    _print_summary(outcome.metrics, outcome.run_dir, args.json)
    if outcome.status == "diverged":
        reason = outcome.metrics.get("reason") or "non-finite or exploding loss"
        print(f"nnlab train: diverged: {reason} (last good weights kept in {outcome.run_dir}"
              f"{'' if 'try ' in reason else '; try a smaller learning_rate'})", file=sys.stderr)
        return EXIT_DIVERGED
    return 0


# ------------------------------------------------------------------------------------------ evaluate / predict
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .runs import load_run

    run = load_run(args.run)
    figures = run.evaluate(split=args.split, data_path=args.data, allow_nonfinite=args.allow_nonfinite)
    for key, value in figures.items():
        print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    if args.json:
        print(json.dumps(figures))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .runs import RunError, load_run

    run = load_run(args.run)
    if run.info.get("vocab") is not None:
        prompts = list(args.seed_text or []) + [_read_prompt(f) for f in args.files]
        if not prompts:
            raise UsageError("a character model needs --seed-text TEXT (or text FILEs as prompts)")
        for prompt in prompts:
            print(_sample(run, prompt, args), flush=True)
        return 0
    if not args.files:
        raise UsageError("give one or more image FILEs (PNG or JPEG)")
    if run.info.get("image") is None:
        raise RunError(f"{run.path}: recipe {run.recipe!r} was not trained on images; predict needs an image model")
    X = run.load_images(args.files)
    proba = run.predict_proba(X, allow_nonfinite=args.allow_nonfinite)
    names = run.class_names or [str(i) for i in range(proba.shape[1])]
    for path, p in zip(args.files, proba):
        k = int(p.argmax())
        print(f"{path}\t{names[k]}\t{p[k]:.4f}")
    return 0


def _read_prompt(file: str) -> str:
    """A text file used as a character model's prompt; one line naming it when it is not UTF-8 text."""
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{file} is a folder; a character model takes text files (or --seed-text)")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file} is not UTF-8 text (byte {exc.start}: {exc.reason}); this run is a "
                         "character model, which takes text prompts (--seed-text TEXT or text files), not "
                         "images") from None


def _cmd_generate(args: argparse.Namespace) -> int:
    from .runs import load_run

    run = load_run(args.run_dir)
    print(_sample(run, args.seed_text, args))
    return 0


def _sample(run: Any, prompt: str, args: argparse.Namespace) -> str:
    """``run.sample`` with the prompt lower-cased as the training text was, saying so on stderr."""
    lowered = run.lowercased_prompt(prompt)
    if lowered is not None:
        print(f"nnlab {args.command}: note: the prompt {prompt[:40]!r} was lower-cased, as the training text was",
              file=sys.stderr)
        prompt = lowered
    return run.sample(prompt, args.length, args.temperature, seed=args.seed)


# ------------------------------------------------------------------------------------------------------- runs
_COLUMNS = ("run", "recipe", "started", "status", "metric", "value", "seconds", "settings")


def _cmd_runs(args: argparse.Namespace) -> int:
    from .runs import list_runs

    rows = list_runs(args.root)
    if not rows:
        print(f"no runs under {args.root}")
        return 0
    key = args.sort

    def sort_key(row: dict[str, Any]) -> tuple:
        value = row.get(key)
        return (value is None, value if not isinstance(value, dict) else json.dumps(value, sort_keys=True))

    rows.sort(key=sort_key, reverse=args.reverse)
    table = [[str(r["run"]), str(r["recipe"]), str(r["started"])[:19], r["status"], r["metric"],
              "" if r["value"] is None else f"{r['value']:.4f}",
              "" if r["seconds"] is None else f"{r['seconds']:.1f}",
              " ".join(f"{k}={v}" for k, v in r["settings"].items())] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(_COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths)).rstrip())
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from .onnx import export
    from .runs import load_run

    run = load_run(args.run)
    shape = run.info.get("input_shape")
    if shape is None:
        raise UsageError(f"export: {run.path / 'config.json'} records no input shape; retrain the run")
    example = np.zeros((1, *shape), dtype=run.info.get("input_dtype", "float32"))
    out = Path(args.output).expanduser() if args.output else run.path / "model.onnx"
    if args.output is not None:
        if not str(args.output).strip():
            raise UsageError("-o is empty; give a file name such as model.onnx")
        if out.is_dir():
            raise UsageError(f"-o {args.output} is a folder; give a file name, e.g. {out / 'model.onnx'}")
        if not out.parent.is_dir():
            if out.parent.exists():
                raise UsageError(f"-o {args.output}: {out.parent} is a file, not a folder")
            raise UsageError(f"the folder {out.parent} does not exist; create it first (nnlab export does not "
                             "create folders, as cp does not)")
    export(run.model, example, out)
    print(f"wrote {out} (ONNX, dynamic batch axis, input (N, {', '.join(str(d) for d in shape)}))")
    return 0


# ------------------------------------------------------------------------------------------------------- tune
def _cmd_tune(args: argparse.Namespace) -> int:
    from .tune import tune

    fixed = dict(parse_setting(s) for s in args.set)
    check_out_dir("--out", args.out)
    tune(args.recipe, args.param, trials=args.trials, sampler=args.sampler, pruner=args.pruner, seed=args.seed,
         jobs=args.jobs, storage=args.storage, study=args.study, out=args.out, resume=args.resume, quick=args.quick,
         fixed=fixed, keep_weights=not args.no_weights, trial_plots=args.trial_plots,
         mlflow_uri=args.mlflow_uri if args.log_mlflow else None)
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data.download import DATASETS, download

    if args.data_command != "download":
        for name, (folder, files) in DATASETS.items():
            print(f"{name} -> <data root>/{folder}: {', '.join(f.filename for f in files)}")
        return 0
    for p in download(args.name, dest=args.dest, mirror=args.mirror, progress=not args.no_progress):
        print(p)
    return 0


# ----------------------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``nnlab train: error: ...`` on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnlab", description="nnlab: deep learning from scratch on NumPy")
    parser.add_argument("--version", action="version", version=f"nnlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", add_help=False,
                           help="run a recipe (default: digits-mlp) and write runs/<recipe>-<time>/")
    train.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    train.add_argument("-h", "--help", action="store_true", help="this help, or with RECIPE its settings")
    train.add_argument("--list", action="store_true", help="list the recipes and their expected figures")
    train.add_argument("--quick", action="store_true", help="a short run, for CI and smoke tests")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe setting (repeatable), typed and checked: --set learning_rate=1e-3")
    train.add_argument("--resume", metavar="RUN", default=None,
                       help="continue an interrupted run in its folder (from checkpoint_latest.npz)")
    train.add_argument("--out", default="runs", help="root folder for run directories (default: runs)")
    train.add_argument("--json", action="store_true", help="also print the final metrics as one JSON line")
    train.add_argument("--threads", type=int, default=None, metavar="N",
                       help="threads for BLAS and nnlab's kernels (default: $NNLAB_NUM_THREADS, else the cores "
                            "this process may use); results do not depend on it")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar on stderr (default: only when stderr is a terminal)")
    train.add_argument("--no-progress-bar", dest="progress", action="store_false", help=argparse.SUPPRESS)
    train.add_argument("--track-emissions", action="store_true",
                       help="record energy (kWh) and CO2e with codecarbon's offline tracker (pip install "
                            "\"nnlab[emissions]\"; country: $NNLAB_EMISSIONS_COUNTRY, default USA)")
    train.add_argument("--log", action="append", choices=["tensorboard", "mlflow"], default=[],
                       help="also log to TensorBoard (event files in the run folder) or MLflow (repeatable)")
    train.add_argument("--mlflow-uri", default=None,
                       help="MLflow tracking URI (default: sqlite:///<out>/mlflow.db; postgresql://... works)")
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    train.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="re-score a saved run on a split of its data")
    ev.add_argument("run", help="run folder written by nnlab train")
    ev.add_argument("--split", choices=["test", "val", "train"], default="test")
    ev.add_argument("--data", default=None, help="read the recipe's data from this path instead")
    ev.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    ev.add_argument("--allow-nonfinite", action="store_true",
                    help="score inputs holding NaN or inf anyway (refused by default, with their count)")
    ev.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="classify image files with a saved run (or sample from a char model)")
    pr.add_argument("run", help="run folder written by nnlab train")
    pr.add_argument("files", nargs="*", help="PNG/JPEG images (or, for a char model, text files used as prompts)")
    pr.add_argument("--seed-text", action="append", default=None, help="prompt for a character model")
    pr.add_argument("--length", type=int, default=150, help="characters to generate (default 150)")
    pr.add_argument("--temperature", type=float, default=0.75, help="sampling temperature > 0 (default 0.75)")
    pr.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    pr.add_argument("--allow-nonfinite", action="store_true",
                    help="score inputs holding NaN or inf anyway (refused by default, with their count)")
    pr.set_defaults(func=_cmd_predict)

    rn = sub.add_parser("runs", help="list the runs under runs/ as a table")
    rn.add_argument("root", nargs="?", default="runs", help="folder holding run folders (default: runs)")
    rn.add_argument("--sort", choices=list(_COLUMNS), default="started", help="sort by this column")
    rn.add_argument("--reverse", action="store_true", help="descending order")
    rn.set_defaults(func=_cmd_runs)

    ex = sub.add_parser("export", help="export a run's model to ONNX (pip install \"nnlab[onnx]\")")
    ex.add_argument("run", help="run folder written by nnlab train")
    ex.add_argument("--format", choices=["onnx"], default="onnx")
    ex.add_argument("-o", "--output", default=None, help="output file (default: RUN/model.onnx)")
    ex.set_defaults(func=_cmd_export)

    tune_p = sub.add_parser("tune", help="search a recipe's hyperparameters with Optuna (SQLite or PostgreSQL)")
    tune_p.add_argument("recipe", nargs="?", help="recipe name (default: digits-mlp; taken from the study on --resume)")
    tune_p.add_argument("--param", action="append", default=[], metavar="NAME=KIND:ARGS",
                        help="searched setting (repeatable): uniform:LOW:HIGH, loguniform:LOW:HIGH, "
                             "int:LOW:HIGH[:STEP], choice:V1,V2 or grid:V1,V2")
    tune_p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe setting held fixed in every trial (repeatable)")
    tune_p.add_argument("--trials", type=int, default=None,
                        help="finished trials to reach (default: grid size, else 20)")
    tune_p.add_argument("--sampler", choices=["tpe", "random", "grid"], default="tpe")
    tune_p.add_argument("--pruner", default="median", help="median (default), none or threshold:LOWER")
    tune_p.add_argument("--seed", type=int, default=None, help="sampler seed (worker k uses seed + k)")
    tune_p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    tune_p.add_argument("--storage", default=None,
                        help="Optuna RDB URL, e.g. postgresql://user@host/db (default: SQLite in the study folder)")
    tune_p.add_argument("--study", default=None, help="study name (default: <recipe>-<time>)")
    tune_p.add_argument("--resume", action="store_true", help="continue (or join as a worker) the study --study")
    tune_p.add_argument("--quick", action="store_true", help="run every trial with the recipe's quick settings")
    tune_p.add_argument("--no-weights", action="store_true", help="do not keep each trial's model.npz")
    tune_p.add_argument("--trial-plots", action="store_true", help="also render each trial's PNGs (slower)")
    tune_p.add_argument("--log-mlflow", action="store_true", help="log every trial as a run of one MLflow experiment")
    tune_p.add_argument("--mlflow-uri", default=None, help="MLflow tracking URI (default: sqlite:///<out>/mlflow.db)")
    tune_p.add_argument("--out", default="runs", help="root folder for runs/tune-<study>/ (default: runs)")
    tune_p.set_defaults(func=_cmd_tune)

    data_p = sub.add_parser("data", help="list the datasets or download one with sha256 checks")
    data_sub = data_p.add_subparsers(dest="data_command", metavar="ACTION")
    data_sub.add_parser("list", help="datasets that can be downloaded and their files")
    dl = data_sub.add_parser("download", help="fetch a dataset's official files (pooch, sha256-checked)")
    dl.add_argument("name", help="dataset name (see `nnlab data list`)")
    dl.add_argument("--dest", default=None, help="target folder (default: $NNLAB_DATA/<dataset folder>)")
    dl.add_argument("--mirror", default=None, help="base URL serving the same file names (replaces the official host)")
    dl.add_argument("--no-progress", action="store_true", help="hide the download progress bar")
    data_p.set_defaults(func=_cmd_data)

    gen = sub.add_parser("generate", help="sample text from a character-model run (same as predict)")
    gen.add_argument("run_dir", help="run folder of a macbeth-* recipe")
    gen.add_argument("--seed-text", required=True, help="prompt in the model's vocabulary (capitals are lower-cased, "
                     "as the training text was)")
    gen.add_argument("--length", type=int, default=150, help="characters to generate (default: 150)")
    gen.add_argument("--temperature", type=float, default=0.75, help="softmax temperature > 0 (default: 0.75)")
    gen.add_argument("--seed", type=int, default=None, help="random seed (same seed, same text)")
    gen.set_defaults(func=_cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nnlab`` command with ``argv`` (None: ``sys.argv[1:]``) and return its exit status (see the module
    docstring: 0, 2 for a user mistake, 3 diverged, 128 + the signal when interrupted, 1 for a bug)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed on one line
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "command", None) == "train" and args.help and not args.recipe:
        parser._subparsers._group_actions[0].choices["train"].print_help()  # type: ignore[union-attr]
        return 0
    prog = f"nnlab {args.command}"
    from .threads import default_num_threads

    try:  # a bad NNLAB_NUM_THREADS is a usage error of every command, said before anything loads or is written
        default_num_threads()
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    warnings.filterwarnings("ignore", "Solver: diverged", RuntimeWarning)  # said once, in _finish's line
    warnings.filterwarnings("ignore", "(overflow|invalid value|divide by zero) encountered", RuntimeWarning)  # ditto
    previous = _install_signal_handlers()
    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", None)
        how = "" if signum in (None, signal.SIGINT) else f" by {signal.Signals(signum).name}"
        run_dir = getattr(exc, "run_dir", None)
        from .run_format import CHECKPOINT

        if run_dir is not None and (Path(run_dir) / CHECKPOINT).is_file():
            print(f"{prog}: interrupted{how}; checkpoint written. Resume with: nnlab train --resume {run_dir}",
                  file=sys.stderr)
        elif run_dir is not None:
            print(f"{prog}: interrupted{how} before the first checkpoint; nothing to resume (train again; the "
                  f"folder {run_dir} can be deleted)", file=sys.stderr)
        else:
            print(f"{prog}: interrupted{how}", file=sys.stderr)
        return 128 + int(signum or signal.SIGINT)
    except _user_errors() as exc:
        if _debug(args):
            traceback.print_exc()
        print(f"{prog}: {_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug: say so, with the traceback on request
        if _debug(args):
            traceback.print_exc()
        print(f"{prog}: internal error: {type(exc).__name__}: {_message(exc)} (a bug in nnlab; rerun with --debug "
              "for the traceback)", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signal_handlers() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (with ``signum``) as Ctrl-C does, so the command ends
    the same way (a Solver defers them to the end of its step and writes its checkpoint first); only where the
    default handler is in place. Returns the handlers to put back."""
    def raise_interrupt(signum: int, frame: Any) -> None:
        exc = KeyboardInterrupt()
        exc.signum = signum  # type: ignore[attr-defined]
        raise exc

    raise_interrupt.nnlab_signal_handler = True  # type: ignore[attr-defined]  (a Solver may take it over)
    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            try:
                previous[signum] = signal.signal(signum, raise_interrupt)
            except ValueError:  # not the main thread
                break
    return previous


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
