"""Run hooks: what ``nnlab train --track-emissions`` and ``--log tensorboard|mlflow`` add around a run.

A hook has three methods, called by :mod:`nnlab.runner`: ``start(run_dir, config)`` once the run folder exists,
``callback()`` -> a Solver callback (or None), and ``finish(run_dir, metrics)`` -> extra metrics merged into
``metrics.json``. ``create(...)`` checks the optional dependency first, so a missing extra is reported (exit 2)
before anything is loaded or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["EmissionsHook", "TensorBoardHook", "MLflowHook"]


class EmissionsHook:
    """codecarbon's offline tracker around the run (energy kWh, kg CO2e, duration into metrics.json)."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._cm: Any = None
        self._result: Any = None

    @classmethod
    def create(cls, project: str) -> EmissionsHook:
        from .emissions import require_codecarbon

        require_codecarbon()
        return cls(project)

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        from .emissions import track_emissions

        self._cm = track_emissions(run_dir, project_name=self.project)
        self._result = self._cm.__enter__()

    def callback(self) -> Any:
        return None

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
        if self._cm is None:
            return {}
        self._cm.__exit__(None, None, None)
        self._cm = None
        print(self._result.summary())
        return self._result.as_metrics()


class TensorBoardHook:
    """TensorBoard event files in ``<run_dir>/tensorboard/`` (scalars, histograms, hparams)."""

    def __init__(self) -> None:
        self._logger: Any = None

    @classmethod
    def create(cls) -> TensorBoardHook:
        from .tracking import require_tensorboardx

        require_tensorboardx()
        return cls()

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        from .tracking import TensorBoardLogger

        self._logger = TensorBoardLogger(Path(run_dir) / "tensorboard", hparams=dict(config.get("settings", {})))

    def callback(self) -> Any:
        return self._logger

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
        return {}


class MLflowHook:
    """An MLflow run (settings as params, metrics per step, final metrics, the run folder as artifacts)."""

    def __init__(self, uri: str | None, experiment: str) -> None:
        self.uri, self.experiment = uri, experiment
        self._logger: Any = None

    @classmethod
    def create(cls, uri: str | None, experiment: str) -> MLflowHook:
        from .tracking import require_mlflow

        require_mlflow()
        return cls(uri, experiment)

    def start(self, run_dir: Path, config: dict[str, Any]) -> None:
        from .tracking import MLflowLogger

        uri = self.uri or f"sqlite:///{(Path(run_dir).parent / 'mlflow.db').resolve()}"
        self._logger = MLflowLogger(uri, experiment=self.experiment, run_name=Path(run_dir).name,
                                    params=dict(config.get("settings", {})))

    def callback(self) -> Any:
        return self._logger

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
        if self._logger is not None:
            self._logger.log_final(metrics, run_dir)
        return {}
