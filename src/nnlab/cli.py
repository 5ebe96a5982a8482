"""The ``nnlab`` command: ``train`` (run a recipe) and friends.

    nnlab train                      # the default recipe (digits-mlp)
    nnlab train --list               # every recipe with its expected figure
    nnlab train NAME --quick         # a short run (for CI)
    nnlab train NAME --set learning_rate=1e-3 --set hidden_dims=[64,64] --out runs
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__

__all__ = ["main", "parse_setting"]


def parse_setting(text: str) -> tuple[str, Any]:
    """Parse ``key=value``; the value is read as a Python literal when it is one (``1e-3``, ``[64, 64]``,
    ``None``, ``True``), else kept as a string. Raises ``ValueError`` on a malformed setting."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"--set expects KEY=VALUE with KEY a setting name, got {text!r}")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def _run_with_emissions(recipe: Any, run_dir: Any, args: argparse.Namespace, overrides: dict) -> dict:
    """Run ``recipe`` inside codecarbon's offline tracker (``--track-emissions``); merge ``energy_kwh``,
    ``emissions_kg_co2e``, ``duration_s`` and ``tracker`` into the returned metrics and the run's metrics.json."""
    from .emissions import track_emissions

    with track_emissions(run_dir, project_name=recipe.name) as emissions:
        metrics = recipe.run(run_dir, quick=args.quick, progress=not args.no_progress, **overrides)
    metrics = {**metrics, **emissions.as_metrics()}
    path = run_dir / "metrics.json"
    written = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**written, **emissions.as_metrics()}, indent=2) + "\n")
    print(emissions.summary())
    return metrics


def _cmd_train(args: argparse.Namespace) -> int:
    from .recipes import DEFAULT_RECIPE, get_recipe, list_recipes, new_run_dir
    from .recipes.artifacts import UnknownSettingError

    if args.list:
        for r in list_recipes():
            default = " (default)" if r.name == DEFAULT_RECIPE else ""
            print(f"{r.name}{default}\n    {r.summary}\n    expected: {r.expected}")
        return 0
    name = args.recipe or DEFAULT_RECIPE
    try:
        recipe = get_recipe(name)
        overrides = dict(parse_setting(s) for s in args.set)
    except (KeyError, ValueError) as exc:
        print(f"nnlab train: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    if getattr(args, "track_emissions", False):
        from .emissions import EmissionsUnavailableError, require_codecarbon

        try:
            require_codecarbon()
        except EmissionsUnavailableError as exc:
            print(f"nnlab train: {exc}", file=sys.stderr)
            return 2
    run_dir = new_run_dir(name, args.out)
    print(f"nnlab train {name}{' --quick' if args.quick else ''}: writing to {run_dir}")
    try:
        if getattr(args, "track_emissions", False):
            metrics = _run_with_emissions(recipe, run_dir, args, overrides)
        else:
            metrics = recipe.run(run_dir, quick=args.quick, progress=not args.no_progress, **overrides)
    except UnknownSettingError as exc:  # an unknown setting named in --set: nothing was trained
        print(f"nnlab train: {exc.args[0]}", file=sys.stderr)
        for leftover in run_dir.iterdir():
            leftover.unlink()
        run_dir.rmdir()
        return 2
    summary = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    for key, value in summary.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"artifacts: {', '.join(sorted(p.name for p in run_dir.iterdir()))}")
    if args.json:
        print(json.dumps(summary))
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from .tune import TuneError, tune

    try:
        fixed = dict(parse_setting(s) for s in args.set)
        tune(args.recipe, args.param, trials=args.trials, sampler=args.sampler, pruner=args.pruner,
             seed=args.seed, jobs=args.jobs, storage=args.storage, study=args.study, out=args.out,
             resume=args.resume, quick=args.quick, fixed=fixed, keep_weights=not args.no_weights,
             trial_plots=args.trial_plots)
    except (TuneError, ValueError) as exc:
        print(f"nnlab tune: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data.download import DATASETS, download
    from .data.paths import DataFormatError

    if args.data_command != "download":
        for name, (folder, files) in DATASETS.items():
            print(f"{name} -> <data root>/{folder}: {', '.join(f.filename for f in files)}")
        return 0
    try:
        paths = download(args.name, dest=args.dest, mirror=args.mirror, progress=not args.no_progress)
    except (ValueError, DataFormatError, OSError) as exc:
        print(f"nnlab data download: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .generate import generate
    from .recipes.macbeth import load_char_model

    try:
        model, cfg = load_char_model(args.run_dir)
        text = generate(model, args.seed_text, args.length, args.temperature, seed=args.seed,
                        sequence_len=cfg.get("sequence_len", 30))
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"nnlab generate: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnlab", description="nnlab: deep learning from scratch on NumPy")
    parser.add_argument("--version", action="version", version=f"nnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="run a recipe (default: digits-mlp) and write runs/<recipe>-<time>/")
    train.add_argument("recipe", nargs="?", help="recipe name (see --list)")
    train.add_argument("--list", action="store_true", help="list the recipes and their expected figures")
    train.add_argument("--quick", action="store_true", help="a short run, for CI and smoke tests")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe setting (repeatable), e.g. --set learning_rate=1e-3")
    train.add_argument("--out", default="runs", help="root folder for run directories (default: runs)")
    train.add_argument("--json", action="store_true", help="also print the final metrics as one JSON line")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on stderr by default)")
    train.add_argument("--track-emissions", action="store_true",
                       help="record energy (kWh) and CO2e of the run with codecarbon's offline tracker into "
                            "metrics.json (pip install \"nnlab[emissions]\"; country code: "
                            "$NNLAB_EMISSIONS_COUNTRY, default USA)")
    train.set_defaults(func=_cmd_train)

    tune_p = sub.add_parser("tune", help="search a recipe's hyperparameters with Optuna (SQLite or PostgreSQL)")
    tune_p.add_argument("recipe", nargs="?", help="recipe name (default: digits-mlp; taken from the study on --resume)")
    tune_p.add_argument("--param", action="append", default=[], metavar="NAME=KIND:ARGS",
                        help="searched setting (repeatable): uniform:LOW:HIGH, loguniform:LOW:HIGH, "
                             "int:LOW:HIGH[:STEP], choice:V1,V2 or grid:V1,V2")
    tune_p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe setting held fixed in every trial (repeatable)")
    tune_p.add_argument("--trials", type=int, default=None,
                        help="finished trials to reach (default: the grid size, else 20)")
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

    gen = sub.add_parser("generate", help="sample text from a trained macbeth-rnn/-lstm run directory")
    gen.add_argument("run_dir", help="run directory written by `nnlab train macbeth-lstm` (config.json, model.npz)")
    gen.add_argument("--seed-text", required=True, help="prompt (lower-case, in the model's vocabulary)")
    gen.add_argument("--length", type=int, default=150, help="characters to generate (default: 150)")
    gen.add_argument("--temperature", type=float, default=0.75, help="softmax temperature > 0 (default: 0.75)")
    gen.add_argument("--seed", type=int, default=None, help="random seed (same seed, same text)")
    gen.set_defaults(func=_cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
