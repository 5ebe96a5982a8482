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
from .validation import check_array, check_mapping, check_numeric, check_sequence
from .viz_tape import draw_graph  # noqa: F401  (nnlab.viz.draw_graph: the tape as a picture)

__all__ = ["visualize_grid", "confusion_matrix", "plot_training_curves", "plot_weight_grid",
           "plot_confusion_matrix", "plots_disabled", "plots_enabled", "plot_sweep", "plot_class_templates",
           "plot_run_comparison", "plot_weight_scale_sweep", "plot_loss_panels", "plot_confusion_panels",
           "plot_epoch_losses", "plot_decision_boundary", "plot_feature_strips"]

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
    raise TypeError("plot_training_curves: solver_or_histories must be a Solver or a dict with loss_history, "
                    f"train_acc_history and val_acc_history, got {type(source).__name__}")


@_skipped_when_disabled
def plot_training_curves(solver_or_histories: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """Two panels (CS231n notebook 02 layout): training loss vs iteration ('o' markers), and train/val
    accuracy vs epoch ('-o'). Every axis is labelled and every line is in a legend.

    ``solver_or_histories`` is a :class:`nnlab.solver.Solver` or a dict with ``loss_history``,
    ``train_acc_history`` and ``val_acc_history`` (e.g. the JSON of :class:`nnlab.callbacks.History`).
    """
    loss, train_acc, val_acc = _histories(solver_or_histories)
    fig = _new_figure((10, 8))
    ax_loss, ax_acc = fig.subplots(2, 1)
    ax_loss.set_title("Training loss (per minibatch)")
    ax_loss.plot(loss, "o", markersize=2, label="training loss")
    ax_loss.set_xlabel("Iteration")
    ax_loss.set_ylabel("Loss")
    ax_loss.legend(loc="upper right")
    ax_acc.set_title("Accuracy (train: a sample of the training split; val: the validation split)")
    ax_acc.plot(train_acc, "-o", label="train")
    ax_acc.plot(val_acc, "-o", label="val")
    ax_acc.set_xlabel("Accuracy check (epoch)")
    ax_acc.set_ylabel("Accuracy")
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
                          title: str | None = None, split: str | None = None) -> Path:
    """Confusion-matrix heat map with the count (or row fraction) written in each cell.

    ``normalize=None`` shows counts; ``'true'`` divides each row by its number of samples (recall per class).
    Rows are true classes, columns predicted ones; ``class_names`` labels both axes. ``split`` (e.g. ``'test'``)
    is named in the title, so the figure says which data it shows.
    """
    check_numeric("plot_confusion_matrix", "y_true", y_true)
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
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    threshold = values.max() / 2 if values.size else 0
    if K <= 30:
        for i in range(K):
            for j in range(K):
                ax.text(j, i, fmt.format(values[i, j].item()), ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > threshold else "black")
    what = f"Confusion matrix, {split} split" if split else "Confusion matrix"
    ax.set_title(title or (what + (" (normalized by true class)" if normalize else "")))
    if split and title and split not in title:
        ax.set_title(f"{title} ({split} split)")
    return _save(fig, path)


