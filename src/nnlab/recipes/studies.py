"""Training studies on small CIFAR-10 subsets: update rules, batch normalization and dropout.

Recipes (spec seed_004 §6.5-6.6, §7.5, §8 and seed 002 experiments 1-2):

- ``optimizers``: one 6-layer ``FullyConnectedNet([100] * 5)`` per update rule (sgd, sgd_momentum,
  sgd_nesterov_momentum, rmsprop, adam) on 4000 images for 5 epochs; one 3-panel comparison figure.
- ``batchnorm``: the 6-layer net with and without batch norm; the 8-layer weight-scale sweep; batch norm (and
  layer norm) at batch sizes 5 / 10 / 50 against an unnormalized net at batch size 5.
- ``dropout``: a ``[500]`` net with keep probability 1.0 vs 0.25 on 500 images, 25 epochs.

Every model of a comparison starts from the same seed (``np.random.seed(seed)`` before it is built, so the
weights and dropout masks come from NumPy's global RNG as in the notebooks) and sees the same minibatches
(``Solver(seed=seed)``). ``repeats`` > 1 trains the comparison again with seeds ``seed + 1, ...`` and reports
the means, so an ordering can be told apart from seed noise. Each recipe writes ``config.json``,
``metrics.json`` (every curve, the spec's numbers, and the spec's claims as booleans), its figure(s) and the
weights of the models of the first seed (``model_<label>.npz``: parameters plus batch-norm running stats).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .artifacts import apply_overrides, write_json

__all__ = ["load_cifar10_subset", "OPTIMIZERS_DEFAULTS", "BATCHNORM_DEFAULTS", "DROPOUT_DEFAULTS",
           "run_optimizers", "run_batchnorm", "run_dropout"]

# ---------------------------------------------------------------------------------------------------------------
# data, training and saving
# ---------------------------------------------------------------------------------------------------------------
_SPEC_NUM_TRAINING = 49000  # get_CIFAR10_data()'s training split: its mean image is subtracted from everything


def load_cifar10_subset(num_train: int, num_val: int = 1000, path: str | None = None) -> dict[str, np.ndarray]:
    """The first ``num_train`` training and ``num_val`` validation images of ``get_CIFAR10_data()``.

    Same numbers as ``get_CIFAR10_data()['X_train'][:num_train]`` (mean image of the 49000-image training split
    subtracted, channels first, float32) and ``['X_val'][:num_val]`` (training images 49000...), without
    materialising the 49000 float images. Returns ``X_train`` (num_train, 3, 32, 32), ``y_train`` (num_train,),
    ``X_val`` (num_val, 3, 32, 32), ``y_val`` (num_val,).
    """
    from nnlab.data.cifar10 import load_cifar10_raw

    if not 1 <= num_train <= _SPEC_NUM_TRAINING:
        raise ValueError(f"load_cifar10_subset: num_train must be in [1, {_SPEC_NUM_TRAINING}], got {num_train}")
    X, y, _, _ = load_cifar10_raw(path)
    if not 1 <= num_val <= len(X) - _SPEC_NUM_TRAINING:
        raise ValueError(f"load_cifar10_subset: num_val must be in [1, {len(X) - _SPEC_NUM_TRAINING}], got {num_val}")
    mean = X[:_SPEC_NUM_TRAINING].mean(axis=0, dtype=np.float64)

    def prep(images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((images.astype(np.float64) - mean).transpose(0, 3, 1, 2), dtype=np.float32)

    val = slice(_SPEC_NUM_TRAINING, _SPEC_NUM_TRAINING + num_val)
    return {"X_train": prep(X[:num_train]), "y_train": y[:num_train], "X_val": prep(X[val]), "y_val": y[val]}


def _config(name: str, defaults: Mapping[str, Any], quick_settings: Mapping[str, Any], quick: bool,
            overrides: Mapping[str, Any]) -> dict[str, Any]:
    cfg = apply_overrides(dict(defaults), overrides, name)
    if quick:
        cfg.update({k: v for k, v in quick_settings.items() if k not in overrides})
    cfg.update(recipe=name, quick=quick)
    return cfg


def _fit(data: Mapping[str, np.ndarray], hidden_dims: Sequence[int], seed: int, *, weight_scale: float,
         update_rule: str, learning_rate: float, num_epochs: int, batch_size: int, normalization: str | None = None,
         keep_ratio: float = 1.0, progress: bool | None = None):
    """Build a float32 ``FullyConnectedNet`` after ``np.random.seed(seed)`` and train it; returns the Solver."""
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver

    np.random.seed(seed)  # initial weights and dropout masks come from NumPy's global RNG (as in the notebooks)
    model = FullyConnectedNet(list(hidden_dims), weight_scale=weight_scale, normalization=normalization,
                              dropout_keep_ratio=keep_ratio, dtype=np.float32)
    solver = Solver(model, data, update_rule=update_rule, optim_config={"learning_rate": learning_rate},
                    num_epochs=num_epochs, batch_size=batch_size, verbose=False, progress=progress, seed=seed)
    solver.train()
    return solver


def _curves(solver) -> dict[str, Any]:
    """Histories and summary figures of a trained Solver (``final_loss`` = mean loss over the last epoch)."""
    loss = [float(v) for v in solver.loss_history]
    train, val = [float(v) for v in solver.train_acc_history], [float(v) for v in solver.val_acc_history]
    last_epoch = loss[-solver.iterations_per_epoch:]
    return {"final_train_acc": train[-1], "final_val_acc": val[-1], "best_train_acc": max(train),
            "best_val_acc": max(val), "first_loss": loss[0], "final_loss": float(np.mean(last_epoch)),
            "diverged": bool(getattr(solver, "diverged", False)),
            "loss_history": loss, "train_acc_history": train, "val_acc_history": val}


_SUMMARY_KEYS = ("final_train_acc", "final_val_acc", "best_val_acc", "final_loss")


def _mean_over_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in runs])) for k in _SUMMARY_KEYS}


def _save_model(run_dir: Path, label: str, solver, cfg: Mapping[str, Any], model_settings: Mapping[str, Any]) -> None:
    from nnlab.io import save_arrays

    model = solver.model
    arrays = {k: np.asarray(v) for k, v in model.params.items()}
    arrays.update({k: np.asarray(v) for k, v in model.buffer_arrays().items()})
    meta = {"recipe": cfg["recipe"], "label": label, "model": "FullyConnectedNet", **model_settings}
    save_arrays(run_dir / f"model_{label}.npz", arrays, metadata=meta)


def _seeds_note(seed: int, repeats: int) -> str:
    return f"seed {seed}" + (f"; thin lines: seeds {seed + 1}..{seed + repeats - 1}" if repeats > 1 else "")


def _summary(curves: Mapping[str, Any]) -> dict[str, float]:
    return {k: curves[k] for k in _SUMMARY_KEYS}


# ---------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------
def _plot_comparison(runs: Mapping[str, Mapping[str, Any]], path: Path, title: str,
                     panels: Sequence[str] = ("loss", "train", "val"), extra: Mapping[str, Sequence] | None = None,
                     figsize: tuple[float, float] = (12, 12), styles: Mapping[str, str] | None = None) -> Path:
    """One row per panel: training loss vs iteration ('o'), training / validation accuracy vs epoch ('-o').

    ``runs``: label -> curves (see :func:`_curves`). ``extra``: label -> more curves of the same setting (other
    seeds), drawn thin in the label's colour.
    """
    from nnlab.viz import _new_figure, _save

    keys = {"loss": ("loss_history", "Training loss", "Iteration"),
            "train": ("train_acc_history", "Training accuracy", "Epoch"),
            "val": ("val_acc_history", "Validation accuracy", "Epoch")}
    fig = _new_figure(figsize)
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    for ax, panel in zip(axes, panels):
        key, name, xlabel = keys[panel]
        for i, (label, curves) in enumerate(runs.items()):
            color = f"C{i}"
            style = "o" if panel == "loss" else (styles or {}).get(label, "-o")
            ax.plot(curves[key], style, color=color, label=label, markersize=2.5 if panel == "loss" else 5)
            for other in (extra or {}).get(label, []):
                ax.plot(other[key], "-", color=color, alpha=0.3, linewidth=1)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.grid(linestyle="--", alpha=0.5)
        ax.legend(loc="best", ncol=min(len(runs), 5))
    fig.suptitle(title)
    return _save(fig, path)


def _plot_weight_scale_sweep(scales: Sequence[float], results: Mapping[str, Mapping[str, Sequence[float]]],
                             path: Path) -> Path:
    """Three semilogx panels (notebook 05 layout): best val acc, best train acc, final training loss vs scale."""
    from nnlab.viz import _new_figure, _save

    fig = _new_figure((12, 12))
    axes = fig.subplots(3, 1)
    panels = (("best_val_acc", "Best val accuracy vs. weight initialization scale"),
              ("best_train_acc", "Best train accuracy vs. weight initialization scale"),
              ("final_loss", "Final training loss vs. weight initialization scale"))
    for ax, (key, name) in zip(axes, panels):
        for label, res in results.items():
            ax.semilogx(scales, res[key], "-o", label=label)
        ax.set_title(name)
        ax.set_xlabel("Weight initialization scale")
        ax.grid(linestyle="--", alpha=0.5)
        ax.legend(loc="best")
    axes[2].set_ylim(1.0, 3.5)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------------
# optimizers (seed 004 §6.5-6.6, seed 002 experiments 1-2)
# ---------------------------------------------------------------------------------------------------------------
OPTIMIZERS_DEFAULTS: dict[str, Any] = {
    "update_rules": ["sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam"],
    # 004 §6.5/6.6: 5e-3 for the SGD family, 1e-4 for RMSProp, 1e-3 for Adam (seed 002 used 2e-4 for RMSProp)
    "learning_rates": {"sgd": 5e-3, "sgd_momentum": 5e-3, "sgd_nesterov_momentum": 5e-3, "rmsprop": 1e-4,
                       "adam": 1e-3},
    "hidden_dims": [100, 100, 100, 100, 100],
    "weight_scale": 5e-2,
    "num_train": 4000,
    "num_val": 1000,
    "num_epochs": 5,
    "batch_size": 100,
    "seed": 231,
    "repeats": 3,
    "data_path": None,
}
OPTIMIZERS_QUICK = {"num_train": 500, "num_val": 200, "num_epochs": 2, "repeats": 1}
# epoch-5 train / val accuracy printed in 004 §6.5-6.6 (seed 002's numbers are illegible)
OPTIMIZERS_SPEC = {"sgd": {"train_acc": 0.372, "val_acc": 0.319},
                   "sgd_momentum": {"train_acc": 0.536, "val_acc": 0.368},
                   "rmsprop": {"train_acc": 0.531, "val_acc": 0.369},
                   "adam": {"train_acc": 0.619, "val_acc": 0.374}}
_RULES_004 = ("sgd", "sgd_momentum", "rmsprop", "adam")  # the rules of 004 §6.5-6.6 (nesterov is 002's)
_SIMILAR_LOSS = 0.15  # "approximately the same training error": last-epoch mean losses within this of each other


def _optimizer_claims(s: Mapping[str, Mapping[str, float]]) -> dict[str, bool]:
    """The spec's orderings that apply to the rules that were trained, from per-rule summaries."""
    claims: dict[str, bool] = {}

    def has(*rules: str) -> bool:
        return all(r in s for r in rules)

    if has("sgd", "sgd_momentum"):  # 004 §6.5 "SGD+momentum converges faster"; 0.536 vs 0.372
        claims["sgd_momentum_beats_sgd_final_loss"] = s["sgd_momentum"]["final_loss"] < s["sgd"]["final_loss"]
        claims["sgd_momentum_beats_sgd_final_train_acc"] = (s["sgd_momentum"]["final_train_acc"]
                                                           > s["sgd"]["final_train_acc"])
    if has("sgd_momentum", "sgd_nesterov_momentum"):  # 002 exp. 1: "slightly better loss (and training accuracy)"
        n, m = s["sgd_nesterov_momentum"], s["sgd_momentum"]
        claims["nesterov_beats_momentum_final_loss"] = n["final_loss"] < m["final_loss"]
        claims["nesterov_beats_momentum_final_train_acc"] = n["final_train_acc"] > m["final_train_acc"]
    for rule in ("rmsprop", "adam"):
        if has(rule, "sgd"):
            claims[f"{rule}_beats_sgd_final_train_acc"] = s[rule]["final_train_acc"] > s["sgd"]["final_train_acc"]
    if has("adam", "rmsprop"):  # 004 §6.6: adam 0.619 > rmsprop 0.531 (train acc at epoch 5)
        claims["adam_beats_rmsprop_final_train_acc"] = s["adam"]["final_train_acc"] > s["rmsprop"]["final_train_acc"]
    if has("adam", *_RULES_004):  # 004: adam has the highest epoch-5 train accuracy of its four rules
        claims["adam_highest_final_train_acc_of_004_rules"] = all(
            s["adam"]["final_train_acc"] >= s[r]["final_train_acc"] for r in _RULES_004)
    if "adam" in s:  # the same over every rule trained here (002's nesterov included; not a spec claim)
        claims["adam_highest_final_train_acc"] = all(s["adam"]["final_train_acc"] >= v["final_train_acc"]
                                                     for v in s.values())
    if has("rmsprop", "adam", "sgd_nesterov_momentum"):  # 002 exp. 2: about the same training error
        losses = [s[r]["final_loss"] for r in ("rmsprop", "adam", "sgd_nesterov_momentum")]
        claims["rmsprop_adam_nesterov_similar_final_loss"] = max(losses) - min(losses) < _SIMILAR_LOSS
    return claims


