"""Data augmentation on minibatches of images ``X`` (N, C, H, W), vectorized over the batch (no per-sample loop).

Every transform is a callable ``t(X, rng) -> X`` that keeps shape and dtype; each sample draws its own random
parameters from ``rng`` (a ``Generator``, a ``RandomState`` or the ``np.random`` module, see
:func:`nnlab.backend.get_rng`). :func:`augment_batches` turns a transform into the Solver's
``batch_transform(X_batch, y_batch)``, which the Solver applies to training minibatches only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..backend import get_rng
from ..validation import check_array, check_callable, check_number

__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "RandomRotation", "augment_batches", "rotate"]


def _rng(rng):
    """Like :func:`get_rng`, but also accepts the ``np.random`` module that ``get_rng(None)`` returns."""
    return rng if rng is np.random else get_rng(rng)


def _check_images(fn: str, X: np.ndarray) -> None:
    check_array(fn, "X", X, ndim=4, shape_hint="(N, C, H, W)")


def _select(rng, n: int, p: float) -> np.ndarray:
    """Boolean mask (n,): True with probability p for each sample."""
    return rng.uniform(0.0, 1.0, n) < p


def _check_p(cls: str, p: float) -> float:
    p = check_number(cls, "p", p, -math.inf)  # a number (a string is a TypeError naming p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{cls}: p must be a probability in [0, 1], got {p}")
    return float(p)


class RandomHorizontalFlip:
    """Mirror each image left-right (``X[..., ::-1]``) with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_p("RandomHorizontalFlip", p)

    def __call__(self, X: np.ndarray, rng=None) -> np.ndarray:
        _check_images("RandomHorizontalFlip", X)
        flip = _select(_rng(rng), len(X), self.p)
        return np.where(flip[:, None, None, None], X[..., ::-1], X)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """Rotate each image (with probability ``p``) by an angle drawn uniformly from ``[-degrees, degrees]``
    about its centre; positive angles turn the content counter-clockwise (torchvision's convention).

    Output pixel ``(r, c)`` samples the input at ``R(theta) (c - cx, r - cy) + (cx, cy)`` with bilinear
    interpolation (``"nearest"`` also available); points falling outside the image take ``fill``.
    """

    def __init__(self, degrees: float | tuple[float, float], p: float = 1.0, fill: float = 0.0,
                 interpolation: str = "bilinear") -> None:
        if np.isscalar(degrees):
            d = check_number("RandomRotation", "degrees", degrees, -math.inf)
            lo, hi = -abs(d), abs(d)
        elif isinstance(degrees, (tuple, list)) and len(degrees) == 2:
            lo, hi = (check_number("RandomRotation", "degrees", v, -math.inf) for v in degrees)
        else:
            raise TypeError(f"RandomRotation: degrees must be a number or (low, high), got {degrees!r}")
        if not lo <= hi:
            raise ValueError(f"RandomRotation: degrees must be a number or (low, high) with low <= high, got {degrees}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.degrees, self.p, self.fill, self.interpolation = (float(lo), float(hi)), _check_p(
            "RandomRotation", p), fill, interpolation

    def __call__(self, X: np.ndarray, rng=None) -> np.ndarray:
        _check_images("RandomRotation", X)
        rng = _rng(rng)
        chosen = np.flatnonzero(_select(rng, len(X), self.p))
        angles = rng.uniform(self.degrees[0], self.degrees[1], len(X))[chosen]
        out = X.copy()
        if len(chosen):
            out[chosen] = rotate(X[chosen], angles, self.fill, self.interpolation)
        return out

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, p={self.p}, interpolation={self.interpolation!r})"


