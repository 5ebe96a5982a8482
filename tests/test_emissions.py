"""--track-emissions for real: codecarbon's offline tracker around a short digits run, the keys merged into
metrics.json, the country's carbon intensity used, and a clear error when codecarbon is missing."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from nnlab.cli import main
from nnlab.emissions import EmissionsUnavailableError, require_codecarbon, track_emissions

pytest.importorskip("codecarbon")

KEYS = ("energy_kwh", "emissions_kg_co2e", "duration_s", "tracker")


def _busy(seconds_of_matmul: int = 20) -> None:
    a = np.random.default_rng(0).random((300, 300))
    for _ in range(seconds_of_matmul):
        a = np.tanh(a @ a)


def test_train_quick_with_track_emissions_writes_energy_into_metrics(tmp_path, capsys):
    assert main(["train", "--quick", "--track-emissions", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_acc"] > 0.9  # the recipe's own metrics are kept
    assert metrics["energy_kwh"] > 0 and metrics["emissions_kg_co2e"] > 0 and metrics["duration_s"] > 0
    assert "OfflineEmissionsTracker" in metrics["tracker"]
    assert (run_dir / "emissions.csv").exists()
    assert "kWh" in out and "kg CO2e" in out
    assert "codecarbon INFO" not in out + capsys.readouterr().err


def test_track_emissions_uses_the_country_grid_and_fills_the_result_at_exit(tmp_path):
    intensity = {}
    for country in ("USA", "FRA"):
        with track_emissions(tmp_path / country, project_name="t", country_iso_code=country,
                             save_to_file=False) as result:
            assert result.energy_kwh is None  # measured when the block ends
            _busy()
        assert set(result.as_metrics()) == set(KEYS)
        assert result.energy_kwh > 0 and result.duration_s > 0 and f"country {country}" in result.tracker
        intensity[country] = result.emissions_kg_co2e / result.energy_kwh
    # kg CO2e per kWh of the national grids in codecarbon's table: France's is several times lower
    assert intensity["FRA"] < 0.5 * intensity["USA"]


def test_track_emissions_stops_the_tracker_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with track_emissions(tmp_path, save_to_file=False, country_iso_code="USA") as result:
            raise RuntimeError("boom")
    assert result.energy_kwh is not None and result.duration_s >= 0


def test_missing_codecarbon_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # makes `import codecarbon` raise ImportError
    with pytest.raises(EmissionsUnavailableError, match='pip install "nnlab\\[emissions\\]"'):
        require_codecarbon()
    assert main(["train", "--quick", "--track-emissions", "--out", str(tmp_path)]) == 2
    assert 'pip install "nnlab[emissions]"' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing trained, no run directory


def test_track_emissions_rejects_a_bad_interval(tmp_path):
    with pytest.raises(ValueError, match="measure_power_secs must be > 0"):
        with track_emissions(tmp_path, measure_power_secs=0):
            pass
