"""The macbeth recipes on the real text: a short run whose loss drop cannot happen by chance, its artifacts,
and `nnlab generate` on the run directory."""

from __future__ import annotations

import json
import math

import pytest

from nnlab.cli import main
from nnlab.recipes import get_recipe
from nnlab.recipes.artifacts import UnknownSettingError


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


@pytest.mark.data
def test_macbeth_rnn_short_run_learns_and_generate_samples_from_it(tmp_path, data_dir, capsys):
    recipe = get_recipe("macbeth-rnn")
    with _one_blas_thread():  # BLAS threads fighting over a loaded CI box make this 8x slower
        metrics = recipe.run(tmp_path, quick=True, data_path=str(data_dir / "text" / "macbeth.txt"),
                             max_windows=2000, num_epochs=1, sample_length=20)
    # untrained logits give ~log(37) = 3.61 on the first batch; 32 RMSprop steps must bring the epoch mean far
    # below it (a uniform guess cannot go under 3.61; character frequencies alone give ~3.0)
    assert abs(metrics["first_batch_loss"] - math.log(37)) < 0.15
    assert metrics["final_loss"] < 2.6  # measured 2.22
    assert len(metrics["sample"]) == 20
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "losses.json", "loss.png", "model.npz",
                                                     "metrics.json"}
    losses = json.loads((tmp_path / "losses.json").read_text())["losses"]
    assert losses == metrics["losses"] and len(losses) == 1

    capsys.readouterr()
    assert main(["generate", str(tmp_path), "--seed-text", "the thane of cawdor lives. why", "--length", "25",
                 "--temperature", "0.75", "--seed", "3"]) == 0
    first = capsys.readouterr().out.rstrip("\n")
    assert main(["generate", str(tmp_path), "--seed-text", "the thane of cawdor lives. why", "--length", "25",
                 "--temperature", "0.75", "--seed", "3"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == first and len(first) == 25
    assert main(["generate", str(tmp_path), "--seed-text", "abc", "--temperature", "0"]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err


def test_macbeth_recipes_reject_unknown_settings(tmp_path):
    with pytest.raises(UnknownSettingError, match="no setting\\(s\\) hidden_units"):
        get_recipe("macbeth-lstm").run(tmp_path, quick=True, hidden_units=3)


def test_generate_cli_reports_a_missing_run_dir(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope"), "--seed-text", "abc"]) == 2
    assert "config.json not found" in capsys.readouterr().err