@register("optimizers", summary="sgd / momentum / nesterov / rmsprop / adam on a 6-layer FC net, 4000 CIFAR-10 "
          "images, 5 epochs (004 §6.5-6.6, 002)",
          expected="spec ordering at epoch 5: adam (train 0.619) > momentum (0.536) ~ rmsprop (0.531) > sgd (0.372)")
def run_optimizers(run_dir: Path, quick: bool = False, progress: bool | None = None,
                   **overrides: Any) -> dict[str, Any]:
    """Train one net per update rule, write ``optimizers.png`` (loss / train acc / val acc per rule), the
    metrics and each rule's weights; return the metrics."""
    cfg = _config("optimizers", OPTIMIZERS_DEFAULTS, OPTIMIZERS_QUICK, quick, overrides)
    unknown = sorted(set(cfg["update_rules"]) - set(cfg["learning_rates"]))
    if unknown:
        raise ValueError(f"optimizers: no learning rate for {', '.join(unknown)} in learning_rates")
    data = load_cifar10_subset(cfg["num_train"], cfg["num_val"], cfg["data_path"])
    start = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in cfg["update_rules"]}
    for k in range(cfg["repeats"]):
        for rule in cfg["update_rules"]:
            solver = _fit(data, cfg["hidden_dims"], cfg["seed"] + k, weight_scale=cfg["weight_scale"],
                          update_rule=rule, learning_rate=cfg["learning_rates"][rule], num_epochs=cfg["num_epochs"],
                          batch_size=cfg["batch_size"], progress=progress)
            runs[rule].append(_curves(solver))
            if k == 0:
                _save_model(run_dir, rule, solver, cfg, {"hidden_dims": cfg["hidden_dims"]})
    seconds = time.perf_counter() - start

    first = {rule: r[0] for rule, r in runs.items()}
    means = {rule: _mean_over_seeds(r) for rule, r in runs.items()}
    metrics: dict[str, Any] = {
        "train_seconds": seconds,
        "claims": _optimizer_claims({rule: _summary(c) for rule, c in first.items()}),
        "claims_mean_over_seeds": _optimizer_claims(means),
        "summary": {rule: _summary(c) for rule, c in first.items()},
        "mean_over_seeds": means,
        "spec": OPTIMIZERS_SPEC,
        "runs": first,
        "other_seeds": {rule: r[1:] for rule, r in runs.items()},
    }
    write_json(run_dir / "config.json", cfg)
    write_json(run_dir / "metrics.json", metrics)
    _plot_comparison(first, run_dir / "optimizers.png",
                     f"Update rules: FC net {cfg['hidden_dims']}, {cfg['num_train']} CIFAR-10 images "
                     f"({_seeds_note(cfg['seed'], cfg['repeats'])})",
                     extra={rule: r[1:] for rule, r in runs.items()})
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# batch normalization (seed 004 §8.7-8.10)
# ---------------------------------------------------------------------------------------------------------------
BATCHNORM_DEFAULTS: dict[str, Any] = {
    "num_train": 1000,
    "num_val": 1000,
    "seed": 231,
    "learning_rate": 1e-3,
    "num_epochs": 10,
    "data_path": None,
    # §8.7: 6-layer net with and without batch norm
    "deep_hidden_dims": [100, 100, 100, 100, 100],
    "deep_weight_scale": 2e-2,
    "deep_batch_size": 50,
    "deep_repeats": 3,
    # §8.8: 8-layer net, weight scales logspace(-4, 0, 20)
    "sweep_hidden_dims": [50, 50, 50, 50, 50, 50, 50],
    "sweep_num_scales": 20,
    "sweep_batch_size": 50,
    # §8.9 / §8.10: batch sizes, normalized vs a plain net at the smallest batch size
    "batch_sizes": [5, 10, 50],
    "batch_learning_rate": 10 ** -3.5,
    "batch_normalizations": ["batchnorm", "layernorm"],
}
BATCHNORM_QUICK = {"num_train": 200, "num_val": 200, "num_epochs": 4, "deep_repeats": 1, "sweep_num_scales": 2,
                   "batch_sizes": [10, 50], "batch_normalizations": ["batchnorm"]}
