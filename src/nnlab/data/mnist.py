"""MNIST from the original IDX gzip files (LeCun et al.): 60,000 training and 10,000 test digits, 28x28 gray.

The default location is ``$NNLAB_DATA/mnist`` (``../shared/data/mnist`` next to the checkout); get the files with
``nnlab data download mnist``. The four official files are checked against their sha256 before decoding.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ..validation import check_path
from .paths import DataFormatError, find_data_file, verify_sha256

__all__ = ["MNIST_FILES", "load_mnist", "read_idx"]

#: Official file names and their sha256 (identical to the files torchvision and the LeCun site serve).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_IDX_UBYTE = 0x08  # the only element type MNIST uses
_REDOWNLOAD = "delete it and download it again (`nnlab data download mnist`)"


def read_idx(file: str | os.PathLike) -> np.ndarray:
    """Decode one IDX file (gzip-compressed if its name ends in ``.gz``) into a uint8 array.

    Layout: 2 zero bytes, type code 0x08 (ubyte), ndim, then ndim big-endian uint32 sizes, then the data.
    Returns an array of shape ``(n,)`` (labels) or ``(n, rows, cols)`` (images). A wrong magic number, a size
    that disagrees with the header, or a broken gzip stream raises :class:`DataFormatError`.
    """
    check_path("read_idx", "file", file)
    file = Path(file)
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as f:
                raw = f.read()
        else:
            raw = file.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataFormatError(
            f"read_idx: {file} is not a readable IDX gzip file, it is truncated or corrupted ({exc}); {_REDOWNLOAD}"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE or not 1 <= raw[3] <= 3:
        raise DataFormatError(
            f"read_idx: {file} does not start with an IDX ubyte magic number 00 00 08 0n (got {raw[:4].hex(' ')}), "
            f"so it is not an MNIST IDX file; {_REDOWNLOAD}"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"read_idx: {file} is truncated inside its header; {_REDOWNLOAD}")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataFormatError(
            f"read_idx: {file} holds {len(raw)} bytes but its header {shape} needs {expected} (truncated or padded); "
            f"{_REDOWNLOAD}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _scale(x: np.ndarray, scale: str | None, dtype: np.dtype | type) -> np.ndarray:
    if scale == "symmetric":  # seed 001: [-1, 1]
        return (x.astype(dtype) / dtype(127.5) - dtype(1)).astype(dtype)
    if scale == "unit":
        return (x.astype(dtype) / dtype(255)).astype(dtype)
    if scale is None:
        return x.astype(dtype)
    raise ValueError(f"load_mnist: scale must be 'unit', 'symmetric' or None, got {scale!r}")


def load_mnist(path: str | os.PathLike | None = None, num_validation: int = 5000, scale: str | None = "unit",
               flatten: bool = False, dtype: np.dtype | type = np.float32,
               verify: bool = True) -> dict[str, np.ndarray]:
    """Load MNIST as the DESIGN.md dict of splits.

    Parameters
    ----------
    path : folder holding the four ``*-ubyte.gz`` files; default ``$NNLAB_DATA/mnist``.
    num_validation : the LAST ``num_validation`` training images become ``X_val`` (0 keeps all 60,000 for
        training, as seed 001 does; ``X_val`` is then empty).
    scale : ``"unit"`` -> [0, 1] (x / 255); ``"symmetric"`` -> [-1, 1] (x / 127.5 - 1, seed 001); None -> 0..255.
    flatten : rows ``(N, 784)`` instead of images ``(N, 1, 28, 28)``.
    dtype : float dtype of the images. Labels are int64.
    verify : check each file's sha256 against :data:`MNIST_FILES`.

    Returns ``X_train`` (60000 - num_validation, 1, 28, 28), ``y_train``, ``X_val``, ``y_val``,
    ``X_test`` (10000, 1, 28, 28), ``y_test``.
    """
    dtype = np.dtype(dtype).type
    if not 0 <= num_validation < 60000:
        raise ValueError(f"load_mnist: num_validation must be in [0, 60000), got {num_validation}")
    arrays, files = {}, {}
    for name, digest in MNIST_FILES.items():
        file = find_data_file("load_mnist", path, "mnist", (name,), "mnist")
        if verify:
            verify_sha256("load_mnist", file, digest, "mnist")
        key = name.split("-idx")[0]
        arrays[key], files[key] = read_idx(file), file
    for split, n in (("train", 60000), ("t10k", 10000)):
        images, labels = arrays[f"{split}-images"], arrays[f"{split}-labels"]
        if images.shape != (n, 28, 28) or labels.shape != (n,) or labels.max(initial=0) > 9:
            raise DataFormatError(
                f"load_mnist: {files[f'{split}-images']} and {files[f'{split}-labels']} hold images {images.shape} "
                f"and labels {labels.shape}, expected ({n}, 28, 28) and ({n},) with labels 0..9 (files swapped or "
                "not MNIST); delete them and download them again (`nnlab data download mnist`)"
            )
    shape = (-1, 784) if flatten else (-1, 1, 28, 28)
    X = _scale(arrays["train-images"], scale, dtype).reshape(shape)
    y = arrays["train-labels"].astype(np.int64)
    cut = 60000 - num_validation
    return {
        "X_train": X[:cut], "y_train": y[:cut],
        "X_val": X[cut:], "y_val": y[cut:],
        "X_test": _scale(arrays["t10k-images"], scale, dtype).reshape(shape),
        "y_test": arrays["t10k-labels"].astype(np.int64),
    }
