"""The char-transformer recipes: held-out split at macbeth's cut with no window crossing it, the all-position loss
against the model's own training loss, the TimeBudget callback, and (data) `nnlab train macbeth-transformer
--quick` through the CLI: loss far below uniform, the run reloading to its exact held-out loss, `nnlab predict`
/ `nnlab generate` sampling from it; tiny-shakespeare read raw with its own vocabulary."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nnlab.callbacks import TimeBudget
from nnlab.cli import main
from nnlab.models.transformer import CharTransformer
from nnlab.recipes import get_recipe
from nnlab.recipes.char_transformer import all_position_loss, text_splits
from nnlab.recipes.contract import SettingError, resolve_settings
from nnlab.recipes.macbeth import split_windows
from nnlab.runs import load_recipe_data, load_run
from tests.recipes.recipe_helpers import one_blas_thread


@pytest.mark.parametrize("num_chars,T,frac,stride", [(1000, 30, 0.1, 1), (1001, 16, 0.25, 7), (5000, 128, 0.1, 32)])
def test_text_splits_cut_where_macbeth_cuts_and_no_window_crosses(num_chars, T, frac, stride):
    train, val = text_splits(num_chars, T, frac, stride)
    cut = int(round(num_chars * (1 - frac)))
    m_train, m_val = split_windows(num_chars - T, T, frac, 1000)  # macbeth-lstm's windows on the same text
    assert val[0] == m_val[0] == cut and train[-1] + T < cut and m_train[-1] + T == cut - 1
    np.testing.assert_array_equal(train, m_train[::stride])
    np.testing.assert_array_equal(np.diff(val), T)  # held-out windows do not overlap ...
    assert val[-1] + T <= num_chars - 1 < val[-1] + 2 * T  # ... each has its next character, and all are used
    assert len(text_splits(num_chars, T, frac, stride, max_windows=3)[0]) == min(3, len(train))


def test_text_splits_and_settings_reject_an_empty_split():
    with pytest.raises(ValueError, match="val_fraction=0.01 with sequence_len=30 leaves .* 0 held-out"):
        text_splits(1000, 30, 0.01, 1)
    recipe = get_recipe("macbeth-transformer")
    with pytest.raises(SettingError, match="'val_fraction' must be float in \\(0, 1\\)"):
        resolve_settings(recipe, {"val_fraction": 0})
    with pytest.raises(SettingError, match="'activation' must be one of 'relu', 'gelu'"):
        resolve_settings(recipe, {"activation": "tanh"})


def test_all_position_loss_is_the_models_loss_in_eval_mode_and_restores_training_mode():
    rng = np.random.default_rng(0)
    model = CharTransformer(11, 16, 2, 2, 32, max_len=9, dropout=0.3, seed=1, dtype=np.float64)
    X, y = rng.integers(0, 11, (7, 9)), rng.integers(0, 11, 7)
    targets = np.concatenate([X[:, 1:], y[:, None]], axis=1)
    loss, acc = all_position_loss(model, X, y, batch_size=3)  # batches of 3, 3, 1 windows
    assert model.training
    model.eval()
    expected, _ = model.loss(X, targets)
    scores = model.forward(X)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert acc == np.mean(np.argmax(scores, axis=2) == targets)


class _FakeSolver:
    num_epochs = 10
    stop_training = False
    stop_reason = None


def test_time_budget_stops_at_the_last_epoch_that_fits(monkeypatch):
    clock = iter([100.0, 130.0, 160.0, 185.0])  # begin, then three epochs of 30, 30, 25 s
    monkeypatch.setattr("nnlab.callbacks.time.perf_counter", lambda: next(clock))
    cb, solver = TimeBudget(100), _FakeSolver()
    cb.on_train_begin(solver)
    cb.on_epoch_end(solver, 1)  # 30 s + 30 s fits
    assert not solver.stop_training
    cb.on_epoch_end(solver, 2)  # 60 s + 30 s = 90 s fits
    assert not solver.stop_training
    cb.on_epoch_end(solver, 3)  # 85 s + 25 s = 110 s would not
    assert solver.stop_training and cb.stopped_epoch == 3 and "budget_s=100" in solver.stop_reason
    with pytest.raises(ValueError, match="budget_s must be a finite number of seconds > 0, got 0"):
        TimeBudget(0)


def _train(name, tmp_path, data_file, *sets):
    args = ["train", name, "--quick", "--out", str(tmp_path), "--set", f"data_path={data_file}"]
    with one_blas_thread():
        assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    (run_dir,) = tmp_path.iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.data
def test_macbeth_transformer_quick_learns_reloads_exactly_and_samples(tmp_path, data_dir, capsys):
    run_dir, metrics = _train("macbeth-transformer", tmp_path / "runs", data_dir / "text" / "macbeth.txt")
    assert metrics["status"] == "finished" and metrics["epochs_done"] == 2 and metrics["iterations"] == 96
    # uniform guessing gives log(37) = 3.61 and character frequencies alone ~3.0; 96 AdamW steps reach ~2.4 on
    # the held-out tenth of the play (measured 2.417), which no guess without context can
    assert metrics["uniform_loss"] == pytest.approx(math.log(37))
    assert metrics["val_loss"] < 2.7 and metrics["train_loss"] < 2.7 and metrics["test_loss"] == metrics["val_loss"]
    assert len(metrics["val_loss_history"]) == 2 and metrics["val_loss_history"][-1] < metrics["val_loss_history"][0]
    assert len(metrics["sample"]) == 100 and {"loss.png", "model.npz"} <= {p.name for p in run_dir.iterdir()}

    run = load_run(run_dir)
    data = load_recipe_data(get_recipe(run.recipe), run.settings)
    assert data["X_val"].shape[1] == 64 and data["X_train"].shape == (1536, 64)
    for split in ("val", "test"):
        again = run.evaluate(split)
        assert again[f"{split}_loss"] == metrics[f"{split}_loss"] and again[f"{split}_acc"] == metrics[f"{split}_acc"]
    assert run.info["vocab"] == run.model.vocab and len(run.info["vocab"]) == 37

    capsys.readouterr()
    prompt = "the thane of cawdor lives. why do you dress me in borrowed robes?"
    args = ["predict", str(run_dir), "--seed-text", prompt, "--length", "40", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out.rstrip("\n")
    assert len(out) == 40 and set(out) <= set(run.info["vocab"])
    assert out == run.sample(prompt, 40, 0.75, seed=3)
    assert main(["generate", str(run_dir), "--seed-text", prompt, "--length", "40", "--seed", "3"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == out


@pytest.mark.data
def test_shakespeare_transformer_reads_the_raw_text_and_a_time_budget_stops_it_after_one_epoch(tmp_path, data_dir):
    run_dir, metrics = _train("shakespeare-transformer", tmp_path, data_dir / "text", "val_fraction=0.01",
                              "max_windows=256", "time_budget_s=1e-3", "sample_length=20")
    assert metrics["status"] == "stopped" and metrics["epochs_done"] == 1 and "time budget" in metrics["reason"]
    assert metrics["uniform_loss"] == pytest.approx(math.log(65)) and metrics["val_loss"] < math.log(65)
    run = load_run(run_dir)
    assert run.info["vocab"] == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    assert run.evaluate("val")["val_loss"] == metrics["val_loss"]
    assert len(run.sample("ROMEO:\n", 20, 0.75, seed=0)) == 20
