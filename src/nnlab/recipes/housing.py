"""Recipe ``housing-softsign``: seed 003's 8-15-7-3 softsign network on three-class California housing.

Spec: spec/seed_003.md §3 (``NeuralNet``) and §4 (data: :func:`nnlab.data.load_housing_3class`, 375 training
and 125 test rows, min-max scaled). The network is ``Linear(8, 15) - Softsign - [Dropout(0.3)] - Linear(15, 7) -
Softsign - Linear(7, 3)`` with softmax cross-entropy (dropout only after the first hidden layer, as the seed),
built from :mod:`nnlab.nn` and :class:`nnlab.models.Classifier`; the weights are the seed's
``np.random.seed(0); theta_k = randn(n_in, n_out) / sqrt(n_in)``, zero biases. Four training set-ups (the
variants of this study, each a complete run), 60000 iterations each, the loss logged every 1000 iterations
*before* that iteration's update (as the seed):

==========  =====================================  ====================  ==============  ===============
set-up      updates                                 lr, dropout           spec test CE    spec bound
==========  =====================================  ====================  ==============  ===============
gd          full-batch gradient descent (sgd)       0.01, none            0.681           CE <= 0.8
mbgd        mini-batch 64 (sgd)                     0.01, p = 0.3         0.712           within 0.7
gd_adam     full-batch Adam                         1e-4, p = 0.3         0.741           within 0.7
mbgd_adam   mini-batch 64 Adam                      1e-4, p = 0.3         0.695           within 0.7
==========  =====================================  ====================  ==============  ===============

They train through the Solver: ``batch_order='cyclic'`` (batch ``t`` = rows ``64 t .. 64 t + 63`` modulo 375,
wrapping without reshuffling, as the seed's ``minibatch_gradient_descent``; full batch = all 375 rows in order),
epochs of ``iterations_per_epoch = log_every`` iterations (so the logged losses are ``loss_history[::log_every]``),
``keep_best=False`` (the seed keeps its last weights). The updates are :func:`nnlab.optim.sgd` and
:func:`nnlab.optim.adam` (bias-corrected, epsilon 1e-8 outside the square root: the seed's reference code; its
formula writes epsilon inside). The Solver's validation split is the data's (seed 003 has none: the test split
stands in, for the accuracy curves only — nothing is selected on it).

Same data and initial weights as the seed: the first logged loss is 1.086384 as printed, and full-batch GD
follows the seed's trajectory. The dropout runs draw their masks differently from the seed's
``np.random.choice`` (a private ``RandomState(dropout_seed)``), so they only follow it statistically.

Study folder: ``losses.png`` (the four loss curves against the seed's), ``confusion.png`` (the four test confusion
matrices, rows normalized, labels low/med/high), ``metrics.json`` (per set-up: test CE and accuracy, largest gap
of the logged losses to the seed's, spec figures and bounds; ``meets_spec``); each set-up's run in ``<setup>/``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import Recipe, RunResult, Setting, SettingError, StudyResult, standard_solver_settings

__all__ = ["SETUPS", "SPEC_TEST_CE", "SPEC_LOSSES", "build_housing_net", "RECIPES"]

SETUPS: dict[str, dict[str, Any]] = {
    "gd": {"update_rule": "sgd", "learning_rate": 0.01, "batch_size": None, "use_dropout": False},
    "mbgd": {"update_rule": "sgd", "learning_rate": 0.01, "batch_size": 64, "use_dropout": True},
    "gd_adam": {"update_rule": "adam", "learning_rate": 1e-4, "batch_size": None, "use_dropout": True},
    "mbgd_adam": {"update_rule": "adam", "learning_rate": 1e-4, "batch_size": 64, "use_dropout": True},
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


def _data(cfg: dict[str, Any]) -> dict[str, Any]:
    from nnlab.data import load_housing_3class
    from nnlab.data.housing import HOUSING_CLASSES

    data = dict(load_housing_3class(cfg["data_path"]))
    data["info"] = {"class_names": list(HOUSING_CLASSES)}
    return data


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    p = cfg["dropout"] if cfg["use_dropout"] else 0.0
    return build_housing_net(cfg["hidden_dims"], p, cfg["init_seed"], cfg["dropout_seed"],
                             in_features=int(np.prod(info["input_shape"])))


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Epochs of ``log_every`` iterations, wrap-around batches (all rows for full batch), last weights kept."""
    n = len(data["X_train"])
    return {"batch_size": cfg["batch_size"] or n, "num_epochs": cfg["num_iterations"] // cfg["log_every"],
            "iterations_per_epoch": cfg["log_every"], "batch_order": "cyclic", "keep_best": False,
            "num_train_samples": None}