BATCHNORM_SPEC = {"deep": {"batchnorm": {"final_train_acc": 0.767, "final_val_acc": 0.328, "best_val_acc": 0.342},
                           "baseline": {"final_train_acc": 0.714, "final_val_acc": 0.323, "best_val_acc": 0.345}}}
_TRAINS = 0.2  # a best val accuracy above this (chance 0.1) counts as "the net trained" in the weight-scale sweep


def _deep_experiment(data, cfg, run_dir: Path, progress) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"batchnorm": [], "baseline": []}
    for k in range(cfg["deep_repeats"]):
        for label, norm in (("batchnorm", "batchnorm"), ("baseline", None)):
            solver = _fit(data, cfg["deep_hidden_dims"], cfg["seed"] + k, weight_scale=cfg["deep_weight_scale"],
                          update_rule="adam", learning_rate=cfg["learning_rate"], num_epochs=cfg["num_epochs"],
                          batch_size=cfg["deep_batch_size"], normalization=norm, progress=progress)
            runs[label].append(_curves(solver))
            if k == 0:
                _save_model(run_dir, f"deep_{label}", solver, cfg,
                            {"hidden_dims": cfg["deep_hidden_dims"], "normalization": norm})
    first = {label: r[0] for label, r in runs.items()}
    _plot_comparison(first, run_dir / "batchnorm_deep.png",
                     f"6-layer net {cfg['deep_hidden_dims']} with and without batch norm, {cfg['num_train']} images "
                     f"({_seeds_note(cfg['seed'], cfg['deep_repeats'])})", extra={lb: r[1:] for lb, r in runs.items()})

    def claims(s):
        bn, base = s["batchnorm"], s["baseline"]
        return {"batchnorm_beats_baseline_final_train_acc": bn["final_train_acc"] > base["final_train_acc"],
                "batchnorm_beats_baseline_final_loss": bn["final_loss"] < base["final_loss"]}

    means = {label: _mean_over_seeds(r) for label, r in runs.items()}
    return {"runs": first, "summary": {lb: _summary(c) for lb, c in first.items()}, "mean_over_seeds": means,
            "other_seeds": {lb: r[1:] for lb, r in runs.items()},
            "claims": claims({lb: _summary(c) for lb, c in first.items()}), "claims_mean_over_seeds": claims(means)}


