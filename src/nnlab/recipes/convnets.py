"""Recipes ``cifar10-convnet`` (seed 004 §9.7.4) and ``mri-cnn`` (seed 003 §5): convolutional networks on real data.

``cifar10-convnet``: ``ThreeLayerConvNet(weight_scale=1e-3, hidden_dim=500, reg=1e-3)`` trained for one epoch on
the 49,000 CIFAR-10 training images with Adam (lr 1e-3), batch 50 (980 iterations), as the course notebook; the spec
prints val 0.489 and full-train accuracy 0.482. The shared CIFAR-10 copy is a JPEG (q75) re-encoding of the
official images, so figures are close to, not equal to, the official data's.

``mri-cnn``: the seed-003 brain-MRI network (:func:`nnlab.models.mri_cnn`, 1x84x84 grey input) trained with
Adamax (lr 2e-3, inside the seed's recommended 1e-3..1e-2; the reference ``Trainer``'s ``init_lr`` 1e-3 reached
best val 0.795 in 10 epochs here, 2e-3 with the crop below 0.841), ``ExponentialLR(gamma=0.9)`` stepped once per epoch,
batch 32 (the notebook's ``DataLoader``), cross-entropy, for up to 10 epochs. As in the seed, "validation" is the
test split (1311 images) and the reported figure is the best validation accuracy over the epochs (spec 0.843 at
epoch 7). Augmentation is the seed's RandomApply variant -- horizontal flip with p 0.2, rotation within +-36 deg
with p 0.2 -- drawn afresh for every training minibatch (the seed applied it once, when building the dataset).
Images are cropped by 60/512 of their width on each side before the resize to 84x84, as the seed's
``get_mri_dataset`` cuts 60 px margins of the ~512 px originals (``crop_lr``; the bilateral filter is not applied).
The shared MRI copy holds byte-identical duplicates, 216 of the test images equal a training image after the
84x84 resize: ``metrics.json`` also gives the accuracy on the other test images (``test_acc_unique``).

A long ``mri-cnn`` run may be split over several processes: ``stop_after_epoch=k`` ends this process after epoch
``k``, ``time_budget_s=T`` after the last epoch that fits in T seconds of training (both write every artifact and
``checkpoint_latest.npz``); ``resume_from=<run dir or checkpoint>`` continues it (``Solver.resume``) in a new run
directory, whose histories then cover the whole run.

Artifacts: ``config.json``, ``metrics.json`` (accuracies, histories, seconds per epoch), ``curves.png``,
``confusion.png`` (test split, named classes), ``model.npz``, ``filters.png`` (first-layer filters, CS231n
``visualize_grid``) and ``checkpoint_latest.npz``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import register
from .artifacts import apply_overrides, save_classifier_run, write_json

__all__ = ["CONVNET_DEFAULTS", "CONVNET_QUICK", "MRI_DEFAULTS", "MRI_QUICK", "EpochTimer", "StopAfterEpoch",
           "TimeBudget", "downsample2", "stratified_subset", "run_cifar10_convnet", "run_mri_cnn"]

CIFAR10_CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

CONVNET_DEFAULTS: dict[str, Any] = {
    "num_training": 49000,
    "num_validation": 1000,
    "num_test": 1000,
    "num_filters": 32,
    "filter_size": 7,
    "hidden_dim": 500,
    "weight_scale": 1e-3,
    "reg": 1e-3,
    "update_rule": "adam",
    "learning_rate": 1e-3,
    "num_epochs": 1,
    "batch_size": 50,
    "num_train_samples": 1000,
    "print_every": 20,
    "seed": 0,
    "data_path": None,
}
# CI: 1000 images, 2 epochs of 20 iterations (~10 s); untrained accuracy is 0.10.
CONVNET_QUICK: dict[str, Any] = {"num_training": 1000, "num_validation": 200, "num_test": 200, "num_epochs": 2,
                                 "num_train_samples": 200, "print_every": 0}

MRI_DEFAULTS: dict[str, Any] = {
    "size": 84,
    "crop_lr": 60 / 512,
    "downsample": 1,
    "max_train": None,
    "max_test": None,
    "dropout": 0.2,
    "reg": 0.0,
    "update_rule": "adamax",
    "learning_rate": 2e-3,
    "gamma": 0.9,
    "num_epochs": 10,
    "batch_size": 32,
    "flip_p": 0.2,
    "rotation_degrees": 36.0,
    "rotation_p": 0.2,
    "num_train_samples": 1000,
    "seed": 0,
    "data_path": None,
    "stop_after_epoch": None,
    "time_budget_s": None,
    "resume_from": None,
}
# CI: 480 training / 200 test images at 42x42 (2x2 mean of the 84x84 images), 3 short epochs (~10 s).
MRI_QUICK: dict[str, Any] = {"downsample": 2, "max_train": 480, "max_test": 200, "num_epochs": 3,
                             "learning_rate": 2e-3, "num_train_samples": 200}


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
class EpochTimer:
    """Solver callback recording the wall time of every epoch (training plus its accuracy check) in ``seconds``."""

    def __init__(self, previous: list[float] | None = None) -> None:
        self.seconds: list[float] = list(previous or [])
        self._last = 0.0

    def on_train_begin(self, solver: Any) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now


class StopAfterEpoch:
    """Solver callback that ends training once ``solver.epoch`` reaches ``epoch`` (its checkpoint is written
    first), so a long run can be continued later with ``Solver.resume``."""

    def __init__(self, epoch: int) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 1:
            raise ValueError(f"StopAfterEpoch: epoch must be an integer >= 1, got {epoch!r}")
        self.epoch = int(epoch)

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        if epoch >= self.epoch and epoch < solver.num_epochs:
            solver.stop_training = True
            solver.stop_reason = f"stopped after epoch {epoch} of {solver.num_epochs} (stop_after_epoch)"


class TimeBudget:
    """Solver callback that ends training at an epoch boundary when another epoch (as long as the slowest one so
    far) would not finish within ``seconds`` of the start of training; resume later with ``Solver.resume``."""

    def __init__(self, seconds: float) -> None:
        if not float(seconds) > 0:
            raise ValueError(f"TimeBudget: seconds must be > 0, got {seconds!r}")
        self.seconds = float(seconds)
        self._start = self._last = 0.0
        self._slowest = 0.0

    def on_train_begin(self, solver: Any) -> None:
        self._start = self._last = time.perf_counter()

    def on_epoch_end(self, solver: Any, epoch: int) -> None:
        now = time.perf_counter()
        self._slowest = max(self._slowest, now - self._last)
        self._last = now
        if epoch < solver.num_epochs and now - self._start + self._slowest > self.seconds:
            solver.stop_training = True
            solver.stop_reason = (f"stopped after epoch {epoch} of {solver.num_epochs}: another epoch would pass the "
                                  f"time budget of {self.seconds:.0f} s (time_budget_s)")


def downsample2(X: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks: (N, C, H, W) -> (N, C, H // factor, W // factor), X's dtype."""
    if factor == 1:
        return X
    N, C, H, W = X.shape
    h, w = H // factor, W // factor
    blocks = X[:, :, :h * factor, :w * factor].reshape(N, C, h, factor, w, factor)
    return blocks.mean(axis=(3, 5), dtype=X.dtype)


