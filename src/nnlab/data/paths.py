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
    "dataset_folders",
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
    todo = ""
    if download_name:
        dest = folder if _writable(folder) else Path("~/nnlab-data") / folder.name
        then = "" if dest == folder else " and set NNLAB_DATA=~/nnlab-data"
        todo = f"get it with `nnlab data download {download_name} --dest {dest}`{then}, "
    if how:
        todo = f"{how}, "
    return DataNotFoundError(
        f"{fn}: {where}; {todo}pass the file or folder as path= (`nnlab train ... --set data_path=...`), "
        "or set NNLAB_DATA to the folder holding your datasets"
    )


def _writable(folder: Path) -> bool:
    """Whether ``folder`` (or, when missing, its nearest existing parent) can be written by this process."""
    probe = Path(folder).expanduser()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def dataset_folders(fn: str, path: str | os.PathLike | None, subdir: str) -> list[Path]:
    """Where a dataset's files may be: ``path`` given -> ``[path, path/subdir]`` (the dataset folder or the data
    root); none -> ``[data_root()/subdir, data_root()]`` (``$NNLAB_DATA`` may name the root or the dataset
    folder). ``TypeError`` naming ``fn`` when ``path`` is not a path."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a file or folder path (str or os.PathLike), got {type(path).__name__} "
                        f"{path!r}")
    if path is not None:
        folder = Path(path).expanduser()
        return [folder, folder / subdir]
    return [data_root() / subdir, data_root()]


def find_data_file(fn: str, path: str | os.PathLike | None, subdir: str, names: tuple[str, ...],
                   download_name: str | None, how: str | None = None) -> Path:
    """Resolve a dataset file.

    ``path`` may be a file (returned as is if it exists) or a folder, searched for ``names`` in order: the
    dataset folder itself or the data root holding ``subdir`` (:func:`dataset_folders`); with no ``path`` the
    folder is ``data_root() / subdir`` (or ``data_root()`` itself when ``$NNLAB_DATA`` names the dataset folder).
    Raises :class:`DataNotFoundError` naming every path tried
    and what to do (``how``, else the ``nnlab data download <download_name>`` command).
    """
    folders = dataset_folders(fn, path, subdir)
    if path is not None and folders[0].is_file():
        return folders[0]
    for candidate in (folder / n for folder in folders for n in names):
        if candidate.is_file():
            return candidate
    raise missing_data(fn, folders[0], " or ".join(names), download_name, path is not None, how)


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
