"""The `nnlab` command: recipe listing, setting parsing, errors, and the default recipe end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nnlab.cli import UsageError, main, parse_setting


def test_parse_setting_splits_key_and_keeps_the_value_as_text():
    assert parse_setting("learning_rate=1e-3") == ("learning_rate", "1e-3")
    assert parse_setting("hidden_dims=[64, 32]") == ("hidden_dims", "[64, 32]")
    for bad in ("learning_rate", "=3", "1x=2"):
        with pytest.raises(UsageError, match="KEY=VALUE"):
            parse_setting(bad)


def test_train_list_names_the_default_recipe(capsys):
    assert main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    assert "digits-mlp (default)" in out and "expected:" in out


def test_train_unknown_recipe_and_unknown_setting_exit_2_with_message(tmp_path, capsys):
    assert main(["train", "no-such-recipe", "--out", str(tmp_path)]) == 2
    assert "unknown recipe 'no-such-recipe'" in capsys.readouterr().err
    assert main(["train", "--quick", "--set", "learnin_rate=1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "learnin_rate" in err and "learning_rate" in err  # names the bad key and lists the known ones
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_train_quick_default_recipe_writes_run_directory(tmp_path, capsys):
    assert main(["train", "--quick", "--out", str(tmp_path), "--json", "--no-progress"]) == 0
    (run_dir,) = list(tmp_path.iterdir())
    assert run_dir.name.startswith("digits-mlp-")
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "metrics.json", "curves.png", "confusion.png", "model.npz"} <= names
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["val_acc_history"]) == 3 + 1  # --quick = 3 epochs, plus the epoch-0 check
    assert metrics["test_acc"] > 0.85  # 3 epochs of Adam on digits; chance is 0.10
    with np.load(run_dir / "model.npz", allow_pickle=False) as weights:  # arrays, no pickle
        assert weights["params/W1"].shape == (64, 256)
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["test_acc"] == pytest.approx(metrics["test_acc"])


def test_default_recipe_reaches_097_test_accuracy(tmp_path):
    """The README's first command: `nnlab train` on digits must reach >= 0.97 test accuracy."""
    from nnlab import runner
    from nnlab.recipes import get_recipe

    metrics = runner.train(get_recipe("digits-mlp"), out=tmp_path, progress=False).metrics
    assert metrics["test_acc"] >= 0.97, metrics["test_acc"]


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "nnlab.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("nnlab ")
