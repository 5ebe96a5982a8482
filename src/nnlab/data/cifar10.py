"""CIFAR-10 (Krizhevsky 2009): 50,000 training and 10,000 test 32x32 RGB images in 10 classes.

Three on-disk layouts are read:

- the official python batches (``cifar-10-python.tar.gz`` or its ``cifar-10-batches-py/`` folder): pickled dicts,
  read with a restricted unpickler that only builds NumPy arrays, never arbitrary objects;
- the official binary batches (``cifar-10-binary.tar.gz`` or ``cifar-10-batches-bin/``): records of 1 label byte
  followed by 3072 pixel bytes (R plane, G plane, B plane);
- an image tree ``train/<class>/*.jpg``, ``test/<class>/*.jpg`` in a folder or zip (``cifar10_jpeg_q75.zip``,
  a lossy JPEG re-encoding: accuracies on it are close to, not equal to, those on the official data). Its files
  are numbered per class, so the original order is lost; images are ordered class-round-robin
  (``0000`` of every class, then ``0001``, ...), which keeps every contiguous slice class-balanced.

The default location is ``$NNLAB_DATA/cifar10``; get the official archive with ``nnlab data download cifar10``.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from ..validation import check_int, check_path
from .cache import cached_arrays
from .paths import DataFormatError, dataset_folders, missing_data, verify_sha256

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_SHA256",
    "CLASS_NAMES",
    "get_CIFAR10_data",
    "load_CIFAR10",
    "load_cifar10",
    "load_cifar10_raw",
    "restricted_loads",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: Display names of labels 0..9 as the course notebooks print them (seed 004 §2.1): the one list recipes, plots and
#: ``nnlab predict`` use. :data:`CIFAR10_CLASSES` keeps the dataset's own spelling (its image-tree folder names).
CLASS_NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
#: sha256 of the files whose bytes are known: the two official archives and the shared JPEG zip.
CIFAR10_SHA256 = {
    "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    "cifar10_jpeg_q75.zip": "f7625fc6a42ead0a462a6e36eb4b53cc89da86f36a0e011313c8c9a582622870",
}
_DEFAULT_NAMES = ("cifar-10-python.tar.gz", "cifar-10-batches-py", "cifar-10-binary.tar.gz", "cifar-10-batches-bin",
                  "cifar10_jpeg_q75.zip")
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_RECORD = 1 + 3072
_REDOWNLOAD = "delete it and download it again (`nnlab data download cifar10`)"


# ----------------------------------------------------------------------------------------------- pickle batches
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a pickled ndarray needs; anything else is refused."""

    def find_class(self, module: str, name: str):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # protocol-2 pickles written by Python 3 store bytes this way
            import _codecs

            return _codecs.encode
        raise DataFormatError(f"restricted_loads: refusing to load {module}.{name} (only NumPy arrays are allowed)")


def restricted_loads(raw: bytes) -> object:
    """Unpickle bytes that may hold only builtins (dict, list, bytes, str, numbers) and NumPy arrays.

    Python-2 pickles (the official CIFAR batches) are read with ``encoding="bytes"``, so their keys are bytes.
    """
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except DataFormatError:
        raise
    except Exception as exc:  # truncated stream, not a pickle, ...
        raise DataFormatError(f"restricted_loads: not a readable CIFAR-10 python batch ({exc!r})") from exc


def _parse_pickle_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    obj = restricted_loads(raw)
    if not isinstance(obj, dict):
        raise DataFormatError(f"load_cifar10: {where} holds a {type(obj).__name__}, expected a dict batch")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(f"load_cifar10: {where} has keys {sorted(batch)}, expected 'data' and 'labels'")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataFormatError(
            f"load_cifar10: {where} has data {data.dtype}{data.shape} and {len(labels)} labels, "
            "expected uint8 (N, 3072) and N labels"
        )
    return data, labels