def rotate(X: np.ndarray, angles_deg: np.ndarray, fill: float = 0.0, interpolation: str = "bilinear") -> np.ndarray:
    """Rotate each image ``X[n]`` (N, C, H, W) counter-clockwise by ``angles_deg[n]`` degrees (see
    :class:`RandomRotation`); returns (N, C, H, W) of X's dtype."""
    N, C, H, W = X.shape
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))[:, None, None]
    cy, cx = (H - 1) / 2, (W - 1) / 2
    dy, dx = np.meshgrid(np.arange(H) - cy, np.arange(W) - cx, indexing="ij")
    cos, sin = np.cos(theta), np.sin(theta)
    src_x = cos * dx - sin * dy + cx  # (N, H, W)
    src_y = sin * dx + cos * dy + cy
    n = np.arange(N)[:, None, None]
    if interpolation == "nearest":
        corners = [(np.rint(src_y).astype(np.intp), np.rint(src_x).astype(np.intp), np.ones_like(src_x))]
    else:
        y0, x0 = np.floor(src_y).astype(np.intp), np.floor(src_x).astype(np.intp)
        wy, wx = src_y - y0, src_x - x0
        corners = [(y0, x0, (1 - wy) * (1 - wx)), (y0, x0 + 1, (1 - wy) * wx),
                   (y0 + 1, x0, wy * (1 - wx)), (y0 + 1, x0 + 1, wy * wx)]
    out = np.zeros((N, H, W, C), dtype=np.float64)
    for yy, xx, w in corners:  # 4 (or 1) gathers over the whole batch
        inside = (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
        vals = X[n, :, np.clip(yy, 0, H - 1), np.clip(xx, 0, W - 1)]  # (N, H, W, C)
        out += (w * inside)[..., None] * vals + (w * ~inside)[..., None] * fill
    return out.transpose(0, 3, 1, 2).astype(X.dtype)


class RandomCrop:
    """Pad each side by ``padding`` pixels of ``fill``, then cut a ``size x size`` window at a random offset
    (uniform over all positions) from each image: the standard CIFAR "random crop with padding 4"."""

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0) -> None:
        self.size = (size, size) if np.isscalar(size) else tuple(size) if isinstance(size, (tuple, list)) else ()
        if len(self.size) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                          for v in self.size):
            raise TypeError(f"RandomCrop: size must be an int or a pair of ints (height, width), got {size!r}")
        if padding < 0 or min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be positive and padding >= 0, got size={size}, padding={padding}")
        self.padding, self.fill = int(padding), fill

    def __call__(self, X: np.ndarray, rng=None) -> np.ndarray:
        _check_images("RandomCrop", X)
        rng = _rng(rng)
        pad = self.padding
        Xp = np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=self.fill) if pad else X
        h, w = self.size
        if h > Xp.shape[2] or w > Xp.shape[3]:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded images {Xp.shape[2:]}")
        n = len(X)
        oy = np.minimum((rng.uniform(0, 1, n) * (Xp.shape[2] - h + 1)).astype(np.intp), Xp.shape[2] - h)
        ox = np.minimum((rng.uniform(0, 1, n) * (Xp.shape[3] - w + 1)).astype(np.intp), Xp.shape[3] - w)
        windows = sliding_window_view(Xp, (h, w), axis=(2, 3))  # (N, C, Hp-h+1, Wp-w+1, h, w), a view
        return np.ascontiguousarray(windows[np.arange(n), :, oy, ox])  # (N, C, h, w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class Compose:
    """Apply ``transforms`` in order, all drawing from the same ``rng``."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"Compose: transforms must be a list of transforms, got {type(transforms).__name__}")
        self.transforms = [check_callable("Compose", f"transforms[{i}]", t, "a transform t(X, rng)")
                           for i, t in enumerate(transforms)]

    def __call__(self, X: np.ndarray, rng=None) -> np.ndarray:
        rng = _rng(rng)
        for t in self.transforms:
            X = t(X, rng)
        return X

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


def augment_batches(transform: Callable, seed=None) -> Callable[[np.ndarray, np.ndarray], tuple]:
    """Wrap ``transform(X, rng)`` as ``batch_transform(X_batch, y_batch) -> (X_batch', y_batch)`` for
    ``Solver(batch_transform=...)``; the Solver calls it on training minibatches only, so validation and test
    data are never augmented. ``seed``: as :func:`nnlab.backend.get_rng` (an int makes the stream reproducible).
    """
    check_callable("augment_batches", "transform", transform, "a callable transform(X, rng)")
    rng = get_rng(seed)

    def batch_transform(X_batch: np.ndarray, y_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return transform(X_batch, rng), y_batch

    batch_transform.transform = transform  # type: ignore[attr-defined]
    return batch_transform
