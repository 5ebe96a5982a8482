"""The conv-net recipes ``cifar10-convnet`` and ``mri-cnn`` on the recipe contract: short runs on the real data that
must learn far beyond chance, reload with ``load_run`` (``evaluate`` reproduces metrics.json exactly, ``predict``
equals the in-memory model), ``nnlab predict`` on PNGs of MRI scans, an interrupted augmented run that resumes to
the parameters of an uninterrupted one, and bad settings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnlab import cli, runner
from nnlab.io import load_arrays
from nnlab.recipes import SettingError
from nnlab.recipes.convnets import downsample2, stratified_subset
from nnlab.runs import load_run, predict_scores
from tests.recipes.recipe_helpers import KeepModel, one_blas_thread

ARTIFACTS = {"config.json", "metrics.json", "curves.png", "confusion.png", "model.npz", "filters.png",
             "checkpoint_latest.npz"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_pngs(run_dir) -> None:
    for name in ("curves.png", "confusion.png", "filters.png"):
        assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC, f"{name} is not a PNG"


def _train_quick(name, tmp_path, overrides=None):
    recipe, cfg = runner.prepare(name, overrides or {}, quick=True)
    keep = KeepModel()
    with one_blas_thread():
        outcome = runner.train(recipe, cfg, quick=True, out=tmp_path, progress=False, callbacks=[keep])
    np.random.seed(cfg["seed"])
    return outcome, keep.model, recipe.data(cfg)


@pytest.mark.data
def test_cifar10_convnet_quick_run_learns_far_above_chance_and_reloads(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    outcome, model, data = _train_quick("cifar10-convnet", tmp_path)
    metrics, run_dir = outcome.metrics, outcome.run_dir
    assert outcome.status == "finished"
    assert {p.name for p in run_dir.iterdir()} >= ARTIFACTS
    _assert_pngs(run_dir)
    loss = metrics["loss_history"]
    # weight_scale 1e-3 gives near-zero scores, so the first loss is log(10) (spec: 2.304740)
    assert abs(loss[0] - math.log(10)) < 0.02
    assert metrics["iterations"] == len(loss) == 40  # 2 epochs x 1000 // 50
    # 40 Adam steps on 1000 images: measured val 0.245, mean loss of the last 20 steps 2.04 (chance: 0.10, 2.30)
    assert metrics["val_acc"] >= 0.17
    assert np.mean(loss[-20:]) < loss[0] - 0.12
    assert metrics["best_val_acc"] == max(metrics["val_acc_history"])
    config = json.loads((run_dir / "config.json").read_text())
    settings = config["settings"]
    assert (settings["hidden_dim"], settings["reg"], settings["weight_scale"]) == (500, 1e-3, 1e-3)
    assert config["info"]["image"]["layout"] == "nchw" and config["info"]["input_shape"] == [3, 32, 32]
    with np.load(run_dir / "model.npz") as z:
        assert z["params/W1"].shape == (32, 3, 7, 7) and z["params/W2"].shape == (32 * 16 * 16, 500)
        assert z["params/W1"].dtype == np.float32 and z["info/mean"].shape == (3, 32, 32)

    run = load_run(run_dir)
    assert run.evaluate("test") == {"test_acc": metrics["test_acc"]}
    assert run.evaluate("val") == {"val_acc": metrics["val_acc"]}
    np.testing.assert_array_equal(run.predict(data["X_test"]),
                                  np.argmax(predict_scores(model, data["X_test"]), axis=1))


def _mri_pngs(tmp_path, data_dir, seed: int, picks: list[int]) -> list[str]:
    """PNGs of the original (224x224 grey) test scans at positions ``picks`` of the quick test subset."""
    from PIL import Image

    from nnlab.data.images import MRI_CLASSES, load_image_folder

    parts, _ = load_image_folder(data_dir / "brain_tumor_mri" / "brain_tumor_mri_224.zip", ("Testing",),
                                 MRI_CLASSES, size=None, grayscale=True)
    X, y = parts["Testing"]
    keep = stratified_subset(y, 200, seed)  # the quick run's test subset (max_test=200)
    files = []
    for j in picks:
        path = tmp_path / f"scan{j}.png"
        Image.fromarray(X[keep[j], 0]).save(path)
        files.append(str(path))
    return files


@pytest.mark.data
def test_mri_cnn_quick_run_learns_far_above_chance_reloads_and_predicts_pngs(tmp_path, data_dir, monkeypatch,
                                                                              capsys):
    from nnlab.data.images import MRI_CLASSES

    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    outcome, model, data = _train_quick("mri-cnn", tmp_path / "runs")
    metrics, run_dir = outcome.metrics, outcome.run_dir
    assert outcome.status == "finished"
    assert {p.name for p in run_dir.iterdir()} >= ARTIFACTS
    _assert_pngs(run_dir)
    loss = metrics["loss_history"]
    assert abs(loss[0] - math.log(4)) < 0.1  # 4 classes, torch-style init
    # 45 Adamax steps on 480 images at 42x42: measured best val 0.44-0.45 on 200 test images (chance 0.25)
    assert metrics["best_val_acc"] >= 0.35
    assert np.mean(loss[-20:]) < loss[0] - 0.04
    # val is the test split, as in the seed; the best epoch's weights are restored, so test acc = best val acc
    assert metrics["val_is_test"] and metrics["val_acc"] == metrics["test_acc"]
    assert metrics["test_acc"] == pytest.approx(metrics["best_val_acc"])
    assert metrics["epochs_done"] == 3 and len(loss) == 45
    assert 0 <= metrics["test_duplicates_of_train"] < 200 and 0 < metrics["test_acc_unique"] <= 1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["update_rule"] == "adamax" and config["settings"]["batch_size"] == 32
    assert config["info"]["image"] == {"height": 42, "width": 42, "mode": "L", "scale": 1 / 255, "layout": "nchw",
                                       "crop_lr": 60 / 512, "downsample": 2, "dtype": "float32"}
    with np.load(run_dir / "model.npz") as z:
        assert z["params/feature_extractor.0.weight"].shape == (8, 1, 3, 3)
        assert z["params/classifier.6.weight"].shape == (4, 128)

    run = load_run(run_dir)
    assert run.evaluate("test")["test_acc"] == metrics["test_acc"]
    assert run.evaluate("val")["val_acc"] == metrics["val_acc"]
    np.testing.assert_array_equal(run.predict(data["X_test"]),
                                  np.argmax(predict_scores(model, data["X_test"]), axis=1))

    # nnlab predict on PNGs of the original scans: cropped, resized, scaled and downsampled as the training data
    picks = [0, 60, 110, 170]  # one scan of each class
    files = _mri_pngs(tmp_path, data_dir, seed=0, picks=picks)
    np.testing.assert_allclose(run.load_images(files), data["X_test"][picks], atol=1e-6)
    expected = run.predict(data["X_test"][picks])
    capsys.readouterr()
    assert cli.main(["predict", str(run_dir), *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[f, MRI_CLASSES[k]] for f, k in zip(files, expected)]


class StopAfterEpoch:
    """Solver callback: Ctrl-C at the end of epoch ``epoch`` (the checkpoint of that epoch is written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, solver, epoch: int) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.data