@_skipped_when_disabled
def plot_sweep(rows: Sequence[Mapping[str, Any]], grid: Mapping[str, Sequence[Any]], path: str | os.PathLike,
               title: str | None = None) -> Path:
    """Seed 004 §4.4's sweep figure: log10 learning rate (x) against log10 reg (y), one dot per configuration,
    coloured by its train (left) and val (right) accuracy; one row of panels per value of the other swept settings.

    rows: one dict per configuration with the swept settings, ``train_acc`` and ``val_acc``. A setting of 0 (or
    missing) is drawn half a decade below the smallest positive value of its axis.
    """
    check_sequence("plot_sweep", "rows", rows, "a list of dicts (one per trial)")
    others = [k for k in grid if k not in ("learning_rate", "reg")]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in others), []).append(r)
    if not groups:
        raise ValueError("plot_sweep: rows is empty; expected one dict per swept configuration")

    def axis_values(key: str, group: list[Mapping[str, Any]]) -> np.ndarray:
        vals = np.array([float(r.get(key, 0.0)) for r in group])
        positive = vals[vals > 0]
        floor = np.log10(positive.min()) - 0.5 if positive.size else 0.0
        return np.where(vals > 0, np.log10(np.where(vals > 0, vals, 1.0)), floor)

    fig = _new_figure((10, 3.6 * len(groups)))
    axes = fig.subplots(len(groups), 2, squeeze=False)
    for row_axes, (gkey, group) in zip(axes, groups.items()):
        x, y = axis_values("learning_rate", group), axis_values("reg", group)
        label = ", ".join(f"{k}={v}" for k, v in zip(others, gkey))
        for ax, metric in zip(row_axes, ("train_acc", "val_acc")):
            sc = ax.scatter(x, y, c=[float(r[metric]) for r in group], s=100, cmap="coolwarm")
            fig.colorbar(sc, ax=ax)
            ax.set(xlabel="log learning rate", ylabel="log regularization strength",
                   title=f"{'training' if metric == 'train_acc' else 'validation'} accuracy"
                   + (f" ({label})" if label else ""))
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi=90)