def _sweep_experiment(data, cfg, run_dir: Path, progress) -> dict[str, Any]:
    scales = [float(s) for s in np.logspace(-4, 0, num=cfg["sweep_num_scales"])]
    results = {label: {"best_val_acc": [], "best_train_acc": [], "final_loss": [], "diverged": []}
               for label in ("baseline", "batchnorm")}
    for ws in scales:
        for label, norm in (("baseline", None), ("batchnorm", "batchnorm")):
            solver = _fit(data, cfg["sweep_hidden_dims"], cfg["seed"], weight_scale=ws, update_rule="adam",
                          learning_rate=cfg["learning_rate"], num_epochs=cfg["num_epochs"],
                          batch_size=cfg["sweep_batch_size"], normalization=norm, progress=progress)
            res = results[label]
            res["best_val_acc"].append(max(float(v) for v in solver.val_acc_history))
            res["best_train_acc"].append(max(float(v) for v in solver.train_acc_history))
            res["final_loss"].append(float(np.mean(solver.loss_history[-100:])))  # notebook: mean of last 100
            res["diverged"].append(bool(getattr(solver, "diverged", False)))
    _plot_weight_scale_sweep(scales, results, run_dir / "batchnorm_weight_scale.png")
    trained = {label: int(sum(v > _TRAINS for v in res["best_val_acc"])) for label, res in results.items()}
    bn, base = results["batchnorm"], results["baseline"]
    return {"weight_scales": scales, "results": results, "scales_that_train": trained, "claims": {
        # §8.11 Q1: the baseline is very sensitive to the scale, BN is consistent over a broad range
        "batchnorm_trains_at_more_scales": trained["batchnorm"] > trained["baseline"],
        "batchnorm_worst_best_val_acc_higher": min(bn["best_val_acc"]) > min(base["best_val_acc"]),
        "batchnorm_best_val_acc_spread_smaller": (np.ptp(bn["best_val_acc"]) < np.ptp(base["best_val_acc"])),
    }}


