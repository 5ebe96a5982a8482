"""Recipe ``housing-softsign``: seed 003's 8-15-7-3 softsign network on three-class California housing.

Spec: spec/seed_003.md §3 (``NeuralNet``) and §4 (data: :func:`nnlab.data.load_housing_3class`, 375 training
and 125 test rows, min-max scaled). The network is ``Linear(8, 15) - Softsign - [Dropout(0.3)] - Linear(15, 7) -
Softsign - Linear(7, 3)`` with softmax cross-entropy (dropout only after the first hidden layer, as the seed),
built from :mod:`nnlab.nn` and :class:`nnlab.models.Classifier`; the weights are the seed's
``np.random.seed(0); theta_k = randn(n_in, n_out) / sqrt(n_in)``, zero biases. Four training set-ups, 60000
iterations each, loss logged every 1000 iterations *before* that iteration's update (as the seed):

==========  =====================================  ====================  ==============  ===============
set-up      updates                                 lr, dropout           spec test CE    spec bound
==========  =====================================  ====================  ==============  ===============
gd          full-batch gradient descent (sgd)       0.01, none            0.681           CE <= 0.8
mbgd        mini-batch 64 (sgd)                     0.01, p = 0.3         0.712           within 0.7
gd_adam     full-batch Adam                         1e-4, p = 0.3         0.741           within 0.7
mbgd_adam   mini-batch 64 Adam                      1e-4, p = 0.3         0.695           within 0.7
==========  =====================================  ====================  ==============  ===============

Mini-batches are contiguous and wrap around without reshuffling (batch ``i`` = rows ``64 i .. 64 i + 63``
modulo 375), as the seed's ``minibatch_gradient_descent``. The updates are :func:`nnlab.optim.sgd` and
:func:`nnlab.optim.adam` (bias-corrected, epsilon 1e-8 outside the square root: the seed's reference code;
its formula writes epsilon inside). The loop is written here rather than in the Solver because the seed runs a
fixed number of full-batch or wrap-around iterations, not epochs of random batches.

Same data and initial weights as the seed: the first logged loss is 1.086384 as printed, and full-batch GD
follows the seed's trajectory. The dropout runs draw their masks differently from the seed's
``np.random.choice`` (a private ``RandomState(dropout_seed)``), so they only follow it statistically.

Artifacts: ``config.json``, ``metrics.json`` (per set-up: logged losses, their largest gap to the seed's, test CE
and accuracy, confusion matrix, spec figures and bounds, seconds), ``losses.png`` (the four loss curves against
the seed's), ``confusion.png`` (the four test confusion matrices, rows normalized, labels low/med/high),
``model_<setup>.npz`` (weights).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .artifacts import apply_overrides, write_json

__all__ = ["DEFAULTS", "QUICK", "SETUPS", "SPEC_TEST_CE", "SPEC_LOSSES", "build_housing_net", "train_housing_net",
           "run"]

SETUPS: dict[str, dict[str, Any]] = {
    "gd": {"update_rule": "sgd", "learning_rate": 0.01, "batch_size": None, "dropout": False},
    "mbgd": {"update_rule": "sgd", "learning_rate": 0.01, "batch_size": 64, "dropout": True},
    "gd_adam": {"update_rule": "adam", "learning_rate": 1e-4, "batch_size": None, "dropout": True},
    "mbgd_adam": {"update_rule": "adam", "learning_rate": 1e-4, "batch_size": 64, "dropout": True},
}
TITLES = {"gd": "GD", "mbgd": "mini-batch GD", "gd_adam": "GD + Adam", "mbgd_adam": "mini-batch GD + Adam"}
SPEC_TEST_CE = {"gd": 0.681, "mbgd": 0.712, "gd_adam": 0.741, "mbgd_adam": 0.695}
# Seed 003 §3.5 grading: GD's final CE <= 0.8; the others within 0.7 of the expected loss (and <= 1 for full credit).
SPEC_BOUND = {"gd": ("<=", 0.8), "mbgd": ("within", 0.7), "gd_adam": ("within", 0.7), "mbgd_adam": ("within", 0.7)}

# The seed's logged training losses at iterations 0, 1000, ..., 59000 (§3.5), for the comparison plot and checks.
SPEC_LOSSES: dict[str, list[float]] = {
    "gd": [
        1.086384, 1.001952, 0.846899, 0.718109, 0.649426, 0.607674, 0.580241, 0.561059, 0.547331, 0.537094,
        0.529029, 0.522520, 0.517104, 0.512428, 0.508310, 0.504628, 0.501325, 0.498342, 0.495574, 0.492921,
        0.490341, 0.487806, 0.485304, 0.482841, 0.480429, 0.478076, 0.475778, 0.473541, 0.471367, 0.469261,
        0.467202, 0.465174, 0.463173, 0.461193, 0.459237, 0.457314, 0.455438, 0.453604, 0.451796, 0.450005,
        0.448192, 0.446410, 0.444626, 0.442824, 0.441061, 0.439332, 0.437641, 0.435985, 0.434350, 0.432724,
        0.431106, 0.429496, 0.427883, 0.426264, 0.424637, 0.422997, 0.421348, 0.419686, 0.418015, 0.416338],
    "mbgd": [
        1.091859, 1.035899, 0.847171, 0.741736, 0.773022, 0.565779, 0.582815, 0.587042, 0.466858, 0.536166,
        0.587051, 0.480393, 0.489757, 0.617539, 0.426187, 0.510418, 0.512826, 0.465207, 0.492669, 0.609935,
        0.336917, 0.489244, 0.584403, 0.367593, 0.473196, 0.550124, 0.349599, 0.464375, 0.570501, 0.381022,
        0.471606, 0.569234, 0.363034, 0.489637, 0.531827, 0.352604, 0.507195, 0.546935, 0.348872, 0.432399,
        0.542698, 0.335282, 0.419321, 0.516011, 0.338062, 0.463816, 0.562512, 0.340467, 0.426473, 0.528113,
        0.326665, 0.475154, 0.535218, 0.376442, 0.454066, 0.529333, 0.313504, 0.483299, 0.561374, 0.320788],
    "gd_adam": [
        1.092085, 0.994819, 0.818885, 0.708302, 0.657461, 0.611148, 0.585753, 0.561844, 0.548353, 0.525937,
        0.516159, 0.517531, 0.500480, 0.505991, 0.509984, 0.500153, 0.495247, 0.497214, 0.497009, 0.498928,
        0.486947, 0.502284, 0.480663, 0.481239, 0.475030, 0.491100, 0.495675, 0.463680, 0.468387, 0.484296,
        0.476243, 0.481268, 0.469781, 0.464685, 0.476446, 0.457027, 0.466227, 0.478422, 0.464461, 0.472205,
        0.462635, 0.461205, 0.443126, 0.463238, 0.467495, 0.463566, 0.434615, 0.462420, 0.450356, 0.450394,
        0.443737, 0.448532, 0.441352, 0.438072, 0.444127, 0.438280, 0.455997, 0.444804, 0.441443, 0.431706],
    "mbgd_adam": [
        1.091859, 1.030364, 0.847108, 0.768244, 0.762525, 0.597977, 0.620159, 0.645412, 0.516455, 0.581680,
        0.608523, 0.501214, 0.547743, 0.673327, 0.461862, 0.527386, 0.607045, 0.458089, 0.521128, 0.619692,
        0.375154, 0.479561, 0.626976, 0.383667, 0.476830, 0.575961, 0.353128, 0.482767, 0.600986, 0.393712,
        0.449460, 0.568763, 0.349636, 0.496331, 0.577693, 0.306311, 0.533231, 0.593978, 0.355743, 0.466800,
        0.574201, 0.344580, 0.439001, 0.570066, 0.334673, 0.474704, 0.559083, 0.329248, 0.433405, 0.576862,
        0.306490, 0.481590, 0.539496, 0.353943, 0.464240, 0.556888, 0.334425, 0.452438, 0.572210, 0.314848],
}
SPEC_LOG_EVERY = 1000

DEFAULTS: dict[str, Any] = {
    "setups": list(SETUPS),
    "num_iterations": 60000,
    "log_every": 1000,
    "hidden_dims": [15, 7],
    "dropout": 0.3,
    "init_seed": 0,
    "dropout_seed": 0,
    "data_path": None,
}
# CI: 2000 iterations of each set-up (about 1 s each); full-batch GD must follow the seed's losses.
QUICK = {"num_iterations": 2000, "log_every": 100}


def build_housing_net(hidden_dims: list[int], dropout: float, init_seed: int = 0, dropout_seed: int = 0,
                      in_features: int = 8, num_classes: int = 3):
    """The seed's ``Softsign -> Softsign -> Softmax`` network as a :class:`nnlab.models.Classifier`.

    Layers ``0`` Linear(8, H1), ``1`` Softsign, ``2`` Dropout(p) (Identity when ``dropout`` is 0), ``3``
    Linear(H1, H2), ``4`` Softsign, ``5`` Linear(H2, 3), float64. Weights from ``RandomState(init_seed)``:
    ``theta_k = randn(n_in, n_out) / sqrt(n_in)`` in layer order (the seed's ``init_parameters``), zero biases.
    """
    from nnlab.models import Classifier
    from nnlab.nn import Dropout, Identity, Linear, Sequential, Softsign

    dims = [in_features, *hidden_dims, num_classes]
    if len(dims) != 4:
        raise ValueError(f"housing-softsign: hidden_dims must hold two sizes, got {hidden_dims!r}")
    drop = Dropout(dropout, seed=dropout_seed) if dropout > 0 else Identity()
    net = Sequential(Linear(dims[0], dims[1], dtype=np.float64), Softsign(), drop,
                     Linear(dims[1], dims[2], dtype=np.float64), Softsign(),
                     Linear(dims[2], dims[3], dtype=np.float64))
    model = Classifier(net, loss="softmax")
    rng = np.random.RandomState(init_seed)
    for layer, (n_in, n_out) in zip(("0", "3", "5"), zip(dims[:-1], dims[1:])):
        model.params[f"{layer}.weight"] = np.ascontiguousarray((rng.randn(n_in, n_out) / np.sqrt(n_in)).T)
        model.params[f"{layer}.bias"] = np.zeros(n_out)
    return model


def _batch_rows(i: int, batch_size: int | None, n: int) -> slice | np.ndarray:
    """Rows of iteration ``i``: all (full batch) or ``batch_size`` contiguous rows wrapping around ``n``."""
    if batch_size is None:
        return slice(None)
    return np.arange(i * batch_size, (i + 1) * batch_size) % n


def train_housing_net(model, X: np.ndarray, y: np.ndarray, update_rule: str, learning_rate: float,
                      batch_size: int | None, num_iterations: int, log_every: int,
                      progress: bool | None = None) -> list[float]:
    """Run ``num_iterations`` updates of ``model`` with an :mod:`nnlab.optim` rule and return the logged losses.

    Inputs: X (N, D), y (N,) int labels; batch_size None = full batch, else contiguous wrap-around batches.
    Iteration i computes ``(loss, grads) = model.loss(X_batch, y_batch)`` (train mode), logs ``loss`` when
    ``i % log_every == 0`` and then updates every parameter. Returns the logged losses (floats).
    """
    from tqdm.auto import tqdm

    from nnlab.optim import get_update_rule

    rule = get_update_rule(update_rule)
    configs = {name: {"learning_rate": learning_rate} for name in model.params}
    logged: list[float] = []
    show = bool(progress) if progress is not None else False
    for i in tqdm(range(num_iterations), disable=not show, desc=update_rule, unit="it", mininterval=1.0):
        rows = _batch_rows(i, batch_size, len(y))
        loss, grads = model.loss(X[rows], y[rows])
        if i % log_every == 0:
            logged.append(float(loss))
        for name in list(model.params):
            model.params[name], configs[name] = rule(model.params[name], grads[name], configs[name])
    return logged


def _evaluate(model, data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Eval-mode cross-entropy and accuracy on train and test, and the test confusion matrix (rows = true)."""
    from nnlab.layers import softmax_loss

    out: dict[str, Any] = {}
    for split in ("train", "test"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        scores = model.loss(X)
        out[f"{split}_ce"] = float(softmax_loss(scores, y)[0])
        out[f"{split}_acc"] = float(np.mean(np.argmax(scores, axis=1) == y))
        if split == "test":
            pred = np.argmax(scores, axis=1)
            out["test_pred"] = pred
            counts = np.zeros((3, 3), dtype=np.int64)
            np.add.at(counts, (y, pred), 1)
            out["confusion"] = counts.tolist()
            out["confusion_diagonal"] = (np.diag(counts) / np.maximum(counts.sum(axis=1), 1)).tolist()
    return out


def _spec_loss_gap(setup: str, losses: list[float], log_every: int) -> float | None:
    """Largest |nnlab - seed| over the iterations logged by both (multiples of 1000 and of ``log_every``)."""
    gaps = [abs(losses[k] - SPEC_LOSSES[setup][k * log_every // SPEC_LOG_EVERY]) for k in range(len(losses))
            if (k * log_every) % SPEC_LOG_EVERY == 0 and k * log_every // SPEC_LOG_EVERY < len(SPEC_LOSSES[setup])]
    return max(gaps) if gaps else None


def _within_bound(setup: str, ce: float) -> bool:
    kind, value = SPEC_BOUND[setup]
    return ce <= value if kind == "<=" else abs(ce - SPEC_TEST_CE[setup]) <= value


def _plot_losses(results: dict[str, dict[str, Any]], log_every: int, path: Path) -> None:
    """One panel per set-up: nnlab's logged training loss against the seed's (dashed), iterations in thousands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    cols = min(2, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, name in zip(axes.flat, names):
        res = results[name]
        ax.plot(np.arange(len(res["losses"])) * log_every / 1000, res["losses"], label="nnlab", lw=1.5)
        spec = SPEC_LOSSES[name]
        ax.plot(np.arange(len(spec)) * SPEC_LOG_EVERY / 1000, spec, "--", label="seed 003", lw=1.2)
        ax.set_title(f"{TITLES[name]}: test CE {res['test_ce']:.3f} (spec {SPEC_TEST_CE[name]:.3f})")
        ax.set_xlabel("Iteration (thousands)")
        ax.set_ylabel("Training loss")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_confusions(results: dict[str, dict[str, Any]], path: Path) -> None:
    """The test confusion matrices side by side, rows normalized (``normalize="true"``), labels low/med/high."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnlab.data.housing import HOUSING_CLASSES

    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.6), squeeze=False,
                             constrained_layout=True)
    for ax, (name, res) in zip(axes[0], results.items()):
        counts = np.asarray(res["confusion"], dtype=float)
        frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for (r, c), v in np.ndenumerate(frac):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.6 else "black")
        ax.set_xticks(range(3), HOUSING_CLASSES)
        ax.set_yticks(range(3), HOUSING_CLASSES)
        ax.set_xlabel("Predicted")
        ax.set_ylabel("True")
        ax.set_title(f"{TITLES[name]} (acc {res['test_acc']:.3f})")
    fig.savefig(path, dpi=100)
    plt.close(fig)


@register("housing-softsign", summary="seed 003 §3: 8-15-7-3 softsign net on 3-class California housing; GD, "
                                      "mini-batch GD, GD+Adam, mini-batch+Adam, 60000 iterations each",
          expected="test CE: GD <= 0.681 (spec 0.681, bound 0.8); mbgd / gd_adam / mbgd_adam within 0.7 of "
                   "0.712 / 0.741 / 0.695")
def run(run_dir: Path, quick: bool = False, progress: bool | None = None, **overrides: Any) -> dict[str, Any]:
    """Train the four seed-003 set-ups (or the ``setups`` chosen), write the artifacts and return the metrics.

    Returns ``{"<setup>_test_ce": ..., "<setup>_test_acc": ..., "<setup>_seconds": ..., "meets_spec": bool,
    "setups": {<setup>: {losses, test_ce, train_ce, test_acc, train_acc, confusion, ...}}}``.
    """
    from nnlab.data import load_housing_3class
    from nnlab.io import save_arrays

    cfg = apply_overrides(DEFAULTS, overrides, "housing-softsign")
    if quick:
        cfg.update({k: v for k, v in QUICK.items() if k not in overrides})
    cfg["recipe"], cfg["quick"] = "housing-softsign", quick
    setups = [cfg["setups"]] if isinstance(cfg["setups"], str) else list(cfg["setups"])
    unknown = [s for s in setups if s not in SETUPS]
    if unknown or not setups:
        raise ValueError(f"housing-softsign: setups must be a non-empty list of {list(SETUPS)}, got {cfg['setups']!r}")
    if int(cfg["num_iterations"]) < 1 or int(cfg["log_every"]) < 1:
        raise ValueError("housing-softsign: num_iterations and log_every must be >= 1, got "
                         f"{cfg['num_iterations']!r} and {cfg['log_every']!r}")
    data = load_housing_3class(cfg["data_path"])

    results: dict[str, dict[str, Any]] = {}
    for name in setups:
        setup = SETUPS[name]
        model = build_housing_net(cfg["hidden_dims"], cfg["dropout"] if setup["dropout"] else 0.0,
                                  cfg["init_seed"], cfg["dropout_seed"])
        start = time.perf_counter()
        losses = train_housing_net(model, data["X_train"], data["y_train"], setup["update_rule"],
                                   setup["learning_rate"], setup["batch_size"], int(cfg["num_iterations"]),
                                   int(cfg["log_every"]), progress)
        seconds = time.perf_counter() - start
        res = {"losses": losses, "seconds": seconds, **setup, **_evaluate(model, data)}
        res.pop("test_pred")
        res["spec_test_ce"] = SPEC_TEST_CE[name]
        res["spec_loss_max_abs_diff"] = _spec_loss_gap(name, losses, int(cfg["log_every"]))
        res["within_spec_bound"] = _within_bound(name, res["test_ce"])
        results[name] = res
        save_arrays(run_dir / f"model_{name}.npz", {k: np.asarray(v) for k, v in model.state_dict().items()},
                    metadata={"recipe": "housing-softsign", "setup": name, "hidden_dims": cfg["hidden_dims"]})

    metrics: dict[str, Any] = {}
    for name, res in results.items():
        for key in ("test_ce", "test_acc", "train_ce", "spec_loss_max_abs_diff", "seconds"):
            metrics[f"{name}_{key}"] = res[key]
    metrics["meets_spec"] = all(res["within_spec_bound"] for res in results.values()) and (
        "gd" not in results or results["gd"]["test_ce"] <= SPEC_TEST_CE["gd"] + 5e-4)
    metrics["setups"] = results
    write_json(run_dir / "config.json", {**cfg, "setup_settings": {s: SETUPS[s] for s in setups}})
    write_json(run_dir / "metrics.json", metrics)
    _plot_losses(results, int(cfg["log_every"]), run_dir / "losses.png")
    _plot_confusions(results, run_dir / "confusion.png")
    return metrics
