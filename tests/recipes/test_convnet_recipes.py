"""The conv-net recipes ``cifar10-convnet`` and ``mri-cnn``: short runs on the real data that must learn far beyond
chance, their artifacts (reloadable weights, PNGs), stop-and-resume of the MRI run, and bad settings."""

from __future__ import annotations

import contextlib
import json
import math

import numpy as np
import pytest

from nnlab.io import load_arrays
from nnlab.recipes import get_recipe
from nnlab.recipes.artifacts import UnknownSettingError
from nnlab.recipes.convnets import StopAfterEpoch, TimeBudget, downsample2, stratified_subset

ARTIFACTS = {"config.json", "metrics.json", "curves.png", "confusion.png", "model.npz", "filters.png",
             "checkpoint_latest.npz"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _assert_pngs(run_dir) -> None:
    for name in ("curves.png", "confusion.png", "filters.png"):
        head = (run_dir / name).read_bytes()[:8]
        assert head == PNG_MAGIC, f"{name} is not a PNG"


@pytest.mark.data
def test_cifar10_convnet_quick_run_learns_far_above_chance(tmp_path, data_dir):
    with _one_blas_thread():
        metrics = get_recipe("cifar10-convnet").run(tmp_path, quick=True, progress=False,
                                                    data_path=str(data_dir / "cifar10"))
    assert {p.name for p in tmp_path.iterdir()} >= ARTIFACTS
    _assert_pngs(tmp_path)
    # weight_scale 1e-3 gives near-zero scores, so the first loss is log(10) (spec: 2.304740)
    assert abs(metrics["first_loss"] - math.log(10)) < 0.02
    assert metrics["iterations"] == 40  # 2 epochs x 1000 // 50
    # 40 Adam steps on 1000 images: measured val 0.245, mean loss of the last 20 steps 2.04 (chance: 0.10, 2.30)
    assert metrics["val_acc"] >= 0.17
    assert metrics["final_loss_mean20"] < metrics["first_loss"] - 0.12
    assert metrics["best_val_acc"] == max(metrics["val_acc_history"])
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["hidden_dim"] == 500 and config["reg"] == 1e-3 and config["weight_scale"] == 1e-3
    params, meta = load_arrays(tmp_path / "model.npz")
    assert params["W1"].shape == (32, 3, 7, 7) and params["W2"].shape == (32 * 16 * 16, 500)
    assert params["W1"].dtype == np.float32
    assert meta["recipe"] == "cifar10-convnet"


@pytest.mark.data
def test_mri_cnn_quick_run_learns_far_above_chance(tmp_path, data_dir):
    with _one_blas_thread():
        metrics = get_recipe("mri-cnn").run(tmp_path, quick=True, progress=False,
                                            data_path=str(data_dir / "brain_tumor_mri"))
    assert {p.name for p in tmp_path.iterdir()} >= ARTIFACTS
    _assert_pngs(tmp_path)
    assert abs(metrics["first_loss"] - math.log(4)) < 0.1  # 4 classes, torch-style init
    # 45 Adamax steps on 480 images at 42x42: measured best val 0.465 on 200 test images (chance 0.25)
    assert metrics["best_val_acc"] >= 0.35
    assert metrics["final_loss_mean20"] < metrics["first_loss"] - 0.04
    # val is the test split, as in the seed; the best epoch's weights are restored, so test acc = best val acc
    assert metrics["val_is_test"] and metrics["test_acc"] == pytest.approx(metrics["best_val_acc"])
    assert metrics["complete"] and metrics["epochs_done"] == 3 and len(metrics["epoch_seconds"]) == 3
    assert metrics["learning_rates"] == pytest.approx([2e-3, 2e-3 * 0.9, 2e-3 * 0.81])
    assert 0 <= metrics["test_duplicates_of_train"] < 200
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["update_rule"] == "adamax" and config["batch_size"] == 32
    assert "RandomHorizontalFlip(p=0.2)" in config["augmentation"] and "p=0.2" in config["augmentation"]
    params, _ = load_arrays(tmp_path / "model.npz")
    assert params["feature_extractor.0.weight"].shape == (8, 1, 3, 3)
    assert params["classifier.6.weight"].shape == (4, 128)


@pytest.mark.data
def test_mri_cnn_stops_after_an_epoch_and_resumes_in_a_new_run_dir(tmp_path, data_dir):
    small = dict(progress=False, data_path=str(data_dir / "brain_tumor_mri"), downsample=4, max_train=160,
                 max_test=80, num_epochs=2, num_train_samples=80, learning_rate=1e-3, gamma=0.5)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    recipe = get_recipe("mri-cnn")
    with _one_blas_thread():
        m1 = recipe.run(first, stop_after_epoch=1, **small)
        m2 = recipe.run(second, resume_from=str(first), **small)
    assert m1["epochs_done"] == 1 and not m1["complete"] and "stop_after_epoch" in m1["stop_reason"]
    assert len(m1["loss_history"]) == 5  # 160 // 32 iterations per epoch
    assert m2["epochs_done"] == 2 and m2["complete"]
    assert m2["loss_history"][:5] == m1["loss_history"] and len(m2["loss_history"]) == 10
    assert m2["val_acc_history"][:2] == m1["val_acc_history"] and len(m2["val_acc_history"]) == 3
    assert len(m2["epoch_seconds"]) == 2 and m2["epoch_seconds"][0] == m1["epoch_seconds"][0]
    # the exponential schedule continues from the checkpoint's epoch: lr after epoch 2 = 1e-3 * 0.5**2
    _, meta = load_arrays(second / "checkpoint_latest.npz")
    assert meta["epoch"] == 2
    assert meta["optim_scalars"]["classifier.6.weight"]["learning_rate"] == pytest.approx(2.5e-4)


@pytest.mark.data
def test_mri_cnn_resume_from_a_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nowhere"):
        get_recipe("mri-cnn").run(tmp_path, quick=True, resume_from=str(tmp_path / "nowhere"))


def test_convnet_recipes_reject_unknown_settings(tmp_path):
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) num_filter;"):
        get_recipe("cifar10-convnet").run(tmp_path, quick=True, num_filter=16)
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) lr;"):
        get_recipe("mri-cnn").run(tmp_path, quick=True, lr=1e-2)


