"""Plots: training curves, weight grids and confusion matrices, written as PNG files.

Figures are built as ``matplotlib.figure.Figure`` objects on a ``FigureCanvasAgg`` (the non-interactive
backend) and never touch pyplot's global state, so they work in scripts, tests and on headless servers.
Every ``plot_*`` function returns the path it wrote. Inside ``with plots_disabled():`` they draw nothing and
return ``None`` (``nnlab tune`` uses this for its trials, whose PNGs would cost as much as their training).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .validation import check_array

__all__ = ["visualize_grid", "confusion_matrix", "plot_training_curves", "plot_weight_grid",
           "plot_confusion_matrix", "plots_disabled", "plots_enabled"]

_PLOTS_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("nnlab_plots_enabled", default=True)


@contextlib.contextmanager
def plots_disabled() -> Iterator[None]:
    """Within the block, :func:`plot_training_curves`, :func:`plot_weight_grid` and
    :func:`plot_confusion_matrix` skip their figure (no file is written) and return ``None``.

    The switch is a context variable, restored on exit (also on error) and local to the thread or task that
    set it."""
    token = _PLOTS_ENABLED.set(False)
    try:
        yield
    finally:
        _PLOTS_ENABLED.reset(token)


def plots_enabled() -> bool:
    """Whether the ``plot_*`` functions draw (False inside :func:`plots_disabled`)."""
    return _PLOTS_ENABLED.get()


def _skipped_when_disabled(fn: Callable[..., Path]) -> Callable[..., Path | None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Path | None:
        return fn(*args, **kwargs) if _PLOTS_ENABLED.get() else None

    return wrapper


# ---------------------------------------------------------------------------------------------------------------
# pure NumPy helpers
# ---------------------------------------------------------------------------------------------------------------
def visualize_grid(Xs: Any, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile N images into a square grid (CS231n ``vis_utils.visualize_grid``).

    Inputs:
    - Xs: (N, H, W, C) images.
    - ubound: each tile is min-max rescaled to [0, ubound] (a constant tile becomes 0).
    - padding: zero pixels between neighbouring tiles (none around the border).

    Returns the grid, shape (G*H + (G-1)*padding, G*W + (G-1)*padding, C) with G = ceil(sqrt(N)), filled row by
    row; unused tiles are 0. Float dtype of the input (float64 for integer input); callers cast to uint8.
    """
    fn = "visualize_grid"
    Xs = to_numpy(Xs)
    check_array(fn, "Xs", Xs, ndim=4, shape_hint="(N, H, W, C)")
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
        raise ValueError(f"{fn}: padding must be an integer >= 0, got {padding!r}")
    N, H, W, C = Xs.shape
    if N == 0:
        raise ValueError(f"{fn}: Xs must hold at least one image, got shape {Xs.shape}")
    dtype = Xs.dtype if np.issubdtype(Xs.dtype, np.floating) else np.float64
    X = Xs.astype(dtype, copy=False)
    low = X.min(axis=(1, 2, 3), keepdims=True)
    span = X.max(axis=(1, 2, 3), keepdims=True) - low
    tiles = np.where(span > 0, ubound * (X - low) / np.where(span > 0, span, 1), 0).astype(dtype, copy=False)

    G = int(math.ceil(math.sqrt(N)))
    padded = np.zeros((G * G, H + padding, W + padding, C), dtype=dtype)
    padded[:N, :H, :W] = tiles
    grid = padded.reshape(G, G, H + padding, W + padding, C).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(G * (H + padding), G * (W + padding), C)
    return grid[: G * (H + padding) - padding, : G * (W + padding) - padding]


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts ``M[i, j]`` = number of samples with true class i predicted as class j.

    Inputs: y_true (N,), y_pred (N,) integer labels in [0, num_classes); num_classes defaults to
    ``max(y_true.max(), y_pred.max()) + 1``. Returns (num_classes, num_classes) int64.
    """
    fn = "confusion_matrix"
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    check_array(fn, "y_true", y_true, ndim=1, shape_hint="(N,)")
    check_array(fn, "y_pred", y_pred, ndim=1, shape_hint="(N,)")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{fn}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"{fn}: {name} must hold integer class labels, got dtype {y.dtype}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{fn}: {name} must be in [0, {num_classes}), got values from {y.min()} to {y.max()}")
    flat = num_classes * y_true.astype(np.int64) + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ---------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------
def _new_figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _histories(source: Any) -> tuple[list[float], list[float], list[float]]:
    keys = ("loss_history", "train_acc_history", "val_acc_history")
    if isinstance(source, Mapping):
        missing = [k for k in keys if k not in source]
        if missing:
            raise ValueError(f"plot_training_curves: histories dict is missing {missing}")
        return tuple(list(map(float, source[k])) for k in keys)  # type: ignore[return-value]
    if all(hasattr(source, k) for k in keys):
        return tuple(list(map(float, getattr(source, k))) for k in keys)  # type: ignore[return-value]
    raise TypeError("plot_training_curves: expected a Solver or a dict with loss_history, train_acc_history "
                    f"and val_acc_history, got {type(source).__name__}")


@_skipped_when_disabled
def plot_training_curves(solver_or_histories: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """Two panels (CS231n notebook 02 layout): training loss vs iteration ('o' markers), and train/val
    accuracy vs epoch ('-o') with a dashed 0.5 reference line.

    ``solver_or_histories`` is a :class:`nnlab.solver.Solver` or a dict with ``loss_history``,
    ``train_acc_history`` and ``val_acc_history`` (e.g. the JSON of :class:`nnlab.callbacks.History`).
    """
    loss, train_acc, val_acc = _histories(solver_or_histories)
    fig = _new_figure((10, 8))
    ax_loss, ax_acc = fig.subplots(2, 1)
    ax_loss.set_title("Training loss")
    ax_loss.plot(loss, "o", markersize=2)
    ax_loss.set_xlabel("Iteration")
    ax_acc.set_title("Accuracy")
    ax_acc.plot(train_acc, "-o", label="train")
    ax_acc.plot(val_acc, "-o", label="val")
    ax_acc.plot([0.5] * len(val_acc), "k--")
    ax_acc.set_xlabel("Epoch")
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


@_skipped_when_disabled
def plot_weight_grid(W: Any, path: str | os.PathLike, image_shape: Sequence[int] | None = None,
                     layout: str = "NHWC", padding: int = 1, title: str | None = None) -> Path:
    """Show weights as a grid of images via :func:`visualize_grid`.

    Inputs:
    - W: (N, H, W, C) with ``layout='NHWC'``; conv filters (F, C, HH, WW) with ``layout='NCHW'``; or first-layer
      weights (D, M) with ``image_shape=(C, H, W)`` (each column is one image, as CS231n's
      ``W1.reshape(3, 32, 32, -1).transpose(3, 1, 2, 0)``). C must be 1 (grey) or 3 (RGB).
    """
    fn = "plot_weight_grid"
    W = to_numpy(W)
    if W.ndim == 2:
        if image_shape is None or len(image_shape) != 3:
            raise ValueError(f"{fn}: 2-D weights need image_shape=(C, H, W), got {image_shape!r}")
        C, H, Wd = (int(s) for s in image_shape)
        if C * H * Wd != W.shape[0]:
            raise ValueError(f"{fn}: W has {W.shape[0]} rows but image_shape {tuple(image_shape)} needs {C * H * Wd}")
        images = W.reshape(C, H, Wd, -1).transpose(3, 1, 2, 0)
    elif W.ndim == 4:
        if layout not in ("NHWC", "NCHW"):
            raise ValueError(f"{fn}: layout must be 'NHWC' or 'NCHW', got {layout!r}")
        images = W.transpose(0, 2, 3, 1) if layout == "NCHW" else W
    else:
        raise ValueError(f"{fn}: W must be 2-D (D, M) or 4-D, got shape {W.shape}")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"{fn}: images must have 1 or 3 channels, got {images.shape[-1]}")
    grid = visualize_grid(images, padding=padding).astype(np.uint8)
    fig = _new_figure((5, 5))
    ax = fig.subplots()
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(grid)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(fig, path)


@_skipped_when_disabled
def plot_confusion_matrix(y_true: Any, y_pred: Any, path: str | os.PathLike,
                          class_names: Sequence[str] | None = None, normalize: str | None = None,
                          title: str | None = None) -> Path:
    """Confusion-matrix heat map with the count (or row fraction) written in each cell.

    ``normalize=None`` shows counts; ``'true'`` divides each row by its number of samples (recall per class).
    Rows are true classes, columns predicted ones; ``class_names`` labels both axes.
    """
    fn = "plot_confusion_matrix"
    if normalize not in (None, "true"):
        raise ValueError(f"{fn}: normalize must be None or 'true', got {normalize!r}")
    num_classes = len(class_names) if class_names is not None else None
    counts = confusion_matrix(y_true, y_pred, num_classes)
    K = counts.shape[0]
    if normalize == "true":
        values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fmt = "{:.2f}"
    else:
        values, fmt = counts, "{:d}"
    names = list(class_names) if class_names is not None else [str(i) for i in range(K)]
    size = max(4.0, 0.5 * K + 2)
    fig = _new_figure((size, size))
    ax = fig.subplots()
    im = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(K), names, rotation=45, ha="right")
    ax.set_yticks(range(K), names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    threshold = values.max() / 2 if values.size else 0
    if K <= 30:
        for i in range(K):
            for j in range(K):
                ax.text(j, i, fmt.format(values[i, j].item()), ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > threshold else "black")
    ax.set_title(title or ("Confusion matrix" + (" (normalized by true class)" if normalize else "")))
    return _save(fig, path)
