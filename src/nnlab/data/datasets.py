"""Dataset loaders. Each returns the DESIGN.md dict of splits:
``X_train, y_train, X_val, y_val, X_test, y_test`` (rows (N, D) or images NCHW; labels int64 (N,)).
"""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_int, check_number

__all__ = ["load_digits", "split_indices"]


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int | None = 0,
                  stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` and cut it into train/val/test index arrays.

    With ``stratify`` (labels, shape (n,)), each class is split in the same proportions.
    """
    check_int("split_indices", "n", n, 0, type_error=True)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"split_indices: val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be in [0, 1) "
            "and sum to less than 1"
        )
    rng = np.random.RandomState(seed)
    groups = [np.arange(n)] if stratify is None else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    train, val, test = [], [], []
    for idx in groups:
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * len(idx)))
        test.append(idx[:n_test])
        val.append(idx[n_test:n_test + n_val])
        train.append(idx[n_test + n_val:])
    return tuple(np.sort(np.concatenate(part)) for part in (train, val, test))  # type: ignore[return-value]


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """Pixels (1797, 64) and labels (1797,) from scikit-learn's bundled ``digits.csv.gz``, read directly: importing
    ``sklearn.datasets`` costs 1-3 s (scipy, pandas), which every ``nnlab train`` and every tune worker paid.
    Falls back to ``sklearn.datasets.load_digits`` if the file is not where scikit-learn keeps it."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    file = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if file is None or not file.is_file():
        from sklearn.datasets import load_digits as _sk_load_digits

        bunch = _sk_load_digits()
        return bunch.data, bunch.target.astype(np.int64)
    table = np.loadtxt(file, delimiter=",", dtype=np.float64)
    if table.shape != (1797, 65):
        raise ValueError(f"load_digits: {file} should hold 1797 rows of 64 pixels + 1 label, got {table.shape}")
    return table[:, :64], table[:, 64].astype(np.int64)


def load_digits(val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int | None = 0,
                dtype: np.dtype | type = np.float32, standardize: bool = True) -> dict[str, np.ndarray]:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes; no download).

    Pixels (0..16) are scaled to [0, 1]; with ``standardize`` the training split's per-feature mean is
    subtracted from every split (as CS231n's mean-image subtraction). Splits are stratified and seeded.

    Parameters
    ----------
    val_fraction, test_fraction : float
        Fractions of the 1797 images held out for validation and test.
    seed : int or None
        Seed of the stratified split (None: NumPy's global RNG).
    dtype : dtype
        Float dtype of the images; labels are int64.
    standardize : bool
        Subtract the training split's per-feature mean from every split.

    Returns
    -------
    dict
        ``X_train`` (N, 64), ``y_train`` (N,), ``X_val``, ``y_val``, ``X_test``, ``y_test`` (about 70/10/20 %).

    Examples
    --------
    >>> from nnlab.data import load_digits
    >>> data = load_digits()
    >>> data["X_train"].shape, data["X_test"].shape, data["y_train"].dtype.name
    ((1259, 64), (359, 64), 'int64')
    """
    check_number("load_digits", "val_fraction", val_fraction, -math.inf)
    pixels, target = _bundled_digits()
    X = (pixels / 16.0).astype(dtype)
    y = target
    tr, va, te = split_indices(len(y), val_fraction, test_fraction, seed=seed, stratify=y)
    data = {
        "X_train": X[tr], "y_train": y[tr],
        "X_val": X[va], "y_val": y[va],
        "X_test": X[te], "y_test": y[te],
    }
    if standardize:
        mean = data["X_train"].mean(axis=0, dtype=np.float64).astype(dtype)
        for k in ("X_train", "X_val", "X_test"):
            data[k] = data[k] - mean
    return data