def test_downsample2_averages_blocks_and_keeps_dtype():
    X = np.arange(2 * 1 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5)
    out = downsample2(X, 2)
    assert out.shape == (2, 1, 2, 2) and out.dtype == np.float32
    # block rows 0-1, columns 0-1 of image 0: (0 + 1 + 5 + 6) / 4; the odd last column is dropped
    np.testing.assert_array_equal(out[0, 0], [[3.0, 5.0], [13.0, 15.0]])
    assert downsample2(X, 1) is X


def test_stratified_subset_takes_the_same_number_per_class_reproducibly():
    y = np.repeat([0, 1, 2, 3], [50, 10, 30, 20])
    idx = stratified_subset(y, 40, seed=3)
    np.testing.assert_array_equal(np.bincount(y[idx]), [10, 10, 10, 10])
    np.testing.assert_array_equal(idx, stratified_subset(y, 40, seed=3))
    assert np.all(np.diff(idx) > 0)


def test_stop_after_epoch_rejects_a_non_positive_epoch():
    with pytest.raises(ValueError, match="StopAfterEpoch: epoch must be an integer >= 1, got 0"):
        StopAfterEpoch(0)


def test_time_budget_rejects_a_non_positive_budget():
    with pytest.raises(ValueError, match="TimeBudget: seconds must be > 0, got -1"):
        TimeBudget(-1)


class _FakeSolver:
    num_epochs = 10
    stop_training = False
    stop_reason = None


def test_time_budget_stops_when_another_epoch_would_not_fit(monkeypatch):
    clock = iter([0.0, 100.0, 250.0, 340.0])  # epochs of 100, 150, 90 s
    monkeypatch.setattr("nnlab.recipes.convnets.time.perf_counter", lambda: next(clock))
    budget, solver = TimeBudget(400), _FakeSolver()
    budget.on_train_begin(solver)
    budget.on_epoch_end(solver, 1)  # 100 + 100 <= 400
    assert not solver.stop_training
    budget.on_epoch_end(solver, 2)  # 250 + 150 <= 400
    assert not solver.stop_training
    budget.on_epoch_end(solver, 3)  # 340 + 150 (the slowest epoch) > 400
    assert solver.stop_training and "after epoch 3 of 10" in solver.stop_reason
