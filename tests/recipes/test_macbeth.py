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


# The spec's per-epoch losses (seed 003 §7.3).
SPEC_LOSSES = {
    "macbeth-rnn": [1.9891, 1.7758, 1.6964, 1.6467, 1.6124, 1.5882, 1.5658, 1.5501, 1.5378, 1.5236],
    "macbeth-lstm": [1.9696, 1.7319, 1.6408, 1.5851, 1.5424, 1.5062, 1.4783, 1.4528, 1.4305, 1.4117],
}


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", ["macbeth-rnn", "macbeth-lstm"])
def test_full_macbeth_run_meets_the_seeds_final_loss(tmp_path, data_dir, name):
    """The full recipe with its defaults (about 4 min for the RNN, 11 min for the LSTM on one core). Measured with
    the default seed 1: RNN 1.5215, LSTM 1.4078; every epoch lies within 0.006 of the seed's printed loss."""
    with _one_blas_thread():
        metrics = get_recipe(name).run(tmp_path, progress=False, data_path=str(data_dir / "text" / "macbeth.txt"))
    assert len(metrics["losses"]) == 10
    assert metrics["final_loss"] <= SPEC_LOSSES[name][-1]
    assert all(b < a for a, b in zip(metrics["losses"], metrics["losses"][1:]))  # monotone, as the seed's
    assert max(abs(a - b) for a, b in zip(metrics["losses"], SPEC_LOSSES[name])) < 0.01