def _batch_size_experiment(data, cfg, run_dir: Path, progress) -> dict[str, Any]:
    smallest = min(cfg["batch_sizes"])
    common = {"update_rule": "adam", "learning_rate": cfg["batch_learning_rate"], "num_epochs": cfg["num_epochs"],
              "weight_scale": cfg["deep_weight_scale"], "progress": progress}
    baseline = _curves(_fit(data, cfg["deep_hidden_dims"], cfg["seed"], batch_size=smallest, **common))
    out: dict[str, Any] = {"baseline": {"batch_size": smallest, **baseline}}
    for norm in cfg["batch_normalizations"]:
        runs = {f"baseline_bs{smallest}": baseline}
        for bs in cfg["batch_sizes"]:
            runs[f"{norm}_bs{bs}"] = _curves(_fit(data, cfg["deep_hidden_dims"], cfg["seed"], batch_size=bs,
                                                  normalization=norm, **common))
        name = "Batch Normalization" if norm == "batchnorm" else "Layer Normalization"
        styles = {f"baseline_bs{smallest}": "^-"}
        _plot_comparison(runs, run_dir / f"batch_size_{norm}.png", f"Batch size ({name}), {cfg['num_train']} images",
                         panels=("train", "val"), figsize=(12, 8), styles=styles)
        out[norm] = {label: c for label, c in runs.items() if label.startswith(norm)}
    claims: dict[str, bool] = {}
    spreads: dict[str, dict[str, float]] = {}
    for norm in cfg["batch_normalizations"]:
        runs = [out[norm][f"{norm}_bs{bs}"] for bs in sorted(cfg["batch_sizes"])]
        train, val = [r["final_train_acc"] for r in runs], [r["best_val_acc"] for r in runs]
        spreads[norm] = {"final_train_acc": float(np.ptp(train)), "best_val_acc": float(np.ptp(val))}
        # §8.11 Q2: BN depends on the batch size (small batches give noisy statistics)
        claims[f"{norm}_final_train_acc_rises_with_batch_size"] = bool(np.all(np.diff(train) > 0))
        claims[f"{norm}_best_val_acc_rises_with_batch_size"] = bool(np.all(np.diff(val) > 0))
        claims[f"{norm}_smallest_batch_below_baseline_best_val_acc"] = val[0] < baseline["best_val_acc"]
    if {"batchnorm", "layernorm"} <= set(spreads):  # §8.10: LN shows "a markedly smaller influence of batch size"
        for key in ("final_train_acc", "best_val_acc"):
            claims[f"layernorm_smaller_batch_size_spread_{key}"] = spreads["layernorm"][key] < spreads["batchnorm"][key]
    out["spread_over_batch_sizes"] = spreads
    out["claims"] = claims
    return out