def test_mri_cnn_interrupted_run_resumes_to_the_parameters_of_an_uninterrupted_one(tmp_path, data_dir,
                                                                                     monkeypatch):
    """The augmentation stream (and dropout masks, minibatches) continue from the checkpoint: bit-identical."""
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    small = {"downsample": 4, "max_train": 160, "max_test": 80, "num_epochs": 2, "num_train_samples": 80,
             "learning_rate": 1e-3, "gamma": 0.5, "flip_p": 0.5, "rotation_p": 0.5}
    recipe, cfg = runner.prepare("mri-cnn", small)
    with one_blas_thread():
        whole = runner.train(recipe, cfg, out=tmp_path / "whole", progress=False)
        with pytest.raises(runner.TrainingInterrupted) as stopped:
            runner.train(recipe, cfg, out=tmp_path / "split", progress=False, callbacks=[StopAfterEpoch(1)])
        run_dir = stopped.value.run_dir
        assert json.loads((run_dir / "metrics.json").read_text())["status"] == "stopped"
        resumed = runner.resume(run_dir, progress=False)
    assert resumed.status == "finished"
    assert resumed.metrics["loss_history"] == whole.metrics["loss_history"]
    assert len(whole.metrics["loss_history"]) == 10  # 2 epochs of 160 // 32
    a, _ = load_arrays(whole.run_dir / "model.npz")
    b, _ = load_arrays(resumed.run_dir / "model.npz")
    assert set(a) == set(b) and any(k.startswith("params/") for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_convnet_recipes_reject_unknown_settings_and_bad_values():
    with pytest.raises(SettingError, match="no setting 'num_filter'; did you mean 'num_filters'"):
        runner.prepare("cifar10-convnet", {"num_filter": 16}, quick=True)
    with pytest.raises(SettingError, match="no setting 'lr'"):
        runner.prepare("mri-cnn", {"lr": 1e-2}, quick=True)
    with pytest.raises(SettingError, match="setting 'crop_lr' must be float in \\[0, 0.5\\)"):
        runner.prepare("mri-cnn", {"crop_lr": 0.5})
    with pytest.raises(SettingError, match="no setting 'lr_decay'"):  # the lr follows gamma's schedule
        runner.prepare("mri-cnn", {"lr_decay": 0.9})


def test_mri_cnn_solver_hook_checkpoints_the_augmentation_rng_and_decays_exponentially():
    recipe, cfg = runner.prepare("mri-cnn", {})
    opts = runner.solver_options(recipe, cfg, {})
    rng = opts["rng_sources"]["augment"]
    assert isinstance(rng, np.random.RandomState)
    np.testing.assert_array_equal(rng.get_state()[1], np.random.RandomState(0).get_state()[1])
    X = np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4)
    opts["batch_transform"](X, np.zeros(2, dtype=np.int64))
    assert not np.array_equal(rng.get_state()[1], np.random.RandomState(0).get_state()[1])  # it drew from it
    schedule = opts["lr_schedule"]
    assert [schedule(e) for e in range(3)] == pytest.approx([2e-3, 2e-3 * 0.9, 2e-3 * 0.81])
    assert (opts["update_rule"], opts["batch_size"], opts["num_epochs"]) == ("adamax", 32, 10)


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
