"""Download the official dataset files with pooch, each checked against its sha256.

    nnlab data list
    nnlab data download mnist [--dest DIR] [--mirror URL]

Files go to ``DEST`` (default: ``$NNLAB_DATA/<folder>``, the folder the loaders look in); each is fetched to a
temporary name and moved into place, and a failed download removes the folders it created. A file already present
with the right hash is not fetched again; a download whose hash differs is deleted and refused. ``mirror``
replaces the server part of every URL (``<mirror>/<file name>``), for a local copy or a proxy.
The brain-tumor MRI set is on Kaggle behind a login and cannot be fetched here: download it from
https://www.kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset and point ``path=`` at it.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from .paths import DataError, DataFormatError, DataNotFoundError, data_root, sha256_of

__all__ = ["DATASETS", "RemoteFile", "UnknownDatasetError", "download", "fetch"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where it is, its name on disk and its sha256 (None = not pinned)."""

    url: str
    filename: str
    sha256: str | None


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # the mirror torchvision uses (same bytes as LeCun's)
#: name -> (folder under the data root, files)
DATASETS: dict[str, tuple[str, tuple[RemoteFile, ...]]] = {
    "mnist": ("mnist", (
        RemoteFile(_MNIST + "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        RemoteFile(_MNIST + "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        RemoteFile(_MNIST + "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                   "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        RemoteFile(_MNIST + "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                   "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    )),
    "cifar10": ("cifar10", (
        RemoteFile("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-python.tar.gz",
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    )),
    "cifar10-binary": ("cifar10", (
        RemoteFile("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "cifar-10-binary.tar.gz",
                   "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    )),
    "california_housing": ("california_housing", (
        # scikit-learn's copy of the StatLib archive (fetch_california_housing)
        RemoteFile("https://ndownloader.figshare.com/files/5976036", "cal_housing.tgz",
                   "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681"),
        # "Hands-On Machine Learning" copy with ocean_proximity and 207 missing total_bedrooms
        RemoteFile("https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.tgz",
                   "housing.tgz", "d4cd501af90475f09b814c7447c7701f59bf28e8cf1180205ae5ace9737a0109"),
    )),
    "macbeth": ("text", (
        # Project Gutenberg re-issues its files (headers change), so this one cannot be pinned; the sha256 of
        # what was fetched is printed for you to record.
        RemoteFile("https://www.gutenberg.org/cache/epub/1533/pg1533.txt", "pg1533.txt", None),
    )),
    "tinyshakespeare": ("text", (
        RemoteFile("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                   "tinyshakespeare.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),
    )),
}


def fetch(remote: RemoteFile, dest: str | os.PathLike, mirror: str | None = None, progress: bool = False) -> Path:
    """Download one file into ``dest`` with pooch and check its sha256; returns its path.

    Raises :class:`DataFormatError` (and leaves nothing behind) when the hash differs, and
    :class:`DataNotFoundError` when the file cannot be fetched (no network, server down, HTTP error).
    """
    import pooch

    url = f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url
    pooch.get_logger().setLevel("WARNING")  # no "Downloading data from ..." line: the bar (or our line) says it
    known = f"sha256:{remote.sha256}" if remote.sha256 else None
    try:
        out = pooch.retrieve(url, known_hash=known, fname=remote.filename, path=Path(dest).expanduser(),
                             progressbar=progress)
    except ValueError as exc:  # pooch: "SHA256 hash of downloaded file (...) does not match the known hash"
        if "protocol" in str(exc).lower():  # pooch: "Unrecognized URL protocol 'file' in 'notaurl/...'"
            raise DataNotFoundError(f"download: cannot fetch {url}: not an http(s) or ftp URL (--mirror must be "
                                    "one, e.g. https://example.org/mnist)") from exc
        if "hash" not in str(exc).lower():
            raise
        raise DataFormatError(
            f"download: {url} does not have the expected sha256 {remote.sha256}; the file was corrupted in transit "
            f"or changed on the server, and was not kept ({exc})"
        ) from exc
    except OSError as exc:  # requests' ConnectionError / HTTPError are OSErrors
        raise DataNotFoundError(
            f"download: cannot fetch {url} ({type(exc).__name__}: {' '.join(str(exc).split())}); check the network "
            f"connection, pass --mirror URL, or copy {remote.filename} into {Path(dest).expanduser()} yourself"
        ) from exc
    return Path(out)


class UnknownDatasetError(DataError, ValueError):
    """A dataset name that :data:`DATASETS` does not hold; the message suggests the closest name."""


def _make_dest(dest: Path) -> list[Path]:
    """Create ``dest`` and missing parents; returns the folders created (outermost first). One line naming the
    path (:class:`DataNotFoundError`) when a part of it is a file or the folder cannot be written."""
    missing = []
    probe = dest
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file" if probe == dest else f"is under {probe}, which is a file"
        raise DataNotFoundError(f"download: --dest {dest} {what}, not a folder; choose a folder to download into")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DataNotFoundError(f"download: cannot write into {probe} (permission denied or read-only); pass "
                                "--dest DIR, a folder you can write to (then set NNLAB_DATA to its parent)")
    dest.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def download(name: str, dest: str | os.PathLike | None = None, mirror: str | None = None,
             progress: bool = False) -> list[Path]:
    """Fetch every file of dataset ``name`` (a key of :data:`DATASETS`) into ``dest`` (default
    ``data_root() / <folder>``); returns the paths."""
    if not isinstance(name, str):
        raise TypeError(f"download: name must be a dataset name (str), one of {', '.join(DATASETS)}; "
                        f"got {type(name).__name__} {name!r}")
    if name not in DATASETS and isinstance(name, str) and name.lower() in DATASETS:
        name = name.lower()  # MNIST -> mnist
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name).lower(), list(DATASETS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownDatasetError(f"download: unknown dataset {name!r}; {hint}choose from {', '.join(DATASETS)} "
                                  "(others, such as ImageNet, are not downloadable by nnlab)")
    folder, files = DATASETS[name]
    dest = Path(dest).expanduser() if dest is not None else data_root() / folder
    created = _make_dest(dest)
    try:
        paths = [fetch(f, dest, mirror=mirror, progress=progress) for f in files]
    except BaseException:
        for d in reversed(created):  # a failure leaves nothing behind: the folders made here go if empty
            try:
                d.rmdir()
            except OSError:
                break
        raise
    for f, p in zip(files, paths):
        if f.sha256 is None:
            print(f"download: {p.name} is not pinned; its sha256 is {sha256_of(p)}")
    return paths
