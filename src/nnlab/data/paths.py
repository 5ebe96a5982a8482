"""Where the real datasets live, and the errors a data problem raises.

Data root resolution (first that applies): an explicit ``path`` argument > ``$NNLAB_DATA`` > ``../shared/data``
next to the repository checkout. Data folders are only read; decoded-array caches live elsewhere
(:mod:`nnlab.data.cache`).

Every data problem a user can cause raises a :class:`DataError`, in one line naming the file or folder, what was
expected and what to do: :class:`DataNotFoundError` (also a ``FileNotFoundError``) for missing files and folders,
:class:`DataFormatError` (also a ``ValueError``) for truncated, corrupted or foreign files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = [
    "DataError",
    "DataFormatError",
    "DataNotFoundError",
    "data_root",
    "describe_root",
    "missing_data",
    "find_data_file",
    "sha256_of",
    "verify_sha256",
]

_REPO_ROOT = Path(__file__).resolve().parents[3]


class DataError(Exception):
    """Base of the data problems a user can cause; the message is one line saying what and where."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A dataset file or folder is missing; the message names the path tried and how to get the data."""


class DataFormatError(DataError, ValueError):
    """A dataset file is truncated, corrupted or of another format than expected."""


def data_root(path: str | os.PathLike | None = None) -> Path:
    """The root folder of the datasets: ``path`` if given, else ``$NNLAB_DATA``, else ``<repo>/../shared/data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("NNLAB_DATA")
    if env:
        return Path(env).expanduser()
    return _REPO_ROOT.parent / "shared" / "data"


def describe_root() -> str:
    """Where the default data root came from, for messages: ``$NNLAB_DATA=...`` or ``the default ...``."""
    env = os.environ.get("NNLAB_DATA")
    return f"$NNLAB_DATA={env}" if env else f"the default data folder {data_root()} ($NNLAB_DATA is not set)"


def missing_data(fn: str, folder: Path, looked_for: str, download_name: str | None, path_given: bool,
                 how: str | None = None) -> DataNotFoundError:
    """The :class:`DataNotFoundError` for data not found in ``folder`` (``looked_for``: what was searched for).

    When no path was given and the data root itself does not exist, the message says so first; it always ends
    with what to do: ``how`` or the ``nnlab data download`` command (when the dataset can be downloaded),
    ``path=`` and ``NNLAB_DATA``.
    """
    root = data_root()
    if not path_given and not root.is_dir():
        where = f"the data root {root} does not exist ({describe_root()}), so {folder} has no {looked_for}"
    elif not folder.exists():
        where = f"{folder} does not exist (looked for {looked_for})"
    else:
        where = f"no {looked_for} in {folder}"
    todo = f"get it with `nnlab data download {download_name} --dest {folder}`, " if download_name else ""
    if how:
        todo = f"{how}, "
    return DataNotFoundError(
        f"{fn}: {where}; {todo}pass the file or folder as path= (`nnlab train ... --set data_path=...`), "
        "or set NNLAB_DATA to the folder holding your datasets"
    )


def find_data_file(fn: str, path: str | os.PathLike | None, subdir: str, names: tuple[str, ...],
                   download_name: str | None, how: str | None = None) -> Path:
    """Resolve a dataset file.

    ``path`` may be a file (returned as is if it exists) or a folder, searched for ``names`` in order; with no
    ``path`` the folder is ``data_root() / subdir``. Raises :class:`DataNotFoundError` naming every path tried
    and what to do (``how``, else the ``nnlab data download <download_name>`` command).
    """
    if path is not None and Path(path).expanduser().is_file():
        return Path(path).expanduser()
    folder = Path(path).expanduser() if path is not None else data_root() / subdir
    for candidate in (folder / n for n in names):
        if candidate.is_file():
            return candidate
    raise missing_data(fn, folder, " or ".join(names), download_name, path is not None, how)


def sha256_of(file: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _download_hint(download_name: str | None, file: str | os.PathLike) -> str:
    return f" with `nnlab data download {download_name} --dest {Path(file).parent}`" if download_name else ""


def verify_sha256(fn: str, file: str | os.PathLike, expected: str, download_name: str | None = None) -> None:
    """Raise :class:`DataFormatError` when ``file``'s sha256 differs from ``expected`` (the message names the
    ``nnlab data download <download_name>`` command when given)."""
    actual = sha256_of(file)
    if actual != expected.lower():
        raise DataFormatError(
            f"{fn}: sha256 of {file} is {actual}, expected {expected}: the file is corrupted, truncated or not "
            f"the official one (delete it and download it again{_download_hint(download_name, file)}, or pass "
            "verify=False for a file you trust)"
        )