def stratified_subset(y: np.ndarray, total: int, seed: int) -> np.ndarray:
    """Sorted indices of about ``total`` samples, the same number from each class (seeded)."""
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    per_class = max(total // len(classes), 1)
    picks = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picks))


def _row_hashes(X: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in X]


def _write_filters(run_dir: Path, W: np.ndarray, title: str) -> Path:
    from nnlab.viz import plot_weight_grid

    return plot_weight_grid(np.asarray(W), run_dir / "filters.png", layout="NCHW", title=title)


def _prepare(defaults: dict[str, Any], quick_settings: dict[str, Any], overrides: dict[str, Any], name: str,
             quick: bool) -> dict[str, Any]:
    cfg = apply_overrides(defaults, overrides, name)
    if quick:
        cfg.update({k: v for k, v in quick_settings.items() if k not in overrides})
    cfg["recipe"], cfg["quick"] = name, quick
    return cfg


# ---------------------------------------------------------------------------------------------------------------
# cifar10-convnet
# ---------------------------------------------------------------------------------------------------------------
@register("cifar10-convnet",
          summary="ThreeLayerConvNet (32 7x7 filters, hidden 500, reg 1e-3) on CIFAR-10, Adam 1e-3, batch 50, "
                  "1 epoch (seed 004 §9.7.4)",
          expected="val accuracy >= 0.489, full-train accuracy ~0.482 (spec); CIFAR-10 here is a JPEG re-encoding")