@register("batchnorm", summary="deep FC nets with/without batch norm on 1000 CIFAR-10 images: training curves, "
          "weight-scale sweep, batch sizes 5/10/50 (004 §8.7-8.10)",
          expected="BN trains faster (004: train 0.767 vs 0.714 at epoch 10), trains over a wider range of weight "
          "scales, and depends on the batch size (layer norm less so)")
def run_batchnorm(run_dir: Path, quick: bool = False, progress: bool | None = None,
                  **overrides: Any) -> dict[str, Any]:
    """Run the three batch-norm experiments of notebook 05; writes ``batchnorm_deep.png``,
    ``batchnorm_weight_scale.png``, ``batch_size_<norm>.png``, the metrics and the two deep nets' weights."""
    cfg = _config("batchnorm", BATCHNORM_DEFAULTS, BATCHNORM_QUICK, quick, overrides)
    data = load_cifar10_subset(cfg["num_train"], cfg["num_val"], cfg["data_path"])
    metrics: dict[str, Any] = {"spec": BATCHNORM_SPEC}
    seconds = {}
    for part, experiment in (("deep", _deep_experiment), ("weight_scale", _sweep_experiment),
                             ("batch_size", _batch_size_experiment)):
        start = time.perf_counter()
        metrics[part] = experiment(data, cfg, run_dir, progress)
        seconds[part] = time.perf_counter() - start
    metrics["train_seconds"] = sum(seconds.values())
    metrics["seconds_per_part"] = seconds
    metrics["claims"] = {k: v for part in ("deep", "weight_scale", "batch_size")
                         for k, v in metrics[part]["claims"].items()}
    write_json(run_dir / "config.json", cfg)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# dropout (seed 004 §7.5)
