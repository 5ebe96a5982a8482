"""What every recipe writes into its run directory: config, metrics, curves, confusion matrix, weights."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["UnknownSettingError", "apply_overrides", "write_json", "save_classifier_run"]


class UnknownSettingError(KeyError):
    """A recipe override (``--set KEY=VALUE``) names a setting the recipe does not have."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def write_json(path: Path, obj: Mapping[str, Any]) -> Path:
    """Write ``obj`` as indented JSON (NumPy scalars/arrays converted) and return the path."""
    path.write_text(json.dumps(_jsonable(obj), indent=2) + "\n")
    return path


def apply_overrides(config: dict[str, Any], overrides: Mapping[str, Any], recipe: str) -> dict[str, Any]:
    """Return ``config`` updated with ``overrides``; an unknown key raises ``UnknownSettingError`` listing
    the known ones."""
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise UnknownSettingError(
            f"recipe {recipe!r} has no setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(config))}"
        )
    merged = dict(config)
    merged.update(overrides)
    return merged


def save_classifier_run(run_dir: Path, solver, data: Mapping[str, np.ndarray], config: Mapping[str, Any],
                        extra_metrics: Mapping[str, Any] | None = None,
                        class_names: list[str] | None = None) -> dict[str, Any]:
    """Evaluate a trained classifier on every split and write the run's artifacts.

    Writes ``config.json``, ``metrics.json`` (accuracies, histories), ``curves.png`` (loss and train/val
    accuracy), ``confusion.png`` (test split) and ``model.npz`` (the model's parameters, no pickle).
    Returns the metrics dict.
    """
    from nnlab.io import save_arrays
    from nnlab.viz import plot_confusion_matrix, plot_training_curves

    model = solver.model
    metrics: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        X, y = data.get(f"X_{split}"), data.get(f"y_{split}")
        if X is not None and y is not None and len(y):
            metrics[f"{split}_acc"] = float(solver.check_accuracy(X, y))
    if extra_metrics:
        metrics.update(extra_metrics)
    metrics["best_val_acc"] = float(solver.best_val_acc)
    metrics["loss_history"] = [float(v) for v in solver.loss_history]
    metrics["train_acc_history"] = [float(v) for v in solver.train_acc_history]
    metrics["val_acc_history"] = [float(v) for v in solver.val_acc_history]

    write_json(run_dir / "config.json", config)
    write_json(run_dir / "metrics.json", metrics)
    plot_training_curves(solver, run_dir / "curves.png", title=str(config.get("recipe", "")))
    if "X_test" in data and len(data["y_test"]):
        scores = np.concatenate([model.loss(data["X_test"][i:i + 100]) for i in range(0, len(data["y_test"]), 100)])
        plot_confusion_matrix(data["y_test"], np.argmax(scores, axis=1), run_dir / "confusion.png",
                              class_names=class_names, normalize="true")
    save_arrays(run_dir / "model.npz", {k: np.asarray(v) for k, v in model.params.items()},
                metadata={"recipe": config.get("recipe"), "config": _jsonable(dict(config))})
    return metrics
