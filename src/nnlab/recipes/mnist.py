"""Recipe ``mnist-mlp``: seed 001's two MNIST experiments (spec/seeds_000_002.md §001.C) with batch norm.

The setting ``experiment`` (``1``, ``2`` or ``None`` = both, the default) picks the variants; each experiment is a
complete run in ``<run>/exp1/``, ``<run>/exp2/`` (loadable with :func:`nnlab.load_run`), and the study's
``metrics.json`` sums them up (``exp1_test_acc``, ``exp2_test_acc``, ..., ``meets_spec``):

==========  =======================  ====================================  ======================
experiment  network                  optimizer                             spec test accuracy
==========  =======================  ====================================  ======================
1           [784, 100, 100, 64, 10]  Adam lr 1e-2, inverse-time decay 1    96.10 % (train 96.89)
2           [784, 100, 100, 10]      Adam lr 1e-3, inverse-time decay 0.1  96.64 % (train 97.142)
==========  =======================  ====================================  ======================

Both: batch norm on every hidden layer, ReLU, batch 64, 3 epochs, Adam beta1 0.9 / beta2 0.99, learning rate
``lr / (1 + decay_rate * epoch)`` (epoch 0-indexed), weights ``randn * 2 / sqrt(fan_in)`` drawn from
``RandomState(seed)`` (the spec's "Kaiming" initialization; ``weight_scale`` set = a constant std instead), zero
biases, pixels scaled to [-1, 1].

Where nnlab differs from the seed's hand-written network (documented, not hidden):

- ``FullyConnectedNet`` puts batch norm *before* ReLU and not on the output layer, with gamma = 1, beta = 0 and
  running statistics for test time (saved with the weights); seed 001 normalizes *after* ReLU on every layer
  (output included), draws gamma and beta from ``randn`` and normalizes the test set with its own batch statistics.
- nnlab's Adam is bias-corrected with epsilon outside the square root; seed 001's has no bias correction and
  epsilon inside. The betas are the seed's (0.9, 0.99).
- The Solver needs a validation split: the last ``num_validation`` (5000) training images, so training uses
  55,000 images sampled with replacement (859 iterations per epoch, the seed: 938 contiguous batches of 60,000).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .contract import Recipe, Setting, StudyResult, standard_solver_settings

__all__ = ["EXPERIMENTS", "SPEC_TEST_ACC", "SPEC_TRAIN_ACC", "kaiming_init", "RECIPES"]

# The spec's settings of each experiment (seed 001, 001.C).
EXPERIMENTS: dict[int, dict[str, Any]] = {
    1: {"hidden_dims": [100, 100, 64], "learning_rate": 1e-2, "decay_rate": 1.0},
    2: {"hidden_dims": [100, 100], "learning_rate": 1e-3, "decay_rate": 0.1},
}
SPEC_TEST_ACC = {1: 0.9610, 2: 0.9664}
SPEC_TRAIN_ACC = {1: 0.9689, 2: 0.97142}
DIGIT_NAMES = [str(i) for i in range(10)]


def kaiming_init(dims: list[int], rng: Any = None, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Seed 001's weights ``randn(fan_out, fan_in) * 2 / sqrt(fan_in)`` for consecutive ``dims``, transposed.

    Inputs: dims [D, H1, ..., C]; rng: NumPy RandomState/Generator or None (the global RNG), drawn in layer order
    with the seed's (out, in) shapes, so ``np.random.seed(1)`` gives the seed's matrices.
    Returns ``{"W1": (D, H1), ...}`` in nnlab's (in, out) layout.
    """
    from nnlab.backend import get_rng, normal

    rng = get_rng(rng)
    return {f"W{i}": np.ascontiguousarray(normal(rng, (dims[i], dims[i - 1])).T * (2.0 / np.sqrt(dims[i - 1])))
            .astype(dtype) for i in range(1, len(dims))}


def _experiment(cfg: dict[str, Any]) -> int:
    """The experiment of one variant (1 or 2; None = both is split into variants by the runner)."""
    return int(cfg["experiment"] or 1)


def _resolved(cfg: dict[str, Any], key: str) -> Any:
    """A per-experiment setting: the value set explicitly, else the experiment's (EXPERIMENTS)."""
    return cfg[key] if cfg[key] is not None else EXPERIMENTS[_experiment(cfg)][key]


def _data(cfg: dict[str, Any]) -> dict[str, Any]:
    """MNIST rows (N, 784) in [-1, 1], cut to ``num_train`` / ``num_test`` when those are set."""
    from nnlab.data import load_mnist

    data = load_mnist(cfg["data_path"], num_validation=int(cfg["num_validation"]), scale="symmetric",
                      flatten=True, dtype=np.float32)
    for split, key in (("train", "num_train"), ("test", "num_test")):
        if cfg[key] is not None:
            data[f"X_{split}"], data[f"y_{split}"] = data[f"X_{split}"][:cfg[key]], data[f"y_{split}"][:cfg[key]]
    # x / 127.5 - 1: scale 1/127.5, then the constant 1 subtracted ("mean")
    data["info"] = {"class_names": DIGIT_NAMES, "mean": np.asarray(1.0, dtype=np.float32),
                    "image": {"height": 28, "width": 28, "mode": "L", "scale": 1 / 127.5, "layout": "flat"}}
    return data


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import FullyConnectedNet

    hidden = list(_resolved(cfg, "hidden_dims"))
    dims = [784, *hidden, 10]
    scale = cfg["weight_scale"] if cfg["weight_scale"] is not None else 1.0
    model = FullyConnectedNet(hidden, input_dim=784, num_classes=10, normalization=cfg["normalization"],
                              weight_scale=scale, dtype=np.float32)
    if cfg["weight_scale"] is None:
        model.params.update(kaiming_init(dims, np.random.RandomState(cfg["seed"])))
    return model


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    from nnlab.schedules import inverse_time_decay

    lr = _resolved(cfg, "learning_rate")
    return {"optim_config": {"learning_rate": lr, "beta1": cfg["beta1"], "beta2": cfg["beta2"],
                             "epsilon": cfg["epsilon"]},
            "lr_schedule": inverse_time_decay(lr, _resolved(cfg, "decay_rate"))}