def _score(run: RunResult) -> dict[str, Any]:
    """Eval-mode cross-entropy and accuracy on every split present; the test confusion matrix (rows = true)."""
    from nnlab.layers import softmax_loss
    from nnlab.scores import predict_scores

    model, data = run.model, run.data
    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        X, y = data.get(f"X_{split}"), data.get(f"y_{split}")
        if X is None or y is None or not len(y):
            continue
        scores = predict_scores(model, X)
        pred = np.argmax(scores, axis=1)
        out[f"{split}_ce"] = float(softmax_loss(scores, y)[0])
        out[f"{split}_acc"] = float(np.mean(pred == y))
        if split == "test":
            counts = np.zeros((3, 3), dtype=np.int64)
            np.add.at(counts, (y, pred), 1)
            out["test_confusion"] = counts.tolist()
    return out


def _setups(cfg: dict[str, Any]) -> list[str]:
    names = [n.strip() for n in str(cfg["setups"]).split(",") if n.strip()]
    if not names or any(n not in SETUPS for n in names):
        raise SettingError(f"setting 'setups' must be a comma-separated list of {', '.join(SETUPS)}, "
                           f"got {cfg['setups']!r}")
    if cfg["num_iterations"] % cfg["log_every"]:
        raise SettingError(f"setting 'num_iterations' ({cfg['num_iterations']}) must be a multiple of 'log_every' "
                           f"({cfg['log_every']}): the losses are logged at the start of each epoch of log_every "
                           "iterations")
    return names


def _variants(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, dict(SETUPS[name])) for name in _setups(cfg)]


