"""Where the real datasets and the decoded-array caches live.

Data root resolution (first that applies): an explicit ``path`` argument > ``$NNLAB_DATA`` > ``../shared/data``
next to the repository checkout. Cache directory: an explicit ``cache_dir`` > ``$NNLAB_CACHE`` > the source's own
folder when it is writable > ``~/.cache/nnlab``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "DataFormatError",
    "DataNotFoundError",
    "cache_dir_for",
    "data_root",
    "find_data_file",
    "sha256_of",
    "verify_sha256",
]

_REPO_ROOT = Path(__file__).resolve().parents[3]


class DataNotFoundError(FileNotFoundError):
    """A dataset file is missing; the message names the path tried and the download command."""


class DataFormatError(ValueError):
    """A dataset file is truncated, corrupted or of another format than expected."""


def data_root(path: str | os.PathLike | None = None) -> Path:
    """The root folder of the datasets: ``path`` if given, else ``$NNLAB_DATA``, else ``<repo>/../shared/data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("NNLAB_DATA")
    if env:
        return Path(env).expanduser()
    return _REPO_ROOT.parent / "shared" / "data"


def find_data_file(fn: str, path: str | os.PathLike | None, subdir: str, names: tuple[str, ...],
                   download_name: str) -> Path:
    """Resolve a dataset file.

    ``path`` may be a file (returned as is if it exists) or a folder, searched for ``names`` in order; with no
    ``path`` the folder is ``data_root() / subdir``. Raises :class:`DataNotFoundError` naming every path tried
    and the ``nnlab data download`` command.
    """
    if path is not None and Path(path).expanduser().is_file():
        return Path(path).expanduser()
    folder = Path(path).expanduser() if path is not None else data_root() / subdir
    tried = [folder / n for n in names]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(
        f"{fn}: no data found at {folder} (looked for {', '.join(str(t) for t in tried)}); "
        f"get it with `nnlab data download {download_name} --dest {folder}` or pass path=/set NNLAB_DATA"
    )


def sha256_of(file: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(fn: str, file: str | os.PathLike, expected: str) -> None:
    """Raise :class:`DataFormatError` when ``file``'s sha256 differs from ``expected``."""
    actual = sha256_of(file)
    if actual != expected.lower():
        raise DataFormatError(
            f"{fn}: sha256 of {file} is {actual}, expected {expected}: the file is corrupted, truncated or not "
            "the official one (delete it and download again, or pass verify=False for a file you trust)"
        )


def cache_dir_for(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder for the ``.npz`` cache of arrays decoded from ``source``; created if needed."""
    if cache_dir is not None:
        out = Path(cache_dir).expanduser()
    elif os.environ.get("NNLAB_CACHE"):
        out = Path(os.environ["NNLAB_CACHE"]).expanduser()
    elif os.access(Path(source).parent, os.W_OK):
        out = Path(source).parent
    else:
        out = Path.home() / ".cache" / "nnlab"
    out.mkdir(parents=True, exist_ok=True)
    return out
