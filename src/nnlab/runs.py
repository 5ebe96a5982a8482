"""Reading runs back: ``nnlab.load_run(path)`` (a :class:`Run`: evaluate, predict, sample), ``list_runs(root)``.

The folder's layout and its writers are :mod:`nnlab.run_format` (what :mod:`nnlab.runner` writes with); this
module reads it, and re-exports the writers under their old names (``nnlab.runs.write_config`` ...).
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import load_arrays
from .run_format import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    MODEL,
    RUN_FORMAT,
    STATUSES,
    RunError,
    read_json,
    save_model,
    write_config,
    write_metrics,
)
from .scores import PREDICT_BATCH, predict_scores  # noqa: F401  (re-exported: nnlab.runs.predict_scores)
from .validation import check_path

__all__ = ["RUN_FORMAT", "RunError", "Run", "load_run", "list_runs", "write_config", "write_metrics",
           "read_json", "save_model", "predict_scores", "STATUSES", "NonFiniteInputError", "check_inputs"]

#: a run on another host whose heartbeat is older than this (seconds) is taken as gone
STALE_HEARTBEAT_S = 3600.0


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists, owned by someone else
        return True
    return True


def effective_status(folder: Path, metrics: Mapping[str, Any]) -> str:
    """The status to show for a run: ``metrics["status"]``, except that a run marked ``running`` whose process is
    gone (its ``pid`` no longer exists on this host, or, on another host or without a pid, no heartbeat for
    :data:`STALE_HEARTBEAT_S` seconds, anywhere) is ``interrupted (resumable)`` when it has a checkpoint, else
    ``interrupted``. A live run stays ``running``."""
    status = str(metrics.get("status", "unknown"))
    if status != "running":
        return status
    beat = metrics.get("heartbeat")
    if not isinstance(beat, (int, float)):
        try:
            beat = (Path(folder) / METRICS).stat().st_mtime
        except OSError:
            beat = 0.0
    gone = time.time() - float(beat) > STALE_HEARTBEAT_S  # (also catches a pid reused by another process)
    pid = metrics.get("pid")
    if isinstance(pid, int) and metrics.get("host") == socket.gethostname() and not _process_alive(pid):
        gone = True
    if not gone:
        return "running"
    resumable = (Path(folder) / CHECKPOINT).is_file()
    return "interrupted (resumable)" if resumable else "interrupted"


def load_weights_into(model: Any, arrays: Mapping[str, np.ndarray], source: Path) -> None:
    """Copy ``params/*`` and ``buffers/*`` of a ``model.npz`` into ``model``; :class:`RunError` on a mismatch."""
    params = {k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")}
    buffers = {k[len("buffers/"):]: v for k, v in arrays.items() if k.startswith("buffers/")}
    expected = set(model.params)
    if set(params) != expected:
        missing, extra = sorted(expected - set(params)), sorted(set(params) - expected)
        raise RunError(f"{source}: the weights do not fit the rebuilt model (missing {missing}, unexpected {extra})")
    for k, v in params.items():
        if tuple(np.shape(model.params[k])) != tuple(v.shape):
            raise RunError(f"{source}: parameter {k} has shape {tuple(v.shape)}, the model expects "
                           f"{tuple(np.shape(model.params[k]))}")
        model.params[k] = v.astype(np.asarray(model.params[k]).dtype, copy=False)
    if buffers:
        hook = getattr(model, "load_buffer_arrays", None)
        if not callable(hook):
            raise RunError(f"{source}: the file has buffers but the model cannot load them")
        hook(buffers)


class NonFiniteInputError(ValueError):
    """Inputs holding NaN or inf, refused by ``predict``/``predict_proba``/``evaluate`` (the message gives the
    count and the first index)."""


def check_inputs(fn: str, X: Any, allow_nonfinite: bool = False, name: str = "X") -> np.ndarray:
    """``X`` as an array of numbers with at least one row, else ``TypeError``/``ValueError`` naming ``fn`` and
    ``name``; NaN or inf raise :class:`NonFiniteInputError` with their count and first index (``X[i, j]``)
    unless ``allow_nonfinite``."""
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{fn}: {name} must be an array of numbers, got {type(X).__name__} ({exc})") from None
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must hold numbers, got dtype {X.dtype}")
    if X.ndim == 0 or len(X) == 0:
        raise ValueError(f"{fn}: {name} must have at least one row (shape (N, ...), N >= 1), got shape {X.shape}")
    if X.dtype.kind == "f" and not allow_nonfinite:
        bad = ~np.isfinite(X)
        count = int(np.count_nonzero(bad))
        if count:
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NonFiniteInputError(
                f"{fn}: {name} holds {count} NaN or infinite value{'s' if count > 1 else ''} (first at "
                f"{name}[{', '.join(map(str, first))}], row {first[0]}); the scores would be meaningless — fix "
                "the input, or pass allow_nonfinite=True (--allow-nonfinite) to score it anyway")
    return X


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Run:
    """A trained run read back from its folder. ``model`` is rebuilt and in evaluation mode."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    model: Any
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe(self) -> str:
        return str(self.config["recipe"])

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.config["settings"])

    @property
    def status(self) -> str:
        """``metrics.json``'s status, or ``interrupted (resumable)`` for a run whose process is gone
        (:func:`effective_status`)."""
        return effective_status(self.path, self.metrics)

    @property
    def task(self) -> str:
        return str(self.config.get("task", "classification"))

    @property
    def class_names(self) -> list[str] | None:
        names = self.info.get("class_names")
        return list(names) if names is not None else None

    def load_images(self, files: Sequence[str | os.PathLike]) -> np.ndarray:
        """Image files (PNG/JPEG) prepared as the recipe's training data was: mode, crop, resize, scale, mean
        subtracted, layout. Returns the model's input array (N, ...)."""
        spec = self.info.get("image")
        if spec is None:
            raise RunError(f"{self.path}: recipe {self.recipe!r} was not trained on images")
        return prepare_images(files, spec, self.info.get("mean"))

    def predict_proba(self, X: Any, allow_nonfinite: bool = False) -> np.ndarray:
        """Class probabilities (N, C) (softmax of the scores); for a character model, the next-character
        distribution after each window. ``X`` (N, ...) as the model's input; NaN or inf in ``X`` raise
        ``ValueError`` with their count and first index unless ``allow_nonfinite=True``."""
        X = check_inputs("predict_proba", X, allow_nonfinite)
        return softmax(predict_scores(self.model, X).astype(np.float64))

    def predict(self, X: Any, allow_nonfinite: bool = False) -> np.ndarray:
        """Class indices (N,): ``argmax`` of the model's scores for ``X`` (N, ...). NaN or inf in ``X`` raise
        ``ValueError`` with their count and first index unless ``allow_nonfinite=True``."""
        X = check_inputs("predict", X, allow_nonfinite)
        return np.argmax(predict_scores(self.model, X), axis=1)

    def evaluate(self, split: str = "test", data: Mapping[str, Any] | None = None,
                 data_path: str | None = None, allow_nonfinite: bool = False) -> dict[str, Any]:
        """Re-score the model on ``split`` of the recipe's data (loaded as in training, or from ``data_path``);
        returns ``{f"{split}_acc": ...}`` (and the loss for a language model). NaN or inf in the split's inputs
        raise ``ValueError`` with their count and first index unless ``allow_nonfinite=True``."""
        return evaluate_run(self, split=split, data=data, data_path=data_path, allow_nonfinite=allow_nonfinite)

    def lowercased_prompt(self, prompt: str) -> str | None:
        """``prompt.lower()`` when the prompt has capitals that the vocabulary lacks but its lower-case form does
        not (the training text was lower-cased, spec seed 003 §7.1); None when the prompt needs no change."""
        vocab = set(self.info.get("vocab") or "")
        if not isinstance(prompt, str) or not vocab or set(prompt) <= vocab:
            return None
        return prompt.lower() if any(c not in vocab and c.lower() in vocab for c in prompt) else None

    def sample(self, prompt: str, length: int = 150, temperature: float = 0.75, seed: int | None = None) -> str:
        """Text sampled from a character model (``nnlab generate``). Capitals outside the vocabulary are
        lower-cased (with a ``UserWarning`` saying so), as the training text was."""
        from .generate import generate

        if self.info.get("vocab") is None:
            raise RunError(f"{self.path}: run of {self.recipe!r} is not a character model (no vocabulary); "
                           "sampling needs a macbeth-* run")
        lowered = self.lowercased_prompt(prompt)
        if lowered is not None:
            warnings.warn("sample: the prompt was lower-cased, as the training text was", UserWarning, stacklevel=2)
            prompt = lowered
        try:
            return generate(self.model, prompt, length, temperature, seed=seed, vocab=self.info["vocab"],
                            sequence_len=int(self.settings.get("sequence_len", 30)))
        except ValueError as exc:  # a bad prompt, length or temperature: the caller's mistake, said in one line
            raise RunError(f"{self.path}: {exc}") from None


def load_run(path: str | os.PathLike) -> Run:
    """Rebuild a run's model from its folder: ``config.json`` names the recipe and its settings, the recipe
    rebuilds the architecture, ``model.npz`` fills in parameters and buffers. Returns a :class:`Run`.

    Raises :class:`RunError` (naming the file) for a folder that is not a run, a study's top folder (load one of
    its variants), a run that saved no model, or corrupt files."""
    from .recipes import get_recipe

    path = check_path("load_run", "path", path).expanduser()
    if not path.is_dir():
        raise RunError(f"{path}: {'is a file, not a run folder' if path.exists() else 'no such run folder'}")
    config = read_json(path / CONFIG)
    if config.get("format") != RUN_FORMAT:
        raise RunError(f"{path / CONFIG}: not an nnlab run config (format {config.get('format')!r}, "
                       f"expected {RUN_FORMAT!r}); it may come from an older nnlab — retrain it")
    variants = config.get("variants")
    if variants:
        raise RunError(f"{path}: a study of {len(variants)} runs; load one of them, e.g. {path / variants[0]}")
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
    weights = path / MODEL
    if not weights.is_file():
        status = effective_status(path, metrics)
        hint = (f"; resume it with `nnlab train --resume {path}`" if status in ("stopped", "interrupted (resumable)")
                and (path / CHECKPOINT).is_file() else "")
        raise RunError(f"{weights}: not found (status {status!r}: the run saved no model{hint})")
    try:
        arrays, _meta = load_arrays(weights)
    except PermissionError as exc:
        raise RunError(f"{weights}: permission denied ({exc.strerror}); make the file readable") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{weights}: cannot read the weights ({exc})") from None
    try:
        recipe = get_recipe(str(config["recipe"]))
    except KeyError as exc:
        raise RunError(f"{path / CONFIG}: {exc.args[0]}") from None
    if recipe.model is None:
        raise RunError(f"{path}: recipe {recipe.name!r} does not train a reloadable model")
    info = dict(config.get("info") or {})
    info.update({k[len("info/"):]: v for k, v in arrays.items() if k.startswith("info/")})
    model = recipe.model(dict(config["settings"]), info)
    load_weights_into(model, arrays, weights)
    if hasattr(model, "eval") and callable(model.eval):
        model.eval()
    return Run(path=path, config=config, metrics=metrics, model=model, info=info)


def _iter_run_dirs(root: Path) -> Iterator[Path]:
    for config in sorted(root.rglob(CONFIG)):
        folder = config.parent
        if (folder.parent / CONFIG).exists() and folder.parent != root:
            continue  # a study's variant: listed through its study
        yield folder


def _written_here(folder: Path, config: Mapping[str, Any]) -> bool:
    """Whether nnlab wrote ``folder`` as a run: its config.json names the folder (``run_name``, the marker
    written since the runs of this version). A copy elsewhere (MLflow's ``mlartifacts/<id>/artifacts``) names
    another folder; a config without the marker (an older run) counts unless it lies under ``mlartifacts``."""
    name = config.get("run_name")
    if name is None:
        return "mlartifacts" not in folder.parts
    return name == folder.name


def list_runs(root: str | os.PathLike = "runs") -> list[dict[str, Any]]:
    """One row per run folder under ``root``: path, recipe, started, key settings, figure, seconds, status.
    A run whose process died without writing a final status (``kill -9``, a crash, a lost machine) shows
    ``interrupted (resumable)`` (see :func:`effective_status`), never ``running``. Only folders nnlab wrote
    are listed (their config.json's ``run_name`` is the folder's name): copies such as MLflow's artifact folder,
    or a run folder renamed by hand, are skipped (:func:`load_run` still reads them)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise RunError(f"{root}: {what} (runs are written to runs/ by nnlab train)")
    rows = []
    for folder in _iter_run_dirs(root):
        try:
            config = read_json(folder / CONFIG)
        except RunError:
            continue
        if config.get("format") != RUN_FORMAT or not _written_here(folder, config):
            continue
        try:
            metrics = read_json(folder / METRICS)
        except RunError:
            metrics = {}
        status = effective_status(folder, metrics)
        figure_key, figure = _headline(metrics)
        settings = config.get("settings", {})
        key = {k: settings[k] for k in ("learning_rate", "update_rule", "num_epochs", "batch_size") if k in settings}
        rows.append({"run": str(folder.relative_to(root)), "recipe": config.get("recipe"),
                     "started": config.get("created", ""), "settings": key, "metric": figure_key,
                     "value": figure, "seconds": metrics.get("train_seconds"), "status": status})
    return rows


def _headline(metrics: Mapping[str, Any]) -> tuple[str, float | None]:
    for key in ("test_acc", "val_acc", "best_val_acc", "val_loss", "final_loss"):
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return key, float(value)
    return "", None


def load_recipe_data(recipe: Any, settings: Mapping[str, Any], data_path: str | None = None) -> dict[str, Any]:
    """The recipe's data for ``settings`` (seeded as in training), from ``data_path`` when given."""
    cfg = dict(settings)
    if data_path is not None:
        if "data_path" not in {s.name for s in recipe.settings}:
            raise RunError(f"recipe {recipe.name!r} reads no data files; --data does not apply")
        cfg["data_path"] = str(data_path)
    np.random.seed(int(cfg.get("seed", 0)))
    data = dict(recipe.data(cfg))
    data.pop("info", None)
    return data


def evaluate_run(run: Run, split: str = "test", data: Mapping[str, Any] | None = None,
                 data_path: str | None = None, allow_nonfinite: bool = False) -> dict[str, Any]:
    """Re-score ``run.model`` on ``split`` (``'train'``, ``'val'`` or ``'test'``) of its recipe's data, through
    the same code as training (:func:`predict_scores`), so the run's own data reproduces metrics.json exactly."""
    from .recipes import get_recipe

    if split not in ("train", "val", "test"):
        raise ValueError(f"evaluate: split must be 'train', 'val' or 'test', got {split!r}")
    recipe = get_recipe(run.recipe)
    if data is None:
        data = load_recipe_data(recipe, run.settings, data_path)
    X, y = data.get(f"X_{split}"), data.get(f"y_{split}")
    if X is None or y is None or not len(y):
        raise RunError(f"{run.path}: recipe {run.recipe!r} has no {split!r} split")
    X = check_inputs("evaluate", X, allow_nonfinite, name=f"X_{split}")
    part = {f"X_{split}": X, f"y_{split}": y}
    if recipe.score is not None:
        from .recipes.contract import RunResult

        return dict(recipe.score(RunResult(run.model, part, dict(run.info), dict(run.settings), run.path)))
    return {f"{split}_acc": float(np.mean(np.argmax(predict_scores(run.model, X), axis=1) == y))}


def prepare_images(files: Sequence[str | os.PathLike], spec: Mapping[str, Any], mean: Any = None) -> np.ndarray:
    """Decode image files as a recipe's ``info["image"]`` describes them.

    spec: ``height``, ``width``, ``mode`` ('L' grey or 'RGB'), ``scale`` (pixel 0..255 multiplier), ``layout``
    ('flat' rows (N, D) or 'nchw'), optional ``crop_lr`` (fraction cut from each side before the resize),
    ``downsample`` (mean over k x k blocks after it), ``bias`` (append a column of ones), ``dtype``.
    mean: array subtracted after scaling (the training split's mean image), shaped like one image or one row.
    """
    from PIL import Image

    from .data.pixels import open_image

    h, w = int(spec["height"]), int(spec["width"])
    k = int(spec.get("downsample", 1))
    files = list(files) if not isinstance(files, (str, os.PathLike)) else [files]
    if not files:
        raise ValueError("load_images: files is empty; give one or more image paths")
    out = []
    for f in files:
        path = Path(f)
        if not path.is_file():
            if path.is_dir():
                raise RunError(f"{path}: is a folder, not an image file")
            raise FileNotFoundError(2, "no such image file", str(path))
        img = open_image(path, spec.get("mode", "RGB"))
        crop = float(spec.get("crop_lr", 0.0))
        if crop > 0:
            m = int(round(crop * img.width))
            img = img.crop((m, 0, img.width - m, img.height))
        img = img.resize((w * k, h * k), Image.BILINEAR) if img.size != (w * k, h * k) else img
        a = np.asarray(img, dtype=np.uint8)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        x = a.astype(np.float64)
        if k > 1:
            c = x.shape[0]
            x = x.reshape(c, h, k, w, k).mean(axis=(2, 4))
        dtype = np.dtype(spec.get("dtype", "float32"))
        x = (x.astype(dtype) * dtype.type(spec.get("scale", 1.0))).astype(dtype)
        out.append(x)
    X = np.stack(out)
    if mean is not None:
        m = np.asarray(mean)
        X = (X.reshape(len(X), *m.shape) - m).astype(X.dtype) if m.size == X[0].size else X - m
    if spec.get("layout", "nchw") == "flat":
        X = X.reshape(len(X), -1)
    if spec.get("bias"):
        X = np.hstack([X.reshape(len(X), -1), np.ones((len(X), 1), dtype=X.dtype)])
    return np.ascontiguousarray(X)