def _variants(cfg: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``exp1`` / ``exp2`` (or just the chosen one), each with its experiment's network and optimizer settings."""
    chosen = [1, 2] if cfg["experiment"] is None else [int(cfg["experiment"])]
    return [(f"exp{e}", {"experiment": e, **{k: (cfg[k] if cfg[k] is not None else v)
                                                  for k, v in EXPERIMENTS[e].items()}}) for e in chosen]


def _summarize(study: StudyResult) -> dict[str, Any]:
    """Each experiment's figures (prefixed ``exp1_`` ...) against the spec's test accuracy."""
    results = study.metrics
    summary: dict[str, Any] = {}
    for name, metrics in results.items():
        exp = int(name[3:])
        for key in ("train_acc", "val_acc", "test_acc", "best_val_acc", "train_seconds"):
            summary[f"{name}_{key}"] = metrics[key]
        summary[f"{name}_spec_test_acc"] = SPEC_TEST_ACC[exp]
        summary[f"{name}_meets_spec"] = bool(metrics["test_acc"] >= SPEC_TEST_ACC[exp])
    if len(results) == 1:  # a single experiment: its figures without prefix (what nnlab tune optimizes)
        (metrics,) = results.values()
        summary.update({k: metrics[k] for k in ("train_acc", "val_acc", "test_acc", "best_val_acc")})
    summary["meets_spec"] = all(summary[f"{name}_meets_spec"] for name in results)
    return summary


def _settings() -> list[Setting]:
    solver = [s if s.name != "learning_rate" else
              Setting("learning_rate", "float", None, "initial learning rate (None = the experiment's: 1e-2 for "
                      "exp. 1, 1e-3 for exp. 2)", low=0, low_open=True, nullable=True)
              for s in standard_solver_settings(update_rule="adam", learning_rate=1e-3, num_epochs=3, batch_size=64,
                                                seed=1, num_train_samples=5000)]
    return [
        Setting("experiment", "int", None, "seed 001's experiment: 1 or 2 (None = both, two runs)",
                choices=(1, 2), nullable=True),
        Setting("hidden_dims", "ints", None, "hidden layer sizes (None = the experiment's)", low=1, nullable=True),
        Setting("decay_rate", "float", None, "inverse-time decay lr / (1 + decay_rate * epoch) (None = the "
                "experiment's: 1.0 / 0.1)", low=0, nullable=True),
        Setting("beta1", "float", 0.9, "Adam beta1", low=0, high=1, high_open=True),
        Setting("beta2", "float", 0.99, "Adam beta2 (the seed's 0.99)", low=0, high=1, high_open=True),
        Setting("epsilon", "float", 1e-8, "Adam epsilon", low=0, low_open=True),
        Setting("normalization", "str", "batchnorm", "normalization after each hidden affine layer",
                choices=("batchnorm", "layernorm", None), nullable=True),
        Setting("weight_scale", "float", None, "std of Gaussian initial weights (None = seed 001's "
                "randn * 2 / sqrt(fan_in))", low=0, low_open=True, nullable=True),
        Setting("num_validation", "int", 5000, "last training images held out for validation", low=1),
        Setting("num_train", "int", None, "training images used (None = all the others)", low=1, nullable=True),
        Setting("num_test", "int", None, "test images scored (None = all 10,000)", low=1, nullable=True),
        Setting("data_path", "path", None, "folder with the MNIST *-ubyte.gz files (None = $NNLAB_DATA/mnist)",
                nullable=True),
        *solver,
    ]


RECIPES = [Recipe(
    name="mnist-mlp",
    summary="seed 001 exp. 1 [784,100,100,64,10] and exp. 2 [784,100,100,10]: batch norm, Adam, inverse-time lr "
            "decay, 3 epochs on MNIST ([-1, 1] pixels)",
    expected="test accuracy >= 0.9610 (exp. 1) and >= 0.9664 (exp. 2); --set experiment=1|2 runs one",
    settings=_settings(),
    # CI: 5000 training images, 2 epochs (156 steps per experiment); accuracy must reach far above chance (10 %).
    quick={"num_train": 5000, "num_validation": 1000, "num_test": 2000, "num_epochs": 2},
    data=_data,
    model=_model,
    solver=_solver,
    variants=_variants,
    summarize=_summarize,
    data_settings=("num_validation", "num_train", "num_test", "data_path"),
)]
