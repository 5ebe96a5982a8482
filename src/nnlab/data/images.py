"""Image datasets in the class-folder layout ``<root>/<split>/<class>/*.jpg`` (a folder or a zip), decoded with
Pillow, resized, and cached as ``.npz`` (no pickle, in ``$NNLAB_CACHE`` or the user cache folder, never in the
data folder; see :mod:`nnlab.data.cache`) so that the second load takes a fraction of a second.

The brain-tumor MRI set (Kaggle "masoudnickparvar/brain-tumor-mri-dataset", seed 003 §5) is read by
:func:`load_brain_mri`; its default location is ``$NNLAB_DATA/brain_tumor_mri/brain_tumor_mri_224.zip``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..validation import check_path
from .cache import cached_arrays
from .paths import DataFormatError, DataNotFoundError, find_data_file, verify_sha256
from .preprocessing import train_val_test_split

__all__ = ["MRI_CLASSES", "MRI_SHA256", "load_brain_mri", "load_image_folder"]

MRI_CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
MRI_URL = "https://www.kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset"
MRI_SHA256 = {"brain_tumor_mri_224.zip": "8ae6fedc8083edd554aa4ea0b222faed5e3d70e199d3ef5a223a009e86c03e38"}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff")


def _list_entries(source: Path) -> tuple[list[str], object]:
    """Relative file names under a folder or inside a zip, and a ``read(name) -> bytes``."""
    if source.is_dir():
        names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
        return names, lambda name: (source / name).read_bytes()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFormatError(
            f"load_image_folder: {source} is neither a folder nor a readable zip ({exc}); pass a folder or a zip "
            "holding <split>/<class>/<image> files"
        ) from exc
    return zf.namelist(), zf.read


def _where(source: Path, name: str) -> str:
    """How messages name a member: ``<folder>/<name>`` for a folder, ``<zip>:<name>`` for a zip."""
    return str(source / name) if source.is_dir() else f"{source}:{name}"


def _decode(raw: bytes, where: str, size: int | None, grayscale: bool, crop_lr: float) -> np.ndarray:
    """One image -> (C, size, size) uint8: grayscale ('L') or RGB by value range (every Pillow mode, EXIF
    orientation: :func:`~nnlab.data.pixels.open_image`), left/right margins cropped, bilinear resize."""
    from PIL import Image

    from .pixels import ImageTooLargeError, open_image

    try:
        img = open_image(raw, "L" if grayscale else "RGB", where=where, draft_size=size)
    except ImageTooLargeError:
        raise
    except DataFormatError as exc:
        raise DataFormatError(f"load_image_folder: {exc}: remove or replace it") from None
    if crop_lr > 0:
        m = int(round(crop_lr * img.width))
        img = img.crop((m, 0, img.width - m, img.height))
    if size is not None:
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img)
    return arr[None] if grayscale else arr.transpose(2, 0, 1)


def _split_files(names: list[str], split: str, classes: tuple[str, ...] | None,
                 max_per_class: int | None, source: Path) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name in names:
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] == split and name.lower().endswith(_IMAGE_SUFFIXES):
            found.setdefault(parts[-2], []).append(name)
    if not found:
        raise DataFormatError(
            f"load_image_folder: {source} has no {split}/<class>/<image> files (images: "
            f"{', '.join(_IMAGE_SUFFIXES)}); expected the layout <root>/{split}/<class>/<image>, e.g. "
            f"{split}/{(classes or ('<class>',))[0]}/0001.jpg"
        )
    classes = tuple(sorted(found)) if classes is None else tuple(classes)
    missing = [c for c in classes if c not in found]
    if missing:
        raise DataFormatError(
            f"load_image_folder: {source} has no {split}/ folder for classes {missing} (found {sorted(found)}); "
            f"every split needs one folder of images per class"
        )
    entries = [(n, label) for label, c in enumerate(classes) for n in sorted(found[c])[:max_per_class]]
    return entries, classes


def load_image_folder(path: str | os.PathLike, splits: tuple[str, ...] = ("Training", "Testing"),
                      classes: tuple[str, ...] | None = None, size: int | None = None, grayscale: bool = False,
                      crop_lr: float = 0.0, max_per_class: int | None = None, cache: bool = True,
                      cache_dir: str | os.PathLike | None = None,
                      ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """Decode every ``<split>/<class>/<image>`` under ``path`` (a folder or zip; an extra top folder is fine).

    Parameters
    ----------
    splits : split folder names to read.
    classes : class folder names in label order (default: sorted names
        found in the first split; every split must have them all).
    size : resize to ``size x size`` (bilinear); None keeps the original size (all images must then agree).
    grayscale : one channel ('L') instead of RGB.
    crop_lr : fraction of the width cut from each side first.
    max_per_class : at most this many images per class and split (sorted by file name), for quick runs.
    cache, cache_dir : keep the decoded arrays in an ``.npz`` in ``cache_dir`` (default ``$NNLAB_CACHE`` or the
        user cache folder; see :mod:`nnlab.data.cache`).

    Returns ``({split: (X, y)}, classes)`` with ``X`` (N, C, size, size) uint8, ``y`` (N,) int64 and ``classes``
    the class names in label order.
    """
    check_path("load_image_folder", "path", path)
    source = Path(path).expanduser()
    if not source.exists():
        raise DataNotFoundError(
            f"load_image_folder: {source} does not exist; pass a folder or zip holding <split>/<class>/<image> files"
        )
    if not 0 <= crop_lr < 0.5:
        raise ValueError(f"load_image_folder: crop_lr must be in [0, 0.5), got {crop_lr}")
    splits = tuple(splits)

    def decode_all() -> dict[str, np.ndarray]:
        names, read = _list_entries(source)
        arrays, want = {}, classes
        for i, split in enumerate(splits):
            entries, want = _split_files(names, split, want, max_per_class, source)
            try:
                images = [_decode(read(n), _where(source, n), size, grayscale, crop_lr) for n, _ in entries]
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataFormatError(f"load_image_folder: {source} is truncated or damaged ({exc})") from exc
            if len({im.shape for im in images}) > 1:
                raise DataFormatError(f"load_image_folder: {source}:{split} images differ in size; pass size=")
            arrays[f"X_{i}"] = np.stack(images)
            arrays[f"y_{i}"] = np.array([label for _, label in entries], dtype=np.int64)
        return {"classes": np.array(want), **arrays}

    params = ("image-folder", "pixels-by-value-range", splits, None if classes is None else tuple(classes), size,
              grayscale, crop_lr, max_per_class)
    arrays = cached_arrays("load_image_folder", source, params, decode_all, cache_dir=cache_dir, enabled=cache)
    out = {s: (arrays[f"X_{i}"], arrays[f"y_{i}"]) for i, s in enumerate(splits)}
    return out, tuple(str(c) for c in arrays["classes"])


def load_brain_mri(path: str | os.PathLike | None = None, size: int = 84, grayscale: bool = True,
                   crop_lr: float = 0.0, val_fraction: float = 0.0, seed: int | None = 0,
                   max_per_class: int | None = None, dtype: np.dtype | type = np.float32,
                   cache_dir: str | os.PathLike | None = None, verify: bool = True) -> dict[str, np.ndarray]:
    """The brain-tumor MRI set (seed 003 §5.1) as the DESIGN.md dict.

    Images are resized to ``size x size`` (84 in the seed), grayscale by default, scaled to [0, 1]
    (``ToDtype(float32, scale=True)``): ``X_*`` (N, 1, 84, 84) ``dtype``; ``y_*`` int64 with classes
    :data:`MRI_CLASSES` (glioma, meningioma, notumor, pituitary). The seed's earlier-semester preprocessing also
    crops 60 px margins of ~512 px originals and applies a bilateral filter; ``crop_lr`` (fraction of the width,
    default 0) covers the crop, the OpenCV filter is not applied. The shared copy is already 224x224.

    ``val_fraction`` = 0 (default): the seed validates on the test set, so ``X_val``/``y_val`` ARE the test split;
    > 0: a stratified, seeded part of Training becomes the validation split. Note that the dataset holds
    byte-identical duplicates, some across Training and Testing.
    ``path``: the zip/folder or a folder holding ``brain_tumor_mri_224.zip`` (default
    ``$NNLAB_DATA/brain_tumor_mri``).
    """
    check_path("load_brain_mri", "path", path, allow_none=True)
    if path is not None and Path(path).expanduser().is_dir() and (Path(path).expanduser() / "Training").is_dir():
        file = Path(path).expanduser()  # an extracted copy of the dataset
    else:
        file = find_data_file("load_brain_mri", path, "brain_tumor_mri", ("brain_tumor_mri_224.zip",), None,
                              how=f"download it from {MRI_URL} (a Kaggle login is needed)")
    if verify and file.is_file() and file.name in MRI_SHA256:
        verify_sha256("load_brain_mri", file, MRI_SHA256[file.name])
    parts, _ = load_image_folder(file, ("Training", "Testing"), MRI_CLASSES, size=size, grayscale=grayscale,
                              crop_lr=crop_lr, max_per_class=max_per_class, cache_dir=cache_dir)
    scale = np.dtype(dtype).type(1 / 255)
    (X_tr, y_tr), (X_te, y_te) = parts["Training"], parts["Testing"]
    X_tr, X_te = X_tr.astype(dtype) * scale, X_te.astype(dtype) * scale
    if val_fraction > 0:
        data = train_val_test_split(X_tr, y_tr, val_fraction, 0.0, seed=seed)
        data["X_test"], data["y_test"] = X_te, y_te
        return data
    return {"X_train": X_tr, "y_train": y_tr, "X_val": X_te, "y_val": y_te, "X_test": X_te, "y_test": y_te}