def run_cifar10_convnet(run_dir: Path, quick: bool = False, progress: bool | None = None,
                        callbacks: list | None = None, **overrides: Any) -> dict[str, Any]:
    """Train ThreeLayerConvNet for one epoch on CIFAR-10, write the artifacts into ``run_dir``, return metrics."""
    from nnlab.data.cifar10 import get_CIFAR10_data
    from nnlab.models import ThreeLayerConvNet
    from nnlab.solver import Solver

    cfg = _prepare(CONVNET_DEFAULTS, CONVNET_QUICK, overrides, "cifar10-convnet", quick)
    data = get_CIFAR10_data(cfg["num_training"], cfg["num_validation"], cfg["num_test"], path=cfg["data_path"])
    model = ThreeLayerConvNet(input_dim=data["X_train"].shape[1:], num_filters=cfg["num_filters"],
                              filter_size=cfg["filter_size"], hidden_dim=cfg["hidden_dim"],
                              weight_scale=cfg["weight_scale"], reg=cfg["reg"], dtype=np.float32, seed=cfg["seed"])
    timer = EpochTimer()
    solver = Solver(model, data, update_rule=cfg["update_rule"], optim_config={"learning_rate": cfg["learning_rate"]},
                    num_epochs=cfg["num_epochs"], batch_size=cfg["batch_size"],
                    num_train_samples=cfg["num_train_samples"], print_every=cfg["print_every"] or 0,
                    verbose=bool(cfg["print_every"]), progress=progress, seed=cfg["seed"],
                    checkpoint_name=str(run_dir / "checkpoint"), checkpoint_per_epoch=False,
                    callbacks=[timer, *(callbacks or [])])
    start = time.perf_counter()
    solver.train()
    train_seconds = time.perf_counter() - start
    extra = {"train_seconds": train_seconds, "epoch_seconds": timer.seconds,
             "iterations": len(solver.loss_history), "first_loss": solver.loss_history[0],
             "final_loss_mean20": float(np.mean(solver.loss_history[-20:])),
             "subsampled_train_acc": solver.train_acc_history[-1]}
    metrics = save_classifier_run(run_dir, solver, data, cfg, extra_metrics=extra, class_names=CIFAR10_CLASSES)
    _write_filters(run_dir, model.params["W1"], "ThreeLayerConvNet first-layer filters")
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# mri-cnn
# ---------------------------------------------------------------------------------------------------------------
def _mri_data(cfg: dict[str, Any]) -> dict[str, np.ndarray]:
    """The MRI dict (val = test, as the seed), optionally subsampled (stratified) and downsampled."""
    from nnlab.data.images import load_brain_mri

    data = load_brain_mri(cfg["data_path"], size=cfg["size"], grayscale=True, crop_lr=cfg["crop_lr"])
    out = {}
    for split, limit in (("train", cfg["max_train"]), ("test", cfg["max_test"])):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        if limit is not None and limit < len(y):
            keep = stratified_subset(y, int(limit), cfg["seed"])
            X, y = X[keep], y[keep]
        out[f"X_{split}"], out[f"y_{split}"] = np.ascontiguousarray(downsample2(X, int(cfg["downsample"]))), y
    out["X_val"], out["y_val"] = out["X_test"], out["y_test"]
    return out


def _resume_checkpoint(resume_from: str | Path) -> tuple[Path, list[float]]:
    """The checkpoint file to resume from (a run directory's ``checkpoint_latest.npz`` or the file itself) and
    the per-epoch seconds that run recorded."""
    import json

    path = Path(resume_from).expanduser()
    ckpt = path / "checkpoint_latest.npz" if path.is_dir() else path
    if not ckpt.is_file():
        raise FileNotFoundError(f"mri-cnn: resume_from: no checkpoint at {ckpt}")
    metrics_file = ckpt.parent / "metrics.json"
    previous = json.loads(metrics_file.read_text()).get("epoch_seconds", []) if metrics_file.is_file() else []
    return ckpt, [float(s) for s in previous]


@register("mri-cnn",
          summary="seed-003 MRI CNN (4 convs, 3 dense, LeakyReLU, dropout 0.2) on brain-tumor MRI 1x84x84: "
                  "Adamax 1e-3, ExponentialLR 0.9, batch 32, flip/rotation augmentation, 10 epochs (seed 003 §5)",
          expected="best validation (= test split) accuracy >= 0.843 (spec, epoch 7 of 7)")