# ---------------------------------------------------------------------------------------------------------------
DROPOUT_DEFAULTS: dict[str, Any] = {
    "keep_ratios": [1.0, 0.25],  # CS231n KEEP probabilities; the model gets dropout = 1 - keep (DESIGN.md)
    "hidden_dims": [500],
    "weight_scale": 1e-2,
    "num_train": 500,
    "num_val": 1000,
    "num_epochs": 25,
    "batch_size": 100,
    "learning_rate": 5e-4,
    "seed": 231,
    "repeats": 5,
    "data_path": None,
}
DROPOUT_QUICK = {"num_train": 200, "num_val": 200, "num_epochs": 8, "repeats": 1}
DROPOUT_SPEC = {"keep_1.00": {"final_train_acc": 0.998, "final_val_acc": 0.310},
                "keep_0.25": {"final_train_acc": 0.928, "final_val_acc": 0.333}}


def _dropout_claims(s: Mapping[str, Mapping[str, float]], none: str, most: str) -> dict[str, bool]:
    """004 §7.5: dropout lowers train accuracy and gives equal or better validation accuracy."""
    return {"dropout_lowers_final_train_acc": s[most]["final_train_acc"] < s[none]["final_train_acc"],
            "dropout_raises_final_val_acc": s[most]["final_val_acc"] > s[none]["final_val_acc"],
            "dropout_raises_best_val_acc": s[most]["best_val_acc"] > s[none]["best_val_acc"]}