@_skipped_when_disabled
def plot_class_templates(W: Any, path: str | os.PathLike, class_names: Sequence[str],
                         image_shape: Sequence[int] = (3, 32, 32)) -> Path:
    """Seed 004 §4.4's weight picture of a linear classifier: each class's weight column as an image, rescaled
    ``255 * (w - w.min()) / (w.max() - w.min())`` with the global min/max, on a grid of two rows.

    W: (D [+1], C) with D = prod(image_shape) in CHW order (rows of ``X.reshape(N, -1)`` for NCHW images); a
    bias row beyond D is ignored. image_shape: (C, H, W) with 1 or 3 channels.
    """
    check_numeric("plot_class_templates", "W", W)
    fn = "plot_class_templates"
    W = np.asarray(to_numpy(W), dtype=np.float64)
    D = int(np.prod(image_shape))
    if W.ndim != 2 or W.shape[0] < D:
        raise ValueError(f"{fn}: W must be 2-D with at least {D} rows (image_shape {tuple(image_shape)}), "
                         f"got shape {W.shape}")
    if len(class_names) != W.shape[1]:
        raise ValueError(f"{fn}: {len(class_names)} class_names for {W.shape[1]} weight columns")
    w = W[:D].reshape(*image_shape, -1).transpose(3, 1, 2, 0)  # (classes, H, W, channels)
    lo, hi = w.min(), w.max()
    img = (255.0 * (w - lo) / max(hi - lo, 1e-12)).astype(np.uint8)
    fig = _new_figure((10, 4.4))
    axes = fig.subplots(2, (len(class_names) + 1) // 2, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name, im in zip(axes.ravel(), class_names, img):
        ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray" if im.shape[-1] == 1 else None)
        ax.set_title(name)
    return _save(fig, path, dpi=90)


# ---------------------------------------------------------------------------------------------------------------
# recipe figures (studies, housing, macbeth, kernel SVMs)
# ---------------------------------------------------------------------------------------------------------------
_RUN_PANELS = {"loss": ("loss_history", "Training loss", "Iteration"),
               "train": ("train_acc_history", "Training accuracy", "Epoch"),
               "val": ("val_acc_history", "Validation accuracy", "Epoch")}


@_skipped_when_disabled
def plot_run_comparison(runs: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, title: str | None = None,
                        panels: Sequence[str] = ("loss", "train", "val"),
                        extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                        figsize: tuple[float, float] = (12, 12), styles: Mapping[str, str] | None = None) -> Path:
    """Several runs on shared axes, one row per panel: ``'loss'`` (training loss vs iteration, dots), ``'train'``
    / ``'val'`` (accuracy vs epoch, ``'-o'``). runs: label -> dict with ``loss_history``, ``train_acc_history``,
    ``val_acc_history``; extra: label -> more runs of that label (other seeds), drawn thin in its colour;
    styles: label -> matplotlib format string of the accuracy panels."""
    check_mapping("plot_run_comparison", "runs", runs, "a dict name -> histories")
    unknown = [p for p in panels if p not in _RUN_PANELS]
    if unknown:
        raise ValueError(f"plot_run_comparison: panels must be among {list(_RUN_PANELS)}, got {unknown}")
    fig = _new_figure(figsize)
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    for ax, panel in zip(axes, panels):
        key, name, xlabel = _RUN_PANELS[panel]
        for i, (label, curves) in enumerate(runs.items()):
            style = "o" if panel == "loss" else (styles or {}).get(label, "-o")
            ax.plot(curves[key], style, color=f"C{i}", label=label, markersize=2.5 if panel == "loss" else 5)
            for other in (extra or {}).get(label, []):
                ax.plot(other[key], "-", color=f"C{i}", alpha=0.3, linewidth=1)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Loss" if panel == "loss" else "Accuracy")
        ax.grid(linestyle="--", alpha=0.5)
        ax.legend(loc="best", ncol=min(len(runs), 5))
    if title:
        fig.suptitle(title)
    return _save(fig, path)


@_skipped_when_disabled
def plot_weight_scale_sweep(scales: Sequence[float], results: Mapping[str, Mapping[str, Sequence[float]]],
                            path: str | os.PathLike, loss_ylim: tuple[float, float] | None = (1.0, 3.5)) -> Path:
    """CS231n notebook 05's three semilogx panels: best val accuracy, best train accuracy and final training loss
    against the weight initialization scale. results: label -> ``best_val_acc``, ``best_train_acc``,
    ``final_loss`` (one value per scale)."""
    check_sequence("plot_weight_scale_sweep", "scales", scales, "a list of weight scales")
    fig = _new_figure((12, 12))
    axes = fig.subplots(3, 1)
    panels = (("best_val_acc", "Best val accuracy"), ("best_train_acc", "Best train accuracy"),
              ("final_loss", "Final training loss"))
    for ax, (key, name) in zip(axes, panels):
        for label, res in results.items():
            ax.semilogx(scales, res[key], "-o", label=label)
        ax.set_title(f"{name} vs. weight initialization scale")
        ax.set_xlabel("Weight initialization scale")
        ax.set_ylabel("Loss" if key == "final_loss" else "Accuracy")
        ax.grid(linestyle="--", alpha=0.5)
        ax.legend(loc="best")
    if loss_ylim is not None:
        axes[2].set_ylim(*loss_ylim)
    return _save(fig, path)


@_skipped_when_disabled
def plot_loss_panels(curves: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, xlabel: str = "Iteration",
                     ylabel: str = "Training loss", reference_label: str = "reference") -> Path:
    """One panel per curve (two columns, shared y): ``x``, ``y`` drawn solid, an optional ``ref_x``, ``ref_y``
    dashed (``reference_label``), and the panel's ``title``."""
    check_mapping("plot_loss_panels", "curves", curves, "a dict title -> {label: losses}")
    names = list(curves)
    if not names:
        raise ValueError("plot_loss_panels: curves is empty")
    cols = min(2, len(names))
    rows = -(-len(names) // cols)
    fig = _new_figure((5.5 * cols, 3.6 * rows))
    axes = np.atleast_2d(fig.subplots(rows, cols, sharey=True, squeeze=False))
    for ax, name in zip(axes.flat, names):
        c = curves[name]
        ax.plot(c["x"], c["y"], label="nnlab", lw=1.5)
        if c.get("ref_y") is not None:
            ax.plot(c["ref_x"], c["ref_y"], "--", label=reference_label, lw=1.2)
        ax.set_title(c.get("title", name))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    return _save(fig, path)


@_skipped_when_disabled
def plot_confusion_panels(confusions: Mapping[str, Any], path: str | os.PathLike, class_names: Sequence[str],
                          titles: Mapping[str, str] | None = None) -> Path:
    """Confusion matrices side by side (counts (K, K), rows = true class), each row normalized to fractions."""
    check_mapping("plot_confusion_panels", "confusions", confusions, "a dict name -> confusion matrix")
    if not confusions:
        raise ValueError("plot_confusion_panels: confusions is empty")
    K = len(class_names)
    fig = _new_figure((3.6 * len(confusions), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(confusions)))
    for ax, (name, counts) in zip(axes, confusions.items()):
        counts = np.asarray(counts, dtype=float)
        frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
        for (r, c), v in np.ndenumerate(frac):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.6 else "black")
        ax.set_xticks(range(K), class_names)
        ax.set_yticks(range(K), class_names)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.set_title((titles or {}).get(name, name))
    return _save(fig, path)


@_skipped_when_disabled
def plot_epoch_losses(losses: Sequence[float], path: str | os.PathLike, title: str | None = None) -> Path:
    """Loss per epoch (epochs numbered from 1), ``'-o'``."""
    check_sequence("plot_epoch_losses", "losses", losses, "a list of losses (one per epoch)")
    fig = _new_figure((5, 3.5))
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), list(losses), marker="o", label="mean training loss of the epoch")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Loss")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)