def run_mri_cnn(run_dir: Path, quick: bool = False, progress: bool | None = None, callbacks: list | None = None,
                **overrides: Any) -> dict[str, Any]:
    """Train the MRI network, write the artifacts into ``run_dir`` and return the metrics."""
    from nnlab.data.augment import Compose, RandomHorizontalFlip, RandomRotation, augment_batches
    from nnlab.data.images import MRI_CLASSES
    from nnlab.models import Classifier, mri_cnn
    from nnlab.schedules import exponential_decay
    from nnlab.solver import Solver

    cfg = _prepare(MRI_DEFAULTS, MRI_QUICK, overrides, "mri-cnn", quick)
    resume = _resume_checkpoint(cfg["resume_from"]) if cfg["resume_from"] else None
    data = _mri_data(cfg)
    model = Classifier(mri_cnn(num_classes=len(MRI_CLASSES), dropout=cfg["dropout"], seed=cfg["seed"]),
                       reg=cfg["reg"])
    augment = Compose([RandomHorizontalFlip(cfg["flip_p"]),
                       RandomRotation(cfg["rotation_degrees"], p=cfg["rotation_p"])])
    stop = [StopAfterEpoch(cfg["stop_after_epoch"])] if cfg["stop_after_epoch"] else []
    stop += [TimeBudget(cfg["time_budget_s"])] if cfg["time_budget_s"] else []
    settings = dict(lr_schedule=exponential_decay(cfg["learning_rate"], cfg["gamma"]), progress=progress,
                    num_epochs=cfg["num_epochs"], checkpoint_name=str(run_dir / "checkpoint"),
                    checkpoint_per_epoch=False, verbose=True, print_every=0)
    if resume is not None:
        ckpt, previous_seconds = resume
        timer = EpochTimer(previous_seconds)
        solver = Solver.resume(ckpt, model, data, callbacks=[timer, *stop, *(callbacks or [])],
                               batch_transform=None, **settings)
        # the augmentation stream is not in the checkpoint: reseed it from (seed, epoch) so a resumed run is
        # reproducible too
        solver.batch_transform = augment_batches(augment, seed=cfg["seed"] * 1000 + solver.epoch)
    else:
        timer = EpochTimer()
        solver = Solver(model, data, update_rule=cfg["update_rule"],
                        optim_config={"learning_rate": cfg["learning_rate"]}, batch_size=cfg["batch_size"],
                        num_train_samples=cfg["num_train_samples"], seed=cfg["seed"],
                        batch_transform=augment_batches(augment, seed=cfg["seed"]),
                        callbacks=[timer, *stop, *(callbacks or [])], **settings)
    start = time.perf_counter()
    solver.train()
    train_seconds = time.perf_counter() - start

    train_hashes = set(_row_hashes(data["X_train"]))
    unique = np.array([h not in train_hashes for h in _row_hashes(data["X_test"])])
    best_epoch = int(np.argmax(solver.val_acc_history)) if solver.val_acc_history else 0
    extra = {"train_seconds": train_seconds, "epoch_seconds": timer.seconds, "epochs_done": solver.epoch,
             "complete": solver.epoch >= solver.num_epochs, "stop_reason": solver.stop_reason,
             "best_epoch": best_epoch, "first_loss": solver.loss_history[0],
             "final_loss_mean20": float(np.mean(solver.loss_history[-20:])),
             "learning_rates": [exponential_decay(cfg["learning_rate"], cfg["gamma"])(e)
                                for e in range(solver.epoch)],
             "test_duplicates_of_train": int((~unique).sum()),
             "test_acc_unique": solver.check_accuracy(data["X_test"][unique], data["y_test"][unique])
             if unique.any() else None,
             "val_is_test": True}
    cfg["augmentation"] = repr(augment)
    # val IS test here: evaluate it once (test_acc) and copy it to val_acc
    no_val = {k: v for k, v in data.items() if k not in ("X_val", "y_val")}
    metrics = save_classifier_run(run_dir, solver, no_val, cfg, extra_metrics=extra, class_names=list(MRI_CLASSES))
    metrics["val_acc"] = metrics["test_acc"]
    write_json(run_dir / "metrics.json", metrics)
    _write_filters(run_dir, model.params["feature_extractor.0.weight"], "MRI CNN first-layer filters (3x3)")
    return metrics