# ----------------------------------------------------------------------------------------------- binary batches
def _parse_binary_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    if len(raw) == 0 or len(raw) % _RECORD:
        raise DataFormatError(
            f"load_cifar10: {where} holds {len(raw)} bytes, not a whole number of {_RECORD}-byte records "
            "(truncated or not a CIFAR-10 binary batch)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _RECORD)
    return records[:, 1:], records[:, 0].astype(np.int64)


def _to_nhwc(rows: np.ndarray) -> np.ndarray:
    """(N, 3072) planar R, G, B rows -> (N, 32, 32, 3) uint8."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


# ----------------------------------------------------------------------------------------------- containers
def _is_tar(source: Path) -> bool:
    """``tarfile.is_tarfile`` that turns a truncated compressed stream (EOFError, zlib errors) into a
    :class:`DataFormatError` naming the file."""
    if source.is_dir():
        return False
    try:
        return tarfile.is_tarfile(source)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataFormatError(
            f"load_cifar10: {source} is a truncated or damaged archive ({exc}); {_REDOWNLOAD}"
        ) from exc


def _member_reader(source: Path):
    """Return ``read(name) -> bytes | None`` over a folder, a .tar.gz or a .zip (member names matched by
    their last path component, so the archives' top folder does not matter)."""
    if source.is_dir():
        def read_dir(name: str) -> bytes | None:
            hits = [p for p in (source / name, *source.glob(f"*/{name}")) if p.is_file()]
            return hits[0].read_bytes() if hits else None
        return read_dir
    try:
        if _is_tar(source):
            tar = tarfile.open(source, "r:*")
            members = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
            return lambda name: tar.extractfile(members[name]).read() if name in members else None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataFormatError(f"load_cifar10: {source} is a damaged archive ({exc}); {_REDOWNLOAD}") from exc
    raise DataFormatError(f"load_cifar10: {source} is neither a folder, a tar archive nor a zip of images")


def _read_batches(source: Path) -> tuple[np.ndarray, ...] | None:
    """Read the official python or binary batches from ``source``; None when it holds neither."""
    read = _member_reader(source)
    try:
        first = read("data_batch_1")
        if first is not None:
            parse, names = _parse_pickle_batch, (*_TRAIN_BATCHES, "test_batch")
        else:
            first = read("data_batch_1.bin")
            if first is None:
                return None
            parse, names = _parse_binary_batch, tuple(f"{n}.bin" for n in (*_TRAIN_BATCHES, "test_batch"))
        parts = []
        for name in names:
            raw = first if name in ("data_batch_1", "data_batch_1.bin") else read(name)
            if raw is None:
                raise DataFormatError(f"load_cifar10: {source} has data_batch_1 but no {name}; {_REDOWNLOAD}")
            parts.append(parse(raw, f"{source}:{name}"))
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"load_cifar10: {source} is truncated or damaged ({exc}); {_REDOWNLOAD}") from exc
    X_train = _to_nhwc(np.concatenate([p[0] for p in parts[:5]]))
    y_train = np.concatenate([p[1] for p in parts[:5]])
    X_test, y_test = _to_nhwc(parts[5][0]), parts[5][1]
    return X_train, y_train, X_test, y_test


# ----------------------------------------------------------------------------------------------- image tree
def _image_entries(names: list[str], split: str, limit: int | None) -> list[tuple[str, int]]:
    """(member name, label) for ``<...>/<split>/<class>/<file>``, ordered class-round-robin."""
    per_class: dict[int, list[str]] = {c: [] for c in range(len(CIFAR10_CLASSES))}
    for name in names:
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] == split and parts[-2] in CIFAR10_CLASSES and not name.endswith("/"):
            per_class[CIFAR10_CLASSES.index(parts[-2])].append(name)
    lists = [sorted(v)[:limit] for v in per_class.values()]
    if not all(lists):
        missing = [CIFAR10_CLASSES[c] for c, v in enumerate(lists) if not v]
        raise DataFormatError(
            f"load_cifar10: no {split}/<class>/ images for classes {missing}; an image tree needs "
            f"train/<class>/*.png|jpg and test/<class>/*.png|jpg for each of the 10 classes {list(CIFAR10_CLASSES)}"
        )
    n = max(len(v) for v in lists)
    return [(v[i], c) for i in range(n) for c, v in enumerate(lists) if i < len(v)]


