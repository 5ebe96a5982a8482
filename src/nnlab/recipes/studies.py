"""Training studies on small CIFAR-10 subsets: update rules, batch normalization and dropout.

Recipes (spec seed_004 §6.5-6.6, §7.5, §8 and seed 002 experiments 1-2), each a study whose variants are complete
runs (``<run>/<variant>/``, loadable with :func:`nnlab.load_run`):

- ``optimizers``: one 6-layer ``FullyConnectedNet([100] * 5)`` per update rule (sgd, sgd_momentum,
  sgd_nesterov_momentum, rmsprop, adam) on 4000 images for 5 epochs; variants ``<rule>``; ``optimizers.png``.
- ``batchnorm``: the 6-layer net with and without batch norm (``deep_batchnorm``, ``deep_baseline``); the 8-layer
  weight-scale sweep (``scale<i>_baseline``, ``scale<i>_batchnorm``); batch norm (and layer norm) at batch sizes
  5 / 10 / 50 (``bs<b>_<norm>``) against an unnormalized net at the smallest (``bs<b>_baseline``).
- ``dropout``: a ``[500]`` net with keep probability 1.0 vs 0.25 on 500 images, 25 epochs (``keep_1.00``,
  ``keep_0.25``).

Every model of a comparison starts from the same seed (the runner calls ``np.random.seed(seed)`` before it is
built, so the weights and dropout masks come from NumPy's global RNG as in the notebooks) and sees the same
minibatches (``Solver(seed=seed)``). ``repeats`` > 1 trains the comparison again with seeds ``seed + 1, ...``
(variants ``<name>_seed<s>``) and reports the means, so an ordering can be told apart from seed noise. The study's
``metrics.json`` holds each variant's summary, the means, the spec's numbers and the spec's claims as booleans;
its figures are drawn into the study folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .contract import Recipe, Setting, SettingError, StudyResult, standard_solver_settings

__all__ = ["load_cifar10_subset", "RECIPES", "OPTIMIZERS_SPEC", "BATCHNORM_SPEC", "DROPOUT_SPEC"]

# ---------------------------------------------------------------------------------------------------------------
# data, model, per-variant summaries
# ---------------------------------------------------------------------------------------------------------------
_SPEC_NUM_TRAINING = 49000  # get_CIFAR10_data()'s training split: its mean image is subtracted from everything


def _subset_mean(path: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from nnlab.data.cifar10 import load_cifar10_raw

    X, y, _, _ = load_cifar10_raw(path)
    return X, y, X[:_SPEC_NUM_TRAINING].mean(axis=0, dtype=np.float64)


def load_cifar10_subset(num_train: int, num_val: int = 1000, path: str | None = None) -> dict[str, np.ndarray]:
    """The first ``num_train`` training and ``num_val`` validation images of ``get_CIFAR10_data()``.

    Same numbers as ``get_CIFAR10_data()['X_train'][:num_train]`` (mean image of the 49000-image training split
    subtracted, channels first, float32) and ``['X_val'][:num_val]`` (training images 49000...), without
    materialising the 49000 float images. Returns ``X_train`` (num_train, 3, 32, 32), ``y_train`` (num_train,),
    ``X_val`` (num_val, 3, 32, 32), ``y_val`` (num_val,) and ``mean`` (3, 32, 32) float64, the image subtracted.
    """
    if not 1 <= num_train <= _SPEC_NUM_TRAINING:
        raise ValueError(f"load_cifar10_subset: num_train must be in [1, {_SPEC_NUM_TRAINING}], got {num_train}")
    X, y, mean = _subset_mean(path)
    if not 1 <= num_val <= len(X) - _SPEC_NUM_TRAINING:
        raise ValueError(f"load_cifar10_subset: num_val must be in [1, {len(X) - _SPEC_NUM_TRAINING}], got {num_val}")

    def prep(images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((images.astype(np.float64) - mean).transpose(0, 3, 1, 2), dtype=np.float32)

    val = slice(_SPEC_NUM_TRAINING, _SPEC_NUM_TRAINING + num_val)
    return {"X_train": prep(X[:num_train]), "y_train": y[:num_train], "X_val": prep(X[val]), "y_val": y[val],
            "mean": mean.transpose(2, 0, 1).copy()}


def _data(cfg: dict[str, Any]) -> dict[str, Any]:
    from nnlab.data.cifar10 import CLASS_NAMES

    data = load_cifar10_subset(cfg["num_train"], cfg["num_val"], cfg["data_path"])
    data["info"] = {"class_names": list(CLASS_NAMES), "mean": data.pop("mean"),
                    "image": {"height": 32, "width": 32, "mode": "RGB", "scale": 1.0, "layout": "nchw"}}
    return data


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import FullyConnectedNet

    return FullyConnectedNet(list(cfg["hidden_dims"]), weight_scale=cfg["weight_scale"],
                             normalization=cfg["normalization"], dropout_keep_ratio=cfg["dropout_keep_ratio"],
                             dtype=np.float32)


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The notebooks' Solver: only a NaN/inf loss or gradient stops a run (the studies train nets that blow up on
    purpose, e.g. the unnormalized 8-layer net at weight scale 1, whose loss reaches ~1e8 and keeps going)."""
    return {"divergence_factor": None, "divergence_val_collapse": False}


