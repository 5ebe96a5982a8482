"""Recipe ``cifar10-resnet`` (issue 15 item 7): its ``--quick`` run on the real (JPEG) CIFAR-10 learns far beyond
chance through ``nnlab train``, reloads (``evaluate`` reproduces metrics.json exactly, ``predict`` equals the
in-memory model, ``nnlab predict`` on PNGs of test images prepares them exactly as the training data), and its
pieces: flip test-time augmentation, label-smoothed loss and weight decay against torch, the solver hook's
one-cycle schedule and augmentation RNG, bad settings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnlab import cli, runner
from nnlab.models import Classifier, resnet_fast
from nnlab.recipes import SettingError, get_recipe
from nnlab.recipes.contract import resolve_settings
from nnlab.recipes.resnet import INPUT_DIVISOR, FlipTTAClassifier
from nnlab.runs import load_run, predict_scores
from tests.recipes.recipe_helpers import KeepModel, one_blas_thread


def _only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.data
def test_quick_run_through_the_cli_learns_far_above_chance_and_evaluate_reproduces_it(tmp_path, data_dir,
                                                                                       monkeypatch):
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    with one_blas_thread():
        assert cli.main(["train", "cifar10-resnet", "--quick", "--out", str(tmp_path)]) == 0
    run_dir = _only_run(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    loss = metrics["loss_history"]
    assert metrics["iterations"] == len(loss) == 6 * (1000 // 64)  # 6 epochs of full batches (drop_last)
    assert abs(loss[0] - math.log(10)) < 0.1  # head scale 0.125: near-uniform first scores
    # 90 SGD steps on 1000 images, widths 8/16/32: measured test 0.32 on 500 test images (chance 0.10)
    assert metrics["test_acc"] >= 0.2
    assert np.mean(loss[-15:]) < loss[0] - 0.1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["widths"] == [8, 16, 32] and config["settings"]["tta"] is True
    assert config["info"]["image"]["scale"] == 1 / INPUT_DIVISOR
    run = load_run(run_dir)
    assert run.evaluate("test") == {"test_acc": metrics["test_acc"]}
    assert run.evaluate("val") == {"val_acc": metrics["val_acc"]}


@pytest.mark.data
def test_quick_run_reloads_predicts_like_the_in_memory_model_and_pngs_like_the_data(tmp_path, data_dir,
                                                                                     monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    recipe, cfg = runner.prepare("cifar10-resnet", {}, quick=True)
    keep = KeepModel()
    with one_blas_thread():
        outcome = runner.train(recipe, cfg, quick=True, out=tmp_path / "runs", progress=False, callbacks=[keep])
    np.random.seed(cfg["seed"])
    data = recipe.data(cfg)
    assert data["X_test"].shape == (500, 3, 32, 32) and data["X_test"].dtype == np.float32
    run = load_run(outcome.run_dir)
    assert run.evaluate("test")["test_acc"] == outcome.metrics["test_acc"]
    expected = np.argmax(predict_scores(keep.model, data["X_test"]), axis=1)
    np.testing.assert_array_equal(run.predict(data["X_test"]), expected)
    assert outcome.metrics["test_acc"] == float(np.mean(expected == data["y_test"]))

    # PNGs of test images: scale 1/64 and mean / 64 in info reproduce the training preprocessing exactly
    mean = data["info"]["mean"] * INPUT_DIVISOR
    picks = [0, 7, 123, 499]
    files = []
    for j in picks:
        pixels = np.rint(data["X_test"][j].astype(np.float64) * INPUT_DIVISOR + mean).astype(np.uint8)
        path = tmp_path / f"test{j}.png"
        Image.fromarray(pixels.transpose(1, 2, 0)).save(path)
        files.append(str(path))
    np.testing.assert_array_equal(run.load_images(files), data["X_test"][picks])
    capsys.readouterr()
    assert cli.main(["predict", str(outcome.run_dir), *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = run.class_names
    assert [line.split("\t")[:2] for line in lines] == [[f, names[k]] for f, k in zip(files, expected[picks])]


def test_flip_tta_scores_average_the_mirror_images_and_are_flip_invariant(rng):
    net = resnet_fast(widths=(4, 8), stem_width=4, image_size=16, seed=0, dtype=np.float64)
    X = rng.standard_normal((5, 3, 16, 16))
    plain = FlipTTAClassifier(net, tta=False)
    a = plain.loss(X)
    b = plain.loss(np.ascontiguousarray(X[..., ::-1]))
    tta = FlipTTAClassifier(net, tta=True)
    np.testing.assert_allclose(tta.loss(X), (a + b) / 2, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(tta.loss(X), tta.loss(np.ascontiguousarray(X[..., ::-1])))
    assert not net.training  # scores are computed in eval mode
    # the option of nnlab.models.Classifier that the old recipe class now only spells
    option = Classifier(net, tta="flip")
    np.testing.assert_array_equal(option.loss(X), tta.loss(X))
    assert (option.tta, tta.tta, plain.tta) == ("flip", "flip", None)


def test_classifier_options_refuse_bad_values():
    net = resnet_fast(widths=(4,), stem_width=4, image_size=8, seed=0, dtype=np.float64)
    with pytest.raises(ValueError, match="Classifier: tta must be None or one of 'flip', got 'rotate'"):
        Classifier(net, tta="rotate")
    with pytest.raises(ValueError, match="Classifier: label_smoothing must be in"):
        Classifier(net, label_smoothing=1.5)
    with pytest.raises(ValueError, match="softmax loss only"):
        Classifier(net, loss="svm", label_smoothing=0.1)


def test_the_recipe_builds_a_classifier_with_the_tta_option():
    recipe = get_recipe("cifar10-resnet")
    cfg = resolve_settings(recipe, {"widths": [4], "residual": [0], "stem_width": 4}, quick=True)
    model = recipe.model(cfg, {"input_shape": [3, 16, 16], "num_classes": 10})
    assert type(model) is Classifier and model.tta == "flip" and model.label_smoothing == cfg["label_smoothing"]
    off = recipe.model({**cfg, "tta": False}, {"input_shape": [3, 16, 16], "num_classes": 10})
    assert off.tta is None


def test_label_smoothed_loss_and_weight_decay_match_torch(rng):
    torch = pytest.importorskip("torch")
    from tests.parity.torch_twins import torch_twin

    net = resnet_fast(widths=(4, 8), stem_width=3, image_size=16, seed=1, dtype=np.float64)
    X = rng.standard_normal((6, 3, 16, 16))
    y = rng.integers(0, 10, 6)
    reg, eps = 5e-4, 0.2
    model = FlipTTAClassifier(net, reg=reg, label_smoothing=eps, tta=True)
    twin = torch_twin(net)
    loss, grads = model.loss(X, y)
    out = torch.nn.functional.cross_entropy(twin(torch.from_numpy(X)), torch.from_numpy(y), label_smoothing=eps)
    named = dict(twin.named_parameters())
    decayed = model.regularized_names()
    assert decayed and all(k.endswith("weight") and ".bn." not in k for k in decayed)
    out = out + 0.5 * reg * sum((named[k] ** 2).sum() for k in decayed)
    out.backward()
    assert loss == pytest.approx(out.item(), rel=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(g, named[k].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


def test_solver_hook_one_cycle_schedule_full_batches_and_checkpointed_augmentation():
    recipe, cfg = runner.prepare("cifar10-resnet", {})
    data = {"X_train": np.zeros((49000, 3, 32, 32), np.float32), "y_train": np.zeros(49000, np.int64)}
    opts = runner.solver_options(recipe, cfg, data)
    assert opts["update_rule"] == "sgd_nesterov_momentum" and opts["batch_order"] == "shuffle"
    assert opts["drop_last"] and opts["keep_best"] is False and opts["num_val_samples"] is None
    assert opts["optim_config"] == {"learning_rate": 0.4, "momentum": 0.9}
    schedule = opts["lr_schedule"]
    total = 12 * (49000 // 512)  # 1140 steps: 12 epochs by default
    lrs = [schedule.lr_at(s) for s in range(total)]
    peak = int(np.argmax(lrs))
    assert lrs[peak] == pytest.approx(0.4) and peak == round(0.25 * total) - 1
    assert lrs[0] == pytest.approx(0.4 / 8) and lrs[-1] < 1e-3
    assert np.all(np.diff(lrs[:peak + 1]) > 0) and np.all(np.diff(lrs[peak:]) < 0)
    rng = opts["rng_sources"]["augment"]
    state = rng.get_state()[1].copy()
    Xb = np.arange(2 * 3 * 32 * 32, dtype=np.float32).reshape(2, 3, 32, 32)
    out, _ = opts["batch_transform"](Xb, np.zeros(2, np.int64))
    assert out.shape == Xb.shape and not np.array_equal(rng.get_state()[1], state)
    cosine = runner.solver_options(recipe, {**cfg, "schedule": "cosine"}, data)["lr_schedule"]
    assert cosine.lr_at(round(0.25 * total)) == pytest.approx(0.4) and cosine.lr_at(total - 1) < 1e-5
    adamw = runner.solver_options(recipe, {**cfg, "update_rule": "adamw", "learning_rate": 2e-3}, data)
    assert adamw["optim_config"] == {"learning_rate": 2e-3, "weight_decay": 5e-4}
    assert recipe.model({**cfg, "update_rule": "adamw"}, {"input_shape": [3, 32, 32], "num_classes": 10}).reg == 0


def test_bad_settings_are_refused_by_name():
    with pytest.raises(SettingError, match="setting 'residual' must be list of int in \\[0, 1\\]"):
        runner.prepare("cifar10-resnet", {"residual": [1, 2, 1]})
    with pytest.raises(SettingError, match="setting 'schedule' must be one of 'onecycle', 'cosine'"):
        runner.prepare("cifar10-resnet", {"schedule": "step"})
    with pytest.raises(SettingError, match="no setting 'width'; did you mean 'widths'"):
        runner.prepare("cifar10-resnet", {"width": [8]})
    recipe, cfg = runner.prepare("cifar10-resnet", {"widths": [8, 16]})
    with pytest.raises(ValueError, match="residual has 3 entries but widths has 2 stages"):
        recipe.model(cfg, {"input_shape": [3, 32, 32], "num_classes": 10})