def _decode_rgb32(raw: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        img = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        why = "not an image format Pillow knows" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise DataFormatError(f"load_cifar10: cannot decode {where} ({why}); remove or replace that image") from exc
    if img.shape != (32, 32, 3):
        raise DataFormatError(f"load_cifar10: {where} is {img.shape[1]}x{img.shape[0]}, expected 32x32 RGB")
    return img


def _read_image_tree(source: Path, limit: int | None) -> tuple[np.ndarray, ...]:
    if source.is_dir():
        names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
        read = lambda name: (source / name).read_bytes()  # noqa: E731
    else:
        try:
            zf = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataFormatError(f"load_cifar10: {source} is not a readable zip ({exc}); {_REDOWNLOAD}") from exc
        names, read = zf.namelist(), zf.read
    out = []
    for split in ("train", "test"):
        entries = _image_entries(names, split, limit)
        try:
            X = np.stack([_decode_rgb32(read(name), f"{source}:{name}") for name, _ in entries])
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataFormatError(f"load_cifar10: {source} is truncated or damaged ({exc}); {_REDOWNLOAD}") from exc
        out += [X, np.array([c for _, c in entries], dtype=np.int64)]
    return tuple(out)


# ----------------------------------------------------------------------------------------------- public API
def _resolve(path: str | os.PathLike | None) -> Path:
    folders = dataset_folders("load_cifar10", path, "cifar10")  # the dataset folder, or the data root holding it
    for folder in folders:
        if folder.exists() and (folder.is_file() or any((folder / n).exists() for n in ("data_batch_1", "train"))
                                or any(folder.glob("*/data_batch_1*")) or any(folder.glob("data_batch_1*"))):
            return folder
        for name in _DEFAULT_NAMES:
            if (folder / name).exists():
                return folder / name
    folder = folders[0]
    raise missing_data("load_cifar10", folder, "CIFAR-10 data (" + " or ".join(_DEFAULT_NAMES) + ")", "cifar10",
                       path is not None)


def load_cifar10_raw(path: str | os.PathLike | None = None, limit: int | None = None,
                     cache_dir: str | os.PathLike | None = None,
                     verify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read CIFAR-10 in any of the three layouts; returns ``X_train`` (N, 32, 32, 3) uint8, ``y_train`` (N,) int64,
    ``X_test``, ``y_test`` (official order for the batches, class-round-robin for image trees).

    ``path``: an archive, a batches folder, an image folder/zip, or a folder holding one of them (default
    ``$NNLAB_DATA/cifar10``). ``limit``: at most this many images per class and split (image trees only; for quick
    tests). Decoded image trees are cached as ``.npz`` in ``cache_dir`` (default ``$NNLAB_CACHE`` or the user
    cache folder, never the data folder; see :mod:`nnlab.data.cache`).
    ``verify``: check the sha256 of files whose official bytes are known (:data:`CIFAR10_SHA256`).
    """
    check_path("load_cifar10_raw", "path", path, allow_none=True)
    source = _resolve(path)
    if verify and source.is_file() and source.name in CIFAR10_SHA256:
        verify_sha256("load_cifar10", source, CIFAR10_SHA256[source.name], "cifar10")
    if source.is_dir() or _is_tar(source):
        batches = _read_batches(source)
        if batches is not None:
            return batches
        if source.is_file():
            raise DataFormatError(f"load_cifar10: archive {source} holds no data_batch_1 or data_batch_1.bin")
    elif not zipfile.is_zipfile(source):
        raise DataFormatError(
            f"load_cifar10: {source} is not a CIFAR-10 archive (cifar-10-python.tar.gz, cifar-10-binary.tar.gz), "
            "batch folder or image zip (or it is truncated); pass one of those as path="
        )
    names = ("X_train", "y_train", "X_test", "y_test")
    arrays = cached_arrays("load_cifar10", source, ("cifar10-image-tree", limit),
                           lambda: dict(zip(names, _read_image_tree(source, limit))), cache_dir=cache_dir)
    return tuple(arrays[n] for n in names)  # type: ignore[return-value]


def load_CIFAR10(root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The course's ``load_CIFAR10(root)``: ``X_train`` (50000, 32, 32, 3) float64, ``y_train`` (50000,),
    ``X_test`` (10000, 32, 32, 3) float64, ``y_test`` (10000,) (seed 004 §2.1)."""
    check_path("load_CIFAR10", "root", root, allow_none=True)
    X_train, y_train, X_test, y_test = load_cifar10_raw(root)
    return X_train.astype(np.float64), y_train, X_test.astype(np.float64), y_test


def load_cifar10(path: str | os.PathLike | None = None, num_training: int = 49000, num_validation: int = 1000,
                 num_test: int = 1000, subtract_mean: bool = True, dtype: np.dtype | type = np.float32,
                 limit: int | None = None, cache_dir: str | os.PathLike | None = None,
                 verify: bool = True) -> dict[str, np.ndarray]:
    """CIFAR-10 as the DESIGN.md dict, split as CS231n's ``get_CIFAR10_data`` (seed 004 §2.3).

    train = training images ``[0, num_training)``, val = ``[num_training, num_training + num_validation)``,
    test = test images ``[0, num_test)``.

    Parameters
    ----------
    path : str, PathLike or None
        An archive, a batches folder, an image folder/zip, or a folder holding one (default
        ``$NNLAB_DATA/cifar10``), as in :func:`load_cifar10_raw`.
    num_training, num_validation, num_test : int
        Split sizes (validation images come after the training ones in the training set).
    subtract_mean : bool
        Subtract the training split's mean image (computed in float64) from all three splits.
    dtype : dtype
        Float dtype of the images.
    limit : int or None
        At most this many images per class and split (image trees only; for quick runs and tutorials).
    cache_dir, verify
        As in :func:`load_cifar10_raw`.

    Returns
    -------
    dict
        ``X_train``, ``X_val``, ``X_test`` images ``(N, 3, 32, 32)`` of ``dtype`` (pixel scale 0..255) and the
        int64 labels ``y_train``, ``y_val``, ``y_test``.

    Notes
    -----
    The CIFAR-10 tutorial (``docs/tutorials/04_cifar10_convnet.py``) loads a small subset with ``limit``.
    """
    check_path("load_cifar10", "path", path, allow_none=True)
    X_train, y_train, X_test, y_test = load_cifar10_raw(path, limit=limit, cache_dir=cache_dir, verify=verify)
    if num_training < 1 or num_validation < 0 or num_training + num_validation > len(X_train):
        raise ValueError(
            f"load_cifar10: num_training ({num_training}) + num_validation ({num_validation}) must be positive "
            f"and at most the {len(X_train)} training images"
        )
    if not 0 <= num_test <= len(X_test):
        raise ValueError(f"load_cifar10: num_test must be in [0, {len(X_test)}], got {num_test}")
    stop = num_training + num_validation
    splits = {"train": (X_train[:num_training], y_train[:num_training]),
              "val": (X_train[num_training:stop], y_train[num_training:stop]),
              "test": (X_test[:num_test], y_test[:num_test])}
    mean = splits["train"][0].mean(axis=0, dtype=np.float64) if subtract_mean else 0.0
    data = {}
    for split, (X, y) in splits.items():
        Xf = X.astype(np.float64) - mean if subtract_mean else X
        data[f"X_{split}"] = np.ascontiguousarray(Xf.transpose(0, 3, 1, 2), dtype=dtype)
        data[f"y_{split}"] = y
    return data


def get_CIFAR10_data(num_training: int = 49000, num_validation: int = 1000, num_test: int = 1000,
                     subtract_mean: bool = True, path: str | os.PathLike | None = None,
                     **kwargs) -> dict[str, np.ndarray]:
    """The course's ``get_CIFAR10_data`` (seed 004 §2.3): :func:`load_cifar10` with the same defaults."""
    check_int("get_CIFAR10_data", "num_training", num_training, 1)
    return load_cifar10(path, num_training=num_training, num_validation=num_validation, num_test=num_test,
                        subtract_mean=subtract_mean, **kwargs)