def _spec_loss_gap(setup: str, losses: list[float], log_every: int) -> float | None:
    """Largest |nnlab - seed| over the iterations logged by both (multiples of 1000 and of ``log_every``)."""
    gaps = [abs(losses[k] - SPEC_LOSSES[setup][k * log_every // SPEC_LOG_EVERY]) for k in range(len(losses))
            if (k * log_every) % SPEC_LOG_EVERY == 0 and k * log_every // SPEC_LOG_EVERY < len(SPEC_LOSSES[setup])]
    return max(gaps) if gaps else None


def _within_bound(setup: str, ce: float) -> bool:
    kind, value = SPEC_BOUND[setup]
    return ce <= value if kind == "<=" else abs(ce - SPEC_TEST_CE[setup]) <= value


def _summarize(study: StudyResult) -> dict[str, Any]:
    """Per set-up: logged losses (the first of each Solver epoch of ``log_every`` iterations), their gap to the
    seed's, test CE / accuracy against the spec; the figures."""
    from nnlab import viz
    from nnlab.data.housing import HOUSING_CLASSES

    log_every = study.cfg["log_every"]
    setups: dict[str, dict[str, Any]] = {}
    for name, run in study.variants.items():
        m = run.metrics
        losses = [float(v) for v in run.loss_history[::run.iterations_per_epoch]]
        setups[name] = {"losses": losses, "test_ce": m["test_ce"], "test_acc": m["test_acc"],
                        "train_ce": m["train_ce"], "train_acc": m["train_acc"], "confusion": m["test_confusion"],
                        "seconds": m["train_seconds"], "spec_test_ce": SPEC_TEST_CE[name],
                        "spec_loss_max_abs_diff": _spec_loss_gap(name, losses, log_every),
                        "within_spec_bound": _within_bound(name, m["test_ce"])}
    metrics: dict[str, Any] = {}
    for name, res in setups.items():
        for key in ("test_ce", "test_acc", "train_ce", "spec_loss_max_abs_diff", "seconds"):
            metrics[f"{name}_{key}"] = res[key]
    metrics["meets_spec"] = all(res["within_spec_bound"] for res in setups.values()) and (
        "gd" not in setups or setups["gd"]["test_ce"] <= SPEC_TEST_CE["gd"] + 5e-4)
    metrics["setups"] = setups
    viz.plot_loss_panels(
        {name: {"x": np.arange(len(res["losses"])) * log_every / 1000, "y": res["losses"],
                "ref_x": np.arange(len(SPEC_LOSSES[name])) * SPEC_LOG_EVERY / 1000, "ref_y": SPEC_LOSSES[name],
                "title": f"{TITLES[name]}: test CE {res['test_ce']:.3f} (spec {SPEC_TEST_CE[name]:.3f})"}
         for name, res in setups.items()},
        study.run_dir / "losses.png", xlabel="Iteration (thousands)", reference_label="seed 003")
    viz.plot_confusion_panels({name: res["confusion"] for name, res in setups.items()},
                              study.run_dir / "confusion.png", list(HOUSING_CLASSES),
                              titles={name: f"{TITLES[name]} (acc {res['test_acc']:.3f})"
                                      for name, res in setups.items()})
    return metrics


def _settings() -> list[Setting]:
    # the Solver's epoch, batch order (the seed's wrap-around 'cyclic') and number of epochs follow from these
    solver = {s.name: s for s in standard_solver_settings(update_rule="sgd", learning_rate=0.01, seed=0,
                                                          num_train_samples=None)}
    return [
        Setting("setups", "str", ",".join(SETUPS), "comma-separated set-ups trained (gd, mbgd, gd_adam, mbgd_adam)"),
        Setting("num_iterations", "int", 60000, "updates per set-up", low=1),
        Setting("log_every", "int", 1000, "log the loss every this many iterations (= the Solver's epoch)", low=1),
        Setting("hidden_dims", "ints", [15, 7], "the two hidden layer sizes", low=1),
        Setting("dropout", "float", 0.3, "drop probability of the set-ups with dropout", low=0, high=1,
                high_open=True),
        Setting("use_dropout", "bool", False, "dropout after the first hidden layer (set per set-up)"),
        Setting("init_seed", "int", 0, "seed of the initial weights (the seed's np.random.seed(0))", low=0),
        Setting("dropout_seed", "int", 0, "seed of the dropout masks", low=0),
        Setting("data_path", "path", None, "california_housing folder (None = $NNLAB_DATA/california_housing)",
                nullable=True),
        solver["update_rule"], solver["learning_rate"],
        Setting("batch_size", "int", None, "minibatch size (None = full batch; set per set-up)", low=1,
                nullable=True),
        solver["seed"], solver["num_train_samples"], solver["grad_clip"],
    ]


RECIPES = [Recipe(
    name="housing-softsign",
    summary="seed 003 §3: 8-15-7-3 softsign net on 3-class California housing; GD, mini-batch GD, GD+Adam, "
            "mini-batch+Adam, 60000 iterations each",
    expected="test CE: GD <= 0.681 (spec 0.681, bound 0.8); mbgd / gd_adam / mbgd_adam within 0.7 of "
             "0.712 / 0.741 / 0.695",
    settings=_settings(),
    # CI: 2000 iterations of each set-up (about 1 s each); full-batch GD must follow the seed's losses.
    quick={"num_iterations": 2000, "log_every": 100},
    data=_data, model=_model, solver=_solver, score=_score, variants=_variants, summarize=_summarize,
    data_settings=("data_path",),
)]