def _curves(metrics: Mapping[str, Any], iterations_per_epoch: int) -> dict[str, Any]:
    """Summary figures of one variant's run (``final_loss`` = mean loss over the last epoch)."""
    loss = [float(v) for v in metrics["loss_history"]]
    train, val = list(metrics["train_acc_history"]), list(metrics["val_acc_history"])
    return {"final_train_acc": train[-1], "final_val_acc": val[-1], "best_train_acc": max(train),
            "best_val_acc": max(val), "first_loss": loss[0], "final_loss": float(np.mean(loss[-iterations_per_epoch:])),
            "diverged": metrics.get("status") == "diverged"}


_SUMMARY_KEYS = ("final_train_acc", "final_val_acc", "best_val_acc", "final_loss")


def _summary(curves: Mapping[str, Any]) -> dict[str, float]:
    return {k: curves[k] for k in _SUMMARY_KEYS}


def _mean_over_seeds(runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in runs])) for k in _SUMMARY_KEYS}


def _seeds_note(seed: int, repeats: int) -> str:
    return f"seed {seed}" + (f"; thin lines: seeds {seed + 1}..{seed + repeats - 1}" if repeats > 1 else "")


def _seeded(name: str, seed: int, k: int) -> str:
    return name if k == 0 else f"{name}_seed{seed + k}"


def _names(text: str, allowed: Sequence[str | None], setting: str) -> list[str]:
    """A comma-separated list setting, each name checked against ``allowed``."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if not names or bad:
        raise SettingError(f"setting {setting!r} must be a comma-separated list of {', '.join(map(str, allowed))}, "
                           f"got {text!r}")
    return names


def _group(study: StudyResult, plan: Sequence[tuple[str, str, int, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """label -> [curves of seed, seed + 1, ...] from the variants' runs (their metrics and the Solver's iterations
    per epoch).

    plan rows: ``(variant, label, seed offset, overrides)``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, label, _k, _overrides in plan:
        run = study.variants[name]
        out.setdefault(label, []).append({**_curves(run.metrics, run.iterations_per_epoch),
                                          **{k: run.metrics[k] for k in ("loss_history", "train_acc_history",
                                                                         "val_acc_history")}})
    return out


def _strip(curves: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in curves.items() if not k.endswith("_history")}


def _common_settings(*, hidden_dims: list[int], weight_scale: float, num_train: int, num_val: int, num_epochs: int,
                     batch_size: int, learning_rate: float, update_rule: str = "adam",
                     keep: float = 1.0) -> list[Setting]:
    """The settings of one variant's model and training (the study's own settings choose their values)."""
    return [
        Setting("hidden_dims", "ints", hidden_dims, "hidden layer sizes of a variant's net", low=1),
        Setting("weight_scale", "float", weight_scale, "std of the initial Gaussian weights", low=0, low_open=True),
        Setting("normalization", "str", None, "normalization after each hidden affine layer",
                choices=("batchnorm", "layernorm", None), nullable=True),
        Setting("dropout_keep_ratio", "float", keep, "CS231n KEEP probability of dropout (1 = no dropout)", low=0,
                high=1, low_open=True),
        Setting("num_train", "int", num_train, "first CIFAR-10 training images used", low=1, high=_SPEC_NUM_TRAINING),
        Setting("num_val", "int", num_val, "validation images (training images 49000...)", low=1, high=1000),
        Setting("data_path", "path", None, "CIFAR-10 folder (None = $NNLAB_DATA/cifar10)", nullable=True),
        *standard_solver_settings(update_rule=update_rule, learning_rate=learning_rate, num_epochs=num_epochs,
                                  batch_size=batch_size, seed=231, num_train_samples=1000),
    ]