@_skipped_when_disabled
def plot_decision_boundary(X: Any, y: Any, decision: Callable[[np.ndarray], np.ndarray], path: str | os.PathLike,
                           support: Any = None, title: str | None = None, steps: int = 300) -> Path:
    """A two-class 2-D classifier: filled regions of ``sign(decision)``, the margins ``f = +-1`` (dashed), the
    boundary ``f = 0``, the points coloured by class and the support vectors circled.

    Inputs: X (N, 2); y (N,) two labels; decision: (M, 2) grid points -> (M,) decision values; support: indices of
    the support vectors; steps: grid resolution per axis."""
    check_numeric("plot_decision_boundary", "X", X)
    X, y = np.asarray(X, dtype=float), np.asarray(y)
    check_array("plot_decision_boundary", "X", X, ndim=2, shape_hint="(N, 2)")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.15 * (hi - lo) + 0.2
    g1, g2 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], steps),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], steps))
    f = np.asarray(decision(np.column_stack((g1.ravel(), g2.ravel())))).reshape(g1.shape)
    fig = _new_figure((5, 4.2))
    ax = fig.subplots()
    ax.contourf(g1, g2, f, levels=[-np.inf, 0, np.inf], colors=["#f4c7c3", "#c6dbef"], alpha=0.8)
    ax.contour(g1, g2, f, levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"], linewidths=[0.8, 1.5, 0.8])
    pos = y == np.max(y)
    ax.scatter(X[pos, 0], X[pos, 1], c="#1f77b4", edgecolors="k", label=f"y = {np.max(y)}", zorder=3)
    ax.scatter(X[~pos, 0], X[~pos, 1], c="#d62728", edgecolors="k", label=f"y = {np.min(y)}", zorder=3)
    if support is not None:
        ax.scatter(X[support, 0], X[support, 1], s=180, facecolors="none", edgecolors="k", linewidths=1.2,
                   label="support vectors", zorder=4)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


@_skipped_when_disabled
def plot_feature_strips(features: Mapping[str, Any], y: Any, path: str | os.PathLike,
                        titles: Mapping[str, str] | None = None) -> Path:
    """One strip per 1-D feature map: the values ``features[name]`` (N,) of the points, coloured by the sign of
    ``y`` (N,), to see which maps separate the classes."""
    check_mapping("plot_feature_strips", "features", features, "a dict name -> feature values")
    y = np.asarray(y)
    fig = _new_figure((6, 4.5))
    axes = np.atleast_1d(fig.subplots(len(features), 1))
    for ax, (name, z) in zip(axes, features.items()):
        z = np.asarray(z)
        ax.scatter(z[y > 0], np.zeros(int((y > 0).sum())), c="#1f77b4", edgecolors="k", label="y > 0")
        ax.scatter(z[y <= 0], np.zeros(int((y <= 0).sum())), c="#d62728", edgecolors="k", label="y <= 0")
        ax.set_xlabel("feature value")
        ax.legend(loc="best", fontsize=7)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, labelpad=12)
        if titles and name in titles:
            ax.set_title(titles[name], fontsize=8)
    return _save(fig, path)
