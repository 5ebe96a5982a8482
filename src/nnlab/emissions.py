"""Energy and CO2e of a run with codecarbon's offline tracker (``nnlab train --track-emissions``).

Seed 003 §2 wraps its whole notebook in ``EmissionsTracker(log_level="error", save_to_file=True,
output_dir=..., allow_multiple_runs=True)`` and reports ``tracker.stop()`` in kg CO2e. nnlab does the same
around one recipe run, with :class:`codecarbon.OfflineEmissionsTracker` (no network: the build machines have
none), so the grid's carbon intensity comes from a country code: ``$NNLAB_EMISSIONS_COUNTRY``, default ``USA``
(the seed's course ran in Georgia, US). Power is sampled every ``measure_power_secs`` (codecarbon's default
15 s, as the seed) and once more at the end; codecarbon's CSV (``emissions.csv``) goes into the run directory.

codecarbon is an optional dependency: ``pip install "nnlab[emissions]"``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .optional import require

__all__ = ["EmissionsResult", "EmissionsUnavailableError", "require_codecarbon", "track_emissions",
           "CAR_KG_CO2E_PER_KM", "DEFAULT_COUNTRY"]

DEFAULT_COUNTRY = "USA"
CAR_KG_CO2E_PER_KM = 0.17  # seed 003's "average car" figure
_INSTALL_HINT = 'pip install "nnlab[emissions]"'


class EmissionsUnavailableError(ImportError):
    """codecarbon is not installed; the message names the install command."""


@dataclass
class EmissionsResult:
    """What the tracker measured; filled in when the ``with`` block ends.

    Fields: ``energy_kwh`` (energy consumed, kWh: CPU + GPU + RAM), ``emissions_kg_co2e`` (kg CO2-equivalent),
    ``duration_s`` (seconds tracked), ``tracker`` (which tracker, with its country code).
    """

    energy_kwh: float | None = None
    emissions_kg_co2e: float | None = None
    duration_s: float | None = None
    tracker: str = ""

    def as_metrics(self) -> dict[str, Any]:
        """The four fields as a dict, for a run's ``metrics.json``."""
        return asdict(self)

    def summary(self) -> str:
        """One line: energy, CO2e, seconds and the seed's car-distance equivalent."""
        if self.emissions_kg_co2e is None:
            return "emissions: not measured"
        km = self.emissions_kg_co2e / CAR_KG_CO2E_PER_KM
        return (f"emissions: {self.energy_kwh:.3e} kWh, {self.emissions_kg_co2e:.3e} kg CO2e over "
                f"{self.duration_s:.1f} s ({self.tracker}); like driving {km * 1000:.2f} m in an average car")


def require_codecarbon() -> Any:
    """Import and return ``codecarbon``; :class:`EmissionsUnavailableError` naming the install command if absent."""
    return require(("codecarbon",), EmissionsUnavailableError, "emissions tracking", "codecarbon", _INSTALL_HINT)


def _quiet_codecarbon() -> None:
    """codecarbon logs INFO/WARNING lines (tracker init, "multiple instances") on its own logger: errors only."""
    logging.getLogger("codecarbon").setLevel(logging.ERROR)


@contextmanager
def track_emissions(run_dir: str | os.PathLike, project_name: str = "nnlab", country_iso_code: str | None = None,
                    measure_power_secs: float = 15.0, save_to_file: bool = True) -> Iterator[EmissionsResult]:
    """Track the energy and CO2e of the ``with`` block; yields an :class:`EmissionsResult` filled in at exit.

    Inputs: run_dir (codecarbon's ``emissions.csv`` is written there when ``save_to_file``), project_name
    (codecarbon's project name, e.g. the recipe), country_iso_code (3 letters; default
    ``$NNLAB_EMISSIONS_COUNTRY`` or ``USA``), measure_power_secs (sampling interval). The tracker is stopped
    even if the block raises (the exception then propagates).
    Raises :class:`EmissionsUnavailableError` (before the block runs) when codecarbon is missing.
    """
    require_codecarbon()
    _quiet_codecarbon()
    from codecarbon import OfflineEmissionsTracker

    country = (country_iso_code or os.environ.get("NNLAB_EMISSIONS_COUNTRY") or DEFAULT_COUNTRY).upper()
    if not measure_power_secs > 0:
        raise ValueError(f"track_emissions: measure_power_secs must be > 0, got {measure_power_secs!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker = OfflineEmissionsTracker(
        country_iso_code=country, project_name=project_name, measure_power_secs=measure_power_secs,
        output_dir=str(run_dir), log_level="error", allow_multiple_runs=True, **_output_kwargs(save_to_file),
    )
    _quiet_codecarbon()
    result = EmissionsResult(tracker=f"codecarbon {_version()} OfflineEmissionsTracker (country {country})")
    tracker.start()
    try:
        yield result
    finally:
        emissions = tracker.stop()
        data = tracker.final_emissions_data
        result.emissions_kg_co2e = float(emissions if emissions is not None else data.emissions)
        result.energy_kwh = float(data.energy_consumed)
        result.duration_s = float(data.duration)


def _output_kwargs(save_to_file: bool) -> dict[str, Any]:
    """codecarbon >= 3 takes ``output_methods=[OutputMethod.CSV]`` (``save_to_file`` is deprecated there);
    older versions only know ``save_to_file``."""
    try:
        from codecarbon.output_methods.base_output import OutputMethod
    except ImportError:
        return {"save_to_file": save_to_file}
    return {"output_methods": [OutputMethod.CSV] if save_to_file else []}


def _version() -> str:
    import codecarbon

    return str(getattr(codecarbon, "__version__", "?"))