_DATA_SETTINGS = ("num_train", "num_val", "data_path")


# ---------------------------------------------------------------------------------------------------------------
# optimizers (seed 004 §6.5-6.6, seed 002 experiments 1-2)
# ---------------------------------------------------------------------------------------------------------------
_RULES = ("sgd", "sgd_momentum", "sgd_nesterov_momentum", "rmsprop", "adam", "adamax", "adagrad", "adamw")
# 004 §6.5/6.6: 5e-3 for the SGD family, 1e-4 for RMSProp, 1e-3 for Adam (seed 002 used 2e-4 for RMSProp)
_OPTIMIZER_LRS = {"sgd": 5e-3, "sgd_momentum": 5e-3, "sgd_nesterov_momentum": 5e-3, "rmsprop": 1e-4, "adam": 1e-3}
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


def _optimizer_plan(cfg: dict[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    rules = _names(cfg["update_rules"], _RULES, "update_rules")
    missing = [r for r in rules if r not in cfg["learning_rates"]]
    if missing:
        raise SettingError(f"setting 'learning_rates' has no learning rate for {', '.join(missing)} "
                           f"(it must map every rule of update_rules to a float > 0)")
    return [(_seeded(rule, cfg["seed"], k), rule, k,
             {"update_rule": rule, "learning_rate": float(cfg["learning_rates"][rule]), "seed": cfg["seed"] + k,
              "batch_size": cfg["batch_size"]})
            for k in range(cfg["repeats"]) for rule in rules]


def _optimizer_variants(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, overrides) for name, _, _, overrides in _optimizer_plan(cfg)]


def _optimizer_summary(study: StudyResult) -> dict[str, Any]:
    from nnlab import viz

    cfg = study.cfg
    runs = _group(study, _optimizer_plan(cfg))
    first = {rule: r[0] for rule, r in runs.items()}
    means = {rule: _mean_over_seeds(r) for rule, r in runs.items()}
    viz.plot_run_comparison(first, study.run_dir / "optimizers.png",
                            f"Update rules: FC net {cfg['hidden_dims']}, {cfg['num_train']} CIFAR-10 images "
                            f"({_seeds_note(cfg['seed'], cfg['repeats'])})",
                            extra={rule: r[1:] for rule, r in runs.items()})
    return {"claims": _optimizer_claims({rule: _summary(c) for rule, c in first.items()}),
            "claims_mean_over_seeds": _optimizer_claims(means),
            "summary": {rule: _strip(c) for rule, c in first.items()}, "mean_over_seeds": means,
            "spec": OPTIMIZERS_SPEC}


# ---------------------------------------------------------------------------------------------------------------
# batch normalization (seed 004 §8.7-8.10)
# ---------------------------------------------------------------------------------------------------------------
BATCHNORM_SPEC = {"deep": {"batchnorm": {"final_train_acc": 0.767, "final_val_acc": 0.328, "best_val_acc": 0.342},
                           "baseline": {"final_train_acc": 0.714, "final_val_acc": 0.323, "best_val_acc": 0.345}}}
_TRAINS = 0.2  # a best val accuracy above this (chance 0.1) counts as "the net trained" in the weight-scale sweep


def _weight_scales(cfg: dict[str, Any]) -> list[float]:
    return [float(s) for s in np.logspace(-4, 0, num=cfg["sweep_num_scales"])]


def _batchnorm_plan(cfg: dict[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(variant, part/label, seed offset, overrides) of the three experiments."""
    norms = _names(cfg["batch_normalizations"], ("batchnorm", "layernorm"), "batch_normalizations")
    deep = {"hidden_dims": cfg["deep_hidden_dims"], "weight_scale": cfg["deep_weight_scale"]}
    plan = []
    for k in range(cfg["deep_repeats"]):  # §8.7
        for label, norm in (("batchnorm", "batchnorm"), ("baseline", None)):
            plan.append((_seeded(f"deep_{label}", cfg["seed"], k), f"deep/{label}", k,
                         {**deep, "normalization": norm, "batch_size": cfg["deep_batch_size"],
                          "seed": cfg["seed"] + k}))
    for i, ws in enumerate(_weight_scales(cfg)):  # §8.8
        for label, norm in (("baseline", None), ("batchnorm", "batchnorm")):
            plan.append((f"scale{i:02d}_{label}", f"weight_scale/{label}", 0,
                         {"hidden_dims": cfg["sweep_hidden_dims"], "weight_scale": ws, "normalization": norm,
                          "batch_size": cfg["sweep_batch_size"], "seed": cfg["seed"]}))
    smallest = min(cfg["batch_sizes"])  # §8.9 / §8.10
    batch = {**deep, "learning_rate": cfg["batch_learning_rate"], "seed": cfg["seed"]}
    plan.append((f"bs{smallest}_baseline", "batch_size/baseline", 0,
                 {**batch, "normalization": None, "batch_size": smallest}))
    for norm in norms:
        for bs in cfg["batch_sizes"]:
            plan.append((f"bs{bs}_{norm}", f"batch_size/{norm}", 0, {**batch, "normalization": norm, "batch_size": bs}))
    return plan


def _batchnorm_variants(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, {"learning_rate": cfg["learning_rate"], **overrides})
            for name, _, _, overrides in _batchnorm_plan(cfg)]


def _deep_summary(runs: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from nnlab import viz

    first = {label: r[0] for label, r in runs.items()}
    viz.plot_run_comparison(first, run_dir / "batchnorm_deep.png",
                            f"6-layer net {cfg['deep_hidden_dims']} with and without batch norm, {cfg['num_train']} "
                            f"images ({_seeds_note(cfg['seed'], cfg['deep_repeats'])})",
                            extra={lb: r[1:] for lb, r in runs.items()})

    def claims(s):
        bn, base = s["batchnorm"], s["baseline"]
        return {"batchnorm_beats_baseline_final_train_acc": bn["final_train_acc"] > base["final_train_acc"],
                "batchnorm_beats_baseline_final_loss": bn["final_loss"] < base["final_loss"]}

    means = {label: _mean_over_seeds(r) for label, r in runs.items()}
    return {"summary": {lb: _strip(c) for lb, c in first.items()}, "mean_over_seeds": means,
            "claims": claims({lb: _summary(c) for lb, c in first.items()}), "claims_mean_over_seeds": claims(means)}


def _sweep_summary(runs: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from nnlab import viz

    scales = _weight_scales(cfg)
    results = {label: {"best_val_acc": [c["best_val_acc"] for c in runs[label]],
                       "best_train_acc": [c["best_train_acc"] for c in runs[label]],
                       # the notebook's "final loss": the mean of the last 100 iterations
                       "final_loss": [float(np.mean(c["loss_history"][-100:])) for c in runs[label]],
                       "diverged": [c["diverged"] for c in runs[label]]} for label in ("baseline", "batchnorm")}
    viz.plot_weight_scale_sweep(scales, results, run_dir / "batchnorm_weight_scale.png")
    trained = {label: int(sum(v > _TRAINS for v in res["best_val_acc"])) for label, res in results.items()}
    bn, base = results["batchnorm"], results["baseline"]
    return {"weight_scales": scales, "results": results, "scales_that_train": trained, "claims": {
        # §8.11 Q1: the baseline is very sensitive to the scale, BN is consistent over a broad range
        "batchnorm_trains_at_more_scales": trained["batchnorm"] > trained["baseline"],
        "batchnorm_worst_best_val_acc_higher": min(bn["best_val_acc"]) > min(base["best_val_acc"]),
        "batchnorm_best_val_acc_spread_smaller": bool(np.ptp(bn["best_val_acc"]) < np.ptp(base["best_val_acc"])),
    }}


def _batch_size_summary(runs: dict[str, list[dict[str, Any]]], cfg: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from nnlab import viz

    smallest, sizes = min(cfg["batch_sizes"]), list(cfg["batch_sizes"])
    baseline = runs["baseline"][0]
    out: dict[str, Any] = {"baseline": {"batch_size": smallest, **_strip(baseline)}}
    claims: dict[str, bool] = {}
    spreads: dict[str, dict[str, float]] = {}
    for norm in [n for n in runs if n != "baseline"]:
        by_size = dict(zip(sizes, runs[norm]))
        curves = {f"baseline_bs{smallest}": baseline, **{f"{norm}_bs{bs}": c for bs, c in by_size.items()}}
        name = "Batch Normalization" if norm == "batchnorm" else "Layer Normalization"
        viz.plot_run_comparison(curves, run_dir / f"batch_size_{norm}.png",
                                f"Batch size ({name}), {cfg['num_train']} images", panels=("train", "val"),
                                figsize=(12, 8), styles={f"baseline_bs{smallest}": "^-"})
        out[norm] = {f"{norm}_bs{bs}": _strip(c) for bs, c in by_size.items()}
        ordered = [by_size[bs] for bs in sorted(sizes)]
        train, val = [r["final_train_acc"] for r in ordered], [r["best_val_acc"] for r in ordered]
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


def _batchnorm_summary(study: StudyResult) -> dict[str, Any]:
    cfg = study.cfg
    grouped = _group(study, _batchnorm_plan(cfg))
    parts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for label, runs in grouped.items():
        part, name = label.split("/")
        parts.setdefault(part, {})[name] = runs
    metrics: dict[str, Any] = {"spec": BATCHNORM_SPEC, "deep": _deep_summary(parts["deep"], cfg, study.run_dir),
                               "weight_scale": _sweep_summary(parts["weight_scale"], cfg, study.run_dir),
                               "batch_size": _batch_size_summary(parts["batch_size"], cfg, study.run_dir)}
    metrics["claims"] = {k: v for part in ("deep", "weight_scale", "batch_size")
                         for k, v in metrics[part]["claims"].items()}
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# dropout (seed 004 §7.5)
# ---------------------------------------------------------------------------------------------------------------
DROPOUT_SPEC = {"keep_1.00": {"final_train_acc": 0.998, "final_val_acc": 0.310},
                "keep_0.25": {"final_train_acc": 0.928, "final_val_acc": 0.333}}


def _dropout_claims(s: Mapping[str, Mapping[str, float]], none: str, most: str) -> dict[str, bool]:
    """004 §7.5: dropout lowers train accuracy and gives equal or better validation accuracy."""
    return {"dropout_lowers_final_train_acc": s[most]["final_train_acc"] < s[none]["final_train_acc"],
            "dropout_raises_final_val_acc": s[most]["final_val_acc"] > s[none]["final_val_acc"],
            "dropout_raises_best_val_acc": s[most]["best_val_acc"] > s[none]["best_val_acc"]}


def _dropout_plan(cfg: dict[str, Any]) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [(_seeded(f"keep_{keep:.2f}", cfg["seed"], k), f"keep_{keep:.2f}", k,
             {"dropout_keep_ratio": float(keep), "seed": cfg["seed"] + k, "batch_size": cfg["batch_size"]})
            for k in range(cfg["repeats"]) for keep in cfg["keep_ratios"]]


def _dropout_variants(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, overrides) for name, _, _, overrides in _dropout_plan(cfg)]


def _dropout_summary(study: StudyResult) -> dict[str, Any]:
    from nnlab import viz

    cfg = study.cfg
    runs = _group(study, _dropout_plan(cfg))
    keeps = [float(k) for k in cfg["keep_ratios"]]
    labels = [f"keep_{k:.2f}" for k in keeps]
    first = {lb: r[0] for lb, r in runs.items()}
    means = {lb: _mean_over_seeds(r) for lb, r in runs.items()}
    none, most = labels[int(np.argmax(keeps))], labels[int(np.argmin(keeps))]
    viz.plot_run_comparison({f"{k:.2f} dropout_keep_ratio": first[lb] for k, lb in zip(keeps, labels)},
                            study.run_dir / "dropout.png",
                            f"Dropout on {cfg['num_train']} CIFAR-10 images "
                            f"({_seeds_note(cfg['seed'], cfg['repeats'])})", panels=("train", "val"), figsize=(12, 9),
                            extra={f"{k:.2f} dropout_keep_ratio": runs[lb][1:] for k, lb in zip(keeps, labels)})
    return {"claims": _dropout_claims({lb: _summary(c) for lb, c in first.items()}, none, most),
            "claims_mean_over_seeds": _dropout_claims(means, none, most),
            "summary": {lb: _strip(c) for lb, c in first.items()}, "mean_over_seeds": means, "spec": DROPOUT_SPEC}


# ---------------------------------------------------------------------------------------------------------------
# declarations
# ---------------------------------------------------------------------------------------------------------------
def _repeats(default: int, name: str = "repeats") -> Setting:
    return Setting(name, "int", default, "seeds per comparison (seed, seed + 1, ...; means reported)", low=1)


RECIPES = [
    Recipe(
        name="optimizers",
        summary="sgd / momentum / nesterov / rmsprop / adam on a 6-layer FC net, 4000 CIFAR-10 images, 5 epochs "
                "(004 §6.5-6.6, 002)",
        expected="spec ordering at epoch 5: adam (train 0.619) > momentum (0.536) ~ rmsprop (0.531) > sgd (0.372)",
        task="study",
        settings=[
            Setting("update_rules", "str", "sgd,sgd_momentum,sgd_nesterov_momentum,rmsprop,adam",
                    "comma-separated update rules to compare"),
            Setting("learning_rates", "dict", dict(_OPTIMIZER_LRS), "learning rate of each update rule"),
            _repeats(3),
            *_common_settings(hidden_dims=[100] * 5, weight_scale=5e-2, num_train=4000, num_val=1000, num_epochs=5,
                              batch_size=100, learning_rate=1e-3),
        ],
        quick={"num_train": 500, "num_val": 200, "num_epochs": 2, "repeats": 1},
        data=_data, model=_model, solver=_solver, variants=_optimizer_variants, summarize=_optimizer_summary,
        data_settings=_DATA_SETTINGS,
    ),
    Recipe(
        name="batchnorm",
        summary="deep FC nets with/without batch norm on 1000 CIFAR-10 images: training curves, weight-scale sweep, "
                "batch sizes 5/10/50 (004 §8.7-8.10)",
        expected="BN trains faster (004: train 0.767 vs 0.714 at epoch 10), trains over a wider range of weight "
                 "scales, and depends on the batch size (layer norm less so)",
        task="study",
        settings=[
            # §8.7: 6-layer net with and without batch norm
            Setting("deep_hidden_dims", "ints", [100] * 5, "hidden sizes of the 6-layer net (§8.7, §8.9)", low=1),
            Setting("deep_weight_scale", "float", 2e-2, "weight scale of the 6-layer net", low=0, low_open=True),
            Setting("deep_batch_size", "int", 50, "batch size of the 6-layer comparison", low=1),
            _repeats(3, "deep_repeats"),
            # §8.8: 8-layer net, weight scales logspace(-4, 0, sweep_num_scales)
            Setting("sweep_hidden_dims", "ints", [50] * 7, "hidden sizes of the 8-layer weight-scale sweep", low=1),
            Setting("sweep_num_scales", "int", 20, "weight scales in logspace(-4, 0)", low=2),
            Setting("sweep_batch_size", "int", 50, "batch size of the weight-scale sweep", low=1),
            # §8.9 / §8.10: batch sizes, normalized vs a plain net at the smallest batch size
            Setting("batch_sizes", "ints", [5, 10, 50], "batch sizes compared (§8.9)", low=1),
            Setting("batch_learning_rate", "float", 10 ** -3.5, "learning rate of the batch-size experiment", low=0,
                    low_open=True),
            Setting("batch_normalizations", "str", "batchnorm,layernorm",
                    "comma-separated normalizations of the batch-size experiment (batchnorm, layernorm)"),
            *_common_settings(hidden_dims=[100] * 5, weight_scale=2e-2, num_train=1000, num_val=1000, num_epochs=10,
                              batch_size=50, learning_rate=1e-3),
        ],
        quick={"num_train": 200, "num_val": 200, "num_epochs": 4, "deep_repeats": 1, "sweep_num_scales": 2,
               "batch_sizes": [10, 50], "batch_normalizations": "batchnorm"},
        data=_data, model=_model, solver=_solver, variants=_batchnorm_variants, summarize=_batchnorm_summary,
        data_settings=_DATA_SETTINGS,
    ),
    Recipe(
        name="dropout",
        summary="[500] FC net with keep probability 1.0 vs 0.25 on 500 CIFAR-10 images, 25 epochs, Adam 5e-4 "
                "(004 §7.5)",
        expected="dropout: lower train acc, higher val acc (004: train 0.998 -> 0.928, val 0.310 -> 0.333)",
        task="study",
        settings=[
            Setting("keep_ratios", "floats", [1.0, 0.25], "CS231n KEEP probabilities compared (the model gets "
                    "dropout = 1 - keep, DESIGN.md)", low=0, high=1, low_open=True),
            _repeats(5),
            *_common_settings(hidden_dims=[500], weight_scale=1e-2, num_train=500, num_val=1000, num_epochs=25,
                              batch_size=100, learning_rate=5e-4),
        ],
        quick={"num_train": 200, "num_val": 200, "num_epochs": 8, "repeats": 1},
        data=_data, model=_model, solver=_solver, variants=_dropout_variants, summarize=_dropout_summary,
        data_settings=_DATA_SETTINGS,
    ),
]