@register("dropout", summary="[500] FC net with keep probability 1.0 vs 0.25 on 500 CIFAR-10 images, 25 epochs, "
          "Adam 5e-4 (004 §7.5)",
          expected="dropout: lower train acc, higher val acc (004: train 0.998 -> 0.928, val 0.310 -> 0.333)")
def run_dropout(run_dir: Path, quick: bool = False, progress: bool | None = None, **overrides: Any) -> dict[str, Any]:
    """Train one net per keep ratio; write ``dropout.png`` (train / val accuracy per epoch), the metrics and
    the weights; return the metrics."""
    cfg = _config("dropout", DROPOUT_DEFAULTS, DROPOUT_QUICK, quick, overrides)
    keeps = [float(k) for k in cfg["keep_ratios"]]
    labels = [f"keep_{k:.2f}" for k in keeps]
    data = load_cifar10_subset(cfg["num_train"], cfg["num_val"], cfg["data_path"])
    start = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {lb: [] for lb in labels}
    for k in range(cfg["repeats"]):
        for label, keep in zip(labels, keeps):
            solver = _fit(data, cfg["hidden_dims"], cfg["seed"] + k, weight_scale=cfg["weight_scale"],
                          update_rule="adam", learning_rate=cfg["learning_rate"], num_epochs=cfg["num_epochs"],
                          batch_size=cfg["batch_size"], keep_ratio=keep, progress=progress)
            runs[label].append(_curves(solver))
            if k == 0:
                _save_model(run_dir, label, solver, cfg, {"hidden_dims": cfg["hidden_dims"], "dropout": 1.0 - keep})
    seconds = time.perf_counter() - start
    first = {lb: r[0] for lb, r in runs.items()}
    means = {lb: _mean_over_seeds(r) for lb, r in runs.items()}
    none, most = labels[int(np.argmax(keeps))], labels[int(np.argmin(keeps))]
    metrics: dict[str, Any] = {
        "train_seconds": seconds,
        "claims": _dropout_claims({lb: _summary(c) for lb, c in first.items()}, none, most),
        "claims_mean_over_seeds": _dropout_claims(means, none, most),
        "summary": {lb: _summary(c) for lb, c in first.items()},
        "mean_over_seeds": means,
        "spec": DROPOUT_SPEC,
        "runs": first,
        "other_seeds": {lb: r[1:] for lb, r in runs.items()},
    }
    write_json(run_dir / "config.json", cfg)
    write_json(run_dir / "metrics.json", metrics)
    _plot_comparison({f"{k:.2f} dropout_keep_ratio": first[lb] for k, lb in zip(keeps, labels)},
                     run_dir / "dropout.png",
                     f"Dropout on {cfg['num_train']} CIFAR-10 images ({_seeds_note(cfg['seed'], cfg['repeats'])})",
                     panels=("train", "val"), figsize=(12, 9),
                     extra={f"{k:.2f} dropout_keep_ratio": runs[lb][1:] for k, lb in zip(keeps, labels)})
    return metrics
