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
epoch 7); the Solver restores the best epoch's weights, so ``test_acc`` equals it. Augmentation is the seed's
RandomApply variant -- horizontal flip with p 0.2, rotation within +-36 deg with p 0.2 -- drawn afresh for every
training minibatch (the seed applied it once, when building the dataset) from a RandomState(seed) whose state is
checkpointed every epoch, so ``nnlab train --resume`` continues bit-identically.
Images are cropped by 60/512 of their width on each side before the resize to 84x84, as the seed's
``get_mri_dataset`` cuts 60 px margins of the ~512 px originals (``crop_lr``; the bilateral filter is not applied).
The shared MRI copy holds byte-identical duplicates, 216 of the test images equal a training image after the
84x84 resize: ``metrics.json`` also gives the accuracy on the other test images (``test_acc_unique``).
A long run is split over several processes with Ctrl-C (or a kill) and ``nnlab train --resume RUN``.

Extra plot: ``filters.png`` (first-layer filters, CS231n ``visualize_grid``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .cifar10 import cifar10_data, cifar10_data_settings
from .contract import Recipe, RunResult, Setting, standard_solver_settings

__all__ = ["RECIPES", "downsample2", "stratified_subset"]


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


def _filter_plots(param: str, title: str) -> Any:
    """A ``plots`` hook drawing the first-layer filters (parameter ``param``, NCHW) into ``filters.png``."""

    def plots(run: RunResult) -> None:
        from nnlab.viz import plot_weight_grid

        plot_weight_grid(np.asarray(run.model.params[param]), run.run_dir / "filters.png", layout="NCHW",
                         title=title)

    return plots


# ---------------------------------------------------------------------------------------------------------------
# cifar10-convnet
# ---------------------------------------------------------------------------------------------------------------
def _convnet_model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import ThreeLayerConvNet

    return ThreeLayerConvNet(input_dim=tuple(info["input_shape"]), num_filters=cfg["num_filters"],
                             filter_size=cfg["filter_size"], hidden_dim=cfg["hidden_dim"],
                             weight_scale=cfg["weight_scale"], reg=cfg["reg"], dtype=np.float32, seed=cfg["seed"])


def _print_every(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {"print_every": cfg["print_every"], "verbose": bool(cfg["print_every"])}


CIFAR10_CONVNET = Recipe(
    name="cifar10-convnet",
    summary="ThreeLayerConvNet (32 7x7 filters, hidden 500, reg 1e-3) on CIFAR-10, Adam 1e-3, batch 50, "
            "1 epoch (seed 004 §9.7.4)",
    expected="val accuracy >= 0.489, full-train accuracy ~0.482 (spec); CIFAR-10 here is a JPEG re-encoding",
    settings=[
        Setting("num_filters", "int", 32, "filters of the conv layer", low=1),
        Setting("filter_size", "int", 7, "conv filter size (odd: 'same' padding)", low=1),
        Setting("hidden_dim", "int", 500, "hidden affine layer width", low=1),
        Setting("weight_scale", "float", 1e-3, "std of the initial Gaussian weights", low=0, low_open=True),
        Setting("reg", "float", 1e-3, "L2 strength (0.5 * reg * sum W^2)", low=0),
        *standard_solver_settings(update_rule="adam", learning_rate=1e-3, num_epochs=1, batch_size=50, seed=0,
                                  num_train_samples=1000),
        Setting("print_every", "int", 20, "print the loss every this many iterations (0: quiet)", low=0),
        *cifar10_data_settings(num_train=False),
    ],
    # CI: 1000 images, 2 epochs of 20 iterations (~10 s); untrained accuracy is 0.10.
    quick={"num_training": 1000, "num_validation": 200, "num_test": 200, "num_epochs": 2, "num_train_samples": 200,
           "print_every": 0},
    data=cifar10_data,
    model=_convnet_model,
    solver=_print_every,
    plots=_filter_plots("W1", "ThreeLayerConvNet first-layer filters"),
)


# ---------------------------------------------------------------------------------------------------------------
# mri-cnn
# ---------------------------------------------------------------------------------------------------------------
def _mri_data(cfg: dict[str, Any]) -> dict[str, Any]:
    """The MRI dict (val = test, as the seed), optionally subsampled (stratified) and downsampled, plus ``info``."""
    from nnlab.data.images import MRI_CLASSES, load_brain_mri

    data = load_brain_mri(cfg["data_path"], size=cfg["size"], grayscale=True, crop_lr=cfg["crop_lr"])
    k = int(cfg["downsample"])
    out: dict[str, Any] = {}
    for split, limit in (("train", cfg["max_train"]), ("test", cfg["max_test"])):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        if limit is not None and limit < len(y):
            keep = stratified_subset(y, int(limit), cfg["seed"])
            X, y = X[keep], y[keep]
        out[f"X_{split}"], out[f"y_{split}"] = np.ascontiguousarray(downsample2(X, k)), y
    out["X_val"], out["y_val"] = out["X_test"], out["y_test"]
    side = cfg["size"] // k
    out["info"] = {"class_names": list(MRI_CLASSES), "val_is_test": True,
                   "image": {"height": side, "width": side, "mode": "L", "scale": 1 / 255, "layout": "nchw",
                             "crop_lr": cfg["crop_lr"], "downsample": k, "dtype": "float32"}}
    return out


def _mri_model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models import Classifier, mri_cnn

    return Classifier(mri_cnn(num_classes=len(info["class_names"]), dropout=cfg["dropout"], seed=cfg["seed"]),
                      reg=cfg["reg"])


def _mri_solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Exponential lr schedule, per-minibatch flip/rotation augmentation from a checkpointed RandomState(seed)."""
    from nnlab.data.augment import Compose, RandomHorizontalFlip, RandomRotation, augment_batches
    from nnlab.schedules import exponential_decay

    augment = Compose([RandomHorizontalFlip(cfg["flip_p"]),
                       RandomRotation(cfg["rotation_degrees"], p=cfg["rotation_p"])])
    rng = np.random.RandomState(cfg["seed"])
    return {"lr_schedule": exponential_decay(cfg["learning_rate"], cfg["gamma"]),
            "batch_transform": augment_batches(augment, seed=rng), "rng_sources": {"augment": rng},
            "verbose": True, "print_every": 0}


def _row_hashes(X: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest() for x in X]


def _mri_score(run: RunResult) -> dict[str, Any]:
    """Accuracy on the train and test splits present (val IS test: ``val_acc`` = ``test_acc``, scored once) and,
    with the training split at hand, on the test images that are not byte-duplicates of a training image."""
    from nnlab.scores import predict_scores

    model, data = run.model, run.data

    def accuracy(X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(predict_scores(model, X), axis=1) == y))

    out: dict[str, Any] = {}
    if data.get("X_train") is not None:
        out["train_acc"] = accuracy(data["X_train"], data["y_train"])
    if data.get("X_val") is not None and data.get("X_val") is not data.get("X_test"):
        out["val_acc"] = accuracy(data["X_val"], data["y_val"])  # evaluate --split val
    if data.get("X_test") is not None:
        out["test_acc"] = accuracy(data["X_test"], data["y_test"])
        if data.get("X_val") is None or data.get("X_val") is data["X_test"]:
            out["val_acc"], out["val_is_test"] = out["test_acc"], True
        if data.get("X_train") is not None:
            train_hashes = set(_row_hashes(data["X_train"]))
            unique = np.array([h not in train_hashes for h in _row_hashes(data["X_test"])])
            out["test_duplicates_of_train"] = int((~unique).sum())
            out["test_acc_unique"] = (accuracy(data["X_test"][unique], data["y_test"][unique])
                                      if unique.any() else None)
    return out


MRI_CNN = Recipe(
    name="mri-cnn",
    summary="seed-003 MRI CNN (4 convs, 3 dense, LeakyReLU, dropout 0.2) on brain-tumor MRI 1x84x84: "
            "Adamax 2e-3, ExponentialLR 0.9, batch 32, flip/rotation augmentation, 10 epochs (seed 003 §5)",
    expected="best validation (= test split) accuracy >= 0.843 (spec, epoch 7 of 7)",
    settings=[
        Setting("size", "int", 84, "images are resized to size x size", low=4),
        Setting("crop_lr", "float", 60 / 512, "fraction of the width cut from each side before the resize", low=0,
                high=0.5, high_open=True),
        Setting("downsample", "int", 1, "mean over k x k blocks after the resize (quick runs)", low=1),
        Setting("max_train", "int", None, "keep this many training images (stratified, seeded)", low=1,
                nullable=True),
        Setting("max_test", "int", None, "keep this many test images (stratified, seeded)", low=1, nullable=True),
        Setting("dropout", "float", 0.2, "drop probability of the dropout layers", low=0, high=1, high_open=True),
        Setting("reg", "float", 0.0, "L2 strength (0.5 * reg * sum W^2)", low=0),
        *(s for s in standard_solver_settings(update_rule="adamax", learning_rate=2e-3, num_epochs=10,
                                              batch_size=32, seed=0, num_train_samples=1000)
          if s.name != "lr_decay"),
        Setting("gamma", "float", 0.9, "exponential lr decay per epoch (ExponentialLR)", low=0, low_open=True),
        Setting("flip_p", "float", 0.2, "probability of a horizontal flip", low=0, high=1),
        Setting("rotation_degrees", "float", 36.0, "rotations drawn uniformly within +-this many degrees", low=0),
        Setting("rotation_p", "float", 0.2, "probability of a rotation", low=0, high=1),
        Setting("data_path", "path", None, "brain_tumor_mri_224.zip or its folder (default "
                "$NNLAB_DATA/brain_tumor_mri)", nullable=True),
    ],
    # CI: 480 training / 200 test images at 42x42 (2x2 mean of the 84x84 images), 3 short epochs (~10 s).
    quick={"downsample": 2, "max_train": 480, "max_test": 200, "num_epochs": 3, "learning_rate": 2e-3,
           "num_train_samples": 200},
    data=_mri_data,
    model=_mri_model,
    solver=_mri_solver,
    score=_mri_score,
    plots=_filter_plots("feature_extractor.0.weight", "MRI CNN first-layer filters (3x3)"),
)

RECIPES = [CIFAR10_CONVNET, MRI_CNN]
